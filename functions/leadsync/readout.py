"""What the CLI prints: the plan grouped by kind, a status block per pair, a run's line, its exit code.

Pure functions over plain data (the reports' dicts and the operations of a plan); ``leadsync.cli`` prints them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from leadsync.core.operations import Plan
from leadsync.progress import describe_eta

SYNCED, FAILED, PARTIAL = 0, 1, 3
"""Exit codes of ``python -m leadsync sync`` (2 is a configuration error, like every command's)."""

_UNFINISHED = ("partial", "no_time", "skipped")


def exit_code(statuses: list[str]) -> int:
    """1 if any pair failed, 3 if any pair has work left for the next run, else 0."""
    if "failed" in statuses:
        return FAILED
    return PARTIAL if any(s in _UNFINISHED for s in statuses) else SYNCED


def plan_items(plan: Plan, held: Plan, waiting: list[str]) -> list[dict[str, str]]:
    """Every line of a dry run with its kind (``create_card``, ``update_lead``, ``conflict``, ...)."""
    items = [{"kind": f"{type(op).__name__.lower()}_{op.side.value}", "line": op.describe()} for op in plan.operations]
    items += [
        {"kind": "conflict", "line": f"{c.field}: lead={c.lead_value!r} card={c.card_value!r} -> {c.winner.value} wins"}
        for c in plan.conflicts
    ]
    items += [{"kind": "note", "line": note} for unit in plan.units for note in unit.notes]
    items += [{"kind": "problem", "line": p} for p in plan.problems]
    items += [{"kind": "held", "line": line} for line in held.describe()]
    items += [{"kind": "waits_for_approval", "line": line} for line in waiting]
    return items


def grouped_plan(pair: str, status: str, items: list[dict[str, str]]) -> list[str]:
    """A pair's dry run: its totals by kind, then the lines of each kind (kinds in alphabetical order)."""
    if status != "dry_run":
        return [f"pair {pair}: {status} (no plan)"]
    if not items:
        return [f"pair {pair}: nothing to do"]
    kinds: dict[str, list[str]] = {}
    for item in sorted(items, key=lambda i: i["kind"]):  # stable: each kind's lines keep the plan's order
        kinds.setdefault(item["kind"], []).append(item["line"])
    lines = [f"pair {pair}: {len(items)} operation(s)"]
    lines += [f"  {kind}: {len(found)}" for kind, found in kinds.items()]
    for kind, found in kinds.items():
        lines.append(f"  {kind}:")
        lines += [f"    {line}" for line in found]
    return lines


def run_line(pair: str, summary: dict[str, Any]) -> str:
    """One run of one pair in words; a partial run says what is left and that the next run continues."""
    status = summary.get("status")
    applied = ", ".join(f"{k} {n}" for k, n in sorted((summary.get("applied") or {}).items())) or "nothing"
    line = f"pair {pair}: {status}; applied {applied}; conflicts {summary.get('conflicts', 0)}"
    if summary.get("errors"):
        line += f"; errors {summary['errors']}"
    if status in _UNFINISHED:
        line += f"; {_left(summary)}; the next run continues"
    elif summary.get("backlog"):
        line += f"; {summary['backlog']} waiting, {describe_eta(summary.get('eta_seconds'))} to go"
    if summary.get("awaiting_approval"):
        line += f"; {summary['awaiting_approval']} deletion(s) now wait for approval (python -m leadsync pending)"
    if status == "failed":  # why, under the line: a failed pair's errors (the CLI's runs carry them)
        line += "".join(f"\n  error: {error}" for error in (summary.get("error_messages") or [])[:3])
    return line


def _left(summary: dict[str, Any]) -> str:
    if summary.get("status") == "skipped":
        return "another run holds the pair"
    if summary.get("status") == "no_time":
        return "no time was left for this pair"
    parts = []
    if summary.get("backlog"):
        parts.append(f"{summary['backlog']} record(s) left ({describe_eta(summary.get('eta_seconds'))})")
    if summary.get("deferred"):
        parts.append(f"{summary['deferred']} change(s) deferred")
    return ", ".join(parts) or "the cycle ran out of time"


def status_block(
    pair: str,
    *,
    links: int,
    detached: int,
    last_run: dict[str, Any] | None,
    last_full_sweep: str | None,
    sweep_minutes: int,
    approvals: int,
    running: str = "",
) -> list[str]:
    """One pair's state: links, backlog left, last run (status, time), next full sweep, approvals waiting."""
    lines = [f"pair {pair}{f' ({running})' if running else ''}", f"  links:        {links} ({detached} detached)"]
    if last_run is None:
        lines.append("  last run:     unknown while a run holds the pair")
    elif not last_run:
        lines.append("  last run:     never")
    else:
        lines.append(f"  backlog left: {last_run.get('backlog') or 0}")
        lines.append(f"  last run:     {last_run.get('status')} at {last_run.get('at')}")
    if last_full_sweep:
        due = datetime.fromisoformat(last_full_sweep) + timedelta(minutes=sweep_minutes)
        lines.append(f"  next sweep:   {due.isoformat()}")
    elif last_run is not None:
        lines.append("  next sweep:   the next run")
    see = " (python -m leadsync pending)" if approvals else ""
    lines.append(f"  approvals:    {approvals} deletion(s) waiting{see}")
    return lines
