"""Record id formats of each system, checked where an id enters (a link marker, a link field).

Each ``*_id`` function returns the canonical form of a well-formed id, or ``None`` for anything
else, so a value read from a record (typed by a person, pasted from another base) never reaches a
URL or a query unchecked. Matching is whole-string (``re.fullmatch``: no trailing newline slips
through ``$``) and ASCII only; surrounding whitespace is refused, not stripped.

- Notion: a UUID, dashed ``8-4-4-4-12`` or 32 hex compact, any case -> lowercase dashed.
- Trello: a 24-hex object id, any case -> lowercase.
- Airtable: a record id, ``rec`` + 14 letters or digits (case-sensitive) -> as is.
- Google Sheets: the id leadsync mints in the id column, ``L-`` + 10 base32 characters
  (``A-Z``, ``2-7``) -> as is.

``safe_link`` is the weaker check for an id of *another* system used as a value in a filter or
formula (``find_by_link``): letters, digits and ``-``, at most 64 characters.
"""

from __future__ import annotations

import re

_HEX = "[0-9a-fA-F]"
_NOTION = re.compile(rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}|{_HEX}{{32}}")
_TRELLO = re.compile(rf"{_HEX}{{24}}")
_AIRTABLE_RECORD = re.compile(r"rec[A-Za-z0-9]{14}")
_AIRTABLE_WEBHOOK = re.compile(r"ach[A-Za-z0-9]{14}")
_SHEETS_LEAD = re.compile(r"L-[A-Z2-7]{10}")
_SAFE_LINK = re.compile(r"[A-Za-z0-9-]{1,64}")


def _matches(pattern: re.Pattern[str], raw: object) -> str | None:
    if not isinstance(raw, str) or not raw.isascii():
        return None
    return raw if pattern.fullmatch(raw) else None


def notion_id(raw: object) -> str | None:
    """``raw`` as a lowercase dashed UUID, or ``None`` when it is not a Notion id."""
    found = _matches(_NOTION, raw)
    if found is None:
        return None
    compact = found.replace("-", "").lower()
    return f"{compact[:8]}-{compact[8:12]}-{compact[12:16]}-{compact[16:20]}-{compact[20:]}"


def trello_id(raw: object) -> str | None:
    """``raw`` as a lowercase 24-hex Trello id, or ``None``."""
    found = _matches(_TRELLO, raw)
    return found.lower() if found is not None else None


def airtable_record_id(raw: object) -> str | None:
    """``raw`` when it is an Airtable record id (``rec`` + 14 alphanumerics), else ``None``."""
    return _matches(_AIRTABLE_RECORD, raw)


def airtable_webhook_id(raw: object) -> str | None:
    """``raw`` when it is an Airtable webhook id (``ach`` + 14 alphanumerics), else ``None``."""
    return _matches(_AIRTABLE_WEBHOOK, raw)


def sheets_lead_id(raw: object) -> str | None:
    """``raw`` when it is a lead id as the Sheets connector mints them (``L-`` + 10 base32), else ``None``."""
    return _matches(_SHEETS_LEAD, raw)


def shown(raw: object, limit: int = 80) -> str:
    """A refused value as it may appear in an error or a log line: the text itself when it is
    short and printable, else its ``repr`` cut to ``limit`` characters (an overlong or control-laden
    hostile value must not flood or forge log lines)."""
    if isinstance(raw, str) and len(raw) <= limit and raw.isprintable():
        return raw
    text = repr(raw)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_link(raw: object) -> bool:
    """Whether ``raw`` may be used as a value in a filter or formula: ``[A-Za-z0-9-]{1,64}``."""
    return _matches(_SAFE_LINK, raw) is not None
