"""The soak on the fan-out path: every cycle of a scenario goes dispatcher -> SQS FIFO -> workers.

:class:`FanoutHandler` stands in for the scheduled handler a scenario invokes (same call, same
``{"pairs": {pair: summary}}`` answer), but runs the production fan-out: the dispatcher handler
enqueues one message per pair for the tick (moto SQS, visibility timeout 0 so a killed or failed
message is delivered again on the next receive, three receives before the DLQ), and the worker
handler runs them. The scenario's pair runs in the calling thread (so crash injection and the
overlap hook apply to it: a nested invocation is that message delivered a second time while the
first still runs); ``bystanders`` other pairs, each with its own tracker and board and a few leads,
run in worker threads at the same time, with their own rate limiters (one container each), under
the same faults. A pair's messages received together (a failed one delivered again, then the new
tick's) run in order, a settle pause apart. :meth:`check` then asks that every bystander lead has
exactly one card, linked.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import boto3
from botocore.exceptions import ClientError

from lambda_events import sqs_event
from tests.support.containers import per_container_limiters
from tests.support.e2e import Board, Harness, pair_config
from tests.support.lambda_context import FakeLambdaContext

PAIR = "e2e"
LEADS_PER_BYSTANDER = 2


class FanoutHandler:
    """The scheduled handler's contract, over the dispatcher and worker handlers."""

    def __init__(self, harness: Harness, trackers: dict[str, Any], bystanders: int, reports: dict[str, Any]) -> None:
        self.h = harness
        self.reports = reports  # pair -> last cycle report (filled by the recording sync_pair)
        sqs = boto3.client("sqs", region_name="eu-west-1")
        name = f"soak-{uuid.uuid4().hex[:10]}"
        dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue = sqs.create_queue(
            QueueName=f"{name}.fifo",
            Attributes={
                "FifoQueue": "true",
                "VisibilityTimeout": "600",  # a failed or killed message is made visible again by hand
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"}),
            },
        )["QueueUrl"]
        self.sqs = sqs
        self.in_flight: list[dict[str, Any]] = []  # the pair's messages being worked on (this thread)
        self.others: list[tuple[str, Any, Board, list[str]]] = []
        for i in range(bystanders):
            leads = trackers[harness.leads.system](harness.sb)
            board = Board(harness.sb)
            ids = [
                leads.add(name=f"Bystander {i}.{k}", email=f"b{i}.{k}@example.com", status="New", source="Web")
                for k in range(LEADS_PER_BYSTANDER)
            ]
            self.others.append((f"bystander{i}", leads, board, ids))

    def _config(self) -> None:
        """The scenario writes its own pair's config (and points it away): keep the bystanders in it."""
        config = json.loads(self.h.config_path.read_text())
        ids = {p["id"] for p in config["pairs"]}
        for pair_id, leads, board, _ in self.others:
            if pair_id not in ids:
                config["pairs"].append({**pair_config(leads, board)["pairs"][0], "id": pair_id})
        self.h.config_path.write_text(json.dumps(config))

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        from handlers.dispatch import handler as dispatch

        self._config()
        tick = self.h.sb.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        dispatch({**event, "time": tick}, FakeLambdaContext(30.0))
        for message in self.in_flight:  # a nested call: the running message is delivered a second time
            self._visible(message)
        by_pair: dict[str, list[dict[str, Any]]] = {}
        for _ in range(20):  # FIFO: up to 10 a receive; a pair's older (redelivered) messages first
            got = self.sqs.receive_message(
                QueueUrl=self.queue,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            for message in got:
                by_pair.setdefault(json.loads(message["Body"])["pair"], []).append(message)
        mine = by_pair.pop(PAIR, [])
        threads = [threading.Thread(target=self._work_all, args=(ms, context)) for ms in by_pair.values()]
        for thread in threads:
            thread.start()
        last = None
        try:
            for index, message in enumerate(mine):
                if index:
                    _settle()
                self.reports.pop(PAIR, None)
                self.in_flight.append(message)
                try:
                    self._work(message, context)
                except BaseException:  # killed: this invocation's later messages come back too
                    for later in mine[index + 1 :]:
                        self._visible(later)
                    raise
                finally:
                    self.in_flight.remove(message)
                last = self.reports.get(PAIR, last)
        finally:
            for thread in threads:
                thread.join(timeout=60)
        # no cycle of the pair this time (its group held by a message in flight, or dropped as stale)
        summary = last.summary() if last is not None else {"status": "skipped", "held_deletions": 0, "errors": 0}
        return {"pairs": {PAIR: summary}}

    def _work_all(self, messages: list[dict[str, Any]], context: Any) -> None:
        """One bystander pair's messages, in order (its FIFO group), in this thread."""
        for index, message in enumerate(messages):
            if index:
                _settle()
            self._work(message, context)

    def _work(self, message: dict[str, Any], context: Any) -> None:
        from handlers.pair_worker import handler

        try:
            timeout = getattr(context, "timeout_seconds", 55.0)
            response = handler(sqs_event([message], self.queue), FakeLambdaContext(timeout))
        except BaseException:  # the invocation died: the message comes back once its visibility times out
            self._visible(message)
            raise
        if response["batchItemFailures"]:
            self._visible(message)  # reported failed: delivered again (or dead-lettered) on a later receive
            return
        # delivered again meanwhile (the overlap): that delivery's worker deletes it
        with contextlib.suppress(ClientError):
            self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def _visible(self, message: dict[str, Any]) -> None:
        """The visibility timeout has run out (the soak's clock jumps faster than SQS's)."""
        with contextlib.suppress(ClientError):  # already deleted or received again
            self.sqs.change_message_visibility(
                QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )

    def check(self) -> list[str]:
        """Every bystander lead has exactly one card, and its link field names it."""
        problems = []
        for pair_id, leads, board, ids in self.others:
            cards = board.cards(include_closed=True)
            for lead_id in ids:
                mine = [c for c in cards if c["lead"] == lead_id]
                linked = (leads.get(lead_id) or {}).get("card")
                if len(mine) != 1 or linked != mine[0]["id"]:
                    problems.append(f"{pair_id}: lead {lead_id} has {len(mine)} card(s), link field {linked!r}")
        return problems


def _settle() -> None:
    """Between two cycles of one pair in one call, as the scenario waits between its invocations:
    a request the soak's short client timeout gave up on lands first (tests/soak/env.py). In SQS
    a pair's next message waits for the failed one's visibility timeout (minutes), not 0.5 s."""
    from tests.soak.env import SETTLE_SECONDS

    time.sleep(SETTLE_SECONDS)


@contextmanager
def fanout_patches(reports: dict[str, Any]) -> Iterator[None]:
    """Record each pair's cycle report; one limiter registry per thread; DynamoDB one call at a time
    (moto's in-process DynamoDB is not thread-safe under concurrent transactions; DynamoDB is)."""
    from botocore.client import BaseClient

    import leadsync.fanout
    from leadsync.connectors import ratelimit

    sync_pair = leadsync.fanout.sync_pair
    lock = threading.Lock()

    def recording(pair: Any, *args: Any, **kwargs: Any) -> Any:
        report = sync_pair(pair, *args, **kwargs)
        reports[pair.id] = report
        return report

    original = BaseClient._make_api_call

    def one_at_a_time(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation, params)
        with lock:
            return original(client, operation, params)

    with (
        mock.patch.object(leadsync.fanout, "sync_pair", recording),
        mock.patch.object(ratelimit, "_REGISTRY", per_container_limiters()),
        mock.patch.object(BaseClient, "_make_api_call", one_at_a_time),
    ):
        yield
