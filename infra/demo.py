"""The leadsync demo: the real Lambda handler against the sandbox and an in-process DynamoDB.

    make demo            (or: .venv/bin/python infra/demo.py --cycles 6)

Starts the Notion and Trello emulators, creates a lead database and a board, then invokes
``handlers.scheduled_sync.handler`` with a real EventBridge scheduled event, cycle after
cycle, while a scripted "user" edits both sides in between. After each cycle it prints the
fields that changed on each side, and the conflicts, skipped and failed records the cycle stored
in its history (told by ``leadsync.core.narrate``). Then a card move reaches Notion through a
webhook (infra/demo_webhooks.py). No accounts, no network.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "infra")]

STATUSES = ["New", "Contacted", "Qualified", "Lost"]
LISTS = ["To Do", "In Progress", "Done", "Lost"]
SEED = [
    {"Name": "Ada Lovelace", "Email": "ada@analytical.example", "Status": "New", "Source": "Website"},
    {"Name": "Grace Hopper", "Email": "grace@cobol.example", "Status": "Contacted", "Source": "Referral"},
    {"Name": "Alan Turing", "Email": "alan@bletchley.example", "Status": "New", "Source": "Conference"},
    {"Name": "Old Prospect", "Email": "old@lost.example", "Status": "Lost", "Source": "Cold call"},
]


class FakeLambdaContext:
    """The parts of Lambda's context object the handler uses."""

    function_name = "leadsync-demo-SyncFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:leadsync-demo-SyncFunction"

    def __init__(self, timeout_ms: int = 55_000) -> None:
        import time

        self.aws_request_id = str(uuid.uuid4())
        self._end = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, int((self._end - time.monotonic()) * 1000))


def pair_config(database_id: str, board_id: str) -> dict[str, Any]:
    """The demo pair: the README's example configuration."""
    return {
        "pairs": [
            {
                "id": "demo",
                "lead": {"system": "notion", "database_id": database_id},
                "card": {"system": "trello", "board_id": board_id},
                "fields": {
                    "name": {"lead": "Name", "card": "name"},
                    "email": {"lead": "Email", "card": "desc:Email"},
                    "source": {"lead": "Source", "card": "desc:Source", "direction": "lead_to_card"},
                    "status": {"lead": "Status", "card": "list", "values": dict(zip(STATUSES, LISTS, strict=True))},
                },
                "match_on": ["email"],
                "full_sweep_minutes": 3,
            }
        ]
    }


def snapshot(sb: Any, ds_id: str, board_id: str) -> dict[str, dict[str, str]]:
    """Plain view of both sides: {"lead:<name>": {...}, "card:<name>": {...}}."""
    lists = {sb.trello.list_id(board_id, name): name for name in LISTS}
    view: dict[str, dict[str, str]] = {}
    for page in sb.notion.pages(ds_id, include_trashed=True):
        state = "trashed" if page.get("_in_trash") else page.get("Status") or "-"
        view[f"lead {page['Name']}"] = {"status": state, "email": page.get("Email") or "-"}
    for card in sb.trello.cards(board_id, include_closed=True):
        where = "archived" if card["closed"] else lists.get(card["idList"], card["idList"])
        email = next((ln.split(": ", 1)[1] for ln in card["desc"].splitlines() if ln.startswith("Email: ")), "-")
        view[f"card {card['name']}"] = {"list": where, "email": email}
    return view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=6, help="scheduled invocations to run (default 6)")
    parser.add_argument("--verbose", action="store_true", help="show the handler's own log lines")
    parser.add_argument(
        "--latency",
        default=os.environ.get("LEADSYNC_SANDBOX_LATENCY"),
        help="the emulators answer as slowly as the real APIs: realistic, fixed:SECONDS or lognormal:MEDIAN:P95"
        " (default: $LEADSYNC_SANDBOX_LATENCY, else none); see docs/sandbox.md",
    )
    args = parser.parse_args(argv)
    from sandbox.latency import latency_settings

    try:
        latency = latency_settings(args.latency, seed=1)
    except ValueError as exc:
        parser.error(f"--latency: {exc}, or realistic, or off")

    workdir = Path(tempfile.mkdtemp(prefix="leadsync-demo-"))
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "POWERTOOLS_METRICS_DISABLED": "true",
            # conflicts, skipped and failed records are told from the cycle's history (below)
            "POWERTOOLS_LOG_LEVEL": "INFO" if args.verbose else "ERROR",
            "LEADSYNC_LOG_FORMAT": "text",
            "LEADSYNC_TABLE": "leadsync-demo-state",
            "LEADSYNC_CONFIG_FILE": str(workdir / "config.json"),
            "NOTION_TOKEN": "ntn_demo_token",
            "TRELLO_API_KEY": "0123456789abcdef0123456789abcdef",
            "TRELLO_TOKEN": "ATTAdemo-token",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)

    import boto3
    from moto import mock_aws

    from sandbox import Sandbox

    with Sandbox.start(only=("notion", "trello")) as sb, mock_aws():
        if latency is not None:
            sb.latency(**latency)
        os.environ.update(sb.env())
        from leadsync.state.table import create_table

        create_table(boto3.client("dynamodb"), os.environ["LEADSYNC_TABLE"])
        database_id, ds_id = sb.notion.create_database(
            "Leads",
            {"Name": "title", "Email": "email", "Status": "status", "Source": "select", "Trello Card": "rich_text"},
            status_options=STATUSES,
            select_options={"Source": ["Website", "Referral", "Conference", "Cold call"]},
        )
        board_id = sb.trello.create_board("Sales pipeline", lists=LISTS)
        leads = {row["Name"]: sb.notion.user_create_page(ds_id, row) for row in SEED}
        config = pair_config(database_id, board_id)
        (workdir / "config.json").write_text(json.dumps(config, indent=2))
        tell = Teller(config)
        event = json.loads((ROOT / "infra/events/scheduled.json").read_text())

        import leadsync.engine
        from handlers.scheduled_sync import handler
        from leadsync.core.narrate import changes, counts

        # The demo fast-forwards time: the emulators and the engine share the sandbox clock,
        # so a few seconds of demo show minutes of sync (incremental reads, then a full sweep).
        leadsync.engine.utcnow = sb.clock.now

        def card_id(name: str) -> str:
            return next(c["id"] for c in sb.trello.cards(board_id, include_closed=True) if c["name"] == name)

        script: dict[int, tuple[str, Callable[[], None]]] = {
            2: (
                "Ada's card is dragged to 'In Progress' in Trello; Grace is marked Qualified in Notion; "
                "Alan's email is corrected in Notion",
                lambda: (
                    sb.trello.user_move_card(card_id("Ada Lovelace"), sb.trello.list_id(board_id, "In Progress")),
                    sb.notion.user_update_page(leads["Grace Hopper"], {"Status": "Qualified"}),
                    sb.notion.user_update_page(leads["Alan Turing"], {"Email": "alan.turing@bletchley.example"}),
                ),
            ),
            3: (
                "A new lead arrives in Notion; Grace's email is edited on her Trello card",
                lambda: (
                    leads.__setitem__(
                        "Katherine Johnson",
                        sb.notion.user_create_page(
                            ds_id,
                            {
                                "Name": "Katherine Johnson",
                                "Email": "kj@nasa.example",
                                "Status": "New",
                                "Source": "Website",
                            },
                        ),
                    ),
                    _edit_card_email(sb, card_id("Grace Hopper"), "grace.hopper@navy.example"),
                ),
            ),
            4: (
                "Conflict: Alan's status is set to Contacted in Notion AND his card is moved to Done in Trello",
                lambda: (
                    sb.notion.user_update_page(leads["Alan Turing"], {"Status": "Contacted"}),
                    sb.trello.user_move_card(card_id("Alan Turing"), sb.trello.list_id(board_id, "Done")),
                ),
            ),
            5: ("Ada is deleted in Notion", lambda: sb.notion.user_trash_page(leads["Ada Lovelace"])),
        }

        print(f"leadsync demo: Notion {sb.notion.url}  Trello {sb.trello.url}  (state: moto DynamoDB)\n")
        before = snapshot(sb, ds_id, board_id)
        print("Starting data:")
        print("\n".join(changes({}, before)))
        for cycle in range(1, args.cycles + 1):
            if cycle in script:
                what, edit = script[cycle]
                print(f"\n-- user: {what}")
                edit()
                sb.clock.advance(61)
                before = snapshot(sb, ds_id, board_id)
            started = sb.clock.now()
            result = quiet_emf(lambda: handler(event, FakeLambdaContext()))
            summary = result["pairs"]["demo"]
            after = snapshot(sb, ds_id, board_id)
            sweep = " (full sweep)" if summary["full_sweep"] else ""
            read = summary["read"]
            print(
                f"\n== cycle {cycle}{sweep}: {summary['status']}; "
                f"read lead {read.get('lead', 0)}, card {read.get('card', 0)}; "
                f"applied {counts(summary['applied'])}; conflicts {summary['conflicts']}"
            )
            told = tell.noticed(sb.clock.now(), started) + changes(before, after)
            print("\n".join(told or ["  (nothing changed)"]))
            before = after
            sb.clock.advance(61)
        import demo_webhooks

        demo_webhooks.run(
            sb,
            board_id,
            card_id,
            lambda: snapshot(sb, ds_id, board_id),
            FakeLambdaContext(),
        )
        print(f"\nDone. The configuration used is in {workdir / 'config.json'}.")
    return 0


class Teller:
    """Reads what a cycle stored in the history and tells it (leadsync.core.narrate)."""

    def __init__(self, config: dict[str, Any]) -> None:
        from leadsync.config import Settings, parse_config
        from leadsync.core.models import Side
        from leadsync.wiring import build_store

        pair = parse_config(config, source="demo").pairs[0]
        self.pair_id = pair.id
        self.mapping = pair.plan_config().mapping
        self.systems = {Side.LEAD: pair.lead.system, Side.CARD: pair.card.system}
        self.store = build_store(Settings.from_env())

    def noticed(self, now: datetime, since: datetime) -> list[str]:
        """The conflicts, skipped and failed records of the cycle that started at ``since``."""
        from leadsync.core import narrate

        items = self.store.activity(self.pair_id, now, since=since, limit=1000)
        return narrate.noticed(items, self.mapping, self.systems)


def quiet_emf(call: Callable[[], Any]) -> Any:
    """Run ``call`` and drop the CloudWatch EMF metric lines it prints (they are for CloudWatch)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = call()
    for line in buffer.getvalue().splitlines():
        if not line.startswith('{"_aws"'):
            print(line)
    return result


def _edit_card_email(sb: Any, card_id: str, email: str) -> None:
    card = sb.trello.card(card_id)
    desc = card["desc"] if card else ""
    lines = [f"Email: {email}" if ln.startswith("Email: ") else ln for ln in desc.splitlines()]
    sb.trello.user_update_card(card_id, desc="\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
