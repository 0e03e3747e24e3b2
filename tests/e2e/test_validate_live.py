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
