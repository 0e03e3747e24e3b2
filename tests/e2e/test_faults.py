"""Faults the sandbox injects (docs/sandbox.md), through the real handler: retried, or finished next cycle.

Waits are virtual (``virtual_waits``): backoff and ``Retry-After`` cost no wall-clock time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.support.crash import virtual_waits
from tests.support.e2e import Harness

CREATE_CARD = "/1/cards"
NOT_APPLIED = ("429", "500", "502", "503", "drop")


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # An earlier Sheets world may have left its key file's path behind (and the file is deleted
    # when that world is collected); a Sheets harness sets its own after this fixture.
    monkeypatch.delenv("GOOGLE_SERVICE_ACCOUNT_FILE", raising=False)
    with virtual_waits(request_timeout=0.3):
        yield


def _faults(harness: Harness, **settings: object) -> None:
    for emulator in harness.sb.emulators.values():
        emulator.faults.set(**settings)


def _clear(harness: Harness) -> int:
    injected = 0
    for emulator in harness.sb.emulators.values():
        injected += sum(emulator.faults.counts.values())
        emulator.faults.clear()
    return injected


def _one_card_each(harness: Harness, leads: list[str]) -> None:
    for lead in leads:
        card = harness.board.card_for(lead)
        assert harness.leads.get(lead)["card"] == card["id"]
    assert len(harness.board.cards(include_closed=True)) == len(leads)


@pytest.mark.parametrize("kind", NOT_APPLIED)
def test_faults_that_apply_nothing_are_retried_within_the_cycle(harness: Harness, kind: str) -> None:
    leads = [harness.leads.add(name=f"L{i}", email=f"l{i}@example.com", status="New", source="Web") for i in range(2)]
    _faults(harness, rate=0.3, kinds=(kind,), seed=7)

    summary = harness.cycle()

    assert _clear(harness) > 0
    if summary["status"] != "synced":
        # A create answered by a 5xx or a dropped connection is not retried blind (on a real API it may
        # have been applied): its intent makes the next cycle look for the card before creating one.
        summary = harness.cycle()
    assert summary["status"] == "synced", summary
    _one_card_each(harness, leads)


def test_under_every_fault_kind_cycles_converge_once_the_faults_stop(harness: Harness) -> None:
    leads = [harness.leads.add(name=f"L{i}", email=f"l{i}@example.com", status="New", source="Web") for i in range(3)]
    harness.cycle()
    harness.leads.edit(leads[0], name="Renamed", status="Qualified")
    harness.board.move(harness.board.card_for(leads[1])["id"], "In Progress")
    # every kind, on every request but card creation (covered by the test below)
    _faults(harness, rate=0.3, seed=3, paths=("/1/cards/*", "/1/boards*", "/1/lists*", "/v1/*", "/v0/*", "/v4/*"))
    for _ in range(3):
        harness.cycle()
    assert _clear(harness) > 0

    for _ in range(2):
        assert harness.cycle()["status"] == "synced"

    _one_card_each(harness, leads)
    assert harness.board.card_for(leads[0])["name"] == "Renamed"
    assert harness.board.card_for(leads[0])["list"] == "Done"
    assert harness.leads.get(leads[1])["status"] == "Contacted"
    assert harness.cycle()["applied"] == {}


def test_a_malformed_answer_to_card_creation_is_not_retried_and_the_card_is_adopted_next_cycle(
    harness: Harness,
) -> None:
    lead = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.sb.trello.faults.next("malformed", methods=["POST"], paths=CREATE_CARD)

    first = harness.cycle()

    assert first["status"] == "partial", "the creation's outcome is unknown: retried next cycle"
    assert len(harness.board.cards()) == 1, "the card exists (the write was applied)"
    second = harness.cycle()
    assert second["status"] == "synced"
    assert second["applied"].get("create_card", 0) == 0, "found by its marker, not created again"
    _one_card_each(harness, [lead])


def test_a_lost_answer_to_an_update_is_retried_and_converges(harness: Harness) -> None:
    lead = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.cycle()
    harness.leads.edit(lead, status="Contacted")
    harness.sb.trello.faults.next("lost_response", methods=["PUT"])

    assert harness.cycle()["status"] == "synced"

    assert harness.board.card_for(lead)["list"] == "In Progress"
    assert harness.cycle()["applied"] == {}


@pytest.mark.parametrize("kind", ["lost_response", "truncated", "timeout"])
def test_an_answer_lost_after_card_creation_does_not_duplicate_the_card(harness: Harness, kind: str) -> None:
    lead = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.sb.trello.faults.set(timeout_sleep=0.5)
    harness.sb.trello.faults.next(kind, methods=["POST"], paths=CREATE_CARD)

    harness.cycle()
    time.sleep(0.6)  # a timed-out request still lands on the server
    harness.cycle()

    _one_card_each(harness, [lead])


def test_a_malformed_google_token_answer_fails_the_cycle_cleanly(harness: Harness) -> None:
    if harness.leads.system != "sheets":
        pytest.skip("Google Sheets only")
    harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.sb.sheets.faults.next("malformed", paths="/token")

    summary = harness.cycle()

    assert summary["status"] in ("failed", "partial")
    assert harness.cycle()["status"] == "synced"
