"""Typed operations produced by the planner: printable (dry run), countable, testable."""

from __future__ import annotations

from dataclasses import dataclass, field

from leadsync.core.models import Fields, Link, Side, Value


@dataclass(frozen=True)
class Create:
    """Create a record on ``side`` for ``source_id`` on the other side, carrying the link marker."""

    side: Side
    source_id: str
    fields: Fields  # canonical values to write

    def describe(self) -> str:
        other = self.side.other.value
        return f"create {self.side.value} for {other} {self.source_id}: {_show(self.fields)}"


@dataclass(frozen=True)
class Update:
    """Change some canonical fields of an existing record."""

    side: Side
    record_id: str
    changes: Fields

    def describe(self) -> str:
        return f"update {self.side.value} {self.record_id}: {_show(self.changes)}"


@dataclass(frozen=True)
class Archive:
    """Archive (close, trash) a record."""

    side: Side
    record_id: str
    reason: str

    def describe(self) -> str:
        return f"archive {self.side.value} {self.record_id} ({self.reason})"


@dataclass(frozen=True)
class SetMarker:
    """Write the counterpart id into a record (adoption of an existing pair)."""

    side: Side
    record_id: str
    link: str | None

    def describe(self) -> str:
        return f"mark {self.side.value} {self.record_id} -> {self.link}"


Operation = Create | Update | Archive | SetMarker


@dataclass(frozen=True)
class Conflict:
    """Both sides changed a field to different values; ``winner`` decided it."""

    field: str
    lead_value: Value
    card_value: Value
    winner: Side
    reason: str = "both sides changed"
    why: str = ""  # why the winner won (the policy, or the tie-breaker), see merge.why_won


@dataclass(frozen=True)
class Unit:
    """The operations of one lead/card pair, applied together and committed together.

    After every operation succeeded the engine stores ``link`` (for a ``Create`` it fills in
    the new record's id) or deletes ``drop``. If any operation fails, nothing of the unit is
    committed and the records are retried next cycle.
    """

    lead_id: str | None
    card_id: str | None
    ops: tuple[Operation, ...] = ()
    link: Link | None = None
    drop: Link | None = None
    conflicts: tuple[Conflict, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        return bool(self.ops)

    @property
    def changes_state(self) -> bool:
        return bool(self.ops) or self.link is not None or self.drop is not None


@dataclass
class Plan:
    """Everything one cycle intends to do."""

    units: list[Unit] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def operations(self) -> list[Operation]:
        return [op for unit in self.units for op in unit.ops]

    @property
    def conflicts(self) -> list[Conflict]:
        return [c for unit in self.units for c in unit.conflicts]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.operations:
            key = f"{type(op).__name__.lower()}_{op.side.value}"
            counts[key] = counts.get(key, 0) + 1
        counts["conflicts"] = len(self.conflicts)
        counts["problems"] = len(self.problems)
        return counts

    def describe(self) -> list[str]:
        """One human-readable line per operation, conflict and problem (the dry run)."""
        lines = [op.describe() for op in self.operations]
        lines += [
            f"conflict on {c.field}: lead={c.lead_value!r} card={c.card_value!r} -> {c.winner.value} wins"
            for c in self.conflicts
        ]
        lines += [note for unit in self.units for note in unit.notes]
        lines += [f"problem: {p}" for p in self.problems]
        return lines


def _show(fields: Fields) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(fields.items()))


def _short(value: Value, limit: int = 60) -> str:
    if value is None:
        return "∅"
    text = value.replace("\n", " ")
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
