"""Card ids written back to the lead tracker in batches where its API allows (Airtable, Sheets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.crash import virtual_waits
from tests.support.e2e import Harness

LEADS = 25
FAULTS = 20  # more 500s than the transport's attempts: the batch write is given up


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GOOGLE_SERVICE_ACCOUNT_FILE", raising=False)  # a Sheets harness sets its own
    with virtual_waits():
        yield


def _marker_writes(harness: Harness, system: str) -> list[tuple[str, str]]:
    """The lead tracker's write requests that are not row/page creations (the markers, here)."""
    emulator = harness.sb.emulators[system]
    return [
        (method, path)
        for method, path in emulator.requests
        if method in ("PATCH", "PUT") or path.endswith("values:batchUpdate")
    ]


def test_a_first_sync_writes_card_ids_back_in_as_few_requests_as_the_api_allows(harness: Harness) -> None:
    system = harness.leads.side_config()["system"]
    for n in range(LEADS):
        harness.leads.add(name=f"Lead {n:02d}", email=f"l{n}@example.com", status="New", source="Import")
    harness.sb.emulators[system].clear_requests()

    summary = harness.cycle()

    assert summary["applied"] == {"create_card": LEADS}
    cards = {c["lead"]: c["id"] for c in harness.board.cards()}
    assert {lead["id"]: lead["card"] for lead in harness.leads.all()} == cards, "every lead names its own card"
    writes = _marker_writes(harness, system)
    expected = {"notion": LEADS, "airtable": -(-LEADS // 10), "sheets": 2}[system]  # sheets: markers + acknowledge
    assert len(writes) == expected, writes
    assert harness.cycle()["applied"] == {}


def test_a_marker_batch_that_fails_is_written_by_the_next_cycle(harness: Harness) -> None:
    system = harness.leads.side_config()["system"]
    if system == "notion":
        pytest.skip("Notion has no batch update: each marker is its own request")
    for n in range(3):
        harness.leads.add(name=f"Lead {n}", email=f"l{n}@example.com", status="New", source="Import")
    emulator = harness.sb.emulators[system]
    if system == "sheets":
        emulator.faults.next("500", n=FAULTS, methods=["POST"], paths="*values:batchUpdate")
    else:
        emulator.faults.next("500", n=FAULTS, methods=["PATCH"])

    first = harness.cycle()

    assert first["applied"] == {"create_card": 3}
    assert len(harness.board.cards()) == 3
    assert not any(lead["card"] for lead in harness.leads.all()), "the markers could not be written"
    emulator.faults.clear()
    emulator.clear_requests()
    second = harness.cycle()
    assert second["applied"] == {"setmarker_lead": 3}
    expected = {"airtable": 1, "sheets": 2}[system]  # sheets: the markers, then the acknowledgement
    assert len(_marker_writes(harness, system)) == expected, "the markers left over go in one batch too"
    cards = {c["lead"]: c["id"] for c in harness.board.cards()}
    assert {lead["id"]: lead["card"] for lead in harness.leads.all()} == cards
    assert len(harness.board.cards(include_closed=True)) == 3, "no card created twice"
