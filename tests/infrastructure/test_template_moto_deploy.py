"""The transformed template deploys into moto's CloudFormation and the resources come out as intended.

What moto's CloudFormation cannot create, and why the other test modules cover it instead:

- ``AWS::CloudWatch::Alarm``: moto has no CloudFormation model for alarms. Here each alarm's properties are
  resolved against the deployed stack and put through moto's CloudWatch API (``put_metric_alarm``), so the
  alarms at least name the stack's real function and queue names; their logic is asserted on the
  transformed template (test_template_observability.py).
- ``AWS::SQS::QueuePolicy`` and ``AWS::Lambda::EventInvokeConfig``: no moto model; asserted on the
  transformed template (test_template_resources.py).
- The webhook receiver's ``AWS::ApiGatewayV2::Api``/``Stage`` (the HTTP API) and the Notion handshake's
  ``AWS::SecretsManager::Secret``: no moto CloudFormation model; routes, permissions and the secret's
  IAM are asserted on the transformed template (test_template_resources.py, test_template_security.py).
- FIFO queue names: CloudFormation names a FIFO queue without a ``QueueName`` ``<stack>-<id>-<random>.fifo``;
  moto generates the name without the ``.fifo`` suffix and then refuses it ("Queue name must end in .fifo
  for FIFO queues"). The deployed copy therefore gets an explicit ``QueueName`` for the two FIFO queues; the
  template itself keeps none (a named queue cannot be replaced).
- PITR and TTL settings of the table: moto ignores them; asserted on the template.

Nothing here sends to the pair queue: moto would then invoke the worker through the event source mapping,
which needs Docker.
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from tests.infrastructure.stack import REGION, SECRET_ARN, of_type

KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ACCOUNT = "123456789012"
FIFO_QUEUES = ("PairQueue", "PairDeadLetterQueue")
MOTO_CANNOT_CREATE = {
    "AWS::CloudWatch::Alarm",
    "AWS::SQS::QueuePolicy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::SecretsManager::Secret",
}
HANDLER_STUB = "def handler(event, context):\n    return None\n"

CUSTOM = {
    "CredentialsSecretArn": SECRET_ARN,
    "CredentialsKmsKeyArn": KMS_KEY_ARN,
    "ConfigParameterName": "/team-a/leadsync",
    "ScheduleState": "DISABLED",
    "AlarmEmail": "ops@example.com",
    "LogRetentionDays": "90",
    "FunctionTimeoutSeconds": "120",
    "QueueVisibilityTimeoutSeconds": "720",
    "WorkerMaxReceiveCount": "5",
    "WorkerBatchSize": "4",
    "WorkerMaxConcurrency": "20",
    "QueueAgeAlarmSeconds": "900",
}


@dataclass
class Stack:
    name: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    session: boto3.session.Session
    physical: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION)

    def function(self, output: str) -> dict[str, Any]:
        return dict(self.client("lambda").get_function_configuration(FunctionName=self.outputs[output]))

    def role_policy_text(self, output: str = "SyncFunctionName") -> str:
        iam = self.client("iam")
        role = self.function(output)["Role"].rsplit("/", 1)[-1]
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        documents = [
            iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        return " ".join(d if isinstance(d, str) else json.dumps(d) for d in documents)

    def queue_attributes(self, output: str) -> dict[str, str]:
        sqs = self.client("sqs")
        return dict(sqs.get_queue_attributes(QueueUrl=self.outputs[output], AttributeNames=["All"])["Attributes"])


def _deployable(transformed: dict[str, Any]) -> dict[str, Any]:
    """The transformed template with the one change moto needs: explicit .fifo names (see the module doc)."""
    template = copy.deepcopy(transformed)
    for name in FIFO_QUEUES:
        assert "QueueName" not in template["Resources"][name]["Properties"]
        template["Resources"][name]["Properties"]["QueueName"] = {"Fn::Sub": f"${{AWS::StackName}}-{name}.fifo"}
    return template


def _deploy(cfn: Any, name: str, template: dict[str, Any], parameters: dict[str, str], session: Any) -> Stack:
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    resources = cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return Stack(
        name,
        {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]},
        {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]},
        session,
        {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources if r.get("LogicalResourceId")},
    )


@pytest.fixture(scope="module")
def deployment(transformed: dict[str, Any]) -> Iterator[tuple[dict[str, Stack], set[str]]]:
    """Two stacks from the same template (defaults, and every optional parameter set), and the resource
    types moto skipped while creating them."""
    fake_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    with mock.patch.dict(os.environ, fake_env), mock_aws(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = boto3.session.Session()
        s3 = session.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="leadsync-artifacts")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            for module in ("dispatch", "pair_worker"):
                zipped.writestr(f"handlers/{module}.py", HANDLER_STUB)
        s3.put_object(Bucket="leadsync-artifacts", Key="sync.zip", Body=archive.getvalue())
        cfn = session.client("cloudformation", region_name=REGION)
        template = _deployable(transformed)
        stacks = {
            "default": _deploy(cfn, "leadsync", template, {"CredentialsSecretArn": SECRET_ARN}, session),
            "custom": _deploy(cfn, "leadsync-custom", template, CUSTOM, session),
        }
        skipped = {
            str(w.message).split("Tried to parse ", 1)[1].split(" ", 1)[0]
            for w in caught
            if "Tried to parse" in str(w.message)
        }
        yield stacks, skipped


@pytest.fixture(scope="module")
def stacks(deployment: tuple[dict[str, Stack], set[str]]) -> dict[str, Stack]:
    return deployment[0]


def test_moto_skips_only_the_resource_types_the_module_names(deployment: tuple[dict[str, Stack], set[str]]) -> None:
    # if moto learns one of these, move its assertions here; if it skips another, say why in the module doc
    assert deployment[1] == MOTO_CANNOT_CREATE


def test_every_other_resource_was_created(stacks: dict[str, Stack], transformed: dict[str, Any]) -> None:
    resources = transformed["Resources"]
    expected = {name for name, res in resources.items() if res["Type"] not in MOTO_CANNOT_CREATE}

    assert expected - set(stacks["default"].physical) == {"AlarmTopic"}, "AlarmTopic only with an AlarmEmail"
    assert expected - set(stacks["custom"].physical) == set()


def test_state_table_exists_with_its_keys_and_on_demand_billing(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    table = stack.client("dynamodb").describe_table(TableName=stack.outputs["StateTableName"])["Table"]

    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_worker_gets_resolved_names_not_secrets_in_its_environment(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    config = stack.function("SyncFunctionName")
    env = config["Environment"]["Variables"]

    assert config["FunctionArn"] == stack.outputs["SyncFunctionArn"]
    assert config["Runtime"] == "python3.12"
    assert config["Handler"] == "handlers.pair_worker.handler"
    assert (config["Timeout"], config["MemorySize"]) == (55, 512)
    assert env["LEADSYNC_TABLE"] == stack.outputs["StateTableName"]
    assert env["LEADSYNC_SECRET_ARN"] == SECRET_ARN
    assert env["LEADSYNC_CONFIG_PARAMETER"] == "/leadsync/config"
    assert env["LEADSYNC_TRELLO_BASE_URL"] == "https://api.trello.com/1"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert "LEADSYNC_QUEUE_URL" not in env


def test_dispatcher_gets_the_queue_url_and_nothing_of_the_worker(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    config = stack.function("DispatchFunctionName")
    env = config["Environment"]["Variables"]

    assert config["Handler"] == "handlers.dispatch.handler"
    assert (config["Timeout"], config["MemorySize"]) == (30, 256)
    assert env["LEADSYNC_QUEUE_URL"] == stack.outputs["PairQueueUrl"]
    assert env["LEADSYNC_CONFIG_PARAMETER"] == "/leadsync/config"
    assert env["POWERTOOLS_SERVICE_NAME"] == "leadsync"
    assert not {"LEADSYNC_SECRET_ARN", "LEADSYNC_TABLE", "LEADSYNC_TRELLO_BASE_URL"} & set(env)
    assert config["Role"] != stack.function("SyncFunctionName")["Role"]


def test_enabled_rule_fires_every_minute_at_the_dispatcher_with_a_dead_letter_queue(
    stacks: dict[str, Stack],
) -> None:
    stack = stacks["default"]
    events = stack.client("events")
    rules = [
        r for r in events.list_rules(NamePrefix="leadsync-")["Rules"] if not r["Name"].startswith("leadsync-custom-")
    ]

    assert [r["Name"].rsplit("-", 1)[0] for r in rules] == ["leadsync-DispatchFunctionEveryMinute"]
    assert rules[0]["ScheduleExpression"] == "rate(1 minute)"
    assert rules[0]["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"]
    assert target["Arn"] == stack.function("DispatchFunctionName")["FunctionArn"]
    assert target["DeadLetterConfig"]["Arn"] == stack.outputs["DeadLetterQueueArn"]


def test_schedule_can_be_deployed_disabled(stacks: dict[str, Stack]) -> None:
    events = stacks["custom"].client("events")

    (rule,) = events.list_rules(NamePrefix="leadsync-custom-DispatchFunction")["Rules"]

    assert rule["State"] == "DISABLED"


@pytest.mark.parametrize(("stack_name", "visibility", "receives"), [("default", "360", 3), ("custom", "720", 5)])
def test_pair_queue_is_fifo_and_redrives_to_the_fifo_dead_letter_queue(
    stacks: dict[str, Stack], stack_name: str, visibility: str, receives: int
) -> None:
    stack = stacks[stack_name]
    queue = stack.queue_attributes("PairQueueUrl")
    dlq = stack.queue_attributes("PairDeadLetterQueueUrl")

    assert queue["FifoQueue"] == "true"
    assert queue["ContentBasedDeduplication"] == "false"
    assert queue["SqsManagedSseEnabled"] == "true"
    assert queue["VisibilityTimeout"] == visibility
    assert queue["QueueArn"] == stack.outputs["PairQueueArn"]
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.outputs["PairDeadLetterQueueArn"],
        "maxReceiveCount": receives,
    }
    assert dlq["FifoQueue"] == "true"
    assert dlq["MessageRetentionPeriod"] == "1209600"
    assert dlq["SqsManagedSseEnabled"] == "true"


def test_dead_letter_queue_keeps_messages_fourteen_days_encrypted(stacks: dict[str, Stack]) -> None:
    attributes = stacks["default"].queue_attributes("DeadLetterQueueUrl")

    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert "FifoQueue" not in attributes or attributes["FifoQueue"] == "false"


@pytest.mark.parametrize(("stack_name", "batch", "concurrency"), [("default", 1, 5), ("custom", 4, 20)])
def test_worker_reads_the_pair_queue_through_one_event_source_mapping(
    stacks: dict[str, Stack], stack_name: str, batch: int, concurrency: int
) -> None:
    stack = stacks[stack_name]
    lam = stack.client("lambda")
    worker = stack.function("SyncFunctionName")["FunctionArn"]
    dispatcher = stack.function("DispatchFunctionName")["FunctionArn"]
    mappings = [m for m in lam.list_event_source_mappings()["EventSourceMappings"] if m["FunctionArn"] == worker]

    (mapping,) = mappings
    assert mapping["EventSourceArn"] == stack.outputs["PairQueueArn"]
    assert mapping["State"] == "Enabled"
    assert mapping["BatchSize"] == batch
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}
    assert not [m for m in lam.list_event_source_mappings()["EventSourceMappings"] if m["FunctionArn"] == dispatcher]


def test_log_group_retention_follows_the_parameter(stacks: dict[str, Stack]) -> None:
    retention = {}
    for name, stack in stacks.items():
        logs = stack.client("logs")
        for output in ("LogGroupName", "DispatchLogGroupName"):
            (group,) = logs.describe_log_groups(logGroupNamePrefix=stack.outputs[output])["logGroups"]
            retention[name, output] = group["retentionInDays"]

    assert retention == {
        ("default", "LogGroupName"): 30,
        ("default", "DispatchLogGroupName"): 30,
        ("custom", "LogGroupName"): 90,
        ("custom", "DispatchLogGroupName"): 90,
    }


def test_resolved_worker_policy_names_the_exact_secret_parameter_table_and_queue(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    text = stack.role_policy_text("SyncFunctionName")
    table_arn = stack.client("dynamodb").describe_table(TableName=stack.outputs["StateTableName"])["Table"]["TableArn"]

    assert SECRET_ARN in text
    assert "arn:aws:ssm:us-east-1:123456789012:parameter/leadsync/config" in text
    assert table_arn in text
    assert stack.outputs["PairQueueArn"] in text
    assert "sqs:ReceiveMessage" in text
    assert "sqs:DeleteMessage" in text
    assert "sqs:SendMessage" not in text
    assert stack.outputs["PairDeadLetterQueueArn"] not in text
    assert "kms:Decrypt" not in text


def test_resolved_dispatcher_policy_sends_to_the_pair_queue_and_reads_no_secret(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    text = stack.role_policy_text("DispatchFunctionName")

    assert stack.outputs["PairQueueArn"] in text
    assert stack.outputs["DeadLetterQueueArn"] in text
    assert "sqs:SendMessage" in text
    assert "arn:aws:ssm:us-east-1:123456789012:parameter/leadsync/config" in text
    assert "/aws/lambda/leadsync-dispatch" in text
    for forbidden in (
        "secretsmanager",
        SECRET_ARN,
        "dynamodb",
        "kms:",
        "sqs:ReceiveMessage",
        "/aws/lambda/leadsync-sync",
    ):
        assert forbidden not in text, forbidden


def test_customer_managed_key_adds_a_scoped_decrypt_to_the_worker_only(stacks: dict[str, Stack]) -> None:
    worker = stacks["custom"].role_policy_text("SyncFunctionName")
    dispatcher = stacks["custom"].role_policy_text("DispatchFunctionName")

    assert "kms:Decrypt" in worker
    assert KMS_KEY_ARN in worker
    assert "arn:aws:ssm:us-east-1:123456789012:parameter/team-a/leadsync" in worker
    assert "arn:aws:ssm:us-east-1:123456789012:parameter/team-a/leadsync" in dispatcher
    assert "kms:" not in dispatcher


def test_alarm_topic_exists_only_with_an_email(stacks: dict[str, Stack]) -> None:
    assert "AlarmTopicArn" not in stacks["default"].outputs
    topic = stacks["custom"].outputs["AlarmTopicArn"]
    subscriptions = stacks["custom"].client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]

    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]


def _resolve(value: Any, stack: Stack) -> Any:
    """The few intrinsics the alarms use, resolved against a deployed stack (moto cannot create alarms)."""
    if isinstance(value, list):
        return [v for v in (_resolve(item, stack) for item in value) if v is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if value == {"Ref": "AWS::NoValue"}:
        return _NO_VALUE
    if "Ref" in value:
        name = value["Ref"]
        return stack.parameters[name] if name in stack.parameters else stack.physical[name]
    if "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        assert attribute == "QueueName", attribute
        return stack.physical[resource].rsplit("/", 1)[-1]  # a queue's physical id is its URL
    if "Fn::If" in value:
        condition, if_true, if_false = value["Fn::If"]
        assert condition == "HasAlarmEmail", condition
        return _resolve(if_true if stack.parameters.get("AlarmEmail") else if_false, stack)
    return {k: v for k, v in ((k, _resolve(v, stack)) for k, v in value.items()) if v is not _NO_VALUE}


_NO_VALUE = object()


@pytest.mark.parametrize("stack_name", ["default", "custom"])
def test_alarms_resolve_to_the_deployed_functions_and_queues(
    stacks: dict[str, Stack], transformed: dict[str, Any], stack_name: str
) -> None:
    stack = stacks[stack_name]
    cloudwatch = stack.client("cloudwatch")
    functions = {
        stack.function(o)["FunctionName"] for o in ("SyncFunctionName", "DispatchFunctionName", "WebhookFunctionName")
    }
    queues = {url.rsplit("/", 1)[-1] for url in stack.client("sqs").list_queues()["QueueUrls"]}
    prefix = f"{stack.name}-"

    for logical, alarm in of_type(transformed["Resources"], "AWS::CloudWatch::Alarm").items():
        props = _resolve(alarm["Properties"], stack)
        for dimension in props["Dimensions"]:
            known = functions if dimension["Name"] == "FunctionName" else queues
            if dimension["Name"] in ("FunctionName", "QueueName"):
                assert dimension["Value"] in known, (logical, dimension)
                assert dimension["Value"].startswith(prefix), (logical, dimension)
        props["Threshold"] = float(props["Threshold"])
        cloudwatch.put_metric_alarm(AlarmName=f"{prefix}{logical}", **props)

    alarms = {a["AlarmName"]: a for a in cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]}
    age = alarms[f"{prefix}PairQueueAgeAlarm"]
    assert age["Threshold"] == float(stack.parameters["QueueAgeAlarmSeconds"])
    assert age["Dimensions"][0]["Value"].endswith("PairQueue.fifo")
    assert alarms[f"{prefix}PairDeadLetterQueueAlarm"]["Dimensions"][0]["Value"].endswith("PairDeadLetterQueue.fifo")
    stalled = alarms[f"{prefix}DispatchStalledAlarm"]
    assert stalled["Dimensions"][0]["Value"] == stack.function("DispatchFunctionName")["FunctionName"]
    notify = [a for a in alarms.values() if a.get("AlarmActions")]
    assert len(notify) == (len(alarms) if stack.parameters.get("AlarmEmail") else 0)


def test_outputs_point_at_the_dashboard_and_log_groups(stacks: dict[str, Stack]) -> None:
    outputs = stacks["default"].outputs

    assert outputs["DashboardUrl"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=leadsync-leadsync"
    )
    assert outputs["LogGroupName"] == "/aws/lambda/leadsync-sync"
    assert outputs["DispatchLogGroupName"] == "/aws/lambda/leadsync-dispatch"
    assert outputs["DispatchFunctionName"] == stacks["default"].physical["DispatchFunction"]
    assert outputs["PairQueueUrl"].endswith(".fifo")
    assert outputs["PairDeadLetterQueueUrl"].endswith(".fifo")
