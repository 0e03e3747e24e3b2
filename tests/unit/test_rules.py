"""Sync rules, the pure half: which records are planned, which links detach; their configuration."""

from __future__ import annotations

from typing import Any

import pytest

from leadsync.config import parse_config
from leadsync.core.models import Link, Record, Side
from leadsync.core.rules import rule, select
from leadsync.errors import ConfigError

STATUS = {"New": "To Do", "Contacted": "In Progress", "Qualified": "Done", "Lost": "Lost"}


def lead(record_id: str, status: str | None, link: str | None = None, deleted: bool = False) -> Record:
    return Record(record_id, {"status": status}, link=link, deleted=deleted)


def test_a_rule_admits_its_values_without_case_and_unread_or_deleted_records() -> None:
    r = rule("status", ["Qualified"])
    assert r.admits(lead("a", "qualified"))
    assert not r.admits(lead("a", "New"))
    assert not r.admits(lead("a", None)), "an empty value is not in the set"
    assert r.admits(Record("a", {})), "a field not read cannot be judged"
    assert r.admits(lead("a", "New", deleted=True)), "deletions follow the deletion rules"


def test_records_outside_the_rule_are_left_out_and_linked_ones_detach() -> None:
    links = [Link("l1", "c1", {}), Link("l2", "c2", {}), Link("l3", "c3", {}, detached=True)]
    leads = {
        "l1": lead("l1", "New", "c1"),
        "l2": lead("l2", "Qualified", "c2"),
        "l3": lead("l3", "New"),
        "l4": lead("l4", "New"),
        "l5": lead("l5", "Qualified"),
    }
    cards = {"c1": Record("c1", {"status": "New"}, link="l1"), "c9": Record("c9", {}, link="l4")}

    chosen = select({Side.LEAD: rule("status", ["Qualified"])}, links, leads, cards)

    assert [link.lead_id for link in chosen.links] == ["l2", "l3"], "a tombstone is left to the deletion rules"
    assert sorted(chosen.leads) == ["l2", "l5"]
    assert chosen.cards == {}, "c1's link detaches, c9's marker names a lead outside the rule"
    (unit,) = chosen.detach
    assert (unit.lead_id, unit.card_id, unit.ops, unit.drop) == ("l1", "c1", (), links[0])
    assert unit.notes == (
        "lead l1 left the sync rule (status 'New' is not one of 'Qualified' (rules.lead)): detached from card c1, "
        "both kept",
    )


def test_no_rule_selects_everything() -> None:
    links = [Link("l1", "c1", {})]
    chosen = select({}, links, {"l1": lead("l1", "New")}, {})
    assert (chosen.links, list(chosen.leads), chosen.detach) == (links, ["l1"], [])


def pair(**changes: Any) -> dict[str, Any]:
    doc = {
        "id": "p",
        "lead": {"system": "notion", "database_id": "0" * 32},
        "card": {"system": "trello", "board_id": "b" * 24},
        "fields": {
            "name": {"lead": "Name", "card": "name"},
            "status": {"lead": "Status", "card": "list", "values": STATUS},
        },
    }
    return {**doc, **changes}


def test_a_card_rule_in_list_names_becomes_canonical_values() -> None:
    config = parse_config(pair(rules={"card": {"field": "status", "in": ["In Progress", "Done"]}})).pairs[0]
    ((side, r),) = config.sync_rules().items()
    assert side is Side.CARD
    assert r.values == {"contacted", "qualified"}
    assert r.shown == ("In Progress", "Done")


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ({"lead": {"field": "stage", "in": ["x"]}}, "rules.lead.field 'stage' is not a mapped field"),
        ({"lead": {"field": "status", "in": ["Won"]}}, "rules.lead.in: ['Won'] are not lead values of fields.status"),
        ({"card": {"field": "status", "in": ["Qualified"]}}, "rules.card.in: ['Qualified'] are not card values"),
        ({"lead": {"field": "status", "in": []}}, "rules.lead.in"),
        ({"lead": {"field": "status", "values": ["New"]}}, "rules.lead"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_with_its_path(rules: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(pair(rules=rules))
    assert any(fragment in p for p in err.value.problems), err.value.problems
