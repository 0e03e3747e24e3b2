"""Sync rules (pure): which records of a pair sync, by one test per side.

``rules.lead``: a lead syncs while its field holds one of the values (a status in a set, a checkbox
``"true"``), or while it is a member of an Airtable view / matches a Notion filter (``MemberRule``:
the member ids are read separately, never by the fetch); ``rules.card``: a card syncs while its
field holds one of them (its list, in the status field's canonical values) or while it carries a
Trello label (``LabelRule``, on the record's ``tags``). A record outside its rule gets no
counterpart and is not adopted; a linked record that leaves its rule is **detached**: the link
is dropped, both records are kept (nothing archived) and their link markers stay, so a record
that comes back into the rule is linked to the same counterpart again. Deleted records are left to the deletion rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from leadsync.core.models import Link, Record, Side, Value
from leadsync.core.operations import Unit


@dataclass(frozen=True)
class Rule:
    """Records of one side sync while ``field`` holds one of ``values`` (compared without case)."""

    field: str
    values: frozenset[str]
    shown: tuple[str, ...] = ()  # the values as the configuration gives them (for the history)

    def admits(self, record: Record) -> bool:
        """True when the record syncs: its value is one of the rule's, or the field was not read."""
        if record.deleted or self.field not in record.fields:
            return True
        value: Value = record.fields[self.field]
        return value is not None and value.casefold() in self.values

    def why_not(self, side: Side, record: Record) -> str:
        value = record.fields.get(self.field)
        allowed = ", ".join(map(repr, self.shown or sorted(self.values)))
        return f"{self.field} {value!r} is not one of {allowed} (rules.{side.value})"


@dataclass(frozen=True)
class MemberRule:
    """Records sync while their id is in ``members`` (an Airtable view's records, a Notion filter's
    pages). ``members`` is ``None`` when it was not read this cycle: then every record is admitted.

    The fetch stays the plain listing, so a record outside the view is never taken for deleted:
    it only leaves the rule (and a linked one is detached).
    """

    what: str  # how the configuration names it, e.g. "view 'Hot leads'"
    members: frozenset[str] | None = None

    def admits(self, record: Record) -> bool:
        """True when the record syncs: a member, deleted (left to the deletion rules), or not known."""
        return record.deleted or self.members is None or record.id in self.members

    def why_not(self, side: Side, record: Record) -> str:
        return f"not in {self.what} (rules.{side.value})"


def label_tag(label: str) -> str:
    """The tag a card carries for ``label``: a 24-hex label id as ``label:<id>``, a name as
    ``label-name:<casefolded name>`` (the Trello connector tags each card with both per label)."""
    text = label.strip()
    if len(text) == 24 and all(c in "0123456789abcdefABCDEF" for c in text):
        return f"label:{text.lower()}"
    return f"label-name:{text.casefold()}"


@dataclass(frozen=True)
class LabelRule:
    """Cards sync while they carry the label (by name, without case, or by id); a card whose
    labels were not read (``tags`` is ``None``) is admitted."""

    label: str

    def admits(self, record: Record) -> bool:
        if record.deleted or record.tags is None:
            return True
        return label_tag(self.label) in record.tags

    def why_not(self, side: Side, record: Record) -> str:
        return f"it has no label {self.label!r} (rules.{side.value}.label)"


AnyRule = Rule | MemberRule | LabelRule


def rule(field: str, values: Iterable[str], shown: Iterable[str] = ()) -> Rule:
    """A rule on canonical ``values``; ``shown``: how the configuration names them (default: the same)."""
    given = list(values)
    return Rule(field, frozenset(v.casefold() for v in given), tuple(shown) or tuple(given))


@dataclass
class Selection:
    """What the planner gets once the rules are applied, and the links they detach."""

    links: list[Link]
    leads: dict[str, Record]
    cards: dict[str, Record]
    detach: list[Unit]
    outside: dict[Side, list[str]]  # records outside their rule (left out of the plan)


def select(
    rules: Mapping[Side, AnyRule],
    links: Iterable[Link],
    leads: Mapping[str, Record],
    cards: Mapping[str, Record],
) -> Selection:
    """The records and links the planner may act on; a linked record outside its rule detaches its link."""
    records = {Side.LEAD: leads, Side.CARD: cards}
    outside: dict[Side, dict[str, str]] = {Side.LEAD: {}, Side.CARD: {}}
    for side, side_rule in rules.items():
        for record_id, record in records[side].items():
            if not side_rule.admits(record):
                outside[side][record_id] = side_rule.why_not(side, record)
    kept: list[Link] = []
    detach: list[Unit] = []
    for link in links:
        lead_why = outside[Side.LEAD].get(link.lead_id)
        card_why = outside[Side.CARD].get(link.card_id)
        if link.detached or not (lead_why or card_why):
            kept.append(link)
            continue
        side, why = (Side.LEAD, lead_why) if lead_why else (Side.CARD, card_why)
        record_id = link.lead_id if side is Side.LEAD else link.card_id
        note = (
            f"{side.value} {record_id} left the sync rule ({why}): detached from {side.other.value} "
            f"{link.card_id if side is Side.LEAD else link.lead_id}, both kept"
        )
        detach.append(Unit(link.lead_id, link.card_id, drop=link, notes=(note,)))
        # neither record is planned this cycle: the other one is not acted on for a detached link
        outside[side.other].setdefault(link.card_id if side is Side.LEAD else link.lead_id, "detached")
    for side in (Side.LEAD, Side.CARD):  # a free record whose marker names one outside the rule waits with it
        for record_id, record in records[side].items():
            if record.link and record.link in outside[side.other] and not record.deleted:
                outside[side].setdefault(record_id, "its counterpart is outside the rule")
    return Selection(
        links=kept,
        leads={k: v for k, v in leads.items() if k not in outside[Side.LEAD]},
        cards={k: v for k, v in cards.items() if k not in outside[Side.CARD]},
        detach=detach,
        outside={side: sorted(ids) for side, ids in outside.items()},
    )
