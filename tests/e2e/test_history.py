"""History end to end: the real handler writes it to DynamoDB (moto), `python -m leadsync history` reads it."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadsync import cli
from leadsync.config import Settings
from leadsync.core.history import REDACTED, Activity
from leadsync.wiring import build_store
from tests.support.e2e import Harness


def _stored(harness: Harness, **filters: Any) -> list[Activity]:
    store = build_store(Settings.from_env())
    return store.activity("e2e", harness.sb.clock.now() + timedelta(seconds=1), **filters)


def _history(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert cli.main(["history", "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_why_did_adas_card_move_to_done(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    ada = harness.leads.add(name="Ada Lovelace", email="ada@example.com", status="Contacted", source="Website")
    harness.leads.add(name="Grace Hopper", email="grace@example.com", status="New", source="Referral")
    harness.cycle()
    card = harness.board.card_for(ada)["id"]
    harness.leads.edit(ada, status="Qualified")
    harness.cycle()
    assert harness.board.card_for(ada)["list"] == "Done"

    items = _history(capsys, "--record", card, "--field", "status")

    moved = [i for i in items if i["kind"] == "update"]
    assert len(moved) == 1, items
    assert moved[0] | {"at": None, "message": None} == {
        **moved[0],
        "pair": "e2e",
        "side": "card",
        "card_id": card,
        "lead_id": ada,
        "old": "Contacted",
        "new": "Qualified",
        "label": "Ada Lovelace",
        "at": None,
        "message": None,
    }
    assert moved[0]["message"] == (
        f"card {card}: list 'In Progress' -> 'Done' (status 'Contacted' -> 'Qualified', as lead {ada} has it)"
    )
    created = _history(capsys, "--record", ada, "--kind", "create")
    assert [i["card_id"] for i in created] == [card]
    assert _history(capsys, "--record", "no-such-record") == []


def test_a_conflict_keeps_both_values_the_winner_and_why(harness: Harness) -> None:
    ada = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Website")
    harness.cycle()
    card = harness.board.card_for(ada)["id"]
    harness.leads.edit(ada, status="Contacted")
    harness.board.move(card, "Done")
    harness.cycle()

    (conflict,) = [a for a in _stored(harness, record=card) if a.kind == "conflict"]
    assert (conflict.field, conflict.lead_value, conflict.card_value) == ("status", "Contacted", "Qualified")
    assert conflict.winner in ("lead", "card")
    assert conflict.policy is not None
    assert conflict.policy.startswith("conflict_policy newest")


def test_skipped_records_and_failed_writes_are_history_too(harness: Harness) -> None:
    nameless = harness.leads.add(name=None, email="who@example.com", status="New", source="Web")
    harness.cycle()

    skipped = [a for a in _stored(harness, record=nameless) if a.kind == "skipped"]
    assert skipped
    assert "has no name" in skipped[0].message


def test_a_failed_write_is_history_with_its_error(harness: Harness) -> None:
    ada = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.cycle()
    card = harness.board.card_for(ada)["id"]
    harness.leads.edit(ada, status="Qualified")
    harness.sb.trello.faults.next("500", n=10, methods=["PUT"], paths=f"/1/cards/{card}*")  # every retry too
    harness.cycle()
    harness.sb.trello.faults.clear()

    failed = [a for a in _stored(harness, record=card) if a.kind == "failed"]
    assert len(failed) == 1, _stored(harness)
    assert failed[0].lead_id == ada
    assert failed[0].message.endswith("retried next cycle")


def test_redacted_fields_stay_out_of_history_logs_and_report(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.configure(redact_fields=["email", "name"])
    ada = harness.leads.add(name="Ada Secret", email="ada.secret@example.com", status="New", source="Web")
    harness.cycle()
    harness.leads.edit(ada, email="ada.new.secret@example.com")
    caplog.set_level(logging.INFO, logger="leadsync")
    summary = harness.cycle()
    ours = [r for r in caplog.records if r.name == "leadsync"]
    logs = json.dumps([r.__dict__ for r in ours], default=str)  # the message and every extra field

    assert harness.board.card_for(ada)["email"] == "ada.new.secret@example.com", "redaction hides, never blocks"
    items = _stored(harness)
    emails = [a for a in items if a.field == "email"]
    assert [(a.old, a.new) for a in emails] == [(REDACTED, REDACTED)]
    assert "update card" in logs, "the cycle's log lines were captured"
    everything = json.dumps([a.to_dict() for a in items]) + logs + json.dumps(summary)
    assert "secret" not in everything.lower()


def test_history_is_kept_for_the_configured_days(harness: Harness) -> None:
    harness.configure(history_days=2)
    harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.cycle()
    now = harness.sb.clock.now()
    store = build_store(Settings.from_env())
    assert store.activity("e2e", now + timedelta(days=1))
    assert store.activity("e2e", now + timedelta(days=2, minutes=1)) == []


def test_a_cycle_with_nothing_to_do_writes_no_history(harness: Harness) -> None:
    harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.cycle()
    before = len(_stored(harness))
    harness.cycle()
    harness.cycle()
    assert len(_stored(harness)) == before > 0


def test_history_rejects_a_bad_since(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["history", "--since", "yesterday"]) == 2
    assert "30m, 12h, 1d, 2w" in capsys.readouterr().err
    assert datetime.now(UTC)  # the clock the CLI reads is the wall clock


def test_a_history_that_cannot_be_written_does_not_fail_the_sync(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadsync.errors import RetryableError
    from leadsync.state.dynamodb import DynamoStateStore

    def throttled(*args: object, **kwargs: object) -> None:
        raise RetryableError("DynamoDB BatchWriteItem failed: ThrottlingException")

    monkeypatch.setattr(DynamoStateStore, "put_activity", throttled)
    lead = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")

    assert harness.cycle()["status"] == "synced"
    assert harness.board.card_for(lead)["name"] == "Ada"
