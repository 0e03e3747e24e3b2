"""The transformed stack: schedule -> dispatcher -> FIFO pair queue -> worker, state table and failure paths
wired as the design says (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.stack import CODE_URI, ROOT, of_type

Resources = dict[str, dict[str, Any]]

FUNCTIONS = {
    "DispatchFunction": "handlers.dispatch.handler",
    "SyncFunction": "handlers.pair_worker.handler",
    "WebhookFunction": "handlers.webhook.handler",
}


def _function(resources: Resources, name: str = "SyncFunction") -> dict[str, Any]:
    functions = of_type(resources, "AWS::Lambda::Function")
    assert sorted(functions) == sorted(FUNCTIONS)
    return functions[name]["Properties"]


# ---------------------------------------------------------------- schedule -> dispatcher


def test_one_rule_runs_the_dispatcher_every_minute(resources: Resources) -> None:
    rules = of_type(resources, "AWS::Events::Rule")

    assert list(rules) == ["DispatchFunctionEveryMinute"]
    rule = rules["DispatchFunctionEveryMinute"]["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == {"Ref": "ScheduleState"}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["DispatchFunction", "Arn"]}


def test_rule_may_invoke_the_dispatcher_and_nothing_may_invoke_the_worker(resources: Resources) -> None:
    permissions = of_type(resources, "AWS::Lambda::Permission").values()
    (permission,) = [p for p in permissions if p["Properties"]["FunctionName"] != {"Ref": "WebhookFunction"}]
    props = permission["Properties"]

    assert props["FunctionName"] == {"Ref": "DispatchFunction"}
    assert props["Principal"] == "events.amazonaws.com"
    assert props["Action"] == "lambda:InvokeFunction"
    assert props["SourceArn"] == {"Fn::GetAtt": ["DispatchFunctionEveryMinute", "Arn"]}


def test_stale_ticks_are_not_retried_for_hours(resources: Resources) -> None:
    (target,) = resources["DispatchFunctionEveryMinute"]["Properties"]["Targets"]

    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 120
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def test_dispatcher_is_small_short_and_knows_the_pair_queue(resources: Resources) -> None:
    props = _function(resources, "DispatchFunction")

    assert props["Handler"] == "handlers.dispatch.handler"
    assert props["Runtime"] == "python3.12"
    assert props["Timeout"] <= 60, "a dispatch ends well before the next tick"
    assert props["MemorySize"] == 256
    assert props["Role"] == {"Fn::GetAtt": ["DispatchFunctionRole", "Arn"]}
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "DispatchLogGroup"}}
    env = props["Environment"]["Variables"]
    assert env["LEADSYNC_QUEUE_URL"] == {"Ref": "PairQueue"}
    assert env["LEADSYNC_CONFIG_PARAMETER"] == {"Ref": "ConfigParameterName"}
    # it syncs nothing: no table, no secret, no API endpoints
    assert not {k for k in env if k.endswith(("_BASE_URL", "_TOKEN_URI"))}
    assert "LEADSYNC_SECRET_ARN" not in env
    assert "LEADSYNC_TABLE" not in env


def test_dispatcher_failures_go_to_the_dead_letter_queue_without_retries(resources: Resources) -> None:
    (invoke_config,) = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    config = invoke_config["Properties"]

    assert config["FunctionName"] == {"Ref": "DispatchFunction"}
    assert config["MaximumRetryAttempts"] == 0
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


# ---------------------------------------------------------------- pair queue


def test_pair_queue_is_fifo_encrypted_and_redrives_to_a_fifo_dead_letter_queue(
    resources: Resources, template: dict[str, Any]
) -> None:
    queue = resources["PairQueue"]["Properties"]
    dlq = resources["PairDeadLetterQueue"]["Properties"]

    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False, "the dispatcher sets MessageDeduplicationId"
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] == {"Ref": "QueueVisibilityTimeoutSeconds"}
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["PairDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "WorkerMaxReceiveCount"},
    }
    assert "QueueName" not in queue, "CloudFormation names a FIFO queue itself (with .fifo), replacements included"
    assert dlq["FifoQueue"] is True, "a FIFO queue's dead-letter queue must be FIFO"
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    params = template["Parameters"]
    retries = params["WorkerMaxReceiveCount"]["Default"] * params["QueueVisibilityTimeoutSeconds"]["Default"]
    assert queue["MessageRetentionPeriod"] > retries, "by default a poison message reaches the DLQ before it expires"


def test_visibility_timeout_default_is_six_times_the_worker_timeout(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    visibility = params["QueueVisibilityTimeoutSeconds"]
    timeout = params["FunctionTimeoutSeconds"]

    assert visibility["Default"] >= 6 * timeout["Default"]
    assert visibility["MinValue"] >= timeout["MinValue"], "the mapping fails to create below the function timeout"
    assert visibility["MaxValue"] == 43200
    assert "fails to create" in visibility["Description"]


@pytest.mark.parametrize(
    ("parameter", "default", "minimum", "maximum"),
    [
        ("WorkerBatchSize", 1, 1, 10),
        ("WorkerMaxConcurrency", 5, 2, 1000),
        ("WorkerMaxReceiveCount", 3, 1, 1000),
        ("QueueVisibilityTimeoutSeconds", 360, 30, 43200),
    ],
)
def test_fan_out_parameters_stay_within_what_aws_accepts(
    template: dict[str, Any], parameter: str, default: int, minimum: int, maximum: int
) -> None:
    param = template["Parameters"][parameter]

    assert param["Type"] == "Number"
    assert (param["Default"], param["MinValue"], param["MaxValue"]) == (default, minimum, maximum)


def test_worker_consumes_the_pair_queue_with_partial_batch_failures_and_a_concurrency_cap(
    resources: Resources,
) -> None:
    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping")

    assert list(mappings) == ["SyncFunctionPairMessages"]
    props = mappings["SyncFunctionPairMessages"]["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["PairQueue", "Arn"]}
    assert props["FunctionName"] == {"Ref": "SyncFunction"}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == {"Ref": "WorkerBatchSize"}
    assert props["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}}
    assert "MaximumBatchingWindowInSeconds" not in props, "FIFO event sources take no batching window"


def test_queue_policies_deny_plain_http(resources: Resources) -> None:
    policies = of_type(resources, "AWS::SQS::QueuePolicy")
    covered = {}
    for policy in policies.values():
        (queue,) = policy["Properties"]["Queues"]
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        deny = [s for s in statements if s["Effect"] == "Deny"]
        assert len(deny) == 1
        assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny[0]["Action"] == "sqs:*"
        covered[queue["Ref"]] = deny[0]["Resource"]

    queues = of_type(resources, "AWS::SQS::Queue")
    assert covered == {name: {"Fn::GetAtt": [name, "Arn"]} for name in queues}


def test_only_the_schedule_rule_may_send_to_the_dead_letter_queue(resources: Resources) -> None:
    statements = resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]

    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["DispatchFunctionEveryMinute", "Arn"]}
    for name in ("PairQueuePolicy", "PairDeadLetterQueuePolicy"):
        document = resources[name]["Properties"]["PolicyDocument"]
        assert [s["Effect"] for s in document["Statement"]] == ["Deny"], name


def test_dead_letter_queue_keeps_two_weeks_encrypted(resources: Resources) -> None:
    queue = resources["DeadLetterQueue"]["Properties"]

    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue.get("SqsManagedSseEnabled") is True
    assert "FifoQueue" not in queue, "EventBridge and Lambda destinations send to a standard queue"


# ---------------------------------------------------------------- worker


def test_worker_runtime_handler_and_limits_fit_a_one_minute_tick(
    resources: Resources, template: dict[str, Any]
) -> None:
    props = _function(resources)

    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["x86_64"]
    assert props["Handler"] == "handlers.pair_worker.handler"
    assert props["Code"] == {"S3Bucket": "leadsync-artifacts", "S3Key": "sync.zip"}, CODE_URI
    assert props["Timeout"] == {"Ref": "FunctionTimeoutSeconds"}
    timeout = template["Parameters"]["FunctionTimeoutSeconds"]
    assert 30 <= timeout["Default"] < 60, "by default a pair's cycle ends before its next tick"
    assert timeout["MaxValue"] <= 900, "Lambda's maximum, and the longest lease the engine takes"
    assert props["MemorySize"] >= 256
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "SyncLogGroup"}}
    assert "ReservedConcurrentExecutions" not in props, "MaximumConcurrency caps the workers without throttles"


def test_worker_has_no_schedule_and_no_async_invoke_config(resources: Resources, template: dict[str, Any]) -> None:
    events = template["Resources"]["SyncFunction"]["Properties"]["Events"]

    assert [e["Type"] for e in events.values()] == ["SQS"]
    assert "EventInvokeConfig" not in template["Resources"]["SyncFunction"]["Properties"]
    assert "SyncFunctionEveryMinute" not in resources


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_handler_named_in_template_exists_under_code_uri(template: dict[str, Any], name: str) -> None:
    props = template["Resources"][name]["Properties"]
    assert props["Handler"] == FUNCTIONS[name]
    module, _, attribute = props["Handler"].rpartition(".")
    source = ROOT / props["CodeUri"] / Path(*module.split(".")).with_suffix(".py")

    assert source.is_file(), f"{source} is missing"
    text = source.read_text(encoding="utf-8")
    assert f"def {attribute}(" in text or f"{attribute} =" in text


def test_worker_environment_carries_the_contract(resources: Resources) -> None:
    env = _function(resources)["Environment"]["Variables"]

    assert env["LEADSYNC_TABLE"] == {"Ref": "StateTable"}
    assert env["LEADSYNC_CONFIG_PARAMETER"] == {"Ref": "ConfigParameterName"}
    assert env["LEADSYNC_SECRET_ARN"] == {"Ref": "CredentialsSecretArn"}
    assert env["POWERTOOLS_SERVICE_NAME"] == "leadsync"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Leadsync"
    assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    for system in ("NOTION", "TRELLO", "AIRTABLE", "SHEETS"):
        assert env[f"LEADSYNC_{system}_BASE_URL"] == {"Ref": f"{system.title()}BaseUrl"}
    assert env["LEADSYNC_GOOGLE_TOKEN_URI"] == {"Ref": "GoogleTokenUri"}
    assert "LEADSYNC_QUEUE_URL" not in env, "the worker never sends to the queue"


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


# ---------------------------------------------------------------- interface


def test_outputs_name_everything_an_operator_needs(transformed: dict[str, Any]) -> None:
    outputs = transformed["Outputs"]

    for name in (
        "SyncFunctionName",
        "SyncFunctionArn",
        "DispatchFunctionName",
        "PairQueueUrl",
        "PairQueueArn",
        "PairDeadLetterQueueUrl",
        "PairDeadLetterQueueArn",
        "StateTableName",
        "DeadLetterQueueUrl",
        "DashboardUrl",
        "LogGroupName",
        "DispatchLogGroupName",
    ):
        assert name in outputs, name
    assert outputs["DispatchFunctionName"]["Value"] == {"Ref": "DispatchFunction"}
    assert outputs["PairQueueUrl"]["Value"] == {"Ref": "PairQueue"}
    assert outputs["PairDeadLetterQueueUrl"]["Value"] == {"Ref": "PairDeadLetterQueue"}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": "DeadLetterQueue"}
    assert "#dashboards:name=${Dashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


def test_every_parameter_is_in_exactly_one_console_group(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]

    assert sorted(grouped) == sorted(template["Parameters"])


# ---------------------------------------------------------------- webhooks


WEBHOOK_ROUTES = {
    ("POST", "/webhooks/trello/{pair}"),
    ("HEAD", "/webhooks/trello/{pair}"),
    ("POST", "/webhooks/notion"),
    ("POST", "/webhooks/airtable/{pair}"),
}


def test_webhook_routes_are_one_per_system_and_only_the_http_api_may_invoke_the_receiver(
    resources: Resources,
) -> None:
    routes = of_type(resources, "AWS::ApiGatewayV2::Api")["WebhookApi"]["Properties"]["Body"]["paths"]
    found = {
        (method.upper(), path)
        for path, methods in routes.items()
        for method in methods
        if method != "x-amazon-apigateway-any-method"
    }
    assert found == WEBHOOK_ROUTES
    permissions = [
        p["Properties"]
        for p in of_type(resources, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Ref": "WebhookFunction"}
    ]
    assert len(permissions) == len(WEBHOOK_ROUTES)
    for props in permissions:
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert '{"Ref": "WebhookApi"}' in json.dumps(props["SourceArn"])


def test_webhook_receiver_is_short_throttled_and_knows_queue_table_and_secrets(resources: Resources) -> None:
    props = _function(resources, "WebhookFunction")
    env = props["Environment"]["Variables"]

    assert props["Timeout"] <= 10, "senders wait for the answer"
    assert props["Role"] == {"Fn::GetAtt": ["WebhookFunctionRole", "Arn"]}
    assert props["LoggingConfig"] == {"LogGroup": {"Ref": "WebhookLogGroup"}}
    assert env["LEADSYNC_QUEUE_URL"] == {"Ref": "PairQueue"}
    assert env["LEADSYNC_TABLE"] == {"Ref": "StateTable"}
    assert env["LEADSYNC_SECRET_ARN"] == {"Ref": "CredentialsSecretArn"}
    assert env["LEADSYNC_WEBHOOK_HANDSHAKE_SECRET_ARN"] == {"Ref": "NotionWebhookTokenSecret"}
    assert not {k for k in env if k.endswith(("_BASE_URL", "_TOKEN_URI"))}, "it calls no API"
    stage = of_type(resources, "AWS::ApiGatewayV2::Stage")["WebhookApiApiGatewayDefaultStage"]["Properties"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
