"""The planner, behaviour by behaviour: creation, adoption, deletion, detaching, reporting.

Most tests drive `tests.support.world` (a Notion lead side, a Trello card side, native field
names) through whole cycles, so each behaviour is checked together with its next cycle.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from leadsync.config import PairConfig
from leadsync.core.models import Link, Record, Side
from leadsync.core.operations import Archive, Create, SetMarker, Update
from leadsync.core.planner import PlanConfig, plan
from tests.support.world import T0, World

STATUS_LISTS = {"New": "To Do", "Contacted": "In Progress", "Qualified": "Done", "Lost": "Lost"}
PAIR: dict[str, Any] = {
    "id": "acme",
    "lead": {"system": "notion", "database_id": "1f2e3d4c5b6a49788766554433221100"},
    "card": {"system": "trello", "board_id": "5f1a2b3c4d5e6f7a8b9c0d1e"},
    "fields": {
        "name": {"lead": "Name", "card": "name"},
        "status": {"lead": "Status", "card": "list", "values": STATUS_LISTS},
        "email": {"lead": "Email", "card": "desc:Email"},
        "notes": {"lead": "Notes", "card": "desc"},
    },
}
ADA = {"Name": "Ada", "Status": "New", "Email": "ada@example.com", "Notes": "met at PyCon"}
ADA_CARD = {"name": "Ada", "list": "To Do", "desc:Email": "ada@example.com", "desc": "met at PyCon"}
ADA_BASE = {"name": "Ada", "status": "New", "email": "ada@example.com", "notes": "met at PyCon"}


def config(**settings: Any) -> PlanConfig:
    return PairConfig.model_validate({**PAIR, **settings}).plan_config()


def world(**settings: Any) -> World:
    return World(config(**settings))


def linked(w: World, lead: dict | None = None, card: dict | None = None) -> tuple[str, str]:
    """A lead and a card already linked and in agreement (as after an earlier cycle)."""
    w.put(Side.LEAD, "L1", lead or ADA, link="C1")
    w.put(Side.CARD, "C1", card or ADA_CARD, link="L1")
    w.link("L1", "C1", ADA_BASE)
    return "L1", "C1"


def assert_quiet(w: World, cycles: int = 2) -> None:
    """Further cycles with no edits write nothing and change no link."""
    for _ in range(cycles):
        w.tick()
        again = w.sync()
        assert again.operations == [], again.describe()
        assert not any(unit.changes_state for unit in again.units), again.units


def card_of(w: World, lead_id: str) -> str:
    return w.links[lead_id].card_id


# -- new records --------------------------------------------------------------------------------


def test_new_lead_gets_a_card_with_mapped_fields() -> None:
    w = world()
    lead = w.add(Side.LEAD, ADA)
    first = w.sync()
    (create,) = first.operations
    assert create == Create(Side.CARD, lead, ADA_BASE)
    card = card_of(w, lead)
    assert w.records[Side.CARD][card].fields == ADA_CARD
    assert w.records[Side.CARD][card].link == lead  # the lead id marker travels with the card
    assert w.records[Side.LEAD][lead].link == card  # and the card id is written back into the lead
    assert w.links[lead].base == ADA_BASE
    assert_quiet(w)


def test_lost_lead_gets_no_card_by_default() -> None:
    w = world()
    w.add(Side.LEAD, {**ADA, "Status": "Lost"})
    w.add(Side.LEAD, {**ADA, "Name": "Bob", "Status": "lost"})
    assert w.sync().units == []
    assert w.records[Side.CARD] == {}


def test_lost_lead_that_comes_back_gets_a_card() -> None:
    w = world()
    lead = w.add(Side.LEAD, {**ADA, "Status": "Lost"})
    w.sync()
    w.edit(Side.LEAD, lead, {"Status": "Contacted"})
    w.sync()
    assert w.records[Side.CARD][card_of(w, lead)].fields["list"] == "In Progress"


def test_linked_lead_moving_to_lost_moves_its_card_to_the_lost_list() -> None:
    w = world()
    lead, card = linked(w)
    w.edit(Side.LEAD, lead, {"Status": "Lost"})
    w.sync()
    assert w.records[Side.CARD][card].fields["list"] == "Lost"
    assert_quiet(w)


def test_hand_made_card_creates_no_lead_by_default() -> None:
    w = world()
    w.add(Side.CARD, {"name": "Walk-in", "list": "To Do"})
    assert w.sync().units == []
    assert w.records[Side.LEAD] == {}


def test_card_to_lead_creation_when_enabled() -> None:
    w = world(create_leads_from_cards=True)
    card = w.add(Side.CARD, {"name": "Walk-in", "list": "In Progress", "desc:Email": "w@example.com"})
    (create,) = w.sync().operations
    assert create == Create(
        Side.LEAD, card, {"name": "Walk-in", "status": "Contacted", "email": "w@example.com", "notes": None}
    )
    lead = next(iter(w.records[Side.LEAD]))
    assert w.records[Side.LEAD][lead].fields["Status"] == "Contacted"
    assert w.records[Side.LEAD][lead].link == card
    assert w.records[Side.CARD][card].link == lead
    assert_quiet(w)


def test_card_in_a_skipped_list_creates_no_lead() -> None:
    w = world(create_leads_from_cards=True)
    w.add(Side.CARD, {"name": "Gone", "list": "Lost"})
    assert w.sync().operations == []


def test_new_card_carries_one_way_fields_so_the_next_cycle_is_quiet() -> None:
    fields = {**PAIR["fields"], "owner": {"lead": "Owner", "card": "desc:Owner", "direction": "card_to_lead"}}
    w = world(fields=fields)
    lead = w.add(Side.LEAD, {**ADA, "Owner": "Grace"})
    w.sync()
    assert w.records[Side.LEAD][lead].fields["Owner"] == "Grace"
    assert_quiet(w)
    assert w.records[Side.LEAD][lead].fields["Owner"] == "Grace"


# -- linked pairs -------------------------------------------------------------------------------


def test_card_moved_in_trello_updates_the_lead_status_and_is_not_echoed() -> None:
    w = world()
    lead, card = linked(w)
    w.edit(Side.CARD, card, {"list": "Done"})
    (update,) = w.sync().operations
    assert update == Update(Side.LEAD, lead, {"status": "Qualified"})
    assert w.records[Side.LEAD][lead].fields["Status"] == "Qualified"
    assert_quiet(w)


def test_lead_edit_updates_only_the_changed_card_field() -> None:
    w = world()
    lead, card = linked(w)
    w.edit(Side.LEAD, lead, {"Notes": "wants a demo"})
    (update,) = w.sync().operations
    assert update == Update(Side.CARD, card, {"notes": "wants a demo"})
    assert_quiet(w)


def test_value_map_lookup_is_case_insensitive() -> None:
    w = world()
    lead, card = linked(w)
    w.edit(Side.CARD, card, {"list": "in progress"})  # a list typed in lower case
    w.sync()
    assert w.records[Side.LEAD][lead].fields["Status"] == "Contacted"
    w.edit(Side.LEAD, lead, {"Status": "qualified"})  # a status typed in lower case
    w.sync()
    assert w.records[Side.CARD][card].fields["list"] == "Done"
    assert w.problems == []
    assert_quiet(w)


def test_card_in_unmapped_list_leaves_status_alone_and_reports() -> None:
    w = world()
    lead, card = linked(w)
    w.edit(Side.CARD, card, {"list": "Backlog", "name": "Ada L."})
    result = w.sync()
    assert w.records[Side.LEAD][lead].fields["Status"] == "New"
    assert w.records[Side.LEAD][lead].fields["Name"] == "Ada L."  # the rest of the card still syncs
    assert w.records[Side.CARD][card].fields["list"] == "Backlog"
    assert not any("status" in op.changes for op in result.operations if isinstance(op, Update))
    assert any("'Backlog'" in p and card in p for p in w.problems)


def test_unmapped_lead_status_is_reported_not_written() -> None:
    w = world()
    lead, card = linked(w)
    w.edit(Side.LEAD, lead, {"Status": "Dormant"})
    assert w.sync().operations == []
    assert w.records[Side.CARD][card].fields["list"] == "To Do"
    assert any("'Dormant'" in p and lead in p for p in w.problems)


@pytest.mark.parametrize(("tie", "kept"), [("lead", "from notion"), ("card", "from trello")])
def test_conflict_inside_the_notion_minute_goes_to_the_tie_breaker(tie: str, kept: str) -> None:
    w = world(tie_breaker=tie)
    lead, card = linked(w)
    w.now = T0 + timedelta(minutes=5, seconds=40)
    w.edit(Side.LEAD, lead, {"Notes": "from notion"})  # Notion reports 12:05:00
    w.now = T0 + timedelta(minutes=5, seconds=10)
    w.edit(Side.CARD, card, {"desc": "from trello"})  # earlier in truth, but inside that minute
    w.now = T0 + timedelta(minutes=6)
    result = w.sync()
    (conflict,) = result.conflicts
    assert (conflict.field, conflict.lead_value, conflict.card_value) == ("notes", "from notion", "from trello")
    assert conflict.winner is Side(tie)
    assert w.records[Side.LEAD][lead].fields["Notes"] == kept
    assert w.records[Side.CARD][card].fields["desc"] == kept
    assert any(line.startswith("conflict on notes") for line in result.describe())
    assert_quiet(w)


def test_newest_edit_wins_a_conflict_across_minutes() -> None:
    w = world(tie_breaker="lead")
    lead, card = linked(w)
    w.edit(Side.LEAD, lead, {"Name": "Ada (notion)"})
    w.tick(timedelta(minutes=2))
    w.edit(Side.CARD, card, {"name": "Ada (trello)"})
    (conflict,) = w.sync().conflicts
    assert conflict.winner is Side.CARD
    assert w.records[Side.LEAD][lead].fields["Name"] == "Ada (trello)"


def test_record_not_read_this_cycle_is_taken_as_unchanged() -> None:
    cfg = config()
    card = Record("C1", {**ADA_BASE, "notes": "call back"}, T0, link="L1")
    result = plan(cfg, [Link("L1", "C1", ADA_BASE)], {}, {"C1": card})
    assert result.operations == [Update(Side.LEAD, "L1", {"notes": "call back"})]


# -- adoption on the first run ------------------------------------------------------------------


def test_lead_with_marker_adopts_existing_card() -> None:
    w = world()
    w.put(Side.CARD, "C7", ADA_CARD)
    lead = w.add(Side.LEAD, ADA, link="C7")
    result = w.sync()
    assert result.operations == [SetMarker(Side.CARD, "C7", lead)]
    assert w.links[lead] == Link(lead, "C7", ADA_BASE)
    assert len(w.records[Side.CARD]) == 1
    assert_quiet(w)


def test_card_marker_adopts_lead_on_first_run() -> None:
    w = world()
    w.put(Side.LEAD, "L3", ADA)
    w.put(Side.CARD, "C9", ADA_CARD, link="L3")
    result = w.sync()
    assert result.operations == [SetMarker(Side.LEAD, "L3", "C9")]
    assert w.links["L3"].card_id == "C9"
    assert_quiet(w)


def test_adopted_pair_with_different_values_reports_and_resolves_them() -> None:
    w = world()
    w.put(Side.CARD, "C7", {**ADA_CARD, "desc": "old note"})
    w.tick(timedelta(minutes=3))
    w.put(Side.LEAD, "L1", ADA, link="C7")
    (conflict,) = w.sync().conflicts
    assert (conflict.field, conflict.winner) == ("notes", Side.LEAD)
    assert conflict.reason == "values differ when adopting"
    assert w.records[Side.CARD]["C7"].fields["desc"] == "met at PyCon"
    assert_quiet(w)


def test_match_on_email_adopts_instead_of_duplicating() -> None:
    w = world(match_on=["email"])
    lead = w.add(Side.LEAD, {**ADA, "Email": "Ada@Example.com"})
    card = w.add(Side.CARD, {**ADA_CARD, "desc:Email": "ada@example.com"})
    result = w.sync()
    assert not any(isinstance(op, Create) for op in result.operations)
    assert w.links[lead].card_id == card
    assert w.records[Side.LEAD][lead].link == card
    assert w.records[Side.CARD][card].link == lead
    assert len(w.records[Side.CARD]) == 1
    assert_quiet(w)


@pytest.mark.parametrize(("leads", "cards"), [(2, 1), (1, 2)])
def test_ambiguous_email_match_is_reported_not_guessed(leads: int, cards: int) -> None:
    w = world(match_on=["email"])
    for i in range(leads):
        w.add(Side.LEAD, {**ADA, "Name": f"Ada {i}"})
    for i in range(cards):
        w.add(Side.CARD, {**ADA_CARD, "name": f"Ada {i}"})
    result = w.sync()
    assert result.operations == []
    assert w.links == {}
    assert any("ada@example.com" in p and "not matched" in p for p in result.problems)


def test_without_match_on_an_unmarked_card_is_not_adopted() -> None:
    w = world()
    lead = w.add(Side.LEAD, ADA)
    w.add(Side.CARD, ADA_CARD)
    (create,) = w.sync().operations
    assert create.side is Side.CARD
    assert create.source_id == lead


def test_lead_marker_naming_an_unreadable_card_is_skipped_and_reported() -> None:
    lead = Record("L1", ADA_BASE, T0, link="C404")
    result = plan(config(), [], {"L1": lead}, {})
    assert result.operations == []
    assert any("C404" in p for p in result.problems)


def test_lead_naming_a_gone_card_gets_a_tombstone_not_a_new_card() -> None:
    w = world()
    lead = w.add(Side.LEAD, ADA, link="C404")  # the card was deleted before leadsync ever ran
    result = w.sync()
    assert result.operations == []
    assert w.links[lead].detached
    assert_quiet(w)


# -- deletion and detaching ---------------------------------------------------------------------


def test_deleted_lead_archives_card_and_drops_link() -> None:
    w = world()
    lead, card = linked(w)
    w.archive(Side.LEAD, lead)
    result = w.sync()
    assert result.operations == [Archive(Side.CARD, card, "its lead was deleted")]
    assert w.records[Side.CARD][card].deleted
    assert w.links == {}
    assert_quiet(w)


def test_hard_deleted_lead_archives_card_too() -> None:
    w = world()
    lead, card = linked(w)
    w.purge(Side.LEAD, lead)
    w.sync()
    assert w.records[Side.CARD][card].deleted
    assert w.links == {}
    assert_quiet(w)


def test_deleted_lead_with_detach_rule_leaves_the_card() -> None:
    w = world(on_lead_deleted="detach")
    lead, card = linked(w)
    w.archive(Side.LEAD, lead)
    assert w.sync().operations == []
    assert not w.records[Side.CARD][card].deleted
    assert w.links == {}


def test_card_of_a_deleted_lead_found_by_its_marker_is_archived() -> None:
    w = world()
    w.put(Side.LEAD, "L1", ADA, deleted=True)
    w.put(Side.CARD, "C1", ADA_CARD, link="L1")
    assert w.sync().operations == [Archive(Side.CARD, "C1", "its lead was deleted")]
    assert_quiet(w)


def test_archived_card_detaches_lead_and_no_replacement_card() -> None:
    w = world()
    lead, card = linked(w)
    w.archive(Side.CARD, card)
    result = w.sync()
    assert result.operations == []
    assert w.links[lead].detached
    assert w.records[Side.LEAD][lead].fields == ADA
    w.edit(Side.LEAD, lead, {"Notes": "still a lead"})
    assert_quiet(w, cycles=3)
    assert len(w.records[Side.CARD]) == 1


def test_a_card_archived_before_its_lead_got_the_marker_leaves_the_lead_marked_and_no_new_card() -> None:
    w = world()
    lead, card = linked(w)
    w.set_marker(Side.LEAD, lead, None)  # the marker write never happened (a run cut short)
    w.archive(Side.CARD, card)
    result = w.sync()
    assert result.operations == [SetMarker(Side.LEAD, lead, card)]
    assert w.links[lead].detached
    assert_quiet(w, cycles=3)
    assert len(w.records[Side.CARD]) == 1, "an archived card is not replaced unless a person clears the marker"


def test_archived_card_with_archive_lead_rule_archives_the_lead() -> None:
    w = world(on_card_deleted="archive_lead")
    lead, card = linked(w)
    w.purge(Side.CARD, card)
    assert w.sync().operations == [Archive(Side.LEAD, lead, "its card was archived or deleted")]
    assert w.records[Side.LEAD][lead].deleted
    assert w.links == {}
    assert_quiet(w)


def test_restored_card_reattaches() -> None:
    w = world()
    lead, card = linked(w)
    w.archive(Side.CARD, card)
    w.sync()
    w.tick()
    w.restore(Side.CARD, card)
    w.edit(Side.CARD, card, {"list": "Done"})
    w.sync()
    assert not w.links[lead].detached
    assert w.records[Side.LEAD][lead].fields["Status"] == "Qualified"
    assert_quiet(w)


def test_clearing_marker_on_detached_lead_creates_new_card() -> None:
    w = world()
    lead, card = linked(w)
    w.archive(Side.CARD, card)
    w.sync()
    w.set_marker(Side.LEAD, lead, None)  # "give me a new card"
    result = w.sync()
    assert [type(op) for op in result.operations] == [Create]
    new_card = card_of(w, lead)
    assert new_card != card
    assert not w.links[lead].detached
    assert w.records[Side.LEAD][lead].link == new_card
    assert w.records[Side.CARD][new_card].fields == ADA_CARD
    assert_quiet(w)


def test_copied_card_claiming_linked_lead_is_left_alone() -> None:
    w = world()
    lead, card = linked(w)
    w.put(Side.CARD, "C2", {**ADA_CARD, "name": "Ada (copy)"}, link=lead)  # Trello "copy card" keeps the marker
    result = w.sync()
    assert result.operations == []
    assert w.links == {lead: Link(lead, card, ADA_BASE)}
    assert any("C2" in p and lead in p for p in result.problems)


def test_two_cards_claiming_one_unlinked_lead_adopt_one_and_report_the_other() -> None:
    w = world()
    w.put(Side.LEAD, "L1", ADA)
    w.put(Side.CARD, "C1", ADA_CARD, link="L1")
    w.put(Side.CARD, "C2", ADA_CARD, link="L1")
    result = w.sync()
    assert w.links["L1"].card_id == "C1"
    assert any("C2" in p for p in result.problems)
    assert not any(op.record_id == "C2" for op in result.operations if not isinstance(op, Create))


# -- the plan as a report -----------------------------------------------------------------------


def test_dry_run_lines_and_summary_count_what_would_happen() -> None:
    w = world()
    lead, card = linked(w)
    w.edit(Side.CARD, card, {"list": "Done"})
    w.add(Side.LEAD, {**ADA, "Name": "Bob"})
    result = w.plan()
    summary = result.summary()
    assert summary["update_lead"] == 1
    assert summary["create_card"] == 1
    assert summary["conflicts"] == 0
    lines = result.describe()
    assert f"update lead {lead}: status='Qualified'" in lines
    assert any(line.startswith("create card for lead") and "name='Bob'" in line for line in lines)


def test_restored_card_of_a_deleted_lead_follows_the_lead_deleted_rule_at_once() -> None:
    w = world()
    lead, card = linked(w)
    w.archive(Side.CARD, card)
    w.sync()
    w.archive(Side.LEAD, lead)
    w.restore(Side.CARD, card)
    assert w.sync().operations == [Archive(Side.CARD, card, "its lead was deleted")]
    assert w.links == {}
    assert_quiet(w)


def test_tombstone_of_a_deleted_lead_is_dropped_and_comes_back_if_the_lead_does() -> None:
    w = world()
    lead, card = linked(w)
    w.archive(Side.CARD, card)
    w.sync()
    w.archive(Side.LEAD, lead)
    assert w.sync().operations == []
    assert w.links == {}
    w.restore(Side.LEAD, lead)
    assert w.sync().operations == []
    assert w.links[lead].detached  # its marker still names the archived card: still no replacement
    assert_quiet(w)


def test_new_lead_from_a_card_keeps_the_card_value_of_a_lead_to_card_field() -> None:
    fields = {**PAIR["fields"], "email": {"lead": "Email", "card": "desc:Email", "direction": "lead_to_card"}}
    w = world(fields=fields, create_leads_from_cards=True)
    card = w.add(Side.CARD, {"name": "Walk-in", "list": "To Do", "desc:Email": "w@example.com"})
    w.sync()
    lead = w.records[Side.CARD][card].link
    assert lead is not None
    assert w.records[Side.LEAD][lead].fields["Email"] == "w@example.com"
    assert_quiet(w)
    assert w.records[Side.CARD][card].fields["desc:Email"] == "w@example.com"


def test_nameless_lead_waits_for_a_name_before_getting_a_card() -> None:
    w = world()
    lead = w.add(Side.LEAD, {**ADA, "Name": None})
    result = w.sync()
    assert result.operations == []
    assert any(lead in p and "name" in p for p in result.problems)
    w.edit(Side.LEAD, lead, {"Name": "Ada"})
    w.sync()
    assert w.records[Side.CARD][card_of(w, lead)].fields["name"] == "Ada"
    assert_quiet(w)


def test_a_copied_card_claiming_a_linked_lead_never_delays_that_leads_update() -> None:
    w = world()
    lead, card = linked(w)
    w.edit(Side.LEAD, lead, {"Status": "Qualified"})
    w.put(Side.CARD, "C2", {**ADA_CARD, "name": "Ada (copy)"}, link=lead)
    result = w.sync()
    assert [(type(op).__name__, op.record_id) for op in result.operations] == [("Update", card)]
    assert w.records[Side.CARD][card].fields["list"] == "Done"
    assert w.records[Side.CARD]["C2"].fields["list"] == ADA_CARD["list"]
    assert_quiet(w)
