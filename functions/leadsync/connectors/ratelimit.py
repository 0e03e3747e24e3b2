"""Client-side rate limiting: one token bucket per (system, credential), shared by the process.

Rate limits belong to credentials, not to pairs or connectors: every transport that uses the
same Trello token (or Airtable base, Notion integration token, Google user) takes its tokens
from the same bucket, so a process never exceeds the documented budget by itself and
spreads a large first sync over several invocations instead of collecting 429s.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from leadsync.connectors.deadline import Deadline
from leadsync.errors import DeadlineExceeded

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Limit:
    """A sustained ``rate`` (requests per second) with bursts of up to ``burst`` requests."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={self.rate} burst={self.burst}")

    @classmethod
    def per(cls, count: float, seconds: float, *, burst: float | None = None) -> Limit:
        """``count`` requests every ``seconds`` (e.g. ``Limit.per(60, 60)`` for 60/min)."""
        return cls(count / seconds, burst if burst is not None else max(1.0, min(count, 10.0)))


# The documented limits, sized so no window of the service's length holds more than it allows
# (burst + rate * window <= limit): Notion ~3 req/s average with small bursts; Trello 100 req per
# 10 s per token (2 burst + 9.8/s * 10 s = 100: a large first sync runs at 98 % of Trello's rate);
# Sheets 60 req/min per user (20 burst + 40/min = 60).
# Airtable counts 5 req/s per base and punishes an excess with a 30 s lockout, so it gets no
# burst and a 10 % margin for network jitter (4.5/s, one at a time).
DEFAULT_LIMITS: dict[str, Limit] = {
    "notion": Limit(3.0, 3.0),
    "trello": Limit(9.8, 2.0),
    "airtable": Limit(4.5, 1.0),
    "sheets": Limit(40.0 / 60.0, 20.0),  # per-minute quota; a cycle is a short burst of requests
}


class TokenBucket:
    """A thread-safe token bucket with a pause switch (for server-imposed waits).

    ``acquire`` reserves a token and sleeps until it is due; a wait that would pass the
    deadline raises ``DeadlineExceeded`` without sleeping and without consuming the token.
    The bucket remembers when its recent tokens were due (``taken_within``), so a server's
    quota count can be told apart from this process's own use.
    """

    HISTORY = 4096  # tokens remembered: minutes of any documented rate

    def __init__(
        self,
        limit: Limit,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = limit.burst
        self._updated = clock()
        self._paused_until = 0.0
        self._taken: deque[float] = deque(maxlen=self.HISTORY)

    def configure(self, limit: Limit) -> None:
        """Change the rate/burst in place (settings loaded after the bucket was shared)."""
        with self._lock:
            self._refill(self._clock())
            self.limit = limit
            self._tokens = min(self._tokens, limit.burst)

    def acquire(self, deadline: Deadline | None = None) -> float:
        """Take one token, sleeping as needed. Returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self._tokens -= 1.0
            wait = max(0.0, -self._tokens / self.limit.rate, self._paused_until - now)
            if deadline is not None and wait > deadline.remaining():
                self._tokens += 1.0
                raise DeadlineExceeded(f"rate limiter would wait {wait:.2f}s, past the deadline")
            self._taken.append(now + wait)
        if wait > 0:
            self._sleep(wait)
        return wait

    def taken_within(self, seconds: float) -> int:
        """Tokens taken (due) in the last ``seconds``: this process's requests in that time."""
        with self._lock:
            since = self._clock() - seconds
            count = 0
            for due in reversed(self._taken):
                if due < since:
                    break
                count += 1
            return count

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (``Retry-After``, a low remaining quota)."""
        if seconds <= 0:
            return
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.limit.burst, self._tokens + elapsed * self.limit.rate)
        self._updated = now


_REGISTRY: dict[tuple[str, str], TokenBucket] = {}
_REGISTRY_LOCK = threading.Lock()


def credential_key(credential: str) -> str:
    """A non-reversible key for a credential (buckets are keyed by it, never by the secret)."""
    return hashlib.sha256(credential.encode()).hexdigest()[:16]


def shared_limiter(
    system: str,
    credential: str,
    *,
    limit: Limit | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> TokenBucket:
    """The process-wide bucket of ``(system, credential)``, created on first use.

    ``credential`` is whatever the service meters on: the Notion token, the Trello token, the
    Airtable base id, the Google service-account email. ``limit`` defaults to
    :data:`DEFAULT_LIMITS`; passing a different one reconfigures the shared bucket.
    """
    key = (system, credential_key(credential))
    wanted = limit or DEFAULT_LIMITS.get(system)
    if wanted is None:
        raise ValueError(f"no default rate limit for system {system!r}; pass limit=")
    with _REGISTRY_LOCK:
        bucket = _REGISTRY.get(key)
        if bucket is None:
            bucket = _REGISTRY[key] = TokenBucket(wanted, clock=clock, sleep=sleep)
        elif limit is not None and bucket.limit != limit:
            bucket.configure(limit)
        return bucket


def reset_shared_limiters() -> None:
    """Forget every shared bucket (tests)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
