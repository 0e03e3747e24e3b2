"""The template's retry settings and the worker agree: a failing pair's message reaches the pair DLQ.

SQS delivers a failed message again after QueueVisibilityTimeoutSeconds, up to WorkerMaxReceiveCount times,
then moves it to PairDeadLetterQueue. So the worker must still *run* (and fail) a redelivered message whose
tick is one visibility timeout (or several) old; if it dropped it as stale instead, a poison pair would
never be dead-lettered and the PairDeadLetterQueueAlarm would never fire.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.infrastructure.stack import ROOT

EVENT = json.loads((ROOT / "infra" / "events" / "sqs-pair.json").read_text(encoding="utf-8"))
# the deploy guide's example pair (tests/infrastructure/test_deploy_docs.py keeps it valid), as the sample's pair
_EXAMPLE = re.search(
    r"<!-- example-config -->\s*```json\n(.*?)```", (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8"), re.S
)
assert _EXAMPLE
CONFIG = json.loads(_EXAMPLE.group(1))
CONFIG["pairs"][0]["id"] = "notion-trello"


def _redelivery(template: dict[str, Any], receive: int) -> tuple[dict[str, Any], datetime]:
    """The sample event as SQS delivers it the ``receive``-th time, and the clock at that moment."""
    params = template["Parameters"]
    visibility = params["QueueVisibilityTimeoutSeconds"]["Default"]
    event = json.loads(json.dumps(EVENT))
    record = event["Records"][0]
    record["attributes"]["ApproximateReceiveCount"] = str(receive)
    tick = datetime.fromisoformat(json.loads(record["body"])["tick"].replace("Z", "+00:00"))
    return event, tick + timedelta(seconds=5 + (receive - 1) * visibility)


@pytest.fixture
def failing_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from leadsync import engine, fanout
    from leadsync.config import Settings
    from leadsync.engine import CycleReport

    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    settings = Settings(config_file=str(config), state_path=str(tmp_path / "state.db"))
    calls: list[str] = []

    def failed_cycle(pair: Any, *args: Any, **kwargs: Any) -> CycleReport:
        calls.append(pair.id)
        return CycleReport(pair.id, status="failed", errors=["401 from the API"])

    monkeypatch.setattr(fanout, "sync_pair", failed_cycle)
    context = SimpleNamespace(aws_request_id="req-1", get_remaining_time_in_millis=lambda: 50_000)

    def run(event: dict[str, Any], now: datetime) -> tuple[dict[str, Any], list[str]]:
        monkeypatch.setattr(engine, "utcnow", lambda: now.astimezone(UTC))
        calls.clear()
        return fanout.work(event, context, settings=settings), list(calls)

    return run


def test_first_delivery_of_a_failing_pair_fails_its_message(template: dict[str, Any], failing_worker: Any) -> None:
    event, now = _redelivery(template, 1)

    response, calls = failing_worker(event, now)

    assert calls == ["notion-trello"]
    assert response["batchItemFailures"] == [{"itemIdentifier": EVENT["Records"][0]["messageId"]}]


def test_every_redelivery_of_a_failing_pair_fails_again_until_the_dead_letter_queue(
    template: dict[str, Any], failing_worker: Any
) -> None:
    for receive in range(2, template["Parameters"]["WorkerMaxReceiveCount"]["Default"] + 1):
        event, now = _redelivery(template, receive)

        response, calls = failing_worker(event, now)

        assert calls == ["notion-trello"], f"delivery {receive} was not run"
        assert response["batchItemFailures"] == [{"itemIdentifier": EVENT["Records"][0]["messageId"]}]
