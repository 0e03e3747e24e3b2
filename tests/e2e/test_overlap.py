"""Two invocations of the handler for the same pair at the same time (EventBridge retry, a slow run).

DynamoDB runs behind a real moto *server* over HTTP (the in-process mock does not let two threads
race), serialized like real DynamoDB's per-item conditional writes (``SerializedMotoServer``).
Exactly one invocation syncs; the other exits cleanly with status "skipped" and logs why.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from leadsync import app
from leadsync.state.table import create_table
from tests.contract.test_state_store import SerializedMotoServer
from tests.support.crash import instrument, virtual_waits
from tests.support.e2e import SCHEDULED_EVENT, Harness
from tests.support.lambda_context import FakeLambdaContext


@pytest.fixture(autouse=True)
def _no_stale_sheets_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # An earlier Sheets world may have left its key file's path behind (and the file is deleted
    # when that world is collected); a Sheets harness sets its own after this fixture.
    monkeypatch.delenv("GOOGLE_SERVICE_ACCOUNT_FILE", raising=False)


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    server = SerializedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def over_http(harness: Harness, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The harness with its state table on the moto server (each invocation its own client)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_server)
    table = f"leadsync-overlap-{uuid.uuid4().hex[:8]}"
    create_table(boto3.client("dynamodb", region_name="eu-west-1", endpoint_url=moto_server), table)
    monkeypatch.setenv("LEADSYNC_TABLE", table)
    monkeypatch.setattr(app, "build_store", _fresh_store)
    return harness


def _fresh_store(settings: Any) -> Any:
    """One DynamoDB client per invocation, as two Lambda containers would have."""
    from leadsync.state.dynamodb import DynamoStateStore

    return DynamoStateStore(settings.table, boto3.client("dynamodb", region_name="eu-west-1"))


def _race(harness: Harness) -> list[str]:
    """Start two handler invocations at the same instant; return their statuses."""
    barrier = threading.Barrier(2)
    statuses: list[str] = []
    errors: list[BaseException] = []

    def invoke() -> None:
        try:
            barrier.wait()
            result = harness.handler(SCHEDULED_EVENT, FakeLambdaContext())
            statuses.append(result["pairs"]["e2e"]["status"])
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return sorted(statuses)


def test_two_simultaneous_invocations_one_syncs_the_other_skips_and_says_why(
    over_http: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness = over_http
    leads = [
        harness.leads.add(name=f"Lead {i}", email=f"l{i}@example.com", status="New", source="Web") for i in range(3)
    ]
    caplog.set_level(logging.INFO)

    with virtual_waits():
        statuses = _race(harness)

    assert statuses == ["skipped", "synced"]
    skipped = [r for r in caplog.records if "another run holds this pair's lease" in r.getMessage()]
    assert len(skipped) == 1
    assert "is leased by" in skipped[0].reason
    for lead in leads:
        harness.board.card_for(lead)  # exactly one card each
    assert len(harness.board.cards(include_closed=True)) == 3


def test_repeated_races_over_edits_never_duplicate_and_converge(over_http: Harness) -> None:
    harness = over_http
    lead = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    with virtual_waits():
        for round_no in range(4):
            harness.leads.add(name=f"New {round_no}", email=f"n{round_no}@example.com", status="New", source="Web")
            harness.leads.edit(lead, name=f"Ada {round_no}")

            statuses = _race(harness)

            assert statuses == ["skipped", "synced"], f"round {round_no}"
            harness.sb.clock.advance(61)

    cards = harness.board.cards(include_closed=True)
    assert len(cards) == 5
    assert len({c["lead"] for c in cards}) == 5
    assert harness.board.card_for(lead)["name"] == "Ada 3"


def test_an_invocation_started_while_another_is_mid_cycle_skips_and_the_first_commits(over_http: Harness) -> None:
    harness = over_http
    lead = harness.leads.add(name="Grace", email="grace@example.com", status="New", source="Web")
    nested: list[str] = []

    def second_invocation(index: int, label: str) -> None:
        nested.append(harness.handler(SCHEDULED_EVENT, FakeLambdaContext())["pairs"]["e2e"]["status"])

    with virtual_waits(), instrument(crash_on=None, hook_at=4, hook=second_invocation) as probe:
        first = harness.cycle()

    assert probe.calls[0] == "state.acquire"
    assert nested == ["skipped"]
    assert first["status"] == "synced"
    assert harness.board.card_for(lead)["name"] == "Grace"
    assert harness.cycle()["applied"] == {}
