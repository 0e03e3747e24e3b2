"""Records with missing or invalid values: a documented rule for each, and the rest of the cycle goes on."""

from __future__ import annotations

from tests.support.e2e import Harness


def test_bad_records_are_reported_and_every_good_record_still_syncs(harness: Harness) -> None:
    good = harness.leads.add(name="Good Lead", email="good@example.com", status="New", source="Web")
    nameless = harness.leads.add(name=None, email="noname@example.com", status="New", source="Web")
    rtl = harness.leads.add(name="شركة الأمل 🚀 <b>VIP</b> **hot**", email="rtl@example.com", status="New", source=None)

    summary = harness.cycle()

    assert summary["status"] in ("synced", "partial")
    assert harness.board.card_for(good)["list"] == "To Do"
    assert harness.board.card_for(rtl)["name"] == "شركة الأمل 🚀 <b>VIP</b> **hot**"
    cards = {c["lead"] for c in harness.board.cards()}
    assert nameless not in cards, "a lead without a name waits for one instead of making a blank card"
    assert summary["problems"] >= 1

    harness.leads.edit(nameless, name="Named Later")
    harness.cycle()
    assert harness.board.card_for(nameless)["name"] == "Named Later"


def test_a_status_without_a_list_is_reported_and_the_field_left_alone(harness: Harness) -> None:
    harness.configure(
        fields={
            "name": {"lead": harness.leads.native()["name"], "card": "name"},
            "status": {
                "lead": harness.leads.native()["status"],
                "card": "list",
                "values": {"New": "To Do", "Contacted": "In Progress", "Qualified": "Done"},
            },
        },
        skip_statuses=[],
    )
    lead = harness.leads.add(name="Mapped", email="m@example.com", status="New", source="Web")
    harness.cycle()
    harness.leads.edit(lead, status="Lost")  # "Lost" has no list in this configuration
    other = harness.leads.add(name="Other", email="o@example.com", status="Contacted", source="Web")

    summary = harness.cycle()

    assert summary["problems"] >= 1
    assert harness.board.card_for(lead)["list"] == "To Do", "the card stays where it was"
    assert harness.leads.get(lead)["status"] == "Lost", "the lead keeps the person's value"
    assert harness.board.card_for(other)["list"] == "In Progress"
