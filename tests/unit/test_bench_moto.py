"""The bench's moto tuning (infra/bench_moto.py): no model object kept alive by moto's tracker, no
whole-table copy per transaction, and transactions still all-or-nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.common_models import BaseModel
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoResult

import bench_moto
from bench_moto import tune_moto
from leadsync.state.table import create_table

TABLE = "bench-moto"


@pytest.fixture
def tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    """tune_moto for this test only: every patched attribute is put back afterwards."""
    monkeypatch.setattr(BaseModel, "__new__", BaseModel.__dict__["__new__"])
    monkeypatch.setattr(dynamodb_models, "copy", dynamodb_models.copy)
    backend = dynamodb_models.DynamoDBBackend
    monkeypatch.setattr(backend, "transact_write_items", backend.transact_write_items)
    monkeypatch.setattr(DynamoResult, "execute_result", DynamoResult.execute_result)
    tune_moto()


@pytest.fixture
def client(tuned: None) -> Iterator[Any]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-west-1")
        create_table(ddb, TABLE)
        yield ddb


def _key(sk: str) -> dict[str, Any]:
    return {"PK": {"S": "PAIR#p"}, "SK": {"S": sk}}


def _put(sk: str, **attrs: str) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {**_key(sk), **{k: {"S": v} for k, v in attrs.items()}}}}


def _get(ddb: Any, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=TABLE, Key=_key(sk)).get("Item")
    return item


def test_model_objects_are_no_longer_tracked(tuned: None) -> None:
    before = len(Item.instances_tracked)  # type: ignore[attr-defined]
    item = Item(DynamoType({"S": "h"}), None, {"PK": {"S": "h"}})
    copy.deepcopy(item)
    assert len(Item.instances_tracked) == before  # type: ignore[attr-defined]


def test_a_transaction_never_copies_the_table(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client.put_item(TableName=TABLE, Item={**_key("LINK#1"), "v": {"S": "1"}})

    def refuse(self: Table, memo: Any) -> Table:
        raise AssertionError("the whole table was deep-copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    client.transact_write_items(TransactItems=[_put(f"LINK#{i}", v="2") for i in range(2, 40)])
    assert _get(client, "LINK#39") is not None


def test_a_cancelled_transaction_leaves_every_item_as_it_was(client: Any) -> None:
    client.put_item(TableName=TABLE, Item={**_key("META"), "lease": {"S": "me"}})
    client.put_item(TableName=TABLE, Item={**_key("LINK#1"), "v": {"S": "old"}})
    client.put_item(TableName=TABLE, Item={**_key("LINK#3"), "v": {"S": "old"}})
    items = [
        _put("LINK#1", v="new"),  # an existing item replaced
        _put("LINK#2", v="new"),  # a new item
        {
            "Update": {
                "TableName": TABLE,
                "Key": _key("LINK#3"),
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"S": "new"}},  # an item changed in place
            }
        },
        {
            "ConditionCheck": {  # fails: the lease is held by someone else
                "TableName": TABLE,
                "Key": _key("META"),
                "ConditionExpression": "lease = :me",
                "ExpressionAttributeValues": {":me": {"S": "other"}},
            }
        },
    ]
    with pytest.raises(client.exceptions.TransactionCanceledException) as caught:
        client.transact_write_items(TransactItems=items)

    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _get(client, "LINK#1") == {**_key("LINK#1"), "v": {"S": "old"}}
    assert _get(client, "LINK#2") is None
    assert _get(client, "LINK#3") == {**_key("LINK#3"), "v": {"S": "old"}}
    assert _get(client, "META") == {**_key("META"), "lease": {"S": "me"}}


def test_a_transaction_that_passes_applies_every_write(client: Any) -> None:
    client.put_item(TableName=TABLE, Item={**_key("META"), "lease": {"S": "me"}})
    client.transact_write_items(
        TransactItems=[
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": _key("META"),
                    "ConditionExpression": "lease = :me",
                    "ExpressionAttributeValues": {":me": {"S": "me"}},
                }
            },
            _put("LINK#1", v="a"),
            {"Delete": {"TableName": TABLE, "Key": _key("LINK#0")}},
        ]
    )
    assert _get(client, "LINK#1") == {**_key("LINK#1"), "v": {"S": "a"}}


def _query(ddb: Any, **extra: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ddb.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
        ExpressionAttributeValues={":pk": {"S": "PAIR#p"}, ":prefix": {"S": "LINK#"}},
        **extra,
    )
    answer.pop("ResponseMetadata")
    return answer


def test_query_answers_are_the_same_as_moto_s_own(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    every_type = {
        "s": {"S": "text é"},
        "n": {"N": "12.5"},
        "yes": {"BOOL": True},
        "none": {"NULL": True},
        "list": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"k": {"S": "v"}}}]},
        "strings": {"SS": ["x", "y"]},
        "numbers": {"NS": ["1", "2"]},
    }
    for i in range(3):
        client.put_item(TableName=TABLE, Item={**_key(f"LINK#{i}"), **every_type})
    client.put_item(TableName=TABLE, Item={**_key("LINK#bin"), "b": {"B": b"\x00\xff"}})  # moto's path whole
    fast: list[bytes | str] = []  # the fast path reads moto's answer for the rest once

    def loads(body: bytes | str) -> Any:
        fast.append(body)
        return json.loads(body)

    monkeypatch.setattr(bench_moto, "json", SimpleNamespace(loads=loads, dumps=json.dumps))
    tuned = [_query(client), _query(client, Limit=2), _query(client, Select="COUNT")]
    assert len(fast) == 1, "only the page without a binary value (Limit=2) takes the fast path"
    monkeypatch.setattr(DynamoResult, "execute_result", getattr(DynamoResult.execute_result, "original"))  # noqa: B009
    assert [_query(client), _query(client, Limit=2), _query(client, Select="COUNT")] == tuned
    assert tuned[0]["Count"] == 4
    assert tuned[1]["LastEvaluatedKey"] == _key("LINK#1")


def test_tuning_twice_wraps_the_transaction_once(tuned: None) -> None:
    wrapped = dynamodb_models.DynamoDBBackend.transact_write_items, DynamoResult.execute_result
    tune_moto()
    assert (dynamodb_models.DynamoDBBackend.transact_write_items, DynamoResult.execute_result) == wrapped
