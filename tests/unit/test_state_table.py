"""The state table definition: what ``create_table`` builds and what the SAM template declares."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from leadsync.state.table import (
    ATTRIBUTE_DEFINITIONS,
    BILLING_MODE,
    KEY_SCHEMA,
    TTL_ATTRIBUTE,
    create_table,
)

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _state_table_properties() -> dict[str, Any]:
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)
    tables = [r for r in template["Resources"].values() if r.get("Type") == "AWS::DynamoDB::Table"]
    assert len(tables) == 1, "the stack has exactly one state table"
    return tables[0]["Properties"]


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        yield boto3.client("dynamodb")


def test_create_table_builds_the_keyed_on_demand_table_with_ttl(client: Any) -> None:
    assert create_table(client, "state") is True

    table = client.describe_table(TableName="state")["Table"]
    ttl = client.describe_time_to_live(TableName="state")["TimeToLiveDescription"]

    assert table["KeySchema"] == KEY_SCHEMA
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == ATTRIBUTE_DEFINITIONS
    assert table["BillingModeSummary"]["BillingMode"] == BILLING_MODE
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}


def test_create_table_on_an_existing_table_fails_unless_exist_ok(client: Any) -> None:
    create_table(client, "state")

    assert create_table(client, "state", exist_ok=True) is False
    with pytest.raises(client.exceptions.ResourceInUseException):
        create_table(client, "state")


def test_sam_template_declares_the_same_table() -> None:
    props = _state_table_properties()

    assert props["KeySchema"] == KEY_SCHEMA
    assert props["AttributeDefinitions"] == ATTRIBUTE_DEFINITIONS
    assert props["BillingMode"] == BILLING_MODE
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
