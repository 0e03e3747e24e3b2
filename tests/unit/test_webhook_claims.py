"""The one primitive under the pending-hint gate and the replay guard: a key claimed with a TTL and
released, the same in memory and in the state table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from leadsync.state.table import create_table
from leadsync.webhooks.hints import (
    GATE_SECONDS,
    REPLAY_TTL_SECONDS,
    Claims,
    DynamoClaims,
    MemoryClaims,
    gate_for,
    gate_item,
    replay_guard_for,
    replay_item,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def dynamodb() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_table(client, "state")
        yield client


@pytest.fixture(params=["memory", "dynamodb"])
def claims(request: pytest.FixtureRequest) -> Claims:
    if request.param == "memory":
        return MemoryClaims(60)
    return DynamoClaims(request.getfixturevalue("dynamodb"), "state", gate_item, 60)


def test_a_key_is_claimed_once_until_released_or_expired(claims: Claims) -> None:
    assert claims.claim("p1", NOW) is True
    assert claims.claim("p1", NOW + timedelta(seconds=59)) is False  # held
    assert claims.claim("p2", NOW) is True  # another key is independent
    claims.release("p1")
    assert claims.claim("p1", NOW + timedelta(seconds=1)) is True  # released: claimable again
    assert claims.claim("p1", NOW + timedelta(seconds=62)) is True  # expired (DynamoDB's TTL may lag)
    claims.release("never-claimed")  # releasing nothing is harmless


def test_the_gate_and_the_replay_guard_are_claims_on_their_own_items(dynamodb: object) -> None:
    gate, replays = gate_for("state", dynamodb), replay_guard_for("state", dynamodb)
    assert gate.open("p1", NOW) is True
    assert replays.claim("p1", NOW) is True  # the same text as an event key is another item
    assert gate.open("p1", NOW + timedelta(seconds=GATE_SECONDS - 1)) is False
    assert gate.open("p1", NOW + timedelta(seconds=GATE_SECONDS + 1)) is True
    assert replays.claim("p1", NOW + timedelta(seconds=REPLAY_TTL_SECONDS - 1)) is False
    assert gate_item("p1") != replay_item("p1")
    assert "abc" not in str(replay_item("trello:abc"))  # event keys are stored hashed
