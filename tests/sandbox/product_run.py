"""A full e2e-like run of the product against the sandbox, for the fidelity coverage test.

The real Lambda handler (DynamoDB in moto) syncs each lead tracker (Notion, Airtable, Sheets)
with a Trello board through a scripted scenario that reaches every connector path the engine
uses in normal operation: the first sync of an empty and of a filled tracker, creations both ways,
edits on both sides, moves, description lines, archives and deletions, and a burst of card changes
above the Trello connector's full-fetch threshold; then each connector's remaining public
methods (``find_by_link``, ``fetch_all``, ``get`` of a missing record) are called directly.
Every emulator's `operations` log is collected: that is the list of operations the product sends.
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from sandbox import Sandbox
from sandbox.common import Operation

TRACKERS = ("notion", "airtable", "sheets")


@contextmanager
def _environment(sb: Sandbox, tmp: Path) -> Iterator[tuple[Any, Path]]:
    """moto, a fresh state table and the Lambda's environment (as tests/e2e/conftest.py does)."""
    import boto3
    import google.auth._helpers as google_helpers
    from moto import mock_aws

    import leadsync.engine
    from leadsync.connectors import ratelimit
    from leadsync.state.table import create_table
    from tests.support.e2e import environment

    with mock.patch.dict(os.environ), mock_aws():
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
        os.environ["AWS_DEFAULT_REGION"] = "eu-west-1"
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        for name in (*TRACKERS, "trello"):
            module = importlib.import_module(f"leadsync.connectors.{name}")
            if hasattr(module, "clear_caches"):
                module.clear_caches()
        ratelimit.reset_shared_limiters()
        aws = boto3.client("dynamodb", region_name="eu-west-1")
        table = f"leadsync-{uuid.uuid4().hex[:8]}"
        create_table(aws, table)
        config_path = tmp / "config.json"
        os.environ.update(environment(config_path, sb.env(), table))
        os.environ["GOOGLE_SERVICE_ACCOUNT_FILE"] = ""
        unlimited = {system: ratelimit.Limit(1000.0, 1000.0) for system in ratelimit.DEFAULT_LIMITS}
        with (
            # which requests the product sends, not how fast: the client limiters' waits (Sheets: one
            # request a second) are lifted; the sandbox still enforces each API's own limits
            mock.patch.dict(ratelimit.DEFAULT_LIMITS, unlimited),
            mock.patch.object(leadsync.engine, "utcnow", sb.clock.now),
            # google-auth stays on real time: the token endpoint must cope (issue 16)
            mock.patch.object(google_helpers, "utcnow", google_helpers.utcnow),
        ):
            yield aws, config_path


def _scenario(sb: Sandbox, tracker: str, tmp: Path) -> None:
    from aws_lambda_powertools.utilities import parameters

    from handlers.scheduled_sync import handler
    from tests.support.e2e import Board, Harness, NotionLeads
    from tests.support.lambda_context import FakeLambdaContext

    with _environment(sb, tmp) as (_aws, config_path):
        if tracker == "notion":
            leads: Any = NotionLeads(sb)
        else:
            leads = importlib.import_module(f"tests.support.e2e_{tracker}").Leads(sb)
        board = Board(sb)
        harness = Harness(sb, leads, board, config_path, handler, FakeLambdaContext)
        first = leads.add(name="Ada Lovelace", email="ada@example.com", status="New", source="web")
        harness.configure()
        parameters.clear_caches()
        harness.cycle()  # first sync: a filled tracker, an empty board
        second = leads.add(name="Grace Hopper", email="grace@example.com", status="Contacted", source="ads")
        harness.cycle()
        leads.edit(first, name="Ada King", status="Qualified")
        harness.cycle()
        card = board.card_for(second)
        board.move(card["id"], "Lost")
        board.rename(card["id"], "Grace B. Hopper")
        board.set_line(card["id"], "Email", "grace@navy.mil")
        harness.cycle()
        board.add_card("Hand-made lead", "To Do", "Email: hand@example.com")
        harness.cycle()
        for i in range(27):  # above the Trello connector's full-fetch threshold (25)
            board.add_card(f"Burst {i}", "In Progress")
        harness.cycle()
        harness.cycle()
        board.archive(board.card_for(first)["id"])
        harness.cycle()
        leads.delete(second)
        harness.cycle()
        harness.cycle(advance=3600 * 2)  # tokens expire; google-auth on real time fetches another
        harness.cycle()
        _direct_calls(sb, config_path)


def _direct_calls(sb: Sandbox, config_path: Path) -> None:
    """The connector methods a normal run may not reach, built and called as the engine would."""
    from leadsync import wiring
    from leadsync.config import Settings
    from leadsync.connectors.deadline import Deadline
    from leadsync.credentials import Credentials

    settings = Settings.from_env()
    pair = wiring.load_sync_config(settings).pairs[0]
    runtime = wiring.build_runtime(pair, settings, Credentials.from_env(), Deadline.never())
    for connector in (runtime.lead, runtime.card):
        connector.describe()
        connector.fetch_all()
        connector.find_by_link("no-such-link")
    _rule_calls(sb, runtime)
    sb.notion.result_cap = 1  # Notion's 10,000-result cap: fetch_all windows by created_time
    try:
        runtime.lead.fetch_all()
        runtime.lead.fetch_changed("2000-01-01T00:00:00.000Z")
    finally:
        sb.notion.result_cap = 10_000


def _rule_calls(sb: Sandbox, runtime: Any) -> None:
    """What a pair's sync rules send (the membership reads, labels, ``validate --live``'s checks)."""
    from leadsync.connectors.trello import TrelloConnector

    board = runtime.card
    assert isinstance(board, TrelloConnector)
    sb.trello.user_create_label(board.board_id, "Sync", "green")
    board.read_labels, board.label_new_cards = True, "Sync"
    cursor = board.fetch_changed(None).cursor
    made = board.create({"name": "Labelled", "list": "To Do"}, None)
    board.fetch_changed(cursor)
    board.get(made.id)
    board.board_labels()
    lead = runtime.lead
    if lead.system == "airtable":
        sb.airtable.create_view(lead.base_id, lead.table, "Hot", "{Status}='Qualified'")
        lead.views()
        lead.view_members("Hot")
    elif lead.system == "notion":
        status = {"or": [{"property": "Status", "status": {"equals": s}} for s in ("Contacted", "Qualified")]}
        rule = {"and": [status, {"property": "Source", "rich_text": {"contains": "web"}}]}
        lead.filter_members(rule)
        lead.check_filter(rule)


def product_operations(tmp: Path) -> list[Operation]:
    """Every operation the product sent in the scripted run of each lead tracker."""
    operations: list[Operation] = []
    with Sandbox.start() as sb:
        for tracker in TRACKERS:
            sb.reset()
            (tmp / tracker).mkdir()
            _scenario(sb, tracker, tmp / tracker)
            for emulator in sb.emulators.values():
                operations += emulator.operations
    return operations
