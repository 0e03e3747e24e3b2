"""Least privilege and no secrets in the stack: every IAM statement names its resource, and each function's
role allows what that function does and nothing more (the dispatcher never sees a credential, the worker
never sends to its own queue)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infrastructure.stack import SECRET_ARN, allowed_actions, as_list, iam_statements, of_type, role_statements

Resources = dict[str, dict[str, Any]]

# Actions that support no resource-level permissions, so "*" is the only valid Resource.
RESOURCE_STAR_ALLOWED = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:PutMetricData"}
SECRET_WORDS = re.compile(r"token|secret|password|passwd|api_?key|private", re.IGNORECASE)
SECRET_VALUES = re.compile(
    r"^(ntn_|secret_[A-Za-z0-9]{20}|pat[A-Za-z0-9]{14}\.|ATTA[0-9a-f]{20}|ya29\.|AKIA)|-----BEGIN|^[0-9a-f]{32,}$"
)

# Names that point at a secret (or an endpoint) rather than hold one.
REFERENCE_SUFFIXES = ("Arn", "Name", "Uri", "Url")
REFERENCE_SUFFIXES_ENV = ("_ARN", "_NAME", "_URI", "_URL", "_PARAMETER")


ROLES = {
    "DispatchFunction": "DispatchFunctionRole",
    "SyncFunction": "SyncFunctionRole",
    "WebhookFunction": "WebhookFunctionRole",
}
LOG_GROUPS = {
    "DispatchFunctionRole": "DispatchLogGroup",
    "SyncFunctionRole": "SyncLogGroup",
    "WebhookFunctionRole": "WebhookLogGroup",
}
PAIR_QUEUE = {"Fn::GetAtt": ["PairQueue", "Arn"]}
CONSUME = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}


def _statement_for(resources: Resources, action: str, role: str = "SyncFunctionRole") -> dict[str, Any]:
    found = [s for s in role_statements(resources, role) if action in as_list(s["Action"])]
    assert len(found) == 1, f"expected exactly one statement of {role} granting {action}, found {found}"
    return found[0]


@pytest.mark.parametrize(("function", "role"), sorted(ROLES.items()))
def test_each_function_has_its_own_role_without_managed_policies(
    resources: Resources, function: str, role: str
) -> None:
    assert "ManagedPolicyArns" not in resources[role]["Properties"]
    assert resources[function]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
    assert set(of_type(resources, "AWS::IAM::Role")) == set(ROLES.values()), "SAM generated a role"
    assert of_type(resources, "AWS::IAM::Policy") == {}


def test_dispatcher_can_send_to_the_pair_queue_but_cannot_read_secrets_or_state(resources: Resources) -> None:
    allowed = allowed_actions(resources, "DispatchFunctionRole")

    assert allowed["sqs:SendMessage"] == [PAIR_QUEUE, {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}]
    assert allowed["ssm:GetParameter"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameterName}"}
    ]
    assert not [a for a in allowed if a.startswith(("secretsmanager:", "kms:", "dynamodb:"))]
    assert not CONSUME & set(allowed), "the dispatcher only enqueues"
    assert set(allowed) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ssm:GetParameter",
        "sqs:SendMessage",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_worker_can_receive_and_delete_on_the_pair_queue_but_not_send(resources: Resources) -> None:
    allowed = allowed_actions(resources, "SyncFunctionRole")

    for action in CONSUME:
        assert allowed[action] == [PAIR_QUEUE], action
    assert not [a for a in allowed if a.startswith("sqs:") and a not in CONSUME], "no SendMessage, no Purge"
    assert "sqs:SendMessage" not in allowed, "no async destination left on the worker"


def test_no_role_may_touch_the_pair_dead_letter_queue(resources: Resources) -> None:
    """SQS moves messages there itself; redriving is an operator's act (docs/deploy.md)."""
    for statement in iam_statements(resources):
        assert {"Fn::GetAtt": ["PairDeadLetterQueue", "Arn"]} not in as_list(statement["Resource"]), statement


def test_wildcard_resource_only_for_actions_without_resource_level_permissions(resources: Resources) -> None:
    statements = list(iam_statements(resources))

    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = set(as_list(statement["Action"]))
        assert all("*" not in action for action in actions), statement
        if "*" in as_list(statement["Resource"]):
            assert actions <= RESOURCE_STAR_ALLOWED, statement


def test_dynamodb_access_is_item_crud_on_the_state_table_only(resources: Resources) -> None:
    dynamodb = [s for s in iam_statements(resources) if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    claims = [s for s in role_statements(resources, "WebhookFunctionRole") if s in dynamodb]
    assert [(set(s["Action"]), s["Resource"]) for s in claims] == [
        ({"dynamodb:PutItem", "dynamodb:DeleteItem"}, {"Fn::GetAtt": ["StateTable", "Arn"]})
    ], "the receiver only claims and releases event ids"
    dynamodb = [s for s in dynamodb if s not in claims]
    assert dynamodb == [s for s in role_statements(resources, "SyncFunctionRole") if s in dynamodb]

    assert len(dynamodb) == 1
    (statement,) = dynamodb
    assert statement["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    assert set(statement["Action"]) >= {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
    }
    assert not {"dynamodb:Scan", "dynamodb:DeleteTable", "dynamodb:UpdateTable"} & set(statement["Action"])


@pytest.mark.parametrize("role", sorted(ROLES.values()))
def test_config_parameter_read_is_scoped_to_exactly_that_parameter(resources: Resources, role: str) -> None:
    statement = _statement_for(resources, "ssm:GetParameter", role)

    assert as_list(statement["Action"]) == ["ssm:GetParameter"]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameterName}"
    }


def test_secret_read_is_scoped_to_exactly_the_credentials_secret(resources: Resources) -> None:
    statement = _statement_for(resources, "secretsmanager:GetSecretValue")
    granting = [s for s in iam_statements(resources) if "secretsmanager:GetSecretValue" in as_list(s["Action"])]
    webhook = [s for s in role_statements(resources, "WebhookFunctionRole") if s in granting]
    assert [s["Resource"] for s in webhook] == [{"Ref": "CredentialsSecretArn"}, {"Ref": "NotionWebhookTokenSecret"}]
    assert len(granting) == len(webhook) + 1, "only the worker and the receiver read secrets"

    assert as_list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
    assert statement["Resource"] == {"Ref": "CredentialsSecretArn"}


def test_kms_decrypt_is_conditional_and_only_through_secrets_manager(resources: Resources) -> None:
    statement = _statement_for(resources, "kms:Decrypt")

    assert statement["Resource"] == {"Ref": "CredentialsKmsKeyArn"}
    assert statement["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"
    }
    policy = resources["SyncFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    conditional = [s for s in policy["Statement"] if "Fn::If" in s]
    assert [s["Fn::If"][0] for s in conditional] == ["HasCredentialsKmsKey"]


@pytest.mark.parametrize("role", sorted(ROLES.values()))
def test_each_role_writes_only_its_own_log_group(resources: Resources, role: str) -> None:
    logs = _statement_for(resources, "logs:PutLogEvents", role)

    arn = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${GROUP}:*"
    arn = arn.replace("GROUP", LOG_GROUPS[role])
    assert logs["Resource"] == {"Fn::Sub": arn}


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("/leadsync/config", True),
        ("/team-a/leadsync/pairs.json", True),
        ("leadsync/config", False),  # would make the IAM ARN ...:parameterleadsync/config
        ("/leadsync/*", False),
        ("", False),
    ],
)
def test_config_parameter_name_must_be_a_full_path(template: dict[str, Any], value: str, accepted: bool) -> None:
    pattern = template["Parameters"]["ConfigParameterName"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (SECRET_ARN, True),
        ("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:leadsync-AbCdEf", True),
        ("*", False),
        ("arn:aws:secretsmanager:us-east-1:123456789012:secret:*", False),
        ("arn:aws:secretsmanager:*:*:secret:leadsync", False),
        ("leadsync/credentials", False),
    ],
)
def test_secret_parameter_accepts_only_one_concrete_secret_arn(
    template: dict[str, Any], value: str, accepted: bool
) -> None:
    pattern = template["Parameters"]["CredentialsSecretArn"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, value)) is accepted


def test_secret_arn_parameter_has_no_default(template: dict[str, Any]) -> None:
    assert "Default" not in template["Parameters"]["CredentialsSecretArn"]


def test_no_parameter_default_or_environment_value_looks_like_a_credential(
    template: dict[str, Any], resources: Resources
) -> None:
    for name, parameter in template["Parameters"].items():
        default = str(parameter.get("Default", ""))
        assert not SECRET_VALUES.search(default), name
        if SECRET_WORDS.search(name) and not name.endswith(REFERENCE_SUFFIXES):
            assert default == "", f"parameter {name} looks like it carries a secret"
    for function in of_type(resources, "AWS::Lambda::Function").values():
        for key, value in function["Properties"]["Environment"]["Variables"].items():
            if isinstance(value, str):
                assert not SECRET_VALUES.search(value), key
            if SECRET_WORDS.search(key) and not key.upper().endswith(REFERENCE_SUFFIXES_ENV):
                assert not isinstance(value, str), f"{key} holds a literal"


def test_the_credential_pattern_recognises_real_token_shapes() -> None:
    for sample in ("ntn_4567890123abcdef", "patAbCdEfGhIjKlMn.0123", "ya29.a0AfH6", "-----BEGIN PRIVATE KEY"):
        assert SECRET_VALUES.search(sample), sample
    assert not SECRET_VALUES.search("https://api.trello.com/1")


def test_state_table_and_queues_are_encrypted_at_rest(resources: Resources) -> None:
    assert resources["StateTable"]["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    queues = of_type(resources, "AWS::SQS::Queue")
    assert sorted(queues) == ["DeadLetterQueue", "PairDeadLetterQueue", "PairQueue"]
    for name, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name


def test_the_receiver_writes_only_the_notion_handshake_secret(resources: Resources) -> None:
    writes = [
        s
        for s in iam_statements(resources)
        if any(a.startswith("secretsmanager:") and a != "secretsmanager:GetSecretValue" for a in as_list(s["Action"]))
    ]
    assert len(writes) == 1
    assert writes[0] in role_statements(resources, "WebhookFunctionRole")
    assert set(as_list(writes[0]["Action"])) == {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}
    assert writes[0]["Resource"] == {"Ref": "NotionWebhookTokenSecret"}


def test_the_receiver_only_sends_hints_to_the_pair_queue(resources: Resources) -> None:
    allowed = allowed_actions(resources, "WebhookFunctionRole")

    assert allowed["sqs:SendMessage"] == [PAIR_QUEUE]
    assert not CONSUME & set(allowed)
