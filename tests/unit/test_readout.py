"""leadsync.readout: exit codes and the words of a run, a plan and a status block."""

from __future__ import annotations

from leadsync import readout
from leadsync.core.models import Side
from leadsync.core.operations import Archive, Conflict, Create, Plan, Unit


def test_exit_codes_distinguish_synced_partial_failed() -> None:
    assert readout.exit_code(["synced", "synced"]) == 0
    assert readout.exit_code([]) == 0
    assert readout.exit_code(["synced", "partial"]) == 3
    assert readout.exit_code(["no_time"]) == 3
    assert readout.exit_code(["skipped"]) == 3
    assert readout.exit_code(["partial", "failed", "synced"]) == 1


def test_a_partial_run_says_what_is_left_and_that_the_next_run_continues() -> None:
    summary = {"status": "partial", "applied": {"create_card": 2}, "conflicts": 0, "backlog": 7, "eta_seconds": 120}
    assert readout.run_line("p", summary) == (
        "pair p: partial; applied create_card 2; conflicts 0; 7 record(s) left (about 2 min); the next run continues"
    )
    deferred = {"status": "partial", "applied": {}, "conflicts": 1, "errors": 2, "deferred": 4}
    assert readout.run_line("p", deferred) == (
        "pair p: partial; applied nothing; conflicts 1; errors 2; 4 change(s) deferred; the next run continues"
    )
    assert readout.run_line("p", {"status": "skipped"}).endswith("another run holds the pair; the next run continues")
    assert "continues" not in readout.run_line("p", {"status": "synced", "applied": {"update_lead": 1}})


def test_plan_items_carry_their_kind_and_group_with_totals() -> None:
    plan = Plan(
        units=[
            Unit("l1", None, ops=(Create(Side.CARD, "l1", {"name": "Ada"}),)),
            Unit("l2", "c2", conflicts=(Conflict("status", "New", "Done", Side.LEAD),)),
        ],
        problems=["lead l3: no email"],
    )
    held = Plan([Unit("l4", "c4", ops=(Archive(Side.CARD, "c4", "lead deleted"),))])
    items = readout.plan_items(plan, held, ["waits for approval: archive card c5"])
    assert [i["kind"] for i in items] == ["create_card", "conflict", "problem", "held", "waits_for_approval"]
    lines = readout.grouped_plan("p", "dry_run", items)
    assert lines[:6] == [
        "pair p: 5 operation(s)",
        "  conflict: 1",
        "  create_card: 1",
        "  held: 1",
        "  problem: 1",
        "  waits_for_approval: 1",
    ]
    assert "  create_card:" in lines
    assert "    create card for lead l1: name='Ada'" in lines
    assert readout.grouped_plan("p", "failed", items) == ["pair p: failed (no plan)"]


def test_status_block_names_the_next_sweep() -> None:
    block = readout.status_block(
        "p",
        links=3,
        detached=1,
        last_run={"status": "partial", "backlog": 5, "at": "2026-01-01T10:00:00+00:00"},
        last_full_sweep="2026-01-01T10:00:00+00:00",
        sweep_minutes=60,
        approvals=2,
    )
    assert block == [
        "pair p",
        "  links:        3 (1 detached)",
        "  backlog left: 5",
        "  last run:     partial at 2026-01-01T10:00:00+00:00",
        "  next sweep:   2026-01-01T11:00:00+00:00",
        "  approvals:    2 deletion(s) waiting (python -m leadsync pending)",
    ]


def test_a_failed_run_says_why_under_its_line() -> None:
    summary = {"status": "failed", "applied": {}, "conflicts": 0, "errors": 1, "error_messages": ["notion -> 401"]}
    assert (
        readout.run_line("p", summary)
        == "pair p: failed; applied nothing; conflicts 0; errors 1\n  error: notion -> 401"
    )
    assert "error:" not in readout.run_line("p", {**summary, "status": "partial"})
