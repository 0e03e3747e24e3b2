"""Short content fingerprints of canonical records (echo and overlap dedupe)."""

from __future__ import annotations

import hashlib
import json

from leadsync.core.models import Record


def fingerprint(record: Record) -> str:
    """A stable 16-hex digest of a record's canonical fields, link marker, deleted flag and tags
    (tags only when read, so records without them keep the digests they always had)."""
    parts: list[object] = [sorted(record.fields.items()), record.link, record.deleted]
    if record.tags is not None:
        parts.append(sorted(record.tags))
    payload = json.dumps(
        parts,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=8).hexdigest()
