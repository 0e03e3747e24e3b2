"""The skeleton's end-to-end scenarios: the real handler, a real scheduled event, the sandbox and moto."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from leadsync.state.table import create_table
from tests.support.e2e import Harness


def test_new_lead_gets_a_card_in_the_mapped_list_with_its_fields_and_marker(harness: Harness) -> None:
    lead = harness.leads.add(name="Ada Lovelace", email="ada@example.com", status="Contacted", source="Website")

    summary = harness.cycle()

    assert summary["status"] == "synced"
    card = harness.board.card_for(lead)
    assert (card["name"], card["list"], card["email"], card["source"]) == (
        "Ada Lovelace",
        "In Progress",
        "ada@example.com",
        "Website",
    )
    assert harness.leads.get(lead)["card"] == card["id"], "the card id is written back into the lead"


def test_lost_leads_get_no_card_by_default(harness: Harness) -> None:
    harness.leads.add(name="Gone", email="gone@example.com", status="Lost", source="Ads")
    harness.cycle()
    assert harness.board.cards(include_closed=True) == []


def test_status_change_in_the_lead_tracker_moves_the_card(harness: Harness) -> None:
    lead = harness.leads.add(name="Grace", email="grace@example.com", status="New", source="Referral")
    harness.cycle()
    harness.leads.edit(lead, status="Qualified")

    harness.cycle()

    assert harness.board.card_for(lead)["list"] == "Done"


def test_moving_the_card_changes_the_lead_status(harness: Harness) -> None:
    lead = harness.leads.add(name="Alan", email="alan@example.com", status="New", source="Referral")
    harness.cycle()
    harness.board.move(harness.board.card_for(lead)["id"], "In Progress")

    harness.cycle()

    assert harness.leads.get(lead)["status"] == "Contacted"


def test_name_and_email_edits_flow_both_ways(harness: Harness) -> None:
    a = harness.leads.add(name="Katherine", email="k@example.com", status="New", source="Web")
    b = harness.leads.add(name="Dorothy", email="d@example.com", status="New", source="Web")
    harness.cycle()
    harness.leads.edit(a, name="Katherine Johnson", email="kj@nasa.example")
    card_b = harness.board.card_for(b)["id"]
    harness.board.rename(card_b, "Dorothy Vaughan")
    harness.board.set_line(card_b, "Email", "dv@nasa.example")

    harness.cycle()

    card_a = harness.board.card_for(a)
    assert (card_a["name"], card_a["email"]) == ("Katherine Johnson", "kj@nasa.example")
    lead_b = harness.leads.get(b)
    assert (lead_b["name"], lead_b["email"]) == ("Dorothy Vaughan", "dv@nasa.example")


def test_one_way_field_is_not_taken_from_the_card(harness: Harness) -> None:
    lead = harness.leads.add(name="Edsger", email="e@example.com", status="New", source="Website")
    harness.cycle()
    harness.board.set_line(harness.board.card_for(lead)["id"], "Source", "Typed on the card")

    harness.cycle()

    assert harness.leads.get(lead)["source"] == "Website"
    assert harness.board.card_for(lead)["source"] == "Website", "lead -> card fields are enforced on the card"


@pytest.mark.parametrize(
    ("policy", "expected_status", "expected_list"),
    [("lead", "Contacted", "In Progress"), ("card", "Qualified", "Done"), ("newest", "Qualified", "Done")],
)
def test_both_sides_edited_the_configured_policy_decides_and_the_conflict_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture, policy: str, expected_status: str, expected_list: str
) -> None:
    harness.configure(conflict_policy=policy, tie_breaker="lead")
    lead = harness.leads.add(name="Barbara", email="b@example.com", status="New", source="Web")
    harness.cycle()
    harness.leads.edit(lead, status="Contacted")
    harness.sb.clock.advance(180)  # the card is edited clearly later (beyond Notion's minute rounding)
    harness.board.move(harness.board.card_for(lead)["id"], "Done")
    if policy == "newest" and harness.leads.system == "sheets":
        # a sheet has no edit times: the two edits cannot be ordered, so the tie-breaker (lead) decides
        expected_status, expected_list = "Contacted", "In Progress"
    caplog.clear()

    summary = harness.cycle()

    assert summary["conflicts"] == 1
    assert harness.leads.get(lead)["status"] == expected_status
    assert harness.board.card_for(lead)["list"] == expected_list
    conflicts = [r for r in caplog.records if r.getMessage() == "conflict resolved"]
    assert len(conflicts) == 1
    record = conflicts[0]
    assert (record.field, record.lead_value, record.card_value) == ("status", "Contacted", "Qualified")
    assert record.winner == ("lead" if expected_status == "Contacted" else "card")


def test_rerunning_creates_and_writes_nothing(harness: Harness) -> None:
    for i in range(3):
        harness.leads.add(name=f"Lead {i}", email=f"l{i}@example.com", status="New", source="Web")
    harness.cycle()
    harness.cycle()  # the echo of our own writes comes back once and must change nothing
    writes = harness.writes()
    cards = harness.board.cards()

    for _ in range(3):
        summary = harness.cycle()
        assert summary["applied"] == {}

    assert harness.writes() == writes
    assert harness.board.cards() == cards


def test_a_deleted_lead_archives_its_card_at_the_next_sweep(harness: Harness) -> None:
    harness.configure(full_sweep_minutes=2)
    lead = harness.leads.add(name="Temp", email="t@example.com", status="New", source="Web")
    keep = harness.leads.add(name="Keep", email="k@example.com", status="New", source="Web")
    harness.cycle()
    harness.leads.delete(lead)

    for _ in range(3):  # within the sweep period
        harness.cycle()

    assert harness.board.card_for(lead)["closed"] is True
    assert harness.board.card_for(keep)["closed"] is False


def test_an_archived_card_leaves_the_lead_alone_and_gets_no_replacement(harness: Harness) -> None:
    lead = harness.leads.add(name="Frances", email="f@example.com", status="New", source="Web")
    harness.cycle()
    harness.board.archive(harness.board.card_for(lead)["id"])

    harness.cycle()
    harness.leads.edit(lead, name="Frances Allen")
    harness.cycle()

    assert harness.leads.get(lead)["status"] == "New"
    assert len(harness.board.cards(include_closed=True)) == 1


def test_first_run_adopts_cards_of_an_earlier_install_instead_of_duplicating(
    harness: Harness, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = harness.leads.add(name="Hedy", email="h@example.com", status="New", source="Web")
    harness.cycle()
    card = harness.board.card_for(lead)["id"]
    # The state table is lost: a brand-new, empty one; the link markers are still on both sides.
    fresh = f"leadsync-fresh-{uuid.uuid4().hex[:8]}"
    create_table(aws, fresh)
    monkeypatch.setenv("LEADSYNC_TABLE", fresh)
    harness.leads.edit(lead, status="Contacted")

    summary = harness.cycle()

    assert summary["applied"].get("create_card", 0) == 0
    assert [c["id"] for c in harness.board.cards(include_closed=True)] == [card]
    assert harness.board.card_for(lead)["list"] == "In Progress"


def test_first_run_adopts_hand_made_cards_matching_on_name(harness: Harness) -> None:
    existing = harness.board.add_card("Margaret Hamilton", "In Progress", desc="met at the conference")
    harness.configure(match_on=["name"])
    lead = harness.leads.add(name="Margaret Hamilton", email="mh@example.com", status="Contacted", source="Web")

    harness.cycle()

    cards = harness.board.cards(include_closed=True)
    assert [c["id"] for c in cards] == [existing]
    assert cards[0]["lead"] == lead
    assert cards[0]["email"] == "mh@example.com"
    assert cards[0]["text"] == "met at the conference", "the user's own description text is kept"


def test_multi_line_and_over_long_values_settle_after_one_cycle(harness: Harness) -> None:
    long_name = "Ada " + "x" * 17000
    lead = harness.leads.add(name=long_name, email="ada@example.com", status="New", source="Web\nform")
    harness.cycle()
    card = harness.board.card_for(lead)
    assert len(card["name"]) == 16384
    assert card["source"] == "Web form", "description lines are single lines"

    for _ in range(2):
        assert harness.cycle()["applied"] == {}

    assert harness.leads.get(lead)["name"] == long_name, "the lead keeps its full value"
