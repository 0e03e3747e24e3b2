"""`python -m sandbox [--port-base N] [--demo] [--latency SPEC]`: run every emulator in the foreground."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from pathlib import Path

from sandbox.latency import latency_settings
from sandbox.suite import Sandbox

DEMO_CREDENTIALS = {
    "NOTION_TOKEN": "ntn_sandbox_demo",
    "TRELLO_API_KEY": "0123456789abcdef0123456789abcdef",
    "TRELLO_TOKEN": "ATTA" + "0" * 72,
    "AIRTABLE_TOKEN": "patSandboxDemo.0000",
}
DEMO_CONFIG = Path(".leadsync/sandbox-config.json")
LATENCY_ENV = "LEADSYNC_SANDBOX_LATENCY"
LATENCY_HELP = (
    "answer with latency: 'realistic' (each service's typical figures, docs/sandbox.md), 'fixed:SECONDS' or"
    f" 'lognormal:MEDIAN:P95'; default: ${LATENCY_ENV}, else none"
)


def _seed_demo(sb: Sandbox) -> list[str]:
    """A Notion database and a Trello board, and a leadsync config for them written to DEMO_CONFIG."""
    lines = []
    db_id, ds_id = sb.notion.create_database(status_options=["New", "Contacted", "Qualified", "Lost"])
    sb.notion.user_create_page(ds_id, {"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New"})
    board_id = sb.trello.create_board("Leads", ["To Do", "In Progress", "Done", "Lost"])
    lines += [f"# Notion database id {db_id} (data source {ds_id}), Trello board id {board_id}"]
    config = {
        "id": "sandbox",
        "lead": {"system": "notion", "database_id": db_id},
        "card": {"system": "trello", "board_id": board_id},
        "fields": {
            "name": {"lead": "Name", "card": "name"},
            "email": {"lead": "Email", "card": "desc:Email"},
            "status": {
                "lead": "Status",
                "card": "list",
                "values": {"New": "To Do", "Contacted": "In Progress", "Qualified": "Done", "Lost": "Lost"},
            },
        },
    }
    DEMO_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    DEMO_CONFIG.write_text(json.dumps({"pairs": [config]}, indent=2) + "\n")
    lines.append(f"export LEADSYNC_CONFIG_FILE={DEMO_CONFIG.resolve()}")
    return lines


def require_demo_credentials(sb: Sandbox) -> None:
    """Make Notion, Trello and Airtable refuse (401) any credential but the printed ones, as the real APIs do."""
    if "notion" in sb.emulators:
        sb.notion.require_token(DEMO_CREDENTIALS["NOTION_TOKEN"])
    if "trello" in sb.emulators:
        sb.trello.require_key(DEMO_CREDENTIALS["TRELLO_API_KEY"])
        sb.trello.require_token(DEMO_CREDENTIALS["TRELLO_TOKEN"])
    if "airtable" in sb.emulators:
        sb.airtable.require_token(DEMO_CREDENTIALS["AIRTABLE_TOKEN"])


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox, print how to reach it, block until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port-base", type=int, default=None, help="notion=N, trello=N+1, airtable=N+2, sheets=N+3")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--demo", action="store_true", help="create a demo Notion database and Trello board")
    parser.add_argument("--latency", default=os.environ.get(LATENCY_ENV), help=LATENCY_HELP)
    parser.add_argument("--latency-seed", type=int, default=None, help="repeatable latency draws")
    parser.add_argument(
        "--any-token",
        action="store_true",
        help="accept any non-empty Notion, Trello, Airtable credential (default: only the printed ones)",
    )
    args = parser.parse_args(argv)
    try:
        latency = latency_settings(args.latency, args.latency_seed)
    except ValueError as exc:
        parser.error(f"--latency: {exc}, or realistic, or off")
    sb = Sandbox.start(host=args.host, port_base=args.port_base)
    if latency is not None:
        sb.latency(**latency)
    if not args.any_token:
        require_demo_credentials(sb)
    print("leadsync sandbox running (Ctrl-C to stop)\n")
    for name, emulator in sb.emulators.items():
        print(f"  {name:<9} {emulator.url:<32} control: {emulator.root_url}/_sandbox/stats")
    if latency is not None:
        print(f"\n  latency on ({args.latency}): see docs/sandbox.md, Latency")
    print("\n# paste into your shell:")
    for key, value in sorted(sb.env().items()):
        print(f"export {key}={value}")
    which = "any non-empty token" if args.any_token else "only these are accepted, as real services refuse others"
    print(f"# sandbox credentials (Notion, Trello, Airtable: {which}; Google: the token URI issues them):")
    for name, value in DEMO_CREDENTIALS.items():
        print(f"export {name}={value}")
    if args.demo and {"notion", "trello"} <= set(sb.emulators):
        for line in _seed_demo(sb):
            print(line)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()


if __name__ == "__main__":
    main()
