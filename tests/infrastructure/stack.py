"""Helpers for the template tests: load template.yaml, run the SAM transform offline, walk IAM statements."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from samtranslator.translator.arn_generator import ArnGenerator
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
REGION = "us-east-1"
CODE_URI = "s3://leadsync-artifacts/sync.zip"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:leadsync/credentials-AbCdEf"


class _NoManagedPolicies:
    """Managed-policy loader for the transform; the template names no managed policies by name."""

    def load(self) -> dict[str, str]:
        return {}


def transform_template(template: dict[str, Any], region: str = REGION) -> dict[str, Any]:
    """Run the SAM transform offline on a copy whose CodeUri (and layers' ContentUri) points at S3,
    as `sam package` would."""
    fragment = copy.deepcopy(template)
    for resource in fragment["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = CODE_URI
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = CODE_URI
    previous = ArnGenerator.BOTO_SESSION_REGION_NAME
    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    try:
        with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": region}):
            return transform(fragment, {}, _NoManagedPolicies())  # type: ignore[arg-type]
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = previous


def of_type(resources: dict[str, dict[str, Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    """Resources of one CloudFormation type, by logical id."""
    return {name: res for name, res in resources.items() if res["Type"] == resource_type}


def iam_statements(resources: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every IAM statement of every role and policy, both branches of each Fn::If included."""

    def expand(statement: Any) -> Iterator[dict[str, Any]]:
        if isinstance(statement, dict) and "Fn::If" in statement:
            for branch in statement["Fn::If"][1:]:
                yield from expand(branch)
        elif isinstance(statement, dict) and statement != {"Ref": "AWS::NoValue"}:
            yield statement

    for res in resources.values():
        documents: list[dict[str, Any]] = []
        if res["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in res["Properties"].get("Policies", [])]
        elif res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [res["Properties"]["PolicyDocument"]]
        for document in documents:
            for statement in document["Statement"]:
                yield from expand(statement)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(resources: dict[str, dict[str, Any]], role: str) -> list[dict[str, Any]]:
    """The IAM statements of one role (both branches of each Fn::If), by the role's logical id."""
    return list(iam_statements({role: resources[role]}))


def allowed_actions(resources: dict[str, dict[str, Any]], role: str) -> dict[str, list[Any]]:
    """Action -> the Resource values one role allows it on."""
    allowed: dict[str, list[Any]] = {}
    for statement in role_statements(resources, role):
        assert statement["Effect"] == "Allow", statement
        for action in as_list(statement["Action"]):
            allowed.setdefault(action, []).extend(as_list(statement["Resource"]))
    return allowed
