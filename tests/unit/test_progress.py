"""Progress arithmetic (ETA, backlog counts) and the progress bar kept out of the Lambda's imports."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from leadsync import backlog, progress
from leadsync.core.models import PairMeta

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("created", "waiting", "elapsed", "seconds", "cycles"),
    [
        (100, 900, 50.0, 450, 9),
        (130, 9870, 55.0, 4176, 76),  # ceil: never promises sooner than the rate says
        (10, 0, 5.0, 0, 0),  # nothing waits: done
        (0, 50, 55.0, None, None),  # nothing created: no rate, no ETA
        (3, 7, 0.0, None, None),
    ],
)
def test_estimate(created: int, waiting: int, elapsed: float, seconds: int | None, cycles: int | None) -> None:
    assert progress.estimate(created, waiting, elapsed) == progress.Estimate(seconds, cycles)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(None, "unknown"), (0, "about 0 s"), (59, "about 59 s"), (61, "about 2 min"), (4176, "about 1 h 10 min")],
)
def test_describe_eta(seconds: int | None, words: str) -> None:
    assert progress.describe_eta(seconds) == words


def test_queue_count_comes_from_the_last_summary_or_an_upper_bound() -> None:
    assert backlog.queued(PairMeta()) == 0
    assert backlog.queued(PairMeta(backlog=[4, 5], last_run={"backlog": 512})) == 512
    assert backlog.queued(PairMeta(backlog=[4, 5], last_run={})) == 2 * backlog.CHUNK_ENTRIES
    assert backlog.queued(PairMeta(backlog=[4], last_run={"backlog": "many"})) == backlog.CHUNK_ENTRIES
    assert backlog.queued(PairMeta(backlog=[], last_run={"backlog": 9})) == 0  # an empty queue holds nothing
    # 1,000 queued, two chunks of 400 read, 650 written back at the head: 650 + the 200 not read
    assert backlog.queued_after(1000, 800, 650) == 850
    assert backlog.queued_after(10, 40, 3) == 3


def test_a_failing_listener_never_stops_the_others() -> None:
    got: list[progress.Progress] = []

    def broken(_p: progress.Progress) -> None:
        raise OSError("terminal gone")

    stop_broken, stop_got = progress.subscribe(broken), progress.subscribe(got.append)
    try:
        assert progress.listening()
        progress.publish(progress.Progress("p", 1, 2, 0.5))
    finally:
        stop_broken()
        stop_got()
    assert got == [progress.Progress("p", 1, 2, 0.5)]
    assert not progress.listening()


def test_bars_count_across_cycles_and_restore_the_log_level() -> None:
    import logging

    from leadsync.progress_bar import ProgressBars

    level = logging.getLogger("leadsync").level
    stream = io.StringIO()
    bars = ProgressBars(stream)
    try:
        assert logging.getLogger("leadsync").getEffectiveLevel() >= logging.WARNING
        progress.publish(progress.Progress("a", 0, 30, 0.0))
        progress.publish(progress.Progress("a", 10, 20, 1.0))
        bars.cycle_done("a", 10)
        progress.publish(progress.Progress("a", 5, 15, 0.5))  # the next cycle: 10 + 5 of 30
    finally:
        bars.close()
    assert logging.getLogger("leadsync").level == level
    frames = stream.getvalue().replace("\r", "\n")
    assert "pair a: linked:" in frames
    assert "0/30" in frames  # drawn from the first publication, total known
    assert "15/30" in frames
    assert " records [" not in frames  # never a bar without its total


def test_the_lambda_handlers_never_import_the_progress_bar() -> None:
    code = "import sys, handlers.scheduled_sync, handlers.pair_worker, handlers.dispatch; "
    code += "print(sorted(m for m in sys.modules if 'tqdm' in m))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]"
