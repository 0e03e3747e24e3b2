"""Deletions that wait for approval, end to end: the real handler against the sandbox and moto,
then `python -m leadsync pending / approve / reject` as the operator types them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadsync import cli
from leadsync.config import Settings
from leadsync.wiring import build_store
from tests.support.e2e import Harness


def _pending(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert cli.main(["pending", "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def _closed(harness: Harness, card: str) -> bool:
    (found,) = [c for c in harness.board.cards(include_closed=True) if c["id"] == card]
    return bool(found["closed"])


def _links(harness: Harness) -> list[Any]:
    return build_store(Settings.from_env()).all_links("e2e")


def _history(capsys: pytest.CaptureFixture[str], record: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert cli.main(["history", "--json", "--record", record]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _deleted_lead_waiting(harness: Harness, capsys: pytest.CaptureFixture[str]) -> tuple[str, str, str]:
    """Ada and Grace synced in approve mode; Ada's lead deleted; returns (lead, card, pending id)."""
    harness.configure(on_lead_deleted="approve")
    ada = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.leads.add(name="Grace", email="grace@example.com", status="New", source="Web")
    harness.cycle()
    card = harness.board.card_for(ada)["id"]
    harness.leads.delete(ada)
    harness.cycle()
    harness.cycle(advance=3601)  # a full sweep too: still only waiting, held once
    harness.cycle()
    (waiting,) = _pending(capsys)
    assert (waiting["side"], waiting["record_id"], waiting["gone_id"]) == ("card", card, ada)
    assert waiting["reason"] == "its lead was deleted"
    assert not _closed(harness, card), "nothing is archived before the operator says so"
    return ada, card, waiting["id"]


def test_a_deleted_lead_waits_for_approval_then_its_card_is_archived(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _, card, pending = _deleted_lead_waiting(harness, capsys)
    assert any(i["kind"] == "held" and pending in i["message"] for i in _history(capsys, card))
    assert "  approvals:    1 deletion(s) waiting (python -m leadsync pending)" in _run(capsys, "status")[1]

    code, out = _run(capsys, "approve", pending)

    assert code == 0, out
    assert f"{pending}  pair e2e  archived" in out
    assert _closed(harness, card)
    assert [link.card_id for link in _links(harness)] == [harness.board.cards()[0]["id"]], "Grace's link stays"
    assert _pending(capsys) == []
    assert harness.cycle()["status"] == "synced"
    assert any(i["kind"] == "archive" and "approved" in i["message"] for i in _history(capsys, card))


def test_a_rejected_deletion_keeps_the_card_unlinked_and_is_not_asked_again(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _, card, _ = _deleted_lead_waiting(harness, capsys)

    code, out = _run(capsys, "reject", "--all")

    assert code == 0, out
    assert "kept" in out
    harness.cycle(advance=3601)
    harness.cycle()
    assert not _closed(harness, card)
    assert card not in [x.card_id for x in _links(harness)]
    assert _pending(capsys) == []


def test_a_deletion_waiting_for_approval_is_dropped_when_its_lead_comes_back(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    if harness.leads.system != "notion":
        pytest.skip("a trashed lead comes back: Notion's trash (Airtable and Sheets deletes are for good)")
    ada, card, pending = _deleted_lead_waiting(harness, capsys)
    harness.sb.notion.user_restore_page(ada)
    harness.cycle()

    assert _pending(capsys) == []
    assert not _closed(harness, card)
    harness.leads.edit(ada, status="Qualified")
    harness.cycle()
    assert harness.board.card_for(ada)["list"] == "Done", "the pair syncs as before"
    assert any("is back" in i["message"] for i in _history(capsys, card))
    code, out = _run(capsys, "approve", pending)
    assert code == 2
    assert f"no deletion {pending} waits" in out


def test_approve_re_reads_the_gone_record_and_archives_nothing_if_it_came_back(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    if harness.leads.system != "notion":
        pytest.skip("a trashed lead comes back: Notion's trash")
    ada, card, _ = _deleted_lead_waiting(harness, capsys)
    harness.sb.notion.user_restore_page(ada)  # no cycle has seen it yet

    code, out = _run(capsys, "approve", "--all")

    assert code == 0, out
    assert "came back" in out
    assert not _closed(harness, card)
    assert _pending(capsys) == []


def test_an_archived_card_waits_for_approval_before_its_lead_is_archived(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    if harness.leads.system != "notion":
        pytest.skip("archiving a lead: Notion's trash (Airtable needs archived_field, Sheets a state column)")
    harness.configure(on_card_deleted="approve")
    ada = harness.leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    harness.cycle()
    card = harness.board.card_for(ada)["id"]
    harness.board.archive(card)
    harness.cycle()
    harness.cycle()

    (waiting,) = _pending(capsys)
    assert (waiting["side"], waiting["record_id"]) == ("lead", ada)
    assert harness.leads.get(ada) is not None
    assert not harness.sb.notion.page_values(ada).get("_in_trash")

    code, out = _run(capsys, "approve", waiting["id"])
    assert code == 0, out
    assert harness.sb.notion.page_values(ada).get("_in_trash")


def test_pending_says_when_nothing_waits_and_approve_needs_ids_or_all(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "pending") == (0, "(no deletion waits for approval)\n")
    code, out = _run(capsys, "approve")
    assert code == 2
    assert "IDs) or --all" in out
    for command in (["reject", "--all"], ["pending"], ["history"]):  # every operator command, one context
        code, out = _run(capsys, *command, "--pair", "nope")
        assert code == 2, command
        assert "no pair 'nope'" in out, command


def test_a_card_archived_by_a_person_while_its_deletion_waits_settles_it(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    _, card, pending = _deleted_lead_waiting(harness, capsys)
    harness.board.archive(card)
    harness.cycle()

    assert _pending(capsys) == []
    assert [x.detached for x in _links(harness) if x.card_id == card] in ([], [True]), "the rules take it from here"
    assert any(f"pending deletion {pending} dropped" in i["message"] for i in _history(capsys, card))
    assert harness.cycle(advance=3601)["status"] == "synced"
    harness.cycle()
    assert card not in [x.card_id for x in _links(harness)], "the sweep drops the link of a deleted lead"
