"""The working data of one cycle, shared by its phases: nothing here reads or writes anything.

``Cycle`` holds what the phases hand each other (records read, failures, markers queued, backlog
taken); it lives for one cycle, and what must outlive it goes into ``META`` at the commit.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leadsync.config import PairConfig
from leadsync.connectors.base import Connector
from leadsync.connectors.deadline import Deadline
from leadsync.core.approvals import PendingDeletion
from leadsync.core.history import Activity
from leadsync.core.mapping import Normalizer
from leadsync.core.models import Fence, FetchResult, Fields, Intent, PairMeta, Record, Side
from leadsync.core.planner import PlanConfig
from leadsync.observability import logger


def _connector_normalizer(connector: Connector, native: str) -> Normalizer | None:
    method = getattr(connector, "normalizer", None)
    return method(native) if callable(method) else None


def _compose(steps: list[Normalizer]) -> Normalizer:
    def composed(value: str | None) -> str | None:
        for step in steps:
            value = step(value)
        return value

    return composed


@dataclass
class PairRuntime:
    """A pair's config with its two connectors, ready to sync."""

    config: PairConfig
    lead: Connector
    card: Connector
    plan_config: PlanConfig = field(init=False)

    def __post_init__(self) -> None:
        self.plan_config = self.config.plan_config(self._normalizers())

    def _normalizers(self) -> dict[str, Normalizer]:
        """Per canonical field, how each system reshapes a value it stores (see Connector.normalizer)."""
        out: dict[str, Normalizer] = {}
        for name, f in self.config.fields.items():
            steps = [
                step
                for connector, native in ((self.lead, f.lead), (self.card, f.card))
                if (step := _connector_normalizer(connector, native)) is not None
            ]
            if steps:
                out[name] = _compose(steps)
        return out

    @property
    def id(self) -> str:
        return self.config.id

    def connector(self, side: Side) -> Connector:
        return self.lead if side is Side.LEAD else self.card


@dataclass
class CycleReport:
    """What one cycle of one pair did (also the ``last_run`` summary stored in META)."""

    pair: str
    status: str = "synced"  # synced | partial | skipped | failed | dry_run
    full_sweep: bool = False
    read: dict[str, int] = field(default_factory=dict)
    applied: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    activity: list[str] = field(default_factory=list)
    plan: list[dict[str, str]] = field(default_factory=list)  # a dry run's lines by kind (leadsync.readout)
    deferred: int = 0
    held_deletions: int = 0  # archives kept back by the mass-deletion guard
    backlog: int = 0  # records waiting in the backlog to be created after this cycle (leadsync.progress)
    eta_seconds: int | None = None  # when the backlog will be done at this cycle's rate (None: unknown)
    eta_cycles: int | None = None
    awaiting_approval: int = 0  # deletions newly held for the operator's approval (approve mode)
    duration_ms: int = 0
    started_monotonic: float = field(default_factory=time.monotonic, repr=False)

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started_monotonic) * 1000)

    def summary(self) -> dict[str, object]:
        return {
            "status": self.status,
            "full_sweep": self.full_sweep,
            "read": self.read,
            "applied": self.applied,
            "conflicts": self.conflicts,
            "errors": len(self.errors),
            "problems": len(self.problems),
            "deferred": self.deferred,
            "held_deletions": self.held_deletions,
            "backlog": self.backlog,
            "eta_seconds": self.eta_seconds,
            "eta_cycles": self.eta_cycles,
            "awaiting_approval": self.awaiting_approval,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class Limits:
    """The engine's tunables for one cycle (``leadsync.engine``'s constants, read when the cycle starts)."""

    unit_reserve_seconds: float  # do not start a unit with less time than this left
    marker_flush_seconds: float  # ... plus this while link markers wait to be written in a batch
    direct_read_share: float  # direct (one-by-one) reads may use at most this share of the remaining time
    max_pending: int  # ids kept for a direct re-fetch; past this the cursor is held back instead
    max_seen: int  # fingerprints kept for overlap/echo dedupe
    seen_window: timedelta
    write_concurrency: int | None = 1  # units applied at once; None: derived from the rate limits
    max_write_concurrency: int = 8  # the cap of a derived width
    listing_share: float = 0.5  # a listing in parts (``Resuming``) may use this share of the remaining time


def listing_key(side: Side) -> str:
    """Where META's cursors keep a listing in parts under way (``Resuming``): its resume token."""
    return f"{side.value}:listing"


@dataclass
class Cycle:
    """Working data of one cycle."""

    pair: PairRuntime
    meta: PairMeta
    started: datetime
    deadline: Deadline
    report: CycleReport
    fence: Fence
    clock: Callable[[], datetime]
    limits: Limits
    force_sweep: bool = False
    allow_deletions: bool = False
    records: dict[Side, dict[str, Record]] = field(default_factory=lambda: {Side.LEAD: {}, Side.CARD: {}})
    fetched: dict[Side, FetchResult] = field(default_factory=dict)
    failed: dict[Side, set[str]] = field(default_factory=lambda: {Side.LEAD: set(), Side.CARD: set()})
    seen: dict[Side, dict[str, tuple[str, datetime | None]]] = field(
        default_factory=lambda: {Side.LEAD: {}, Side.CARD: {}}
    )
    intents: list[Intent] = field(default_factory=list)
    resolved_intents: list[Intent] = field(default_factory=list)
    unconfirmed: bool = False  # some absence could not be confirmed: the sweep is not complete
    listing_finished: bool = False  # a listing in parts (``Resuming``) read its last part this cycle
    blocked: dict[Side, set[str]] = field(default_factory=lambda: {Side.LEAD: set(), Side.CARD: set()})
    backlog_consumed: list[int] = field(default_factory=list)  # chunks read from the head this cycle
    backlog_rest: list[dict[str, object]] = field(default_factory=list)  # read but not taken: saved again
    backlog_entries_read: int = 0  # entries of the chunks read from the head (linked ones included)
    from_backlog: set[tuple[Side, str]] = field(default_factory=set)
    deferred_creates: dict[tuple[Side, str], Record] = field(default_factory=dict)
    markers: dict[Side, list[tuple[str, str | None]]] = field(default_factory=lambda: {Side.LEAD: [], Side.CARD: []})
    bases: dict[str, Fields] = field(default_factory=dict)  # lead id -> its link's base as loaded (old values)
    history: list[Activity] = field(default_factory=list)  # stored at the end of the cycle (commit.record_history)
    waiting: list[PendingDeletion] = field(default_factory=list)  # deletions waiting for approval (approve mode)
    new_pending: list[PendingDeletion] = field(default_factory=list)  # held this cycle: stored at the commit
    # Concurrent apply (``cycle.concurrent``): ``lock`` guards the working data above while units run
    # on several threads; ``store_lock`` makes the StateStore calls one at a time (moto in-process is
    # not thread-safe, and the SQLite store has one connection); ``_connector_locks`` serialise the
    # calls into a connector that is not thread-safe (``thread_safe = False``, e.g. Sheets' row cache).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    store_lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    _connector_locks: dict[Side, threading.RLock] = field(
        default_factory=lambda: {Side.LEAD: threading.RLock(), Side.CARD: threading.RLock()}, repr=False, compare=False
    )

    @property
    def redacted(self) -> frozenset[str]:
        """The fields whose values stay out of history, logs and the report (``redact_fields``)."""
        return frozenset(self.pair.config.redact_fields)

    @contextlib.contextmanager
    def calling(self, side: Side) -> Iterator[None]:
        """Around a write to one side's connector: one at a time when it is not thread-safe."""
        if getattr(self.pair.connector(side), "thread_safe", True):
            yield
            return
        with self._connector_locks[side]:
            yield

    def problem(self, message: str) -> None:
        """A problem with one record or value: reported and logged; the cycle goes on."""
        self.report.problems.append(message)
        logger.warning(message)
