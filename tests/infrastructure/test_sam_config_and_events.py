"""infra/samconfig.toml and the sample events match the template and what AWS really sends."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from datetime import datetime
from typing import Any

from tests.infrastructure.stack import ROOT

EVENTS = ROOT / "infra" / "events"
FUNCTIONS = ("DispatchFunction", "SyncFunction", "WebhookFunction")


def _samconfig() -> dict[str, Any]:
    with (ROOT / "infra" / "samconfig.toml").open("rb") as handle:
        return tomllib.load(handle)


def test_samconfig_deploys_the_leadsync_stack_with_a_changeset_review() -> None:
    config = _samconfig()["default"]
    deploy = config["deploy"]["parameters"]

    assert config["global"]["parameters"]["stack_name"] == "leadsync"
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
    assert "parameter_overrides" not in deploy, "account-specific ARNs belong in a private config env"


def test_samconfig_local_invoke_files_exist() -> None:
    local = _samconfig()["default"]["local_invoke"]["parameters"]

    assert (ROOT / local["event"]).is_file()
    assert (ROOT / local["env_vars"]).is_file()


def test_samconfig_logs_follow_every_function(template: dict[str, Any]) -> None:
    names = _samconfig()["default"]["logs"]["parameters"]["name"]

    assert sorted(names) == sorted(FUNCTIONS)
    assert all(template["Resources"][name]["Type"] == "AWS::Serverless::Function" for name in names)


def test_scheduled_event_has_the_shape_eventbridge_sends() -> None:
    event = json.loads((EVENTS / "scheduled.json").read_text(encoding="utf-8"))

    assert event["version"] == "0"
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {}
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", event["id"])
    assert re.fullmatch(r"\d{12}", event["account"])
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    (rule_arn,) = event["resources"]
    assert re.fullmatch(rf"arn:aws:events:{event['region']}:{event['account']}:rule/[\w.-]+", rule_arn)


def test_pair_event_has_the_shape_lambda_delivers_from_a_fifo_queue() -> None:
    event = json.loads((EVENTS / "sqs-pair.json").read_text(encoding="utf-8"))

    (record,) = event["Records"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", record["messageId"])
    assert len(record["receiptHandle"]) > 100
    assert record["eventSource"] == "aws:sqs"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # what SQS sends
    arn = re.fullmatch(r"arn:aws:sqs:(?P<region>[a-z0-9-]+):\d{12}:[\w-]+\.fifo", record["eventSourceARN"])
    assert arn, record["eventSourceARN"]
    assert record["awsRegion"] == arn["region"]
    body = json.loads(record["body"])
    assert body == {"pair": "notion-trello", "tick": "2025-03-01T12:00:00Z"}
    attributes = record["attributes"]
    assert attributes["MessageGroupId"] == body["pair"], "the dispatcher groups by pair"
    assert attributes["MessageDeduplicationId"] == f"{body['pair']}:{body['tick']}"
    assert attributes["SequenceNumber"].isdigit()
    assert attributes["ApproximateReceiveCount"] == "1"
    for stamp in ("SentTimestamp", "ApproximateFirstReceiveTimestamp"):
        assert attributes[stamp].isdigit(), stamp
        assert len(attributes[stamp]) == 13, stamp  # epoch milliseconds
    assert all(isinstance(value, str) for value in attributes.values()), "Lambda sends every attribute as a string"


def _declared(template: dict[str, Any], function: str) -> set[str]:
    declared = set(template["Globals"]["Function"]["Environment"]["Variables"])
    return declared | set(template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}))


def test_local_env_overrides_only_variables_the_template_declares(template: dict[str, Any]) -> None:
    overrides = json.loads((EVENTS / "env.local.json").read_text(encoding="utf-8"))

    assert sorted(overrides) == sorted(FUNCTIONS)
    # sam local invoke silently drops variables the template does not declare.
    for function in FUNCTIONS:
        assert set(overrides[function]) <= _declared(template, function), function
    for name in ("NOTION", "TRELLO", "AIRTABLE", "SHEETS"):
        assert overrides["SyncFunction"][f"LEADSYNC_{name}_BASE_URL"].startswith("http://host.docker.internal:")


def test_local_env_gives_each_function_what_it_needs(template: dict[str, Any]) -> None:
    overrides = json.loads((EVENTS / "env.local.json").read_text(encoding="utf-8"))
    dispatcher, worker = overrides["DispatchFunction"], overrides["SyncFunction"]

    assert re.fullmatch(
        r"https://sqs\.[a-z0-9-]+\.amazonaws\.com/\d{12}/[\w-]+\.fifo", dispatcher["LEADSYNC_QUEUE_URL"]
    )
    assert dispatcher["LEADSYNC_CONFIG_PARAMETER"] == worker["LEADSYNC_CONFIG_PARAMETER"]
    assert {"LEADSYNC_TABLE", "LEADSYNC_SECRET_ARN", "LEADSYNC_CONFIG_PARAMETER"} <= set(worker)
    assert "LEADSYNC_QUEUE_URL" not in _declared(template, "SyncFunction")
