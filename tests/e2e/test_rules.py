"""Sync rules end to end: the real handler against the sandbox and moto."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from leadsync.config import Settings
from leadsync.wiring import build_store
from sandbox import Sandbox
from tests.e2e.conftest import LEAD_TRACKERS, fresh_environment
from tests.support.e2e import Board, Harness
from tests.support.lambda_context import FakeLambdaContext


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


# -- view, filter and label rules (one tracker each: the rule belongs to that system) ----------


@pytest.fixture
def world(sandbox: Sandbox, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Harness]:
    """A harness on the named lead tracker (``notion`` or ``airtable``) and a fresh board."""

    def make(tracker: str) -> Harness:
        config_path = fresh_environment(sandbox, aws, tmp_path, monkeypatch)
        from handlers.scheduled_sync import handler

        return Harness(
            sandbox, LEAD_TRACKERS[tracker](sandbox), Board(sandbox), config_path, handler, FakeLambdaContext
        )

    return make


def _linked(lead_id: str) -> bool:
    return lead_id in [link.lead_id for link in build_store(Settings.from_env()).all_links("e2e")]


def test_a_card_given_or_removed_the_label_is_attached_or_detached(world: Callable[[str], Harness]) -> None:
    harness = world("notion")
    sync = harness.sb.trello.user_create_label(harness.board.board_id, "Sync", "green")
    harness.configure(rules={"card": {"label": "sync"}}, create_leads_from_cards=True)
    ada = harness.leads.add(name="Ada", email="ada@example.com", status="Contacted", source="Web")
    stray = harness.board.add_card("Unlabelled", "To Do")
    harness.cycle()
    card = harness.board.card_for(ada)["id"]
    assert harness.sb.trello.card(card)["idLabels"] == [sync], "a card made for a lead carries the rule's label"
    harness.cycle()
    assert _linked(ada), "and so stays in the rule"
    assert [c["name"] for c in harness.board.cards() if c["id"] == stray] == ["Unlabelled"]
    assert [lead["name"] for lead in harness.leads.all()] == ["Ada"], "a card without the label gets no lead"

    harness.sb.trello.user_label_card(card, sync, on=False)  # the label is taken off
    harness.cycle()
    assert not _linked(ada)
    assert harness.board.card_for(ada)["closed"] is False, "detached, not archived"
    assert harness.leads.get(ada) is not None
    assert any(n.startswith(f"card {card} left the sync rule (it has no label 'sync'") for n in _notes(harness))
    harness.leads.edit(ada, name="Ada Lovelace")
    harness.cycle()
    assert harness.board.card_for(ada)["name"] == "Ada", "outside the rule: not synced"

    harness.sb.trello.user_label_card(card, sync)  # given the label again: the same lead again
    harness.sb.trello.user_label_card(stray, sync)  # and the stray card comes into the rule
    harness.cycle()
    assert _linked(ada), "re-adopted by its marker (the label edit is the newest: the card's name wins)"
    harness.leads.edit(ada, name="Ada Lovelace")
    harness.cycle()
    assert harness.board.card_for(ada)["name"] == "Ada Lovelace", "linked again: edits flow"
    assert sorted(lead["name"] for lead in harness.leads.all()) == ["Ada Lovelace", "Unlabelled"]


def test_a_lead_moved_out_of_the_airtable_view_is_detached_and_not_archived(world: Callable[[str], Harness]) -> None:
    harness = world("airtable")
    leads = harness.leads
    harness.sb.airtable.create_view(
        leads.base_id, leads.table_id, "Hot", "OR({Status}='Contacted',{Status}='Qualified')"
    )
    harness.configure(rules={"lead": {"view": "Hot"}})
    ada = leads.add(name="Ada", email="ada@example.com", status="Contacted", source="Web")
    bob = leads.add(name="Bob", email="bob@example.com", status="New", source="Web")
    first = harness.cycle()
    assert [c["name"] for c in harness.board.cards()] == ["Ada"], "Bob is outside the view: no card"
    assert first["read"]["lead_rule"] == 1, "the view's members were read"
    harness.sb.airtable.clear_requests()
    assert harness.cycle()["read"].get("lead_rule") is None, "a cycle with no change reads no membership"
    urls = harness.sb.airtable.request_urls
    assert len(urls) == 1, f"the no-change cycle's one listing (changed since), nothing more: {urls}"
    assert "view=" not in urls[0]

    card = harness.board.card_for(ada)["id"]
    leads.edit(ada, status="New")  # leaves the view
    harness.sb.airtable.clear_requests()
    harness.cycle()
    views = [u for u in harness.sb.airtable.request_urls if "view=" in u]
    assert len(views) == 1, "a cycle with a changed lead: one membership page (<= 100 members)"
    assert not _linked(ada)
    assert harness.leads.get(ada) is not None, "outside the view is not deleted"
    assert harness.board.card_for(ada)["closed"] is False, "and its card is not archived"
    assert any(n.startswith(f"lead {ada} left the sync rule (not in view 'Hot'") for n in _notes(harness))

    leads.edit(bob, status="Qualified")  # comes into the view
    harness.cycle()
    assert sorted(c["name"] for c in harness.board.cards()) == ["Ada", "Bob"]
    assert harness.board.card_for(ada)["id"] == card


def test_a_view_whose_filter_changes_detaches_its_former_members_at_the_sweep(world: Callable[[str], Harness]) -> None:
    harness = world("airtable")
    leads = harness.leads
    view = harness.sb.airtable.create_view(leads.base_id, leads.table_id, "Hot", "{Status}='Contacted'")
    harness.configure(rules={"lead": {"view": view}}, full_sweep_minutes=30)  # by its id this time
    ada = leads.add(name="Ada", email="ada@example.com", status="Contacted", source="Web")
    harness.cycle()
    assert _linked(ada)
    harness.sb.airtable.set_view_filter(leads.base_id, leads.table_id, view, "{Status}='Qualified'")
    harness.cycle(advance=31 * 60)  # no record changed: only the sweep sees it
    assert _linked(ada)
    swept = harness.cycle()
    assert swept["full_sweep"] is True
    assert not _linked(ada)
    assert harness.board.card_for(ada)["closed"] is False


def test_a_notion_lead_failing_the_filter_is_detached(world: Callable[[str], Harness]) -> None:
    harness = world("notion")
    harness.configure(
        rules={
            "lead": {
                "filter": {
                    "and": [
                        {"or": [{"property": "Status", "status": {"equals": "Contacted"}},
                                {"property": "Status", "status": {"equals": "Qualified"}}]},
                        {"property": "Source", "rich_text": {"contains": "web"}},
                    ]
                }
            }
        }
    )  # fmt: skip
    ada = harness.leads.add(name="Ada", email="ada@example.com", status="Contacted", source="Website")
    bob = harness.leads.add(name="Bob", email="bob@example.com", status="Contacted", source="Fair")
    harness.cycle()
    assert [c["name"] for c in harness.board.cards()] == ["Ada"], "Bob fails the filter: no card"
    card = harness.board.card_for(ada)["id"]

    harness.leads.edit(ada, source="Referral")
    harness.cycle()
    assert not _linked(ada)
    assert harness.leads.get(ada) is not None
    assert harness.board.card_for(ada)["id"] == card
    assert harness.board.card_for(ada)["closed"] is False
    assert any(n.startswith(f"lead {ada} left the sync rule (not in the Notion filter") for n in _notes(harness))
    assert bob not in [c["lead"] for c in harness.board.cards()]


def test_a_filter_notion_refuses_fails_the_cycle_naming_the_setting(world: Callable[[str], Harness]) -> None:
    harness = world("notion")
    harness.configure(rules={"lead": {"filter": {"property": "Status", "select": {"equals": "Contacted"}}}})
    harness.leads.add(name="Ada", email="ada@example.com", status="Contacted", source="Web")
    summary = harness.cycle()
    assert summary["status"] == "failed"
    assert harness.board.cards() == [], "nothing is created while the members are unknown"


def _validate_live(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from leadsync import cli

    capsys.readouterr()
    code = cli.main(["validate", "--live"])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_validate_live_checks_the_view_and_the_label_exist(
    world: Callable[[str], Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    harness = world("airtable")
    leads = harness.leads
    harness.sb.airtable.create_view(leads.base_id, leads.table_id, "Hot leads", "{Status}='Qualified'")
    harness.sb.trello.user_create_label(harness.board.board_id, "Sync", "green")
    harness.configure(rules={"lead": {"view": "Hot leads"}, "card": {"label": "SYNC"}})
    code, out = _validate_live(capsys)
    assert code == 0, out

    harness.configure(rules={"lead": {"view": "Hot lead"}, "card": {"label": "Synced"}})
    code, out = _validate_live(capsys)
    assert code == 2, out
    assert (
        "pairs[0].rules.lead.view = 'Hot lead': the Airtable table "
        f"{leads.table_id!r} has no such view (it has: 'Grid view', 'Hot leads'); did you mean 'Hot leads'?"
    ) in out
    assert "pairs[0].rules.card.label = 'Synced': the Trello board" in out
    assert "has no such label (it has: 'Sync')" in out


def test_validate_live_checks_the_notion_filter(
    world: Callable[[str], Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    harness = world("notion")
    harness.configure(rules={"lead": {"filter": {"property": "Stauts", "status": {"equals": "New"}}}})
    code, out = _validate_live(capsys)
    assert code == 2, out
    assert "pairs[0].rules.lead.filter: the filter names property 'Stauts'" in out
    assert "did you mean 'Status'?" in out

    harness.configure(rules={"lead": {"filter": {"property": "Status", "select": {"equals": "New"}}}})
    code, out = _validate_live(capsys)
    assert code == 2, out
    assert "pairs[0].rules.lead.filter: refused by notion" in out
    assert "validation_error" in out or "does not match the type" in out
