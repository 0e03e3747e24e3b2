"""Sync rules, the pure half: which records are planned, which links detach; their configuration."""

from __future__ import annotations

from typing import Any

import pytest

from leadsync.config import parse_config
from leadsync.core.fingerprint import fingerprint
from leadsync.core.models import Link, Record, Side
from leadsync.core.rules import LabelRule, MemberRule, rule, select
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


# -- view, filter and label rules -------------------------------------------------------------


def test_a_member_rule_admits_members_and_everyone_while_its_members_are_unknown() -> None:
    unread = MemberRule("view 'Hot'")
    read = MemberRule("view 'Hot'", frozenset({"l1"}))
    assert unread.admits(lead("l9", "New")), "members not read this cycle: nobody is judged"
    assert read.admits(lead("l1", "New"))
    assert not read.admits(lead("l2", "New"))
    assert read.admits(lead("l2", "New", deleted=True)), "deletions follow the deletion rules"
    assert read.why_not(Side.LEAD, lead("l2", "New")) == "not in view 'Hot' (rules.lead)"


def test_a_lead_outside_the_view_is_detached_not_taken_for_deleted() -> None:
    links = [Link("l1", "c1", {}), Link("l2", "c2", {})]
    leads = {"l1": lead("l1", "New", "c1"), "l2": lead("l2", "New", "c2")}
    chosen = select({Side.LEAD: MemberRule("view 'Hot'", frozenset({"l2"}))}, links, leads, {})
    (unit,) = chosen.detach
    assert (unit.lead_id, unit.card_id, unit.ops, unit.drop) == ("l1", "c1", (), links[0])
    assert unit.notes[0].startswith("lead l1 left the sync rule (not in view 'Hot' (rules.lead))")
    assert [link.lead_id for link in chosen.links] == ["l2"]


def card(card_id: str, tags: frozenset[str] | None, deleted: bool = False) -> Record:
    return Record(card_id, {"status": "New"}, tags=tags, deleted=deleted)


@pytest.mark.parametrize(
    ("label", "tags", "admitted"),
    [
        ("Sync", frozenset({"label-name:sync"}), True),
        ("sync ", frozenset({"label-name:sync"}), True),
        ("Sync", frozenset({"label-name:hot"}), False),
        ("Sync", frozenset(), False),
        ("5F0C1A2B3C4D5E6F7A8B9C0D", frozenset({"label:5f0c1a2b3c4d5e6f7a8b9c0d"}), True),
        ("5f0c1a2b3c4d5e6f7a8b9c0d", frozenset({"label-name:5f0c1a2b3c4d5e6f7a8b9c0d"}), False),
        ("Sync", None, True),
    ],
)
def test_a_label_rule_matches_by_name_without_case_or_by_id(
    label: str, tags: frozenset[str] | None, admitted: bool
) -> None:
    assert LabelRule(label).admits(card("c1", tags)) is admitted


def test_a_card_losing_its_label_detaches_and_a_closed_card_is_left_to_the_deletion_rules() -> None:
    links = [Link("l1", "c1", {}), Link("l2", "c2", {})]
    cards = {"c1": card("c1", frozenset()), "c2": card("c2", frozenset(), deleted=True)}
    chosen = select({Side.CARD: LabelRule("Sync")}, links, {}, cards)
    assert [u.card_id for u in chosen.detach] == ["c1"]
    assert "it has no label 'Sync' (rules.card.label)" in chosen.detach[0].notes[0]
    assert list(chosen.cards) == ["c2"]


def test_tags_count_in_the_fingerprint_only_when_read() -> None:
    plain = Record("c1", {"name": "Ada"})
    assert fingerprint(plain) == fingerprint(Record("c1", {"name": "Ada"}, tags=None))
    assert fingerprint(Record("c1", {"name": "Ada"}, tags=frozenset())) != fingerprint(
        Record("c1", {"name": "Ada"}, tags=frozenset({"label-name:sync"}))
    ), "a label added is a change"


def airtable_lead() -> dict[str, Any]:
    return {"system": "airtable", "base_id": "app" + "A" * 14, "table": "Leads"}


def test_view_filter_and_label_rules_load_as_their_kinds() -> None:
    notion = parse_config(
        pair(rules={"lead": {"filter": {"property": "Status", "status": {"equals": "Hot"}}}, "card": {"label": "Sync"}})
    ).pairs[0]
    assert notion.sync_rules() == {Side.LEAD: MemberRule("the Notion filter"), Side.CARD: LabelRule("Sync")}
    airtable = parse_config(pair(lead=airtable_lead(), rules={"lead": {"view": "Hot leads"}})).pairs[0]
    assert airtable.sync_rules() == {Side.LEAD: MemberRule("view 'Hot leads'")}
    cfg = airtable.rule_config(Side.LEAD)
    assert cfg is not None
    assert cfg.kind == "view"


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ({"lead": {"view": "  "}}, "rules.lead.view: must be a non-empty name"),
        ({"card": {"label": ""}}, "rules.card.label: must be a non-empty name"),
        ({"lead": {"filter": ["Status"]}}, "rules.lead.filter: Input should be a valid dictionary"),
        ({"lead": {"filter": {"Status": "Hot"}}}, "a Notion filter has exactly one of property, timestamp, and, or"),
        ({"lead": {"filter": {"and": []}}}, "filter.and: a non-empty list of filters"),
        (
            {"lead": {"filter": {"or": [{"property": "Status", "status": {"equals": "Hot"}}, {"propery": "X"}]}}},
            "filter.or[1]: a Notion filter has exactly one of",
        ),
        ({"lead": {"filter": {"property": "Status"}}}, "a property filter has one condition object"),
        ({"lead": {"view": "Hot"}}, "rules.lead.view: a view rule needs an Airtable lead side; it is notion"),
        ({"card": {"filter": {"property": "S", "select": {"equals": "x"}}}}, "rules.card.filter: a filter rule needs"),
        ({"lead": {"view": "Hot", "field": "status", "in": ["New"]}}, "a rule is one of field+in, view, filter"),
        ({"lead": {"field": "status"}}, "field and in go together"),
        ({"lead": {}}, "a rule is one of field+in, view, filter or label; got none"),
    ],
)
def test_a_view_filter_or_label_rule_that_cannot_work_is_refused_with_its_path(
    rules: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(pair(rules=rules))
    assert any(fragment in p for p in err.value.problems), err.value.problems
