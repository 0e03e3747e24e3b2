"""Alarms, log retention and the dashboard cover what the function and the code emit."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infrastructure.stack import of_type

Resources = dict[str, dict[str, Any]]

EMF_METRICS = (
    "RecordsRead",
    "OperationsApplied",
    "Conflicts",
    "SyncErrors",
    "ApiRequests",
    "ApiThrottles",
    "SyncLagSeconds",
    "CycleDurationMs",
)


def _alarm(resources: Resources, namespace: str, metric: str) -> dict[str, Any]:
    found = [
        a["Properties"]
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Namespace"] == namespace and a["Properties"]["MetricName"] == metric
    ]
    assert len(found) == 1, f"one alarm on {namespace}/{metric} expected, found {len(found)}"
    return found[0]


def _render_dashboard(resources: Resources) -> dict[str, Any]:
    """The dashboard body with each ${...} of its Fn::Sub replaced by a plausible value."""
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    values = {
        "AWS::Region": "eu-west-1",
        "AWS::StackName": "leadsync",
        "SyncLagAlarmSeconds": "600",
        "FunctionTimeoutSeconds": "55",
    }
    rendered = re.sub(r"\$\{([^}!]+)\}", lambda m: values.get(m.group(1), f"resolved-{m.group(1)}"), body)
    return json.loads(rendered)


@pytest.mark.parametrize(
    ("namespace", "metric", "dimensions"),
    [
        ("AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": "SyncFunction"}}]),
        ("AWS/Lambda", "Throttles", [{"Name": "FunctionName", "Value": {"Ref": "SyncFunction"}}]),
        (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}],
        ),
        ("Leadsync", "SyncErrors", [{"Name": "service", "Value": "leadsync"}]),
    ],
)
def test_any_occurrence_raises_an_alarm(
    resources: Resources, namespace: str, metric: str, dimensions: list[dict[str, Any]]
) -> None:
    alarm = _alarm(resources, namespace, metric)

    assert alarm["Dimensions"] == dimensions
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0
    assert alarm["TreatMissingData"] == "notBreaching"


def test_sync_lag_alarm_fires_on_the_maximum_above_ten_minutes_by_default(
    template: dict[str, Any], resources: Resources
) -> None:
    alarm = _alarm(resources, "Leadsync", "SyncLagSeconds")

    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == {"Ref": "SyncLagAlarmSeconds"}
    assert template["Parameters"]["SyncLagAlarmSeconds"]["Default"] == 600
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "leadsync"}]


def test_a_stopped_schedule_is_noticed(resources: Resources) -> None:
    alarm = _alarm(resources, "AWS/Lambda", "Invocations")

    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["TreatMissingData"] == "breaching"


def test_alarms_notify_the_topic_only_when_an_email_is_given(resources: Resources) -> None:
    topic = resources["AlarmTopic"]

    assert topic["Condition"] == "HasAlarmEmail"
    assert topic["Properties"]["Subscription"] == [{"Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}]
    for alarm in of_type(resources, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == {
            "Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]
        }


def test_alarm_email_condition_is_false_for_the_empty_default(template: dict[str, Any]) -> None:
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}


def test_log_group_is_explicit_with_thirty_day_default_retention(
    template: dict[str, Any], resources: Resources
) -> None:
    group = resources["SyncLogGroup"]["Properties"]

    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}-sync"}


def test_dashboard_body_is_valid_json_with_every_emitted_metric(resources: Resources) -> None:
    dashboard = _render_dashboard(resources)
    expressions = [
        m[0]["expression"]
        for widget in dashboard["widgets"]
        for m in widget.get("properties", {}).get("metrics", [])
        if isinstance(m[0], dict)
    ]

    for metric in EMF_METRICS:
        assert any(f'Namespace="Leadsync" MetricName="{metric}"' in e for e in expressions), metric
    lambda_metrics = {
        m[1]
        for widget in dashboard["widgets"]
        for m in widget.get("properties", {}).get("metrics", [])
        if isinstance(m[0], str) and m[0] in ("AWS/Lambda", ".")
    }
    assert {"Duration", "Errors", "Throttles"} <= lambda_metrics


def test_dashboard_widgets_do_not_overlap(resources: Resources) -> None:
    cells: set[tuple[int, int]] = set()
    for widget in _render_dashboard(resources)["widgets"]:
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert widget["x"] + widget["width"] <= 24
        assert not cells & area, widget.get("properties", {}).get("title")
        cells |= area


def test_dashboard_references_only_resources_of_the_stack(template: dict[str, Any], resources: Resources) -> None:
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    known = set(template["Resources"]) | set(template["Parameters"]) | {"AWS::Region", "AWS::StackName"}

    for reference in re.findall(r"\$\{([^}!]+)\}", body):
        assert reference.split(".")[0] in known, reference
