"""Activity history: what a cycle did to which record, and why, as plain data (pure).

Every applied change, conflict (both values, the winner, the policy), skipped record (with its
reason) and failed write becomes an ``Activity``. The cycle builds them from its plan; the store
keeps them for the pair's retention (``history_days``) so ``python -m leadsync history`` can answer
"why did this card move?". Values of ``redact_fields`` never enter an activity (nor the log lines
and report built from these descriptions): they read ``REDACTED``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta

from leadsync.core.mapping import FieldMapping
from leadsync.core.models import Record, Side, Value
from leadsync.core.operations import Archive, Conflict, Create, Operation, Plan, SetMarker, Unit, Update

REDACTED = "[redacted]"
KINDS = ("create", "update", "archive", "mark", "note", "conflict", "skipped", "held", "failed", "error")
LABEL_FIELD = "name"  # the canonical field that names a record in the history, when mapped


@dataclass(frozen=True)
class Activity:
    """One thing that happened to a pair's records (or to the pair) in one cycle."""

    at: datetime
    pair: str
    kind: str  # one of KINDS
    message: str  # one readable sentence, values already redacted
    lead_id: str | None = None
    card_id: str | None = None
    side: str | None = None  # the side written (updates, creations, archives, markers)
    field: str | None = None
    old: Value = None
    new: Value = None
    lead_value: Value = None  # a conflict's two values
    card_value: Value = None
    winner: str | None = None
    policy: str | None = None
    label: str | None = None  # the record's name (``LABEL_FIELD``), unless redacted

    def records(self) -> list[str]:
        """The record ids this activity is about (what ``history --record`` finds it by)."""
        return [r for r in (self.lead_id, self.card_id) if r]

    def to_dict(self) -> dict[str, str | None]:
        """A flat JSON-able dict (time as ISO 8601); ``from_dict`` reads it back."""
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Activity:
        """Read back ``to_dict``'s output; unknown keys (a newer version's) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: (None if v is None else str(v)) for k, v in data.items() if k in known}
        at = datetime.fromisoformat(str(values.pop("at")))
        return cls(at=at, **values)  # type: ignore[arg-type]


def redact(fields_: Mapping[str, Value], redacted: Collection[str]) -> dict[str, Value]:
    """``fields_`` with the values of redacted fields replaced (an empty value stays empty)."""
    return {k: (REDACTED if k in redacted and v is not None else v) for k, v in fields_.items()}


def redact_op(op: Operation, redacted: Collection[str]) -> Operation:
    """The operation as it may be shown or logged."""
    if not redacted:
        return op
    if isinstance(op, Create):
        return replace(op, fields=redact(op.fields, redacted))
    if isinstance(op, Update):
        return replace(op, changes=redact(op.changes, redacted))
    return op


def redact_conflict(conflict: Conflict, redacted: Collection[str]) -> Conflict:
    if conflict.field not in redacted:
        return conflict
    return replace(
        conflict,
        lead_value=REDACTED if conflict.lead_value is not None else None,
        card_value=REDACTED if conflict.card_value is not None else None,
    )


def redact_plan(the_plan: Plan, redacted: Collection[str]) -> Plan:
    """The plan as a dry run may print it."""
    if not redacted:
        return the_plan
    units = [
        replace(
            u,
            ops=tuple(redact_op(op, redacted) for op in u.ops),
            conflicts=tuple(redact_conflict(c, redacted) for c in u.conflicts),
        )
        for u in the_plan.units
    ]
    return Plan(units, list(the_plan.problems))


def conflict_line(conflict: Conflict) -> str:
    """The log and report line of a conflict (values as given: redact the conflict first)."""
    why = f" ({conflict.why})" if conflict.why else ""
    return (
        f"conflict on {conflict.field} ({conflict.reason}): lead={conflict.lead_value!r} "
        f"card={conflict.card_value!r} -> {conflict.winner.value} wins{why}"
    )


def _label(before: Mapping[Side, Record | None], redacted: Collection[str]) -> str | None:
    if LABEL_FIELD in redacted:
        return None
    for side in (Side.LEAD, Side.CARD):
        record = before.get(side)
        if record is not None and record.fields.get(LABEL_FIELD):
            return record.fields[LABEL_FIELD]
    return None


def applied(
    pair: str,
    at: datetime,
    unit: Unit,
    lead_id: str | None,
    card_id: str | None,
    before: Mapping[Side, Record | None],
    redacted: Collection[str],
    agreed: Mapping[str, Value] | None = None,
    mapping: FieldMapping | None = None,
) -> list[Activity]:
    """The activities of a unit that was applied.

    ``lead_id``/``card_id``: the unit's records once applied (a creation fills one in);
    ``before``: each side's record as read this cycle, before the unit wrote, and
    ``agreed`` the values both sides last agreed on (the old value of a record not read this cycle).
    """
    base = Activity(at, pair, "note", "", lead_id, card_id, label=_label(before, redacted))
    out: list[Activity] = []
    for op in unit.ops:
        side = op.side.value
        if isinstance(op, Update):
            record = before.get(op.side)
            source = lead_id if op.side is Side.CARD else card_id
            for name, new in sorted(op.changes.items()):
                known = record.fields if record is not None and name in record.fields else agreed or {}
                old = known.get(name)
                shown = redact({"old": old, "new": new}, ["old", "new"] if name in redacted else [])
                change = f"{name} {_show(shown['old'])} -> {_show(shown['new'])}"
                native = _in_own_words(mapping, op.side, name, shown["old"], shown["new"])
                where = f"as {op.side.other.value} {source} has it"
                message = f"{side} {op.record_id}: " + (
                    f"{native} ({change}, {where})" if native else f"{change} ({where})"
                )
                item = replace(base, kind="update", side=side, field=name, message=message)
                out.append(replace(item, old=shown["old"], new=shown["new"]))
        elif isinstance(op, Create):
            new_id = card_id if op.side is Side.CARD else lead_id
            shown_fields = redact(op.fields, redacted)
            values = ", ".join(f"{k}={_show(v)}" for k, v in sorted(shown_fields.items()) if v is not None)
            message = f"created {side} {new_id} for {op.side.other.value} {op.source_id}: {values}"
            out.append(replace(base, kind="create", side=side, message=message))
        elif isinstance(op, Archive):
            message = f"archived {side} {op.record_id} ({op.reason})"
            out.append(replace(base, kind="archive", side=side, message=message))
        elif isinstance(op, SetMarker):
            message = f"{side} {op.record_id}: link marker set to {op.link}"
            out.append(replace(base, kind="mark", side=side, message=message))
    out += [replace(base, kind="note", message=note) for note in unit.notes]
    return out


def _in_own_words(mapping: FieldMapping | None, side: Side, name: str, old: Value, new: Value) -> str | None:
    """``list 'In Progress' -> 'Done'``: the change as the written system names it (None if the same)."""
    if mapping is None:
        return None
    native = mapping.spec(name).native(side)
    old_native, new_native = (
        v if v == REDACTED else mapping.to_native(side, {name: v}, "")[0].get(native, v) for v in (old, new)
    )
    if native == name and (old_native, new_native) == (old, new):
        return None
    return f"{native} {_show(old_native)} -> {_show(new_native)}"


def conflicts(
    pair: str,
    at: datetime,
    unit: Unit,
    before: Mapping[Side, Record | None],
    redacted: Collection[str],
) -> list[Activity]:
    """One activity per conflict of a unit about to be applied: both values, the winner, the policy."""
    out = []
    for conflict in unit.conflicts:
        shown = redact_conflict(conflict, redacted)
        out.append(
            Activity(
                at,
                pair,
                "conflict",
                conflict_line(shown),
                unit.lead_id,
                unit.card_id,
                field=conflict.field,
                lead_value=shown.lead_value,
                card_value=shown.card_value,
                winner=conflict.winner.value,
                policy=conflict.why or None,
                label=_label(before, redacted),
            )
        )
    return out


def failed(pair: str, at: datetime, unit: Unit, error: str) -> Activity:
    """A unit whose writes failed (``error``: the report's line of it); retried next cycle."""
    return Activity(at, pair, "failed", f"{error}; retried next cycle", unit.lead_id, unit.card_id)


def held(pair: str, at: datetime, unit: Unit, why: str) -> list[Activity]:
    """The archives of a unit kept back (by the mass-deletion guard or for approval)."""
    return [
        Activity(at, pair, "held", f"{op.describe()} held: {why}", unit.lead_id, unit.card_id, side=op.side.value)
        for op in unit.ops
        if isinstance(op, Archive)
    ]


_END = r"'?(?=[\s:,;)]|$)"  # an id ends at a space, a colon, a comma... (a malformed one names nothing)
_SUBJECT = re.compile(r"^(lead|card) '?([A-Za-z0-9_.\-]{1,100})" + _END)
_MENTION = re.compile(r"\b(lead|card) '?([A-Za-z0-9_\-]{3,100})" + _END)


def skipped(pair: str, at: datetime, problem: str) -> Activity:
    """A record (or value) the cycle left alone, with the reason as reported."""
    ids: dict[str, str] = {}
    for match in [*_SUBJECT.finditer(problem), *_MENTION.finditer(problem)]:
        ids.setdefault(match.group(1), match.group(2))
    return Activity(at, pair, "skipped", problem, ids.get("lead"), ids.get("card"))


def error(pair: str, at: datetime, message: str) -> Activity:
    """A failure of the cycle itself (not of one record)."""
    return Activity(at, pair, "error", message)


def select(
    items: Iterable[Activity],
    *,
    field: str | None = None,
    kinds: Collection[str] = (),
    record: str | None = None,
    since: datetime | None = None,
) -> list[Activity]:
    """The activities that match every filter given."""
    return [
        a
        for a in items
        if (field is None or a.field == field)
        and (not kinds or a.kind in kinds)
        and (record is None or record in a.records())
        and (since is None or a.at >= since)
    ]


_AGO = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``30m``, ``12h``, ``1d``, ``2w`` before ``now``, or an ISO date/time (UTC if no zone).

    Raises ValueError naming what is accepted.
    """
    match = _AGO.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give a duration back from now (30m, 12h, 1d, 2w) or an ISO date (2026-12-01)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=now.tzinfo)


def table(items: Iterable[Activity]) -> list[str]:
    """Readable lines: time, kind, record, then what happened."""
    rows = [
        (
            a.at.strftime("%Y-%m-%d %H:%M:%S"),
            a.kind,
            " / ".join(x for x in (a.label and repr(a.label), a.lead_id and f"lead {a.lead_id}") if x) or "-",
            a.message,
        )
        for a in items
    ]
    if not rows:
        return ["(no activity)"]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("time (UTC)", "kind", "record")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  what"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
    return lines


def _show(value: Value) -> str:
    return "∅" if value is None else repr(value)
