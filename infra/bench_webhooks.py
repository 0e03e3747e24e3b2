"""Propagation latency: from a person's edit on one side to the write on the other, webhooks on and off.

    .venv/bin/python infra/bench_webhooks.py --edits 200          (make bench runs it with --edits 20)

For each system whose webhook the product receives (a Trello card moved -> the Notion lead's status;
a Notion lead renamed -> the card; an Airtable lead renamed -> the card), in the sandbox with
``--latency`` seconds added to every API request:

- **webhooks on**: the sandbox delivers the signed webhook call to the real receiver (behind
  ``infra/http_api.py``), the hint goes onto a FIFO queue (moto) and a poller thread hands queued
  messages to the worker handler, as Lambda's SQS event source would. Latency is measured on the
  wall clock, from the edit until the other side shows the value.
- **schedule only**: the next minute tick comes at a uniformly random moment in the next 60 s (seeded).
  Latency is that wait (modelled) plus the wall time of the cycle that carries the edit (measured).

Prints p50 / p95 / max per system and mode. Everything runs in this process (state in SQLite: moto's
DynamoDB is not thread-safe), so the figures include the receiver's and worker's Python time on this
machine. Lambda's cold starts, API Gateway and SQS delivery delays (tens of milliseconds) are not
modelled.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "infra"), str(ROOT)]


class _Context:
    function_name = "leadsync-bench-SyncFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:leadsync-bench-SyncFunction"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._end = time.monotonic() + 55

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


class Poller:
    """Lambda's SQS event source in miniature: take up to 10 messages, run the worker, delete the done ones."""

    def __init__(self, sqs: Any, queue: str) -> None:
        self.sqs, self.queue, self._stop = sqs, queue, threading.Event()
        self.cycles = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from handlers.pair_worker import handler
        from lambda_events import sqs_event

        while not self._stop.is_set():
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, AttributeNames=["All"])
            messages = got.get("Messages", [])
            if not messages:
                time.sleep(0.01)
                continue
            event = sqs_event(messages, self.queue)
            failed = {f["itemIdentifier"] for f in handler(event, _Context())["batchItemFailures"]}
            self.cycles += 1
            for m in messages:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _wait_for(check: Callable[[], bool], timeout: float = 60.0) -> float:
    """Seconds until ``check()`` holds (polled every 10 ms); raises on timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the edit did not reach the other side")
        time.sleep(0.01)
    return time.monotonic() - start


def _world(sb: Any, system: str, workdir: Path, leads_n: int) -> tuple[Any, Any, Path]:
    """A lead tracker + board, configured and first-synced by the scheduled handler."""
    from handlers.scheduled_sync import handler
    from tests.support.e2e import Board, NotionLeads, pair_config

    if system == "airtable":
        from tests.support.e2e_airtable import Leads

        leads: Any = Leads(sb)
    else:
        leads = NotionLeads(sb)
    board = Board(sb)
    # a fresh state per world, in SQLite: moto's in-process DynamoDB is not safe for the receiver's and the
    # worker's threads writing at once (a transaction copies the table while another thread puts an item)
    os.environ["LEADSYNC_STATE_PATH"] = str(workdir / f"state-{uuid.uuid4().hex[:8]}.db")
    config = workdir / f"{system}-{uuid.uuid4().hex[:6]}.json"
    config.write_text(json.dumps(pair_config(leads, board)))
    os.environ["LEADSYNC_CONFIG_FILE"] = str(config)
    for i in range(leads_n):
        leads.add(name=f"Lead {i}", email=f"l{i}@example.com", status="New", source="Web")
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    event = json.loads((ROOT / "infra/events/scheduled.json").read_text())
    result = handler(event, _Context())["pairs"]["e2e"]
    if result["status"] != "synced":
        raise RuntimeError(f"first sync of the {system} world: {result}")
    sb.clock.advance(61)
    return leads, board, config


def _edits(
    system: str, leads: Any, board: Any, rng: random.Random, i: int
) -> tuple[Callable[[], None], Callable[[], bool]]:
    """One person's edit and the check that it arrived on the other side."""
    lead = rng.choice([lead["id"] for lead in leads.all()])
    if system == "trello":
        card = board.card_for(lead)
        target = "In Progress" if card["list"] != "In Progress" else "Done"
        status = {"In Progress": "Contacted", "Done": "Qualified"}[target]
        return (lambda: board.move(card["id"], target)), (lambda: leads.get(lead)["status"] == status)
    name = f"Renamed {system} {i}"
    return (lambda: leads.edit(lead, name=name)), (lambda: board.card_for(lead)["name"] == name)


def measure(sb: Any, system: str, edits: int, webhooks: bool, seed: int, workdir: Path, sqs: Any) -> list[float]:
    """Latencies (s) of ``edits`` edits of one system, webhooks on or off."""
    from handlers import webhook
    from handlers.scheduled_sync import handler

    lead_side = "airtable" if system == "airtable" else "notion"
    leads, board, _ = _world(sb, lead_side, workdir, leads_n=10)
    rng, tick_rng = random.Random(seed), random.Random(seed + 1)
    event = json.loads((ROOT / "infra/events/scheduled.json").read_text())
    latencies: list[float] = []
    if not webhooks:
        for i in range(edits):
            edit, arrived = _edits(system, leads, board, rng, i)
            edit()
            started = time.monotonic()
            handler(event, _Context())
            cycle = time.monotonic() - started
            if not arrived():
                raise RuntimeError(f"{system}: a scheduled cycle did not carry edit {i}")
            latencies.append(tick_rng.uniform(0, 60) + cycle)
            sb.clock.advance(61)
        return latencies

    from http_api import LocalHttpApi
    from leadsync.cli import main as cli

    queue = sqs.create_queue(QueueName=f"bench-{uuid.uuid4().hex[:8]}.fifo", Attributes={"FifoQueue": "true"})
    os.environ["LEADSYNC_QUEUE_URL"] = queue["QueueUrl"]
    webhook._receiver.cache_clear()
    with LocalHttpApi(webhook.handler) as api:
        os.environ["LEADSYNC_WEBHOOK_BASE_URL"] = api.url
        if system == "trello":
            cli(["webhooks", "register"])
        elif system == "notion":
            sub = sb.notion.create_subscription(f"{api.url}/webhooks/notion")
            sb.notion.deliverer.wait_idle()
            sb.notion.verify_subscription(sub, webhook._receiver().handshake.token())
        else:
            os.chdir(workdir)
            cli(["webhooks", "register"])
            os.environ["AIRTABLE_WEBHOOK_SECRETS"] = (workdir / ".leadsync/airtable-webhook-secrets.json").read_text()
            webhook._receiver.cache_clear()
        poller = Poller(sqs, queue["QueueUrl"])
        try:
            for i in range(edits):
                edit, arrived = _edits(system, leads, board, rng, i)
                started = time.monotonic()
                edit()
                _wait_for(arrived)
                latencies.append(time.monotonic() - started)
                time.sleep(0.05)  # let the echoes of this edit settle before the next one
        finally:
            poller.stop()
            sb.notion.subscriptions.clear()
    webhook._receiver.cache_clear()
    return latencies


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(ordered):6.2f} {p95:6.2f} {ordered[-1]:6.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200, help="edits per system and mode (default 200)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every API request (0.1)")
    parser.add_argument("--systems", default="trello,notion,airtable", help="whose edits: trello,notion,airtable")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="leadsync-bench-webhooks-"))
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "CRITICAL"),
            "NOTION_TOKEN": "ntn_bench_token",
            "TRELLO_API_KEY": "0123456789abcdef0123456789abcdef",
            "TRELLO_TOKEN": "ATTAbench-token",
            "AIRTABLE_TOKEN": "patbench.token",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    os.environ.pop("LEADSYNC_TABLE", None)
    import contextlib
    import io
    import warnings

    import boto3
    from moto import mock_aws

    import leadsync.engine
    from sandbox import Sandbox

    systems = [s for s in args.systems.split(",") if s]
    rows = []
    with Sandbox.start(only=("notion", "trello", "airtable")) as sb, mock_aws():
        os.environ.update(sb.env())
        os.environ["TRELLO_APP_SECRET"] = sb.trello.app_secret
        leadsync.engine.utcnow = sb.clock.now
        sqs = boto3.client("sqs")
        for emulator in sb.emulators.values():
            emulator.faults.latency = args.latency
        print(
            f"propagation latency: {args.edits} edits per system and mode, {args.latency:.2f} s added to every "
            "API request; seconds, p50 / p95 / max",
            flush=True,
        )
        for system in systems:
            for on in (True, False):
                with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):  # EMF lines, CLI lines
                    warnings.simplefilter("ignore")
                    values = measure(sb, system, args.edits, on, args.seed, workdir, sqs)
                rows.append((system, "webhooks on" if on else "schedule only", _summary(values)))
                print(f"  {rows[-1][0]:<9} {rows[-1][1]:<14} {rows[-1][2]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
