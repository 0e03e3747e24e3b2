"""The fan-out end to end: the dispatcher handler fills a FIFO queue (moto), the worker handler
runs each message's pair against the sandbox, as Lambda's SQS event source would deliver it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from lambda_events import sqs_event as _sqs_event
from tests.support.e2e import SCHEDULED_EVENT, Board, Harness, pair_config


@pytest.fixture
def queue(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    name = f"pairs-{uuid.uuid4().hex[:12]}"  # a new queue per test (sandbox ids and clock repeat)
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": "0",  # redelivery at once, instead of after the real timeout
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"]
    monkeypatch.setenv("LEADSYNC_QUEUE_URL", url)
    return {"url": url, "dlq": dlq["QueueUrl"]}


def _tick(harness: Harness) -> dict[str, Any]:
    return {**SCHEDULED_EVENT, "time": harness.sb.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}


def _dispatch(harness: Harness, event: dict[str, Any] | None = None) -> dict[str, Any]:
    from handlers.dispatch import handler

    return handler(event or _tick(harness), harness.context_factory())


def _receive(url: str, count: int = 10) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    out = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=count, AttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    return out.get("Messages", [])


def _deliver_rounds(harness: Harness, queue: dict[str, str], rounds: int = 4) -> list[list[str]]:
    """Receive and work the queue ``rounds`` times (each a redelivery at once: visibility 0); the
    pairs of each round that had messages."""
    out = []
    for _ in range(rounds):
        messages = _receive(queue["url"])
        if messages:
            out.append(sorted(json.loads(m["Body"])["pair"] for m in messages))
            _work(harness, queue, messages)
    return out


def _work(harness: Harness, queue: dict[str, str], messages: list[dict[str, Any]]) -> list[str]:
    """Deliver messages to the worker; delete the ones it did not report failed (as Lambda does)."""
    from handlers.pair_worker import handler

    response = handler(_sqs_event(messages, queue["url"]), harness.context_factory())
    failed = [f["itemIdentifier"] for f in response["batchItemFailures"]]
    sqs = boto3.client("sqs", region_name="eu-west-1")
    for m in messages:
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue["url"], ReceiptHandle=m["ReceiptHandle"])
    return failed


def test_the_dispatcher_enqueues_one_message_per_pair_and_a_repeated_tick_adds_none(
    harness: Harness, queue: dict[str, str]
) -> None:
    config = pair_config(harness.leads, harness.board)
    other = json.loads(json.dumps(config["pairs"][0]))
    other["id"] = "second"
    other["card"]["board_id"] = Board(harness.sb).board_id
    config["pairs"].append(other)
    harness.config_path.write_text(json.dumps(config))
    tick = _tick(harness)

    first = _dispatch(harness, tick)
    _dispatch(harness, tick)  # EventBridge delivers at least once

    assert first["enqueued"] == 2
    sqs = boto3.client("sqs", region_name="eu-west-1")
    depth = sqs.get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "2"
    messages = _receive(queue["url"])
    bodies = sorted(json.loads(m["Body"])["pair"] for m in messages)
    assert bodies == ["e2e", "second"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"e2e", "second"}


def test_a_worker_runs_the_pair_of_its_message_and_a_redelivery_creates_no_duplicate(
    harness: Harness, queue: dict[str, str]
) -> None:
    lead = harness.leads.add(name="Queued Lead", email="q@example.com", status="New", source="Web")
    _dispatch(harness)
    messages = _receive(queue["url"])

    assert _work(harness, queue, messages) == []
    assert _work(harness, queue, messages) == []  # the same message delivered twice

    assert len([c for c in harness.board.cards(include_closed=True) if c["lead"] == lead]) == 1
    assert harness.board.card_for(lead)["name"] == "Queued Lead"


def test_a_poison_pair_is_retried_then_dead_lettered_without_holding_back_the_other_pair(
    harness: Harness, queue: dict[str, str]
) -> None:
    config = pair_config(harness.leads, harness.board)
    poison = json.loads(json.dumps(config["pairs"][0]))
    poison["id"] = "poison"
    poison["card"]["board_id"] = "0123456789abcdef01234567"  # no such board: every cycle fails
    config["pairs"].insert(0, poison)
    harness.config_path.write_text(json.dumps(config))
    lead = harness.leads.add(name="Healthy Lead", email="h@example.com", status="New", source="Web")
    _dispatch(harness)

    rounds = _deliver_rounds(harness, queue)

    assert harness.board.card_for(lead)["name"] == "Healthy Lead", "the healthy pair synced at once"
    assert rounds[0] == ["e2e", "poison"], rounds
    assert rounds[1:] == [["poison"], ["poison"]], "retried until maxReceiveCount, then dead-lettered"
    dead = _receive(queue["dlq"])
    assert [json.loads(m["Body"])["pair"] for m in dead] == ["poison"]


def test_stale_malformed_and_unknown_messages_are_dropped_as_done(harness: Harness, queue: dict[str, str]) -> None:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    old = harness.sb.clock.now().replace(year=2020).strftime("%Y-%m-%dT%H:%M:%SZ")
    bodies = [
        json.dumps({"pair": "e2e", "tick": old}),
        "not json",
        json.dumps({"pair": "../../etc", "tick": old}),
        json.dumps({"pair": "removed-pair", "tick": harness.sb.clock.now().isoformat()}),
    ]
    for index, body in enumerate(bodies):
        sqs.send_message(
            QueueUrl=queue["url"], MessageBody=body, MessageGroupId=f"g{index}", MessageDeduplicationId=str(index)
        )
    lead = harness.leads.add(name="Not Yet", email="n@example.com", status="New", source="Web")

    assert _work(harness, queue, _receive(queue["url"])) == []

    assert [c for c in harness.board.cards() if c["lead"] == lead] == [], "a stale tick ran no cycle"


def test_a_message_whose_pair_is_leased_by_another_run_is_done_without_a_cycle(
    harness: Harness, queue: dict[str, str]
) -> None:
    import os

    from leadsync.state.dynamodb import DynamoStateStore

    lead = harness.leads.add(name="Leased", email="l@example.com", status="New", source="Web")
    DynamoStateStore(os.environ["LEADSYNC_TABLE"]).acquire("e2e", "another-run", harness.sb.clock.now(), 600)
    _dispatch(harness)

    assert _work(harness, queue, _receive(queue["url"])) == []

    assert [c for c in harness.board.cards() if c["lead"] == lead] == [], "the lease holder's run does the work"
