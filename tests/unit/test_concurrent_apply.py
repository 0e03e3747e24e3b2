"""The concurrent apply's scheduler: which units may run together, how wide, and the lanes that run them."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.core.models import Link, Side
from leadsync.core.operations import Archive, Create, SetMarker, Unit, Update
from leadsync.cycle.concurrent import Lanes, blockers, touched, width

LEADS = [f"L{i}" for i in range(6)]
CARDS = [f"C{i}" for i in range(6)]


@st.composite
def units(draw: st.DrawFn) -> Unit:
    """A unit over a small pool of ids, so that units often share records."""
    lead = draw(st.none() | st.sampled_from(LEADS))
    card = draw(st.none() | st.sampled_from(CARDS))
    ops: list[Create | Update | Archive | SetMarker] = []
    if lead and not card:
        ops.append(Create(Side.CARD, lead, {}))
    if card and not lead:
        ops.append(Create(Side.LEAD, card, {}))
    if lead and card:
        ops += draw(
            st.lists(
                st.sampled_from(
                    [Update(Side.LEAD, lead, {}), Update(Side.CARD, card, {}), SetMarker(Side.LEAD, lead, card)]
                ),
                max_size=3,
            )
        )
    link = Link(lead or "", card or "", {}) if lead or card else None
    drop = Link(draw(st.sampled_from(LEADS)), draw(st.sampled_from(CARDS)), {}) if draw(st.booleans()) else None
    return Unit(lead, card, tuple(ops), link=link, drop=drop)


def test_a_unit_touches_its_ids_its_operations_records_and_its_links() -> None:
    unit = Unit("L1", None, (Create(Side.CARD, "L1", {}),), link=Link("L1", "", {}), drop=Link("L9", "C9", {}))
    assert touched(unit) == {(Side.LEAD, "L1"), (Side.LEAD, "L9"), (Side.CARD, "C9")}
    archive = Unit(None, "C2", (Archive(Side.CARD, "C2", "gone"),))
    assert touched(archive) == {(Side.CARD, "C2")}


def test_units_on_different_records_block_nothing_and_a_shared_record_waits_for_the_last_toucher() -> None:
    a = Unit("L1", "C1", (Update(Side.CARD, "C1", {}),))
    b = Unit("L2", "C2", (Update(Side.CARD, "C2", {}),))
    c = Unit("L1", "C1", (Update(Side.LEAD, "L1", {}),))
    d = Unit("L3", "C1", (SetMarker(Side.CARD, "C1", "L3"),))
    assert blockers([a, b, c, d]) == [frozenset(), frozenset(), {0}, {2}]


@settings(max_examples=300, deadline=None)
@given(st.lists(units(), max_size=25))
def test_two_units_sharing_a_record_are_ordered_by_the_blockers(plan: list[Unit]) -> None:
    """For every pair i < j sharing a record, j waits for i (directly or through the units in between)."""
    waits = blockers(plan)
    for j, waited in enumerate(waits):
        assert all(i < j for i in waited), "a unit only waits for earlier units"
        assert all(touched(plan[i]) & touched(plan[j]) for i in waited), "only for units sharing a record"

    def after(j: int) -> set[int]:  # every unit j waits for, transitively
        seen: set[int] = set()
        stack = list(waits[j])
        while stack:
            i = stack.pop()
            if i not in seen:
                seen.add(i)
                stack.extend(waits[i])
        return seen

    for j in range(len(plan)):
        for i in range(j):
            if touched(plan[i]) & touched(plan[j]):
                assert i in after(j), f"unit {j} could run alongside unit {i}, which touches the same record"


@pytest.mark.parametrize(
    ("rates", "seconds", "cap", "expected"),
    [
        ([3.0, 9.8], 0.75, 8, 8),  # Notion + Trello: 2 x 9.8/s x 0.75 s = 14.7, capped
        ([4.5, 9.8], 0.6, 16, 12),  # Airtable + Trello: 2 x 9.8 x 0.6 = 11.8 -> 12
        ([0.67, 9.8], 0.1, 8, 2),  # a fast answer needs few lanes
        ([9.8], 0.3, 1, 1),  # cap 1: sequential
        ([], 0.3, 8, 1),  # nothing known: sequential
    ],
)
def test_the_width_covers_rate_times_latency_within_the_cap(
    rates: list[float], seconds: float, cap: int, expected: int
) -> None:
    assert width(rates, seconds, cap) == expected


def _run(plan_width: int, tasks: int, waits: list[frozenset[int]], body: Callable[[int], None]) -> list[int]:
    finished: list[int] = []
    with Lanes[None](plan_width, lambda index, _result, error: finished.append(index)) as lanes:
        for index in range(tasks):
            lanes.ready(waits[index])
            lanes.start(index, lambda index=index: body(index))  # type: ignore[misc]
    return finished


def test_width_one_runs_each_task_inline_in_order() -> None:
    threads: set[int] = set()
    finished = _run(1, 5, [frozenset()] * 5, lambda _i: threads.add(threading.get_ident()))
    assert finished == [0, 1, 2, 3, 4]
    assert threads == {threading.get_ident()}, "no thread started"


def test_lanes_run_independent_tasks_together_up_to_the_width() -> None:
    """Three tasks that each wait for the other two can only finish if all three run at once."""
    meet = threading.Barrier(3, timeout=10)
    finished = _run(3, 4, [frozenset()] * 4, lambda i: None if i == 0 else meet.wait())
    assert sorted(finished) == [0, 1, 2, 3]


def test_a_blocked_task_starts_only_after_the_one_it_waits_for() -> None:
    """Task 3 shares a record with the slow task 1: it starts after 1 ended, while 2 ran alongside 1.

    (Task 0 runs alone first: the lanes learn how long a task takes before they open.)
    """
    order: list[str] = []
    lock = threading.Lock()
    two_done = threading.Event()

    def body(i: int) -> None:
        with lock:
            order.append(f"start {i}")
        if i == 1:
            assert two_done.wait(10), "task 2 did not run alongside task 1"
        with lock:
            order.append(f"end {i}")
        if i == 2:
            two_done.set()

    finished = _run(4, 4, [frozenset(), frozenset(), frozenset(), frozenset({1})], body)
    assert sorted(finished) == [0, 1, 2, 3]
    assert order.index("end 0") < order.index("start 1")
    assert order.index("end 2") < order.index("end 1")
    assert order.index("end 1") < order.index("start 3")


def test_errors_come_back_on_the_calling_thread_and_the_rest_still_runs() -> None:
    seen: list[tuple[int, str | None]] = []

    def on_done(index: int, _result: object, error: BaseException | None) -> None:
        assert threading.current_thread() is threading.main_thread()
        seen.append((index, type(error).__name__ if error else None))

    def fail_two(i: int) -> None:
        if i == 2:
            raise ValueError("boom")

    with Lanes[None](3, on_done) as lanes:
        for i in range(5):
            lanes.ready(())
            lanes.start(i, lambda i=i: fail_two(i))  # type: ignore[misc]
    assert sorted(seen) == [(0, None), (1, None), (2, "ValueError"), (3, None), (4, None)]


def test_the_first_task_runs_alone_and_overlap_is_zero_with_nothing_in_flight() -> None:
    running: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    def body(_i: int) -> None:
        with lock:
            running.append(1)
            peak.append(len(running))
        with lock:
            running.pop()

    with Lanes[None](4, lambda *_: None) as lanes:
        assert lanes.overlap() == 0.0
        lanes.ready(())
        lanes.start(0, lambda: body(0))
        assert lanes.in_flight == 1
        lanes.ready(())  # the second waits for the first: a unit's duration is not known before
        assert lanes.in_flight == 0
        assert lanes.overlap() == 0.0, "nothing in flight: no time kept for others (the sequential rule)"
    assert peak == [1]
