"""The benchmark's world: sandbox emulators in this process, a moto server in its own, seeded lead
trackers, and the Lambda stand-in process (``bench_worker.py``) that runs the real handler.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "functions", ROOT / "infra", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from sandbox import Sandbox  # noqa: E402
from tests.support.e2e import Board, NotionLeads, environment, pair_config  # noqa: E402

STATUSES_SYNCED = ("New", "Contacted", "Qualified")  # "Lost" leads are skipped by default: none seeded
TICK_SECONDS = 60.0  # EventBridge rate(1 minute)
EXISTING_AGE_SECONDS = 3600.0  # how long before the first sync the seeded leads were last edited


def lead_trackers() -> dict[str, Callable[[Any], Any]]:
    """Notion, plus Airtable / Sheets when both their connector and their e2e world exist."""
    found: dict[str, Callable[[Any], Any]] = {"notion": NotionLeads}
    for system in ("airtable", "sheets"):
        try:
            importlib.import_module(f"leadsync.connectors.{system}")
            module = importlib.import_module(f"tests.support.e2e_{system}")
        except ModuleNotFoundError:
            continue
        if hasattr(module, "Leads"):
            found[system] = module.Leads
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """Every emulator (in this process) plus a tuned moto server in a process of its own
    (``bench_moto.py``), for the whole run (reset between worlds). ``serialize``: moto answers one
    request at a time (the fan-out's concurrent workers: see ``bench_moto.serialize_moto``).
    ``own_sqs``: SQS gets a moto server (a process) of its own too, ``sqs_url``; DynamoDB and SQS
    are two services, and in one moto process each one's requests queue behind the other's."""

    def __init__(self, *, serialize: bool = False, own_sqs: bool = False) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulators' per-request access log
        self.workdir = Path(tempfile.mkdtemp(prefix="leadsync-bench-"))
        self.sb = Sandbox.start()
        self.servers: list[subprocess.Popen[str]] = []
        self.dynamodb_url = self._moto_server(serialize)
        self.sqs_url = self._moto_server(serialize) if own_sqs else self.dynamodb_url

    def _moto_server(self, serialize: bool) -> str:
        """Start ``bench_moto.py`` in a process of its own; its URL once it answers."""
        port = free_port()
        command = [sys.executable, str(ROOT / "infra" / "bench_moto.py"), "--port", str(port)]
        python_path = os.pathsep.join(str(p) for p in (ROOT / "functions", ROOT / "infra", ROOT))
        server = subprocess.Popen(  # noqa: S603 - this interpreter and the repo's own script
            [*command, *(["--serialize"] if serialize else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": python_path},
        )
        self.servers.append(server)
        assert server.stdout is not None
        ready = server.stdout.readline().strip()
        if ready != "ready":
            self.stop()
            raise RuntimeError(f"the moto server did not start (it printed {ready!r})")
        return f"http://127.0.0.1:{port}"

    def dynamodb(self) -> Any:
        import boto3

        return boto3.client(
            "dynamodb",
            endpoint_url=self.dynamodb_url,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        for server in self.servers:
            if server.stdin is not None:
                server.stdin.close()  # a server stops when its stdin closes
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        self.sb.stop()


@dataclass
class World:
    """One lead tracker with ``n`` leads and an empty board, a fresh table, and the Lambda's environment."""

    stack: Stack
    system: str
    n: int
    leads: Any = None
    board: Any = None
    env: dict[str, str] = field(default_factory=dict)
    pair_options: dict[str, Any] = field(default_factory=dict)  # merged into the pair's config (--pair-option)
    engine_env: dict[str, str] = field(default_factory=dict)  # set in the handler's environment (--engine-env)

    def build(self, make_leads: Callable[[Any], Any]) -> World:
        from leadsync.state.table import create_table

        sb = self.stack.sb
        sb.reset()
        self.leads = make_leads(sb)
        self.board = Board(sb)
        for i in range(self.n):
            self.leads.add(
                name=f"Lead {i:05d}",
                email=f"lead{i:05d}@bench.example",
                status=STATUSES_SYNCED[i % len(STATUSES_SYNCED)],
                source="Website" if i % 2 else "Referral",
            )
        # An existing tracker: last edited well before leadsync's first run, not inside the
        # incremental reads' overlap (which would have each of the next invocations re-read it all).
        sb.clock.advance(EXISTING_AGE_SECONDS)
        table = f"leadsync-bench-{uuid.uuid4().hex[:8]}"
        create_table(self.stack.dynamodb(), table)
        config_path = self.stack.workdir / f"config-{self.system}-{self.n}.json"
        config_path.write_text(json.dumps(pair_config(self.leads, self.board, **self.pair_options)))
        self.env = {
            **environment(config_path, sb.env(), table),
            **{k: v for k, v in os.environ.items() if k.startswith("GOOGLE_") or k == "LEADSYNC_WRITE_CONCURRENCY"},
            "AWS_ENDPOINT_URL_DYNAMODB": self.stack.dynamodb_url,
            "BENCH_SANDBOX_CLOCK_URL": next(iter(sb.emulators.values())).root_url + "/_sandbox/clock",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            "PYTHONPATH": os.pathsep.join(str(p) for p in (ROOT / "functions", ROOT / "infra", ROOT)),
            **self.engine_env,
        }
        return self

    def linked(self) -> tuple[int, int]:
        """(leads that carry a card link, open cards on the board)."""
        leads = sum(1 for lead in self.leads.all() if lead.get("card") and not lead.get("deleted"))
        return leads, len(self.stack.sb.trello.cards(self.board.board_id))

    def requests(self) -> dict[str, dict[str, int]]:
        """Requests and 429s each emulator served since the last ``clear_requests``."""
        out = {}
        for name, emulator in self.stack.sb.emulators.items():
            stats = emulator.stats()
            reads = sum(1 for m, p in emulator.requests if m == "GET" or p.endswith(("/query", "/listRecords")))
            out[name] = {
                "requests": int(stats["requests"]),
                "throttled": int(stats["responses_by_status"].get("429", 0)),
                "reads": reads,
            }
        return out

    def clear_requests(self) -> None:
        for emulator in self.stack.sb.emulators.values():
            emulator.clear_requests()

    def rate_limits(self, enabled: bool, scale: float) -> None:
        for emulator in self.stack.sb.emulators.values():
            emulator.rate_limit(enabled=enabled, time_scale=scale)


class Worker:
    """One Lambda container: a process that keeps its imports and caches between invocations."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log = log_path.open("a")
        self.proc = subprocess.Popen(  # noqa: S603 - our own worker script, fixed arguments
            [sys.executable, str(ROOT / "infra/bench_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            text=True,
            bufsize=1,
        )
        self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker exited (code {self.proc.wait()}); see {self.log.name}")
        return dict(json.loads(line))

    def send(self, **command: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def limits(self, clock: str, scale: float, enabled: bool) -> dict[str, Any]:
        return self.send(cmd="limits", clock=clock, scale=scale, enabled=enabled)

    def invoke(self, offset: float, *, timeout: float = 55.0, trace: bool = False) -> dict[str, Any]:
        return self.send(cmd="invoke", offset=offset, timeout=timeout, trace=trace)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, BrokenPipeError, OSError):
                self.send(cmd="exit")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
