"""The transformed stack: schedule, function, state table and failure path are wired as the design says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.infrastructure.stack import CODE_URI, ROOT, of_type

Resources = dict[str, dict[str, Any]]


def _function(resources: Resources) -> dict[str, Any]:
    functions = of_type(resources, "AWS::Lambda::Function")
    assert list(functions) == ["SyncFunction"]
    return functions["SyncFunction"]["Properties"]


def test_one_rule_runs_the_sync_function_every_minute(resources: Resources) -> None:
    rules = of_type(resources, "AWS::Events::Rule")

    assert len(rules) == 1
    (rule,) = rules.values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["SyncFunction", "Arn"]}


def test_rule_may_invoke_the_function_and_nothing_else_may(resources: Resources) -> None:
    (permission,) = of_type(resources, "AWS::Lambda::Permission").values()
    props = permission["Properties"]

    assert props["Principal"] == "events.amazonaws.com"
    assert props["Action"] == "lambda:InvokeFunction"
    assert props["SourceArn"] == {"Fn::GetAtt": ["SyncFunctionEveryMinute", "Arn"]}


def test_stale_ticks_are_not_retried_for_hours(resources: Resources) -> None:
    (target,) = resources["SyncFunctionEveryMinute"]["Properties"]["Targets"]

    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 120
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def test_function_runtime_handler_and_limits_fit_a_one_minute_schedule(
    resources: Resources, template: dict[str, Any]
) -> None:
    props = _function(resources)

    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["Handler"] == "handlers.scheduled_sync.handler"
    assert props["Code"] == {"S3Bucket": "leadsync-artifacts", "S3Key": "sync.zip"}, CODE_URI
    assert props["Timeout"] == {"Ref": "FunctionTimeoutSeconds"}
    timeout = template["Parameters"]["FunctionTimeoutSeconds"]
    assert 30 <= timeout["Default"] < 60, "by default a cycle ends before the next minute's run"
    assert timeout["MaxValue"] <= 900, "Lambda's maximum, and the longest lease the engine takes"
    assert props["MemorySize"] >= 256
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "SyncLogGroup"}}


def test_handler_named_in_template_exists_under_code_uri(template: dict[str, Any]) -> None:
    props = template["Resources"]["SyncFunction"]["Properties"]
    module, _, attribute = props["Handler"].rpartition(".")
    source = ROOT / props["CodeUri"] / Path(*module.split(".")).with_suffix(".py")

    assert source.is_file(), f"{source} is missing"
    text = source.read_text(encoding="utf-8")
    assert f"def {attribute}(" in text or f"{attribute} =" in text


def test_function_environment_carries_the_contract(resources: Resources) -> None:
    env = _function(resources)["Environment"]["Variables"]

    assert env["LEADSYNC_TABLE"] == {"Ref": "StateTable"}
    assert env["LEADSYNC_CONFIG_PARAMETER"] == {"Ref": "ConfigParameterName"}
    assert env["LEADSYNC_SECRET_ARN"] == {"Ref": "CredentialsSecretArn"}
    assert env["POWERTOOLS_SERVICE_NAME"] == "leadsync"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Leadsync"
    assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    for system in ("NOTION", "TRELLO", "AIRTABLE", "SHEETS"):
        assert f"LEADSYNC_{system}_BASE_URL" in env


def test_base_url_parameters_default_to_the_real_apis(template: dict[str, Any]) -> None:
    params = template["Parameters"]

    assert params["NotionBaseUrl"]["Default"] == "https://api.notion.com"
    assert params["TrelloBaseUrl"]["Default"] == "https://api.trello.com/1"
    assert params["AirtableBaseUrl"]["Default"] == "https://api.airtable.com"
    assert params["SheetsBaseUrl"]["Default"] == "https://sheets.googleapis.com"
    assert params["GoogleTokenUri"]["Default"] == "https://oauth2.googleapis.com/token"


def test_state_table_is_on_demand_recoverable_expiring_and_kept(resources: Resources) -> None:
    table = resources["StateTable"]
    props = table["Properties"]

    assert table["Type"] == "AWS::DynamoDB::Table"
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {
        ("PK", "S"),
        ("SK", "S"),
    }
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_failed_runs_go_to_an_encrypted_two_week_queue(resources: Resources) -> None:
    queue = resources["DeadLetterQueue"]["Properties"]
    (invoke_config,) = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    config = invoke_config["Properties"]

    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue
    assert config["FunctionName"] == {"Ref": "SyncFunction"}
    assert config["MaximumRetryAttempts"] == 0
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def test_only_the_schedule_rule_may_send_to_the_queue_over_tls(resources: Resources) -> None:
    (policy,) = of_type(resources, "AWS::SQS::QueuePolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    denies = [s for s in statements if s["Effect"] == "Deny"]

    assert len(allows) == 1
    assert allows[0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert allows[0]["Action"] == "sqs:SendMessage"
    assert allows[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["SyncFunctionEveryMinute", "Arn"]}
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_outputs_name_everything_an_operator_needs(transformed: dict[str, Any]) -> None:
    outputs = transformed["Outputs"]

    for name in (
        "SyncFunctionName",
        "SyncFunctionArn",
        "StateTableName",
        "DeadLetterQueueUrl",
        "DashboardUrl",
        "LogGroupName",
    ):
        assert name in outputs, name
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": "DeadLetterQueue"}
    assert "#dashboards:name=${Dashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]
