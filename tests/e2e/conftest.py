"""End-to-end fixtures: the sandbox over HTTP, DynamoDB in moto, the real handler."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import google.auth._helpers as google_helpers
import pytest
from moto import mock_aws

from sandbox import Sandbox
from tests.support.e2e import Board, Harness, NotionLeads, environment
from tests.support.lambda_context import FakeLambdaContext


def _lead_trackers() -> dict[str, Any]:
    """Notion, plus every `tests/support/e2e_<system>.py` that defines `Leads` (Airtable, Sheets)."""
    found: dict[str, Any] = {"notion": NotionLeads}
    for system in ("airtable", "sheets"):
        try:
            module = importlib.import_module(f"tests.support.e2e_{system}")
        except ModuleNotFoundError:
            continue
        found[system] = module.Leads
    return found


LEAD_TRACKERS = _lead_trackers()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    sb = Sandbox.start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            patch.setenv(name, value)
        patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        patch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
        with mock_aws():
            yield boto3.client("dynamodb", region_name="eu-west-1")


def fresh_environment(sandbox: Sandbox, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty sandbox, no cached connector state, a new state table and the Lambda's environment
    pointing at them, the engine on the sandbox clock; returns where the pair config goes."""
    import leadsync.engine
    from leadsync.connectors import notion, ratelimit, trello
    from leadsync.state.table import create_table

    for module in (notion, trello):
        module.clear_caches()
    for name in ("airtable", "sheets"):
        module = importlib.import_module(f"leadsync.connectors.{name}") if name in LEAD_TRACKERS else None
        if module is not None and hasattr(module, "clear_caches"):
            module.clear_caches()
    sandbox.reset()
    ratelimit.reset_shared_limiters()
    table = f"leadsync-{uuid.uuid4().hex[:8]}"
    create_table(aws, table)
    config_path = tmp_path / "config.json"
    for name, value in environment(config_path, sandbox.env(), table).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT_FILE", "")  # a world may set it; restored after the test
    monkeypatch.setattr(leadsync.engine, "utcnow", sandbox.clock.now)
    # google-auth dates its token requests by its own clock: the sandbox's too, or a test that
    # moves the sandbox clock on an hour would sign assertions the token endpoint calls stale
    monkeypatch.setattr(google_helpers, "utcnow", lambda: sandbox.clock.now().replace(tzinfo=None))
    return config_path


@pytest.fixture(params=sorted(LEAD_TRACKERS))
def harness(
    request: pytest.FixtureRequest, sandbox: Sandbox, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Harness:
    """A fresh lead tracker + board + table, the handler wired to them, and one shared clock."""
    config_path = fresh_environment(sandbox, aws, tmp_path, monkeypatch)
    from handlers.scheduled_sync import handler

    leads = LEAD_TRACKERS[request.param](sandbox)
    board = Board(sandbox)
    h = Harness(sandbox, leads, board, config_path, handler, FakeLambdaContext)
    h.configure()
    return h
