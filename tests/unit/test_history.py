"""The pure half of the history: building activities from a plan's units, redaction, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadsync.core import history
from leadsync.core.history import REDACTED, Activity
from leadsync.core.merge import ConflictPolicy, Stamp, why_won
from leadsync.core.models import Link, Record, Side
from leadsync.core.operations import Archive, Conflict, Create, Plan, SetMarker, Unit, Update

T0 = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
LEAD = Record("lead-1", {"name": "Ada", "email": "ada@example.com", "status": "Contacted"})
CARD = Record("card-1", {"name": "Ada", "email": "ada@example.com", "status": "Contacted"})


def test_an_update_says_the_old_and_new_value_and_where_it_came_from() -> None:
    unit = Unit("lead-1", "card-1", (Update(Side.CARD, "card-1", {"status": "Qualified", "email": None}),))

    items = history.applied("p", T0, unit, "lead-1", "card-1", {Side.LEAD: LEAD, Side.CARD: CARD}, ())

    assert [(a.kind, a.field, a.old, a.new, a.side, a.label) for a in items] == [
        ("update", "email", "ada@example.com", None, "card", "Ada"),
        ("update", "status", "Contacted", "Qualified", "card", "Ada"),
    ]
    assert items[1].message == "card card-1: status 'Contacted' -> 'Qualified' (as lead lead-1 has it)"


def test_the_old_value_of_a_record_not_read_is_the_agreed_base() -> None:
    unit = Unit("lead-1", "card-1", (Update(Side.CARD, "card-1", {"status": "Qualified"}),))
    (item,) = history.applied("p", T0, unit, "lead-1", "card-1", {Side.LEAD: LEAD}, (), {"status": "New"})
    assert (item.old, item.new) == ("New", "Qualified")


def test_creations_archives_markers_and_notes_are_recorded() -> None:
    unit = Unit(
        "lead-1",
        None,
        (Create(Side.CARD, "lead-1", {"name": "Ada", "email": "a@x.io"}), SetMarker(Side.LEAD, "lead-1", "card-9")),
        link=Link("lead-1", "", {}),
        notes=("adopted",),
    )
    items = history.applied("p", T0, unit, "lead-1", "card-9", {Side.LEAD: LEAD}, ["email"])
    assert [a.kind for a in items] == ["create", "mark", "note"]
    assert items[0].message == f"created card card-9 for lead lead-1: email='{REDACTED}', name='Ada'"
    assert items[0].records() == ["lead-1", "card-9"]
    archive = Unit("lead-1", "card-1", (Archive(Side.CARD, "card-1", "its lead was deleted"),))
    (gone,) = history.applied("p", T0, archive, "lead-1", "card-1", {}, ())
    assert (gone.kind, gone.message) == ("archive", "archived card card-1 (its lead was deleted)")


def test_redacted_values_never_reach_an_activity_but_empty_stays_empty() -> None:
    unit = Unit("lead-1", "card-1", (Update(Side.CARD, "card-1", {"email": "new@example.com", "name": None}),))
    items = history.applied("p", T0, unit, "lead-1", "card-1", {Side.CARD: CARD}, ["email", "name"])
    assert [(a.field, a.old, a.new) for a in items] == [("email", REDACTED, REDACTED), ("name", REDACTED, None)]
    assert all(a.label is None for a in items), "the name is the label: redacted, it is left out"
    assert "example.com" not in repr(items)


def test_a_conflict_keeps_both_values_the_winner_and_why() -> None:
    conflict = Conflict("status", "Contacted", "Qualified", Side.CARD, why="conflict_policy newest: card edited last")
    unit = Unit("lead-1", "card-1", conflicts=(conflict,))
    (item,) = history.conflicts("p", T0, unit, {Side.LEAD: LEAD}, ())
    assert (item.lead_value, item.card_value, item.winner, item.policy) == (
        "Contacted",
        "Qualified",
        "card",
        "conflict_policy newest: card edited last",
    )
    assert item.message.endswith("-> card wins (conflict_policy newest: card edited last)")
    (hidden,) = history.conflicts("p", T0, unit, {}, ["status"])
    assert (hidden.lead_value, hidden.card_value) == (REDACTED, REDACTED)


def test_why_won_names_the_policy_or_the_tie_breaker() -> None:
    early, late = Stamp(T0), Stamp(T0 + timedelta(minutes=5))
    assert why_won(ConflictPolicy.LEAD, Side.CARD, early, late) == "conflict_policy lead"
    assert why_won(ConflictPolicy.NEWEST, Side.LEAD, early, late) == "conflict_policy newest: card edited last"
    notion_minute = Stamp(T0, timedelta(minutes=1))
    assert why_won(ConflictPolicy.NEWEST, Side.LEAD, notion_minute, Stamp(T0 + timedelta(seconds=20))) == (
        "conflict_policy newest, edits too close to order: tie_breaker lead"
    )
    assert "edit time unknown" in why_won(ConflictPolicy.NEWEST, Side.CARD, Stamp(None), late)


@pytest.mark.parametrize(
    ("problem", "lead", "card"),
    [
        ("lead abc-123 has no name: nothing is created for it until it has", "abc-123", None),
        ("card 5f0a1 claims lead l-77, which is linked to card c-9; left alone", "l-77", "5f0a1"),
        ("lead 'x!y': not a valid notion id; skipped", None, None),
        ("2 leads and 2 cards share email=a@b; not matched automatically", None, None),
    ],
)
def test_a_skipped_record_is_found_by_the_ids_its_reason_names(problem: str, lead: str, card: str) -> None:
    item = history.skipped("p", T0, problem)
    assert (item.kind, item.message, item.lead_id, item.card_id) == ("skipped", problem, lead, card)


def test_a_failed_unit_keeps_its_error() -> None:
    item = history.failed("p", T0, Unit("lead-1", "card-1"), "pair p, lead lead-1, card card-1: 422 refused")
    assert (item.kind, item.records()) == ("failed", ["lead-1", "card-1"])
    assert item.message.startswith("pair p, lead lead-1, card card-1: 422 refused")


def test_held_archives_are_recorded_one_per_archive() -> None:
    unit = Unit("lead-1", "card-1", (Archive(Side.CARD, "card-1", "its lead was deleted"),))
    (item,) = history.held("p", T0, unit, "waits for approval")
    assert item.message == "archive card card-1 (its lead was deleted) held: waits for approval"


def test_activity_round_trips_through_a_dict() -> None:
    item = Activity(T0, "p", "conflict", "m", "l", "c", field="status", lead_value="A", card_value=None, winner="lead")
    assert Activity.from_dict(item.to_dict()) == item
    assert Activity.from_dict({**item.to_dict(), "added_later": "x"}) == item


def test_redact_plan_hides_values_of_a_dry_run() -> None:
    conflict = Conflict("email", "a@x.io", "b@x.io", Side.LEAD)
    the_plan = Plan([Unit("l", "c", (Update(Side.CARD, "c", {"email": "a@x.io"}),), conflicts=(conflict,))])
    shown = "\n".join(history.redact_plan(the_plan, {"email"}).describe())
    assert "x.io" not in shown
    assert REDACTED in shown
    assert history.redact_plan(the_plan, ()) is the_plan


def test_select_filters_by_field_kind_record_and_time() -> None:
    a = Activity(T0, "p", "update", "m", "l1", "c1", field="status")
    b = Activity(T0 + timedelta(hours=2), "p", "conflict", "m", "l2", "c2", field="email")
    c = Activity(T0 + timedelta(hours=3), "p", "skipped", "m", "l1")
    assert history.select([a, b, c], field="status") == [a]
    assert history.select([a, b, c], kinds=["conflict", "skipped"]) == [b, c]
    assert history.select([a, b, c], record="l1") == [a, c]
    assert history.select([a, b, c], since=T0 + timedelta(hours=1)) == [b, c]


def test_parse_since_takes_durations_and_dates() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert history.parse_since("1d", now) == now - timedelta(days=1)
    assert history.parse_since("30m", now) == now - timedelta(minutes=30)
    assert history.parse_since("2w", now) == now - timedelta(weeks=2)
    assert history.parse_since("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="30m, 12h, 1d, 2w"):
        history.parse_since("yesterday", now)


def test_table_is_aligned_and_says_when_empty() -> None:
    rows = [
        Activity(T0, "p", "update", "card c1: status 'New' -> 'Done'", "lead-1", "c1", label="Ada"),
        Activity(T0, "p", "error", "the board could not be read"),
    ]
    lines = history.table(rows)
    assert lines[0].split() == ["time", "(UTC)", "kind", "record", "what"]
    assert lines[1].startswith("2026-12-06 09:30:00  update  'Ada' / lead lead-1  card c1")
    assert lines[2].index("the board") == lines[1].index("card c1")
    assert history.table([]) == ["(no activity)"]
