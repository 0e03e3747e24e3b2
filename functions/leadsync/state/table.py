"""The DynamoDB state table as data: the one definition the SAM template, tests and tools follow.

Items (one partition per pair):

- ``PK=PAIR#<pair>, SK=META``: version, cursors, last_full_sweep, last_run, lease_owner, lease_expires
- ``PK=PAIR#<pair>, SK=LEAD#<lead id>``: lead_id, card_id, base (the link and its base snapshot)
- ``PK=PAIR#<pair>, SK=CARD#<card id>``: card_id, lead_id (pointer back to the lead item)
- ``PK=PAIR#<pair>, SK=INTENT#<token>``: token, side, source_id, created_at, expires_at (TTL)
- ``PK=PAIR#<pair>, SK=ACT#<time>#<uid>``: one activity of the history (``leadsync.core.history``),
  by time; ``SK=REC#<record id>#<time>#<uid>``: the same activity again under each of its records
  (lead id and card id), so "what happened to this card" is one Query. Both carry ``expires_at``
  (TTL: the pair's ``history_days`` after the activity).
- ``PK=PAIR#<pair>, SK=PENDING#<id>``: a deletion waiting for approval (``leadsync.core.approvals``):
  id, created_at, body (JSON: the record to archive, the gone record, the link to drop, why).
- ``PK=PAIR#<pair>, SK=HINT``: expires_at (TTL): a webhook hint is pending for the pair (``leadsync.webhooks.hints``)
- ``PK=WEBHOOK#<sha256 of an event key>, SK=SEEN``: expires_at (TTL): a webhook event already received
- ``PK=BUDGET#<system>#<credential key>, SK=BUCKET``: the rate budget every worker of one credential
  shares (``leadsync.state.budget``): tat, paused_until, granted, rate, burst, expires_at (TTL, 30 days
  after the last grant). The key is ``ratelimit.credential_key`` (a hash), never the credential.

Intents, activities and budgets carry the TTL attribute; leases expire by a condition on ``lease_expires``,
never by TTL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PARTITION_KEY = "PK"
SORT_KEY = "SK"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds (Number)
BILLING_MODE = "PAY_PER_REQUEST"
# DynamoDB error codes worth retrying (throttling and transient server errors), for every client of the table.
RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)

KEY_SCHEMA: list[dict[str, str]] = [
    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS: list[dict[str, str]] = [
    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": SORT_KEY, "AttributeType": "S"},
]

META_SK = "META"
LEAD_PREFIX = "LEAD#"
CARD_PREFIX = "CARD#"
INTENT_PREFIX = "INTENT#"
BACKLOG_PREFIX = "BACKLOG#"
ACTIVITY_PREFIX = "ACT#"
RECORD_PREFIX = "REC#"
PENDING_PREFIX = "PENDING#"
BUDGET_PREFIX = "BUDGET#"
BUDGET_SK = "BUCKET"


def pair_pk(pair_id: str) -> str:
    """The partition key of a pair."""
    return f"PAIR#{pair_id}"


def time_key(at: datetime) -> str:
    """A UTC time that sorts as text in a sort key (microseconds, fixed width)."""
    utc = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def budget_pk(system: str, key: str) -> str:
    """The partition key of a credential's rate budget (``key``: the credential's hash)."""
    return f"{BUDGET_PREFIX}{system}#{key}"


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments of ``CreateTable`` for the state table."""
    return {
        "TableName": table_name,
        "KeySchema": [dict(k) for k in KEY_SCHEMA],
        "AttributeDefinitions": [dict(a) for a in ATTRIBUTE_DEFINITIONS],
        "BillingMode": BILLING_MODE,
    }


def create_table(client: Any, table_name: str, *, exist_ok: bool = False) -> bool:
    """Create the state table with a low-level DynamoDB client, wait for it, and enable TTL.

    Returns False (and changes nothing) when the table exists and ``exist_ok``; local tools use
    that against a moto server that outlives one run.
    """
    try:
        client.create_table(**table_definition(table_name))
    except client.exceptions.ResourceInUseException:
        if exist_ok:
            return False
        raise
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1})
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    return True
