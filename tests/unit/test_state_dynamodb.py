"""DynamoStateStore details the contract suite cannot see: item layout, batching, retries, errors, cost."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from leadsync.core.models import Intent, Link, PairMeta, Side
from leadsync.errors import LeadsyncError, RetryableError, StaleState
from leadsync.state.dynamodb import MAX_BATCH_ATTEMPTS, DynamoStateStore, decode, encode
from leadsync.state.table import create_table

TABLE = "leadsync-state"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb, TABLE)
        yield dynamodb


def raw_item(client: Any, pk: str, sk: str) -> dict[str, Any]:
    return client.get_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item", {})


def links(n: int) -> list[Link]:
    return [Link(f"lead-{i:03d}", f"card-{i:03d}", {"name": f"N{i}", "email": None}) for i in range(n)]


# --- encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, "", "Zoë ✓", 0, -12, 10**20, 1.5, -2.5e-7, True, False, [1, "a", None], {"a": {"b": [1.0, {}]}}],
)
def test_encode_then_decode_returns_the_same_value_and_type(value: object) -> None:
    decoded = decode(encode(value))

    assert decoded == value
    assert type(decoded) is type(value)


def test_encode_rejects_values_dynamodb_cannot_hold() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        encode(float("nan"))
    with pytest.raises(TypeError, match="datetime"):
        encode(T0)


# --- item layout (the table contract the template, docs and TTL rely on) -----------------------


def test_meta_item_holds_version_cursors_and_lease_and_never_a_ttl(client: Any) -> None:
    store = DynamoStateStore(TABLE, client)
    meta = store.acquire("p1", "owner-a", T0, 60)
    store.commit("p1", "owner-a", replace(meta, cursors={"lead": "c"}), release=False)

    item = raw_item(client, "PAIR#p1", "META")

    assert item["version"] == {"N": "1"}
    assert item["cursors"] == {"M": {"lead": {"S": "c"}}}
    assert item["lease_owner"] == {"S": "owner-a"}
    assert item["lease_expires"] == {"N": str(int(T0.timestamp()) + 60)}
    assert "expires_at" not in item


def test_commit_with_release_removes_the_lease_attributes(client: Any) -> None:
    store = DynamoStateStore(TABLE, client)
    store.commit("p1", "a", store.acquire("p1", "a", T0, 60))

    item = raw_item(client, "PAIR#p1", "META")

    assert "lease_owner" not in item
    assert "lease_expires" not in item


def resend_first_commit(client: Any) -> list[int]:
    """Make botocore send the first META commit again after it landed, as its retry does when the
    answer is lost (a read timeout on a busy endpoint). Returns the HTTP statuses seen, one per send."""
    sent: list[int] = []

    def needs_retry(response: Any, request_dict: dict[str, Any], **_: Any) -> float | None:
        body = request_dict.get("body") or b""
        if b"version = :expected" not in (body if isinstance(body, bytes) else body.encode()):
            return None
        sent.append(response[0].status_code if response and response[0] is not None else 0)
        return 0 if len(sent) == 1 else None  # the first answer is "lost": send it once more

    client.meta.events.register("needs-retry.dynamodb.UpdateItem", needs_retry)
    return sent


def test_a_commit_sent_again_after_it_landed_is_not_refused_by_its_own_first_attempt(client: Any) -> None:
    store = DynamoStateStore(TABLE, client)
    meta = store.acquire("p1", "run-a", T0, 60)
    sent = resend_first_commit(client)

    committed = store.commit("p1", "run-a", replace(meta, cursors={"lead": "c"}))

    assert sent == [200, 400]  # landed, then refused by its own write: version 0 -> 1, lease released
    assert committed.version == 1
    assert committed.cursors == {"lead": "c"}
    item = raw_item(client, "PAIR#p1", "META")
    assert item["version"] == {"N": "1"}
    assert "lease_owner" not in item


def test_a_commit_refused_because_another_run_committed_is_still_stale(client: Any) -> None:
    store = DynamoStateStore(TABLE, client)
    lost = store.acquire("p1", "run-a", T0, 60)
    store.commit("p1", "run-b", store.acquire("p1", "run-b", T0 + timedelta(seconds=61), 60))

    with pytest.raises(StaleState, match=r"cannot commit version 0 as run-a \(stored version 1, lease holder None\)"):
        store.commit("p1", "run-a", lost)


def test_link_is_stored_as_a_lead_item_and_a_card_pointer(client: Any) -> None:
    DynamoStateStore(TABLE, client).put_links("p1", [Link("L1", "C1", {"email": None, "notes": ""})])

    lead = raw_item(client, "PAIR#p1", "LEAD#L1")
    card = raw_item(client, "PAIR#p1", "CARD#C1")

    assert lead["card_id"] == {"S": "C1"}
    assert lead["base"] == {"M": {"email": {"NULL": True}, "notes": {"S": ""}}}
    assert card == {
        "PK": {"S": "PAIR#p1"},
        "SK": {"S": "CARD#C1"},
        "card_id": {"S": "C1"},
        "lead_id": {"S": "L1"},
    }


def test_intent_item_expires_by_ttl_after_the_configured_time(client: Any) -> None:
    store = DynamoStateStore(TABLE, client, intent_ttl=timedelta(hours=2))
    store.put_intent("p1", Intent("tok", Side.CARD, "L1", T0))

    item = raw_item(client, "PAIR#p1", "INTENT#tok")

    assert item["expires_at"] == {"N": str(int(T0.timestamp()) + 7200)}


def test_naive_datetimes_are_taken_as_utc(client: Any) -> None:
    store = DynamoStateStore(TABLE, client)
    store.acquire("p1", "a", T0.replace(tzinfo=None), 60)

    assert raw_item(client, "PAIR#p1", "META")["lease_expires"] == {"N": str(int(T0.timestamp()) + 60)}


# --- cost --------------------------------------------------------------------------------------


def test_a_no_change_cycle_costs_two_requests(client: Any) -> None:
    store = DynamoStateStore(TABLE, client)

    meta = store.acquire("p1", "a", T0, 60)
    store.commit("p1", "a", meta)

    assert store.calls == 2


def test_link_reads_and_writes_are_batched_at_dynamodb_limits(client: Any) -> None:
    store = DynamoStateStore(TABLE, client)
    data = links(150)  # 300 items

    store.put_links("p1", data)
    assert store.calls == 12  # ceil(300 / 25)

    store.calls = 0
    store.links_by_lead("p1", [link.lead_id for link in data])
    assert store.calls == 2  # ceil(150 / 100)

    store.calls = 0
    store.links_by_card("p1", [link.card_id for link in data])
    assert store.calls == 4  # pointers, then the lead items


def test_all_links_follows_query_pages(client: Any) -> None:
    DynamoStateStore(TABLE, client).put_links("p1", links(45))
    paged = DynamoStateStore(TABLE, client, page_size=10)
    unpaged = DynamoStateStore(TABLE, client)

    assert len(paged.all_links("p1")) == 45
    assert paged.calls >= 5
    assert len(unpaged.all_links("p1")) == 45
    assert unpaged.calls == 1


# --- partial batches ---------------------------------------------------------------------------


class PartialBatches:
    """A client proxy that makes DynamoDB leave part of each batch unprocessed ``times`` times."""

    def __init__(self, client: Any, times: int) -> None:
        self._client = client
        self.times = times
        self.batch_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803
        self.batch_calls += 1
        requests = RequestItems[TABLE]
        if self.times == 0 or len(requests) < 2:
            return self._client.batch_write_item(RequestItems=RequestItems)
        self.times -= 1
        half = len(requests) // 2
        self._client.batch_write_item(RequestItems={TABLE: requests[:half]})
        return {"UnprocessedItems": {TABLE: requests[half:]}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.batch_calls += 1
        request = RequestItems[TABLE]
        keys = request["Keys"]
        if self.times == 0 or len(keys) < 2:
            return self._client.batch_get_item(RequestItems=RequestItems)
        self.times -= 1
        half = len(keys) // 2
        out = self._client.batch_get_item(RequestItems={TABLE: {**request, "Keys": keys[:half]}})
        return {"Responses": out["Responses"], "UnprocessedKeys": {TABLE: {**request, "Keys": keys[half:]}}}


def test_unprocessed_items_and_keys_are_retried_with_backoff_until_done(client: Any) -> None:
    proxy = PartialBatches(client, times=3)
    sleeps: list[float] = []
    store = DynamoStateStore(TABLE, proxy, sleep=sleeps.append)
    data = links(20)  # 40 items: 2 write chunks

    store.put_links("p1", data)
    proxy.times = 3
    found = store.links_by_lead("p1", [link.lead_id for link in data])

    assert found == {link.lead_id: link for link in data}
    assert len(sleeps) == 6
    assert sleeps[:3] == sorted(sleeps[:3])  # backoff grows
    assert store.calls == proxy.batch_calls


def test_items_left_unprocessed_for_too_long_raise_retryable_error(client: Any) -> None:
    class NothingProcessed(PartialBatches):
        def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:  # noqa: N803
            return {"UnprocessedItems": RequestItems}

    store = DynamoStateStore(TABLE, NothingProcessed(client, times=0), sleep=lambda _: None)

    with pytest.raises(RetryableError, match="UnprocessedItems"):
        store.put_links("p1", links(5))
    assert store.calls == MAX_BATCH_ATTEMPTS


# --- error translation -------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttling_becomes_retryable_error(client: Any, code: str) -> None:
    store = DynamoStateStore(TABLE, client)
    with Stubber(client) as stub:
        stub.add_client_error("update_item", service_error_code=code, http_status_code=400)

        with pytest.raises(RetryableError, match=code):
            store.acquire("p1", "a", T0, 60)


def test_a_missing_table_is_a_fatal_error_not_a_retryable_one(client: Any) -> None:
    store = DynamoStateStore("no-such-table", client)

    with pytest.raises(LeadsyncError, match="ResourceNotFoundException") as raised:
        store.acquire("p1", "a", T0, 60)
    assert not isinstance(raised.value, RetryableError)


def test_an_unreachable_endpoint_is_a_retryable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    unreachable = boto3.client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 0}, connect_timeout=1),
    )
    store = DynamoStateStore(TABLE, unreachable)

    with pytest.raises(RetryableError):
        store.links_by_lead("p1", ["L1"])
    with pytest.raises(RetryableError):
        store.commit("p1", "a", PairMeta())


def test_default_client_honours_the_dynamodb_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4566")

    store = DynamoStateStore(TABLE)

    assert store.client.meta.endpoint_url == "http://127.0.0.1:4566"
