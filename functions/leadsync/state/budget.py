"""Rate budgets shared by every worker of a credential: one token-bucket item per credential.

Item (same table as the state, layout in ``leadsync.state.table``):
``PK=BUDGET#<system>#<credential key>, SK=BUCKET`` where the key is ``ratelimit.credential_key``
(a truncated SHA-256 of the credential, never the secret). Attributes, all numbers in epoch
seconds or counts:

- ``tat``: the bucket's *theoretical arrival time* (GCRA): ``burst - (tat - now) * rate`` tokens
  are left at ``now`` (``burst`` when ``tat <= now``). Only ever grows.
- ``paused_until``: a server signal (429 ``Retry-After``, a low Trello quota) recorded by any worker.
- ``granted``: tokens granted to all workers so far (a running counter, for quota headers and the bench).
- ``rate``, ``burst``: the limit the item was last written with (informational); ``expires_at``:
  TTL, 30 days after the last grant, so budgets of forgotten credentials go away.

A grant of ``n`` tokens is one ``UpdateItem`` with no read before it. Two complementary cases:

- *idle* (``tat < now`` or no item: the bucket is full): ``SET tat = now + n/rate``, on condition
  that ``tat < now`` still holds;
- *busy* (``tat >= now``): ``SET tat = tat + n/rate``, an atomic add on condition that
  ``tat >= now`` and that the last of the ``n`` tokens is due within the caller's wait
  (``tat <= now + max_wait + (burst - n)/rate``).

Token ``k`` (1..n) of a grant is due at ``old + k/rate - burst/rate`` (``old = max(tat, now)``
before the grant) and not before ``paused_until``: tokens *come due* at the budget's rate, so in
any window of ``W`` seconds at most ``burst + rate * W`` become due, however many workers take
grants at once (DynamoDB applies conditional updates to one item one at a time). Grants reserve
tokens ahead (``tat`` may run past ``now``), so busy workers queue instead of retrying; a worker
whose deadline is too close to wait for its place gets nothing and raises ``BudgetBusy`` (a
``DeadlineExceeded`` saying how much longer the queue is than the wait).
A failed condition returns the current item (``ReturnValuesOnConditionCheckFailure``), so a
worker that guessed the wrong case retries at once with the right one; further retries (others
queued in between) sleep a jitter within the caller's wait; after ``ATTEMPTS`` the worker gets
``BudgetBusy`` (no place within its wait), never an unchecked grant. Workers' clocks (NTP on Lambda) differ by
milliseconds; a skew of ``d`` seconds can shift ``rate * d`` tokens.

Each grant writes a random ``grant_token`` and is conditioned on the item not holding it: when
botocore resends a grant whose answer was lost, the resend is refused and the refused item (ours,
unless another grant came between) is the answer, so the grant is not taken twice. A pause writes
absolute times (``paused_until``, ``tat``) on condition they grow: a resend changes nothing.

Only ``UpdateItem`` is used (``read`` uses ``GetItem``, for tools and the benchmark).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from leadsync.errors import BudgetBusy, LeadsyncError, RetryableError
from leadsync.state.table import BUDGET_SK, PARTITION_KEY, RETRYABLE_CODES, SORT_KEY, TTL_ATTRIBUTE, budget_pk

log = logging.getLogger("leadsync.budget")

ATTEMPTS = 8  # conditional updates tried per grant before giving up
JITTER = 0.02  # seconds: the first retry's jitter ceiling, doubling per attempt (at most 0.5 s)
BUDGET_TTL = 30 * 24 * 3600  # seconds an unused budget item lives


@dataclass(frozen=True)
class BudgetGrant:
    """Tokens granted: ``waits`` (seconds from the answer until each may be spent), the budget's
    pause (seconds left, 0 if none) and the budget's running ``total`` of tokens granted.

    ``at`` is the clock reading the update was conditioned on and ``dues`` the epoch second each
    token comes due: a token may be spent from ``max(at, due)``, and those moments conform to
    ``burst + rate * W`` per window of ``W`` seconds over every worker (the tests check it).
    """

    waits: tuple[float, ...]
    paused: float
    total: int | None
    at: float = 0.0
    dues: tuple[float, ...] = ()


@dataclass(frozen=True)
class BudgetState:
    """What a budget item held when last seen."""

    tat: float
    paused_until: float
    granted: int


def _num(item: dict[str, Any], name: str, default: float = 0.0) -> float:
    attr = item.get(name)
    return float(attr["N"]) if attr and "N" in attr else default


def _state(item: dict[str, Any] | None) -> BudgetState | None:
    if not item or "tat" not in item:
        return None
    return BudgetState(_num(item, "tat"), _num(item, "paused_until"), int(_num(item, "granted")))


def _n(value: float) -> dict[str, str]:
    """A DynamoDB number in plain decimal notation (``1e-08`` -> ``0.00000001``), exact for the float."""
    if not math.isfinite(value):
        raise ValueError(f"cannot store non-finite number {value!r}")
    return {"N": format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)}


class DynamoBudget:
    """The shared budget of one ``(system, credential key)``: a ``GrantSource`` on DynamoDB.

    ``clock`` is wall-clock time (epoch seconds: shared by every worker); ``calls`` counts the
    requests sent. Thread-safe; one instance per credential per process is enough.
    """

    def __init__(
        self,
        table_name: str,
        system: str,
        key: str,
        *,
        rate: float,
        burst: float,
        client: Any | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        attempts: int = ATTEMPTS,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.table_name = table_name
        self.system = system
        self.key = key
        self.rate = rate
        self.burst = burst
        self.client = client or boto3.client(
            "dynamodb", config=Config(retries={"mode": "standard"}, connect_timeout=3, read_timeout=5)
        )
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.attempts = attempts
        self.calls = 0
        self._known: BudgetState | None = None  # the item as last seen (tat only grows)
        self._lock = threading.Lock()

    @property
    def item_key(self) -> dict[str, Any]:
        return {PARTITION_KEY: {"S": budget_pk(self.system, self.key)}, SORT_KEY: {"S": BUDGET_SK}}

    # --- GrantSource -----------------------------------------------------------------------------

    def take(self, count: int, max_wait: float) -> BudgetGrant:
        """Up to ``count`` tokens, the last due within ``max_wait`` seconds (fewer if it must).

        Raises ``BudgetBusy`` (without sleeping) when not one token would be due in time,
        or when other workers took the places left under every attempt (retries sleep a jitter
        within the wait); ``RetryableError`` when DynamoDB fails.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        period = 1.0 / self.rate
        for attempt in range(self.attempts):
            now = self._clock()
            latest = now + max(0.0, max_wait)
            known = self._known
            if known is not None and known.paused_until > latest:
                raise BudgetBusy(
                    f"{self.system} budget paused for {known.paused_until - now:.1f}s more, past the wait",
                    known.paused_until - latest,
                )
            idle = known is None or known.tat < now
            base = now if idle or known is None else known.tat
            # tokens due by ``latest``: the last one's due is base + (n - burst) * period
            n = min(count, math.floor(self.burst + (latest - base) * self.rate + 1e-9))
            if n < 1:
                raise BudgetBusy(
                    f"{self.system} budget has no token due within {max_wait:.2f}s (queue {base - now:.1f}s long)",
                    base + (1 - self.burst) * period - latest,
                )
            values: dict[str, Any] = {
                ":now": _n(now),
                ":latest": _n(latest),
                ":n": _n(n),
                ":zero": _n(0),
                ":rate": _n(float(self.rate)),
                ":burst": _n(float(self.burst)),
                ":exp": _n(int(now) + BUDGET_TTL),
            }
            not_paused = "(attribute_not_exists(paused_until) OR paused_until <= :latest)"
            if idle:
                values[":tat"] = _n(now + n * period)
                update = "SET tat = :tat"
                condition = f"(attribute_not_exists(tat) OR tat < :now) AND {not_paused}"
            else:
                values[":add"] = _n(n * period)
                values[":max"] = _n(latest + (self.burst - n) * period)
                update = "SET tat = tat + :add"
                condition = f"tat >= :now AND tat <= :max AND {not_paused}"
            # a token per call: botocore resends this very request after a lost answer (a read
            # timeout); the resend must not take a second grant (see ``_landed``)
            token = uuid.uuid4().hex[:16]
            values[":token"] = {"S": token}
            update += (
                ", granted = if_not_exists(granted, :zero) + :n, rate = :rate, burst = :burst, #ttl = :exp,"
                " grant_token = :token"
            )
            condition += " AND (attribute_not_exists(grant_token) OR grant_token <> :token)"
            item, refused = self._update(update, condition, values)
            if item is None and _landed(refused, token):
                log.info("%s budget grant answered lost and sent again: the first attempt had landed", self.system)
                item = refused
            if item is None:  # condition failed: self._known now holds the item as it is
                if attempt:  # the first retry uses the fresh item at once; later ones spread out
                    room = max(0.0, latest - self._clock())
                    self._sleep(self._rng.uniform(0, min(JITTER * 2**attempt, 0.5, room / 2)))
                continue
            state = _state(item)
            assert state is not None
            with self._lock:
                self._known = state
            old = state.tat - n * period
            answered = self._clock()
            dues = [max(old + (k - self.burst) * period, state.paused_until) for k in range(1, n + 1)]
            return BudgetGrant(
                waits=tuple(max(0.0, due - answered) for due in dues),
                paused=max(0.0, state.paused_until - answered),
                total=state.granted,
                at=now,
                dues=tuple(dues),
            )
        # Every attempt found the item changed by other workers queueing at the same time: the
        # places left within this caller's wait went to them. Not now, as for a long queue.
        raise BudgetBusy(
            f"{self.system} budget contended: no place within {max_wait:.2f}s"
            f" after {self.attempts} conditional updates",
            0.0,
        )

    def pause(self, seconds: float) -> None:
        """Record ``paused_until = now + seconds`` on the budget (never shortening a pause).

        The bucket restarts full at the pause's end (``tat`` moves up to it), so tokens reserved
        during the pause come due at the rate after it. Best effort: a DynamoDB failure is
        logged (this worker's own bucket pauses regardless).
        """
        if seconds <= 0:
            return
        until = self._clock() + seconds
        values = {":p": _n(until), ":zero": _n(0)}
        try:
            item, refused = self._update(
                "SET paused_until = :p, tat = :p, granted = if_not_exists(granted, :zero)",
                "(attribute_not_exists(tat) OR tat < :p) AND (attribute_not_exists(paused_until) OR paused_until < :p)",
                values,
                names=False,
            )
            seen = _state(refused)
            if item is None and seen is not None and seen.paused_until < until:
                # tat is already past the pause's end: only the pause itself is recorded
                self._update(
                    "SET paused_until = :p",
                    "attribute_not_exists(paused_until) OR paused_until < :p",
                    {":p": _n(until)},
                    names=False,
                )
        except LeadsyncError as exc:
            log.warning("%s budget: could not record a %.1fs pause: %s", self.system, seconds, exc)

    # --- tools -----------------------------------------------------------------------------------

    def read(self) -> BudgetState | None:
        """The item as it is now (``GetItem``, strongly consistent), ``None`` before the first grant."""
        self.calls += 1
        try:
            out = self.client.get_item(TableName=self.table_name, Key=self.item_key, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, "GetItem", self.table_name) from exc
        return _state(out.get("Item"))

    # --- plumbing --------------------------------------------------------------------------------

    def _update(
        self, update: str, condition: str, values: dict[str, Any], *, names: bool = True
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """One conditional UpdateItem: ``(the new item, {})``, or on a failed condition ``(None, the
        item as it is)`` with ``_known`` refreshed."""
        self.calls += 1
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": self.item_key,
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            kwargs["ExpressionAttributeNames"] = {"#ttl": TTL_ATTRIBUTE}
        try:
            out = self.client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                refused: dict[str, Any] = exc.response.get("Item") or {}
                with self._lock:
                    self._known = _state(refused)
                return None, refused
            raise _translate(exc, "UpdateItem", self.table_name) from exc
        except BotoCoreError as exc:
            raise _translate(exc, "UpdateItem", self.table_name) from exc
        attributes: dict[str, Any] = out.get("Attributes", {})
        return attributes, {}


def _landed(item: dict[str, Any], token: str) -> bool:
    """A grant refused because its own first attempt had landed (botocore sent the same request
    again after a lost answer) and no other grant came between: the item still carries its token,
    and the tokens it reserved are the item's last ``n``. (When another worker's grant came between,
    the resend is an ordinary new grant: the first one's tokens go unspent, which lowers
    throughput but never lets a window hold more than the budget.)"""
    stored = item.get("grant_token")
    return isinstance(stored, dict) and stored.get("S") == token


def _epoch_clock(clock: Callable[[], float]) -> Callable[[], float]:
    """``clock`` shifted so it reads epoch seconds now (and advances as ``clock`` does)."""
    offset = time.time() - clock()
    return lambda: offset + clock()


def _translate(exc: Exception, operation: str, table: str) -> LeadsyncError:
    message = f"DynamoDB {operation} on {table} (rate budget) failed"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return RetryableError(f"{message}: {code}") if code in RETRYABLE_CODES else LeadsyncError(f"{message}: {code}")
    return RetryableError(f"{message}: {exc}")


class DynamoBudgets:
    """The factory of budgets on one table (``ratelimit.use_grant_sources`` takes it).

    Called as ``budgets(system, credential_key, limit, clock)``; one ``DynamoBudget`` per key, kept
    for the life of the process (its view of the item saves round trips). ``calls`` sums them.

    Budget time is wall-clock epoch seconds (every worker shares it). A bucket on the default
    ``time.monotonic`` gets ``time.time``; a bucket on another clock (a benchmark's virtual time)
    gets that clock shifted to the epoch, so the budget sees the same waits pass as the bucket.
    A ``clock=`` option given here wins over both.
    """

    def __init__(self, table_name: str, client: Any | None = None, **options: Any) -> None:
        self.table_name = table_name
        self.client = client
        self.options = options
        self._budgets: dict[tuple[str, str], DynamoBudget] = {}
        self._lock = threading.Lock()

    def __call__(self, system: str, key: str, limit: Any, clock: Callable[[], float] | None = None) -> DynamoBudget:
        with self._lock:
            budget = self._budgets.get((system, key))
            if budget is None:
                if self.client is None:
                    self.client = boto3.client(
                        "dynamodb", config=Config(retries={"mode": "standard"}, connect_timeout=3, read_timeout=5)
                    )
                options = dict(self.options)
                if "clock" not in options and clock is not None and clock is not time.monotonic:
                    options["clock"] = _epoch_clock(clock)
                budget = DynamoBudget(
                    self.table_name, system, key, rate=limit.rate, burst=limit.burst, client=self.client, **options
                )
                self._budgets[(system, key)] = budget
            else:
                budget.rate, budget.burst = limit.rate, limit.burst
            return budget

    @property
    def calls(self) -> int:
        """DynamoDB requests sent by every budget of this factory."""
        with self._lock:
            return sum(b.calls for b in self._budgets.values())

    def budgets(self) -> list[DynamoBudget]:
        with self._lock:
            return list(self._budgets.values())
