"""Crash injection: stop a sync cycle between any two API or state-store calls, as a kill would.

A Lambda can die at any line (timeout, throttle, redeploy, OOM). Inside a test, :func:`instrument`
wraps every HTTP call of the shared transport and every public ``StateStore`` method, numbers them
1, 2, 3, ... in the order the cycle makes them, and can:

* raise :class:`SimulatedCrash` *before* call ``k`` (the call never happened), or *after* it
  (the write happened, the process died before it saw the answer);
* run a hook before call ``k`` (an overlapping invocation, a clock jump, a user edit);
* just record the calls, to learn how many a cycle makes (``probe.calls``).

Calls made by the apply step's worker threads (``leadsync.cycle.concurrent``, several units in
flight) are numbered too, in the order they are made; once the crash has fired, every later call
of the cycle raises ``SimulatedCrash`` before it is sent (the process is dead: the units still in
flight stop at their next call). ``gate=(label, n)`` holds calls named ``label`` until ``n`` of them
wait, so ``n`` writes are in flight together when the crash comes (``probe.gated``: how many the
gate held and let go together); ``probe.peak`` is the most calls seen in flight at once.

``SimulatedCrash`` derives from ``BaseException`` so nothing in the engine (``except Exception``,
``except LeadsyncError``) catches it: the lease is not released, intents are not cleared, META is
not committed, exactly as after a real kill. Tests simulate the lease running out by advancing the
clock past its TTL.

Usage::

    with instrument(crash_at=7, after=True) as probe:
        with pytest.raises(SimulatedCrash):
            harness.cycle()
    print(probe.calls[6])            # e.g. "state.put_links" or "trello POST /cards"

    with instrument(crash_on="trello POST /cards", after=True):   # the first card creation
        ...
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from leadsync.connectors import ratelimit
from leadsync.connectors.http import Transport
from leadsync.connectors.ratelimit import Limit
from leadsync.cycle.concurrent import lane_prefix
from leadsync.state.dynamodb import DynamoStateStore
from leadsync.state.sqlite import SqliteStateStore

STORE_METHODS = (
    "acquire",
    "commit",
    "release",
    "links_by_lead",
    "links_by_card",
    "all_links",
    "put_links",
    "delete_links",
    "put_intent",
    "intents",
    "delete_intent",
    "put_pending",
    "pending",
    "delete_pending",
)


class SimulatedCrash(BaseException):
    """The process was killed at this point (not an error the code under test may handle)."""

    def __init__(self, index: int, label: str, after: bool) -> None:
        when = "after" if after else "before"
        super().__init__(f"simulated crash {when} call {index} ({label})")
        self.index = index
        self.label = label
        self.after = after


@dataclass
class Probe:
    """What the instrumented calls did: their labels in order, and whether the crash fired."""

    crash_at: int | None = None
    after: bool = False
    crash_on: str | None = None
    hook_at: int | None = None
    hook: Callable[[int, str], None] | None = None
    calls: list[str] = field(default_factory=list)
    crashed: SimulatedCrash | None = None
    hooked: bool = False
    gate: tuple[str, int] | None = None
    gate_after: int = 0  # calls of the gate's label let through before it holds any
    nth: int = 1  # ``crash_on``: crash at the nth call of that label
    peak: int = 0  # the most instrumented calls in flight at once
    gated: int = 0  # calls the gate held, then let go together
    in_flight_at_crash: int = 0  # other calls in flight (on other threads) when the crash fired
    _local: threading.local = field(default_factory=threading.local)
    _thread: int = field(default_factory=threading.get_ident)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _barrier: threading.Barrier | None = None
    _in_flight: int = 0
    _gate_arrivals: int = 0
    _matches: int = 0

    def __post_init__(self) -> None:
        if self.gate is not None:
            self._barrier = threading.Barrier(self.gate[1], timeout=30)

    def _active(self) -> bool:
        """Count only the outermost calls of the instrumented thread and of the apply lanes its cycle
        started (not other pairs' cycles on other threads, nor their lanes), and not while the hook runs."""
        if getattr(self._local, "busy", False):
            return False
        if threading.get_ident() == self._thread:
            return True
        return threading.current_thread().name.startswith(lane_prefix(self._thread) + "_")  # not other pairs' lanes

    def call(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._active():
            return fn(*args, **kwargs)
        if self._barrier is not None and self.gate is not None and label.startswith(self.gate[0]):
            with self._lock:
                self._gate_arrivals += 1
                held = self.gate_after < self._gate_arrivals <= self.gate_after + self.gate[1]
            if held:
                self._barrier.wait()  # n such calls wait here, then go on together
                with self._lock:
                    self.gated += 1
        with self._lock:
            if self.crashed is not None:  # the process is dead: nothing more is sent
                raise SimulatedCrash(len(self.calls) + 1, label, after=False)
            self.calls.append(label)
            index = len(self.calls)
            if self.crash_on is not None and self.crash_at is None and label.startswith(self.crash_on):
                self._matches += 1
                if self._matches == self.nth:
                    self.crash_at = index
        if self.hook is not None and index == self.hook_at:
            self._local.busy = True
            try:
                self.hooked = True
                self.hook(index, label)
            finally:
                self._local.busy = False
        if index == self.crash_at and not self.after:
            with self._lock:
                self.in_flight_at_crash = self._in_flight
            self.crashed = SimulatedCrash(index, label, after=False)
            raise self.crashed
        self._local.busy = True
        with self._lock:
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        try:
            result = fn(*args, **kwargs)
        finally:
            self._local.busy = False
            with self._lock:
                self._in_flight -= 1
                if index == self.crash_at and self.after:
                    self.in_flight_at_crash = self._in_flight
            if index == self.crash_at and self.after:
                self.crashed = SimulatedCrash(index, label, after=True)
                raise self.crashed
        return result


def _transport_label(self: Transport, method: str, path: str) -> str:
    return f"{self.system} {method.upper()} {path.split('?', 1)[0]}"


@contextmanager
def instrument(
    crash_at: int | None = None,
    *,
    after: bool = False,
    crash_on: str | None = None,
    hook_at: int | None = None,
    hook: Callable[[int, str], None] | None = None,
    gate: tuple[str, int] | None = None,
    gate_after: int = 0,
    nth: int = 1,
    store_classes: tuple[type, ...] = (DynamoStateStore, SqliteStateStore),
) -> Iterator[Probe]:
    """Number every transport request and state-store call made in this thread; crash or hook at one.

    ``crash_at``: 1-based index of the call to crash at (``None``: never); ``after``: let that call
    run first. ``crash_on``: crash at the first call whose label starts with it instead (labels are
    ``"<system> <METHOD> <path>"`` and ``"state.<method>"``).
    ``hook_at``/``hook``: call ``hook(index, label)`` just before call ``hook_at``; calls
    made by the hook itself (an overlapping invocation) are not counted and never crash.
    ``gate=(label, n)``: calls whose label starts with ``label`` wait until ``n`` of them are
    waiting, then go on together (``n`` writes in flight at once; needs a write width >= ``n``),
    after letting ``gate_after`` of them through. ``nth``: with ``crash_on``, crash at the nth
    call of that label.
    """
    probe = Probe(
        crash_at=crash_at, after=after, crash_on=crash_on, hook_at=hook_at, hook=hook, gate=gate, gate_after=gate_after
    )
    probe.nth = nth
    originals: list[tuple[type, str, Any]] = []

    def wrap_request(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def request(self: Transport, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
            return probe.call(_transport_label(self, method, path), original, self, method, path, *args, **kwargs)

        return request

    def wrap_store(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            return probe.call(f"state.{name}", original, self, *args, **kwargs)

        return method

    try:
        originals.append((Transport, "request", Transport.__dict__["request"]))
        Transport.request = wrap_request(Transport.request)  # type: ignore[method-assign]
        for cls in store_classes:
            for name in STORE_METHODS:
                original = cls.__dict__.get(name)
                if original is None:
                    continue
                originals.append((cls, name, original))
                setattr(cls, name, wrap_store(name, original))
        yield probe
    finally:
        for cls, name, original in reversed(originals):
            setattr(cls, name, original)


UNLIMITED = Limit(1e6, 1e6)


def _no_sleep(_seconds: float) -> None:
    """A virtual wait: backoff and rate-limit sleeps cost no wall-clock time."""


@contextmanager
def virtual_waits(*, request_timeout: float | None = None) -> Iterator[None]:
    """Make retries and rate limiting free, so tests can run many faulty cycles quickly.

    The transport's backoff sleeps and the shared rate limiters' sleeps return at once, and the
    client-side budgets are lifted (with virtual waits they would only pile up debt and hit the
    deadline). ``request_timeout`` shortens each HTTP attempt (so a "timeout" fault times out).
    Shared limiters created before entering keep their old settings: call
    ``ratelimit.reset_shared_limiters()`` after entering.
    """
    defaults: dict[str, Any] = {"sleep": _no_sleep}
    if request_timeout is not None:
        defaults["timeout"] = request_timeout
    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(Transport.__init__.__kwdefaults__, defaults))
        stack.enter_context(mock.patch.dict(ratelimit.shared_limiter.__kwdefaults__, {"sleep": _no_sleep}))
        stack.enter_context(
            mock.patch.dict(ratelimit.DEFAULT_LIMITS, dict.fromkeys(ratelimit.DEFAULT_LIMITS, UNLIMITED))
        )
        ratelimit.reset_shared_limiters()
        try:
            yield
        finally:
            ratelimit.reset_shared_limiters()
