"""Smoke test of `make bench`: a tiny run goes through every phase and prints every column.

Not a timed test: it checks the benchmark still runs against the current engine and sandbox.
"""

from __future__ import annotations

from tests.support.bench_cli import run_bench, table_row

NO_CHANGE_COLUMNS = ["requests/cycle", "DDB calls", "DDB calls by operation", "CPU s warm", "CPU s cold"]
MEMORY_COLUMNS = ["peak RSS MB", "heap peak MB"]
FIRST_SYNC_COLUMNS = ["clock", "latency", "invocations", "requests", "429s", "active s", "span s", "bound s"]
FIRST_SYNC_COLUMNS += ["active/bound"]
MORE_FIRST_SYNC_COLUMNS = ["DDB calls", "CPU s (busy)", "real s"]
SWEEP_COLUMNS = ["requests", "DDB calls", "CPU s", "wall s", "swept"]


def _counts(cell: str) -> dict[str, int]:
    """ "notion 1,023 trello 21" or "notion 1, trello 1..2" -> {"notion": 1023, "trello": 21} (lowest value)."""
    words = cell.split()
    return {words[i]: int(words[i + 1].rstrip(",").split("..")[0].replace(",", "")) for i in range(0, len(words), 2)}


def test_bench_runs_twenty_leads_and_prints_every_column() -> None:
    text = run_bench(
        "bench.py",
        *("--sizes", "20", "--trackers", "notion", "--cycles", "1", "--import-runs", "1", "--no-package"),
        "--no-fanout",  # tests/unit/test_bench_fanout_smoke.py runs that part
        timeout=180,
    )
    for column in NO_CHANGE_COLUMNS + MEMORY_COLUMNS + FIRST_SYNC_COLUMNS + MORE_FIRST_SYNC_COLUMNS + SWEEP_COLUMNS:
        assert column in text, f"column {column!r} missing from:\n{text}"

    steady = table_row(text, "## No-change cycle", "notion", "20")
    assert set(_counts(steady[2])) == {"notion", "trello"}
    assert all(cell not in ("", "-") for cell in steady), steady

    first = table_row(text, "## First sync", "notion", "20", skip=1, then=("off",))
    assert first[2] == "virtual"
    assert first[4].endswith(" done"), first
    requests = _counts(first[5])
    assert requests["trello"] >= 20  # one card created per lead
    assert requests["notion"] >= 20  # the card's id written back to each lead
    assert float(first[9].split()[0]) > 0

    # the same first sync with realistic latency: done too, in real time (the virtual clock cannot
    # overlap concurrent answers' latency), and slower: the answers' round trips take time
    slow = table_row(text, "## First sync", "notion", "20", skip=1, then=("on",))
    assert slow[2] == "x1", slow
    assert slow[4].endswith(" done"), slow
    assert float(slow[7]) > float(first[7]), (first, slow)

    # the two first syncs side by side: invocations, requests, 429s and share of the bound, off then on
    both = table_row(text, "## First sync: latency off and on", "notion", "20")
    assert both[2:5] == [first[4].split()[0], first[5], "0"], (both, first)
    assert both[6:9] == [slow[4].split()[0], slow[5], "0"], (both, slow)
    off_share, on_share = (int(cell.removesuffix("%")) for cell in (both[5], both[9]))
    assert off_share > on_share > 0, both  # the round trips cost time the limits alone would not
    assert "engine settings: the engine's defaults" in text

    sweep = table_row(text, "## Hourly full sweep", "notion", "20")
    assert sweep[-1] == "yes"
    assert "import handlers.scheduled_sync" in text
    assert "package size: skipped" in text
