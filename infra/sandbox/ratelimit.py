"""Rate-limit primitives the emulators compose into each service's real policy.

Time comes from the shared Clock (so `clock.advance()` refills buckets and closes windows) and is
multiplied by `time_scale`: with time_scale=10 a 10 s window lasts 1 real second and every
Retry-After is divided by 10. Emulators then add `x-sandbox-time-scale` to their responses.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

from sandbox.clock import Clock


@dataclass(frozen=True)
class Decision:
    """Outcome of one check: allowed or not, with what a response header needs."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float  # real seconds until a retry can succeed (0 when allowed)
    interval_ms: int = 0  # the window length as the service reports it (unscaled)

    @property
    def retry_after_header(self) -> str:
        """Integer seconds, at least 1, as services put in `Retry-After`."""
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter:
    """Keyed token buckets, fixed windows and penalty boxes, switched on with `configure`.

    Emulators keep their policy numbers in `params` (set by `configure(**params)`) and call the
    primitives with a key such as the token, the API key or the base id.
    """

    def __init__(self, clock: Clock, **defaults: Any) -> None:
        self.clock = clock
        self.defaults = dict(defaults)
        self._lock = threading.Lock()
        self.enabled = False
        self.time_scale = 1.0
        self.params: dict[str, Any] = dict(defaults)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._windows: dict[str, tuple[int, int]] = {}
        self._penalties: dict[str, float] = {}

    def configure(self, enabled: bool = True, time_scale: float = 1.0, **params: Any) -> None:
        """Enable or disable; unknown param names are rejected so typos do not pass silently."""
        unknown = set(params) - set(self.defaults)
        if unknown:
            known = sorted(self.defaults)
            raise ValueError(f"unknown rate-limit parameters {sorted(unknown)}; known: {known}")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        with self._lock:
            self.enabled = enabled
            self.time_scale = float(time_scale)
            self.params = {**self.defaults, **params}
            self._buckets.clear()
            self._windows.clear()
            self._penalties.clear()

    def reset(self) -> None:
        """Disabled, default parameters, all counters empty."""
        self.configure(enabled=False)

    def _now(self) -> float:
        return self.clock.time() * self.time_scale

    def token_bucket(self, key: str, rate: float, burst: int) -> Decision:
        """Average `rate` per second with bursts up to `burst`; takes one token if available."""
        with self._lock:
            now = self._now()
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return Decision(True, burst, int(tokens - 1.0), 0.0)
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / rate / self.time_scale
            return Decision(False, burst, 0, wait)

    def window(self, key: str, limit: int, seconds: float, count_rejected: bool = False) -> Decision:
        """At most `limit` hits per fixed window of `seconds`; takes one hit if available."""
        with self._lock:
            now = self._now()
            index = int(now // seconds)
            current, used = self._windows.get(key, (index, 0))
            if current != index:
                used = 0
            reset_in = ((index + 1) * seconds - now) / self.time_scale
            allowed = used < limit
            if allowed or count_rejected:
                used += 1
            self._windows[key] = (index, used)
            return Decision(allowed, limit, max(0, limit - used), 0.0 if allowed else reset_in, int(seconds * 1000))

    def peek_window(self, key: str, limit: int, seconds: float) -> Decision:
        """The window's state without taking a hit."""
        with self._lock:
            now = self._now()
            index = int(now // seconds)
            current, used = self._windows.get(key, (index, 0))
            if current != index:
                used = 0
            reset_in = ((index + 1) * seconds - now) / self.time_scale
            return Decision(used < limit, limit, max(0, limit - used), reset_in, int(seconds * 1000))

    def penalize(self, key: str, seconds: float) -> None:
        """Reject everything for `key` during `seconds` (service time)."""
        with self._lock:
            self._penalties[key] = self._now() + seconds

    def penalty(self, key: str) -> float:
        """Real seconds left in `key`'s penalty box (0 when free)."""
        with self._lock:
            until = self._penalties.get(key, 0.0)
            return max(0.0, (until - self._now()) / self.time_scale)

    def describe(self) -> dict[str, Any]:
        """JSON-able view for /_sandbox/stats."""
        with self._lock:
            return {"enabled": self.enabled, "time_scale": self.time_scale, "params": dict(self.params)}
