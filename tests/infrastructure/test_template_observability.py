"""Alarms, log retention and the dashboard cover what both functions, the pair queue and the code emit."""

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


def _alarm(resources: Resources, namespace: str, metric: str, on: str | None = None) -> dict[str, Any]:
    """The one alarm on namespace/metric (for the resource ``on`` names, by logical id, if given)."""
    found = [
        a["Properties"]
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Namespace"] == namespace
        and a["Properties"]["MetricName"] == metric
        and (on is None or on in json.dumps(a["Properties"]["Dimensions"]))
    ]
    assert len(found) == 1, f"one alarm on {namespace}/{metric} ({on}) expected, found {len(found)}"
    return found[0]


def _function_dims(name: str) -> list[dict[str, Any]]:
    return [{"Name": "FunctionName", "Value": {"Ref": name}}]


def _queue_dims(name: str) -> list[dict[str, Any]]:
    return [{"Name": "QueueName", "Value": {"Fn::GetAtt": [name, "QueueName"]}}]


def _render_dashboard(resources: Resources) -> dict[str, Any]:
    """The dashboard body with each ${...} of its Fn::Sub replaced by a plausible value."""
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    values = {
        "AWS::Region": "eu-west-1",
        "AWS::StackName": "leadsync",
        "SyncLagAlarmSeconds": "600",
        "FunctionTimeoutSeconds": "55",
        "QueueAgeAlarmSeconds": "300",
        "WorkerMaxConcurrency": "5",
        "WorkerMaxReceiveCount": "3",
    }
    rendered = re.sub(r"\$\{([^}!]+)\}", lambda m: values.get(m.group(1), f"resolved-{m.group(1)}"), body)
    return json.loads(rendered)


@pytest.mark.parametrize(
    ("namespace", "metric", "dimensions"),
    [
        ("AWS/Lambda", "Errors", _function_dims("SyncFunction")),
        ("AWS/Lambda", "Throttles", _function_dims("SyncFunction")),
        ("AWS/Lambda", "Errors", _function_dims("DispatchFunction")),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", _queue_dims("DeadLetterQueue")),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", _queue_dims("PairDeadLetterQueue")),
        ("Leadsync", "SyncErrors", [{"Name": "service", "Value": "leadsync"}]),
    ],
)
def test_any_occurrence_raises_an_alarm(
    resources: Resources, namespace: str, metric: str, dimensions: list[dict[str, Any]]
) -> None:
    alarm = _alarm(resources, namespace, metric, on=json.dumps(dimensions[0]["Value"]))

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


def test_a_stopped_schedule_is_noticed_on_the_dispatcher(resources: Resources) -> None:
    # the worker runs per message (idle with no pairs); the dispatcher runs every minute whatever happens
    alarm = _alarm(resources, "AWS/Lambda", "Invocations")

    assert alarm["Dimensions"] == _function_dims("DispatchFunction")
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["Period"] * alarm["EvaluationPeriods"] >= 600, "one late tick is not an outage"


def test_pair_messages_waiting_too_long_raise_an_alarm(template: dict[str, Any], resources: Resources) -> None:
    alarm = _alarm(resources, "AWS/SQS", "ApproximateAgeOfOldestMessage")

    assert alarm["Dimensions"] == _queue_dims("PairQueue")
    assert alarm["Statistic"] == "Maximum"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == {"Ref": "QueueAgeAlarmSeconds"}
    assert alarm["TreatMissingData"] == "notBreaching"
    assert template["Parameters"]["QueueAgeAlarmSeconds"]["Default"] == 300


def test_every_alarm_names_a_resource_of_the_stack(template: dict[str, Any], resources: Resources) -> None:
    for name, alarm in of_type(resources, "AWS::CloudWatch::Alarm").items():
        for dimension in alarm["Properties"]["Dimensions"]:
            value = dimension["Value"]
            if isinstance(value, dict):
                target = value.get("Ref") or value["Fn::GetAtt"][0]
                assert target in template["Resources"], (name, target)


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


@pytest.mark.parametrize(("group_name", "suffix"), [("SyncLogGroup", "sync"), ("DispatchLogGroup", "dispatch")])
def test_log_groups_are_explicit_with_thirty_day_default_retention(
    template: dict[str, Any], resources: Resources, group_name: str, suffix: str
) -> None:
    group = resources[group_name]["Properties"]

    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30
    assert group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}-{suffix}"}


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


def _explicit_metrics(dashboard: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(namespace, metric, dimension value) of every metric line, the "." shorthand expanded."""
    found = set()
    for widget in dashboard["widgets"]:
        previous: list[Any] = []
        for line in widget.get("properties", {}).get("metrics", []):
            if isinstance(line[0], dict):
                continue
            fields = [f for f in line if not isinstance(f, dict)]
            if fields[0] == "...":
                fields = previous[: len(previous) - len(fields) + 1] + fields[1:]
            fields = [previous[i] if f == "." else f for i, f in enumerate(fields)]
            previous = fields
            found.add((fields[0], fields[1], fields[3]))
    return found


def test_dashboard_shows_each_function_and_the_queues(resources: Resources) -> None:
    metrics = _explicit_metrics(_render_dashboard(resources))

    for function in ("SyncFunction", "DispatchFunction"):
        for metric in ("Duration", "Invocations", "Errors", "Throttles"):
            assert ("AWS/Lambda", metric, f"resolved-{function}") in metrics, (function, metric)
    for metric in ("ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"):
        assert ("AWS/SQS", metric, "resolved-PairQueue.QueueName") in metrics, metric
    for dlq in ("PairDeadLetterQueue", "DeadLetterQueue"):
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", f"resolved-{dlq}.QueueName") in metrics, dlq


def test_dashboard_log_widget_reads_both_log_groups(resources: Resources) -> None:
    (widget,) = [w for w in _render_dashboard(resources)["widgets"] if w["type"] == "log"]

    assert "SOURCE 'resolved-SyncLogGroup'" in widget["properties"]["query"]
    assert "SOURCE 'resolved-DispatchLogGroup'" in widget["properties"]["query"]


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
