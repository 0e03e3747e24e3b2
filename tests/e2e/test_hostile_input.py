"""Hostile and mistaken input, end to end through the handler (issue 15).

Anyone who can edit the board, and any mistake in a configuration, is input: foreign and
malformed link markers, a pair pointed somewhere else, many records gone at once, a run that
lost its lease. Each test fails on the code before the fix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadsync.cli import main as cli
from leadsync.connectors import ratelimit
from tests.support.e2e import STATUSES, Harness, NotionLeads, pair_config


def _notion_only(harness: Harness) -> None:
    if harness.leads.system != "notion":
        pytest.skip("Notion pages of another database: Notion only")


def test_a_card_naming_a_page_of_another_notion_database_is_not_linked_to_it(harness: Harness) -> None:
    _notion_only(harness)
    other = NotionLeads(harness.sb)  # another database the integration can see
    stranger = other.add(name="Someone Else", email="else@example.com", status="New", source="Other")
    before = other.get(stranger)
    card = harness.board.add_card(
        "Hand made", "Done", f"**leadsync**\nEmail: hand@example.com\nleadsync-id: {stranger}"
    )

    summary = harness.cycle()
    harness.cycle()

    assert summary["problems"] >= 1
    assert other.get(stranger) == before, "the other database's page is untouched"
    assert harness.sb.trello.card(card)["name"] == "Hand made", "its values were not copied onto the card"
    assert harness.sb.trello.card(card)["closed"] is False, "a foreign marker is not a deletion"


def test_a_path_traversal_marker_never_reads_a_record_of_another_airtable_base(harness: Harness) -> None:
    if harness.leads.system != "airtable":
        pytest.skip("Airtable bases: Airtable only")
    from tests.support.e2e_airtable import Leads

    other = Leads(harness.sb)
    secret = other.add(name="Other Base Secret", email="secret@example.com", status="New", source="Other")
    marker = f"../../{other.base_id}/{other.table_id}/{secret}"
    card = harness.board.add_card("Traversal", "To Do", f"**leadsync**\nleadsync-id: {marker}")
    assert [c["lead"] for c in harness.board.cards() if c["id"] == card] == [marker]
    harness.configure(create_leads_from_cards=True)

    summary = harness.cycle()

    assert summary["status"] in ("synced", "partial")
    paths = [p for _, p in harness.sb.airtable.requests]
    assert not any(other.base_id in p for p in paths), paths
    names = [c["name"] for c in harness.board.cards()]
    assert "Other Base Secret" not in names
    assert all(r["name"] != "Other Base Secret" for r in harness.leads.all())


def test_malformed_markers_on_both_sides_never_stop_new_leads_getting_cards(harness: Harness) -> None:
    bad = harness.board.add_card("Bad marker", "To Do", "**leadsync**\nleadsync-id: hello")
    assert [c["lead"] for c in harness.board.cards() if c["id"] == bad] == ["hello"]
    harness.cycle()
    garbled = harness.leads.add(name="Garbled Link", email="g@example.com", status="New", source="Web")
    harness.cycle()
    link_field = {"notion": "Trello Card", "airtable": "Trello Card", "sheets": "Trello Card"}[harness.leads.system]
    _set_raw(harness, garbled, link_field, "../boards/abc/cards")

    fresh = harness.leads.add(name="Fresh Lead", email="f@example.com", status="New", source="Web")
    summary = harness.cycle()
    second = harness.cycle()

    assert summary["status"] in ("synced", "partial"), summary
    assert second["status"] in ("synced", "partial"), second
    assert harness.board.card_for(fresh)["name"] == "Fresh Lead"
    assert summary["problems"] >= 1
    assert harness.board.card_for(garbled)["name"] == "Garbled Link", "the garbled lead keeps exactly one card"
    assert harness.leads.get(garbled)["card"] == harness.board.card_for(garbled)["id"], "its marker is repaired"


def _set_raw(harness: Harness, lead_id: str, field: str, value: str) -> None:
    """A person types into the lead's link field directly."""
    leads: Any = harness.leads
    if leads.system == "notion":
        harness.sb.notion.user_update_page(lead_id, {field: value})
    elif leads.system == "airtable":
        from tests.support.e2e_airtable import TABLE

        harness.sb.airtable.user_update_record(leads.base_id, TABLE, lead_id, {field: value})
    else:
        from leadsync.connectors.sheets_rows import column_letters, quote_sheet
        from tests.support.e2e_sheets import TAB

        number = leads._row_number(lead_id)
        cell = f"{quote_sheet(TAB)}!{column_letters(leads._header().index(field))}{number}"
        harness.sb.sheets.user_set_values(leads.spreadsheet_id, cell, [[value]])


def test_an_unexpected_error_in_one_pair_never_stops_the_other_pairs(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadsync.connectors import trello

    broken = harness.board
    healthy = type(broken)(harness.sb)
    config = pair_config(harness.leads, broken)
    second = json.loads(json.dumps(config["pairs"][0]))
    second["id"] = "healthy"
    second["card"]["board_id"] = healthy.board_id
    config["pairs"].append(second)
    harness.config_path.write_text(json.dumps(config))
    original = trello.TrelloConnector.fetch_changed

    def fails_on_the_broken_board(self: Any, cursor: str | None) -> Any:
        if self.board_id == broken.board_id:
            raise ValueError("a value nobody expected")
        return original(self, cursor)

    monkeypatch.setattr(trello.TrelloConnector, "fetch_changed", fails_on_the_broken_board)
    lead = harness.leads.add(name="Both Boards", email="b@example.com", status="New", source="Web")

    result = harness.handler(_event(), harness.context_factory())["pairs"]

    assert result["e2e"]["status"] == "failed"
    assert result["e2e"]["errors"] == 1
    assert result["healthy"]["status"] == "synced"
    assert [c["lead"] for c in healthy.cards()] == [lead]


def _event() -> dict[str, Any]:
    from tests.support.e2e import SCHEDULED_EVENT

    return SCHEDULED_EVENT


def test_a_pair_pointed_at_another_tracker_stops_and_archives_nothing_until_repointed(harness: Harness) -> None:
    leads = [
        harness.leads.add(name=f"Lead {i}", email=f"l{i}@example.com", status=STATUSES[i % 3], source="Web")
        for i in range(4)
    ]
    harness.cycle()
    cards = {lead: harness.board.card_for(lead)["id"] for lead in leads}
    empty = type(harness.leads)(harness.sb)  # an empty tracker of the same kind
    moved = pair_config(empty, harness.board, full_sweep_minutes=1)
    harness.config_path.write_text(json.dumps(moved))

    stopped = harness.cycle()
    again = harness.cycle()

    assert stopped["status"] == again["status"] == "failed"
    assert all(not harness.board.card_for(lead)["closed"] for lead in leads), "nothing archived"
    assert all(harness.leads.get(lead) is not None for lead in leads), "nothing deleted"
    assert cli(["repoint", "e2e"]) == 0
    after = [harness.cycle() for _ in range(2)]
    assert all(s["status"] in ("synced", "partial") for s in after), after
    assert all(not c["closed"] for c in harness.board.cards(include_closed=True)), "still nothing archived"
    assert {harness.board.card_for(lead)["id"] for lead in leads} == set(cards.values())


def test_many_leads_gone_at_once_archive_nothing_until_the_operator_confirms(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for system in ("notion", "trello", "airtable", "sheets"):  # what is counted here is reads, not their pace
        monkeypatch.setitem(ratelimit.DEFAULT_LIMITS, system, ratelimit.Limit(1000.0, 1000.0))
    harness.configure(full_sweep_minutes=1)
    leads = [
        harness.leads.add(name=f"Lead {i}", email=f"m{i}@example.com", status="New", source="Web") for i in range(12)
    ]
    harness.cycle()
    survivor = harness.leads.add(name="Survivor", email="s@example.com", status="New", source="Web")
    for lead in leads:
        harness.leads.delete(lead)

    before = len(harness.sb.emulators[harness.leads.system].requests)
    held = harness.cycle()
    reads = [m for m, _ in harness.sb.emulators[harness.leads.system].requests[before:] if m == "GET"]
    held_again = harness.cycle()

    assert held["held_deletions"] == 12, held
    if harness.leads.system == "sheets":  # a row is read with its sheet: one read confirms all twelve
        assert len(reads) < 12, f"{len(reads)} reads of the sheet in one cycle: one per lead gone"
    else:  # one direct read per lead that looks gone
        assert len(reads) >= 12
    assert held["errors"] >= 1
    assert held_again["held_deletions"] == 12
    assert all(not harness.board.card_for(lead)["closed"] for lead in leads), "nothing archived"
    assert harness.board.card_for(survivor)["name"] == "Survivor", "the rest of the cycle still ran"
    assert cli(["sync", "--allow-deletions", "e2e", "--budget", "50"]) == 0
    assert all(harness.board.card_for(lead)["closed"] for lead in leads), "archived once confirmed"
    assert not harness.board.card_for(survivor)["closed"]


def test_a_run_that_lost_its_lease_mid_cycle_creates_nothing(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import leadsync.engine as engine

    lead = harness.leads.add(name="Only Once", email="once@example.com", status="New", source="Web")
    original = engine.plan
    paused: list[dict[str, Any]] = []
    asleep: list[bool] = []

    def plan_then_sleep(*args: Any, **kwargs: Any) -> Any:
        the_plan = original(*args, **kwargs)
        if not asleep:  # the first run pauses past its lease (a laptop asleep); another run takes over
            asleep.append(True)
            harness.sb.clock.advance(3600)
            paused.append(harness.handler(_event(), harness.context_factory())["pairs"]["e2e"])
        return the_plan

    monkeypatch.setattr(engine, "plan", plan_then_sleep)

    stale = harness.handler(_event(), harness.context_factory())["pairs"]["e2e"]

    assert paused[0]["status"] == "synced"
    assert stale["status"] == "failed"
    assert len([c for c in harness.board.cards(include_closed=True) if c["lead"] == lead]) == 1
    monkeypatch.setattr(engine, "plan", original)
    harness.cycle()
    assert harness.leads.get(lead)["card"] == harness.board.card_for(lead)["id"]
