"""Deletions waiting for approval, the pure half: which units wait, their ids, what comes back."""

from __future__ import annotations

from datetime import UTC, datetime

from leadsync.config import parse_config
from leadsync.core.approvals import PendingDeletion, from_unit, pending_id, reappeared, split, withhold
from leadsync.core.models import Link, Record, Side
from leadsync.core.operations import Archive, Plan, Unit, Update
from leadsync.core.planner import CardDeleted, LeadDeleted

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LINK = Link("lead-1", "card-1", {"name": "Ada"})
ARCHIVE_CARD = Unit("lead-1", "card-1", (Archive(Side.CARD, "card-1", "its lead was deleted"),), drop=LINK)
ARCHIVE_LEAD = Unit("lead-2", "card-2", (Archive(Side.LEAD, "lead-2", "its card was archived or deleted"),))
UPDATE = Unit("lead-3", "card-3", (Update(Side.CARD, "card-3", {"name": "Grace"}),))


def test_split_holds_only_the_archives_of_the_approval_sides() -> None:
    the_plan = Plan([ARCHIVE_CARD, ARCHIVE_LEAD, UPDATE], ["a problem"])
    kept, held = split(the_plan, {Side.CARD})
    assert (kept.units, kept.problems, held) == ([ARCHIVE_LEAD, UPDATE], ["a problem"], [ARCHIVE_CARD])
    assert split(the_plan, set()) == (the_plan, [])


def test_a_held_unit_becomes_a_pending_deletion_with_a_stable_id() -> None:
    (p,) = from_unit(ARCHIVE_CARD, T0, "Ada")
    assert (p.side, p.record_id, p.gone_id, p.link, p.label) == (Side.CARD, "card-1", "lead-1", LINK, "Ada")
    assert p.id == pending_id(Side.CARD, "card-1") == from_unit(ARCHIVE_CARD, T0.replace(hour=10))[0].id
    assert p.id != pending_id(Side.LEAD, "card-1")
    assert p.describe() == "archive card card-1 ('Ada'): its lead was deleted"
    assert PendingDeletion.from_dict(p.to_dict()) == p


def test_nothing_else_touches_the_records_of_a_waiting_deletion() -> None:
    (p,) = from_unit(ARCHIVE_CARD, T0)
    edit_of_card = Unit(None, "card-1", (Update(Side.CARD, "card-1", {"name": "x"}),))
    kept, touching = withhold(Plan([edit_of_card, UPDATE, ARCHIVE_CARD]), [p])
    assert (kept.units, touching) == ([UPDATE], [edit_of_card, ARCHIVE_CARD])


def test_a_gone_record_read_again_alive_has_come_back() -> None:
    (p,) = from_unit(ARCHIVE_CARD, T0)
    trashed = {Side.LEAD: {"lead-1": Record("lead-1", {}, deleted=True)}, Side.CARD: {}}
    restored = {Side.LEAD: {"lead-1": Record("lead-1", {"name": "Ada"})}, Side.CARD: {}}
    assert reappeared([p], trashed) == []
    assert reappeared([p], {Side.LEAD: {}, Side.CARD: {}}) == []
    assert reappeared([p], restored) == [p]


def test_approve_mode_plans_the_archive_and_names_the_sides_that_wait() -> None:
    pair = {
        "id": "p",
        "lead": {"system": "notion", "database_id": "0" * 32},
        "card": {"system": "trello", "board_id": "b" * 24},
        "fields": {"name": {"lead": "Name", "card": "name"}},
        "status_field": None,
        "on_lead_deleted": "approve",
        "on_card_deleted": "approve",
    }
    config = parse_config(pair).pairs[0]
    assert config.approval_sides() == {Side.CARD, Side.LEAD}
    planned = config.plan_config()
    assert (planned.on_lead_deleted, planned.on_card_deleted) == (LeadDeleted.ARCHIVE_CARD, CardDeleted.ARCHIVE_LEAD)
    assert (
        parse_config({**pair, "on_lead_deleted": "detach", "on_card_deleted": "detach"}).pairs[0].approval_sides()
        == set()
    )


def test_a_record_archived_meanwhile_settles_its_waiting_deletion() -> None:
    from leadsync.core.approvals import settled

    (p,) = from_unit(ARCHIVE_CARD, T0)
    closed = {Side.LEAD: {}, Side.CARD: {"card-1": Record("card-1", {}, deleted=True)}}
    still_open = {Side.LEAD: {}, Side.CARD: {"card-1": Record("card-1", {"name": "Ada"})}}
    assert settled([p], closed) == [p]
    assert settled([p], still_open) == []
    assert settled([p], {Side.LEAD: {}, Side.CARD: {}}) == []
