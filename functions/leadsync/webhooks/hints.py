"""The receiver's I/O: hints onto the pair queue, the pending-hint gate, the replay guard, and the
Notion handshake's token.

A hint is a pair-queue message like the dispatcher's (``{"pair", "tick"}`` plus ``"hint"``: the
system it came from), in the pair's message group, so the worker runs it with the same engine and
never beside another cycle of that pair.

Coalescing: at most one hint per pair is pending. The receiver enqueues only when it opens the pair's
gate (``PK=PAIR#<pair>, SK=HINT``, a conditional put); the worker closes it just before the cycle starts
reading. An event that arrives while a hint is pending is covered by that hint's cycle, which has not
started yet. An event that arrives after the gate closed opens it again and gets a cycle of its own. So
a burst of 50 events gives one cycle, or two if the first cycle starts in the middle of the burst, and
no event is left waiting for the schedule. A gate left open (a lost message) expires after
``GATE_SECONDS``.
(A deduplication id per time bucket would not do: SQS drops a message whose id it saw in the last 5
minutes even when that message was already consumed, so an event arriving just after a cycle started
would wait for the next tick.)

Replays: an event key (Notion event id, Trello action id, Airtable webhook id + timestamp) is claimed
once with a conditional put (``PK=WEBHOOK#<sha256 of the key>``, TTL a day) in the state table. A
second request with the same key is refused with 409 (never 410, which makes Trello delete the webhook)
and enqueues nothing. The message's deduplication id comes from the event
key too, so a send retried by the SDK is one message.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from leadsync.errors import ConfigError, RetryableError
from leadsync.state.table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE, pair_pk
from leadsync.webhooks.receiver import Hint

REPLAY_PREFIX = "WEBHOOK#"
REPLAY_SK = "SEEN"
REPLAY_TTL_SECONDS = 24 * 3600  # Notion retries for about a day
GATE_SK = "HINT"
GATE_SECONDS = 120  # a gate whose message was lost stops blocking hints after this long


def hint_entries(hints: Iterable[Hint], now: datetime, event_key: str) -> list[dict[str, Any]]:
    """``SendMessageBatch`` entries for ``hints`` (one per pair: a pair's hints are one message)."""
    tick = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(event_key.encode("utf-8")).hexdigest()[:32]
    entries: dict[str, dict[str, Any]] = {}
    for hint in hints:
        entries.setdefault(
            hint.pair,
            {
                "Id": str(len(entries)),
                "MessageBody": json.dumps(
                    {"pair": hint.pair, "tick": tick, "hint": hint.system}, separators=(",", ":")
                ),
                "MessageGroupId": hint.pair,
                "MessageDeduplicationId": f"{hint.pair}:hint:{digest}",
            },
        )
    return list(entries.values())


def send_hints(sqs: Any, queue_url: str, hints: Iterable[Hint], now: datetime, event_key: str) -> int:
    """Enqueue the hints; RetryableError when SQS refuses any (the sender then retries the event)."""
    entries = hint_entries(hints, now, event_key)
    for start in range(0, len(entries), 10):
        out = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])
        if out.get("Failed"):
            raise RetryableError(f"the pair queue refused {len(out['Failed'])} hint(s)")
    return len(entries)


def is_hint(body: str) -> bool:
    """Whether a pair-queue message body is a webhook hint (not a scheduled tick)."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and isinstance(data.get("hint"), str)


class HintGate(Protocol):
    def open(self, pair: str, now: datetime) -> bool:
        """Mark a hint pending for ``pair``; False when one already is (this event is covered)."""

    def close(self, pair: str) -> None:
        """The pair's cycle is about to read: the next event needs a hint of its own."""


class MemoryHintGate:
    """Local runs and tests (one per process: the receiver and the worker share it)."""

    def __init__(self) -> None:
        self._open: dict[str, float] = {}
        self._lock = threading.Lock()

    def open(self, pair: str, now: datetime) -> bool:
        with self._lock:
            if self._open.get(pair, 0.0) > now.timestamp():
                return False
            self._open[pair] = now.timestamp() + GATE_SECONDS
            return True

    def close(self, pair: str) -> None:
        with self._lock:
            self._open.pop(pair, None)


LOCAL_GATE = MemoryHintGate()


class DynamoHintGate:
    """The gate as an item of the pair's partition (``SK=HINT``), opened with a conditional put."""

    def __init__(self, client: Any, table: str) -> None:
        self._client, self._table = client, table

    def _key(self, pair: str) -> dict[str, Any]:
        return {PARTITION_KEY: {"S": pair_pk(pair)}, SORT_KEY: {"S": GATE_SK}}

    def open(self, pair: str, now: datetime) -> bool:
        epoch = int(now.timestamp())
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**self._key(pair), TTL_ATTRIBUTE: {"N": str(epoch + GATE_SECONDS)}},
                ConditionExpression="attribute_not_exists(#pk) OR #exp < :now",
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(epoch)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def close(self, pair: str) -> None:
        self._client.delete_item(TableName=self._table, Key=self._key(pair))


def gate_for(table: str | None, client: Any = None) -> HintGate:
    """The gate of this deployment: in the state table, or this process's for local runs."""
    if not table:
        return LOCAL_GATE
    if client is None:
        import boto3

        client = boto3.client("dynamodb")
    return DynamoHintGate(client, table)


class ReplayGuard(Protocol):
    def claim(self, key: str, now: datetime) -> bool:
        """Record ``key``; False when it was already recorded (a replay)."""

    def release(self, key: str) -> None:
        """Forget ``key`` (its hint could not be enqueued: the sender's retry must be accepted)."""


class MemoryReplayGuard:
    """Local runs and tests: the keys seen by this process."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def claim(self, key: str, now: datetime) -> bool:
        expires = self._seen.get(key)
        if expires is not None and expires > now.timestamp():
            return False
        self._seen[key] = now.timestamp() + REPLAY_TTL_SECONDS
        return True

    def release(self, key: str) -> None:
        self._seen.pop(key, None)


def _replay_key(key: str) -> dict[str, Any]:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return {PARTITION_KEY: {"S": f"{REPLAY_PREFIX}{digest}"}, SORT_KEY: {"S": REPLAY_SK}}


class DynamoReplayGuard:
    """Event keys in the state table, claimed with a conditional put; expired claims count as absent."""

    def __init__(self, client: Any, table: str) -> None:
        self._client, self._table = client, table

    def claim(self, key: str, now: datetime) -> bool:
        epoch = int(now.timestamp())
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**_replay_key(key), TTL_ATTRIBUTE: {"N": str(epoch + REPLAY_TTL_SECONDS)}},
                ConditionExpression="attribute_not_exists(#pk) OR #exp < :now",
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(epoch)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, key: str) -> None:
        self._client.delete_item(TableName=self._table, Key=_replay_key(key))


class HandshakeStore(Protocol):
    def token(self) -> str | None:
        """The stored Notion verification token, if any."""

    def store_if_empty(self, token: str) -> bool:
        """Store ``token`` unless one is stored; whether it was stored."""


class MemoryHandshakeStore:
    """Local runs and tests."""

    def __init__(self, token: str | None = None) -> None:
        self._token = token

    def token(self) -> str | None:
        return self._token

    def store_if_empty(self, token: str) -> bool:
        if self._token:
            return False
        self._token = token
        return True


HANDSHAKE_KEY = "notion_verification_token"


class SecretsHandshakeStore:
    """A Secrets Manager secret of its own (JSON, ``{}`` until the handshake): the receiver may write
    only there, never to the credentials secret. Reads are cached for ``max_age`` seconds."""

    def __init__(self, client: Any, secret_arn: str, max_age: float = 300.0) -> None:
        self._client, self._arn, self._max_age = client, secret_arn, max_age
        self._cached: tuple[float, str | None] | None = None

    def token(self) -> str | None:
        if self._cached is not None and time.monotonic() - self._cached[0] < self._max_age:
            return self._cached[1]
        try:
            raw = self._client.get_secret_value(SecretId=self._arn)["SecretString"]
            data = json.loads(raw or "{}")
        except (KeyError, json.JSONDecodeError) as exc:
            raise ConfigError(["the Notion handshake secret is not a JSON object"]) from exc
        value = data.get(HANDSHAKE_KEY) if isinstance(data, dict) else None
        token = value if isinstance(value, str) and value else None
        self._cached = (time.monotonic(), token)
        return token

    def store_if_empty(self, token: str) -> bool:
        self._cached = None
        if self.token():
            return False
        self._client.put_secret_value(SecretId=self._arn, SecretString=json.dumps({HANDSHAKE_KEY: token}))
        self._cached = (time.monotonic(), token)
        return True
