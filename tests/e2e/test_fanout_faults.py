"""Faults on the fan-out path, through the dispatcher and worker handlers (moto SQS, the sandbox):
a worker killed mid-cycle, a pair whose API answers 401, and one budget item contended by workers
that each keep their own limiters (threads standing in for concurrent Lambda containers)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from leadsync.connectors import ratelimit
from leadsync.state.budget import DynamoBudget
from tests.e2e import test_fanout
from tests.e2e.conftest import LEAD_TRACKERS
from tests.e2e.test_fanout import _deliver_rounds, _dispatch, _receive, _sqs_event, _work
from tests.support.containers import per_container_limiters
from tests.support.crash import SimulatedCrash, instrument
from tests.support.e2e import Board, Harness, pair_config

queue = test_fanout.queue  # the FIFO pair queue and its DLQ, a fixture
LEASE_EXPIRED = 200.0  # past the TTL of a killed run's lease (its remaining time + 60 s)


def _cards_of(harness: Harness, board: Board, lead: str) -> list[dict[str, Any]]:
    return [c for c in board.cards(include_closed=True) if c["lead"] == lead]


def test_a_worker_killed_mid_cycle_is_redelivered_and_the_next_tick_adopts_its_card(
    harness: Harness, queue: dict[str, str]
) -> None:
    lead = harness.leads.add(name="Killed Mid Cycle", email="k@example.com", status="New", source="Web")
    _dispatch(harness)
    messages = _receive(queue["url"])

    with instrument(crash_on="trello POST /cards", after=True), pytest.raises(SimulatedCrash):
        _work(harness, queue, messages)  # the invocation dies after the card exists: nothing deleted

    assert len(_cards_of(harness, harness.board, lead)) == 1
    again = _receive(queue["url"])
    assert [m["MessageId"] for m in again] == [m["MessageId"] for m in messages], "SQS delivers it again"
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert _work(harness, queue, again) == [], "the killed run's lease still holds: done, without a cycle"
    assert len(_cards_of(harness, harness.board, lead)) == 1

    harness.sb.clock.advance(LEASE_EXPIRED)
    _dispatch(harness)  # the next tick, after the lease ran out
    assert _work(harness, queue, _receive(queue["url"])) == []

    cards = _cards_of(harness, harness.board, lead)
    assert len(cards) == 1, "adopted, not created a second time"
    linked = harness.leads.get(lead)
    assert linked is not None
    assert linked["card"] == cards[0]["id"]
    assert _receive(queue["url"]) == []
    assert _receive(queue["dlq"]) == []


def test_a_pair_whose_api_answers_401_is_dead_lettered_while_the_healthy_pair_syncs(
    harness: Harness, queue: dict[str, str]
) -> None:
    other_system = "notion" if harness.leads.system != "notion" else "airtable"
    locked = LEAD_TRACKERS[other_system](harness.sb)
    getattr(harness.sb, other_system).require_token("a-token-this-stack-does-not-have")  # every request: 401
    locked.add(name="Never Synced", email="never@example.com", status="New", source="Web")
    config = pair_config(harness.leads, harness.board)
    revoked = pair_config(locked, Board(harness.sb))["pairs"][0]
    config["pairs"].insert(0, {**revoked, "id": "revoked"})
    harness.config_path.write_text(json.dumps(config))
    lead = harness.leads.add(name="Healthy Lead", email="h@example.com", status="New", source="Web")
    _dispatch(harness)

    rounds = _deliver_rounds(harness, queue)

    assert harness.board.card_for(lead)["name"] == "Healthy Lead", "the healthy pair synced at once"
    assert rounds == [["e2e", "revoked"], ["revoked"], ["revoked"]], "three attempts (maxReceiveCount)"
    assert [json.loads(m["Body"])["pair"] for m in _receive(queue["dlq"])] == ["revoked"]
    assert getattr(harness.sb, other_system).stats()["responses_by_status"].get("401", 0) >= 3


@pytest.mark.parametrize("harness", ["notion"], indirect=True)
def test_workers_with_their_own_limiters_share_one_trello_budget_without_a_429(
    harness: Harness, queue: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    workers, leads_per_pair = 4, 3
    # Trello, shrunk so the test is short: 6 requests per 1 s window per token in the sandbox; the
    # product's limit fits it (2 burst + 3/s x 1 s = 5). Four workers each on their own limiter
    # would send up to 4 x that: only the budget item they share keeps them within it.
    harness.sb.trello.rate_limit(enabled=True, token_max=6, interval_s=1.0)
    monkeypatch.setitem(ratelimit.DEFAULT_LIMITS, "trello", ratelimit.Limit(3.0, 2.0))
    registry = per_container_limiters()
    monkeypatch.setattr(ratelimit, "_REGISTRY", registry)
    _serialize_dynamodb(monkeypatch)  # moto's in-process DynamoDB is not thread-safe; DynamoDB is
    worlds = [(harness.leads, harness.board)] + [
        (LEAD_TRACKERS[harness.leads.system](harness.sb), Board(harness.sb)) for _ in range(workers - 1)
    ]
    config = {"pairs": [{**pair_config(w, b)["pairs"][0], "id": f"pair{i}"} for i, (w, b) in enumerate(worlds)]}
    harness.config_path.write_text(json.dumps(config))
    leads = [
        (board, world.add(name=f"Lead {i}.{k}", email=f"l{i}.{k}@example.com", status="New", source="Web"))
        for i, (world, board) in enumerate(worlds)
        for k in range(leads_per_pair)
    ]
    harness.sb.trello.clear_requests()
    _dispatch(harness)
    messages = _receive(queue["url"])
    assert len(messages) == workers

    failed = _run_concurrently(harness, queue, messages)

    assert failed == [], failed
    stats = harness.sb.trello.stats()
    assert stats["responses_by_status"].get("429", 0) == 0, stats["responses_by_status"]
    assert stats["requests"] >= workers * leads_per_pair + 6, "more than one window's worth: the limit was reached"
    for board, lead in leads:
        assert len([c for c in board.cards() if c["lead"] == lead]) == 1
    containers = [b for b in registry.every() if isinstance(b, ratelimit.TokenBucket) and b.source is not None]
    assert len({id(b) for b in containers}) >= workers, "each worker drew from the budget with its own limiter"
    budgets = {b.source for b in containers if isinstance(b.source, DynamoBudget)}
    trello = [s for s in budgets if s.system == "trello"]
    assert len(trello) == 1, "one budget item for the one Trello token"
    state = trello[0].read()
    assert state is not None
    assert state.granted >= stats["requests"], "every Trello request was granted by it"


def _run_concurrently(harness: Harness, queue: dict[str, str], messages: list[dict[str, Any]]) -> list[str]:
    """Each message to its own worker thread at once (the event source at MaximumConcurrency)."""
    from handlers.pair_worker import handler

    failed: list[str] = []
    start = threading.Barrier(len(messages))

    def worker(message: dict[str, Any]) -> None:
        start.wait()
        try:
            response = handler(_sqs_event([message], queue["url"]), harness.context_factory())
            failed.extend(f["itemIdentifier"] for f in response["batchItemFailures"])
        except Exception as exc:  # reported by the assertion, not lost in the thread
            failed.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(m,)) for m in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failed


def _serialize_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    lock = threading.Lock()

    def one_at_a_time(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        with lock:
            return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", one_at_a_time)
