"""The operator's commands of ``python -m leadsync``: ``history``, ``pending``, ``approve``, ``reject``.

Kept apart from ``leadsync.cli`` so the CLI's entry point stays a list of commands.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from leadsync.core import history

if TYPE_CHECKING:
    from leadsync.config import PairConfig, Settings
    from leadsync.state.base import StateStore


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the operator's subcommands."""
    show = sub.add_parser("history", help="what the sync did, and why: changes, conflicts, skips, failures")
    show.add_argument("--pair", help="only this pair (default: every pair)")
    show.add_argument("--record", help="only this lead or card (its id)")
    show.add_argument("--field", help="only changes and conflicts of this canonical field (e.g. status)")
    show.add_argument("--kind", action="append", default=[], choices=history.KINDS, help="only this kind (repeatable)")
    show.add_argument("--since", help="from this long ago (30m, 12h, 1d, 2w) or this ISO date on")
    show.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
    show.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    waiting = sub.add_parser("pending", help="deletions waiting for approval (pairs in approve mode)")
    waiting.add_argument("--pair", help="only this pair")
    waiting.add_argument("--json", action="store_true", help="one JSON object per line")
    for name, verb in (("approve", "archive now"), ("reject", "keep, and unlink")):
        answer = sub.add_parser(name, help=f"{verb}: the pending deletions named (or --all)")
        answer.add_argument("ids", nargs="*", metavar="ID", help="ids from `python -m leadsync pending`")
        answer.add_argument("--all", action="store_true", help="every pending deletion (of --pair, if given)")
        answer.add_argument("--pair", help="only this pair")


@dataclass(frozen=True)
class _Context:
    """What every operator command works on: the settings, the pairs it is about, the state store."""

    settings: Settings
    pairs: list[PairConfig]
    store: StateStore


def _context(args: argparse.Namespace) -> _Context | None:
    """Settings from the environment, the configured pairs (only ``--pair``'s if given), the store.

    None, after saying so on stderr, when ``--pair`` names a pair that is not configured.
    """
    from leadsync.config import Settings
    from leadsync.wiring import build_store, load_sync_config

    settings = Settings.from_env()
    pairs = _pairs(load_sync_config(settings).pairs, args.pair)
    if pairs is None:
        return None
    return _Context(settings, pairs, build_store(settings))


def _history(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    try:
        since = history.parse_since(args.since, now) if args.since else None
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.limit < 1:
        print(f"--limit {args.limit}: give a positive number", file=sys.stderr)
        return 2
    ctx = _context(args)
    if ctx is None:
        return 2
    found: list[history.Activity] = []
    for pair in [p.id for p in ctx.pairs]:
        # the store filters by record and time; field and kind are filtered here, so read generously
        rows = ctx.store.activity(pair, now, record=args.record, since=since, limit=max(args.limit * 20, 1000))
        found += history.select(rows, field=args.field, kinds=args.kind)
    found.sort(key=lambda a: a.at, reverse=True)
    shown = list(reversed(found[: args.limit]))  # oldest first, like a log
    if args.json:
        for item in shown:
            print(json.dumps(item.to_dict(), ensure_ascii=False))
    else:
        for line in history.table(shown):
            print(line)
    return 0


def _pending(args: argparse.Namespace) -> int:
    ctx = _context(args)
    if ctx is None:
        return 2
    count = 0
    for pair in ctx.pairs:
        for p in ctx.store.pending(pair.id):
            count += 1
            if args.json:
                print(json.dumps({"pair": pair.id, **p.to_dict()}, ensure_ascii=False))
            else:
                when = p.created_at.strftime("%Y-%m-%d %H:%M")
                print(f"{p.id}  pair {pair.id}  since {when}  {p.describe()}")
    if not args.json:
        print("(no deletion waits for approval)" if not count else "approve ID|--all archives, reject ID|--all keeps")
    return 0


def _answer(args: argparse.Namespace, approve: bool) -> int:
    from leadsync.connectors.deadline import Deadline
    from leadsync.credentials import load_credentials
    from leadsync.errors import LeaseHeld
    from leadsync.pending import resolve
    from leadsync.wiring import build_runtime

    if bool(args.ids) == bool(args.all):
        print(f"{args.command}: name the pending deletions (IDs) or --all, not both", file=sys.stderr)
        return 2
    ctx = _context(args)
    if ctx is None:
        return 2
    store = ctx.store
    owners = {p.id: pair for pair in ctx.pairs for p in store.pending(pair.id)}
    unknown = [i for i in args.ids if i not in owners]
    if unknown:
        print(f"no deletion {', '.join(unknown)} waits (see python -m leadsync pending)", file=sys.stderr)
        return 2
    creds = load_credentials(ctx.settings.secret_arn)
    failed = False
    for pair in ctx.pairs:
        ids = [i for i in args.ids if owners[i] is pair] if args.ids else None
        if ids == [] or (ids is None and not any(o is pair for o in owners.values())):
            continue
        runtime = build_runtime(pair, ctx.settings, creds, Deadline.in_seconds(120))
        try:
            outcomes = resolve(store, runtime, ids, approve, f"{args.command}-{uuid.uuid4()}", datetime.now(UTC))
        except LeaseHeld as exc:
            print(f"pair {pair.id}: a cycle is running; try again in a minute ({exc})", file=sys.stderr)
            failed = True
            continue
        for outcome in outcomes:
            print(f"{outcome.id}  pair {pair.id}  {outcome.done}: {outcome.message}")
            failed |= outcome.done == "failed"
    if not owners:
        print("(no deletion waits for approval)")
    return 1 if failed else 0


def _pairs(configured: list[PairConfig], wanted: str | None) -> list[PairConfig] | None:
    """The configured pairs, or the one ``--pair`` names (None, after saying so, if it is not configured)."""
    if wanted is None:
        return configured
    found = [p for p in configured if p.id == wanted]
    if not found:
        print(
            f"no pair {wanted!r} in the configuration (pairs: {', '.join(p.id for p in configured)})", file=sys.stderr
        )
        return None
    return found


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "history": _history,
    "pending": _pending,
    "approve": lambda args: _answer(args, approve=True),
    "reject": lambda args: _answer(args, approve=False),
}
