"""Smoke test of the propagation-latency benchmark (infra/bench_webhooks.py): a tiny run measures both
modes and prints a row for each. Not a timed test: the figures are not checked, only that they exist."""

from __future__ import annotations

import re

from tests.support.bench_cli import run_bench


def test_two_trello_edits_are_measured_with_webhooks_on_and_with_the_schedule_only() -> None:
    out = run_bench("bench_webhooks.py", "--edits", "2", "--systems", "trello", "--latency", "0", timeout=300)
    rows = dict(re.findall(r"^\s+trello\s+(webhooks on|schedule only)\s+(.+)$", out, re.M))
    assert set(rows) == {"webhooks on", "schedule only"}, out
    for mode, cells in rows.items():
        p50, p95, worst = (float(c) for c in cells.split())
        assert 0 < p50 <= p95 <= worst, (mode, cells)
