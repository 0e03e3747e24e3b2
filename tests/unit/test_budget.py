"""The shared rate budget on DynamoDB (moto, a fake clock): grants, reservations, pauses, deadlines.

Contention over HTTP with many clients and threads: tests/contract/test_budget_contention.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from leadsync.config import Settings
from leadsync.connectors import ratelimit
from leadsync.connectors.deadline import Deadline
from leadsync.connectors.ratelimit import DEFAULT_LIMITS, Limit, TokenBucket, credential_key, shared_limiter
from leadsync.errors import DeadlineExceeded
from leadsync.state.budget import DynamoBudget, DynamoBudgets
from leadsync.state.table import create_table

TABLE = "budget-state"


def near(expected: Any) -> Any:
    """Approximately, in epoch seconds (a double holds them to about a microsecond)."""
    return pytest.approx(expected, abs=1e-4)


SECRET = "ATTA-very-secret-trello-token-0123456789"


class FakeTime:
    """Epoch seconds, advanced by sleeps only."""

    def __init__(self) -> None:
        self.now = 1_750_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        create_table(dynamodb, TABLE)
        yield dynamodb


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    ratelimit.reset_shared_limiters()
    yield
    ratelimit.reset_shared_limiters()


def budget(client: Any, fake: FakeTime, *, rate: float = 10.0, burst: float = 2.0, key: str = "k") -> DynamoBudget:
    return DynamoBudget(TABLE, "trello", key, rate=rate, burst=burst, client=client, clock=fake.clock, sleep=fake.sleep)


def test_a_full_budget_grants_its_burst_now_and_the_rest_at_the_rate(client: Any, fake: FakeTime) -> None:
    grant = budget(client, fake).take(5, max_wait=10.0)
    assert grant.waits == near((0.0, 0.0, 0.1, 0.2, 0.3))
    assert (grant.paused, grant.total) == (0.0, 5)


def test_a_busy_budget_reserves_the_next_places_in_one_atomic_update(client: Any, fake: FakeTime) -> None:
    a, b = budget(client, fake), budget(client, fake)
    a.take(5, 10.0)
    b._known = a._known  # b guesses right: one call, no read before it
    grant = b.take(5, 10.0)
    assert grant.waits == near((0.4, 0.5, 0.6, 0.7, 0.8))
    assert b.calls == 1


def test_a_wrong_guess_costs_one_more_call_and_never_a_read(client: Any, fake: FakeTime) -> None:
    a, b = budget(client, fake), budget(client, fake)
    a.take(5, 10.0)
    grant = b.take(5, 10.0)  # b has never seen the item: guesses idle, is told otherwise, retries busy
    assert grant.waits == near((0.4, 0.5, 0.6, 0.7, 0.8))
    assert b.calls == 2
    assert fake.slept == []


def test_idle_time_refills_the_budget_up_to_its_burst_only(client: Any, fake: FakeTime) -> None:
    worker = budget(client, fake)
    worker.take(5, 10.0)
    fake.now += 3600
    assert worker.take(5, 10.0).waits == near((0.0, 0.0, 0.1, 0.2, 0.3))


def test_a_grant_is_cut_to_the_tokens_due_within_the_wait(client: Any, fake: FakeTime) -> None:
    worker = budget(client, fake)
    assert len(worker.take(10, max_wait=0.25).waits) == 4  # due at 0, 0, 0.1, 0.2
    fake.now += 0.1
    # four taken: the fifth is due at +0.3 (0.2 from now), the sixth at +0.4
    assert worker.take(10, max_wait=0.25).waits == near((0.2,))
    with pytest.raises(DeadlineExceeded):
        worker.take(10, max_wait=0.25)


def test_a_queue_longer_than_the_deadline_raises_without_sleeping_or_granting(client: Any, fake: FakeTime) -> None:
    a, b = budget(client, fake), budget(client, fake)
    a.take(10, 10.0)  # the last token is due at +0.8
    with pytest.raises(DeadlineExceeded, match="no token due"):
        b.take(3, max_wait=0.5)
    assert fake.slept == []
    assert a.read().granted == 10  # type: ignore[union-attr]


def test_a_pause_recorded_by_one_worker_holds_every_other(client: Any, fake: FakeTime) -> None:
    a, b = budget(client, fake), budget(client, fake)
    a.take(1, 10.0)
    a.pause(30.0)
    with pytest.raises(DeadlineExceeded, match="paused"):
        b.take(5, max_wait=10.0)
    grant = b.take(5, max_wait=60.0)
    assert grant.paused == near(30.0)
    # the bucket restarts full when the pause ends: the burst at once, then the rate
    assert grant.waits == near((30.0, 30.0, 30.1, 30.2, 30.3))
    assert fake.slept == []


def test_a_pause_never_shortens_a_longer_one(client: Any, fake: FakeTime) -> None:
    a, b = budget(client, fake), budget(client, fake)
    a.pause(60.0)
    b.pause(5.0)
    assert a.read().paused_until == near(fake.now + 60.0)  # type: ignore[union-attr]


def test_a_pause_behind_a_long_queue_still_holds(client: Any, fake: FakeTime) -> None:
    worker = budget(client, fake, rate=1.0, burst=1.0)
    worker.take(10, 20.0)  # the queue runs 10 s ahead
    worker.pause(3.0)
    state = worker.read()
    assert state is not None
    assert state.paused_until == near(fake.now + 3.0)
    assert state.tat == near(fake.now + 10.0)  # the queue is not shortened


def test_the_item_holds_a_hash_of_the_credential_never_the_secret(client: Any, fake: FakeTime) -> None:
    budgets = DynamoBudgets(TABLE, client, clock=fake.clock, sleep=fake.sleep)
    ratelimit.use_grant_sources(budgets)
    bucket = shared_limiter("trello", SECRET)
    bucket.acquire()
    bucket.pause(1.0)
    items = client.scan(TableName=TABLE)["Items"]
    assert [i["PK"]["S"] for i in items] == [f"BUDGET#trello#{credential_key(SECRET)}"]
    assert [i["SK"]["S"] for i in items] == ["BUCKET"]
    dumped = json.dumps(items)
    assert SECRET not in dumped
    assert "secret" not in dumped


def test_an_idle_cycle_costs_one_budget_call_per_credential(client: Any, fake: FakeTime) -> None:
    """Idle pairs make ~1 request per system a minute: one grant of one token each (none held over)."""
    budgets = DynamoBudgets(TABLE, client, clock=fake.clock, sleep=fake.sleep)
    ratelimit.use_grant_sources(budgets)
    cycles = 30
    for _ in range(cycles):
        for system, credential in (("trello", "tok"), ("notion", "ntn"), ("airtable", "appB")):
            shared_limiter(system, credential, clock=fake.clock, sleep=fake.sleep).acquire()
        fake.now += 60.0
    per_credential_per_cycle = budgets.calls / (3 * cycles)
    assert per_credential_per_cycle == 1.0  # adaptive grants start at 1 token: nothing is left to give up
    assert all(b.calls >= 1 for b in budgets.budgets())


def test_a_bucket_on_the_budget_never_spends_faster_than_the_budget_grants(client: Any, fake: FakeTime) -> None:
    a = TokenBucket(Limit(10.0, 2.0), clock=fake.clock, sleep=fake.sleep, source=budget(client, fake))
    b = TokenBucket(Limit(10.0, 2.0), clock=fake.clock, sleep=fake.sleep, source=budget(client, fake))
    start = fake.now
    spent: list[float] = []
    for i in range(60):  # two workers alternating on one credential
        (a if i % 2 else b).acquire()
        spent.append(fake.now - start)
    assert max(spent) >= (60 - 2) / 10.0 - 1e-6  # no more than burst + rate * elapsed


def test_a_deadline_is_respected_through_the_bucket(client: Any, fake: FakeTime) -> None:
    hog = budget(client, fake)
    hog.take(10, 10.0)  # queue: 0.8 s
    bucket = TokenBucket(Limit(10.0, 2.0), clock=fake.clock, sleep=fake.sleep, source=budget(client, fake))
    with pytest.raises(DeadlineExceeded):
        bucket.acquire(Deadline.in_seconds(0.5, clock=fake.clock))
    assert fake.slept == []
    assert bucket.acquire(Deadline.in_seconds(5.0, clock=fake.clock)) == near(0.9)


def test_wiring_enables_budgets_with_a_state_table_only(client: Any) -> None:
    from leadsync import wiring

    assert wiring.configure_budgets(Settings()) is None
    assert ratelimit.grant_sources() is None
    assert shared_limiter("trello", "t").source is None

    budgets = wiring.configure_budgets(Settings(table=TABLE))
    assert isinstance(budgets, DynamoBudgets)
    assert ratelimit.grant_sources() is budgets
    assert wiring.configure_budgets(Settings(table=TABLE)) is budgets  # one per table and process
    bucket = shared_limiter("trello", "t")
    assert bucket.source is not None
    assert bucket.limit == DEFAULT_LIMITS["trello"]

    wiring.configure_budgets(Settings())  # a local run afterwards: in-process again
    assert shared_limiter("trello", "t").source is None


def test_numbers_are_written_without_exponents_whatever_the_rate(client: Any, fake: FakeTime) -> None:
    fast = budget(client, fake, rate=1e8, burst=1e8)  # a benchmark's "limits off"
    assert len(fast.take(10, 0.0).waits) == 10
    assert len(fast.take(10, 0.0).waits) == 10


def test_a_budget_follows_a_bucket_on_a_steered_clock(client: Any, fake: FakeTime) -> None:
    """A benchmark's virtual clock: the waits the bucket skips pass for the budget too."""
    ratelimit.use_grant_sources(DynamoBudgets(TABLE, client))
    bucket = shared_limiter("trello", "tok", limit=Limit(1.0, 1.0), clock=fake.clock, sleep=fake.sleep)
    waits = [bucket.acquire(Deadline.in_seconds(5.0, clock=fake.clock)) for _ in range(6)]
    assert waits == near([0.0, 1.0, 1.0, 1.0, 1.0, 1.0])


def resend_budget_updates(client: Any, marker: bytes) -> list[int]:
    """Make botocore send each budget UpdateItem whose body holds ``marker`` once more after it
    landed, as its retry does when the answer is lost (a read timeout). Returns the HTTP statuses."""
    sent: list[int] = []

    def needs_retry(response: Any, request_dict: dict[str, Any], attempts: int, **_: Any) -> float | None:
        body = request_dict.get("body") or b""
        if marker not in (body if isinstance(body, bytes) else body.encode()):
            return None
        sent.append(response[0].status_code if response and response[0] is not None else 0)
        return 0 if attempts == 1 else None  # every first answer is "lost": the same request again

    client.meta.events.register("needs-retry.dynamodb.UpdateItem", needs_retry)
    return sent


@pytest.mark.parametrize("busy", [False, True], ids=["idle budget", "busy budget"])
def test_a_grant_sent_again_after_it_landed_is_not_taken_twice(client: Any, fake: FakeTime, busy: bool) -> None:
    first = budget(client, fake)
    if busy:
        first.take(5, 10.0)  # queue 0.3 s: the grant below is the atomic add, which a resend would repeat
    worker = budget(client, fake)
    worker._known = first._known
    sent = resend_budget_updates(client, b"grant_token")

    grant = worker.take(4, 10.0)

    assert sent == [200, 400]  # landed, then refused by its own token
    state = worker.read()
    assert state is not None
    assert state.granted == (9 if busy else 4)  # granted once
    expected = (0.4, 0.5, 0.6, 0.7) if busy else (0.0, 0.0, 0.1, 0.2)
    assert grant.waits == near(expected)
    assert state.tat == near(fake.now + (0.9 if busy else 0.4))


def test_a_pause_sent_again_after_it_landed_changes_nothing(client: Any, fake: FakeTime) -> None:
    worker = budget(client, fake)
    worker.take(2, 1.0)
    sent = resend_budget_updates(client, b"paused_until")

    worker.pause(10.0)

    assert sent[:2] == [200, 400]  # landed, then refused: its own write already holds the pause
    state = worker.read()
    assert state is not None
    assert (state.paused_until, state.tat) == (near(fake.now + 10.0), near(fake.now + 10.0))
    assert state.granted == 2
