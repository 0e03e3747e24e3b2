"""The demo's last act: a card moved in Trello reaches Notion through a webhook, without a tick.

Called by infra/demo.py once its scheduled cycles are done (same sandbox, same moto). The receiver
(`handlers.webhook.handler`) is served by a local stand-in for the HTTP API; `leadsync webhooks
register` registers the board's webhook. When the card moves, the sandbox's Trello POSTs the signed
action, the receiver puts a hint on a FIFO pair queue, and the worker handler runs that message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from leadsync.core.narrate import Snapshot, changes


def run(sb: Any, board_id: str, card_id: Callable[[str], str], snapshot: Callable[[], Snapshot], context: Any) -> None:
    """Register the webhook, move a card, and show its lead following through receiver, queue and worker."""
    import boto3

    from handlers import pair_worker, webhook
    from http_api import LocalHttpApi
    from lambda_events import sqs_event
    from leadsync.cli import main as cli

    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="leadsync-demo-pairs.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    os.environ.update({"LEADSYNC_QUEUE_URL": queue, "TRELLO_APP_SECRET": sb.trello.app_secret})
    webhook._receiver.cache_clear()
    with LocalHttpApi(webhook.handler) as api:
        os.environ["LEADSYNC_WEBHOOK_BASE_URL"] = api.url
        print(f"\n-- webhooks: the receiver listens on {api.url}/webhooks/... (a local HTTP API)")
        cli(["webhooks", "register"])
        lead = "Katherine Johnson"
        print(f"\n-- user: {lead}'s card is dragged to 'In Progress' in Trello (no scheduled tick follows)")
        started = time.monotonic()
        sb.trello.user_move_card(card_id(lead), sb.trello.list_id(board_id, "In Progress"))
        sb.trello.deliverer.wait_idle()
        before = snapshot()
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            print(f"   no hint was queued (receiver answers: {api.calls})")
            return
        hinted = time.monotonic()
        event = sqs_event(messages, queue)
        pair_worker.handler(event, context)
        done = time.monotonic()
        hints = [json.loads(m["Body"]) for m in messages]
        queued = ", ".join(f"pair {h.get('pair')} (hint: {h.get('hint')})" for h in hints)
        print(f"   Trello -> receiver: signed POST answered {api.calls[-1][2]}; queued {queued}")
        print(
            f"   the worker ran the pair: {(hinted - started) * 1000:.0f} ms to the queue, "
            f"{(done - started) * 1000:.0f} ms to Notion"
        )
        print("\n".join(changes(before, snapshot()) or ["  (nothing changed)"]))
    webhook._receiver.cache_clear()
