"""StateStore on one DynamoDB table (layout in ``leadsync.state.table``).

Uses the low-level client and encodes attribute values itself, so no ``Decimal`` leaks out.
Every request made is counted in ``calls`` (for the cost benchmark).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from leadsync.core.approvals import PendingDeletion
from leadsync.core.history import Activity
from leadsync.core.models import Fence, Fields, Intent, Link, PairMeta, Side
from leadsync.errors import LeadsyncError, LeaseHeld, RetryableError, StaleState
from leadsync.observability import logger
from leadsync.state.table import (
    ACTIVITY_PREFIX,
    BACKLOG_PREFIX,
    CARD_PREFIX,
    INTENT_PREFIX,
    LEAD_PREFIX,
    META_SK,
    PARTITION_KEY,
    PENDING_PREFIX,
    RECORD_PREFIX,
    RETRYABLE_CODES,
    SORT_KEY,
    TTL_ATTRIBUTE,
    pair_pk,
    time_key,
)

Item = dict[str, Any]

WRITE_CHUNK = 25  # BatchWriteItem limit
FENCED_CHUNK = 99  # TransactWriteItems takes 100 items: the lease check on META and 99 writes
READ_CHUNK = 100  # BatchGetItem limit
MAX_BATCH_ATTEMPTS = 8
DEFAULT_INTENT_TTL = timedelta(days=7)


# --- attribute value encoding (JSON-like values <-> DynamoDB AttributeValue) -------------------


def encode(value: object) -> dict[str, Any]:
    """Encode a JSON-able value (str, int, float, bool, None, list, dict with str keys)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot store non-finite number {value!r}")
        return {"N": repr(value)}
    if isinstance(value, dict):
        return {"M": {str(k): encode(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [encode(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB state")


def decode(attr: dict[str, Any]) -> Any:
    """Decode an AttributeValue produced by :func:`encode` (numbers without '.'/'e' become ints)."""
    (kind, raw), *_ = attr.items()
    if kind == "S":
        return raw
    if kind == "N":
        return int(raw) if raw.lstrip("-").isdigit() else float(raw)
    if kind == "NULL":
        return None
    if kind == "BOOL":
        return bool(raw)
    if kind == "M":
        return {k: decode(v) for k, v in raw.items()}
    if kind == "L":
        return [decode(v) for v in raw]
    raise TypeError(f"unexpected DynamoDB attribute type {kind}")


def _epoch(now: datetime) -> float:
    """Epoch seconds of ``now`` (a naive datetime is taken as UTC)."""
    return (now if now.tzinfo else now.replace(tzinfo=UTC)).timestamp()


def _chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


class DynamoStateStore:
    """State of every pair in one DynamoDB table.

    ``client`` is a low-level ``boto3`` DynamoDB client (default: ``boto3.client("dynamodb")``,
    which honours ``AWS_ENDPOINT_URL_DYNAMODB``). ``page_size`` caps Query pages (tests use it to
    exercise pagination). ``calls`` counts the requests sent to DynamoDB.
    """

    def __init__(
        self,
        table_name: str,
        client: Any | None = None,
        *,
        page_size: int | None = None,
        intent_ttl: timedelta = DEFAULT_INTENT_TTL,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table_name = table_name
        self.client = client or boto3.client(
            "dynamodb",
            config=Config(retries={"mode": "standard"}, connect_timeout=3, read_timeout=10),
        )
        self.page_size = page_size
        self.intent_ttl = intent_ttl
        self.calls = 0
        self._sleep = sleep

    # --- plumbing -------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request, counting it; transient failures become ``RetryableError``.

        ``ConditionalCheckFailedException`` is re-raised as is for the caller to interpret.
        """
        self.calls += 1
        try:
            result: dict[str, Any] = getattr(self.client, operation)(TableName=self.table_name, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                raise
            message = f"DynamoDB {operation} on {self.table_name} failed: {code}"
            if code in RETRYABLE_CODES:
                raise RetryableError(message) from exc
            raise LeadsyncError(message) from exc
        except BotoCoreError as exc:
            raise RetryableError(f"DynamoDB {operation} on {self.table_name} failed: {exc}") from exc
        return result

    def _backoff(self, attempt: int, what: str) -> None:
        if attempt >= MAX_BATCH_ATTEMPTS:
            raise RetryableError(f"DynamoDB kept returning {what} on {self.table_name}")
        self._sleep(min(0.05 * 2**attempt, 2.0))

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for chunk in _chunks(requests, WRITE_CHUNK):
            pending: list[dict[str, Any]] = list(chunk)
            attempt = 0
            while pending:
                self.calls += 1
                try:
                    out = self.client.batch_write_item(RequestItems={self.table_name: pending})
                except (ClientError, BotoCoreError) as exc:
                    raise self._translate(exc, "BatchWriteItem") from exc
                pending = out.get("UnprocessedItems", {}).get(self.table_name, [])
                if pending:
                    attempt += 1
                    self._backoff(attempt, "UnprocessedItems")

    def _write(self, pair_id: str, requests: list[dict[str, Any]], fence: Fence | None) -> None:
        """Batch writes; with a ``fence``, transactions that first check the lease on META.

        Each transaction is all or nothing, so a run that lost its lease writes nothing of it.
        (A large write spans several transactions; the lease is checked in each.)
        """
        if fence is None:
            self._batch_write([_as_batch_request(r) for r in requests])
            return
        check = {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": self._key(pair_id, META_SK),
                "ConditionExpression": "lease_owner = :me AND version = :v",
                "ExpressionAttributeValues": {":me": {"S": fence.owner}, ":v": {"N": str(fence.version)}},
            }
        }
        for chunk in _chunks(requests, FENCED_CHUNK):
            items = [
                check,
                *({kind: {"TableName": self.table_name, **body}} for r in chunk for kind, body in r.items()),
            ]
            self.calls += 1
            try:
                self.client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                reasons = exc.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise StaleState(
                        f"pair {pair_id}: run {fence.owner} no longer holds the lease at version {fence.version};"
                        " nothing written"
                    ) from exc
                raise self._translate(exc, "TransactWriteItems") from exc
            except BotoCoreError as exc:
                raise self._translate(exc, "TransactWriteItems") from exc

    def _batch_get(self, keys: list[Item]) -> list[Item]:
        items: list[Item] = []
        for chunk in _chunks(keys, READ_CHUNK):
            pending: list[Item] = list(chunk)
            attempt = 0
            while pending:
                self.calls += 1
                request = {self.table_name: {"Keys": pending, "ConsistentRead": True}}
                try:
                    out = self.client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise self._translate(exc, "BatchGetItem") from exc
                items.extend(out.get("Responses", {}).get(self.table_name, []))
                pending = out.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
                if pending:
                    attempt += 1
                    self._backoff(attempt, "UnprocessedKeys")
        return items

    def _translate(self, exc: Exception, operation: str) -> LeadsyncError:
        message = f"DynamoDB {operation} on {self.table_name} failed"
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            message = f"{message}: {code}"
            return RetryableError(message) if code in RETRYABLE_CODES else LeadsyncError(message)
        return RetryableError(f"{message}: {exc}")

    def _query(self, pair_id: str, prefix: str) -> Iterator[Item]:
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": {":pk": {"S": pair_pk(pair_id)}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        if self.page_size:
            kwargs["Limit"] = self.page_size
        while True:
            out = self._call("query", **kwargs)
            yield from out.get("Items", [])
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    @staticmethod
    def _key(pair_id: str, sk: str) -> Item:
        return {PARTITION_KEY: {"S": pair_pk(pair_id)}, SORT_KEY: {"S": sk}}

    # --- lease and META -------------------------------------------------------------------------

    def acquire(self, pair_id: str, owner: str, now: datetime, ttl_seconds: int) -> PairMeta:
        """Take the lease in one conditional UpdateItem (creating META on first use)."""
        now_s = _epoch(now)
        try:
            out = self._call(
                "update_item",
                Key=self._key(pair_id, META_SK),
                UpdateExpression=(
                    "SET lease_owner = :me, lease_expires = :exp, version = if_not_exists(version, :zero),"
                    " cursors = if_not_exists(cursors, :empty), last_run = if_not_exists(last_run, :empty)"
                ),
                ConditionExpression=("attribute_not_exists(lease_owner) OR lease_expires <= :now OR lease_owner = :me"),
                ExpressionAttributeValues={
                    ":me": {"S": owner},
                    ":exp": {"N": str(math.ceil(now_s + ttl_seconds))},
                    ":now": {"N": f"{now_s:.3f}"},
                    ":zero": {"N": "0"},
                    ":empty": {"M": {}},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            old = exc.response.get("Item", {})
            holder = decode(old["lease_owner"]) if "lease_owner" in old else "another owner"
            expires = decode(old["lease_expires"]) if "lease_expires" in old else None
            until = datetime.fromtimestamp(expires, UTC).isoformat() if expires is not None else "unknown"
            raise LeaseHeld(f"pair {pair_id} is leased by {holder} until {until}") from exc
        return _meta_from_item(out["Attributes"])

    def commit(self, pair_id: str, owner: str, meta: PairMeta, *, release: bool = True) -> PairMeta:
        """Write META in one UpdateItem conditioned on the version and our lease.

        The write is not idempotent: when its answer is lost (a read timeout) botocore sends it again
        and the resend finds our own write. A token per call tells that apart from another run's commit.
        """
        update = (
            "SET version = version + :one, cursors = :cursors, last_full_sweep = :sweep, last_run = :run,"
            " seen = :seen, pending = :pending, backlog = :backlog, sides = :sides, link_count = :link_count,"
            " commit_token = :token"
        )
        token = uuid.uuid4().hex  # one per call: botocore's own resend of this request carries the same
        if release:
            update += " REMOVE lease_owner, lease_expires"
        try:
            out = self._call(
                "update_item",
                Key=self._key(pair_id, META_SK),
                UpdateExpression=update,
                ConditionExpression="version = :expected AND lease_owner = :me",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":expected": {"N": str(meta.version)},
                    ":me": {"S": owner},
                    ":token": {"S": token},
                    ":cursors": encode(dict(meta.cursors)),
                    ":sweep": encode(meta.last_full_sweep),
                    ":run": encode(dict(meta.last_run)),
                    ":seen": encode({side: dict(v) for side, v in meta.seen.items()}),
                    ":pending": encode({side: list(v) for side, v in meta.pending.items()}),
                    ":backlog": encode(list(meta.backlog)),
                    ":sides": encode(dict(meta.sides)),
                    ":link_count": encode(int(meta.link_count)),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            old = exc.response.get("Item", {})
            version = decode(old["version"]) if "version" in old else None
            if _own_commit_landed(old, token, meta.version):
                logger.info("META commit answered lost and sent again: our first attempt had landed")
                return _meta_from_item(old)
            holder = decode(old["lease_owner"]) if "lease_owner" in old else None
            raise StaleState(
                f"pair {pair_id}: cannot commit version {meta.version} as {owner}"
                f" (stored version {version}, lease holder {holder})"
            ) from exc
        return _meta_from_item(out["Attributes"])

    def release(self, pair_id: str, owner: str) -> None:
        """Remove the lease if ``owner`` holds it."""
        try:
            self._call(
                "update_item",
                Key=self._key(pair_id, META_SK),
                UpdateExpression="REMOVE lease_owner, lease_expires",
                ConditionExpression="lease_owner = :me",
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ClientError:
            return  # not ours (or no META): nothing to release

    # --- links ----------------------------------------------------------------------------------

    def links_by_lead(self, pair_id: str, lead_ids: Iterable[str]) -> dict[str, Link]:
        keys = [self._key(pair_id, LEAD_PREFIX + lead) for lead in dict.fromkeys(lead_ids)]
        links = (_link_from_item(item) for item in self._batch_get(keys))
        return {link.lead_id: link for link in links}

    def links_by_card(self, pair_id: str, card_ids: Iterable[str]) -> dict[str, Link]:
        """Follow each CARD# pointer to its LEAD# item; a pointer the lead no longer confirms is ignored."""
        keys = [self._key(pair_id, CARD_PREFIX + card) for card in dict.fromkeys(card_ids)]
        pointers = {decode(i["card_id"]): decode(i["lead_id"]) for i in self._batch_get(keys)}
        leads = self.links_by_lead(pair_id, pointers.values())
        return {card: leads[lead] for card, lead in pointers.items() if lead in leads and leads[lead].card_id == card}

    def all_links(self, pair_id: str) -> list[Link]:
        return [_link_from_item(item) for item in self._query(pair_id, LEAD_PREFIX)]

    def put_links(self, pair_id: str, links: Iterable[Link], *, fence: Fence | None = None) -> None:
        """Write each link's LEAD# item and CARD# pointer (the last of duplicates wins)."""
        items: dict[str, Item] = {}
        for link in links:
            items[LEAD_PREFIX + link.lead_id] = {
                "lead_id": {"S": link.lead_id},
                "card_id": {"S": link.card_id},
                "base": encode(dict(link.base)),
                "detached": {"BOOL": link.detached},
            }
            items[CARD_PREFIX + link.card_id] = {
                "card_id": {"S": link.card_id},
                "lead_id": {"S": link.lead_id},
            }
        puts = [{"Put": {"Item": {**self._key(pair_id, sk), **item}}} for sk, item in items.items()]
        self._write(pair_id, puts, fence)

    def delete_links(self, pair_id: str, links: Iterable[Link], *, fence: Fence | None = None) -> None:
        """Delete each link's LEAD# item and CARD# pointer (unconditionally, as named by the link)."""
        sks: dict[str, None] = {}
        for link in links:
            sks[LEAD_PREFIX + link.lead_id] = None
            sks[CARD_PREFIX + link.card_id] = None
        self._write(pair_id, [{"Delete": {"Key": self._key(pair_id, sk)}} for sk in sks], fence)

    # --- intents --------------------------------------------------------------------------------

    def put_intent(self, pair_id: str, intent: Intent, *, fence: Fence | None = None) -> None:
        """Store the intent; DynamoDB's TTL removes it if it is never resolved."""
        expires = math.ceil(_epoch(intent.created_at) + self.intent_ttl.total_seconds())
        item = {
            **self._key(pair_id, INTENT_PREFIX + intent.token),
            "token": {"S": intent.token},
            "side": {"S": intent.side.value},
            "source_id": {"S": intent.source_id},
            "created_at": {"S": intent.created_at.isoformat()},
            TTL_ATTRIBUTE: {"N": str(expires)},
        }
        self._write(pair_id, [{"Put": {"Item": item}}], fence)

    def intents(self, pair_id: str) -> list[Intent]:
        """Every stored intent (TTL deletion is lazy: an expired one may still be listed)."""
        return [
            Intent(
                token=decode(item["token"]),
                side=Side(decode(item["side"])),
                source_id=decode(item["source_id"]),
                created_at=datetime.fromisoformat(decode(item["created_at"])),
            )
            for item in self._query(pair_id, INTENT_PREFIX)
        ]

    def delete_intent(self, pair_id: str, token: str, *, fence: Fence | None = None) -> None:
        self._write(pair_id, [{"Delete": {"Key": self._key(pair_id, INTENT_PREFIX + token)}}], fence)

    # --- backlog --------------------------------------------------------------------------------

    def put_backlog(self, pair_id: str, seq: int, entries: list[dict[str, Any]], *, fence: Fence | None = None) -> None:
        body = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
        item = {**self._key(pair_id, f"{BACKLOG_PREFIX}{seq:08d}"), "entries": {"S": body}}
        self._write(pair_id, [{"Put": {"Item": item}}], fence)

    def backlog(self, pair_id: str, seq: int) -> list[dict[str, Any]]:
        out = self._call("get_item", Key=self._key(pair_id, f"{BACKLOG_PREFIX}{seq:08d}"), ConsistentRead=True)
        item = out.get("Item")
        return list(json.loads(item["entries"]["S"])) if item else []

    def delete_backlog(self, pair_id: str, seqs: Iterable[int]) -> None:
        keys = [self._key(pair_id, f"{BACKLOG_PREFIX}{seq:08d}") for seq in dict.fromkeys(seqs)]
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])

    # --- activity history -----------------------------------------------------------------------

    def put_activity(self, pair_id: str, items: Sequence[Activity], retention: timedelta) -> None:
        """Write each activity under ACT# (by time) and REC# (by each of its records), with a TTL."""
        requests = []
        for activity in items:
            stamp, uid = time_key(activity.at), uuid.uuid4().hex[:12]
            body = {k: encode(v) for k, v in activity.to_dict().items() if v is not None}
            body[TTL_ATTRIBUTE] = {"N": str(math.ceil(_epoch(activity.at) + retention.total_seconds()))}
            sks = [f"{ACTIVITY_PREFIX}{stamp}#{uid}"]
            sks += [f"{RECORD_PREFIX}{record}#{stamp}#{uid}" for record in dict.fromkeys(activity.records())]
            requests += [{"PutRequest": {"Item": {**self._key(pair_id, sk), **body}}} for sk in sks]
        self._batch_write(requests)

    def activity(
        self, pair_id: str, now: datetime, *, record: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[Activity]:
        """Newest first, one Query (paged) on ACT# or on the record's REC# items; expired ones skipped
        (DynamoDB's TTL deletes lazily)."""
        prefix = ACTIVITY_PREFIX if record is None else f"{RECORD_PREFIX}{record}#"
        low = prefix + (time_key(since) if since is not None else "")
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": pair_pk(pair_id)},
                ":low": {"S": low},
                ":high": {"S": prefix + "~"},  # after every time key ("~" sorts after digits)
            },
            "ScanIndexForward": False,
        }
        if self.page_size:
            kwargs["Limit"] = self.page_size
        now_s = _epoch(now)
        found: list[Activity] = []
        while len(found) < limit:
            out = self._call("query", **kwargs)
            for item in out.get("Items", []):
                if TTL_ATTRIBUTE in item and decode(item[TTL_ATTRIBUTE]) <= now_s:
                    continue
                data = {k: decode(v) for k, v in item.items() if k not in (PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE)}
                found.append(Activity.from_dict(data))
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return found[:limit]

    # --- deletions waiting for approval ---------------------------------------------------------

    def put_pending(self, pair_id: str, items: Sequence[PendingDeletion]) -> None:
        """One conditional PutItem each: a deletion already waiting keeps its first record."""
        for p in items:
            item = {
                **self._key(pair_id, PENDING_PREFIX + p.id),
                "id": {"S": p.id},
                "created_at": {"S": p.created_at.isoformat()},
                "body": {"S": p.to_json()},
            }
            try:
                self._call(
                    "put_item",
                    Item=item,
                    ConditionExpression="attribute_not_exists(#sk)",
                    ExpressionAttributeNames={"#sk": SORT_KEY},
                )
            except ClientError:  # already waiting (the only error _call lets through as is)
                continue

    def pending(self, pair_id: str) -> list[PendingDeletion]:
        items = [PendingDeletion.from_dict(json.loads(i["body"]["S"])) for i in self._query(pair_id, PENDING_PREFIX)]
        return sorted(items, key=lambda p: (p.created_at, p.id))

    def delete_pending(self, pair_id: str, ids: Iterable[str]) -> None:
        keys = [self._key(pair_id, PENDING_PREFIX + i) for i in dict.fromkeys(ids)]
        self._batch_write([{"DeleteRequest": {"Key": key}} for key in keys])


def _as_batch_request(request: dict[str, Any]) -> dict[str, Any]:
    """A transaction item ({"Put": {"Item"}} / {"Delete": {"Key"}}) as a BatchWriteItem request."""
    if "Put" in request:
        return {"PutRequest": {"Item": request["Put"]["Item"]}}
    return {"DeleteRequest": {"Key": request["Delete"]["Key"]}}


def _own_commit_landed(item: Item, token: str, expected: int) -> bool:
    """A refused META commit whose first attempt had in fact landed (its answer lost, botocore sent
    the same request again): the stored item is one version on and was written by this very call."""
    stored = decode(item["commit_token"]) if "commit_token" in item else None
    version = decode(item["version"]) if "version" in item else None
    return stored == token and version == expected + 1


def _meta_from_item(item: Item) -> PairMeta:
    sweep = decode(item["last_full_sweep"]) if "last_full_sweep" in item else None
    return PairMeta(
        version=decode(item.get("version", {"N": "0"})),
        cursors=decode(item.get("cursors", {"M": {}})),
        last_full_sweep=sweep,
        last_run=decode(item.get("last_run", {"M": {}})),
        seen=decode(item.get("seen", {"M": {}})),
        pending=decode(item.get("pending", {"M": {}})),
        backlog=[int(x) for x in decode(item.get("backlog", {"L": []}))],
        sides=decode(item.get("sides", {"M": {}})),
        link_count=int(decode(item.get("link_count", {"N": "0"}))),
    )


def _link_from_item(item: Item) -> Link:
    base: Fields = decode(item.get("base", {"M": {}}))
    detached = bool(decode(item.get("detached", {"BOOL": False})))
    return Link(lead_id=decode(item["lead_id"]), card_id=decode(item["card_id"]), base=base, detached=detached)
