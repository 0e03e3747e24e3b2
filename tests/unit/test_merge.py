"""The three-way merge of one field and the conflict winner (DESIGN.md §2), example by example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.core.mapping import Direction
from leadsync.core.merge import MISSING, ConflictPolicy, FieldOutcome, Stamp, merge_field, pick_winner
from leadsync.core.models import Side

MINUTE = timedelta(minutes=1)
T = datetime(2025, 3, 1, 12, 5, tzinfo=UTC)


# -- the table of DESIGN.md §2 ------------------------------------------------------------------


def test_unchanged_on_both_sides_does_nothing() -> None:
    assert merge_field(Direction.BOTH, "a", "a", "a", Side.LEAD) == FieldOutcome("a")


def test_change_on_lead_only_is_written_to_card() -> None:
    assert merge_field(Direction.BOTH, "a", "b", "a", Side.CARD) == FieldOutcome("b", to_card="b")


def test_change_on_card_only_is_written_to_lead() -> None:
    assert merge_field(Direction.BOTH, "a", "a", "b", Side.LEAD) == FieldOutcome("b", to_lead="b")


def test_same_change_on_both_sides_only_moves_the_base() -> None:
    assert merge_field(Direction.BOTH, "a", "b", "b", Side.LEAD) == FieldOutcome("b")


@pytest.mark.parametrize(("winner", "value"), [(Side.LEAD, "b"), (Side.CARD, "c")])
def test_different_changes_on_both_sides_are_a_conflict_won_by_the_winner(winner: Side, value: str) -> None:
    out = merge_field(Direction.BOTH, "a", "b", "c", winner)
    assert out.base == value
    assert out.conflict == ("b", "c", winner)
    assert (out.to_card, out.to_lead) == ((value, MISSING) if winner is Side.LEAD else (MISSING, value))


def test_clearing_a_value_is_a_change_like_any_other() -> None:
    assert merge_field(Direction.BOTH, "a", None, "a", Side.CARD) == FieldOutcome(None, to_card=None)


def test_winner_is_ignored_when_there_is_no_conflict() -> None:
    for winner in Side:
        assert merge_field(Direction.BOTH, "a", "a", "b", winner) == FieldOutcome("b", to_lead="b")


def test_side_without_an_opinion_counts_as_unchanged() -> None:
    assert merge_field(Direction.BOTH, "a", MISSING, "b", Side.LEAD) == FieldOutcome("b", to_lead="b")
    assert merge_field(Direction.BOTH, "a", "b", MISSING, Side.CARD) == FieldOutcome("b", to_card="b")
    assert merge_field(Direction.BOTH, "a", MISSING, MISSING, Side.CARD) == FieldOutcome("a")


def test_no_base_and_one_side_known_adopts_that_value_without_writing() -> None:
    assert merge_field(Direction.BOTH, MISSING, "x", MISSING, Side.CARD) == FieldOutcome("x")
    assert merge_field(Direction.BOTH, MISSING, MISSING, "y", Side.LEAD) == FieldOutcome("y")
    assert merge_field(Direction.BOTH, MISSING, MISSING, MISSING, Side.LEAD) == FieldOutcome(MISSING)


def test_no_base_and_different_values_is_a_conflict() -> None:
    out = merge_field(Direction.BOTH, MISSING, "x", "y", Side.CARD)
    assert out == FieldOutcome("y", to_lead="y", conflict=("x", "y", Side.CARD))


# -- one-way fields -----------------------------------------------------------------------------


def test_lead_to_card_field_overwrites_a_card_edit() -> None:
    assert merge_field(Direction.LEAD_TO_CARD, "a", "a", "edited", Side.CARD) == FieldOutcome("a", to_card="a")


def test_card_to_lead_field_overwrites_a_lead_edit() -> None:
    assert merge_field(Direction.CARD_TO_LEAD, "a", "edited", "a", Side.LEAD) == FieldOutcome("a", to_lead="a")


def test_one_way_field_is_never_a_conflict_and_never_written_to_its_source() -> None:
    out = merge_field(Direction.LEAD_TO_CARD, "a", "b", "c", Side.CARD)
    assert out == FieldOutcome("b", to_card="b")
    out = merge_field(Direction.CARD_TO_LEAD, "a", "b", "c", Side.LEAD)
    assert out == FieldOutcome("c", to_lead="c")


def test_one_way_field_with_unknown_source_writes_nothing() -> None:
    assert merge_field(Direction.LEAD_TO_CARD, MISSING, MISSING, "c", Side.LEAD).to_card is MISSING
    assert merge_field(Direction.CARD_TO_LEAD, MISSING, "b", MISSING, Side.LEAD).to_lead is MISSING


# -- who wins a conflict ------------------------------------------------------------------------


def test_fixed_policies_ignore_timestamps() -> None:
    early, late = Stamp(T), Stamp(T + timedelta(hours=1))
    assert pick_winner(ConflictPolicy.LEAD, Side.CARD, early, late) is Side.LEAD
    assert pick_winner(ConflictPolicy.CARD, Side.LEAD, late, early) is Side.CARD


def test_newest_edit_wins() -> None:
    assert pick_winner(ConflictPolicy.NEWEST, Side.LEAD, Stamp(T), Stamp(T + timedelta(seconds=1))) is Side.CARD
    assert pick_winner(ConflictPolicy.NEWEST, Side.CARD, Stamp(T + timedelta(seconds=1)), Stamp(T)) is Side.LEAD


@pytest.mark.parametrize("tie", list(Side))
def test_equal_or_unknown_stamps_go_to_the_tie_breaker(tie: Side) -> None:
    assert pick_winner(ConflictPolicy.NEWEST, tie, Stamp(T), Stamp(T)) is tie
    assert pick_winner(ConflictPolicy.NEWEST, tie, Stamp(None), Stamp(T)) is tie
    assert pick_winner(ConflictPolicy.NEWEST, tie, Stamp(T), Stamp(None)) is tie


@pytest.mark.parametrize("tie", list(Side))
@pytest.mark.parametrize("second", [0, 1, 29, 30, 59])
def test_card_edit_inside_the_notion_minute_is_a_tie_whatever_the_second(tie: Side, second: int) -> None:
    notion = Stamp(T, MINUTE)  # Notion said 12:05: the edit happened in [12:05:00, 12:06:00)
    card = Stamp(T + timedelta(seconds=second, microseconds=500_000 if second < 59 else 0))
    assert pick_winner(ConflictPolicy.NEWEST, tie, notion, card) is tie


def test_card_edit_after_the_notion_minute_wins_and_one_before_it_loses() -> None:
    notion = Stamp(T, MINUTE)
    assert pick_winner(ConflictPolicy.NEWEST, Side.LEAD, notion, Stamp(T + MINUTE)) is Side.CARD
    assert pick_winner(ConflictPolicy.NEWEST, Side.CARD, notion, Stamp(T - timedelta(seconds=1))) is Side.LEAD


def test_two_minute_granular_sides_in_the_same_minute_tie() -> None:
    assert pick_winner(ConflictPolicy.NEWEST, Side.CARD, Stamp(T, MINUTE), Stamp(T, MINUTE)) is Side.CARD
    later = Stamp(T + MINUTE, MINUTE)
    assert pick_winner(ConflictPolicy.NEWEST, Side.CARD, Stamp(T, MINUTE), later) is Side.CARD
    assert pick_winner(ConflictPolicy.NEWEST, Side.CARD, later, Stamp(T, MINUTE)) is Side.LEAD


seconds = st.integers(min_value=-600, max_value=600)
grains = st.sampled_from([timedelta(0), timedelta(seconds=1), MINUTE])


def _oracle(tie: Side, lead_at: datetime, lead_grain: timedelta, card_at: datetime, card_grain: timedelta) -> Side:
    """Who is newer when each true edit time lies anywhere in [stamp, stamp + grain) (or is the stamp)."""

    def all_before(a: datetime, a_grain: timedelta, b: datetime) -> bool:
        # every instant of A lies strictly before b (the earliest instant of B)
        return a + a_grain <= b if a_grain else a < b

    if all_before(lead_at, lead_grain, card_at):
        return Side.CARD
    if all_before(card_at, card_grain, lead_at):
        return Side.LEAD
    return tie


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(Side)), seconds, grains, seconds, grains)
def test_newest_policy_matches_the_interval_oracle(
    tie: Side, lead_s: int, lead_grain: timedelta, card_s: int, card_grain: timedelta
) -> None:
    lead_at, card_at = T + timedelta(seconds=lead_s), T + timedelta(seconds=card_s)
    winner = pick_winner(ConflictPolicy.NEWEST, tie, Stamp(lead_at, lead_grain), Stamp(card_at, card_grain))
    assert winner is _oracle(tie, lead_at, lead_grain, card_at, card_grain)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(Side)), seconds, seconds)
def test_swapping_the_sides_swaps_the_winner_except_for_ties(tie: Side, a: int, b: int) -> None:
    one, two = Stamp(T + timedelta(seconds=a), MINUTE), Stamp(T + timedelta(seconds=b))
    forward = pick_winner(ConflictPolicy.NEWEST, tie, one, two)
    backward = pick_winner(ConflictPolicy.NEWEST, tie.other, two, one)
    assert backward is forward.other
