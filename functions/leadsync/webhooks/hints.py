"""The receiver's I/O: hints onto the pair queue, the replay guard, and the Notion handshake's token.

A hint is a pair-queue message like the dispatcher's (``{"pair", "tick"}`` plus ``"hint"``: the
system it came from), in the pair's message group, so the worker runs it with the same engine and
never beside another cycle of that pair. Its deduplication id is ``<pair>:hint:<bucket>`` with the
tick cut to ``coalesce_seconds``: SQS keeps one message per id for 5 minutes, so a burst of events
within one bucket is one cycle, and 50 events in 2 s are at most two.

Replays: an event key (Notion event id, Trello action id, Airtable webhook id + timestamp) is claimed
once with a conditional put (``PK=WEBHOOK#<sha256 of the key>``, TTL a day) in the state table; a
second request with the same key is acknowledged (200: a 4xx would make the sender retry and, for
Trello, disable the webhook) and enqueues nothing. The FIFO deduplication id adds a second, shorter
guard: whatever gets past the claim within a bucket is still one message for 5 minutes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from leadsync.errors import ConfigError, RetryableError
from leadsync.state.table import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE
from leadsync.webhooks.receiver import Hint

REPLAY_PREFIX = "WEBHOOK#"
REPLAY_SK = "SEEN"
REPLAY_TTL_SECONDS = 24 * 3600  # Notion retries for about a day


def bucket(now: datetime, coalesce_seconds: float) -> datetime:
    """``now`` cut down to its coalescing bucket."""
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % coalesce_seconds, UTC).replace(microsecond=0)


def hint_entries(hints: Iterable[Hint], now: datetime, coalesce_seconds: float) -> list[dict[str, Any]]:
    """``SendMessageBatch`` entries for ``hints`` (one per pair: a pair's hints are one message)."""
    tick = bucket(now, coalesce_seconds).strftime("%Y-%m-%dT%H:%M:%SZ")
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
                "MessageDeduplicationId": f"{hint.pair}:hint:{tick}",
            },
        )
    return list(entries.values())


def send_hints(sqs: Any, queue_url: str, hints: Iterable[Hint], now: datetime, coalesce_seconds: float) -> int:
    """Enqueue the hints; RetryableError when SQS refuses any (the sender then retries the event)."""
    entries = hint_entries(hints, now, coalesce_seconds)
    for start in range(0, len(entries), 10):
        out = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])
        if out.get("Failed"):
            raise RetryableError(f"the pair queue refused {len(out['Failed'])} hint(s)")
    return len(entries)


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
