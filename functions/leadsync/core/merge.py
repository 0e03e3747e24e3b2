"""The three-way merge of one field, and who wins a conflict (DESIGN.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, cast

from leadsync.core.mapping import Direction
from leadsync.core.models import Side, Value


class _Missing:
    """Sentinel: the side has no opinion (not fetched, or value not mappable)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()
Maybe = Value | _Missing


class ConflictPolicy(StrEnum):
    """How a true conflict (both sides changed a field differently) is resolved."""

    NEWEST = "newest"  # the side edited most recently wins; ties go to the tie-breaker side
    LEAD = "lead"  # the lead tracker always wins
    CARD = "card"  # the work tracker always wins


@dataclass(frozen=True)
class Stamp:
    """When a record was last edited, as precisely as its system says.

    Notion rounds ``last_edited_time`` down to the minute, so its true edit time is anywhere
    in ``[time, time + granularity)``.
    """

    time: datetime | None
    granularity: timedelta = timedelta(0)


def pick_winner(policy: ConflictPolicy, tie: Side, lead: Stamp, card: Stamp) -> Side:
    """The side whose value wins a conflict. Deterministic: overlapping uncertainty is a tie."""
    if policy is ConflictPolicy.LEAD:
        return Side.LEAD
    if policy is ConflictPolicy.CARD:
        return Side.CARD
    if lead.time is None or card.time is None:
        return tie
    lead_end = lead.time + lead.granularity
    card_end = card.time + card.granularity
    if lead_end <= card.time and lead.time < card.time:
        return Side.CARD
    if card_end <= lead.time and card.time < lead.time:
        return Side.LEAD
    return tie


def why_won(policy: ConflictPolicy, tie: Side, lead: Stamp, card: Stamp) -> str:
    """Why ``pick_winner`` chose its side, in the words of the settings (for the history)."""
    if policy is not ConflictPolicy.NEWEST:
        return f"conflict_policy {policy.value}"
    winner = pick_winner(policy, tie, lead, card)
    if lead.time is None or card.time is None:
        return f"conflict_policy newest, an edit time unknown: tie_breaker {tie.value}"
    if winner is tie and pick_winner(policy, tie.other, lead, card) is tie.other:
        return f"conflict_policy newest, edits too close to order: tie_breaker {tie.value}"
    return f"conflict_policy newest: {winner.value} edited last"


@dataclass(frozen=True)
class FieldOutcome:
    """What to do with one field of one linked pair."""

    base: Maybe  # the new base (MISSING: no agreed value yet)
    to_card: Maybe = MISSING  # value to write to the card, if any
    to_lead: Maybe = MISSING  # value to write to the lead, if any
    conflict: tuple[Value, Value, Side] | None = None  # (lead value, card value, winner)


def merge_field(direction: Direction, base: Maybe, lead: Maybe, card: Maybe, winner: Side) -> FieldOutcome:
    """Three-way merge of one field. ``winner`` is used only for a true conflict."""
    lead_now = base if lead is MISSING else lead
    card_now = base if card is MISSING else card
    if direction is Direction.LEAD_TO_CARD:
        return _one_way(lead_now, card_now, to_card=True)
    if direction is Direction.CARD_TO_LEAD:
        return _one_way(card_now, lead_now, to_card=False)
    if lead_now is MISSING:
        return FieldOutcome(card_now)
    if card_now is MISSING:
        return FieldOutcome(lead_now)
    if lead_now == card_now:
        return FieldOutcome(lead_now)
    if base is not MISSING and lead_now == base:
        return FieldOutcome(card_now, to_lead=card_now)
    if base is not MISSING and card_now == base:
        return FieldOutcome(lead_now, to_card=lead_now)
    values = (cast(Value, lead_now), cast(Value, card_now))  # both known here (MISSING handled above)
    if winner is Side.LEAD:
        return FieldOutcome(lead_now, to_card=lead_now, conflict=(*values, Side.LEAD))
    return FieldOutcome(card_now, to_lead=card_now, conflict=(*values, Side.CARD))


def _one_way(source: Maybe, target: Maybe, *, to_card: bool) -> FieldOutcome:
    """The source side is the truth: the target is overwritten whenever it differs."""
    if source is MISSING or source == target:
        return FieldOutcome(source)
    if to_card:
        return FieldOutcome(source, to_card=source)
    return FieldOutcome(source, to_lead=source)
