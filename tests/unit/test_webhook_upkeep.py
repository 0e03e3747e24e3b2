"""Which Airtable webhooks a cycle refreshes: ours, valid ids, expiring within six days."""

from __future__ import annotations

from datetime import UTC, datetime

from leadsync.webhooks.upkeep import due_for_refresh

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
OURS = {"achAAAAAAAAAAAAAA", "achBBBBBBBBBBBBBB", "achCCCCCCCCCCCCCC", "../../x"}


def test_ours_expiring_within_six_days_are_due_and_fresh_or_foreign_ones_are_not() -> None:
    listed = {
        "webhooks": [
            {"id": "achAAAAAAAAAAAAAA", "expirationTime": "2026-01-16T11:00:00.000Z"},  # in 5 days 23 h: due
            {"id": "achBBBBBBBBBBBBBB", "expirationTime": "2026-01-17T11:59:00.000Z"},  # refreshed today
            {"id": "achCCCCCCCCCCCCCC", "expirationTime": "garbled"},  # unreadable: refresh to be safe
            {"id": "achZZZZZZZZZZZZZZ", "expirationTime": "2026-01-11T00:00:00.000Z"},  # not ours
            {"id": "../../x", "expirationTime": "2026-01-11T00:00:00.000Z"},  # not an id, even if listed as ours
            "junk",
        ]
    }
    assert due_for_refresh(listed, OURS, NOW) == ["achAAAAAAAAAAAAAA", "achCCCCCCCCCCCCCC"]


def test_an_answer_without_a_webhook_list_refreshes_nothing() -> None:
    assert due_for_refresh({"error": "NOT_FOUND"}, OURS, NOW) == []
    assert due_for_refresh(None, OURS, NOW) == []
