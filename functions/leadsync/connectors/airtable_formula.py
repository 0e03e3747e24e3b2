"""Airtable formula text for ``filterByFormula``, built so a value can never leave its quotes.

Values are single-quoted with ``\\`` and ``'`` escaped (Airtable's string escapes), so a lead named
``O'Brien "x" {y}`` stays one string literal: it cannot end the literal early, add a condition or
widen a query. Field references are ``{Name}``; Airtable offers no reliable escape for ``}`` inside a
reference, so a name containing one (or ending with ``\\``, which would escape the closing brace) is
refused (``ValueError``) instead of being guessed at.
"""

from __future__ import annotations

from datetime import UTC, datetime


def quote(value: str) -> str:
    """``value`` as an Airtable string literal: ``O'Brien`` -> ``'O\\'Brien'``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def field_problem(name: str) -> str | None:
    """Why ``name`` cannot be referenced in a formula (``None`` when it can)."""
    if not name.strip():
        return "a field name cannot be empty"
    if "}" in name:
        return f"field name {name!r} contains '}}', which an Airtable formula cannot reference"
    if name.endswith("\\"):
        return f"field name {name!r} ends with a backslash, which would escape the closing brace in a formula"
    return None


def field(name: str) -> str:
    """A reference to the field ``name``: ``{Last Modified}``. Raises ``ValueError`` for a ``}``."""
    problem = field_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return "{" + name + "}"


def iso_ms(moment: datetime) -> str:
    """``2024-05-01T10:00:00.123Z`` (Airtable's own timestamp format, in UTC)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def equals(name: str, value: str) -> str:
    """True for records whose field ``name`` is exactly ``value``."""
    return f"{field(name)} = {quote(value)}"


def on_or_after(name: str, moment: datetime) -> str:
    """True for records whose date/time field ``name`` is at or after ``moment``."""
    return f"NOT(IS_BEFORE({field(name)}, DATETIME_PARSE({quote(iso_ms(moment))})))"


def unchecked(name: str) -> str:
    """True for records whose checkbox ``name`` is not ticked."""
    return f"NOT({field(name)})"


def all_of(*conditions: str) -> str | None:
    """The conjunction of ``conditions`` (``None`` when there are none)."""
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0]
    return f"AND({', '.join(conditions)})"
