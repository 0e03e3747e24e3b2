"""`python -m sandbox [--port-base N] [--demo]`: run every emulator in the foreground."""

from __future__ import annotations

import argparse
import signal
import threading

from sandbox.suite import Sandbox

DEMO_CREDENTIALS = {
    "Notion token": "ntn_sandbox_demo",
    "Trello API key": "0123456789abcdef0123456789abcdef",
    "Trello token": "ATTA" + "0" * 72,
    "Airtable token": "patSandboxDemo.0000",
}


def _seed_demo(sb: Sandbox) -> list[str]:
    lines = []
    if "notion" in sb.emulators:
        db_id, ds_id = sb.notion.create_database(status_options=["New", "Contacted", "Qualified", "Lost"])
        sb.notion.user_create_page(ds_id, {"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New"})
        lines += [f"Notion database id:    {db_id}", f"Notion data source id: {ds_id}"]
    if "trello" in sb.emulators:
        board_id = sb.trello.create_board("Leads", ["To Do", "In Progress", "Done", "Lost"])
        lines.append(f"Trello board id:       {board_id}")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox, print how to reach it, block until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--port-base", type=int, default=None, help="notion=N, trello=N+1, airtable=N+2, sheets=N+3")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--demo", action="store_true", help="create a demo Notion database and Trello board")
    args = parser.parse_args(argv)
    sb = Sandbox.start(host=args.host, port_base=args.port_base)
    print("leadsync sandbox running (Ctrl-C to stop)\n")
    for name, emulator in sb.emulators.items():
        print(f"  {name:<9} {emulator.url:<32} control: {emulator.root_url}/_sandbox/stats")
    print("\n# paste into your shell:")
    for key, value in sorted(sb.env().items()):
        print(f"export {key}={value}")
    print("\n# demo credentials (any non-empty token is accepted):")
    for label, value in DEMO_CREDENTIALS.items():
        print(f"#   {label}: {value}")
    if args.demo:
        print()
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
