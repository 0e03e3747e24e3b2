"""The receiver's I/O: hints onto the pair queue, the pending-hint gate, the replay guard, and the
Notion handshake's token. The gate and the guard are both :class:`Claims` (a key claimed with a TTL,
released early when needed), in the state table or, for local runs, in memory.

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
from collections.abc import Callable, Iterable
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


class Claims(Protocol):
    """Keys claimed for a while: the one primitive under the pending-hint gate and the replay guard."""

    def claim(self, key: str, now: datetime) -> bool:
        """Claim ``key`` until ``now`` + the TTL; False while an unexpired claim holds it."""

    def release(self, key: str) -> None:
        """Drop the claim on ``key`` (the next ``claim`` succeeds)."""


class MemoryClaims:
    """Local runs and tests: claims held by this process."""

    def __init__(self, ttl_seconds: int) -> None:
        self._ttl = ttl_seconds
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, now: datetime) -> bool:
        with self._lock:
            if self._until.get(key, 0.0) > now.timestamp():
                return False
            self._until[key] = now.timestamp() + self._ttl
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._until.pop(key, None)


class DynamoClaims:
    """Claims as items of the state table, made with a conditional put; an expired claim counts as
    absent (DynamoDB's TTL deletes it later). ``item_key`` maps a key to the item's primary key."""

    def __init__(self, client: Any, table: str, item_key: Callable[[str], dict[str, Any]], ttl_seconds: int) -> None:
        self._client, self._table, self._item_key, self._ttl = client, table, item_key, ttl_seconds

    def claim(self, key: str, now: datetime) -> bool:
        epoch = int(now.timestamp())
        try:
            self._client.put_item(
                TableName=self._table,
                Item={**self._item_key(key), TTL_ATTRIBUTE: {"N": str(epoch + self._ttl)}},
                ConditionExpression="attribute_not_exists(#pk) OR #exp < :now",
                ExpressionAttributeNames={"#pk": PARTITION_KEY, "#exp": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(epoch)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, key: str) -> None:
        self._client.delete_item(TableName=self._table, Key=self._item_key(key))


def gate_item(pair: str) -> dict[str, Any]:
    """The pending-hint gate's item: in the pair's partition, ``SK=HINT``."""
    return {PARTITION_KEY: {"S": pair_pk(pair)}, SORT_KEY: {"S": GATE_SK}}


def replay_item(key: str) -> dict[str, Any]:
    """An event key's item: ``PK=WEBHOOK#<sha256 of the key>``, ``SK=SEEN``."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    return {PARTITION_KEY: {"S": f"{REPLAY_PREFIX}{digest}"}, SORT_KEY: {"S": REPLAY_SK}}


class HintGate:
    """At most one hint pending per pair: a claim on the pair for ``GATE_SECONDS``."""

    def __init__(self, claims: Claims) -> None:
        self._claims = claims

    def open(self, pair: str, now: datetime) -> bool:
        """Mark a hint pending for ``pair``; False when one already is (this event is covered)."""
        return self._claims.claim(pair, now)

    def close(self, pair: str) -> None:
        """The pair's cycle is about to read: the next event needs a hint of its own."""
        self._claims.release(pair)


LOCAL_GATE = HintGate(MemoryClaims(GATE_SECONDS))  # one per process: the receiver and the worker share it


def _dynamodb(client: Any) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("dynamodb")


def gate_for(table: str | None, client: Any = None) -> HintGate:
    """The gate of this deployment: in the state table, or this process's for local runs."""
    if not table:
        return LOCAL_GATE
    return HintGate(DynamoClaims(_dynamodb(client), table, gate_item, GATE_SECONDS))


ReplayGuard = Claims  # event keys: claimed once for a day; released when the hint could not be enqueued


def replay_guard_for(table: str | None, client: Any = None) -> ReplayGuard:
    """The replay guard of this deployment: in the state table, or this process's memory."""
    if not table:
        return MemoryClaims(REPLAY_TTL_SECONDS)
    return DynamoClaims(_dynamodb(client), table, replay_item, REPLAY_TTL_SECONDS)


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
