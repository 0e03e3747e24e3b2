"""`python -m leadsync validate --live` against the sandbox: every tracker's real schema."""

from __future__ import annotations

import pytest

from leadsync import cli
from tests.support.e2e import STATUS_TO_LIST, Harness


def _validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["validate", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_standard_pair_passes_the_live_check(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _validate(capsys, "--live")
    assert code == 0, out
    assert "ok: pair e2e" in out
    assert "checked against the live systems" in out


def test_a_lead_field_typo_passes_offline_and_is_caught_live(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    email = harness.leads.native()["email"]
    typo = email[0] + email[2] + email[1] + email[3:]  # Email -> Emial
    fields = {
        "name": {"lead": harness.leads.native()["name"], "card": "name"},
        "email": {"lead": typo, "card": "desc:Email"},
    }
    harness.configure(fields=fields, status_field=None)
    assert _validate(capsys)[0] == 0, "offline, a field name cannot be known wrong"

    code, out = _validate(capsys, "--live")

    assert code == 2, out
    assert f"pairs[0].fields.email.lead = {typo!r}" in out
    assert f"did you mean {email!r}?" in out


def test_a_list_the_board_does_not_have_is_caught_live(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    native = harness.leads.native()
    values = {**STATUS_TO_LIST, "Qualified": "Won"}
    harness.configure(
        fields={
            "name": {"lead": native["name"], "card": "name"},
            "status": {"lead": native["status"], "card": "list", "values": values},
        }
    )
    code, out = _validate(capsys, "--live")
    assert code == 2, out
    assert "pairs[0].fields.status.values: 'Won' is not a list of 'list' in the Trello board" in out


def test_every_full_sweep_reports_a_setting_the_live_schema_lacks(harness: Harness) -> None:
    from datetime import timedelta

    from leadsync.config import Settings
    from leadsync.wiring import build_store

    if harness.leads.system != "notion":
        pytest.skip("Airtable and Sheets connectors refuse a missing field themselves: the cycle fails, naming it")
    native = harness.leads.native()
    fields = {"name": {"lead": native["name"], "card": "name"}, "email": {"lead": "Emial", "card": "desc:Email"}}
    harness.configure(fields=fields, status_field=None)
    harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")

    first = harness.cycle()  # the first cycle is a full sweep
    quiet = harness.cycle()  # an incremental one does not read the schema

    assert first["problems"] >= 1
    assert quiet["problems"] == 0
    store = build_store(Settings.from_env())
    found = [a.message for a in store.activity("e2e", harness.sb.clock.now() + timedelta(seconds=1))]
    assert any("settings do not match" in m and "pair e2e.fields.email.lead = 'Emial'" in m for m in found), found


def test_a_pair_that_matches_its_trackers_has_no_sweep_problem(harness: Harness) -> None:
    harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    assert harness.cycle()["problems"] == 0


def test_a_mapped_property_the_database_lacks_never_clears_the_other_side(harness: Harness) -> None:
    """A Notion property renamed after the first sync (or a typo in the config) is left alone, not read as cleared."""
    if harness.leads.system != "notion":
        pytest.skip("Airtable and Sheets connectors refuse a missing field themselves: the cycle fails, naming it")
    lead_id = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    assert harness.cycle()["status"] == "synced"
    card = harness.board.card_for(lead_id)
    assert card["email"] == "ada@example.com"

    native = harness.leads.native()
    fields = {"name": {"lead": native["name"], "card": "name"}, "email": {"lead": "Emial", "card": "desc:Email"}}
    harness.configure(fields=fields, status_field=None)
    harness.leads.edit(lead_id, name="Ada King")
    harness.cycle()
    harness.sb.clock.advance(3600)  # a full sweep reads every lead too
    harness.cycle()

    card = harness.board.card_for(lead_id)
    assert card["name"] == "Ada King"
    assert card["email"] == "ada@example.com"
