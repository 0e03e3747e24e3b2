"""A first sync too big for one invocation finishes over several, from a backlog, with no duplicates."""

from __future__ import annotations

from typing import Any

import pytest

import leadsync.app
import leadsync.engine
from leadsync import backlog
from leadsync.connectors import notion, ratelimit
from tests.support.e2e import Harness
from tests.support.lambda_context import FakeLambdaContext

LEADS = 80


def test_first_sync_resumes_from_the_backlog_across_invocations(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(LEADS):
        harness.leads.add(name=f"Lead {n:03d}", email=f"l{n}@example.com", status="New", source="Import")
    # Invocations with ~1 s of working time, client rate limits lifted so the proportions are those of a real
    # 55 s invocation against the real limits: each one can apply only part of the first sync.
    for system in ("notion", "trello", "airtable", "sheets"):
        monkeypatch.setitem(ratelimit.DEFAULT_LIMITS, system, ratelimit.Limit(1000.0, 1000.0))
    monkeypatch.setenv("LEADSYNC_SAFETY_MARGIN_SECONDS", "1")
    monkeypatch.setattr(leadsync.engine, "UNIT_RESERVE_SECONDS", 0.02)
    # The batched marker write-back (Sheets: a read and a batchUpdate) needs its reserve even in a short
    # invocation: with none, every invocation runs out before it and re-plans the same markers forever.
    monkeypatch.setattr(leadsync.engine, "MARKER_FLUSH_SECONDS", 0.5)
    monkeypatch.setattr(leadsync.app, "MIN_SECONDS_FOR_A_PAIR", 0.05)
    # 3 s of working time: room for the fixed cost of an invocation (reads, backlog intake, the marker
    # write-back's reserve) on a loaded machine, so each one does a share of the work, as in a real one
    harness.context_factory = lambda: FakeLambdaContext(timeout_seconds=4.0)
    # Trello answering in 50 ms: 80 creations need 4 s, more than one invocation's ~3 s on any machine
    harness.sb.trello.faults.set(latency=0.05)

    summaries = []
    for _ in range(80):  # generous: a loaded machine fits fewer creations into each short invocation
        summaries.append(harness.cycle())
        done = len({c["lead"] for c in harness.board.cards()}) == LEADS and summaries[-1]["deferred"] == 0
        if done and all(lead["card"] for lead in harness.leads.all()):  # the last card ids written back too
            break

    cards = harness.board.cards(include_closed=True)
    assert len(cards) == LEADS, "every lead got a card"
    assert len({c["lead"] for c in cards}) == LEADS, "no lead got two cards"
    assert summaries[0]["deferred"] > 0, "the first invocation could not do it all (the test is not vacuous)"
    assert any(s["read"].get("backlog", 0) > 0 for s in summaries[1:]), "later invocations worked from the backlog"
    assert not any(s["full_sweep"] for s in summaries[1:]), "later invocations read incrementally, no relisting"
    for lead in harness.leads.all():
        assert lead["card"] in {c["id"] for c in cards}
    assert harness.cycle()["applied"] == {}


def test_leads_saved_to_the_backlog_are_not_read_again_while_they_wait(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sheets has no cursor: it acknowledges the rows the backlog holds, as the others' cursors move past them."""
    for n in range(10):
        harness.leads.add(name=f"Lead {n}", email=f"l{n}@example.com", status="New", source="Import")
    harness.sb.clock.advance(300)  # an existing tracker: its last edits are older than any read overlap
    with monkeypatch.context() as no_time:
        no_time.setattr(leadsync.engine, "UNIT_RESERVE_SECONDS", 1e9)  # every creation is deferred
        first = harness.cycle()
    assert (first["read"]["lead"], first["applied"], first["deferred"]) == (10, {}, 10)

    harness.sb.clock.advance(130)  # the next ticks
    before = {name: len(e.requests) for name, e in harness.sb.emulators.items()}
    second = harness.cycle()

    assert second["read"].get("lead", 0) == 0, "the waiting leads were not read again"
    one_by_one = [
        (m, p)
        for n, e in harness.sb.emulators.items()
        for m, p in e.requests[before[n] :]
        if m == "GET" and "/pages/" in p
    ]
    assert one_by_one == [], (
        "no page read before its card id is written back: the backlog read it from the pair's source"
    )
    assert (second["read"]["backlog"], second["applied"]) == (10, {"create_card": 10})
    assert len(harness.board.cards(include_closed=True)) == 10
    harness.sb.clock.advance(130)
    third = harness.cycle()
    assert third["applied"] == {}
    cards = {c["lead"]: c["id"] for c in harness.board.cards()}
    assert {lead["id"]: lead["card"] for lead in harness.leads.all()} == cards


def test_every_invocation_takes_a_full_batch_while_the_backlog_holds_one(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deferred creations share chunks with the rest of the head: partial invocations do not leave a
    trail of small chunks that a cycle, reading a bounded number of chunks, takes only part of a batch from."""
    total, batch, per_cycle = 30, 10, 3
    for system in ("notion", "trello", "airtable", "sheets"):  # what is counted is batches, not their pace
        monkeypatch.setitem(ratelimit.DEFAULT_LIMITS, system, ratelimit.Limit(1000.0, 1000.0))
    for n in range(total):
        harness.leads.add(name=f"Lead {n:02d}", email=f"l{n}@example.com", status="New", source="Import")
    harness.sb.clock.advance(300)  # an existing tracker: its last edits are older than any read overlap
    monkeypatch.setattr(backlog, "BATCH", batch)
    monkeypatch.setattr(backlog, "MAX_CHUNKS_PER_CYCLE", 1)
    with monkeypatch.context() as no_time:
        no_time.setattr(leadsync.engine, "UNIT_RESERVE_SECONDS", 1e9)  # every creation is deferred
        assert harness.cycle()["deferred"] == total

    def reserve(cycle: Any) -> float:  # time for `per_cycle` creations per invocation, no more
        return 0.0 if cycle.report.applied.get("create_card", 0) < per_cycle else 1e9

    monkeypatch.setattr(leadsync.engine.Engine, "_reserve", staticmethod(reserve))
    taken = []
    while len(harness.board.cards(include_closed=True)) < total and len(taken) < total:
        left = total - len(harness.board.cards(include_closed=True))
        summary = harness.cycle()
        taken.append((left, summary["read"].get("backlog", 0)))

    assert taken[0] == (total, batch)
    assert [n for left, n in taken if left >= batch] == [batch] * sum(1 for left, _ in taken if left >= batch)
    assert [n for left, n in taken if left < batch] == [left for left, _ in taken if left < batch]
    cards = harness.board.cards(include_closed=True)
    assert len({c["lead"] for c in cards}) == len(cards) == total


@pytest.mark.parametrize("harness", ["notion"], indirect=True)
def test_a_listing_longer_than_an_invocation_goes_on_in_parts_and_cards_start_at_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large Notion database against the real API's latency takes more than an invocation to list
    (10,000 leads: about 100 queries at about a second each). Listed again from the start in every
    invocation it never finished, so no card was ever created: each part now goes on from the last."""
    leads = [harness.leads.add(name=f"Lead {n:02d}", email=f"l{n}@example.com", status="New") for n in range(14)]
    harness.sb.clock.advance(3600)  # an existing tracker
    monkeypatch.setitem(notion.NotionConnector.__init__.__kwdefaults__, "page_size", 4)
    monkeypatch.setattr(leadsync.engine, "LISTING_SHARE", 1e-9)  # every part stops after its first query

    summaries = []  # the invocations that list (a first sync's listing is a full sweep)
    while (summary := harness.cycle())["full_sweep"] and len(summaries) < 10:
        summaries.append(summary)
        if len(summaries) == 2:  # a lead already read and linked is edited while the listing goes on
            harness.leads.edit(leads[0], status="Contacted")

    assert [s["read"]["lead"] for s in summaries] == [4, 4, 4, 2], "one query of 4 pages per invocation"
    assert [s["applied"].get("create_card", 0) for s in summaries] == [4, 4, 4, 2], "cards from the first part on"
    assert not harness.cycle()["full_sweep"], "the listing done, reads are incremental again"
    cards = harness.board.cards(include_closed=True)
    assert sorted(c["lead"] for c in cards) == sorted(leads), "one card per lead, none twice"
    first = next(c for c in cards if c["lead"] == leads[0])
    assert first["list"] == "In Progress", "an edit made while the listing went on is read afterwards"
    assert harness.cycle()["applied"] == {}
