"""The shared rate budget under contention: many boto3 clients in threads, over HTTP, on one item.

A moto server that serializes requests stands in for DynamoDB's one-at-a-time conditional
updates on an item (see ``SerializedMotoServer``); the clock is fake and shared, so the bound is
checked exactly: the moments granted tokens may be spent never hold more than
``burst + rate * W`` in any window of ``W`` seconds, summed over every worker.

Run: .venv/bin/pytest tests/contract/test_budget_contention.py -q
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from collections.abc import Iterator

import boto3
import pytest

from leadsync.connectors.deadline import Deadline
from leadsync.errors import DeadlineExceeded
from leadsync.state.budget import BudgetGrant, DynamoBudget
from leadsync.state.table import create_table
from tests.contract.test_state_store import SerializedMotoServer

TABLE = "budget-contention"
RATE, BURST = 20.0, 4.0
WORKERS, TAKES = 8, 25


class SharedClock:
    """Epoch seconds every worker reads; workers move it forward a little before each grant."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture(scope="module")
def endpoint(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    server = SerializedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    create_table(_session().client("dynamodb", endpoint_url=url), TABLE)
    yield url
    server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "t",
            "AWS_SECRET_ACCESS_KEY": "t",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield patch


def _session() -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name="us-east-1")


def _worker_budget(url: str, key: str, clock: SharedClock, seed: int) -> DynamoBudget:
    """One worker: its own client (connection pool), as each Lambda container has."""
    return DynamoBudget(
        TABLE,
        "trello",
        key,
        rate=RATE,
        burst=BURST,
        client=_session().client("dynamodb", endpoint_url=url),
        clock=clock,
        sleep=time.sleep,  # the jitter between attempts really spreads them (the fake clock stands still)
        rng=random.Random(seed),
    )


def _spend_moments(grants: list[BudgetGrant]) -> list[float]:
    return sorted(max(grant.at, due) for grant in grants for due in grant.dues)


def _most_in_a_window(moments: list[float], window: float) -> int:
    return max(bisect.bisect_right(moments, t + window + 1e-9) - i for i, t in enumerate(moments))


def test_concurrent_workers_are_never_granted_more_than_the_budget(endpoint: str) -> None:
    clock = SharedClock()
    start = clock()
    grants: list[BudgetGrant] = []
    refused: list[int] = []
    errors: list[BaseException] = []
    budgets = [_worker_budget(endpoint, "shared-token", clock, seed) for seed in range(WORKERS)]
    barrier = threading.Barrier(WORKERS)
    lock = threading.Lock()

    def work(index: int) -> None:
        rng = random.Random(index)
        budget = budgets[index]
        barrier.wait()
        for _ in range(TAKES):
            clock.advance(rng.uniform(0.0, 0.02))
            try:
                grant = budget.take(rng.randint(1, 8), max_wait=rng.choice([0.0, 0.1, 0.5, 2.0]))
            except DeadlineExceeded:
                with lock:
                    refused.append(index)
                continue
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                return
            with lock:
                grants.append(grant)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    moments = _spend_moments(grants)
    supply = BURST + RATE * (clock() - start)  # demand (~4.5 tokens per 10 ms) is far above it
    print(f"{len(grants)} grants, {len(refused)} refused, {len(moments)} tokens of {supply:.0f} supplied")
    assert len(moments) >= 0.8 * supply, "contention does not waste the budget"
    assert moments[0] >= start
    for window in (0.0, 0.05, 0.2, 1.0, 3.0):
        assert _most_in_a_window(moments, window) <= BURST + RATE * window + 1e-6, f"window {window}s"
    # and from the start: what all workers may have spent by any moment
    for count, moment in enumerate(moments, start=1):
        assert count <= BURST + RATE * (moment - start) + 1e-6

    state = budgets[0].read()
    assert state is not None
    assert state.granted == len(moments), "every grant counted once: nothing granted twice, nothing lost"
    calls = sum(b.calls for b in budgets) - 1  # the read above
    takes = WORKERS * TAKES
    assert calls <= 2.5 * takes, f"{calls} calls for {takes} grants: contention stays bounded"


def test_a_pause_from_one_client_holds_a_worker_on_another(endpoint: str) -> None:
    clock = SharedClock()
    a = _worker_budget(endpoint, "paused-token", clock, 1)
    b = _worker_budget(endpoint, "paused-token", clock, 2)
    a.take(2, 1.0)
    a.pause(10.0)  # a 429 with Retry-After: 10 seen by worker a
    with pytest.raises(DeadlineExceeded):
        b.take(5, max_wait=5.0)
    grant = b.take(5, max_wait=15.0)
    assert min(grant.dues) >= clock() + 10.0 - 1e-6
    assert grant.paused == pytest.approx(10.0, abs=1e-4)


def test_budgets_of_different_credentials_do_not_share_tokens(endpoint: str) -> None:
    clock = SharedClock()
    a = _worker_budget(endpoint, "token-one", clock, 1)
    b = _worker_budget(endpoint, "token-two", clock, 2)
    assert a.take(4, 0.0).waits == (0.0,) * 4
    assert b.take(4, 0.0).waits == (0.0,) * 4


# --- whole workers: token buckets on the budget, as Lambda containers, against a service's limit ----

# Notion's shape ten times faster: the product's budget (3/s, burst 3, tokens given up 2 s after due)
# and the sandbox Notion's limit (a token bucket of 3/s with a burst of 10), time divided by ten.
SPEED = 10.0
BUDGET = (3.0 * SPEED, 3.0)
HOLD = 2.0 / SPEED
SERVICE_RPS, SERVICE_BURST = 3.0 * SPEED, 10.0


def _service_rejections(moments: list[float]) -> int:
    """What a token-bucket service (Notion's policy, as the sandbox enforces it) answers 429 to."""
    tokens, last, rejected = SERVICE_BURST, moments[0], 0
    for moment in moments:
        tokens = min(SERVICE_BURST, tokens + (moment - last) * SERVICE_RPS)
        last = moment
        if tokens >= 1.0 - 1e-9:
            tokens -= 1.0
        else:
            rejected += 1
    return rejected


def test_contended_workers_spend_within_the_services_limit_with_no_429(endpoint: str) -> None:
    """Two first syncs and ten idle pairs' workers on one credential: adaptive grants, the short hold
    and the backlog's short reservations never make the service refuse a request, and every
    container gets tokens. (No throughput figure: that is the bench's, not a test's.)

    Turns, not wall time: each idle container runs a fixed number of ticks (a cycle of one to three
    requests, each cycle given one second) and the two first syncs keep competing until every idle
    container has had its ticks, so a slow machine stretches the run instead of starving a thread."""
    from leadsync.connectors.ratelimit import Limit, TokenBucket

    rate, burst = BUDGET
    idle_ticks, idle_cycle_seconds, give_up_after = 3, 1.0, 60.0
    moments: list[float] = []
    per_idle_container: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)
    idle_left = [10]
    idle_finished = threading.Event()

    def container(index: int, backlog: bool) -> None:
        rng = random.Random(index)
        budget = DynamoBudget(
            TABLE,
            "notion",
            "whole-workers",
            rate=rate,
            burst=burst,
            client=_session().client("dynamodb", endpoint_url=endpoint),
            rng=random.Random(index),
        )
        bucket = TokenBucket(Limit(rate, burst), source=budget, grant_ttl=HOLD)
        barrier.wait()
        try:
            if backlog:
                stop = time.monotonic() + give_up_after
                while not idle_finished.is_set() and time.monotonic() < stop:
                    cycle = Deadline.in_seconds(idle_cycle_seconds)
                    for _ in range(40):
                        try:
                            bucket.acquire(cycle)
                        except DeadlineExceeded:
                            break
            else:
                for _ in range(idle_ticks):
                    cycle = Deadline.in_seconds(idle_cycle_seconds)
                    for _ in range(rng.randint(1, 3)):
                        try:
                            bucket.acquire(cycle)
                        except DeadlineExceeded:
                            break
                    time.sleep(rng.uniform(0.0, 0.3))  # the pair's next tick
        except BaseException as exc:
            with lock:
                errors.append(exc)
        with lock:
            moments.extend(bucket._taken)  # the moment each token was spent (its request released)
            if not backlog:
                per_idle_container.append(len(bucket._taken))
                idle_left[0] -= 1
                if idle_left[0] == 0:
                    idle_finished.set()

    threads = [threading.Thread(target=container, args=(i, i < 2)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=give_up_after + 30)
    assert errors == []
    assert idle_finished.is_set(), "every idle container had its ticks"
    moments.sort()
    assert _service_rejections(moments) == 0
    for window in (0.1, 0.5, 1.0):  # the documented bound: tokens due in W + the hold
        assert _most_in_a_window(moments, window) <= burst + rate * (window + HOLD) + 1e-6, f"window {window}s"
    assert len(per_idle_container) == 10
    assert all(spent > 0 for spent in per_idle_container), "no idle container starved: its cycles get their turn"
