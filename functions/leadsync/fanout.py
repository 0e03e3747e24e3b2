"""The fan-out: a dispatcher enqueues one message per pair each tick; workers run one pair each.

The queue is FIFO. A pair's messages share one message group (``MessageGroupId`` = pair id), so
SQS never hands two of them out at once, and the deduplication id ``<pair>:<tick>`` makes a tick
delivered twice (EventBridge is at-least-once) one message. The per-pair lease still guards every
cycle: a worker that finds it held drops the message as done. A failed cycle fails its message:
SQS delivers it again after the visibility timeout and, after ``maxReceiveCount`` attempts, moves
it to the pair dead-letter queue. Only that pair's group waits meanwhile; the other pairs go on.
A message older than ``stale_message_seconds`` on its first delivery is dropped: a newer tick's
message stands for it (a redelivery is always run, so a failing pair reaches the dead-letter queue).
A webhook's hint (a message with ``"hint"``, :mod:`leadsync.webhooks.hints`) is run like a tick, after
closing the pair's pending-hint gate: an event from then on gets a hint, and a cycle, of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from leadsync import engine
from leadsync.app import MIN_SECONDS_FOR_A_PAIR, sync_pair
from leadsync.config import PairConfig, Settings
from leadsync.connectors.deadline import Deadline
from leadsync.credentials import Credentials, load_credentials
from leadsync.engine import CycleReport
from leadsync.errors import ConfigError, LeadsyncError, RetryableError
from leadsync.observability import COUNT, logger, metrics
from leadsync.state.base import StateStore
from leadsync.webhooks.hints import gate_for, is_hint
from leadsync.wiring import build_store, load_sync_config

SEND_BATCH = 10  # SendMessageBatch limit
PAIR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # the config's pair id rule


class PairCycleFailed(LeadsyncError):
    """A pair's cycle failed: its message is retried by SQS, then dead-lettered."""


@dataclass(frozen=True)
class PairMessage:
    """The body of one queue message: which pair, and the tick that asked for it."""

    pair: str
    tick: datetime

    def body(self) -> str:
        return json.dumps({"pair": self.pair, "tick": _iso(self.tick)}, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> PairMessage:
        """Validate a message body (anything on the queue is input); ValueError names what is wrong."""
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        pair, tick = data.get("pair"), data.get("tick")
        if not isinstance(pair, str) or not PAIR_ID.match(pair):
            raise ValueError(f"pair {str(pair)[:80]!r} is not a pair id")
        if not isinstance(tick, str):
            raise ValueError("no tick")
        try:
            when = datetime.fromisoformat(tick.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"tick {tick[:40]!r} is not an ISO time") from exc
        return cls(pair, when if when.tzinfo else when.replace(tzinfo=UTC))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tick_of(event: dict[str, Any], now: datetime) -> datetime:
    """The scheduled event's time (EventBridge's ``time``), or now to the minute for a manual run."""
    raw = event.get("time") if isinstance(event, dict) else None
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            logger.warning("scheduled event with an unreadable time; using the clock", extra={"time": raw[:40]})
    return now.replace(second=0, microsecond=0)


def dispatch(
    event: dict[str, Any],
    *,
    settings: Settings | None = None,
    sqs: Any | None = None,
    now: Callable[[], datetime] | None = None,
) -> dict[str, Any]:
    """Enqueue one message per configured pair for this tick. Syncs nothing itself."""
    settings = settings or Settings.from_env()
    if not settings.queue_url:
        raise ConfigError(["LEADSYNC_QUEUE_URL: the dispatcher needs the pair queue's URL"])
    config = load_sync_config(settings)
    tick = tick_of(event, (now or engine.utcnow)())
    messages = [PairMessage(pair.id, tick) for pair in dispatch_order(config.pairs)]
    client = sqs or _sqs_client()
    pending = messages
    for _attempt in range(2):  # what SQS did not take is sent once more, then reported
        refused = {pair for batch in _batches(pending, SEND_BATCH) for pair in _send(client, settings.queue_url, batch)}
        pending = [m for m in pending if m.pair in refused]
        if not pending:
            break
    failed = [m.pair for m in pending]
    metrics.add_metric(name="PairsDispatched", unit=COUNT, value=len(messages) - len(failed))
    if failed:
        raise RetryableError(f"could not enqueue pairs {failed} for tick {_iso(tick)}")
    logger.info("pairs dispatched", extra={"tick": _iso(tick), "pairs": len(messages)})
    return {"tick": _iso(tick), "enqueued": len(messages)}


def lead_budget(pair: PairConfig) -> tuple[str, ...]:
    """Which shared rate budget a pair's lead tracker draws from, as far as its settings tell:
    one per system (one Notion token, one Google service account per stack), per base for
    Airtable (5 requests/s per base). The card side is one Trello token for every pair."""
    lead = pair.lead
    return (lead.system, lead.base_id) if lead.system == "airtable" else (lead.system,)


def dispatch_order(pairs: Sequence[PairConfig]) -> list[PairConfig]:
    """The pairs in the order their messages are sent: round robin over their lead-side budgets,
    each budget's pairs in config order.

    The queue hands messages out in about this order. With the config's order, a block of pairs
    on one slow budget (67 Notion pairs at 3 requests/s) would occupy every worker at once, each
    waiting its turn for that budget, while the pairs of the other budgets wait in the queue;
    interleaved, the workers spend every budget side by side and the tick ends sooner.
    """
    groups: dict[tuple[str, ...], list[PairConfig]] = {}
    for pair in pairs:
        groups.setdefault(lead_budget(pair), []).append(pair)
    queues = list(groups.values())
    return [queue[i] for i in range(max(map(len, queues), default=0)) for queue in queues if i < len(queue)]


def _send(client: Any, queue_url: str, batch: Sequence[PairMessage]) -> list[str]:
    """Send one batch; the pairs SQS did not take."""
    entries = [
        {
            "Id": str(index),
            "MessageBody": message.body(),
            "MessageGroupId": message.pair,
            "MessageDeduplicationId": f"{message.pair}:{_iso(message.tick)}",
        }
        for index, message in enumerate(batch)
    ]
    out = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
    return [batch[int(f["Id"])].pair for f in out.get("Failed", [])]


def _batches(items: Sequence[PairMessage], size: int) -> Iterator[Sequence[PairMessage]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqs_client() -> Any:
    import boto3

    return boto3.client("sqs")


@dataclass
class PairWorker:
    """What a worker invocation holds for its messages: the configuration, credentials, state store
    and the invocation's deadline. ``run`` is the per-message entry: the SQS worker (``work``) calls
    it for each record, and ``python -m leadsync sync`` for each configured pair, in-process."""

    settings: Settings
    pairs: dict[str, PairConfig]
    creds: Credentials
    store: StateStore
    deadline: Deadline
    request: str

    @classmethod
    def start(cls, context: Any, *, settings: Settings | None = None) -> PairWorker:
        """Load what every message of this invocation needs (configuration errors raise)."""
        settings = settings or Settings.from_env()
        config = load_sync_config(settings)
        return cls(
            settings=settings,
            pairs={pair.id: pair for pair in config.pairs},
            creds=load_credentials(settings.secret_arn),
            store=build_store(settings),
            deadline=Deadline.from_lambda_context(context, margin_seconds=settings.safety_margin_seconds),
            request=str(getattr(context, "aws_request_id", "local")),
        )

    def run(
        self,
        message: PairMessage,
        message_id: str,
        *,
        first_delivery: bool = True,
        hint: bool = False,
        allow_deletions: bool = False,
    ) -> CycleReport | None:
        """Run the cycle of the message's pair; ``None`` when the message is dropped (a pair no longer
        configured, a stale tick), a ``no_time`` report when the invocation has too little time left."""
        pair = self.pairs.get(message.pair)
        if pair is None:
            logger.warning("message for a pair no longer configured dropped", extra={"pair": message.pair})
            return None
        if hint:  # before the cycle reads: an event from now on needs a hint of its own
            gate_for(self.settings.table).close(pair.id)
        age = engine.utcnow() - message.tick  # looked up per call: the demo and tests move the clock
        stale_after = timedelta(seconds=self.settings.stale_message_seconds)
        if first_delivery and age > stale_after:  # a retry is never stale: it must reach the DLQ if it keeps failing
            logger.info("stale pair message dropped: a newer tick stands for it", extra={"pair": pair.id})
            return None
        if self.deadline.remaining() < MIN_SECONDS_FOR_A_PAIR:
            logger.warning("no time left for this pair; it runs next invocation", extra={"pair": pair.id})
            return CycleReport(pair.id, status="no_time")
        owner = f"{self.request}:{message_id}"
        report = sync_pair(
            pair, self.settings, self.creds, self.store, self.deadline, owner, allow_deletions=allow_deletions
        )
        logger.remove_keys(["pair"])
        return report


def work(event: dict[str, Any], context: Any, *, settings: Settings | None = None) -> dict[str, Any]:
    """Run the cycle of each pair named by an SQS batch; report the messages to retry."""
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

    worker = PairWorker.start(context, settings=settings)

    def handle(record: Any) -> None:
        try:
            message = PairMessage.parse(record.body)
        except ValueError as exc:  # retrying cannot fix it: dropped, and said so
            logger.error("malformed pair message dropped", extra={"message_id": record.message_id, "error": str(exc)})
            return
        first_delivery = str(record.attributes.approximate_receive_count or "1") == "1"
        report = worker.run(message, record.message_id, first_delivery=first_delivery, hint=is_hint(record.body))
        if report is None:
            return
        if report.status == "no_time":
            raise PairCycleFailed(f"pair {report.pair}: no time left in this invocation")
        if report.status == "failed":
            raise PairCycleFailed(f"pair {report.pair}: {report.errors[0] if report.errors else 'failed'}")

    # skip_group_on_error: after a failure only that pair's later messages in the batch wait
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    # a batch whose every pair failed is reported like any other (not raised as one error): each
    # message then counts its own attempts towards the dead-letter queue
    processor.raise_on_entire_batch_failure = False
    response = process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
    return dict(response)
