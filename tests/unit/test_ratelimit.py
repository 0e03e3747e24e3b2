"""Token buckets: bursts, sustained rate, pauses, deadlines, process-wide sharing."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

import pytest

from leadsync.connectors.deadline import Deadline
from leadsync.connectors.ratelimit import (
    DEFAULT_LIMITS,
    Limit,
    TokenBucket,
    credential_key,
    reset_shared_limiters,
    shared_limiter,
)
from leadsync.errors import DeadlineExceeded


class FakeTime:
    def __init__(self) -> None:
        self.now = 50.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    reset_shared_limiters()
    yield
    reset_shared_limiters()


def test_a_full_burst_goes_through_without_waiting(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(3.0, 3.0), clock=fake.clock, sleep=fake.sleep)
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert fake.slept == []


def test_after_the_burst_requests_are_spaced_at_the_rate(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(4.0, 2.0), clock=fake.clock, sleep=fake.sleep)
    for _ in range(6):
        bucket.acquire()
    assert fake.slept == pytest.approx([0.25, 0.25, 0.25, 0.25])


def test_idle_time_refills_up_to_the_burst_only(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(1.0, 2.0), clock=fake.clock, sleep=fake.sleep)
    bucket.acquire()
    bucket.acquire()
    fake.now += 100
    assert [bucket.acquire(), bucket.acquire()] == [0.0, 0.0]
    assert bucket.acquire() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("system", "count", "window"),
    [("trello", 100, 10.0), ("airtable", 5, 1.0), ("sheets", 60, 60.0)],
)
def test_default_limits_never_exceed_the_documented_window(
    fake: FakeTime, system: str, count: int, window: float
) -> None:
    bucket = TokenBucket(DEFAULT_LIMITS[system], clock=fake.clock, sleep=fake.sleep)
    times: deque[float] = deque()
    for _ in range(count * 4):
        bucket.acquire()
        times.append(fake.now)
        while times[0] <= fake.now - window:
            times.popleft()
        assert len(times) <= count


def test_notion_default_keeps_the_three_per_second_average(fake: FakeTime) -> None:
    bucket = TokenBucket(DEFAULT_LIMITS["notion"], clock=fake.clock, sleep=fake.sleep)
    start = fake.now
    for _ in range(300):
        bucket.acquire()
    assert (300 - DEFAULT_LIMITS["notion"].burst) / (fake.now - start) == pytest.approx(3.0)


def test_pause_holds_the_next_caller_until_it_ends(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(10.0, 10.0), clock=fake.clock, sleep=fake.sleep)
    bucket.pause(30)
    assert bucket.acquire() == pytest.approx(30.0)
    assert bucket.acquire() == 0.0


def test_a_wait_past_the_deadline_raises_and_keeps_the_token(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(1.0, 1.0), clock=fake.clock, sleep=fake.sleep)
    bucket.acquire()
    with pytest.raises(DeadlineExceeded):
        bucket.acquire(Deadline.in_seconds(0.5, clock=fake.clock))
    assert fake.slept == []
    assert bucket.acquire(Deadline.in_seconds(5, clock=fake.clock)) == pytest.approx(1.0)


def test_taken_within_counts_the_tokens_due_in_the_last_seconds(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(1.0, 2.0), clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):  # due at +0, +0, +1, +2, +3
        bucket.acquire()
    assert bucket.taken_within(10.0) == 5
    assert bucket.taken_within(1.5) == 2  # due at 2 and 3 (the clock is at 3)
    fake.now += 100.0
    assert bucket.taken_within(10.0) == 0


def test_a_refused_wait_is_not_counted_as_taken(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(1.0, 1.0), clock=fake.clock, sleep=fake.sleep)
    bucket.acquire()
    with pytest.raises(DeadlineExceeded):
        bucket.acquire(Deadline.in_seconds(0.5, clock=fake.clock))
    assert bucket.taken_within(10.0) == 1


def test_buckets_are_shared_per_system_and_credential() -> None:
    a = shared_limiter("trello", "token-a")
    assert shared_limiter("trello", "token-a") is a
    assert shared_limiter("trello", "token-b") is not a
    assert shared_limiter("notion", "token-a") is not a
    assert a.limit == DEFAULT_LIMITS["trello"]


def test_passing_a_new_limit_reconfigures_the_shared_bucket() -> None:
    a = shared_limiter("airtable", "appX")
    b = shared_limiter("airtable", "appX", limit=Limit(2.0, 1.0))
    assert a is b
    assert a.limit == Limit(2.0, 1.0)


def test_unknown_system_needs_an_explicit_limit() -> None:
    with pytest.raises(ValueError, match="no default rate limit"):
        shared_limiter("jira", "t")
    assert shared_limiter("jira", "t", limit=Limit.per(60, 60)).limit.rate == pytest.approx(1.0)


def test_credential_key_does_not_reveal_the_credential() -> None:
    key = credential_key("ATTA-secret-token")
    assert "secret" not in key
    assert len(key) == 16
    assert key == credential_key("ATTA-secret-token")


def test_limit_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rate must be"):
        Limit(0, 1)


def test_concurrent_callers_share_one_budget() -> None:
    bucket = TokenBucket(Limit(100.0, 1.0))
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 tokens, 1 free: 19 more at 100/s take at least 0.19 s however the threads interleave
    assert time.monotonic() - started >= 0.18
