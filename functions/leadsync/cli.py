"""Local runs: `python -m leadsync <command>` (with `functions/` on PYTHONPATH).

    validate   check the configuration (every mistake, with the setting at fault)
    sync       run one cycle for every pair (or --every N seconds) through the Lambda worker's entry
    plan       a dry run: what a cycle would do, grouped by kind with totals (--json), write nothing
    status     one block per pair: links, backlog left, last run, next full sweep, approvals waiting
    repoint    forget a re-pointed pair's links, so its next cycle adopts the new place's records
    history    what the sync did to which record, and why (--pair, --record, --field, --kind, --since, --json)
    pending    deletions waiting for approval (on_lead_deleted / on_card_deleted: approve)
    approve    archive the pending deletions named (ID ... or --all)
    reject     keep the records of the pending deletions named, unlinked (ID ... or --all)

`sync` exits 0 when every pair synced, 3 when a pair is partial (the next run continues), 1 when one failed;
every command exits 2 on a configuration error.

Settings come from the environment (LEADSYNC_CONFIG_FILE, LEADSYNC_TABLE or LEADSYNC_STATE_PATH,
credentials such as NOTION_TOKEN, TRELLO_API_KEY, TRELLO_TOKEN); see the README.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("LEADSYNC_LOG_FORMAT", "text")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


class LocalContext:
    """A stand-in for Lambda's context: a fixed time budget and a request id."""

    def __init__(self, seconds: float) -> None:
        self.aws_request_id = f"local-{uuid.uuid4()}"
        self._end = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="leadsync", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", help="configuration file (default: $LEADSYNC_CONFIG_FILE)")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="check the configuration")
    check.add_argument(
        "--live", action="store_true", help="also check every mapped field, option and list against the live systems"
    )
    sync = sub.add_parser("sync", help="run sync cycles")
    sync.add_argument("--every", type=float, default=0, help="repeat every N seconds (Ctrl-C stops)")
    sync.add_argument("--budget", type=float, default=55, help="seconds per cycle, like the Lambda timeout")
    sync.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="progress bar of records linked on stderr (auto: when stderr is a terminal); while it shows,"
        " the per-record log lines are left out",
    )
    sync.add_argument(
        "--allow-deletions",
        metavar="PAIR",
        action="append",
        default=[],
        help="confirm PAIR's held mass deletion: a full sweep that archives it, this once (repeatable)",
    )
    dry = sub.add_parser("plan", help="dry run: print what a cycle would do, grouped by kind with totals")
    dry.add_argument("--json", action="store_true", help="a JSON list of the operations of each pair")
    sub.add_parser("status", help="one block per pair: links, backlog left, last run, next sweep, approvals")
    point = sub.add_parser("repoint", help="forget a re-pointed pair's links (after moving a side on purpose)")
    point.add_argument("pair", help="the pair's id")
    from leadsync import operator_cli

    operator_cli.add_commands(sub)
    hooks = sub.add_parser("webhooks", help="register, list or remove the Trello and Airtable webhooks of every pair")
    hooks.add_argument("action", choices=["register", "list", "remove"])
    hooks.add_argument("--url", help="the receiver's base URL (default: $LEADSYNC_WEBHOOK_BASE_URL)")
    args = parser.parse_args(argv)
    if args.config:
        os.environ["LEADSYNC_CONFIG_FILE"] = args.config

    from leadsync.errors import ConfigError

    try:
        return {**_COMMANDS, **operator_cli.COMMANDS}[args.command](args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: what was applied is kept (a card in creation is found by its marker, never made twice);"
            " run the same command again to finish",
            file=sys.stderr,
        )
        return 130


def _validate(args: argparse.Namespace) -> int:
    from leadsync.config import Settings
    from leadsync.wiring import load_sync_config

    settings = Settings.from_env()
    config = load_sync_config(settings)
    if getattr(args, "live", False):
        from leadsync.errors import ConfigError
        from leadsync.live_check import check_live

        problems = check_live(config.pairs, settings)
        if problems:
            raise ConfigError([f"live check: {p}" for p in problems])
    where = " (checked against the live systems)" if getattr(args, "live", False) else ""
    for pair in config.pairs:
        print(f"ok: pair {pair.id}: {pair.lead.system} <-> {pair.card.system}, fields {', '.join(pair.fields)}{where}")
    return 0


def _sync(args: argparse.Namespace) -> int:
    """Exit code: 0 synced, 3 partial (work left, the next run continues), 1 failed (leadsync.readout)."""
    from leadsync import readout

    bars = _progress_bars(args.progress)
    allow = list(args.allow_deletions)
    try:
        while True:
            result = run_pairs(LocalContext(args.budget), allow_deletions=allow)
            allow = []  # a confirmation is for one cycle: a later mass deletion is held again
            if bars is not None:
                for pair, summary in result["pairs"].items():
                    bars.cycle_done(pair, _created(summary))
            _print_result(result)
            if not args.every:
                return readout.exit_code([str(p.get("status")) for p in result["pairs"].values()])
            time.sleep(args.every)
    finally:
        if bars is not None:
            bars.close()


def run_pairs(context: Any, *, allow_deletions: list[str] | None = None) -> dict[str, Any]:
    """One cycle of every configured pair, one after the other in this process, each through the
    fan-out worker's per-message entry (``PairWorker.run``) with a message for this minute's tick:
    the same code path as a Lambda worker, without the queue. ``allow_deletions`` names pairs whose
    held mass deletion the operator confirmed (an unknown name is a configuration error)."""
    from leadsync import engine
    from leadsync.app import results
    from leadsync.engine import CycleReport
    from leadsync.errors import ConfigError
    from leadsync.fanout import PairMessage, PairWorker

    worker = PairWorker.start(context)
    allow = set(allow_deletions or ())
    unknown = sorted(allow - set(worker.pairs))
    if unknown:
        raise ConfigError([f"--allow-deletions names pairs that are not configured: {unknown}"])
    tick = engine.utcnow()  # this very moment: never stale
    reports: list[CycleReport] = []
    for index, pair in enumerate(worker.pairs):
        report = worker.run(PairMessage(pair, tick), f"cli-{index}", allow_deletions=pair in allow)
        reports.append(report if report is not None else CycleReport(pair, status="no_time"))
    return results(reports, with_activity=True)


def _progress_bars(mode: str) -> Any:
    """A tqdm bar per pair on stderr (``on``, or ``auto`` on a terminal), or None. While it shows,
    the per-record INFO lines (one per card) are left out: the bar says how far along the sync is."""
    if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
        return None
    try:
        from leadsync.progress_bar import ProgressBars
    except ModuleNotFoundError as exc:  # installed from functions/requirements.txt alone
        print(f"no progress bar: {exc.name} is not installed (pip install -r requirements.txt)", file=sys.stderr)
        return None
    return ProgressBars(sys.stderr)


def _created(summary: dict[str, Any]) -> int:
    return sum(n for key, n in (summary.get("applied") or {}).items() if key.startswith("create_"))


def _plan(args: argparse.Namespace) -> int:
    from leadsync import readout
    from leadsync.app import run_scheduled

    result = run_scheduled(LocalContext(55), dry_run=True, with_activity=True)
    if args.json:
        pairs = [{"pair": pair, "status": s["status"], "operations": s["plan"]} for pair, s in result["pairs"].items()]
        print(json.dumps(pairs, ensure_ascii=False, indent=2))
        return 0
    for pair, summary in result["pairs"].items():
        for line in readout.grouped_plan(pair, summary["status"], summary["plan"]):
            print(line)
        for error in summary["error_messages"][:3] if summary["status"] == "failed" else []:
            print(f"  error: {error}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from leadsync import readout
    from leadsync.config import Settings
    from leadsync.errors import LeaseHeld
    from leadsync.wiring import build_store, load_sync_config

    settings = Settings.from_env()
    if not settings.table and settings.state_path != ":memory:" and not Path(settings.state_path).exists():
        print(f"no sync state yet: {settings.state_path} does not exist (the first `sync` creates it)")
        return 0
    store = build_store(settings)
    for pair in load_sync_config(settings).pairs:
        links = store.all_links(pair.id)
        owner = f"status-{uuid.uuid4()}"
        try:
            meta = store.acquire(pair.id, owner, _now(), 5)
            store.release(pair.id, owner)
            running = ""
        except LeaseHeld as exc:
            meta, running = None, f"a run is in progress: {exc}"
        block = readout.status_block(
            pair.id,
            links=len(links),
            detached=sum(1 for x in links if x.detached),
            last_run=meta.last_run if meta is not None else None,
            last_full_sweep=meta.last_full_sweep if meta is not None else None,
            sweep_minutes=pair.full_sweep_minutes,
            approvals=len(store.pending(pair.id)),
            running=running,
        )
        for line in block:
            print(line)
        if meta is not None and any(meta.pending.values()):
            print(f"  retrying:     { ({k: len(v) for k, v in meta.pending.items() if v}) }")
    return 0


def _repoint(args: argparse.Namespace) -> int:
    from leadsync.config import Settings
    from leadsync.errors import LeaseHeld
    from leadsync.repoint import repoint
    from leadsync.wiring import build_store, load_sync_config

    settings = Settings.from_env()
    pairs = {p.id: p for p in load_sync_config(settings).pairs}
    if args.pair not in pairs:
        print(f"no pair {args.pair!r} in the configuration (pairs: {', '.join(sorted(pairs))})", file=sys.stderr)
        return 2
    try:
        done = repoint(build_store(settings), pairs[args.pair], f"repoint-{uuid.uuid4()}", _now())
    except LeaseHeld as exc:
        print(f"a cycle is running for this pair; try again in a minute ({exc})", file=sys.stderr)
        return 1
    print(
        f"pair {done.pair}: forgot {done.links} links, {done.intents} interrupted creations, "
        f"{done.backlog_chunks} backlog chunks"
    )
    for side, where in done.new.items():
        was = done.old.get(side)
        print(f"  {side}: {where}" + (f" (was {was})" if was and was != where else ""))
    print("the next cycle adopts records by their link markers (and match_on) before creating anything")
    return 0


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _print_result(result: dict[str, Any]) -> None:
    from leadsync import readout

    for pair, summary in result["pairs"].items():
        print(readout.run_line(pair, summary))


def _webhooks(args: argparse.Namespace) -> int:
    from leadsync.webhooks.cli import run

    return run(args.action, args.url)


_COMMANDS = {
    "validate": _validate,
    "sync": _sync,
    "plan": _plan,
    "status": _status,
    "repoint": _repoint,
    "webhooks": _webhooks,
}
