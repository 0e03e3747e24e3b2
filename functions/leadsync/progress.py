"""How far a long first sync has come: records linked, records still waiting, and when it will be done.

Pure arithmetic and a tiny in-process publish/subscribe, nothing else: the engine publishes a
`Progress` after each creation (cheap when nobody listens, as in Lambda), the local CLI subscribes a
progress bar. The cycle summary and the ``BacklogRemaining`` metric carry the same numbers
(`estimate`), so ``sam logs --tail`` tells when a first sync will be done.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from leadsync.observability import logger


@dataclass(frozen=True)
class Progress:
    """One pair's creations in the running cycle."""

    pair: str
    created: int  # records created (so linked) this cycle so far
    waiting: int  # records still to create: the rest of this cycle's plan and the backlog behind it
    elapsed: float  # seconds since the cycle started

    @property
    def total(self) -> int:
        return self.created + self.waiting


@dataclass(frozen=True)
class Estimate:
    """When the waiting records will all be linked, at the rate of the cycle just run."""

    eta_seconds: int | None  # working time at this cycle's rate (None: nothing created, no rate known)
    eta_cycles: int | None  # cycles of this cycle's size still needed


def estimate(created: int, waiting: int, elapsed: float) -> Estimate:
    """ETA of `waiting` records at `created` per `elapsed` seconds (0 waiting: 0; no rate: None)."""
    if waiting <= 0:
        return Estimate(0, 0)
    if created <= 0 or elapsed <= 0:
        return Estimate(None, None)
    return Estimate(math.ceil(waiting * elapsed / created), math.ceil(waiting / created))


def describe_eta(seconds: int | None) -> str:
    """'about 3 min', 'about 1 h 20 min', 'unknown' (no rate yet)."""
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"about {seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60} min"


Listener = Callable[[Progress], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call `listener` with every `Progress` published in this process; returns the unsubscribe."""
    _listeners.append(listener)

    def unsubscribe() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return unsubscribe


def publish(progress: Progress) -> None:
    """Tell every listener; a failing listener (a broken terminal) never stops a sync."""
    for listener in list(_listeners):
        try:
            listener(progress)
        except Exception:
            logger.debug("progress listener failed", exc_info=True)


def listening() -> bool:
    """Whether anyone listens (the engine skips building `Progress` otherwise)."""
    return bool(_listeners)
