"""The transformed template deploys into moto's CloudFormation and the resources come out as intended.

moto skips what it cannot create (alarms, queue policy, EventInvokeConfig, PITR and TTL settings);
those are asserted on the transformed template in the other test modules.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from tests.infrastructure.stack import REGION, SECRET_ARN

KMS_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass
class Stack:
    outputs: dict[str, str]
    session: boto3.session.Session

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION)

    def role_policy_text(self) -> str:
        iam = self.client("iam")
        function = self.client("lambda").get_function_configuration(FunctionName=self.outputs["SyncFunctionName"])
        role = function["Role"].rsplit("/", 1)[-1]
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        documents = [
            iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        return " ".join(d if isinstance(d, str) else json.dumps(d) for d in documents)


def _deploy(cfn: Any, name: str, template: dict[str, Any], parameters: dict[str, str]) -> dict[str, str]:
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.fixture(scope="module")
def stacks(transformed: dict[str, Any]) -> Iterator[dict[str, Stack]]:
    """Two stacks from the same template: defaults, and every optional parameter set."""
    fake_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
    with mock.patch.dict(os.environ, fake_env), mock_aws(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)
        session = boto3.session.Session()
        s3 = session.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="leadsync-artifacts")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("handlers/scheduled_sync.py", "def handler(event, context):\n    return None\n")
        s3.put_object(Bucket="leadsync-artifacts", Key="sync.zip", Body=archive.getvalue())
        cfn = session.client("cloudformation", region_name=REGION)
        yield {
            "default": Stack(_deploy(cfn, "leadsync", transformed, {"CredentialsSecretArn": SECRET_ARN}), session),
            "custom": Stack(
                _deploy(
                    cfn,
                    "leadsync-custom",
                    transformed,
                    {
                        "CredentialsSecretArn": SECRET_ARN,
                        "CredentialsKmsKeyArn": KMS_KEY_ARN,
                        "ConfigParameterName": "/team-a/leadsync",
                        "ScheduleState": "DISABLED",
                        "AlarmEmail": "ops@example.com",
                        "LogRetentionDays": "90",
                    },
                ),
                session,
            ),
        }


def test_state_table_exists_with_its_keys_and_on_demand_billing(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    table = stack.client("dynamodb").describe_table(TableName=stack.outputs["StateTableName"])["Table"]

    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_function_gets_resolved_names_not_secrets_in_its_environment(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    config = stack.client("lambda").get_function_configuration(FunctionName=stack.outputs["SyncFunctionName"])
    env = config["Environment"]["Variables"]

    assert config["Runtime"] == "python3.12"
    assert config["Handler"] == "handlers.scheduled_sync.handler"
    assert (config["Timeout"], config["MemorySize"]) == (55, 512)
    assert env["LEADSYNC_TABLE"] == stack.outputs["StateTableName"]
    assert env["LEADSYNC_SECRET_ARN"] == SECRET_ARN
    assert env["LEADSYNC_CONFIG_PARAMETER"] == "/leadsync/config"
    assert env["LEADSYNC_TRELLO_BASE_URL"] == "https://api.trello.com/1"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_enabled_rule_fires_every_minute_at_the_function_with_a_dead_letter_queue(
    stacks: dict[str, Stack],
) -> None:
    stack = stacks["default"]
    events = stack.client("events")
    rules = [r for r in events.list_rules(NamePrefix="leadsync-SyncFunction")["Rules"]]

    assert len(rules) == 1
    assert rules[0]["ScheduleExpression"] == "rate(1 minute)"
    assert rules[0]["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"]
    assert target["Arn"] == stack.outputs["SyncFunctionArn"]
    assert target["DeadLetterConfig"]["Arn"] == stack.outputs["DeadLetterQueueArn"]


def test_schedule_can_be_deployed_disabled(stacks: dict[str, Stack]) -> None:
    events = stacks["custom"].client("events")

    (rule,) = events.list_rules(NamePrefix="leadsync-custom-SyncFunction")["Rules"]

    assert rule["State"] == "DISABLED"


def test_dead_letter_queue_keeps_messages_fourteen_days_encrypted(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["DeadLetterQueueUrl"], AttributeNames=["All"]
    )["Attributes"]

    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert attributes["SqsManagedSseEnabled"] == "true"


def test_log_group_retention_follows_the_parameter(stacks: dict[str, Stack]) -> None:
    retention = {}
    for name, stack in stacks.items():
        logs = stack.client("logs")
        (group,) = logs.describe_log_groups(logGroupNamePrefix=stack.outputs["LogGroupName"])["logGroups"]
        retention[name] = group["retentionInDays"]

    assert retention == {"default": 30, "custom": 90}


def test_resolved_role_policy_names_the_exact_secret_parameter_and_table(stacks: dict[str, Stack]) -> None:
    stack = stacks["default"]
    text = stack.role_policy_text()
    table_arn = stack.client("dynamodb").describe_table(TableName=stack.outputs["StateTableName"])["Table"]["TableArn"]

    assert SECRET_ARN in text
    assert "arn:aws:ssm:us-east-1:123456789012:parameter/leadsync/config" in text
    assert table_arn in text
    assert "kms:Decrypt" not in text


def test_customer_managed_key_adds_a_scoped_decrypt(stacks: dict[str, Stack]) -> None:
    text = stacks["custom"].role_policy_text()

    assert "kms:Decrypt" in text
    assert KMS_KEY_ARN in text
    assert "arn:aws:ssm:us-east-1:123456789012:parameter/team-a/leadsync" in text


def test_alarm_topic_exists_only_with_an_email(stacks: dict[str, Stack]) -> None:
    assert "AlarmTopicArn" not in stacks["default"].outputs
    topic = stacks["custom"].outputs["AlarmTopicArn"]
    subscriptions = stacks["custom"].client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]

    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "ops@example.com")]


def test_outputs_point_at_the_dashboard_and_log_group(stacks: dict[str, Stack]) -> None:
    outputs = stacks["default"].outputs

    assert outputs["DashboardUrl"] == (
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=leadsync-leadsync"
    )
    assert outputs["LogGroupName"] == "/aws/lambda/leadsync-sync"
