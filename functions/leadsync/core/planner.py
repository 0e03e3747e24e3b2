"""The planner: (links with base snapshots, changed leads, changed cards, config) -> Plan.

Pure: no I/O, no clock. The engine hands in canonical records (see `core.mapping`) for every
record it read this cycle, with ``deleted=True`` for archived or confirmed-gone ones, and every
link touching them. Records not handed in are taken as unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum

from leadsync.core.mapping import FieldMapping, FieldSpec
from leadsync.core.merge import MISSING, ConflictPolicy, Maybe, Stamp, merge_field, pick_winner, why_won
from leadsync.core.models import Fields, Link, Record, Side
from leadsync.core.operations import Archive, Conflict, Create, Operation, Plan, SetMarker, Unit, Update


class LeadDeleted(StrEnum):
    """What happens to the card when its lead is deleted or archived."""

    ARCHIVE_CARD = "archive_card"
    DETACH = "detach"  # leave the card, drop the link
    APPROVE = "approve"  # archive the card once the operator approves (planned as ARCHIVE_CARD, see core.approvals)


class CardDeleted(StrEnum):
    """What happens to the lead when its card is deleted or archived."""

    DETACH = "detach"  # leave the lead, keep a tombstone link (no replacement card)
    ARCHIVE_LEAD = "archive_lead"
    APPROVE = "approve"  # archive the lead once the operator approves (planned as ARCHIVE_LEAD)


@dataclass(frozen=True)
class PlanConfig:
    """The parts of a pair's configuration the planner needs."""

    mapping: FieldMapping
    policy: ConflictPolicy = ConflictPolicy.NEWEST
    tie: Side = Side.LEAD
    granularity: Mapping[Side, timedelta] = field(default_factory=dict)
    skip: Mapping[str, frozenset[str]] = field(default_factory=dict)  # field -> values that get no card
    create_leads: bool = False
    on_lead_deleted: LeadDeleted = LeadDeleted.ARCHIVE_CARD
    on_card_deleted: CardDeleted = CardDeleted.DETACH
    match_on: tuple[str, ...] = ()
    required: tuple[str, ...] = ()  # fields that must have a value before a record is created for it


def plan(
    config: PlanConfig,
    links: Iterable[Link],
    leads: Mapping[str, Record],
    cards: Mapping[str, Record],
) -> Plan:
    """Decide every operation of one cycle."""
    planner = _Planner(config, list(links), leads, cards)
    return planner.run()


class _Planner:
    def __init__(
        self, config: PlanConfig, links: list[Link], leads: Mapping[str, Record], cards: Mapping[str, Record]
    ) -> None:
        self.cfg = config
        self.leads = leads
        self.cards = cards
        self.by_lead = {link.lead_id: link for link in links}
        self.by_card = {link.card_id: link for link in links}
        self.plan = Plan()
        self.claimed_leads: set[str] = set()
        self.claimed_cards: set[str] = set()

    def run(self) -> Plan:
        for link in sorted(self.by_lead.values(), key=lambda x: x.lead_id):
            lead, card = self.leads.get(link.lead_id), self.cards.get(link.card_id)
            if lead is None and card is None:
                continue
            self.claimed_leads.add(link.lead_id)
            self.claimed_cards.add(link.card_id)
            self._add(self._linked(link, lead, card))
        self._adopt_by_marker()
        self._adopt_by_key()
        self._create_missing()
        return self.plan

    def _add(self, unit: Unit | None) -> None:
        if unit is not None and (unit.changes_state or unit.notes or unit.conflicts):
            self.plan.units.append(unit)

    # -- linked pairs -------------------------------------------------------------------------

    def _linked(self, link: Link, lead: Record | None, card: Record | None) -> Unit | None:
        if link.detached:
            return self._detached(link, lead, card)
        if lead is not None and lead.deleted:
            if self.cfg.on_lead_deleted is LeadDeleted.ARCHIVE_CARD and not (card and card.deleted):
                ops: tuple[Operation, ...] = (Archive(Side.CARD, link.card_id, "its lead was deleted"),)
                note = f"lead {link.lead_id} deleted: card {link.card_id} archived, link dropped"
            else:
                ops, note = (), f"lead {link.lead_id} deleted: card {link.card_id} left as is, link dropped"
            return Unit(link.lead_id, link.card_id, ops, drop=link, notes=(note,))
        if card is not None and card.deleted:
            if self.cfg.on_card_deleted is CardDeleted.ARCHIVE_LEAD:
                return Unit(
                    link.lead_id,
                    link.card_id,
                    (Archive(Side.LEAD, link.lead_id, "its card was archived or deleted"),),
                    drop=link,
                    notes=(f"card {link.card_id} gone: lead {link.lead_id} archived, link dropped",),
                )
            # A lead without its marker at this point never had it written (or lost it together with
            # the card): it gets the archived card's id, so that only a marker cleared *after* this
            # (``_detached``) asks for a new card.
            unmarked = lead is not None and not lead.deleted and lead.link is None
            return Unit(
                link.lead_id,
                link.card_id,
                (SetMarker(Side.LEAD, link.lead_id, link.card_id),) if unmarked else (),
                link=replace(link, detached=True),
                notes=(f"card {link.card_id} archived or deleted: lead {link.lead_id} left as is",),
            )
        return self._merge(link, lead, card)

    def _detached(self, link: Link, lead: Record | None, card: Record | None) -> Unit | None:
        if lead is not None and lead.deleted:
            return self._linked(replace(link, detached=False), lead, card)  # the lead-deleted rule applies
        if card is not None and not card.deleted:
            unit = self._merge(replace(link, detached=False), lead, card, force_link=True)
            return replace(unit, notes=(*unit.notes, f"card {link.card_id} restored: link re-attached"))
        if lead is not None and not lead.deleted and lead.link is None and self._wants_card(lead):
            unit = self._create(Side.CARD, lead)  # its marker cleared by a person: a new card
            return replace(
                unit,
                drop=link,
                notes=(f"lead {lead.id} marker cleared: new card replaces archived {link.card_id}",),
            )
        return None

    def _merge(self, link: Link, lead: Record | None, card: Record | None, *, force_link: bool = False) -> Unit:
        stamps = (self._stamp(Side.LEAD, lead), self._stamp(Side.CARD, card))
        winner = pick_winner(self.cfg.policy, self.cfg.tie, *stamps)
        base: Fields = {}
        to_card: Fields = {}
        to_lead: Fields = {}
        conflicts: list[Conflict] = []
        for spec in self.cfg.mapping.fields:
            base_value = link.base.get(spec.name, MISSING)
            lead_value = lead.fields[spec.name] if lead and spec.name in lead.fields else MISSING
            card_value = card.fields[spec.name] if card and spec.name in card.fields else MISSING
            card_value = _as_card_sees(spec, card_value, lead_value, base_value)
            out = merge_field(spec.direction, base_value, lead_value, card_value, winner)
            if out.base is not MISSING:
                base[spec.name] = out.base  # type: ignore[assignment]
            if out.to_card is not MISSING:
                to_card[spec.name] = out.to_card  # type: ignore[assignment]
            if out.to_lead is not MISSING:
                to_lead[spec.name] = out.to_lead  # type: ignore[assignment]
            if out.conflict is not None:
                lead_value, card_value, side = out.conflict
                reason = "both sides changed" if spec.name in link.base else "values differ when adopting"
                why = why_won(self.cfg.policy, self.cfg.tie, *stamps)
                conflicts.append(Conflict(spec.name, lead_value, card_value, side, reason, why))
        ops: list[Operation] = []
        if to_card:
            ops.append(Update(Side.CARD, link.card_id, to_card))
        if to_lead:
            ops.append(Update(Side.LEAD, link.lead_id, to_lead))
        if lead is not None and lead.link != link.card_id:
            ops.append(SetMarker(Side.LEAD, link.lead_id, link.card_id))
        if card is not None and card.link != link.lead_id:
            ops.append(SetMarker(Side.CARD, link.card_id, link.lead_id))
        merged = {**link.base, **base}
        new_link = replace(link, base=merged) if (merged != link.base or force_link) else None
        return Unit(link.lead_id, link.card_id, tuple(ops), link=new_link, conflicts=tuple(conflicts))

    def _stamp(self, side: Side, record: Record | None) -> Stamp:
        return Stamp(record.updated_at if record else None, self.cfg.granularity.get(side, timedelta(0)))

    # -- unlinked records ---------------------------------------------------------------------

    def _free_leads(self) -> list[Record]:
        return [
            r
            for lead_id, r in sorted(self.leads.items())
            if lead_id not in self.by_lead and lead_id not in self.claimed_leads
        ]

    def _free_cards(self) -> list[Record]:
        return [
            r
            for card_id, r in sorted(self.cards.items())
            if card_id not in self.by_card and card_id not in self.claimed_cards
        ]

    def _adopt(self, lead: Record, card: Record, why: str) -> None:
        self.claimed_leads.add(lead.id)
        self.claimed_cards.add(card.id)
        if card.deleted:
            unit = Unit(
                lead.id,
                card.id,
                link=Link(lead.id, card.id, {}, detached=True),
                notes=(f"lead {lead.id} names card {card.id}, which is archived or gone: no new card",),
            )
        else:
            unit = self._merge(Link(lead.id, card.id, {}), lead, card, force_link=True)
            unit = replace(unit, notes=(*unit.notes, f"adopted card {card.id} for lead {lead.id} ({why})"))
        self._add(unit)

    def _adopt_by_marker(self) -> None:
        claims: dict[str, list[Record]] = {}
        for card in self._free_cards():
            if card.link:
                claims.setdefault(card.link, []).append(card)
        for lead in self._free_leads():
            if lead.deleted:
                continue
            if lead.link:
                named = self.cards.get(lead.link)
                if named is None:
                    self.plan.problems.append(
                        f"lead {lead.id} names card {lead.link}, which could not be read; skipped this cycle"
                    )
                    self.claimed_leads.add(lead.id)
                elif (
                    named.id not in self.by_card
                    and named.id not in self.claimed_cards
                    and named.link in (None, lead.id)
                ):
                    self._adopt(lead, named, "link marker")
                continue
            claimants = [c for c in claims.get(lead.id, []) if c.id not in self.claimed_cards]
            if claimants:
                self._adopt(lead, claimants[0], "card's link marker")
                for dup in claimants[1:]:
                    self.plan.problems.append(
                        f"card {dup.id} also claims lead {lead.id} (a copy?); left alone, not linked"
                    )
                    self.claimed_cards.add(dup.id)
        for card in self._free_cards():
            if card.link and not card.deleted:
                claimed = self.leads.get(card.link)
                if card.link in self.by_lead and (claimed is None or not claimed.deleted):
                    self.plan.problems.append(
                        f"card {card.id} claims lead {card.link}, which is linked to card "
                        f"{self.by_lead[card.link].card_id}; left alone"
                    )
                    self.claimed_cards.add(card.id)
                    continue
                if claimed is None:
                    continue
                if claimed.deleted and self.cfg.on_lead_deleted is LeadDeleted.ARCHIVE_CARD:
                    self.claimed_cards.add(card.id)
                    self._add(
                        Unit(
                            claimed.id,
                            card.id,
                            (Archive(Side.CARD, card.id, "its lead was deleted"),),
                            notes=(f"card {card.id} belongs to deleted lead {claimed.id}: archived",),
                        )
                    )

    def _adopt_by_key(self) -> None:
        if not self.cfg.match_on:
            return
        leads = _index(self._free_leads(), self.cfg.match_on)
        cards = _index(self._free_cards(), self.cfg.match_on)
        for key, lead_group in sorted(leads.items()):
            card_group = cards.get(key, [])
            if len(lead_group) == 1 and len(card_group) == 1:
                self._adopt(lead_group[0], card_group[0], f"same {', '.join(self.cfg.match_on)}")
            elif card_group:
                self.plan.problems.append(
                    f"{len(lead_group)} leads and {len(card_group)} cards share "
                    f"{'/'.join(self.cfg.match_on)}={'/'.join(key)}; not matched automatically"
                )
                # held until a person links them: a new record now would duplicate one of these
                self.claimed_leads.update(r.id for r in lead_group)
                self.claimed_cards.update(r.id for r in card_group)

    def _create_missing(self) -> None:
        for lead in self._free_leads():
            if not lead.deleted and lead.link is None and self._wants_card(lead) and self._complete(lead, Side.LEAD):
                self.claimed_leads.add(lead.id)
                self._add(self._create(Side.CARD, lead))
        if self.cfg.create_leads:
            for card in self._free_cards():
                if (
                    not card.deleted
                    and card.link is None
                    and self._wants_card(card)
                    and self._complete(card, Side.CARD)
                ):
                    self.claimed_cards.add(card.id)
                    self._add(self._create(Side.LEAD, card))

    def _complete(self, record: Record, side: Side) -> bool:
        """A record gets a counterpart only once its required fields have values (reported until then)."""
        missing = [name for name in self.cfg.required if record.fields.get(name) is None]
        if missing:
            self.plan.problems.append(
                f"{side.value} {record.id} has no {', '.join(missing)}: nothing is created for it until it has"
            )
        return not missing

    def _wants_card(self, record: Record) -> bool:
        for name, values in self.cfg.skip.items():
            value = record.fields.get(name)
            if value is not None and value.casefold() in {v.casefold() for v in values}:
                return False
        return True

    def _create(self, side: Side, source: Record) -> Unit:
        # A one-way field flowing away from the new record is seeded with the source's value: the new
        # record has no value of its own yet, and leaving it empty would wipe the source's next cycle.
        values = {
            spec.name: source.fields[spec.name]
            for spec in self.cfg.mapping.fields
            if spec.name in source.fields and (spec.direction.flows_to(side) or source.fields[spec.name] is not None)
        }
        names = [spec.name for spec in self.cfg.mapping.fields if spec.name in source.fields]
        base = {name: source.fields[name] for name in names}
        if side is Side.CARD:
            return Unit(source.id, None, (Create(side, source.id, values),), link=Link(source.id, "", base))
        return Unit(None, source.id, (Create(side, source.id, values),), link=Link("", source.id, base))


def _as_card_sees(spec: FieldSpec, card: Maybe, *candidates: Maybe) -> Maybe:
    """The card's canonical value, preferring the lead's or the base's when the card stores them alike.

    A many-to-one value map (or a case variant) puts several canonical values in the same card
    place; reading the card back yields the map's representative. That is not a card edit:
    treating it as one would overwrite the lead's value a cycle after writing it to the card.
    """
    if card is MISSING or spec.to_card is None:
        return card
    for candidate in candidates:
        if candidate is not MISSING and spec.card_value(candidate) == spec.card_value(card):  # type: ignore[arg-type]
            return candidate
    return card


def _index(records: Iterable[Record], keys: tuple[str, ...]) -> dict[tuple[str, ...], list[Record]]:
    out: dict[tuple[str, ...], list[Record]] = {}
    for record in records:
        if record.deleted or record.link:
            continue
        values = [record.fields.get(k) for k in keys]
        if any(v is None for v in values):
            continue
        out.setdefault(tuple(v.casefold() for v in values if v is not None), []).append(record)
    return out
