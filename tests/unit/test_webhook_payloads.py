"""Airtable webhook payloads as the cycle reads them (leadsync.webhooks.payloads): untrusted pages in,
checked ids and a cursor that only moves forward out."""

from __future__ import annotations

from typing import Any

import pytest

from leadsync.webhooks.payloads import HookCursor, our_webhook, read_page, state_key

TABLE = "tblLeads0000000001"
OTHER = "tblOther0000000001"
A, B, C = "recAAAAAAAAAAAAAA", "recBBBBBBBBBBBBBB", "recCCCCCCCCCCCCCC"
HOOK = "achHOOKHOOKHOOK01"


def _payload(table: str = TABLE, **change: Any) -> dict[str, Any]:
    return {
        "timestamp": "2026-01-01T00:00:00.000Z",
        "baseTransactionNumber": 7,
        "payloadFormat": "v0",
        "actionMetadata": {"source": "client", "sourceMetadata": {}},
        "changedTablesById": {table: change},
    }


def _page(*payloads: Any, cursor: int = 4, more: bool = False) -> dict[str, Any]:
    return {"payloads": list(payloads), "cursor": cursor, "mightHaveMore": more}


def test_a_page_gives_the_deleted_and_changed_records_of_the_pairs_table_only() -> None:
    page = read_page(
        _page(
            _payload(destroyedRecordIds=[A]),
            _payload(changedRecordsById={B: {"current": {"cellValuesByFieldId": {}}}}),
            _payload(createdRecordsById={C: {"createdTime": "x", "cellValuesByFieldId": {}}}),
            _payload(OTHER, destroyedRecordIds=[C]),  # another table of the base
            _payload(destroyedRecordIds=[A]),  # twice: once
            cursor=9,
        ),
        TABLE,
        4,
    )
    assert (page.destroyed, page.changed, page.cursor, page.more, page.problems) == ((A,), (B, C), 9, False, ())


def test_ids_that_are_not_record_ids_and_error_payloads_are_dropped_and_reported() -> None:
    page = read_page(
        _page(
            _payload(destroyedRecordIds=[A, "rec'); DROP--", "../../x", 42, "recAAAAAAAAAAAAAAA"]),
            {"error": True, "code": "INVALID_HOOK"},
            "not a payload",
            {"changedTablesById": "nope"},
        ),
        TABLE,
        1,
    )
    assert page.destroyed == (A,)
    assert len(page.problems) == 6
    assert any("INVALID_HOOK" in p for p in page.problems)


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {"payloads": [], "mightHaveMore": False},  # no cursor
        {"payloads": [], "cursor": 3, "mightHaveMore": False},  # backwards from 4
        {"payloads": [], "cursor": True, "mightHaveMore": False},
        {"payloads": [], "cursor": "9", "mightHaveMore": False},
        {"payloads": {}, "cursor": 9, "mightHaveMore": False},
        {"payloads": [], "cursor": 9, "mightHaveMore": "yes"},
    ],
)
def test_an_answer_that_is_not_a_page_stops_the_read(answer: Any) -> None:
    with pytest.raises(ValueError, match=r"payloads answer"):
        read_page(answer, TABLE, 4)


def test_might_have_more_without_progress_ends_the_loop() -> None:
    assert read_page(_page(cursor=4, more=True), TABLE, 4).more is False
    assert read_page(_page(cursor=5, more=True), TABLE, 4).more is True


def test_our_webhook_is_the_one_with_our_secret_and_the_pairs_route() -> None:
    listed = {
        "webhooks": [
            {"id": "achSTRANGER000001", "notificationUrl": "https://hooks.example/webhooks/airtable/p1"},
            {"id": "achOTHERPAIR00001", "notificationUrl": "https://hooks.example/webhooks/airtable/p2"},
            {"id": "bad", "notificationUrl": "https://hooks.example/webhooks/airtable/p1"},
            "junk",
            {"id": HOOK, "notificationUrl": "https://hooks.example/prod/webhooks/airtable/p1"},
        ]
    }
    ours = {HOOK, "achOTHERPAIR00001", "bad"}
    assert our_webhook(listed, "p1", ours) == HOOK
    assert our_webhook(listed, "p2", ours) == "achOTHERPAIR00001"
    assert our_webhook(listed, "p3", ours) is None
    assert our_webhook({"webhooks": "x"}, "p1", ours) is None
    assert our_webhook(None, "p1", ours) is None


def test_the_stored_state_round_trips_and_anything_else_reads_as_none() -> None:
    assert HookCursor.decode(HookCursor(HOOK, 12).encode()) == HookCursor(HOOK, 12)
    for raw in (None, "", HOOK, f"{HOOK}:0", f"{HOOK}:-1", f"{HOOK}:x", "bad:3", f"{HOOK}:3:4", 7):
        assert HookCursor.decode(raw) is None
    assert state_key("lead") == "lead.airtable_webhook"
