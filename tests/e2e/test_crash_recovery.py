"""A cycle killed at any point between two API or DynamoDB calls: the next runs finish its work.

The kill is ``tests.support.crash.SimulatedCrash`` (a ``BaseException``: the engine cannot catch
it, so the lease stays held, intents stay, META is not committed). The lease then runs out
(the clock passes its TTL) and clean cycles must converge with no duplicate and nothing lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import leadsync.engine
from leadsync.connectors import notion
from leadsync.core.models import Side
from leadsync.state.base import StateStore
from leadsync.state.dynamodb import DynamoStateStore
from leadsync.state.sqlite import SqliteStateStore
from leadsync.state.table import create_table
from tests.support.crash import SimulatedCrash, instrument, virtual_waits
from tests.support.e2e import Board, Harness

LEASE_EXPIRED = 200.0  # past the TTL of a crashed run's lease (its remaining time + 60 s)


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # An earlier Sheets world may have left its key file's path behind (and the file is deleted
    # when that world is collected); a Sheets harness sets its own after this fixture.
    monkeypatch.delenv("GOOGLE_SERVICE_ACCOUNT_FILE", raising=False)
    with virtual_waits():
        yield


def _fresh(harness: Harness, aws: Any, monkeypatch: pytest.MonkeyPatch, store: str = "dynamodb") -> None:
    """A new, empty world on the same harness: data, state, lead tracker and board.

    ``store``: "dynamodb" (a new table in moto) or "sqlite" (a new file of the embedded store,
    the same StateStore contract at a fraction of moto's per-call cost, for exhaustive sweeps).
    """
    kept = harness.__dict__.setdefault("_kept_worlds", [])
    kept.append(harness.leads)  # a Sheets world deletes its key file when collected: keep it to the end
    monkeypatch.delenv("GOOGLE_SERVICE_ACCOUNT_FILE", raising=False)  # restored after the test
    harness.sb.reset()
    for name in ("notion", "trello", "airtable", "sheets"):
        module = sys.modules.get(f"leadsync.connectors.{name}")
        if module is not None and hasattr(module, "clear_caches"):
            module.clear_caches()  # schema caches: every world starts cold, like a new container
    name = f"leadsync-crash-{uuid.uuid4().hex[:8]}"
    if store == "dynamodb":
        create_table(aws, name)
        monkeypatch.setenv("LEADSYNC_TABLE", name)
    else:
        monkeypatch.delenv("LEADSYNC_TABLE", raising=False)
        monkeypatch.setenv("LEADSYNC_STATE_PATH", str(Path(tempfile.gettempdir()) / f"{name}.db"))
    harness.leads = type(harness.leads)(harness.sb)
    harness.board = Board(harness.sb)
    harness.configure()


def _store(aws: Any) -> StateStore:
    """The state store the handler is using now."""
    if os.environ.get("LEADSYNC_TABLE"):
        return DynamoStateStore(os.environ["LEADSYNC_TABLE"], aws)
    return SqliteStateStore(os.environ["LEADSYNC_STATE_PATH"])


def _crashed_cycle(harness: Harness, at: int, *, after: bool) -> bool:
    """One invocation killed at call ``at``; False when the cycle made fewer calls than that."""
    with instrument(at, after=after) as probe, contextlib.suppress(SimulatedCrash):
        harness.cycle()
    harness.sb.clock.advance(LEASE_EXPIRED)
    return probe.crashed is not None


def _assert_converged(harness: Harness, expected: dict[str, dict[str, str]]) -> None:
    """Every lead has exactly one open card with its values and marker; nothing else is open."""
    open_cards = harness.board.cards()
    assert len(open_cards) == len(expected), f"cards: {open_cards}"
    for lead_id, values in expected.items():
        card = harness.board.card_for(lead_id)
        assert (card["name"], card["list"], card["email"]) == (values["name"], values["list"], values["email"])
        lead = harness.leads.get(lead_id)
        assert lead is not None
        assert lead["card"] == card["id"], "the lead names its card"
        assert (lead["name"], lead["email"]) == (values["name"], values["email"])


def _new_leads(harness: Harness) -> dict[str, dict[str, str]]:
    a = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    b = harness.leads.add(name="Brian", email="brian@example.com", status="Contacted", source="Ads")
    return {
        a: {"name": "Ada", "email": "ada@example.com", "list": "To Do"},
        b: {"name": "Brian", "email": "brian@example.com", "list": "In Progress"},
    }


def _edits_both_sides(harness: Harness) -> dict[str, dict[str, str]]:
    expected = _new_leads(harness)
    harness.cycle()
    a, b = list(expected)
    harness.leads.edit(a, name="Ada Lovelace")
    harness.board.move(harness.board.card_for(b)["id"], "Done")
    harness.board.set_line(harness.board.card_for(a)["id"], "Email", "ada@lovelace.example")
    c = harness.leads.add(name="Cleo", email="cleo@example.com", status="New", source="Web")
    expected[a] = {"name": "Ada Lovelace", "email": "ada@lovelace.example", "list": "To Do"}
    expected[b] = {**expected[b], "list": "Done"}
    expected[c] = {"name": "Cleo", "email": "cleo@example.com", "list": "To Do"}
    return expected


def _four_new_leads(harness: Harness) -> dict[str, dict[str, str]]:
    """Four creations: with a write width of 4 they are in flight together (after the first, alone)."""
    expected = {}
    for n, (status, column) in enumerate([("New", "To Do"), ("Contacted", "In Progress")] * 2):
        lead = harness.leads.add(name=f"Lead {n}", email=f"l{n}@example.com", status=status, source="Web")
        expected[lead] = {"name": f"Lead {n}", "email": f"l{n}@example.com", "list": column}
    return expected


SCENARIOS: dict[str, Callable[[Harness], dict[str, dict[str, str]]]] = {
    "first sync creates cards": _new_leads,
    "edits on both sides and a new lead": _edits_both_sides,
    "four new leads": _four_new_leads,
}


@pytest.mark.parametrize(
    ("scenario", "after", "store", "width"),
    [
        ("edits on both sides and a new lead", False, "sqlite", 1),
        ("edits on both sides and a new lead", True, "sqlite", 1),
        ("edits on both sides and a new lead", True, "dynamodb", 1),
        ("four new leads", False, "sqlite", 4),
        ("four new leads", True, "sqlite", 4),
        ("four new leads", True, "dynamodb", 4),
    ],
    ids=lambda v: {False: "before-call", True: "after-call"}.get(v, v) if isinstance(v, bool) else str(v),
)
def test_a_crash_at_every_call_of_a_cycle_converges_with_no_duplicate(
    harness: Harness, aws: Any, monkeypatch: pytest.MonkeyPatch, scenario: str, after: bool, store: str, width: int
) -> None:
    """``width``: units applied at once. With 4, a crash at call k may come while several creations
    are in flight (their calls interleave): the ones still running die at their next call."""
    if store == "dynamodb" and harness.leads.system != "notion":
        pytest.skip("moto DynamoDB is slow per call: the DynamoDB sweep runs for one lead tracker")
    if harness.leads.system == "sheets" and not after:
        pytest.skip("time budget: Sheets cycles make the most calls; its sweep crashes after each call only")
    monkeypatch.setattr(leadsync.engine, "WRITE_CONCURRENCY", width)
    setup = SCENARIOS[scenario]
    at = 0
    while True:
        at += 1
        _fresh(harness, aws, monkeypatch, store)
        expected = setup(harness)
        if not _crashed_cycle(harness, at, after=after):
            break  # every call of the cycle has been a crash point
        where = f"crash {'after' if after else 'before'} call {at}"
        for _ in range(2):
            summary = harness.cycle()
            assert summary["status"] == "synced", f"{where}: {summary}"

        _assert_converged(harness, expected)
        assert harness.cycle()["applied"] == {}, f"{where}: the third cycle still writes"
        assert _store(aws).intents("e2e") == [], f"{where}: intent left behind"
    assert at > 5, "the cycle made API and state calls to crash at"


@pytest.mark.parametrize("after", [False, True], ids=["before-call", "after-call"])
@pytest.mark.parametrize("crash_on", ["trello POST /cards", "state.put_links", "state.delete_intent"])
def test_a_crash_while_four_creations_are_in_flight_converges_with_no_duplicate(
    harness: Harness, aws: Any, monkeypatch: pytest.MonkeyPatch, crash_on: str, after: bool
) -> None:
    """Four card creations held until all four are in flight; the process dies at one of their calls."""
    monkeypatch.setattr(leadsync.engine, "WRITE_CONCURRENCY", 4)
    _fresh(harness, aws, monkeypatch, "sqlite")
    expected = _new_leads(harness) | _four_new_leads(harness)
    # The first unit runs alone (the lanes learn how long a unit takes), then up to 4 at once: the
    # gate holds the next 4 card creations until all 4 are in flight; the crash comes at the
    # second call named ``crash_on``, i.e. among the 4.
    gate = ("trello POST /cards", 4)
    with (
        instrument(crash_on=crash_on, nth=2, after=after, gate=gate, gate_after=1) as probe,
        pytest.raises(SimulatedCrash),
    ):
        harness.cycle()
    assert probe.gated == 4, "four creations were in flight together when the crash came"
    harness.sb.clock.advance(LEASE_EXPIRED)

    for _ in range(2):
        assert harness.cycle()["status"] == "synced"

    _assert_converged(harness, expected)
    assert len(harness.board.cards(include_closed=True)) == len(expected), "no card created twice"
    assert harness.cycle()["applied"] == {}
    assert _store(aws).intents("e2e") == []


def test_a_crash_after_the_card_is_created_is_finished_by_adoption_not_a_second_card(
    harness: Harness, aws: Any
) -> None:
    lead = harness.leads.add(name="Grace", email="grace@example.com", status="New", source="Web")
    with pytest.raises(SimulatedCrash):
        _crash_after(harness, "trello POST /cards")
    assert len(harness.board.cards()) == 1, "the card was created before the crash"
    assert harness.leads.get(lead)["card"] is None, "the crash came before the marker was written back"
    intents = _store(aws).intents("e2e")
    assert [(i.side, i.source_id) for i in intents] == [(Side.CARD, lead)], "the intent survived the crash"
    harness.sb.clock.advance(LEASE_EXPIRED)

    summary = harness.cycle()

    assert summary["status"] == "synced"
    assert summary["applied"].get("create_card", 0) == 0, "adopted, not created again"
    card = harness.board.card_for(lead)
    assert len(harness.board.cards(include_closed=True)) == 1
    assert harness.leads.get(lead)["card"] == card["id"], "the lead marker is written"
    assert _store(aws).links_by_lead("e2e", [lead])[lead].card_id == card["id"]
    assert _store(aws).intents("e2e") == []


def test_a_crash_after_the_intent_and_before_the_create_gives_exactly_one_card(harness: Harness, aws: Any) -> None:
    lead = harness.leads.add(name="Hedy", email="hedy@example.com", status="New", source="Web")
    with pytest.raises(SimulatedCrash):
        _crash_after(harness, "state.put_intent")
    assert harness.board.cards(include_closed=True) == []
    assert len(_store(aws).intents("e2e")) == 1
    harness.sb.clock.advance(LEASE_EXPIRED)

    for _ in range(2):
        assert harness.cycle()["status"] == "synced"

    cards = harness.board.cards(include_closed=True)
    assert len(cards) == 1
    assert cards[0]["lead"] == lead
    assert harness.leads.get(lead)["card"] == cards[0]["id"]
    assert _store(aws).intents("e2e") == []


def test_a_crashed_run_keeps_its_lease_until_it_expires(harness: Harness) -> None:
    harness.leads.add(name="Ida", email="ida@example.com", status="New", source="Web")
    with pytest.raises(SimulatedCrash):
        _crash_after(harness, "state.acquire")

    assert harness.cycle(advance=0)["status"] == "skipped", "a killed run cannot release its lease"
    harness.sb.clock.advance(LEASE_EXPIRED)
    assert harness.cycle()["status"] == "synced"


def _crash_after(harness: Harness, label: str) -> None:
    """Run one cycle and kill it right after the first call named ``label``."""
    with instrument(crash_on=label, after=True):
        harness.cycle()


def test_ctrl_c_mid_cycle_frees_the_pair_for_an_immediate_rerun_with_no_duplicate(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local `sync` interrupted by Ctrl-C (KeyboardInterrupt, unlike a killed Lambda) releases its lease."""
    if harness.leads.system != "notion":
        pytest.skip("the lease is the engine's, whatever the lead tracker: one is enough")
    from leadsync.connectors.trello import TrelloConnector

    expected = _new_leads(harness)
    original = TrelloConnector.create
    calls: list[int] = []

    def create(self: TrelloConnector, fields: Any, link: str | None) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, fields, link)

    monkeypatch.setattr(TrelloConnector, "create", create)
    with pytest.raises(KeyboardInterrupt):
        harness.cycle()
    monkeypatch.setattr(TrelloConnector, "create", original)

    rerun = harness.cycle()  # at once: the sandbox clock has not moved past the lease

    assert rerun["status"] == "synced", rerun
    _assert_converged(harness, expected)


@pytest.mark.parametrize("harness", ["notion"], indirect=True)
def test_a_crash_in_a_part_of_a_listing_in_parts_converges_with_no_duplicate(
    harness: Harness, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing too long for one invocation goes on in parts (``Resuming``): a crash at any call of
    the cycle that carries it on re-reads that part (its resume token is committed with the cycle).
    After each call: a crash before call k+1 is one after call k (time budget: one sweep, not two)."""
    after = True
    monkeypatch.setitem(notion.NotionConnector.__init__.__kwdefaults__, "page_size", 2)
    monkeypatch.setattr(leadsync.engine, "LISTING_SHARE", 1e-9)  # every part stops after its first query
    at = 0
    while True:
        at += 1
        _fresh(harness, aws, monkeypatch, "sqlite")
        expected = {**_new_leads(harness), **_four_new_leads(harness)}  # three parts of two
        assert harness.cycle()["read"]["lead"] == 2, "the first part"
        if not _crashed_cycle(harness, at, after=after):
            break  # every call of the second part's cycle has been a crash point
        where = f"crash {'after' if after else 'before'} call {at}"
        for _ in range(6):
            summary = harness.cycle()
            assert summary["status"] == "synced", f"{where}: {summary}"
            if not summary["full_sweep"]:
                break
        assert not summary["full_sweep"], f"{where}: the listing never ended"
        _assert_converged(harness, expected)
        assert harness.cycle()["applied"] == {}, f"{where}: a later cycle still writes"
        assert _store(aws).intents("e2e") == [], f"{where}: intent left behind"
    assert at > 5, "the cycle made API and state calls to crash at"
