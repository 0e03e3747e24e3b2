"""A full sweep too big for one invocation is postponed, not retried every minute (which would stop all syncing)."""

from __future__ import annotations

import pytest

import leadsync.app
from leadsync.connectors import ratelimit
from tests.support.e2e import Harness
from tests.support.lambda_context import FakeLambdaContext

SWEEP_MINUTES = 10  # short: the Google token endpoint's clock is the sandbox's, google-auth's is real time


def _slow_trello(monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    """Trello at one request per 5 s: a sweep of the board (several requests) cannot fit in 2 s."""
    limit = ratelimit.Limit(0.2, 1.0) if slow else ratelimit.Limit(1000.0, 1000.0)
    monkeypatch.setitem(ratelimit.DEFAULT_LIMITS, "trello", limit)
    ratelimit.reset_shared_limiters()


def test_a_sweep_that_does_not_fit_is_postponed_and_incremental_cycles_go_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.configure(full_sweep_minutes=SWEEP_MINUTES)
    lead = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    assert harness.cycle()["applied"] == {"create_card": 1}  # the first cycle is a sweep, and fits
    harness.sb.clock.advance(SWEEP_MINUTES * 60)  # the next sweep is due

    _slow_trello(monkeypatch, slow=True)
    monkeypatch.setenv("LEADSYNC_SAFETY_MARGIN_SECONDS", "1")
    monkeypatch.setattr(leadsync.app, "MIN_SECONDS_FOR_A_PAIR", 0.1)
    harness.context_factory = lambda: FakeLambdaContext(timeout_seconds=3.0)
    postponed = harness.cycle()

    assert postponed["full_sweep"] is True
    assert postponed["status"] == "partial"
    assert postponed["errors"] == 1

    _slow_trello(monkeypatch, slow=False)
    harness.context_factory = FakeLambdaContext
    harness.leads.edit(lead, status="Contacted")
    after = harness.cycle()
    assert after["full_sweep"] is False, "not retried at once: the next cycles are incremental"
    assert after["applied"] == {"update_card": 1}
    assert harness.board.card_for(lead)["list"] == "In Progress"

    harness.sb.clock.advance(SWEEP_MINUTES * 60)
    retried = harness.cycle()
    assert retried["full_sweep"] is True
    assert retried["status"] == "synced", "tried again after full_sweep_minutes, and now it fits"
