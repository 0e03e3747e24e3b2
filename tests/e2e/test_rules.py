"""Sync rules end to end: the real handler against the sandbox and moto."""

from __future__ import annotations

from datetime import timedelta

from leadsync.config import Settings
from leadsync.wiring import build_store
from tests.support.e2e import Harness


def _notes(harness: Harness) -> list[str]:
    store = build_store(Settings.from_env())
    return [a.message for a in store.activity("e2e", harness.sb.clock.now() + timedelta(seconds=1)) if a.kind == "note"]


def test_only_leads_in_the_rule_get_cards_and_one_that_leaves_is_detached_not_archived(harness: Harness) -> None:
    harness.configure(rules={"lead": {"field": "status", "in": ["Contacted", "Qualified"]}})
    ada = harness.leads.add(name="Ada", email="ada@example.com", status="Contacted", source="Web")
    bob = harness.leads.add(name="Bob", email="bob@example.com", status="New", source="Web")
    harness.cycle()
    assert [c["name"] for c in harness.board.cards()] == ["Ada"], "Bob is outside the rule: no card"

    harness.leads.edit(bob, status="Qualified")  # comes into the rule: gets its card
    harness.cycle()
    assert sorted(c["name"] for c in harness.board.cards()) == ["Ada", "Bob"]

    card = harness.board.card_for(ada)["id"]
    harness.leads.edit(ada, status="New")  # leaves the rule
    summary = harness.cycle()

    assert summary["status"] == "synced"
    assert [c["id"] for c in harness.board.cards() if c["id"] == card] == [card], "detached, not archived"
    assert harness.board.card_for(ada)["list"] == "In Progress", "the change that left the rule is not synced"
    assert any(n.startswith(f"lead {ada} left the sync rule (status 'New' is not one of") for n in _notes(harness))
    assert ada not in [link.lead_id for link in build_store(Settings.from_env()).all_links("e2e")]

    harness.leads.edit(ada, name="Ada Lovelace")  # outside the rule: not synced
    harness.cycle()
    assert harness.board.card_for(ada)["name"] == "Ada"

    harness.leads.edit(ada, status="Qualified")  # back in the rule: the same card again
    harness.cycle()
    harness.cycle()
    again = harness.board.card_for(ada)
    assert (again["id"], again["name"], again["list"]) == (card, "Ada Lovelace", "Done")
    assert len(harness.board.cards(include_closed=True)) == 2


def test_a_card_moved_out_of_the_rules_lists_is_detached_and_its_lead_left_alone(harness: Harness) -> None:
    harness.configure(rules={"card": {"field": "status", "in": ["To Do", "In Progress", "Done"]}})
    ada = harness.leads.add(name="Ada", email="ada@example.com", status="Contacted", source="Web")
    harness.cycle()
    card = harness.board.card_for(ada)["id"]

    harness.board.move(card, "Lost")
    harness.cycle()
    harness.leads.edit(ada, email="ada@new.example")
    harness.cycle()

    assert harness.leads.get(ada)["status"] == "Contacted", "the lead keeps its status"
    assert harness.board.card_for(ada)["email"] == "ada@example.com", "and its edits no longer reach the card"
    assert any(n.startswith(f"card {card} left the sync rule") for n in _notes(harness))
    store = build_store(Settings.from_env())
    skipped = [a.message for a in store.activity("e2e", harness.sb.clock.now()) if a.kind == "skipped"]
    assert skipped == [], "a lead whose card is outside the rule is not a problem"
    assert harness.board.cards(include_closed=True)[0]["closed"] is False
