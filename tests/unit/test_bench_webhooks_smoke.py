"""Smoke test of the propagation-latency benchmark (infra/bench_webhooks.py): a tiny run measures both
modes and prints a row for each. Not a timed test: the figures are not checked, only that they exist."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_two_trello_edits_are_measured_with_webhooks_on_and_with_the_schedule_only() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(["functions", "infra", "."])}
    out = subprocess.run(
        [sys.executable, "infra/bench_webhooks.py", "--edits", "2", "--systems", "trello", "--latency", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    rows = dict(re.findall(r"^\s+trello\s+(webhooks on|schedule only)\s+(.+)$", out, re.M))
    assert set(rows) == {"webhooks on", "schedule only"}, out
    for mode, cells in rows.items():
        p50, p95, worst = (float(c) for c in cells.split())
        assert 0 < p50 <= p95 <= worst, (mode, cells)
