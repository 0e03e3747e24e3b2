"""Webhooks in the soak: the board's Trello webhook calls the real receiver (behind a local HTTP API),
hints go onto a FIFO pair queue (moto) and *hinted cycles* run the worker handler on them, between the
scheduled, faulty, crashed and overlapping cycles of the scenario.

The sandbox's delivery switch drops, duplicates, delays and reorders the webhook calls (seeded per
scenario), so hints arrive late, twice, out of order or never. The invariants stay those of
tests/soak/model.py: a hint only makes a cycle run sooner, and the scheduled cycles remain the safety net.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import boto3
import requests

from http_api import LocalHttpApi
from lambda_events import sqs_event
from leadsync.webhooks.hints import gate_for
from tests.support.e2e import Harness
from tests.support.moto_lock import serialized_aws_calls

DROP, DUPLICATE, DELAY_S, RETRY_DELAY_S = 0.25, 0.25, 0.02, 0.01


class WebhookPath:
    """One scenario's receiver, queue and worker; `stop()` when the scenario ends."""

    def __init__(self, h: Harness, seed: int) -> None:
        from handlers import webhook

        self.h = h
        self.sqs = boto3.client("sqs", region_name="eu-west-1")
        self.queue = self.sqs.create_queue(
            QueueName=f"soak-{uuid.uuid4().hex[:12]}.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": "0"},  # a failed hint comes back at once
        )["QueueUrl"]
        os.environ.update({"LEADSYNC_QUEUE_URL": self.queue, "TRELLO_APP_SECRET": h.sb.trello.app_secret})
        webhook._receiver.cache_clear()  # the environment of this scenario
        self._serialized = serialized_aws_calls()  # moto's DynamoDB (--store dynamodb) is not thread-safe
        self._serialized.__enter__()
        gate_for(os.environ.get("LEADSYNC_TABLE")).close("e2e")  # no hint left pending by the last scenario
        self.api = LocalHttpApi(webhook.handler)
        os.environ["LEADSYNC_WEBHOOK_BASE_URL"] = self.api.url
        made = requests.post(
            f"{h.sb.trello.url}/webhooks",
            params={"key": os.environ["TRELLO_API_KEY"], "token": os.environ["TRELLO_TOKEN"]},
            json={"callbackURL": f"{self.api.url}/webhooks/trello/e2e", "idModel": h.board.board_id},
            timeout=5,
        )
        made.raise_for_status()
        self.switch = h.sb.trello.deliverer.configure(
            drop=DROP, duplicate=DUPLICATE, delay_s=DELAY_S, reorder=True, seed=seed
        )
        # a duplicate is refused (409) and retried 3 times; the soak compresses Trello's backoff like
        # its other delays, so the retries are made (and counted) without waiting 0.6 s a duplicate
        self._retry_delay_s, h.sb.trello.deliverer.retry_delay_s = h.sb.trello.deliverer.retry_delay_s, RETRY_DELAY_S

    def hinted_cycle(self, context: Any) -> tuple[str, int]:
        """Let the pending webhook calls land, then hand the queued hints to the worker handler."""
        from handlers.pair_worker import handler

        self.h.sb.trello.deliverer.wait_idle()
        out = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = out.get("Messages", [])
        if not messages:
            return "no hint queued", 0
        event = sqs_event(messages, self.queue)
        failed = {f["itemIdentifier"] for f in handler(event, context)["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
        pairs = sorted({json.loads(m["Body"])["pair"] for m in messages})
        return f"hinted {pairs}: {len(messages)} message(s), {len(failed)} failed", len(messages)

    def counts(self) -> dict[str, int]:
        """Webhook calls sent, dropped, duplicated, failed; receiver answers by status; webhooks disabled."""
        answered: dict[str, int] = {}
        for _, _, status in self.api.calls:
            answered[f"http {status}"] = answered.get(f"http {status}", 0) + 1
        with self.h.sb.trello.lock:  # a refused duplicate (409) must never get the webhook disabled
            disabled = sum(1 for hook in self.h.sb.trello.webhooks.values() if not hook["active"])
        return {**self.switch.counts, **answered, "webhooks disabled": disabled}

    def stop(self) -> None:
        from handlers import webhook

        self.h.sb.trello.deliverer.wait_idle()
        self.h.sb.trello.deliverer.retry_delay_s = self._retry_delay_s
        self.api.stop()
        self._serialized.__exit__(None, None, None)
        webhook._receiver.cache_clear()
