"""Deletions that wait for approval (pure): ``on_lead_deleted`` / ``on_card_deleted: approve``.

An outage or a pagination bug can make records look gone. In ``approve`` mode an archive the rules
call for is not run: it is recorded as a ``PendingDeletion`` (what would happen, to which record,
why) and the pair's other changes go on. The operator lists them (``python -m leadsync pending``)
and approves or rejects each; a pending deletion whose gone record comes back is dropped by the
next cycle that reads it. While one waits, its records get no other change (a card edited while
its lead is in the trash would only fail against the trashed lead).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from leadsync.core.models import Link, Record, Side
from leadsync.core.operations import Archive, Plan, Unit


@dataclass(frozen=True)
class PendingDeletion:
    """An archive that waits for the operator.

    ``side``/``record_id``: the record that would be archived; ``gone_id``: the record on the other
    side whose deletion asks for it; ``link``: the link dropped once it is archived (None for a card
    that only claimed a deleted lead).
    """

    id: str
    side: Side
    record_id: str
    gone_id: str
    reason: str
    created_at: datetime
    link: Link | None = None
    label: str | None = None

    @property
    def gone_side(self) -> Side:
        return self.side.other

    def describe(self) -> str:
        name = f" ({self.label!r})" if self.label else ""
        return f"archive {self.side.value} {self.record_id}{name}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        link = self.link
        return {
            "id": self.id,
            "side": self.side.value,
            "record_id": self.record_id,
            "gone_id": self.gone_id,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "link": None
            if link is None
            else {"lead_id": link.lead_id, "card_id": link.card_id, "base": link.base, "detached": link.detached},
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PendingDeletion:
        raw = data.get("link")
        link = None
        if isinstance(raw, Mapping):
            base = raw.get("base")
            link = Link(
                lead_id=str(raw["lead_id"]),
                card_id=str(raw["card_id"]),
                base=dict(base) if isinstance(base, Mapping) else {},
                detached=bool(raw.get("detached", False)),
            )
        label = data.get("label")
        return cls(
            id=str(data["id"]),
            side=Side(str(data["side"])),
            record_id=str(data["record_id"]),
            gone_id=str(data["gone_id"]),
            reason=str(data["reason"]),
            created_at=datetime.fromisoformat(str(data["created_at"])),
            link=link,
            label=None if label is None else str(label),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


def pending_id(side: Side, record_id: str) -> str:
    """A short id, the same every time the same record's archive is held (so it is held once)."""
    return hashlib.sha256(f"{side.value}:{record_id}".encode()).hexdigest()[:10]


def split(the_plan: Plan, sides: Collection[Side]) -> tuple[Plan, list[Unit]]:
    """The plan without the units that archive a record on one of ``sides`` (returned apart)."""
    if not sides:
        return the_plan, []
    held = [u for u in the_plan.units if any(isinstance(op, Archive) and op.side in sides for op in u.ops)]
    if not held:
        return the_plan, []
    out = {id(u) for u in held}
    return Plan([u for u in the_plan.units if id(u) not in out], list(the_plan.problems)), held


def from_unit(unit: Unit, at: datetime, label: str | None = None) -> list[PendingDeletion]:
    """The pending deletions of a held unit: one per archive in it."""
    out = []
    for op in unit.ops:
        if not isinstance(op, Archive):
            continue
        gone = unit.lead_id if op.side is Side.CARD else unit.card_id
        link = unit.drop or unit.link
        out.append(
            PendingDeletion(
                pending_id(op.side, op.record_id), op.side, op.record_id, gone or "", op.reason, at, link, label
            )
        )
    return out


def withhold(the_plan: Plan, waiting: Iterable[PendingDeletion]) -> tuple[Plan, list[Unit]]:
    """The plan without any unit touching a record of a waiting deletion (those units apart)."""
    ids = {(p.side, p.record_id) for p in waiting} | {(p.gone_side, p.gone_id) for p in waiting}
    if not ids:
        return the_plan, []
    touching = [u for u in the_plan.units if (Side.LEAD, u.lead_id) in ids or (Side.CARD, u.card_id) in ids]
    if not touching:
        return the_plan, []
    out = {id(u) for u in touching}
    return Plan([u for u in the_plan.units if id(u) not in out], list(the_plan.problems)), touching


def reappeared(
    waiting: Iterable[PendingDeletion], records: Mapping[Side, Mapping[str, Record]]
) -> list[PendingDeletion]:
    """The waiting deletions whose gone record was read again, alive (restored from the trash)."""
    out = []
    for p in waiting:
        record = records[p.gone_side].get(p.gone_id)
        if record is not None and not record.deleted:
            out.append(p)
    return out


def settled(waiting: Iterable[PendingDeletion], records: Mapping[Side, Mapping[str, Record]]) -> list[PendingDeletion]:
    """The waiting deletions whose record to archive was read archived or deleted already (by a person)."""
    out = []
    for p in waiting:
        record = records[p.side].get(p.record_id)
        if record is not None and record.deleted:
            out.append(p)
    return out
