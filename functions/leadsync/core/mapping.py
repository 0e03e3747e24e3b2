"""Field and value mapping between native records and the pair's canonical fields.

Each canonical field has a native name on each side, a sync direction, an optional value map
(canonical/lead value -> card value, e.g. status -> list) and a normaliser that turns a value
into the form both systems can store (so a value that one system has to reshape, e.g. flatten
or truncate, compares equal on both sides and never ping-pongs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from leadsync.core.models import Fields, Record, Side, Value

Normalizer = Callable[[Value], Value]


class Direction(StrEnum):
    """Which way a field flows."""

    BOTH = "both"
    LEAD_TO_CARD = "lead_to_card"
    CARD_TO_LEAD = "card_to_lead"

    def flows_to(self, side: Side) -> bool:
        """True when values of this field may be written to ``side``."""
        if self is Direction.BOTH:
            return True
        return (self is Direction.LEAD_TO_CARD) == (side is Side.CARD)


def normalize_text(value: Value) -> Value:
    """Default normaliser: unify line endings, strip outer whitespace, empty -> None."""
    if value is None:
        return None
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return text or None


@dataclass(frozen=True)
class FieldSpec:
    """One canonical field and how it appears on each side."""

    name: str
    lead: str
    card: str
    direction: Direction = Direction.BOTH
    to_card: Mapping[str, str] | None = None  # canonical value -> card value
    to_lead: Mapping[str, str] | None = None  # card value -> canonical value
    normalize: Normalizer = normalize_text

    def native(self, side: Side) -> str:
        return self.lead if side is Side.LEAD else self.card

    def value_map(self, side: Side) -> Mapping[str, str] | None:
        """The map applied when converting a canonical value into ``side``'s value."""
        return self.to_card if side is Side.CARD else None

    def card_value(self, value: Value) -> Value:
        """A canonical value as the card side stores it (value map applied; unmapped kept as is)."""
        if value is None or self.to_card is None:
            return value
        mapped = _lookup(self.to_card, value)
        return value if mapped is None else mapped

    def reverse_map(self, side: Side) -> Mapping[str, str] | None:
        """The map applied when reading ``side``'s value into a canonical value."""
        if side is Side.LEAD or self.to_card is None:
            return None
        if self.to_lead is not None:
            return self.to_lead
        return {card: canonical for canonical, card in self.to_card.items()}


def _lookup(table: Mapping[str, str], value: str) -> str | None:
    """Exact match first, then a case-insensitive one (people type 'to do' for 'To Do')."""
    if value in table:
        return table[value]
    folded = {k.casefold(): v for k, v in table.items()}
    return folded.get(value.casefold())


@dataclass(frozen=True)
class FieldMapping:
    """All canonical fields of a pair."""

    fields: tuple[FieldSpec, ...]

    def spec(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def native_fields(self, side: Side) -> list[str]:
        return [spec.native(side) for spec in self.fields]

    def to_canonical(self, side: Side, record: Record) -> tuple[Record, list[str]]:
        """Translate a native record into canonical fields.

        A native field absent from the record, or whose value has no mapping, is left out
        (the planner then treats it as unchanged); each unmapped value is reported.
        """
        problems: list[str] = []
        out: Fields = {}
        for spec in self.fields:
            native = spec.native(side)
            if native not in record.fields:
                continue
            value = record.fields[native]
            forward = spec.value_map(side.other)
            if (
                side is Side.LEAD
                and value is not None
                and forward is not None
                and _lookup(forward, spec.normalize(value) or "") is None
            ):
                problems.append(
                    f"{side.value} {record.id}: {native!r} value {value!r} has no "
                    f"{side.other.value}-side mapping (known: {sorted(forward)}); field left unchanged"
                )
                continue
            reverse = spec.reverse_map(side)
            if value is not None and reverse is not None:
                mapped = _lookup(reverse, value)
                if mapped is None:
                    problems.append(
                        f"{side.value} {record.id}: value {value!r} of {native!r} is not mapped to any "
                        f"{spec.name!r} value (known: {sorted(reverse)}); field left unchanged"
                    )
                    continue
                value = mapped
            out[spec.name] = spec.normalize(value)
        canonical = Record(record.id, out, record.updated_at, record.deleted, record.link, record.tags)
        return canonical, problems

    def to_native(self, side: Side, fields: Fields, record_id: str) -> tuple[Fields, list[str]]:
        """Translate canonical values into ``side``'s native fields (value maps applied)."""
        problems: list[str] = []
        out: Fields = {}
        for name, value in fields.items():
            spec = self.spec(name)
            table = spec.value_map(side)
            if value is not None and table is not None:
                mapped = _lookup(table, value)
                if mapped is None:
                    problems.append(
                        f"{record_id}: {spec.name} value {value!r} has no {side.value}-side mapping "
                        f"(known: {sorted(table)}); field not written"
                    )
                    continue
                value = mapped
            out[spec.native(side)] = value
        return out, problems
