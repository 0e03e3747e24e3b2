"""Smoke test of the fan-out part of `make bench`: a dozen pairs through the real dispatcher and
worker handlers, SQS and the shared budgets; every column printed, every pair done once, no 429.

Not a timed test: it checks the simulation still runs against the current handlers and sandbox.
"""

from __future__ import annotations

from tests.support.bench_cli import run_bench, table_rows

TICK_COLUMNS = ["dispatch s", "idle p50/p95/max s", "first-sync p50/p95/max s", "idle within 60 s", "duplicate cards"]
BUDGET_COLUMNS = ["requests per tick", "429s per tick", "share of per-minute budget"]
COST_COLUMNS = ["DDB calls/cycle", "worker ms", "Lambda $", "SQS $", "DynamoDB $", "total $/pair/month"]


def test_fanout_bench_runs_a_dozen_pairs_without_429_or_duplicates() -> None:
    text = run_bench(
        "bench.py",
        *("--fanout-only", "--pairs", "12", "--concurrency", "4", "--first-sync-share", "0.25", "--first-leads", "4"),
        timeout=240,
    )
    for column in TICK_COLUMNS + BUDGET_COLUMNS + COST_COLUMNS:
        assert column in text, f"column {column!r} missing from:\n{text}"
    assert "## Handler" not in text, "--fanout-only runs the fan-out alone"

    ticks = table_rows(text, "## Fan-out")
    assert ticks[-1][0] == "all idle", ticks
    for tick in ticks:
        assert tick[1] == "12/12", tick  # every pair's message ran this tick
        assert tick[5] == "9/9", tick  # every idle pair committed within the schedule period
        assert tick[7:] == ["0", "0", "0", "0"], tick  # failed, redelivered, duplicate cards, dead-lettered

    budgets = {row[0]: row for row in table_rows(text, "### Shared budgets")}
    assert {"notion token", "trello token"} <= set(budgets)
    for row in budgets.values():
        assert set(row[2].split()) == {"0"}, row  # no 429 for any credential
    trello_first_tick = int(budgets["trello token"][1].split()[0])
    assert trello_first_tick >= 3 * 4, "the first syncs created their cards through the shared token"

    cost = table_rows(text, "### Idle cycle")[0]
    assert int(cost[0]) >= 9
    assert float(cost[1].split()[0]) >= 1  # the lease and the state are in DynamoDB
    assert float(cost[-1]) > 0
