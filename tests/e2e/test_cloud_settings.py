"""In the cloud the configuration comes from SSM and the credentials from Secrets Manager (moto here)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from tests.support.e2e import Harness, pair_config

CREDENTIAL_ENV = ("NOTION_TOKEN", "TRELLO_API_KEY", "TRELLO_TOKEN", "AIRTABLE_TOKEN", "GOOGLE_SERVICE_ACCOUNT_FILE")


@pytest.fixture
def cloud(harness: Harness, aws: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Move the harness's configuration to SSM and its credentials to a secret; clear the local ones."""
    import os

    secret: dict[str, Any] = {
        "notion_token": os.environ["NOTION_TOKEN"],
        "trello_key": os.environ["TRELLO_API_KEY"],
        "trello_token": os.environ["TRELLO_TOKEN"],
        "airtable_token": os.environ["AIRTABLE_TOKEN"],
    }
    if os.environ.get("GOOGLE_SERVICE_ACCOUNT_FILE"):
        with open(os.environ["GOOGLE_SERVICE_ACCOUNT_FILE"], encoding="utf-8") as fh:
            secret["google_service_account"] = json.load(fh)
    ssm = boto3.client("ssm", region_name="eu-west-1")
    ssm.put_parameter(
        Name="/leadsync/config",
        Type="String",
        Value=json.dumps(pair_config(harness.leads, harness.board)),
        Overwrite=True,
    )
    arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name=f"leadsync/credentials-{uuid.uuid4().hex}", SecretString=json.dumps(secret)
    )["ARN"]
    monkeypatch.delenv("LEADSYNC_CONFIG_FILE")
    monkeypatch.setenv("LEADSYNC_CONFIG_PARAMETER", "/leadsync/config")
    monkeypatch.setenv("LEADSYNC_SECRET_ARN", arn)
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    parameters.clear_caches()
    return {"secret_arn": arn}


def test_config_from_ssm_and_credentials_from_secrets_manager(harness: Harness, cloud: dict[str, str]) -> None:
    lead = harness.leads.add(name="Cloud Lead", email="cloud@example.com", status="Qualified", source="Web")

    summary = harness.cycle()

    assert summary["status"] == "synced"
    assert harness.board.card_for(lead)["list"] == "Done"


def test_a_missing_credential_in_the_secret_is_named_and_the_pair_fails_cleanly(
    harness: Harness, cloud: dict[str, str]
) -> None:
    boto3.client("secretsmanager", region_name="eu-west-1").put_secret_value(
        SecretId=cloud["secret_arn"], SecretString=json.dumps({"notion_token": "only-notion"})
    )
    parameters.clear_caches()

    result = harness.handler({"id": "evt-1", "source": "aws.events"}, harness.context_factory())

    summary = result["pairs"]["e2e"]
    assert summary["status"] == "failed"
    assert summary["errors"] == 1
