"""A long first sync says where it is: backlog remaining and ETA in the summary, log line and metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

import leadsync.engine
from leadsync import progress
from tests.support.e2e import Harness

LEADS = 30


@pytest.fixture(autouse=True)
def _metrics_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The metrics this test reads are its own: printed (importing the CLI turns them off for the
    process) and not mixed with values an earlier test's cycles left unflushed."""
    from leadsync.observability import metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics.clear_metrics()


def _allow_units(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Each cycle has time for `n` units with writes, then its deadline defers the rest."""
    left = [n]

    def reserve(cycle: Any) -> float:
        left[0] -= 1
        return 0.0 if left[0] >= 0 else 1e9

    monkeypatch.setattr(leadsync.engine.Engine, "_reserve", staticmethod(reserve))


def _metric(out: str, name: str) -> list[float]:
    """Values of an EMF metric printed by the handler (one JSON object per line)."""
    values = []
    for line in out.splitlines():
        if line.startswith("{") and f'"{name}"' in line:
            document = json.loads(line)
            if "_aws" in document and name in document:
                value = document[name]
                values += [float(v) for v in value] if isinstance(value, list) else [float(value)]
    return values


def test_a_partial_first_sync_reports_its_backlog_and_eta_until_it_is_done(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for n in range(LEADS):
        harness.leads.add(name=f"Lead {n:02d}", email=f"l{n}@example.com", status="New", source="Import")
    harness.sb.clock.advance(300)
    seen: list[progress.Progress] = []
    unsubscribe = progress.subscribe(seen.append)
    try:
        summaries = []
        for _ in range(3):
            with monkeypatch.context() as short:
                _allow_units(short, 10)
                summaries.append(harness.cycle())
        summaries.append(harness.cycle())
    finally:
        unsubscribe()
    out = capsys.readouterr().out

    assert [s["applied"].get("create_card", 0) for s in summaries] == [10, 10, 10, 0]
    assert [s["backlog"] for s in summaries] == [20, 10, 0, 0]
    first = summaries[0]
    assert first["eta_cycles"] == 2
    assert first["eta_seconds"] is not None
    assert first["eta_seconds"] >= 1
    assert first["eta_seconds"] == pytest.approx(2 * first["duration_ms"] / 1000, abs=1)
    assert summaries[2]["eta_seconds"] == 0
    assert summaries[2]["eta_cycles"] == 0
    finished = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cycle finished")]
    assert finished[0].startswith("cycle finished; 20 records wait to be created, about ")
    assert finished[0].endswith(" to go (2 cycles) at this cycle's rate")
    assert finished[-1] == "cycle finished"
    assert _metric(out, "BacklogRemaining") == [20, 10, 0, 0]

    # the progress published during the first cycle: one record linked at a time, out of all 30
    firsts = [p for p in seen if p.total == LEADS and p.created <= 10]
    assert [p.created for p in firsts][:11] == list(range(11))
    assert {p.pair for p in seen} == {"e2e"}
    assert seen[-1].waiting == 0


def test_the_count_survives_a_cycle_that_reads_only_part_of_the_queue(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older chunks a cycle does not read still count: the summary carries the whole queue."""
    from leadsync import backlog

    monkeypatch.setattr(backlog, "BATCH", 5)
    monkeypatch.setattr(backlog, "CHUNK_ENTRIES", 5)
    for n in range(LEADS):
        harness.leads.add(name=f"Lead {n:02d}", email=f"l{n}@example.com", status="New", source="Import")
    harness.sb.clock.advance(300)
    _allow_units(monkeypatch, 0)
    first = harness.cycle()  # reads all 30, creates none: 6 chunks of 5
    _allow_units(monkeypatch, 3)
    second = harness.cycle()  # takes one chunk of 5, creates 3
    assert (first["deferred"], first["backlog"]) == (LEADS, LEADS)
    assert second["applied"] == {"create_card": 3}
    assert second["backlog"] == LEADS - 3
    assert second["eta_cycles"] == 9


def test_the_cli_shows_a_progress_bar_of_records_linked_and_says_what_is_left(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {"LEADSYNC_LOG_FORMAT": "text", "POWERTOOLS_METRICS_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)  # what the CLI would set for itself, restored after the test
    from leadsync import cli

    for n in range(LEADS):
        harness.leads.add(name=f"Lead {n:02d}", email=f"l{n}@example.com", status="New", source="Import")
    harness.sb.clock.advance(300)
    with monkeypatch.context() as short:
        _allow_units(short, 12)
        assert cli.main(["sync", "--progress", "on"]) == 3  # partial: the next run continues
    shown = capsys.readouterr()
    bar = shown.err.replace("\r", "\n").splitlines()
    assert any(line.startswith("pair e2e: linked:") and "12/30" in line for line in bar), shown.err
    assert any("0/30" in line for line in bar), shown.err  # drawn from the start of the creations
    assert "records/s" in shown.err
    assert "; 18 record(s) left (about " in shown.out
    assert "the next run continues" in shown.out

    harness.sb.clock.advance(61)
    assert cli.main(["sync"]) == 0  # auto: stderr is not a terminal here, so no bar
    quiet = capsys.readouterr()
    assert "linked" not in quiet.err
    assert "applied create_card 18;" in quiet.out
    assert "left" not in quiet.out
