"""The operator's commands of ``python -m leadsync``: ``history`` (and what builds on it).

Kept apart from ``leadsync.cli`` so the CLI's entry point stays a list of commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from leadsync.core import history


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


def _history(args: argparse.Namespace) -> int:
    from leadsync.config import Settings
    from leadsync.wiring import build_store, load_sync_config

    now = datetime.now(UTC)
    try:
        since = history.parse_since(args.since, now) if args.since else None
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.limit < 1:
        print(f"--limit {args.limit}: give a positive number", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    pairs = [p.id for p in load_sync_config(settings).pairs]
    if args.pair is not None and args.pair not in pairs:
        print(f"no pair {args.pair!r} in the configuration (pairs: {', '.join(pairs)})", file=sys.stderr)
        return 2
    store = build_store(settings)
    found: list[history.Activity] = []
    for pair in [args.pair] if args.pair else pairs:
        # the store filters by record and time; field and kind are filtered here, so read generously
        rows = store.activity(pair, now, record=args.record, since=since, limit=max(args.limit * 20, 1000))
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"history": _history}
