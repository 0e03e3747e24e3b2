"""Value conversions shared by the connectors that store typed cells (Notion, Airtable)."""

from __future__ import annotations

import math


class BadValue(ValueError):
    """A value that cannot be written to its field or property."""


def parse_number(text: str | None) -> int | float | None:
    """A number from text: ``None`` for empty text; ``BadValue`` for anything that is not a finite number."""
    if text is None or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise BadValue(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise BadValue(f"{text!r} is not a finite number")
    return number
