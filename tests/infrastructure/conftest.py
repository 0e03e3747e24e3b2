"""Fixtures for the template tests: the SAM template as written and as CloudFormation after the SAM transform."""

from __future__ import annotations

from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests.infrastructure.stack import TEMPLATE_PATH, transform_template


@pytest.fixture(scope="session")
def template_text() -> str:
    return TEMPLATE_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def template(template_text: str) -> dict[str, Any]:
    """template.yaml parsed with the CloudFormation short-form tags (!Ref, !Sub, ...)."""
    return yaml_parse(template_text)


@pytest.fixture(scope="session")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would submit."""
    return transform_template(template)


@pytest.fixture(scope="session")
def resources(transformed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return transformed["Resources"]
