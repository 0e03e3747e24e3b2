"""The local CLI's progress bar (tqdm): records linked of total, rate and ETA, one bar per pair.

Only ``python -m leadsync sync`` imports this module (tqdm is a local-run dependency, not part of
the Lambda package); it listens to what the engine publishes through ``leadsync.progress``.
"""

from __future__ import annotations

import logging
from typing import IO, Any

from tqdm import tqdm

from leadsync import progress


class ProgressBars:
    """A bar per pair, kept across the cycles of one ``sync --every`` run."""

    def __init__(self, stream: IO[str], quiet_logger: str | None = "leadsync") -> None:
        """Bars on `stream`; while they show, `quiet_logger` logs warnings and errors only (its
        one line per record applied would break the bar; the bar says how far along it is)."""
        self._stream = stream
        self._logger = logging.getLogger(quiet_logger) if quiet_logger else None
        self._level = self._logger.level if self._logger else logging.NOTSET
        if self._logger is not None:
            self._logger.setLevel(max(self._level, logging.WARNING))
        self._bars: dict[str, tqdm[Any]] = {}
        self._done: dict[str, int] = {}  # records linked by the finished cycles of this run
        self._unsubscribe = progress.subscribe(self.update)

    def update(self, p: progress.Progress) -> None:
        """Show `p` (this cycle's numbers) on top of what the run's earlier cycles linked."""
        bar = self._bars.get(p.pair)
        before = self._done.get(p.pair, 0)
        if bar is None:
            bar = tqdm(
                total=before + p.total,
                desc=f"pair {p.pair}: linked",
                unit=" records",
                file=self._stream,
                position=len(self._bars),
                dynamic_ncols=True,
                mininterval=0.2,
            )
            self._bars[p.pair] = bar
        bar.total = before + p.total
        step = before + p.created - bar.n
        if step > 0:
            bar.update(step)
        else:
            bar.refresh()

    def cycle_done(self, pair: str, created: int) -> None:
        """A cycle of `pair` finished having created `created` records."""
        self._done[pair] = self._done.get(pair, 0) + created

    def close(self) -> None:
        self._unsubscribe()
        if self._logger is not None:
            self._logger.setLevel(self._level)
        for bar in self._bars.values():
            bar.close()
