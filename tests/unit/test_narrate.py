"""The demo's words: changed fields only, and conflicts told in each system's own words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadsync.core import narrate
from leadsync.core.history import REDACTED, Activity, conflicts
from leadsync.core.mapping import FieldMapping, FieldSpec
from leadsync.core.merge import ConflictPolicy, Stamp, why_won
from leadsync.core.models import Record, Side
from leadsync.core.operations import Conflict, Unit

T0 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
STATUS = FieldSpec(
    "status", "Status", "list", to_card={"New": "To Do", "Contacted": "In Progress", "Qualified": "Done"}
)
MAPPING = FieldMapping((FieldSpec("name", "Name", "name"), FieldSpec("email", "Email", "desc:Email"), STATUS))
NOTION_TRELLO = {Side.LEAD: "notion", Side.CARD: "trello"}


def a_conflict(
    field: str = "status", lead: str | None = "Contacted", card: str | None = "Qualified", **kw: str
) -> Activity:
    values = {"label": "Ada Lovelace", "winner": "card", "policy": "conflict_policy card"} | kw
    return Activity(
        T0,
        "p",
        "conflict",
        "conflict on ...",
        "lead-1",
        "card-1",
        field=field,
        lead_value=lead,
        card_value=card,
        **values,
    )  # type: ignore[arg-type]


def test_a_changed_record_shows_only_the_fields_that_changed() -> None:
    before = {"card Ada": {"list": "To Do", "email": "a@x.io"}, "lead Ada": {"status": "New", "email": "a@x.io"}}
    after = {"card Ada": {"list": "Done", "email": "a@x.io"}, "lead Ada": {"status": "New", "email": "a@x.io"}}

    assert narrate.changes(before, after) == ["  ~ card Ada: list To Do -> Done"]


def test_new_and_gone_records_and_several_changed_fields() -> None:
    before = {"lead Ada": {"status": "New", "email": "a@x.io"}, "lead Bob": {"status": "New"}}
    after = {"lead Ada": {"status": "Lost", "email": "ada@x.io"}, "card Cy": {"list": "To Do", "email": "c@x.io"}}

    assert narrate.changes(before, after) == [
        "  + card Cy: list=To Do, email=c@x.io",
        "  ~ lead Ada: status New -> Lost, email a@x.io -> ada@x.io",
        "  - lead Bob",
    ]
    assert narrate.changes(after, after) == []


def test_a_conflict_is_told_in_the_card_s_own_words_with_the_policy_that_decided_it() -> None:
    line = narrate.conflict(a_conflict(), MAPPING, NOTION_TRELLO)

    assert line == (
        "Ada Lovelace: card moved to Done in Trello and Status set to Contacted in Notion at the same time"
        " — Trello wins (policy: Trello always wins)"
    )


def test_the_tie_breaker_and_the_later_edit_are_named_as_the_reason() -> None:
    lead_t, card_t = Stamp(T0), Stamp(T0 + timedelta(seconds=20))
    tie = why_won(ConflictPolicy.NEWEST, Side.LEAD, Stamp(T0), Stamp(T0))
    later = why_won(ConflictPolicy.NEWEST, Side.LEAD, lead_t, card_t)

    tied = narrate.conflict(a_conflict(winner="lead", policy=tie), MAPPING, NOTION_TRELLO)
    newer = narrate.conflict(a_conflict(policy=later), MAPPING, NOTION_TRELLO)

    assert tied.endswith("— Notion wins (policy newest, edits too close to order: tie-breaker Notion)"), tied
    assert newer.endswith("— Trello wins (policy: newest — Trello was edited last)"), newer


def test_the_conflict_line_reads_what_the_cycle_stored_for_a_real_conflict() -> None:
    unit = Unit(
        "lead-1",
        "card-1",
        conflicts=(Conflict("email", "a@x.io", "b@x.io", Side.LEAD, why="conflict_policy lead"),),
    )
    before = {Side.LEAD: Record("lead-1", {"name": "Ada", "email": "a@x.io"})}
    (item,) = conflicts("p", T0, unit, before, ())

    line = narrate.conflict(item, MAPPING, {Side.LEAD: "airtable", Side.CARD: "trello"})

    assert line == (
        "Ada: card's Email set to b@x.io in Trello and Email set to a@x.io in Airtable at the same time"
        " — Airtable wins (policy: Airtable always wins)"
    )


def test_redacted_unknown_and_empty_values_stay_honest() -> None:
    hidden = narrate.conflict(a_conflict("email", REDACTED, REDACTED, label=""), MAPPING, NOTION_TRELLO)
    assert hidden.startswith(f"lead lead-1 / card card-1: card's Email set to {REDACTED} in Trello")
    unmapped = narrate.conflict(a_conflict("phone", None, "555", policy=""), MAPPING, NOTION_TRELLO)
    assert unmapped == (
        "Ada Lovelace: card's phone set to 555 in Trello and phone set to (empty) in Notion at the same time"
        " — Trello wins (reason not recorded)"
    )
    odd = narrate.why("a reason from a newer version", {Side.LEAD: "Notion", Side.CARD: "Trello"})
    assert odd == "a reason from a newer version"


def test_noticed_tells_conflicts_first_then_what_was_skipped_or_failed_and_nothing_else() -> None:
    skipped = Activity(T0, "p", "skipped", "lead lead-2: no name", "lead-2")
    update = Activity(T0, "p", "update", "card card-1: list ...", "lead-1", "card-1")
    failed = Activity(T0 - timedelta(seconds=1), "p", "failed", "card card-3: 500; retried next cycle")

    lines = narrate.noticed([skipped, update, a_conflict(), failed], MAPPING, NOTION_TRELLO)

    assert lines == [
        "  ! conflict: " + narrate.conflict(a_conflict(), MAPPING, NOTION_TRELLO),
        "  ! skipped: lead lead-2: no name",
        "  ! failed: card card-3: 500; retried next cycle",
    ]


def test_counts_read_like_the_cli() -> None:
    assert narrate.counts({"update_lead": 1, "create_card": 3}) == "create_card 3, update_lead 1"
    assert narrate.counts({}) == "nothing"
