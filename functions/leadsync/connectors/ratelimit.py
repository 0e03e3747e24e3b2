"""Client-side rate limiting: one token bucket per (system, credential), shared by the process.

Rate limits belong to credentials, not to pairs or connectors: every transport that uses the
same Trello token (or Airtable base, Notion integration token, Google user) takes its tokens
from the same bucket, so a process never exceeds the documented budget by itself and
spreads a large first sync over several invocations instead of collecting 429s.

Across processes (many Lambda workers at once) a bucket may also draw from a **grant source**:
a budget shared by every worker of the credential (``leadsync.state.budget.DynamoBudget``, one
DynamoDB item per credential). The bucket then spends a token only when it holds one granted by
the source, taking them a few at a time (``next_grant_size``: 1 for a cycle's first, then doubling
while every token of the last grant was spent), and still paces them at its own rate: the
in-process bucket is the fast path, the shared budget the bound. A cycle that has spent
``PRIORITY_TOKENS`` of a credential (a first sync, a backlog) reserves at most ``BACKLOG_AHEAD``
seconds ahead of the budget's queue and waits out the rest, so the few reads of idle cycles of the
same credential are never queued behind it (see docs/architecture.md, "Shared rate budgets"). ``use_grant_sources``
installs the factory of sources (the composition root does, when the state lives in DynamoDB);
without one, buckets are purely in-process (local SQLite runs, the CLI, the demo).
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from leadsync.connectors.deadline import Deadline
from leadsync.errors import BudgetBusy, DeadlineExceeded

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

# What one write typically takes to answer (median, seconds): the concurrent apply keeps about
# ``rate x latency`` writes in flight per credential (``cycle.concurrent.width``). Medians of what
# the services answer in, as the sandbox's latency profiles (infra/sandbox/latency.py, docs/sandbox.md).
TYPICAL_WRITE_SECONDS: dict[str, float] = {"notion": 0.45, "trello": 0.3, "airtable": 0.3, "sheets": 0.35}
DEFAULT_WRITE_SECONDS = 0.3


class GrantLike(Protocol):
    """What a grant source hands out: tokens of the shared budget, each due after a wait.

    ``waits``: seconds from the moment the source answered until each granted token may be
    spent (ascending; may be empty when nothing could be granted in time). ``paused``: seconds
    the whole budget is paused for (a server signal recorded by any worker), 0 if none.
    ``total``: tokens the budget has granted to all workers so far (a running counter), or
    ``None`` when the source does not count.
    """

    @property
    def waits(self) -> Sequence[float]: ...

    @property
    def paused(self) -> float: ...

    @property
    def total(self) -> int | None: ...


class GrantSource(Protocol):
    """A budget shared beyond this process (e.g. by every Lambda worker of a credential)."""

    def take(self, count: int, max_wait: float) -> GrantLike:
        """Up to ``count`` tokens, none due later than ``max_wait`` seconds from now.

        Raises ``DeadlineExceeded`` when not even one token would be due within ``max_wait``
        (``BudgetBusy`` when one would be after ``retry_in`` seconds more).
        """
        ...

    def pause(self, seconds: float) -> None:
        """Hold every worker of the budget for ``seconds`` from now."""
        ...


GrantSourceFactory = Callable[[str, str, Limit, Clock], GrantSource]
"""``(system, credential_key, limit, clock) -> source``: the key is a hash, never the secret;
``clock`` is the bucket's (a source on shared wall-clock time may follow a steered one)."""

GRANT_SECONDS = 1.0  # a grant covers at most about this much of the sustained rate...
GRANT_MIN, GRANT_MAX = 3, 10  # ...within these bounds (tokens per grant)
# Granted tokens not spent this long after they came due are given up (never spent, never
# returned): a token is spent at most GRANT_HOLD late, so any window of W seconds holds at most
# the tokens due in W + GRANT_HOLD, and warm containers do not sit on tokens between cycles.
GRANT_HOLD = 2.0
DEFAULT_GRANT_TTL = GRANT_HOLD  # the former name (the bench's --grant-ttl)
MAX_GRANT_WAIT = 900.0  # no deadline: never reserve tokens further ahead than a Lambda can live
# Priority of short cycles: once a cycle (one Deadline) has spent PRIORITY_TOKENS of a credential,
# its grants reserve at most BACKLOG_AHEAD seconds ahead of the budget's queue; when the queue is
# longer it sleeps until it is not (while its deadline allows), so idle cycles queue behind at
# most that much of a first sync's reservations.
PRIORITY_TOKENS = 10
BACKLOG_AHEAD = 1.0
TAKE_ATTEMPTS = 64  # grants tried per token while the budget is busy (each after a wait or a jitter)
BUSY_JITTER = 0.05  # seconds added at random to a busy wait, so waiting workers do not collide


def grant_size(limit: Limit) -> int:
    """The largest grant for ``limit``: about a second of its rate, 3 to 10 (Trello 10, Notion 3)."""
    return max(GRANT_MIN, min(GRANT_MAX, math.ceil(limit.rate * GRANT_SECONDS)))


def next_grant_size(previous: int, spent_all: bool, ceiling: int) -> int:
    """The size of the next grant: 1 at first or after a grant whose tokens were not all spent (given
    up), double the last while the worker spends every token it gets, never above ``ceiling``.

    A short cycle (an idle pair: a few requests) takes 1, 2, 4... and gives up little; a long one
    reaches ``ceiling`` within a few grants, so its round trips to the budget stay few.
    """
    if previous < 1 or not spent_all:
        return 1
    return max(1, min(ceiling, previous * 2))


def take_wait(remaining: float, long_cycle: bool) -> float:
    """How far ahead (seconds) a grant may reserve: the caller's time left (at most
    ``MAX_GRANT_WAIT``), and at most ``BACKLOG_AHEAD`` for a cycle past ``PRIORITY_TOKENS``."""
    wait = min(MAX_GRANT_WAIT, max(0.0, remaining))
    return min(wait, BACKLOG_AHEAD) if long_cycle else wait


class TokenBucket:
    """A thread-safe token bucket with a pause switch (for server-imposed waits).

    ``acquire`` reserves a token and sleeps until it is due; a wait that would pass the
    deadline raises ``DeadlineExceeded`` without sleeping and without consuming the token.
    The bucket remembers when its recent tokens were due (``taken_within``), so a server's
    quota count can be told apart from this process's own use.

    With a ``source`` (a budget shared by many processes), a token is spent only when the
    bucket also holds a token granted by the source. Grants are sized by ``next_grant_size``
    (1, then doubling while every token is spent, up to ``grant_size``; a fixed ``grant_size=``
    overrides it); a granted token not spent ``grant_ttl`` seconds after it came due is dropped,
    never returned. A cycle (its ``Deadline``) that has spent ``PRIORITY_TOKENS`` here reserves
    at most ``BACKLOG_AHEAD`` seconds ahead; when the budget is busy (``BudgetBusy``) the take is
    retried after the wait it names, while the caller's deadline (fixed at the call) allows.
    Pauses are recorded on the source too, so every worker waits, and ``taken_within`` then
    counts the tokens the whole budget granted (what every worker of this deployment may have
    sent), so only requests beyond the budget look like someone else's.

    The bound with a source: granted tokens come due at the budget's rate, so tokens *due* in
    any window of ``W`` seconds are at most ``burst + rate * W``; a token is spent at most
    ``grant_ttl`` after it came due, so tokens *spent* in the window are at most those due in
    ``W + grant_ttl``, and in practice far fewer (a late token is one the worker did not need at
    once, which adaptive sizing keeps rare). Dropped tokens only lower throughput. Server
    signals (429, low-quota headers) pause the budget either way.
    """

    HISTORY = 4096  # tokens remembered: minutes of any documented rate

    def __init__(
        self,
        limit: Limit,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        source: GrantSource | None = None,
        grant_size: int | None = None,
        grant_ttl: float = DEFAULT_GRANT_TTL,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = limit.burst
        self._updated = clock()
        self._paused_until = 0.0
        self._taken: deque[float] = deque(maxlen=self.HISTORY)
        self.source = source
        self.grant_size = grant_size
        self.grant_ttl = grant_ttl
        self._granted: deque[float] = deque()  # local-clock due times of granted, unspent tokens
        self._last_grant = 0  # tokens in the last grant (0: none yet)
        self._spent_all = False  # every token of the last grant was spent (none given up)
        self._used: weakref.WeakKeyDictionary[Deadline, int] = weakref.WeakKeyDictionary()
        self._rng = random.Random()
        self._source_paused_until = 0.0  # the budget's pause as last recorded or seen (local clock)
        self._totals: deque[tuple[float, int]] = deque(maxlen=self.HISTORY)  # (when, budget total)
        self.grants = 0  # grants taken from the source (each is one budget round trip or more)

    def configure(self, limit: Limit) -> None:
        """Change the rate/burst in place (settings loaded after the bucket was shared)."""
        with self._lock:
            self._refill(self._clock())
            self.limit = limit
            self._tokens = min(self._tokens, limit.burst)

    def acquire(self, deadline: Deadline | None = None) -> float:
        """Take one token, sleeping as needed. Returns the seconds waited.

        The token is spent when the local bucket has one, the pause is over and (with a source)
        a granted token is due, whichever is last; the local bucket is debited at that moment,
        so tokens released together after a wait are still spaced at the local rate.
        """
        with self._lock:
            due = self._granted_token(deadline) if self.source is not None else 0.0
            now = self._clock()
            self._refill(now)
            saved = (self._tokens, self._updated)
            start = max(now, self._updated)
            held = max(self._paused_until, due)
            if held > start:  # the bucket refills while the caller is held
                self._tokens = min(self.limit.burst, self._tokens + (held - start) * self.limit.rate)
                start = held
            self._tokens -= 1.0
            self._updated = start
            wait = start + max(0.0, -self._tokens / self.limit.rate) - now
            if deadline is not None and wait > deadline.remaining():
                self._tokens, self._updated = saved
                raise DeadlineExceeded(f"rate limiter would wait {wait:.2f}s, past the deadline")
            if self.source is not None:
                self._granted.popleft()
                if deadline is not None:
                    self._used[deadline] = self._used.get(deadline, 0) + 1
            self._taken.append(now + wait)
        if wait > 0:
            self._sleep(wait)
        return wait

    def _granted_token(self, deadline: Deadline | None) -> float:
        """The due time of the next granted token, taking a grant from the source when none is held."""
        assert self.source is not None
        now = self._clock()
        while self._granted and self._granted[0] < now - self.grant_ttl:
            self._granted.popleft()  # held too long past its due: given up, so late tokens stay bounded
            self._spent_all = False
        if not self._granted:
            grant = self._take(deadline)
            base = self._clock()
            self._granted.extend(base + max(0.0, w) for w in grant.waits)
            self._last_grant, self._spent_all = len(grant.waits), True
            if grant.paused > 0:
                self._paused_until = max(self._paused_until, base + grant.paused)
                self._source_paused_until = max(self._source_paused_until, base + grant.paused)
            if grant.total is not None:
                self._totals.append((base, grant.total))
            if not self._granted:
                raise DeadlineExceeded("the shared rate budget granted no token within the deadline")
        return self._granted[0]

    def _take(self, deadline: Deadline | None) -> GrantLike:
        """One grant from the source, waiting out a busy budget while the deadline (fixed now) allows.

        Called with the lock held: this container's other callers of the credential wait too."""
        assert self.source is not None
        # a cycle's first grant of the credential is 1 token, whatever the container's last cycle
        # grew to: a warm container running idle pairs one after another would otherwise reserve
        # a full grant for each one-request cycle and queue every other worker behind the rest
        new_cycle = deadline is not None and self._used.get(deadline, 0) == 0
        previous = 0 if new_cycle else self._last_grant
        size = self.grant_size or next_grant_size(previous, self._spent_all, grant_size(self.limit))
        start = self._clock()
        end = start + (MAX_GRANT_WAIT if deadline is None else min(MAX_GRANT_WAIT, deadline.remaining()))
        long_cycle = deadline is not None and self._used.get(deadline, 0) >= PRIORITY_TOKENS
        for attempt in range(TAKE_ATTEMPTS):
            now = self._clock()
            wait = take_wait(end - now, long_cycle)
            try:
                grant = self.source.take(size, wait)
            except BudgetBusy as busy:
                pause = busy.retry_in + self._rng.uniform(0.0, BUSY_JITTER)
                # the first free token is due at now + wait + retry_in: past the end, waiting is useless
                if attempt == TAKE_ATTEMPTS - 1 or now + wait + busy.retry_in > end or now + pause >= end:
                    raise
                self._sleep(pause)
                continue
            self.grants += 1
            return grant
        raise AssertionError("unreachable: the last attempt returns or raises")

    def taken_within(self, seconds: float) -> int:
        """Tokens taken (due) in the last ``seconds``: this process's requests in that time.

        With a source that counts, the tokens the whole budget granted in that time when the
        bucket saw the counter then (at least this process's own count); when it did not, what
        the budget can grant in that time (``burst + rate * seconds``: all of it may be ours).
        """
        with self._lock:
            now = self._clock()
            since = now - seconds
            count = 0
            for due in reversed(self._taken):
                if due < since:
                    break
                count += 1
            if self.source is None or not self._totals:
                return count
            before = next((total for when, total in reversed(self._totals) if when <= since), None)
            if before is None:
                return max(count, int(self.limit.burst + self.limit.rate * seconds))
            return max(count, self._totals[-1][1] - before)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (``Retry-After``, a low remaining quota).

        With a source, the pause is recorded on the shared budget too (unless a pause that long
        is already known), so every worker of the credential waits.
        """
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            self._paused_until = max(self._paused_until, until)
            if self.source is None or until <= self._source_paused_until + PAUSE_SLACK:
                return
            self._source_paused_until = until
        self.source.pause(seconds)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.limit.burst, self._tokens + elapsed * self.limit.rate)
        self._updated = max(self._updated, now)  # a token spent ahead (after a wait) holds it there


PAUSE_SLACK = 0.25  # seconds: a pause this close to one already recorded is not written again

_REGISTRY: dict[tuple[str, str], TokenBucket] = {}
_REGISTRY_LOCK = threading.Lock()
_SOURCES: GrantSourceFactory | None = None


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
    :data:`DEFAULT_LIMITS`; passing a different one reconfigures the shared bucket. When grant
    sources are installed (``use_grant_sources``), a new bucket draws from the source of its
    ``(system, credential_key)``: the budget every worker shares.
    """
    key = (system, credential_key(credential))
    wanted = limit or DEFAULT_LIMITS.get(system)
    if wanted is None:
        raise ValueError(f"no default rate limit for system {system!r}; pass limit=")
    with _REGISTRY_LOCK:
        bucket = _REGISTRY.get(key)
        if bucket is None:
            source = _SOURCES(system, key[1], wanted, clock) if _SOURCES is not None else None
            bucket = _REGISTRY[key] = TokenBucket(wanted, clock=clock, sleep=sleep, source=source)
        elif limit is not None and bucket.limit != limit:
            bucket.configure(limit)
        return bucket


def use_grant_sources(factory: GrantSourceFactory | None) -> None:
    """Make new shared buckets draw from ``factory``'s sources (``None``: in-process only).

    Installing a different factory forgets the shared buckets made under the previous one, so
    transports built afterwards use the new budgets; installing the same one again is a no-op.
    """
    global _SOURCES
    with _REGISTRY_LOCK:
        if factory is _SOURCES:
            return
        _SOURCES = factory
        _REGISTRY.clear()


def grant_sources() -> GrantSourceFactory | None:
    """The factory installed by ``use_grant_sources`` (``None`` when buckets are in-process)."""
    return _SOURCES


def reset_shared_limiters() -> None:
    """Forget every shared bucket and any grant sources (tests)."""
    global _SOURCES
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
        _SOURCES = None
