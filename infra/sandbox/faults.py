"""Fault switchboard: seedable, per-emulator injection of transport and server failures."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

FAULT_KINDS: tuple[str, ...] = (
    "429",  # the service's own rate-limit answer (status, body, Retry-After)
    "500",  # internal error with the service's error body, nothing applied
    "502",  # bad gateway (HTML from the edge), nothing applied
    "503",  # service unavailable with the service's error body, nothing applied
    "timeout",  # sleeps `timeout_sleep` seconds, then processes and answers normally
    "drop",  # connection closed before processing: nothing applied, no response
    "malformed",  # processed, then answered 200 with a body that is not valid JSON
    "truncated",  # processed, then the body is cut in half and the connection closed
    "lost_response",  # processed (the write is applied), then the connection dropped without a response
)
"""Every fault kind, with what the emulator does for each."""


@dataclass
class _Filter:
    methods: frozenset[str] | None = None
    paths: tuple[str, ...] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        if self.paths is None:
            return True
        return any(path.startswith(p) or fnmatchcase(path, p) for p in self.paths)


def _filter(methods: Iterable[str] | None, paths: Iterable[str] | str | None) -> _Filter:
    if isinstance(paths, str):
        paths = (paths,)
    return _Filter(
        methods=frozenset(m.upper() for m in methods) if methods is not None else None,
        paths=tuple(paths) if paths is not None else None,
    )


@dataclass
class _OneShot:
    kind: str
    remaining: int
    filter: _Filter = field(default_factory=_Filter)


class FaultSwitchboard:
    """Decides, per request, whether to inject a fault and which one.

    Random faults follow `set(rate=..., kinds=..., seed=...)`; one-shot faults queued with
    `next(kind, n)` take precedence and hit the next matching requests. `counts` tells how many
    faults of each kind were injected. `methods` filters by HTTP method, `paths` by path prefix or
    glob (e.g. "/v1/pages*"). Control endpoints (/_sandbox/...) are never faulted.
    """

    rate: float
    kinds: tuple[str, ...]
    seed: int | None
    retry_after: float
    latency: float
    timeout_sleep: float

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.clear()

    def set(
        self,
        rate: float = 0.0,
        kinds: Iterable[str] = FAULT_KINDS,
        seed: int | None = None,
        retry_after: float = 1,
        latency: float = 0.0,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | str | None = None,
        timeout_sleep: float = 2.0,
    ) -> None:
        """Inject random faults at `rate` (0..1) drawn from `kinds`; `latency` s is added to every request."""
        kinds = tuple(kinds)
        unknown = [k for k in kinds if k not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        with self._lock:
            self.rate = float(rate)
            self.kinds = kinds
            self.seed = seed
            self._random = random.Random(seed)
            self.retry_after = retry_after
            self.latency = float(latency)
            self.timeout_sleep = float(timeout_sleep)
            self._filter = _filter(methods, paths)

    def configure(self, settings: dict[str, Any]) -> None:
        """`set` from a JSON object (the body of POST /_sandbox/faults); `{"clear": true}` clears."""
        settings = dict(settings)
        if settings.pop("clear", False):
            self.clear()
        one_shots = settings.pop("next", None)
        if settings:
            self.set(**settings)
        for spec in one_shots or ():
            self.next(**spec) if isinstance(spec, dict) else self.next(spec)

    def next(
        self,
        kind: str,
        n: int = 1,
        methods: Iterable[str] | None = None,
        paths: Iterable[str] | str | None = None,
    ) -> None:
        """Inject `kind` into the next `n` matching requests (before any random fault)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {list(FAULT_KINDS)}")
        with self._lock:
            self._one_shots.append(_OneShot(kind, n, _filter(methods, paths)))

    def clear(self) -> None:
        """No faults, no latency, counts zeroed."""
        with self._lock:
            self.rate = 0.0
            self.kinds = FAULT_KINDS
            self.seed = None
            self._random = random.Random()
            self.retry_after = 1
            self.latency = 0.0
            self.timeout_sleep = 2.0
            self._filter = _Filter()
            self._one_shots: list[_OneShot] = []
            self.counts.clear()

    def pick(self, method: str, path: str) -> str | None:
        """The fault to inject into this request, or None (and count it)."""
        with self._lock:
            for shot in self._one_shots:
                if shot.remaining > 0 and shot.filter.matches(method, path):
                    shot.remaining -= 1
                    self._one_shots = [s for s in self._one_shots if s.remaining > 0]
                    self.counts[shot.kind] += 1
                    return shot.kind
            if self.rate <= 0.0 or not self.kinds or not self._filter.matches(method, path):
                return None
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(self.kinds)
            self.counts[kind] += 1
            return kind

    def describe(self) -> dict[str, Any]:
        """JSON-able view of the settings and counts."""
        with self._lock:
            return {
                "rate": self.rate,
                "kinds": list(self.kinds),
                "seed": self.seed,
                "retry_after": self.retry_after,
                "latency": self.latency,
                "timeout_sleep": self.timeout_sleep,
                "pending_one_shots": [{"kind": s.kind, "remaining": s.remaining} for s in self._one_shots],
                "counts": dict(self.counts),
            }
