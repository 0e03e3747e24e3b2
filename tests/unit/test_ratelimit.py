"""Token buckets: bursts, sustained rate, pauses, deadlines, process-wide sharing, shared budgets."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

import pytest

from leadsync.connectors.deadline import Deadline
from leadsync.connectors.ratelimit import (
    BACKLOG_AHEAD,
    DEFAULT_LIMITS,
    GRANT_HOLD,
    PRIORITY_TOKENS,
    BudgetBusy,
    Limit,
    TokenBucket,
    credential_key,
    grant_size,
    grant_sources,
    next_grant_size,
    reset_shared_limiters,
    shared_limiter,
    take_wait,
    use_grant_sources,
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


# --- drawing from a shared budget (a grant source) -----------------------------------------------


class FakeGrant:
    def __init__(self, waits: tuple[float, ...], paused: float = 0.0, total: int | None = None) -> None:
        self.waits = waits
        self.paused = paused
        self.total = total


class FakeSource:
    """A shared budget in memory: every grant is due now, unless told otherwise."""

    def __init__(self, fake: FakeTime) -> None:
        self.fake = fake
        self.takes: list[tuple[int, float]] = []
        self.pauses: list[float] = []
        self.next_waits: tuple[float, ...] | None = None
        self.total = 0

    def take(self, count: int, max_wait: float) -> FakeGrant:
        self.takes.append((count, max_wait))
        waits = self.next_waits if self.next_waits is not None else (0.0,) * count
        if waits and waits[0] > max_wait:
            raise DeadlineExceeded("budget queue too long")
        self.total += len(waits)
        return FakeGrant(waits, total=self.total)

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


def test_a_bucket_with_a_source_takes_grants_of_several_tokens(fake: FakeTime) -> None:
    source = FakeSource(fake)
    bucket = TokenBucket(Limit(100.0, 100.0), clock=fake.clock, sleep=fake.sleep, source=source, grant_size=4)
    for _ in range(9):
        bucket.acquire()
    assert [count for count, _ in source.takes] == [4, 4, 4]
    assert bucket.grants == 3


def test_granted_tokens_are_spent_no_earlier_than_due_and_at_the_local_rate(fake: FakeTime) -> None:
    source = FakeSource(fake)
    source.next_waits = (0.5, 0.5, 0.5)
    bucket = TokenBucket(Limit(10.0, 1.0), clock=fake.clock, sleep=fake.sleep, source=source, grant_size=3)
    waits = [bucket.acquire() for _ in range(3)]
    assert waits == pytest.approx([0.5, 0.1, 0.1])  # due at +0.5, then the local rate spaces them


def test_tokens_released_together_after_a_pause_keep_the_local_burst(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(10.0, 2.0), clock=fake.clock, sleep=fake.sleep)
    bucket.pause(1.0)
    start = fake.now
    results: list[float] = []
    for _ in range(4):
        bucket.acquire()
        results.append(fake.now - start)
    assert results == pytest.approx([1.0, 1.0, 1.1, 1.2])


def test_the_deadline_passes_to_the_source_and_a_refusal_keeps_the_local_token(fake: FakeTime) -> None:
    source = FakeSource(fake)
    source.next_waits = (3.0,)
    bucket = TokenBucket(Limit(1.0, 1.0), clock=fake.clock, sleep=fake.sleep, source=source)
    with pytest.raises(DeadlineExceeded):
        bucket.acquire(Deadline.in_seconds(2.0, clock=fake.clock))
    assert source.takes[0][1] == pytest.approx(2.0)
    assert fake.slept == []
    source.next_waits = None
    assert bucket.acquire(Deadline.in_seconds(2.0, clock=fake.clock)) == 0.0  # the local token was kept


def test_a_granted_token_due_past_the_deadline_is_kept_for_the_next_caller(fake: FakeTime) -> None:
    source = FakeSource(fake)
    bucket = TokenBucket(Limit(10.0, 10.0), clock=fake.clock, sleep=fake.sleep, source=source, grant_size=3)
    source.next_waits = (1.0, 2.0, 3.0)
    assert bucket.acquire() == pytest.approx(1.0)
    with pytest.raises(DeadlineExceeded):
        bucket.acquire(Deadline.in_seconds(0.5, clock=fake.clock))  # the next is due in 1 s
    assert bucket.acquire() == pytest.approx(1.0)
    assert len(source.takes) == 1


def test_unspent_granted_tokens_expire_after_the_grant_ttl(fake: FakeTime) -> None:
    source = FakeSource(fake)
    bucket = TokenBucket(
        Limit(10.0, 10.0), clock=fake.clock, sleep=fake.sleep, source=source, grant_size=5, grant_ttl=120.0
    )
    bucket.acquire()
    fake.now += 60.0  # the next cycle of an idle pair: spends a held token, no round trip
    bucket.acquire()
    assert len(source.takes) == 1
    fake.now += 61.0  # past the ttl: the three left are dropped, a new grant is taken
    bucket.acquire()
    assert len(source.takes) == 2


def test_a_pause_is_recorded_on_the_source_once(fake: FakeTime) -> None:
    source = FakeSource(fake)
    bucket = TokenBucket(Limit(10.0, 10.0), clock=fake.clock, sleep=fake.sleep, source=source)
    bucket.pause(30.0)
    bucket.pause(29.0)  # already known: no second write
    bucket.pause(40.0)
    assert source.pauses == [30.0, 40.0]
    assert bucket.acquire() == pytest.approx(40.0)


def test_a_pause_seen_on_the_budget_holds_this_bucket(fake: FakeTime) -> None:
    class Paused(FakeSource):
        def take(self, count: int, max_wait: float) -> FakeGrant:
            return FakeGrant((70.0,) * count, paused=70.0)

    source = Paused(fake)
    bucket = TokenBucket(Limit(10.0, 10.0), clock=fake.clock, sleep=fake.sleep, source=source)
    with pytest.raises(DeadlineExceeded):
        bucket.acquire(Deadline.in_seconds(5.0, clock=fake.clock))
    assert fake.slept == []
    bucket.pause(50.0)  # shorter than the pause the budget holds: nothing to record
    assert source.pauses == []
    assert bucket.acquire() == pytest.approx(70.0)


def test_taken_within_counts_what_the_whole_budget_granted(fake: FakeTime) -> None:
    source = FakeSource(fake)
    bucket = TokenBucket(Limit(100.0, 100.0), clock=fake.clock, sleep=fake.sleep, source=source, grant_size=5)
    bucket.acquire()  # budget total 5
    assert bucket.taken_within(10.0) >= (100 + 100 * 10)  # no earlier view of the counter: all may be ours
    fake.now += 20.0
    source.total += 40  # other workers took 40 meanwhile
    for _ in range(5):
        bucket.acquire()  # spends 4 held, then a new grant: total 50
    assert bucket.taken_within(10.0) == 45


def test_shared_limiters_draw_from_the_installed_grant_sources(fake: FakeTime) -> None:
    made: list[tuple[str, str, Limit]] = []

    def factory(system: str, key: str, limit: Limit, clock: object) -> FakeSource:
        assert clock is time.monotonic
        made.append((system, key, limit))
        return FakeSource(fake)

    local = shared_limiter("trello", "token-a")
    use_grant_sources(factory)
    assert grant_sources() is factory
    shared = shared_limiter("trello", "token-a")
    assert shared is not local
    assert shared.source is not None
    assert made == [("trello", credential_key("token-a"), DEFAULT_LIMITS["trello"])]
    assert "token-a" not in made[0][1]
    use_grant_sources(factory)  # the same factory again: the buckets stay
    assert shared_limiter("trello", "token-a") is shared
    use_grant_sources(None)
    assert shared_limiter("trello", "token-a").source is None


def test_grant_size_follows_the_rate() -> None:
    assert grant_size(DEFAULT_LIMITS["trello"]) == 10
    assert grant_size(DEFAULT_LIMITS["notion"]) == 3
    assert grant_size(DEFAULT_LIMITS["airtable"]) == 5
    assert grant_size(DEFAULT_LIMITS["sheets"]) == 3


def test_next_grant_size_starts_at_one_and_doubles_while_every_token_is_spent() -> None:
    assert next_grant_size(0, False, 10) == 1  # no grant yet
    assert next_grant_size(0, True, 10) == 1
    assert [next_grant_size(n, True, 10) for n in (1, 2, 4, 8, 10)] == [2, 4, 8, 10, 10]
    assert next_grant_size(8, False, 10) == 1  # tokens were given up: back to one
    assert next_grant_size(2, True, 3) == 3  # never above the ceiling (Notion's 3)
    assert next_grant_size(5, True, 1) == 1


def test_take_wait_caps_a_long_cycle_at_the_backlog_reservation() -> None:
    assert take_wait(30.0, False) == 30.0
    assert take_wait(30.0, True) == BACKLOG_AHEAD
    assert take_wait(0.4, True) == 0.4  # never past the deadline either
    assert take_wait(-1.0, False) == 0.0
    assert take_wait(float("inf"), False) == 900.0


def test_a_bucket_grows_its_grants_while_it_spends_them_all(fake: FakeTime) -> None:
    source = FakeSource(fake)
    bucket = TokenBucket(Limit(100.0, 100.0), clock=fake.clock, sleep=fake.sleep, source=source)
    for _ in range(1 + 2 + 4 + 8 + 10 + 1):
        bucket.acquire()
    assert [count for count, _ in source.takes] == [1, 2, 4, 8, 10, 10]


def test_tokens_not_spent_within_the_hold_are_given_up_and_the_next_grant_is_one(fake: FakeTime) -> None:
    source = FakeSource(fake)
    bucket = TokenBucket(Limit(100.0, 100.0), clock=fake.clock, sleep=fake.sleep, source=source)
    for _ in range(4):  # grants of 1, 2, then 4 of which one is spent
        bucket.acquire()
    fake.now += GRANT_HOLD - 0.01  # still held: spent without a round trip
    bucket.acquire()
    assert [count for count, _ in source.takes] == [1, 2, 4]
    fake.now += GRANT_HOLD + 0.02  # the next cycle of an idle pair: the 2 left are past their hold
    bucket.acquire()
    assert [count for count, _ in source.takes] == [1, 2, 4, 1]


def test_each_cycle_starts_at_a_grant_of_one_whatever_the_last_cycle_grew_to(fake: FakeTime) -> None:
    """A warm container runs one idle pair after another: each cycle's single request must cost the
    shared budget 1 token, not the full grant the previous (busier) cycle grew to."""
    source = FakeSource(fake)
    bucket = TokenBucket(Limit(100.0, 100.0), clock=fake.clock, sleep=fake.sleep, source=source)
    first_sync = Deadline.in_seconds(40.0, clock=fake.clock)
    for _ in range(1 + 2 + 4 + 8):
        bucket.acquire(first_sync)
    assert [count for count, _ in source.takes] == [1, 2, 4, 8]
    for _ in range(3):  # three idle cycles, one request each, in quick succession
        fake.now += GRANT_HOLD + 0.1
        bucket.acquire(Deadline.in_seconds(40.0, clock=fake.clock))
    assert [count for count, _ in source.takes] == [1, 2, 4, 8, 1, 1, 1]
    cycle = Deadline.in_seconds(40.0, clock=fake.clock)  # a cycle that needs more grows within itself
    for _ in range(1 + 2 + 4):
        bucket.acquire(cycle)
    assert [count for count, _ in source.takes][-3:] == [1, 2, 4]


class BusySource(FakeSource):
    """A budget whose queue is ``queue`` seconds long: a grant asking to wait less is told how much more."""

    def __init__(self, fake: FakeTime, queue: float) -> None:
        super().__init__(fake)
        self.until = fake.now + queue

    def take(self, count: int, max_wait: float) -> FakeGrant:
        self.takes.append((count, max_wait))
        due = max(0.0, self.until - self.fake.now)
        if due > max_wait:
            raise BudgetBusy("queue too long", due - max_wait)
        return FakeGrant((due,) * count)


def test_a_long_cycle_reserves_little_ahead_and_waits_out_a_busy_budget(fake: FakeTime) -> None:
    source = FakeSource(fake)
    bucket = TokenBucket(Limit(1000.0, 1000.0), clock=fake.clock, sleep=fake.sleep, source=source)
    cycle = Deadline.in_seconds(40.0, clock=fake.clock)
    for _ in range(PRIORITY_TOKENS):
        bucket.acquire(cycle)
    assert all(wait > BACKLOG_AHEAD for _, wait in source.takes)  # a short cycle may queue its whole deadline
    busy = BusySource(fake, queue=5.0)
    bucket.source = busy
    bucket._granted.clear()
    start = fake.now
    assert bucket.acquire(cycle) == pytest.approx(BACKLOG_AHEAD, abs=0.06)
    assert [wait for _, wait in busy.takes] == pytest.approx([BACKLOG_AHEAD, BACKLOG_AHEAD], abs=0.06)
    assert fake.now - start == pytest.approx(5.0, abs=0.06)  # slept until the queue was short, then its token
    other = Deadline.in_seconds(40.0, clock=fake.clock)  # another cycle of this container: not long
    bucket._granted.clear()
    bucket.acquire(other)
    assert busy.takes[-1][1] > BACKLOG_AHEAD


def test_a_busy_budget_past_the_deadline_raises_without_sleeping(fake: FakeTime) -> None:
    bucket = TokenBucket(Limit(10.0, 10.0), clock=fake.clock, sleep=fake.sleep, source=BusySource(fake, 5.0))
    with pytest.raises(DeadlineExceeded):
        bucket.acquire(Deadline.in_seconds(3.0, clock=fake.clock))
    assert fake.slept == []


def test_a_contended_budget_is_tried_again_within_the_deadline(fake: FakeTime) -> None:
    class Contended(FakeSource):
        def take(self, count: int, max_wait: float) -> FakeGrant:
            self.takes.append((count, max_wait))
            if len(self.takes) < 3:
                raise BudgetBusy("others won the conditional update", 0.0)
            return FakeGrant((0.0,) * count)

    source = Contended(fake)
    bucket = TokenBucket(Limit(10.0, 10.0), clock=fake.clock, sleep=fake.sleep, source=source)
    assert bucket.acquire(Deadline.in_seconds(3.0, clock=fake.clock)) == 0.0
    assert len(source.takes) == 3
    assert len(fake.slept) == 2
    assert all(s <= 0.05 for s in fake.slept)  # a jitter each, no more
