"""cfn-lint finds nothing in template.yaml, nor in the template the SAM transform produces from it.

cfn-lint's own SAM handling does not look inside Globals (a bad Runtime or a !Ref typo there passes),
so the transformed template, where Globals are merged into the function, is linted too.
"""

from __future__ import annotations

import json
from typing import Any

from cfnlint.api import lint

REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2"]


def _messages(template_text: str, regions: list[str] = REGIONS) -> list[str]:
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in lint(template_text, regions=regions)]


def test_cfn_lint_reports_nothing_on_the_sam_template(template_text: str) -> None:
    assert _messages(template_text) == []


def test_cfn_lint_reports_nothing_on_the_transformed_template(transformed: dict[str, Any]) -> None:
    assert _messages(json.dumps(transformed)) == []


def test_cfn_lint_rejects_a_timeout_beyond_the_lambda_maximum(template_text: str) -> None:
    broken = template_text.replace("Timeout: !Ref FunctionTimeoutSeconds", "Timeout: 5500", 1)

    assert any("5500" in message for message in _messages(broken, ["us-east-1"]))


def test_lint_of_transformed_template_rejects_an_unknown_runtime(transformed: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(transformed))
    broken["Resources"]["SyncFunction"]["Properties"]["Runtime"] = "python3.99"

    assert any("python3.99" in message for message in _messages(json.dumps(broken), ["us-east-1"]))
