"""The soak environment: sandbox + moto DynamoDB + the real handler, set up without pytest.

Same wiring as ``tests/e2e/conftest.py`` (so the soak drives exactly what the e2e tests drive),
plus what makes thousands of cycles affordable and reproducible:

* waits are virtual: the transport's backoff and the rate limiters' sleeps return at once
  (the sandbox's own rate limiting is off, so nothing real is being waited for);
* the transport's per-attempt timeout is short and the emulators' ``timeout`` fault sleeps a
  little longer, so a "timeout" fault really times the client out;
* the engine's clock is the sandbox clock, which scenarios advance (leases, sweeps, Notion minutes).

Used by ``tests/soak/test_soak.py`` and ``infra/soak.py``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws

from leadsync.state.base import StateStore
from leadsync.state.dynamodb import DynamoStateStore
from leadsync.state.sqlite import SqliteStateStore
from sandbox import Sandbox
from tests.e2e.conftest import LEAD_TRACKERS
from tests.soak.fanout import FanoutHandler, fanout_patches
from tests.support.crash import virtual_waits
from tests.support.e2e import Board, Harness, environment
from tests.support.lambda_context import FakeLambdaContext

CLIENT_TIMEOUT = 0.25  # seconds per HTTP attempt in the soak
SERVER_TIMEOUT_SLEEP = 0.4  # how long a "timeout" fault holds the request (> CLIENT_TIMEOUT)
SETTLE_SECONDS = SERVER_TIMEOUT_SLEEP + 0.1  # let a timed-out request finish before people edit again
TABLE_PREFIX = "leadsync-soak"

__all__ = ["LEAD_TRACKERS", "SoakEnvironment"]


class ConflictLog(logging.Handler):
    """Collects the engine's ``conflict resolved`` records (field, values, winner, lead, card)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "conflict resolved":
            self.records.append(
                {k: getattr(record, k, None) for k in ("field", "lead_value", "card_value", "winner", "lead", "card")}
            )


@dataclass
class SoakEnvironment:
    """One sandbox and one in-process DynamoDB for many scenarios; a fresh table and world per scenario."""

    sandbox: Sandbox
    dynamodb: Any
    workdir: Path
    store: str = "sqlite"  # "sqlite" (fast, the same StateStore contract) or "dynamodb" (moto, in-process)
    latency: dict[str, Any] | None = None  # `Sandbox.latency` settings applied to every scenario's world
    conflicts: ConflictLog = field(default_factory=ConflictLog)
    fanout: int = 0  # > 0: cycles run dispatcher -> SQS -> workers, with this many bystander pairs
    reports: dict[str, Any] = field(default_factory=dict)  # fan-out: each pair's last cycle report

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, *, quiet: bool = False, store: str = "sqlite", latency: dict[str, Any] | None = None, fanout: int = 0
    ) -> Iterator[SoakEnvironment]:
        """Start everything; ``quiet`` sends the handler's own log lines and metrics to /dev/null;
        ``latency``: the emulators answer with that latency (`Sandbox.latency` settings).

        ``fanout``: run every cycle through the dispatcher and worker handlers (tests/soak/fanout.py)
        with that many bystander pairs working at the same time; the state is then in DynamoDB.
        """
        patches = [
            mock.patch.dict(os.environ),  # every variable set below is restored on exit
            virtual_waits(request_timeout=CLIENT_TIMEOUT),
        ]
        with contextlib.ExitStack() as stack:
            for patch in patches:
                stack.enter_context(patch)
            os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
            os.environ.update(
                {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}
            )
            sb = stack.enter_context(Sandbox.start())
            stack.enter_context(mock_aws())
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leadsync-soak-")))
            store = "dynamodb" if fanout else store
            env = cls(sb, boto3.client("dynamodb", region_name="eu-west-1"), workdir, store, latency=latency)
            if fanout:
                env.fanout = fanout
                stack.enter_context(fanout_patches(env.reports))
            engine_module = importlib.import_module("leadsync.engine")
            stack.enter_context(mock.patch.object(engine_module, "utcnow", sb.clock.now))
            app_logger = logging.getLogger("leadsync")
            app_logger.addHandler(env.conflicts)
            stack.callback(app_logger.removeHandler, env.conflicts)
            if quiet:
                stack.enter_context(_silenced(app_logger))
            yield env

    def harness(self, tracker: str, **config: Any) -> Harness:
        """A fresh lead tracker + board + state table, the handler wired to them (as the e2e fixture does)."""
        from leadsync.connectors import notion, ratelimit, trello
        from leadsync.state.table import create_table

        for name in ("airtable", "sheets"):
            if name in LEAD_TRACKERS:
                module = importlib.import_module(f"leadsync.connectors.{name}")
                if hasattr(module, "clear_caches"):
                    module.clear_caches()
        self.sandbox.reset()
        if self.latency is not None:
            self.sandbox.latency(**self.latency)
        notion.clear_caches()
        trello.clear_caches()
        ratelimit.reset_shared_limiters()
        self.conflicts.records.clear()
        table = f"{TABLE_PREFIX}-{uuid.uuid4().hex[:8]}"
        config_path = self.workdir / f"{table}.json"
        os.environ.pop("GOOGLE_SERVICE_ACCOUNT_FILE", None)  # a Sheets world sets its own
        os.environ.update(environment(config_path, self.sandbox.env(), table))
        if self.store == "dynamodb":
            create_table(self.dynamodb, table)
        else:
            del os.environ["LEADSYNC_TABLE"]
            os.environ["LEADSYNC_STATE_PATH"] = str(self.workdir / f"{table}.db")
        from handlers.scheduled_sync import handler

        leads = LEAD_TRACKERS[tracker](self.sandbox)
        board = Board(self.sandbox)
        h = Harness(self.sandbox, leads, board, config_path, handler, FakeLambdaContext)
        h.configure(**config)
        if self.fanout:
            fanned = FanoutHandler(h, LEAD_TRACKERS, self.fanout, self.reports)
            os.environ["LEADSYNC_QUEUE_URL"] = fanned.queue
            h.handler = fanned
        return h

    def state_store(self) -> StateStore:
        """The store the handler of the current scenario uses (for the invariants)."""
        if os.environ.get("LEADSYNC_TABLE"):
            return DynamoStateStore(os.environ["LEADSYNC_TABLE"], self.dynamodb)
        return SqliteStateStore(os.environ["LEADSYNC_STATE_PATH"])

    def cleanup(self) -> None:
        """Delete a scenario's table or state file (moto keeps every table in memory otherwise)."""
        table = os.environ.get("LEADSYNC_TABLE", "")
        if table.startswith(TABLE_PREFIX):
            self.dynamodb.delete_table(TableName=table)
        path = os.environ.get("LEADSYNC_STATE_PATH", "")
        if path.startswith(str(self.workdir)):
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)


@contextlib.contextmanager
def _silenced(app_logger: logging.Logger) -> Iterator[None]:
    """Route the Powertools stdout handler and the EMF metric prints to /dev/null."""
    with open(os.devnull, "w") as devnull:
        saved = [(h, h.stream) for h in app_logger.handlers if isinstance(h, logging.StreamHandler)]
        for h, _ in saved:
            h.setStream(devnull)
        try:
            with contextlib.redirect_stdout(devnull):
                yield
        finally:
            for h, stream in saved:
                h.setStream(stream)
