"""Output people can read: `plan` by kind with totals (and --json), `status` per pair, sync's exit codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

import leadsync.engine
from leadsync import cli
from tests.support.e2e import Harness


def _out(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    capsys.readouterr()
    assert cli.main(list(args)) == code
    return capsys.readouterr().out


def _allow_units(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Each cycle has time for `n` units with writes, then its deadline defers the rest."""
    left = [n]

    def reserve(cycle: Any) -> float:
        left[0] -= 1
        return 0.0 if left[0] >= 0 else 1e9

    monkeypatch.setattr(leadsync.engine.Engine, "_reserve", staticmethod(reserve))


def test_plan_groups_the_dry_run_by_kind_with_totals(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    ada = harness.leads.add(name="Ada Lovelace", email="ada@example.com", status="Contacted", source="Website")
    harness.cycle()
    for name in ("Grace", "Linus", "Barbara"):
        harness.leads.add(name=name, email=f"{name.lower()}@example.com", status="New", source="Referral")
    harness.leads.edit(ada, status="Qualified")
    harness.sb.clock.advance(61)

    lines = _out(capsys, "plan").splitlines()

    assert lines[0] == "pair e2e: 4 operation(s)"
    assert lines[1:3] == ["  create_card: 3", "  update_card: 1"]
    creates = lines[lines.index("  create_card:") + 1 : lines.index("  update_card:")]
    assert len(creates) == 3
    assert all(line.startswith("    create card for lead ") for line in creates)
    assert lines[lines.index("  update_card:") + 1].startswith("    update card ")
    assert len(harness.board.cards()) == 1  # a dry run writes nothing

    plan = json.loads(_out(capsys, "plan", "--json"))
    assert [(p["pair"], p["status"]) for p in plan] == [("e2e", "dry_run")]
    kinds = sorted(op["kind"] for op in plan[0]["operations"])
    assert kinds == ["create_card", "create_card", "create_card", "update_card"]
    assert all(op["line"] for op in plan[0]["operations"])


def test_plan_says_when_there_is_nothing_to_do(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    harness.leads.add(name="Ada Lovelace", email="ada@example.com", status="New", source="Website")
    harness.cycle()
    harness.sb.clock.advance(61)
    assert _out(capsys, "plan") == "pair e2e: nothing to do\n"


def test_status_is_one_block_per_pair(harness: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    assert _out(capsys, "status").splitlines()[1:] == [
        "  links:        0 (0 detached)",
        "  last run:     never",
        "  next sweep:   the next run",
        "  approvals:    0 deletion(s) waiting",
    ]
    harness.leads.add(name="Ada Lovelace", email="ada@example.com", status="New", source="Website")
    harness.leads.add(name="Grace Hopper", email="grace@example.com", status="New", source="Website")
    harness.cycle()

    block = _out(capsys, "status").splitlines()

    assert block[0] == "pair e2e"
    assert block[1:4] == ["  links:        2 (0 detached)", "  backlog left: 0", block[3]]
    assert block[3].startswith("  last run:     synced at 20")
    assert block[4].startswith("  next sweep:   20")
    assert block[5] == "  approvals:    0 deletion(s) waiting"


def test_sync_exit_codes_partial_then_synced(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(6):
        harness.leads.add(name=f"Lead {n}", email=f"l{n}@example.com", status="New", source="Import")
    harness.sb.clock.advance(300)
    with monkeypatch.context() as short:
        _allow_units(short, 2)
        out = _out(capsys, "sync", code=3)
    assert "pair e2e: partial; applied create_card 2;" in out, out
    assert "record(s) left" in out, out
    assert "the next run continues" in out, out

    harness.sb.clock.advance(61)
    out = _out(capsys, "sync", code=0)
    assert "pair e2e: synced; applied create_card 4;" in out, out
    assert len(harness.board.cards()) == 6


def test_sync_exits_1_when_a_pair_fails(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from leadsync.connectors import trello

    def broken(self: Any, cursor: str | None) -> Any:
        raise ValueError("a value nobody expected")

    monkeypatch.setattr(trello.TrelloConnector, "fetch_changed", broken)
    harness.leads.add(name="Ada Lovelace", email="ada@example.com", status="New", source="Website")

    out = _out(capsys, "sync", code=1)

    assert "pair e2e: failed; applied nothing; conflicts 0; errors 1" in out, out
    assert "continues" not in out


def test_sync_runs_each_pair_through_the_fanout_workers_entry(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI runs pairs in-process, but through the function the SQS worker calls per message."""
    from leadsync import app, fanout

    runs: list[tuple[str, str, bool]] = []
    real_run = fanout.PairWorker.run

    def spy(self: fanout.PairWorker, message: fanout.PairMessage, message_id: str, **kwargs: Any) -> Any:
        runs.append((message.pair, message_id, bool(kwargs.get("allow_deletions"))))
        return real_run(self, message, message_id, **kwargs)

    def not_this_path(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("sync must not go through app.run_scheduled")

    monkeypatch.setattr(fanout.PairWorker, "run", spy)
    monkeypatch.setattr(app, "run_scheduled", not_this_path)
    harness.leads.add(name="Ada Lovelace", email="ada@example.com", status="New", source="Website")

    out = _out(capsys, "sync", "--allow-deletions", "e2e", code=0)

    assert runs == [("e2e", "cli-0", True)]
    assert "pair e2e: synced; applied create_card 1;" in out, out
    assert len(harness.board.cards()) == 1
    assert _out(capsys, "sync", "--allow-deletions", "nope", code=2) == ""
    assert runs == [("e2e", "cli-0", True)]  # a configuration error runs no pair


@pytest.mark.parametrize("harness", ["notion"], indirect=True)
def test_status_before_any_sync_says_so_and_creates_no_state_file(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    state = tmp_path / "not" / "yet" / "state.db"
    monkeypatch.delenv("LEADSYNC_TABLE")
    monkeypatch.setenv("LEADSYNC_STATE_PATH", str(state))

    out = _out(capsys, "status")

    assert out == f"no sync state yet: {state} does not exist (the first `sync` creates it)\n"
    assert not (tmp_path / "not").exists(), "a read-only command wrote nothing"
