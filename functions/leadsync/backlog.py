"""The backlog: records read but not yet processed, kept between invocations.

A large first sync (10,000 leads) cannot be applied within one Lambda invocation. Rather than
listing everything again next time, the records whose creation the deadline deferred are saved
as JSON entries in chunks (``StateStore.put_backlog``); later cycles take a batch from the head
of the queue. An entry is a canonical record snapshot: a fresher read of the same record always
wins over it, and an entry whose record is linked by then is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leadsync.core.models import PairMeta, Record, Side

CHUNK_BYTES = 300_000  # DynamoDB items are limited to 400 KB
BATCH = 400  # records taken into one cycle: more than an invocation can create at the APIs' rates
CHUNK_ENTRIES = BATCH  # a cycle reads about one chunk, and writes back only what it did not take
MAX_CHUNKS_PER_CYCLE = 20  # chunks read in one cycle while looking for records not yet linked


def encode(side: Side, record: Record) -> dict[str, Any]:
    """A JSON-able entry for a canonical record."""
    return {
        "side": side.value,
        "id": record.id,
        "fields": dict(record.fields),
        "updated_at": record.updated_at.isoformat() if record.updated_at else None,
        "link": record.link,
        **({"tags": sorted(record.tags)} if record.tags is not None else {}),
    }


def decode(entry: dict[str, Any]) -> tuple[Side, Record]:
    """The side and canonical record of an entry."""
    stamp = entry.get("updated_at")
    record = Record(
        id=str(entry["id"]),
        fields=dict(entry.get("fields") or {}),
        updated_at=datetime.fromisoformat(stamp) if stamp else None,
        link=entry.get("link"),
        tags=frozenset(map(str, entry["tags"])) if isinstance(entry.get("tags"), list) else None,
    )
    return Side(entry["side"]), record


def size(entry: dict[str, Any]) -> int:
    return len(json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def chunks(entries: Iterable[dict[str, Any]]) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Group entries into chunks under the size limits; also return entries too large for any chunk."""
    out: list[list[dict[str, Any]]] = []
    too_large: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    used = 2
    for entry in entries:
        n = size(entry) + 1
        if n > CHUNK_BYTES:
            too_large.append(entry)
            continue
        if current and (used + n > CHUNK_BYTES or len(current) >= CHUNK_ENTRIES):
            out.append(current)
            current, used = [], 2
        current.append(entry)
        used += n
    if current:
        out.append(current)
    return out, too_large


def queued(meta: PairMeta) -> int:
    """Records in a pair's backlog queue at the start of a cycle: the count the last committed
    cycle left in its summary (``last_run["backlog"]``); for a queue saved before that count was
    kept, an upper bound (full chunks)."""
    if not meta.backlog:
        return 0
    known = meta.last_run.get("backlog")
    if isinstance(known, int) and not isinstance(known, bool) and known >= 0:
        return known
    return len(meta.backlog) * CHUNK_ENTRIES


def queued_after(before: int, entries_read: int, head_entries: int) -> int:
    """Records in the queue once a cycle saved it: its new head chunks plus the older chunks it did
    not read (``before`` minus the entries of the chunks read)."""
    return head_entries + max(0, before - entries_read)
