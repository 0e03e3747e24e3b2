"""Concurrent writes inside a cycle: which units may run at once, how many, and the lanes that run them.

A unit's writes wait mostly on the network (a Trello card create answers in a few hundred ms), so
one unit at a time reaches a fraction of what a credential's rate limit allows. The apply step runs
up to ``width`` units at once; the token buckets (``connectors.ratelimit``) still pace every request,
so the width only has to cover the latency: about ``rate x latency`` requests in flight, doubled for
jitter and capped.

What stays as it was, sequentially:

- a unit's operations run in order, on one thread (intent before create, link before marker);
- two units that touch the same record never run at once: the later waits for the earlier
  (``blockers``), so operations on one record keep the plan's order;
- everything the rest of the cycle sees (puts, drops, activity, history, progress, errors) is
  handled on the calling thread as units finish (``Lanes`` calls ``on_done`` there);
- width 1 runs every unit inline, on the calling thread: exactly the sequential engine.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

from leadsync.core.models import Side
from leadsync.core.operations import Create, Unit

T = TypeVar("T")

THREAD_PREFIX = "leadsync-apply"  # the lanes' thread names (tests/support/crash.py counts their calls)


def lane_prefix(owner: int | None = None) -> str:
    """The thread-name prefix of the lanes a cycle running on thread ``owner`` (this one) starts, so
    each lane can be told whose cycle it works for (``<prefix>_<n>`` is the pool's own naming)."""
    return f"{THREAD_PREFIX}-{threading.get_ident() if owner is None else owner}"


HEADROOM = 2.0  # in-flight units per (rate x latency): room for latency jitter and store calls


def touched(unit: Unit) -> frozenset[tuple[Side, str]]:
    """Every record a unit reads or writes: its two ids, its ops' records, its link's and drop's."""
    keys: set[tuple[Side, str]] = set()
    for side, record_id in ((Side.LEAD, unit.lead_id), (Side.CARD, unit.card_id)):
        if record_id:
            keys.add((side, record_id))
    for link in (unit.link, unit.drop):
        if link is not None:
            if link.lead_id:
                keys.add((Side.LEAD, link.lead_id))
            if link.card_id:
                keys.add((Side.CARD, link.card_id))
    for op in unit.ops:
        if isinstance(op, Create):
            keys.add((op.side.other, op.source_id))
        else:
            keys.add((op.side, op.record_id))
    return frozenset(keys)


def blockers(units: Sequence[Unit]) -> list[frozenset[int]]:
    """For each unit, the earlier units it must wait for: the last earlier one touching each of its records.

    Waiting for the last one is enough: that one waited for the ones before it.
    """
    last: dict[tuple[Side, str], int] = {}
    out: list[frozenset[int]] = []
    for index, unit in enumerate(units):
        keys = touched(unit)
        out.append(frozenset(last[key] for key in keys if key in last))
        for key in keys:
            last[key] = index
    return out


def width(rates: Iterable[float], unit_seconds: float, cap: int, *, headroom: float = HEADROOM) -> int:
    """Units in flight to keep the fastest budget busy: ``headroom x rate x unit latency``, 1..cap.

    ``rates``: requests per second each side's credential allows; ``unit_seconds``: the typical
    time one unit's writes take (its requests one after the other).
    """
    fastest = max(rates, default=0.0)
    if cap <= 1 or fastest <= 0 or unit_seconds <= 0:
        return 1
    return max(1, min(cap, math.ceil(headroom * fastest * unit_seconds)))


class Lanes(Generic[T]):
    """Runs tasks on up to ``width`` threads; each starts only once its blockers are done.

    ``on_done(index, result, error)`` runs on the calling thread (in ``start``, ``drain``), in the
    order tasks finish. With ``width`` 1 a task runs inline when started. Use as a context
    manager: leaving it waits for every task in flight.
    """

    def __init__(self, width: int, on_done: Callable[[int, T | None, BaseException | None], None]) -> None:
        self.width = max(1, width)
        self._on_done = on_done
        self._pool = ThreadPoolExecutor(self.width, thread_name_prefix=lane_prefix()) if self.width > 1 else None
        self._running: dict[Future[T], int] = {}
        self._done: set[int] = set()
        self._started: dict[int, float] = {}
        self._durations: deque[float] = deque(maxlen=50)  # the last tasks' durations
        self._finished = 0

    def __enter__(self) -> Lanes[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.drain()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def _lanes(self) -> int:
        """The first task runs alone (it tells how long a task takes, see ``overlap``); then ``width``."""
        return self.width if self._finished else 1

    def overlap(self) -> float:
        """Time a new task must leave beyond the caller's reserve: while others are in flight, the
        median task duration so far (the tasks in flight end about then); 0 when alone, as in the
        sequential engine. Not the slowest: one task held up (a lock, a retry) would stop every
        start long before the deadline."""
        if not self._running or not self._durations:
            return 0.0
        return statistics.median(self._durations)

    def ready(self, waits_for: Iterable[int]) -> None:
        """Block until every task of ``waits_for`` is done and a lane is free (handling what finishes)."""
        pending = set(waits_for)
        while self._running and (len(self._running) >= self._lanes() or not pending <= self._done):
            self._collect(block=True)
        self._collect(block=False)

    def skip(self, index: int) -> None:
        """Task ``index`` will not run (deferred): it counts as done for those waiting on it."""
        self._done.add(index)

    def start(self, index: int, task: Callable[[], T]) -> None:
        """Run ``task`` (after ``ready``): inline with width 1, else on a free lane."""
        self._started[index] = time.monotonic()
        if self._pool is None:
            try:
                result = task()
            except Exception as exc:
                self._finish(index, None, exc)
                return
            self._finish(index, result, None)
            return
        self._running[self._pool.submit(task)] = index

    def drain(self) -> None:
        """Wait for every task in flight."""
        while self._running:
            self._collect(block=True)

    def _collect(self, *, block: bool) -> None:
        if not self._running:
            return
        done, _ = wait(list(self._running), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            index = self._running.pop(future)
            error = future.exception()
            self._finish(index, None if error is not None else future.result(), error)

    def _finish(self, index: int, result: T | None, error: BaseException | None) -> None:
        self._done.add(index)
        self._finished += 1
        took = time.monotonic() - self._started.pop(index, time.monotonic())
        self._durations.append(took)
        self._on_done(index, result, error)
