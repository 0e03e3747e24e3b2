"""One contract for every StateStore: SQLite (memory and file) and DynamoDB (moto).

Run: .venv/bin/pytest tests/contract/test_state_store.py -q
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from leadsync.core.models import Fence, Intent, Link, PairMeta, Side
from leadsync.errors import LeaseHeld, StaleState
from leadsync.state.base import StateStore
from leadsync.state.dynamodb import DynamoStateStore
from leadsync.state.sqlite import SqliteStateStore
from leadsync.state.table import create_table

PAIR = "notion-trello"
T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
TTL = 60
TABLE = "leadsync-state"


FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """Fake credentials and region, so nothing can reach a real AWS account."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENV.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        yield


@pytest.fixture(scope="module")
def mocked_dynamodb(aws_env: None) -> Iterator[Any]:
    """One in-process moto for the module (starting it is the slow part); tests get fresh tables."""
    with mock_aws():
        yield boto3.client("dynamodb")


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite-memory":
        with SqliteStateStore(":memory:") as sqlite_store:
            yield sqlite_store
    elif request.param == "sqlite-file":
        with SqliteStateStore(tmp_path / ".leadsync" / "state.db") as sqlite_store:
            yield sqlite_store
    else:
        client = request.getfixturevalue("mocked_dynamodb")
        table = f"state-{uuid.uuid4().hex[:12]}"
        create_table(client, table)
        yield DynamoStateStore(table, client, page_size=25)  # small pages: pagination is exercised
        client.delete_table(TableName=table)


def make_links(n: int) -> list[Link]:
    return [
        Link(lead_id=f"lead-{i:04d}", card_id=f"card-{i:04d}", base={"name": f"Lead {i}", "email": None})
        for i in range(n)
    ]


# --- lease -------------------------------------------------------------------------------------


def test_first_acquire_returns_empty_meta_at_version_zero(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)

    assert meta == PairMeta(version=0, cursors={}, last_full_sweep=None, last_run={}, seen={}, pending={}, backlog=[])


def test_owner_can_reacquire_its_own_unexpired_lease(store: StateStore) -> None:
    store.acquire(PAIR, "a", T0, TTL)

    assert store.acquire(PAIR, "a", T0 + timedelta(seconds=5), TTL).version == 0


def test_acquire_while_another_owner_holds_the_lease_raises_lease_held_naming_holder(
    store: StateStore,
) -> None:
    store.acquire(PAIR, "owner-a", T0, TTL)

    with pytest.raises(LeaseHeld, match=r"owner-a.*2025-03-01T12:01:00"):
        store.acquire(PAIR, "owner-b", T0 + timedelta(seconds=TTL - 1), TTL)


def test_expired_lease_can_be_taken_over_and_the_old_owner_can_no_longer_commit(store: StateStore) -> None:
    meta_a = store.acquire(PAIR, "a", T0, TTL)

    meta_b = store.acquire(PAIR, "b", T0 + timedelta(seconds=TTL), TTL)

    assert meta_b.version == 0
    with pytest.raises(StaleState):
        store.commit(PAIR, "a", meta_a)
    with pytest.raises(LeaseHeld, match="b"):
        store.acquire(PAIR, "a", T0 + timedelta(seconds=TTL + 1), TTL)


def _fenced_writes(store: StateStore, fence: Fence) -> list[Callable[[], None]]:
    link = Link("lead-x", "card-x", {"name": "X"})
    intent = Intent("tok-x", Side.CARD, "lead-x", T0)
    return [
        lambda: store.put_links(PAIR, [link], fence=fence),
        lambda: store.delete_links(PAIR, [Link("lead-0000", "card-0000", {})], fence=fence),
        lambda: store.put_intent(PAIR, intent, fence=fence),
        lambda: store.delete_intent(PAIR, "tok-keep", fence=fence),
        lambda: store.put_backlog(PAIR, 7, [{"side": "lead", "id": "lead-x"}], fence=fence),
    ]


def _state_snapshot(store: StateStore) -> tuple[Any, ...]:
    return (
        sorted((x.lead_id, x.card_id) for x in store.all_links(PAIR)),
        sorted(i.token for i in store.intents(PAIR)),
        store.backlog(PAIR, 7),
    )


def test_fenced_writes_of_the_lease_holder_succeed(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    store.put_links(PAIR, make_links(1))
    store.put_intent(PAIR, Intent("tok-keep", Side.CARD, "lead-9", T0))
    fence = Fence("a", meta.version)

    for write in _fenced_writes(store, fence):
        write()

    links, tokens, backlog = _state_snapshot(store)
    assert links == [("lead-x", "card-x")]
    assert tokens == ["tok-x"]
    assert backlog == [{"side": "lead", "id": "lead-x"}]


@pytest.mark.parametrize("write_no", range(5))
def test_a_run_that_lost_its_lease_writes_no_link_intent_or_backlog(store: StateStore, write_no: int) -> None:
    meta_a = store.acquire(PAIR, "a", T0, TTL)
    store.put_links(PAIR, make_links(1))
    store.put_intent(PAIR, Intent("tok-keep", Side.CARD, "lead-9", T0))
    store.acquire(PAIR, "b", T0 + timedelta(seconds=TTL + 1), TTL)  # a's lease expired: b took it
    before = _state_snapshot(store)

    with pytest.raises(StaleState, match="no longer holds the lease"):
        _fenced_writes(store, Fence("a", meta_a.version))[write_no]()

    assert _state_snapshot(store) == before


def test_a_fence_from_before_a_commit_is_stale_even_for_the_same_owner(store: StateStore) -> None:
    meta = store.acquire(PAIR, "local", T0, TTL)
    store.commit(PAIR, "local", meta)  # another run under the same owner name committed since
    store.acquire(PAIR, "local", T0, TTL)

    with pytest.raises(StaleState):
        store.put_links(PAIR, make_links(1), fence=Fence("local", meta.version))

    assert store.all_links(PAIR) == []


def test_fenced_put_of_many_links_spans_several_transactions(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)

    store.put_links(PAIR, make_links(120), fence=Fence("a", meta.version))

    assert len(store.all_links(PAIR)) == 120
    assert len(store.links_by_card(PAIR, [f"card-{i:04d}" for i in range(120)])) == 120


def test_commit_keeps_the_side_identities_and_link_count(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    meta.sides = {"lead": "notion:abc", "card": "trello:b0"}
    meta.link_count = 42

    store.commit(PAIR, "a", meta)

    again = store.acquire(PAIR, "a", T0, TTL)
    assert again.sides == {"lead": "notion:abc", "card": "trello:b0"}
    assert again.link_count == 42


def test_leases_of_different_pairs_are_independent(store: StateStore) -> None:
    store.acquire("pair-1", "a", T0, TTL)

    assert store.acquire("pair-2", "b", T0, TTL).version == 0


def test_release_lets_another_owner_acquire(store: StateStore) -> None:
    store.acquire(PAIR, "a", T0, TTL)

    store.release(PAIR, "a")

    assert store.acquire(PAIR, "b", T0, TTL).version == 0


def test_release_by_a_non_holder_leaves_the_lease_in_place(store: StateStore) -> None:
    store.acquire(PAIR, "a", T0, TTL)

    store.release(PAIR, "b")
    store.release("never-acquired", "b")

    with pytest.raises(LeaseHeld):
        store.acquire(PAIR, "b", T0, TTL)


# --- commit ------------------------------------------------------------------------------------


def test_commit_bumps_version_and_persists_cursors_sweep_and_last_run(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    last_run: dict[str, object] = {
        "applied": 3,
        "duration_s": 1.25,
        "ok": True,
        "error": None,
        "ops": {"update_card": 2, "create_card": 1},
        "conflicts": [{"field": "status", "winner": "lead"}],
        "note": "Zoë ✓",
    }
    meta = replace(
        meta,
        cursors={"lead": "2025-03-01T11:59:00Z", "card": "action-5f0c"},
        last_full_sweep="2025-03-01T11:00:00+00:00",
        last_run=last_run,
    )

    committed = store.commit(PAIR, "a", meta)
    reloaded = store.acquire(PAIR, "b", T0, TTL)  # the commit released the lease

    assert committed == replace(meta, version=1)
    assert reloaded == committed


def test_commit_persists_echo_fingerprints_and_the_refetch_set(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    seen = {"lead": {"page-1": "0123456789abcdef"}, "card": {"card-1": "fedcba9876543210"}}
    pending = {"lead": ["page-9"], "card": []}
    store.commit(PAIR, "a", replace(meta, seen=seen, pending=pending))
    again = store.acquire(PAIR, "b", T0, TTL)
    assert again.seen == seen
    assert again.pending == pending


def test_backlog_chunks_round_trip_replace_and_delete(store: StateStore) -> None:
    entries = [
        {"side": "lead", "id": f"page-{n}", "fields": {"name": f"Léad {n} 🚀", "email": None}} for n in range(300)
    ]
    store.put_backlog(PAIR, 0, entries[:150])
    store.put_backlog(PAIR, 1, entries[150:])
    assert store.backlog(PAIR, 0) == entries[:150]
    assert store.backlog(PAIR, 1) == entries[150:]
    store.put_backlog(PAIR, 0, entries[140:150])
    assert store.backlog(PAIR, 0) == entries[140:150]
    store.delete_backlog(PAIR, [0, 1])
    assert store.backlog(PAIR, 0) == []
    assert store.backlog(PAIR, 1) == []
    assert store.all_links(PAIR) == [], "backlog chunks are not links"


def test_meta_keeps_the_backlog_queue(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    store.commit(PAIR, "a", replace(meta, backlog=[3, 4, 7]))
    assert store.acquire(PAIR, "b", T0, TTL).backlog == [3, 4, 7]


def test_detached_links_round_trip_through_every_lookup(store: StateStore) -> None:
    tombstone = Link("lead-t", "card-t", {"name": "Ada"}, detached=True)
    live = Link("lead-l", "card-l", {"name": "Grace"})
    store.put_links(PAIR, [tombstone, live])
    assert store.links_by_lead(PAIR, ["lead-t", "lead-l"]) == {"lead-t": tombstone, "lead-l": live}
    assert store.links_by_card(PAIR, ["card-t"]) == {"card-t": tombstone}
    assert sorted(store.all_links(PAIR), key=lambda x: x.lead_id) == [live, tombstone]
    store.put_links(PAIR, [replace(tombstone, detached=False)])
    assert store.links_by_lead(PAIR, ["lead-t"])["lead-t"].detached is False


def test_commit_without_release_keeps_the_lease_and_allows_another_commit(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)

    meta = store.commit(PAIR, "a", replace(meta, cursors={"lead": "c1"}), release=False)
    with pytest.raises(LeaseHeld):
        store.acquire(PAIR, "b", T0, TTL)
    meta = store.commit(PAIR, "a", replace(meta, cursors={"lead": "c2"}))

    assert meta.version == 2
    assert store.acquire(PAIR, "b", T0, TTL).cursors == {"lead": "c2"}


def test_commit_with_a_stale_version_raises_and_writes_nothing(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    store.commit(PAIR, "a", replace(meta, cursors={"lead": "first"}), release=False)

    with pytest.raises(StaleState, match="version"):
        store.commit(PAIR, "a", replace(meta, cursors={"lead": "second"}))

    assert store.acquire(PAIR, "a", T0, TTL) == PairMeta(version=1, cursors={"lead": "first"})


def test_commit_after_losing_the_lease_raises_stale_state_and_writes_nothing(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    store.acquire(PAIR, "b", T0 + timedelta(seconds=TTL + 1), TTL)

    with pytest.raises(StaleState):
        store.commit(PAIR, "a", replace(meta, cursors={"lead": "lost"}))

    assert store.acquire(PAIR, "b", T0 + timedelta(seconds=TTL + 2), TTL).cursors == {}


def test_commit_after_releasing_raises_stale_state(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    store.release(PAIR, "a")

    with pytest.raises(StaleState):
        store.commit(PAIR, "a", meta)


def test_commit_on_a_pair_never_acquired_raises_stale_state(store: StateStore) -> None:
    with pytest.raises(StaleState):
        store.commit(PAIR, "a", PairMeta())


# --- links -------------------------------------------------------------------------------------


def test_links_round_trip_none_empty_and_unicode_values(store: StateStore) -> None:
    link = Link(
        lead_id="0f3c-été",
        card_id="card-日本",
        base={"name": "Zoë Ørsted 🚀", "email": None, "notes": "", "status": "Qualified"},
    )

    store.put_links(PAIR, [link])

    assert store.links_by_lead(PAIR, [link.lead_id]) == {link.lead_id: link}
    assert store.links_by_card(PAIR, [link.card_id]) == {link.card_id: link}
    assert store.all_links(PAIR) == [link]


def test_hundreds_of_links_round_trip_through_every_lookup(store: StateStore) -> None:
    links = make_links(430)

    store.put_links(PAIR, links)

    by_lead = store.links_by_lead(PAIR, [link.lead_id for link in links])
    by_card = store.links_by_card(PAIR, [link.card_id for link in links])
    assert by_lead == {link.lead_id: link for link in links}
    assert by_card == {link.card_id: link for link in links}
    assert sorted(store.all_links(PAIR), key=lambda link: link.lead_id) == links


def test_lookups_return_only_links_that_exist(store: StateStore) -> None:
    links = make_links(3)
    store.put_links(PAIR, links)

    assert set(store.links_by_lead(PAIR, ["lead-0001", "missing", "lead-0001"])) == {"lead-0001"}
    assert set(store.links_by_card(PAIR, ["card-0002", "missing"])) == {"card-0002"}
    assert store.links_by_lead(PAIR, []) == {}
    assert store.links_by_card(PAIR, []) == {}


def test_put_links_replaces_the_base_of_an_existing_link(store: StateStore) -> None:
    old = Link("lead-1", "card-1", {"name": "Old", "email": "a@example.com"})
    new = Link("lead-1", "card-1", {"name": "New", "email": None})
    store.put_links(PAIR, [old])

    store.put_links(PAIR, [new])

    assert store.links_by_card(PAIR, ["card-1"]) == {"card-1": new}
    assert store.all_links(PAIR) == [new]


def test_relinking_a_lead_to_a_new_card_stops_the_old_card_resolving(store: StateStore) -> None:
    store.put_links(PAIR, [Link("lead-1", "card-old", {"name": "A"})])
    relinked = Link("lead-1", "card-new", {"name": "A"})

    store.put_links(PAIR, [relinked])

    assert store.links_by_card(PAIR, ["card-old", "card-new"]) == {"card-new": relinked}
    assert store.links_by_lead(PAIR, ["lead-1"]) == {"lead-1": relinked}


def test_the_last_of_duplicate_links_in_one_put_wins(store: StateStore) -> None:
    first = Link("lead-1", "card-1", {"name": "first"})
    last = Link("lead-1", "card-1", {"name": "last"})

    store.put_links(PAIR, [first, last])

    assert store.all_links(PAIR) == [last]


def test_delete_links_removes_them_from_every_lookup(store: StateStore) -> None:
    links = make_links(60)
    store.put_links(PAIR, links)
    gone, kept = links[:40], links[40:]

    store.delete_links(PAIR, gone)

    assert store.links_by_lead(PAIR, [link.lead_id for link in gone]) == {}
    assert store.links_by_card(PAIR, [link.card_id for link in gone]) == {}
    assert sorted(store.all_links(PAIR), key=lambda link: link.lead_id) == kept
    store.delete_links(PAIR, gone)  # deleting again is harmless


def test_links_of_different_pairs_are_isolated(store: StateStore) -> None:
    store.put_links("pair-1", [Link("lead-1", "card-1", {"name": "one"})])
    store.put_links("pair-2", [Link("lead-2", "card-2", {"name": "two"})])

    assert [link.lead_id for link in store.all_links("pair-1")] == ["lead-1"]
    assert store.links_by_lead("pair-2", ["lead-1"]) == {}
    assert store.links_by_card("pair-1", ["card-2"]) == {}


def test_links_do_not_disturb_meta(store: StateStore) -> None:
    meta = store.acquire(PAIR, "a", T0, TTL)
    store.put_links(PAIR, make_links(10))

    assert store.commit(PAIR, "a", meta).version == 1


# --- intents -----------------------------------------------------------------------------------


def test_intents_round_trip_and_are_deleted_by_token(store: StateStore) -> None:
    intents = [
        Intent(token=f"tok-{i:02d}", side=Side.CARD if i % 2 else Side.LEAD, source_id=f"src-{i}", created_at=T0)
        for i in range(30)
    ]
    for intent in intents:
        store.put_intent(PAIR, intent)
    store.put_intent("other-pair", Intent("tok-x", Side.CARD, "src-x", T0))

    assert sorted(store.intents(PAIR), key=lambda i: i.token) == intents

    store.delete_intent(PAIR, "tok-03")
    store.delete_intent(PAIR, "never-existed")

    assert sorted(i.token for i in store.intents(PAIR)) == [i.token for i in intents if i.token != "tok-03"]
    assert [i.token for i in store.intents("other-pair")] == ["tok-x"]


def test_intent_created_at_keeps_its_timezone_and_microseconds(store: StateStore) -> None:
    created = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    store.put_intent(PAIR, Intent("tok", Side.CARD, "lead-1", created))

    assert store.intents(PAIR)[0].created_at == created


# --- racing ------------------------------------------------------------------------------------


class SerializedMotoServer(ThreadedMotoServer):
    """moto's threaded server, handling one request at a time.

    Real DynamoDB applies conditional writes to one item atomically; moto checks the condition
    and writes without a lock, so two truly concurrent requests can both pass (seen in practice).
    Serializing requests restores DynamoDB's guarantee, while the clients still race over HTTP.
    """

    requests_served = 0

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ: dict[str, Any], start_response: Any) -> Any:
            with lock:
                self.requests_served += 1
                return list(app(environ, start_response))

        self._server = make_server(self._ip_address, self._port, serialized, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[SerializedMotoServer]:
    server = SerializedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield server
    server.stop()


def _dynamo_over_http(endpoint: str) -> Callable[[], StateStore]:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    create_table(session.client("dynamodb", endpoint_url=endpoint), TABLE)
    # one client per thread, as two Lambda invocations would have
    return lambda: DynamoStateStore(TABLE, session.client("dynamodb", endpoint_url=endpoint))


@pytest.mark.parametrize("backend", ["dynamodb-server", "sqlite-file"])
def test_two_racing_acquires_have_exactly_one_winner(
    backend: str, moto_server: SerializedMotoServer, tmp_path: Path, aws_env: None
) -> None:
    if backend == "dynamodb-server":
        host, port = moto_server.get_host_and_port()
        make_store = _dynamo_over_http(f"http://{host}:{port}")
    else:
        make_store = lambda: SqliteStateStore(tmp_path / "race.db")  # noqa: E731
    stores = [make_store(), make_store()]  # separate connections
    for round_no in range(5):
        outcome = _race_acquire(stores, f"race-{round_no}")

        assert sorted(outcome.values()) == ["held", "won"], f"round {round_no}: {outcome}"
    if backend == "dynamodb-server":  # the race really went over HTTP (not to an in-process mock)
        assert moto_server.requests_served >= 10


def _race_acquire(stores: list[StateStore], pair: str) -> dict[str, str]:
    """Start one ``acquire`` per store at the same instant; report who won."""
    barrier = threading.Barrier(len(stores))
    outcome: dict[str, str] = {}

    def race(owner: str, store: StateStore) -> None:
        barrier.wait()
        try:
            store.acquire(pair, owner, T0, TTL)
            outcome[owner] = "won"
        except LeaseHeld:
            outcome[owner] = "held"

    threads = [threading.Thread(target=race, args=(f"owner-{i}", s)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcome


# --- activity history -------------------------------------------------------------------------

RETAIN = timedelta(days=30)


def _activity(at: datetime, kind: str = "update", lead: str | None = "lead-1", card: str | None = "card-1") -> Any:
    from leadsync.core.history import Activity

    return Activity(at, PAIR, kind, f"{kind} at {at.isoformat()}", lead, card, field="status", old="New", new="Done")


def test_activity_round_trips_newest_first(store: StateStore) -> None:
    items = [_activity(T0 + timedelta(minutes=i)) for i in range(3)]
    store.put_activity(PAIR, items, RETAIN)
    assert store.activity(PAIR, T0 + timedelta(hours=1)) == list(reversed(items))


def test_activity_keeps_every_value_and_unicode(store: StateStore) -> None:
    from leadsync.core.history import Activity

    item = Activity(
        T0.replace(microsecond=123456),
        PAIR,
        "conflict",
        "conflict on name: 'Zoë' vs 'Zoe'",
        "lead-1",
        "card-1",
        field="name",
        lead_value="Zoë 🚀",
        card_value=None,
        winner="lead",
        policy="conflict_policy lead",
        label="Zoë",
    )
    store.put_activity(PAIR, [item], RETAIN)
    assert store.activity(PAIR, T0) == [item]


def test_activity_by_record_finds_it_by_lead_or_card_id(store: StateStore) -> None:
    ada = _activity(T0, lead="lead-ada", card="card-ada")
    bob = _activity(T0 + timedelta(seconds=1), lead="lead-bob", card="card-bob")
    ada_only_lead = _activity(T0 + timedelta(seconds=2), kind="skipped", lead="lead-ada", card=None)
    store.put_activity(PAIR, [ada, bob, ada_only_lead], RETAIN)
    now = T0 + timedelta(minutes=1)
    assert store.activity(PAIR, now, record="card-ada") == [ada]
    assert store.activity(PAIR, now, record="lead-ada") == [ada_only_lead, ada]
    assert store.activity(PAIR, now, record="lead-bo") == []  # a prefix of an id is not that id


def test_activity_since_and_limit(store: StateStore) -> None:
    items = [_activity(T0 + timedelta(hours=i)) for i in range(30)]
    store.put_activity(PAIR, items, RETAIN)
    now = T0 + timedelta(days=2)
    assert store.activity(PAIR, now, since=T0 + timedelta(hours=27)) == items[:26:-1]
    assert store.activity(PAIR, now, record="card-1", since=T0 + timedelta(hours=28)) == items[:27:-1]
    assert store.activity(PAIR, now, limit=4) == items[:25:-1]


def test_activity_past_its_retention_is_not_listed(store: StateStore) -> None:
    old, recent = _activity(T0), _activity(T0 + timedelta(days=20))
    store.put_activity(PAIR, [old, recent], RETAIN)
    assert store.activity(PAIR, T0 + timedelta(days=31)) == [recent]
    assert store.activity(PAIR, T0 + timedelta(days=31), record="lead-1") == [recent]


def test_activity_of_different_pairs_is_isolated_and_leaves_links_alone(store: StateStore) -> None:
    store.put_links(PAIR, make_links(2))
    store.put_activity("other-pair", [_activity(T0)], RETAIN)
    assert store.activity(PAIR, T0) == []
    assert len(store.all_links(PAIR)) == 2
    assert store.links_by_card(PAIR, ["card-0001"])["card-0001"].lead_id == "lead-0001"


# --- deletions waiting for approval -----------------------------------------------------------


def _pending(record: str, at: datetime, link: Link | None = None) -> Any:
    from leadsync.core.approvals import PendingDeletion, pending_id

    return PendingDeletion(pending_id(Side.CARD, record), Side.CARD, record, "lead-x", "its lead was deleted", at, link)


def test_pending_deletions_round_trip_oldest_first_with_their_link(store: StateStore) -> None:
    link = Link("lead-x", "card-b", {"name": "Zoë", "email": None})
    first, second = _pending("card-b", T0, link), _pending("card-a", T0 + timedelta(seconds=1))
    store.put_pending(PAIR, [second, first])
    assert store.pending(PAIR) == [first, second]
    assert store.pending("other-pair") == []


def test_a_deletion_already_waiting_keeps_its_first_record(store: StateStore) -> None:
    first = _pending("card-a", T0)
    store.put_pending(PAIR, [first])
    store.put_pending(PAIR, [replace(first, created_at=T0 + timedelta(hours=1), reason="again")])
    assert store.pending(PAIR) == [first]


def test_delete_pending_forgets_only_those(store: StateStore) -> None:
    a, b = _pending("card-a", T0), _pending("card-b", T0)
    store.put_pending(PAIR, [a, b])
    store.delete_pending(PAIR, [a.id, "never-existed"])
    assert store.pending(PAIR) == [b]
