"""A tiny in-memory world of leads and cards that applies a `Plan` the way the engine does.

Pure and synchronous: no connectors, no state store, no clock but the world's own ``now``.
Records are stored with *native* field names and values (the card's status is a list name),
so every cycle goes through the pair's `FieldMapping` both ways, as real systems force it to.
Every write bumps the record's ``updated_at`` to ``now`` rounded down to the side's
granularity (Notion keeps minutes only), as the real systems do.

Typical use::

    world = World(config)                       # a PlanConfig
    lead = world.add(Side.LEAD, {"Name": "Ada", "Status": "New"})
    plan = world.sync()                         # plan + apply
    assert world.sync().operations == []        # nothing left to do
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from leadsync.core.models import Fields, Link, Record, Side, Value
from leadsync.core.operations import Archive, Create, Plan, SetMarker, Unit, Update
from leadsync.core.planner import PlanConfig, plan

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Stored:
    """One record as its system holds it: native fields, marker, edit stamp, archived flag."""

    fields: dict[str, Value]
    updated_at: datetime | None = None
    deleted: bool = False
    link: str | None = None


@dataclass
class World:
    """Leads, cards and links of one pair, plus the problems reported while reading them."""

    config: PlanConfig
    now: datetime = T0
    records: dict[Side, dict[str, Stored]] = field(default_factory=lambda: {Side.LEAD: {}, Side.CARD: {}})
    links: dict[str, Link] = field(default_factory=dict)  # by lead id, as the state store keys them
    problems: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- time -----------------------------------------------------------------------------------

    def tick(self, delta: timedelta = timedelta(seconds=17)) -> datetime:
        """Advance the world's clock."""
        self.now += delta
        return self.now

    def stamp(self, side: Side, at: datetime | None = None) -> datetime:
        """``at`` (default ``now``) as ``side``'s system reports it (rounded down to its granularity)."""
        moment = self.now if at is None else at
        grain = self.config.granularity.get(side, timedelta(0))
        if grain <= timedelta(0):
            return moment
        epoch = datetime(1970, 1, 1, tzinfo=moment.tzinfo)
        return moment - (moment - epoch) % grain

    # -- editing like a person would ------------------------------------------------------------

    def put(
        self,
        side: Side,
        record_id: str,
        fields: Mapping[str, Value],
        *,
        link: str | None = None,
        deleted: bool = False,
        updated_at: datetime | None = None,
    ) -> str:
        """Store a record as given (all native fields of the mapping present, missing ones empty)."""
        values = {name: None for name in self.config.mapping.native_fields(side)}
        values.update(fields)
        stamp = self.stamp(side) if updated_at is None else updated_at
        self.records[side][record_id] = Stored(values, stamp, deleted, link)
        return record_id

    def add(self, side: Side, fields: Mapping[str, Value], *, link: str | None = None) -> str:
        """Create a record with a fresh id (``L1``, ``C2``...), as a person would by hand."""
        return self.put(side, self._new_id(side), fields, link=link)

    def edit(self, side: Side, record_id: str, fields: Mapping[str, Value]) -> None:
        """Change native fields of a record and bump its stamp."""
        stored = self.records[side][record_id]
        stored.fields.update(fields)
        self._touch(side, stored)

    def set_marker(self, side: Side, record_id: str, link: str | None) -> None:
        """Write or clear the link marker (people do clear it to ask for a new card)."""
        stored = self.records[side][record_id]
        stored.link = link
        self._touch(side, stored)

    def archive(self, side: Side, record_id: str) -> None:
        self.records[side][record_id].deleted = True
        self._touch(side, self.records[side][record_id])

    def restore(self, side: Side, record_id: str) -> None:
        self.records[side][record_id].deleted = False
        self._touch(side, self.records[side][record_id])

    def purge(self, side: Side, record_id: str) -> None:
        """Hard-delete: the record is gone (a direct read would find nothing)."""
        del self.records[side][record_id]

    def link(self, lead_id: str, card_id: str, base: Fields, *, detached: bool = False) -> Link:
        """Store a link (a base snapshot in canonical values) as the state store would hold it."""
        stored = Link(lead_id, card_id, dict(base), detached)
        self.links[lead_id] = stored
        return stored

    # -- what the engine would hand the planner -------------------------------------------------

    def canonical(self, side: Side) -> dict[str, Record]:
        """Every record of ``side`` in canonical form (a full read); read problems are collected.

        A record named by a link or by a live marker but gone from the system comes back as a
        ``deleted`` stub, as the engine's direct confirming read reports it.
        """
        out: dict[str, Record] = {}
        for record_id, stored in sorted(self.records[side].items()):
            native = Record(record_id, dict(stored.fields), stored.updated_at, stored.deleted, stored.link)
            record, problems = self.config.mapping.to_canonical(side, native)
            self.problems.extend(problems)
            out[record_id] = record
        for record_id in sorted(self._referenced(side) - set(out)):
            out[record_id] = Record(record_id, {}, deleted=True)
        return out

    def view(self, side: Side, record_id: str) -> Record:
        """One record in canonical form, without collecting problems."""
        stored = self.records[side][record_id]
        native = Record(record_id, dict(stored.fields), stored.updated_at, stored.deleted, stored.link)
        return self.config.mapping.to_canonical(side, native)[0]

    def plan(self) -> Plan:
        """Plan one cycle over a full read of both sides."""
        return plan(self.config, list(self.links.values()), self.canonical(Side.LEAD), self.canonical(Side.CARD))

    # -- applying, like the engine --------------------------------------------------------------

    def apply(self, the_plan: Plan) -> None:
        """Apply every unit: its operations, then its link (ids of created records filled in) or drop."""
        for unit in the_plan.units:
            self.apply_unit(unit)

    def apply_unit(self, unit: Unit) -> None:
        link = unit.link
        for op in unit.ops:
            if isinstance(op, Create):
                new_id = self._create(op)
                if link is not None:
                    link = replace(link, card_id=new_id) if op.side is Side.CARD else replace(link, lead_id=new_id)
            elif isinstance(op, Update):
                self._update(op)
            elif isinstance(op, Archive):
                self._write(op.side, op.record_id).deleted = True
            elif isinstance(op, SetMarker):
                self._write(op.side, op.record_id).link = op.link
        if link is not None:
            if not (link.lead_id and link.card_id):
                raise AssertionError(f"link left incomplete: {link}")
            self.links[link.lead_id] = link
        if unit.drop is not None and not (link is not None and link.lead_id == unit.drop.lead_id):
            self.links.pop(unit.drop.lead_id, None)

    def sync(self) -> Plan:
        """One cycle: plan over a full read, then apply everything."""
        the_plan = self.plan()
        self.apply(the_plan)
        return the_plan

    # -- internals ------------------------------------------------------------------------------

    def _new_id(self, side: Side) -> str:
        prefix = "L" if side is Side.LEAD else "C"
        while True:
            candidate = f"{prefix}{next(self._ids)}"
            if candidate not in self.records[side]:
                return candidate

    def _touch(self, side: Side, stored: Stored) -> None:
        stored.updated_at = self.stamp(side)

    def _write(self, side: Side, record_id: str) -> Stored:
        stored = self.records[side].get(record_id)
        if stored is None:
            raise KeyError(f"{side.value} {record_id} does not exist (the API would answer 404)")
        self._touch(side, stored)
        return stored

    def _create(self, op: Create) -> str:
        native, problems = self.config.mapping.to_native(op.side, op.fields, op.source_id)
        self.problems.extend(problems)
        new_id = self.put(op.side, self._new_id(op.side), native, link=op.source_id)
        self._write(op.side.other, op.source_id).link = new_id
        return new_id

    def _update(self, op: Update) -> None:
        native, problems = self.config.mapping.to_native(op.side, op.changes, op.record_id)
        self.problems.extend(problems)
        self._write(op.side, op.record_id).fields.update(native)

    def _referenced(self, side: Side) -> set[str]:
        ids: set[str] = set()
        for link in self.links.values():
            ids.add(link.lead_id if side is Side.LEAD else link.card_id)
        for stored in self.records[side.other].values():
            if stored.link and not stored.deleted:
                ids.add(stored.link)
        ids.discard("")
        return ids
