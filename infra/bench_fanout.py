"""Fan-out scale simulation: many pairs on one stack, through the real dispatcher and worker handlers.

    .venv/bin/python infra/bench.py --fanout-only [--pairs 200] [--concurrency 10]
    .venv/bin/python infra/bench_fanout.py --pairs 200        (the same, on its own)

One process holds the sandbox and ``--concurrency`` worker threads standing in for Lambda's
concurrent worker invocations; a moto server (SQS FIFO pair queue + its DLQ, the DynamoDB state
table) runs in a process of its own, as those services run apart from Lambda.
Each thread is one "container": it keeps its own in-process rate limiters (and
their budget grants) between the messages it runs, as a warm Lambda container does; every thread
draws from the same DynamoDB budget item per credential.

The stack's credentials are shared by every pair (one Trello token, one Notion integration token,
one Airtable token), as in a real deployment; Airtable tables are grouped ``--pairs-per-base``
to a base, so those pairs share that base's 5 req/s budget too.

1. seed ``--pairs`` pairs (Notion database or Airtable table, each with its own Trello board);
   idle pairs get ``--idle-leads`` leads, first-sync pairs none yet;
2. warm-up, rate limits off: ticks (dispatcher handler, then workers drain the queue) until no
   pair applies anything, past the 2-minute read overlap; the sandbox clock jumps to the next
   tick after each;
3. ``--first-sync-share`` of the pairs get ``--first-leads`` new leads (their first sync);
4. measured ticks, rate limits ON (the sandbox enforces each API's documented limits per
   credential, the product its limiters and shared budgets), real time within a tick: until the
   first-sync pairs are done (at most ``--max-ticks``), then one all-idle tick.

Printed per tick: dispatch time, tick-to-commit latency p50/p95/max (idle and first-sync pairs),
429s per credential, the share of each credential's per-minute budget used, DynamoDB calls per
idle cycle, and the cost per pair per month at list prices. See docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "functions", ROOT / "infra", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench_world import EXISTING_AGE_SECONDS, TICK_SECONDS, Stack  # noqa: E402
from lambda_events import sqs_event  # noqa: E402
from tests.support.containers import PerThread, per_container_limiters  # noqa: E402
from tests.support.e2e import Board, NotionLeads, environment, pair_config  # noqa: E402
from tests.support.e2e_airtable import FIELD_TYPES  # noqa: E402
from tests.support.lambda_context import FakeLambdaContext  # noqa: E402

# Documented sustained rates per credential (requests per second) for the budget share.
RATES = {"trello": 10.0, "notion": 3.0, "airtable": 5.0}
STATUSES = ["New", "Contacted", "Qualified", "Lost"]
WORKER_TIMEOUT = 55.0  # template.yaml FunctionTimeoutSeconds (default)
WORKER_MB = 512  # template.yaml SyncFunction MemorySize
DISPATCHER_MB = 256  # template.yaml DispatchFunction MemorySize
TICKS_PER_MONTH = 60 * 24 * 30  # rate(1 minute), a 30-day month
# List prices, us-east-1, x86 (USD): Lambda per GB-second and per request; SQS FIFO per request
# (each 64 KB chunk); DynamoDB on-demand per write / read request unit.
PRICE_LAMBDA_GB_S = 0.0000166667
PRICE_LAMBDA_REQUEST = 0.20 / 1e6
PRICE_SQS_FIFO_REQUEST = 0.50 / 1e6
PRICE_DDB_WRU = 0.625 / 1e6
PRICE_DDB_RRU = 0.125 / 1e6
DDB_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
POLL_SECONDS = 0.2  # an idle worker's pause between two empty receives
AIRTABLE_BASE = re.compile(r"/v0/(?:meta/bases/)?(app[A-Za-z0-9]+)")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- instrumentation (bench-side only: the product code is not changed) ---------------------------


class Meter:
    """DynamoDB calls per thread (by operation), cycle reports per pair, 429s per credential."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.reports: dict[str, Any] = {}
        self.throttled: Counter[str] = Counter()
        self.unattributed: Counter[str] = Counter()
        self.answer_seconds: list[float] = []  # each DynamoDB call's round trip, measured ticks only
        self.timing = False
        self.lock = threading.Lock()

    def install(self, sb: Any) -> None:
        from botocore.client import BaseClient

        import leadsync.fanout
        from leadsync.connectors import ratelimit

        ratelimit._REGISTRY = per_container_limiters()  # type: ignore[assignment]
        original = BaseClient._make_api_call
        meter = self

        def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name == "dynamodb":
                calls = getattr(meter.local, "calls", None)
                units = 2 * len(params.get("TransactItems", [])) or 1  # transactions: 2 units an item
                target = calls if calls is not None else meter.unattributed
                target[("R:" if operation in DDB_READS else "W:") + operation] += units
                if meter.timing:
                    started = time.perf_counter()
                    try:
                        return original(client, operation, params)
                    finally:
                        meter.answer_seconds.append(time.perf_counter() - started)
            return original(client, operation, params)

        BaseClient._make_api_call = counting  # type: ignore[method-assign]
        sync_pair = leadsync.fanout.sync_pair

        def recording(pair: Any, *args: Any, **kwargs: Any) -> Any:
            report = sync_pair(pair, *args, **kwargs)
            with meter.lock:
                meter.reports[pair.id] = report
            return report

        leadsync.fanout.sync_pair = recording  # type: ignore[assignment]
        for name, emulator in sb.emulators.items():
            self._count_429s(name, emulator)

    def _count_429s(self, name: str, emulator: Any) -> None:
        refuse = emulator.rate_limited_response

        def counted(request: Any, *args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.throttled[credential_of(name, request.path)] += 1
            return refuse(request, *args, **kwargs)

        emulator.rate_limited_response = counted


def credential_of(system: str, path: str) -> str:
    """The credential a request is metered on: the stack's token, or an Airtable base."""
    if system == "airtable":
        match = AIRTABLE_BASE.search(path)
        return f"airtable base {match.group(1)}" if match else "airtable token"
    return f"{system} token"


# -- the world ------------------------------------------------------------------------------------


@dataclass
class AirtableTable:
    """One leads table in a base shared with other pairs (the e2e world has one base per table)."""

    sb: Any
    base_id: str
    name: str
    table_id: str
    system: str = "airtable"

    def side_config(self) -> dict[str, Any]:
        return {"system": "airtable", "base_id": self.base_id, "table": self.table_id}

    def native(self) -> dict[str, str]:
        return {"name": "Name", "email": "Email", "status": "Status", "source": "Source"}

    def add(self, **values: str | None) -> str:
        plain = {self.native()[k]: v for k, v in values.items()}
        return str(self.sb.airtable.user_create_record(self.base_id, self.name, plain))


@dataclass
class Pair:
    id: str
    system: str
    leads: Any
    board: Board
    first_sync: bool


@dataclass
class Sizes:
    pairs: int = 200
    concurrency: int = 10
    notion_share: float = 1 / 3
    pairs_per_base: int = 4
    first_sync_share: float = 0.05
    idle_leads: int = 2
    first_leads: int = 10
    max_ticks: int = 4
    warmup_ticks: int = 8
    grant_ttl: float | None = None  # None: the product's default


def build_pairs(stack: Stack, sizes: Sizes) -> list[Pair]:
    sb = stack.sb
    sb.reset()
    notion_count = round(sizes.pairs * sizes.notion_share)
    first_count = max(1, round(sizes.pairs * sizes.first_sync_share)) if sizes.first_sync_share > 0 else 0
    first_ids = {(k * sizes.pairs) // first_count + sizes.pairs // (2 * first_count) for k in range(first_count)}
    pairs: list[Pair] = []
    tables: list[AirtableTable] = []
    for i in range(sizes.pairs - notion_count):
        if i % sizes.pairs_per_base == 0:
            names = [f"Leads {j}" for j in range(min(sizes.pairs_per_base, sizes.pairs - notion_count - i))]
            base_id, ids = sb.airtable.create_base(
                tables={n: dict(FIELD_TYPES) for n in names}, select_options={n: {"Status": STATUSES} for n in names}
            )
            tables += [AirtableTable(sb, base_id, n, ids[n]) for n in names]
    for i in range(sizes.pairs):
        leads = NotionLeads(sb) if i < notion_count else tables[i - notion_count]
        first = i in first_ids  # spread over both trackers
        pair = Pair(f"p{i:04d}", leads.system, leads, Board(sb), first)
        if not first:
            for k in range(sizes.idle_leads):
                add_lead(pair, k)
        pairs.append(pair)
    return pairs


def add_lead(pair: Pair, k: int) -> None:
    pair.leads.add(
        name=f"{pair.id} lead {k}",
        email=f"{pair.id}.{k}@bench.example",
        status=STATUSES[k % 3],
        source="Website",
    )


def configure(stack: Stack, pairs: list[Pair]) -> dict[str, str]:
    """The state table, the pair queue (FIFO, with its DLQ) and the Lambda's environment (set here)."""
    import boto3

    from leadsync.state.table import create_table

    config: dict[str, list[dict[str, Any]]] = {"pairs": []}
    for pair in pairs:
        one = pair_config(pair.leads, pair.board)["pairs"][0]
        config["pairs"].append({**one, "id": pair.id})
    config_path = stack.workdir / "fanout-config.json"
    config_path.write_text(json.dumps(config))
    table = f"leadsync-fanout-{uuid.uuid4().hex[:8]}"
    create_table(stack.dynamodb(), table)
    env = environment(config_path, stack.sb.env(), table)
    env.update(
        {"AWS_ENDPOINT_URL": stack.dynamodb_url, "AWS_ENDPOINT_URL_SQS": stack.sqs_url, "POWERTOOLS_LOG_LEVEL": "INFO"}
    )
    os.environ.update(env)
    sqs = boto3.client("sqs")
    name = f"leadsync-pairs-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": "360",  # the template's default: a failed cycle comes back in 6 minutes
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"}),
        },
    )["QueueUrl"]
    os.environ["LEADSYNC_QUEUE_URL"] = queue
    return {"queue": queue, "dlq": dlq, "table": table}


def set_limits(stack: Stack, enabled: bool, originals: dict[str, Any]) -> None:
    """Rate limits on (documented) or off, on both sides; every worker's buckets start afresh.

    Off, the workers also draw from no shared budget (in-process buckets only): a budget of
    1e9 tokens a second is always at the edge of idle, where every worker's grant races the
    others' for nothing (the warm-up is not measured)."""
    from leadsync import wiring
    from leadsync.connectors import ratelimit

    if not originals:
        originals.update(ratelimit.DEFAULT_LIMITS)
        originals["configure_budgets"] = wiring.configure_budgets
    for system, limit in originals.items():
        if isinstance(limit, ratelimit.Limit):
            ratelimit.DEFAULT_LIMITS[system] = limit if enabled else ratelimit.Limit(1e9, 1e9)
    wiring.configure_budgets = originals["configure_budgets"] if enabled else _no_budgets  # type: ignore[assignment]
    ratelimit.use_grant_sources(None)
    ratelimit._REGISTRY.clear()
    for emulator in stack.sb.emulators.values():
        emulator.rate_limit(enabled=enabled)


def _no_budgets(settings: Any) -> None:
    """``wiring.configure_budgets`` while rate limits are off: in-process buckets only."""
    from leadsync.connectors import ratelimit

    ratelimit.use_grant_sources(None)


# -- one tick -------------------------------------------------------------------------------------


@dataclass
class Done:
    pair: str
    latency: float  # seconds from the tick to the end of the message's cycle (after its commit)
    duration: float  # the worker invocation's wall time
    cpu: float
    status: str
    applied: int
    dynamodb: Counter[str]


@dataclass
class Tick:
    label: str
    dispatch_seconds: float
    done: dict[str, Done] = field(default_factory=dict)
    failures: int = 0
    span: float = 0.0
    requests: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0
    redelivered: int = 0  # a pair's message finished twice in the tick
    duplicate_cards: int = 0  # cards beyond the first of any lead, on every board after the tick


def run_tick(stack: Stack, meter: Meter, pairs: list[Pair], queue: dict[str, str], sizes: Sizes, label: str) -> Tick:
    """Dispatcher handler at the tick, then ``concurrency`` workers drain the queue."""
    import boto3

    from handlers.dispatch import handler as dispatch_handler
    from handlers.pair_worker import handler as worker_handler
    from leadsync.connectors import ratelimit

    for emulator in stack.sb.emulators.values():
        emulator.clear_requests()
    with meter.lock:
        meter.throttled.clear()
        meter.reports.clear()
    started = time.perf_counter()
    tick_time = stack.sb.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {**json.loads((ROOT / "infra/events/scheduled.json").read_text()), "time": tick_time}
    dispatch_handler(event, FakeLambdaContext(30.0, function_name="leadsync-DispatchFunction"))
    tick = Tick(label, time.perf_counter() - started)
    expected = {p.id for p in pairs}
    lock = threading.Lock()
    deadline = started + 3 * TICK_SECONDS + WORKER_TIMEOUT

    def settled() -> bool:
        with lock:
            return expected <= set(tick.done) or time.perf_counter() > deadline

    def worker(container: int) -> None:
        registry = getattr(ratelimit, "_REGISTRY", None)
        if isinstance(registry, PerThread):
            registry.bind(container)  # the same warm container as in the last tick
        sqs = boto3.client("sqs")
        while not settled():
            got = sqs.receive_message(
                QueueUrl=queue["queue"],
                MaxNumberOfMessages=1,  # WorkerBatchSize default
                WaitTimeSeconds=0,  # a long poll would hold the serialized moto server from the other workers
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                time.sleep(POLL_SECONDS)
                continue
            meter.local.calls = Counter()
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            response = worker_handler(sqs_event(got, queue["queue"]), FakeLambdaContext(WORKER_TIMEOUT))
            wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
            calls, meter.local.calls = meter.local.calls, None
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            for message in got:
                pair = json.loads(message["Body"])["pair"]
                if message["MessageId"] in failed:
                    with meter.lock:
                        failed_report = meter.reports.get(pair)
                    errors = list(getattr(failed_report, "errors", None) or ["no cycle report (failed before it)"])
                    _progress(f"  {label}: {pair} failed: {str(errors[0])[:200]}")
                    with lock:
                        tick.failures += 1
                    continue
                sqs.delete_message(QueueUrl=queue["queue"], ReceiptHandle=message["ReceiptHandle"])
                with meter.lock:
                    report = meter.reports.get(pair)
                summary: dict[str, Any] = report.summary() if report is not None else {"status": "dropped"}
                done = Done(
                    pair,
                    time.perf_counter() - started,
                    wall,
                    cpu,
                    str(summary["status"]),
                    sum((summary.get("applied") or {}).values()),
                    calls,
                )
                with lock:
                    tick.redelivered += pair in tick.done
                    tick.done[pair] = done

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(sizes.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tick.span = time.perf_counter() - started
    for name, emulator in stack.sb.emulators.items():
        for _method, path in emulator.requests:
            tick.requests[credential_of(name, path)] += 1
    with meter.lock:
        tick.throttled = Counter(meter.throttled)
    dlq = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue["dlq"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    tick.dead_lettered = int(dlq["Attributes"]["ApproximateNumberOfMessages"])
    tick.duplicate_cards = duplicate_cards(pairs)
    stack.sb.clock.advance(max(0.0, TICK_SECONDS - tick.span))  # the next tick, without waiting for it
    return tick


def duplicate_cards(pairs: list[Pair]) -> int:
    """Cards beyond the first that carry the same lead's marker, over every pair's board."""
    extra = 0
    for pair in pairs:
        per_lead = Counter(card["lead"] for card in pair.board.cards(include_closed=True) if card["lead"])
        extra += sum(n - 1 for n in per_lead.values())
    return extra


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class Run:
    sizes: Sizes
    pairs: list[Pair]
    warmup: list[Tick]
    ticks: list[Tick]
    notes: list[str]
    dynamodb_answer_seconds: list[float] = field(default_factory=list)


def run(sizes: Sizes) -> Run:
    """Seed, warm up with limits off, then the measured ticks with limits on."""
    stack = Stack(serialize=True, own_sqs=True)
    meter = Meter()
    originals: dict[str, Any] = {}
    notes: list[str] = []
    try:
        _progress(f"fan-out: seeding {sizes.pairs} pairs")
        pairs = build_pairs(stack, sizes)
        stack.sb.clock.advance(EXISTING_AGE_SECONDS)
        queue = configure(stack, pairs)
        import leadsync.engine

        leadsync.engine.utcnow = stack.sb.clock.now  # the product's "now" is the sandbox's (its clock jumps)
        meter.install(stack.sb)
        if sizes.grant_ttl is not None:
            from leadsync.connectors import ratelimit

            defaults = ratelimit.TokenBucket.__init__.__kwdefaults__ or {}
            if "grant_ttl" not in defaults:
                raise RuntimeError("TokenBucket no longer takes grant_ttl=; update the bench")
            defaults["grant_ttl"] = sizes.grant_ttl
            notes.append(f"unspent granted tokens given up {sizes.grant_ttl:g} s after their turn (--grant-ttl)")
        with quiet_stdout():
            set_limits(stack, False, originals)
            warmup: list[Tick] = []
            for n in range(sizes.warmup_ticks):
                tick = run_tick(stack, meter, pairs, queue, sizes, f"warm-up {n + 1}")
                warmup.append(tick)
                applied = sum(d.applied for d in tick.done.values())
                _progress(f"  warm-up tick {n + 1}: {len(tick.done)} pairs, {applied} changes, {tick.span:.1f} s")
                if n >= 2 and applied == 0 and len(tick.done) == len(pairs):
                    break
            else:
                notes.append(f"warm-up did not settle in {sizes.warmup_ticks} ticks")
            for pair in pairs:
                if pair.first_sync:
                    for k in range(sizes.first_leads):
                        add_lead(pair, k)
            set_limits(stack, True, originals)
            meter.timing = True
            ticks: list[Tick] = []
            first_done = False
            for n in range(sizes.max_ticks + 1):
                label = "all idle" if first_done else f"first sync {n + 1}"
                tick = run_tick(stack, meter, pairs, queue, sizes, label)
                ticks.append(tick)
                _progress(
                    f"  tick {label}: {len(tick.done)}/{len(pairs)} pairs, {tick.span:.1f} s, "
                    f"429s {sum(tick.throttled.values())}"
                )
                if first_done:
                    break
                first_done = all(
                    tick.done.get(p.id) is not None and tick.done[p.id].status == "synced"
                    for p in pairs
                    if p.first_sync
                ) and not any(d.applied for p in pairs if p.first_sync and (d := tick.done.get(p.id)))
                if n == sizes.max_ticks - 1 and not first_done:
                    notes.append(f"first syncs not settled after {sizes.max_ticks} ticks")
                    first_done = True
    finally:
        stack.stop()
    return Run(sizes, pairs, warmup, ticks, notes, meter.answer_seconds)


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """The handlers log to stdout (CloudWatch in Lambda): to /dev/null here, not into the report."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# -- report -----------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _lat(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f} / {max(values):.1f}"


def capacity(credential: str) -> float:
    """Requests the credential allows in one schedule period (documented rate x 60 s)."""
    return RATES[credential.split()[0]] * TICK_SECONDS


def idle_cycles(run: Run) -> list[Done]:
    """Cycles of idle pairs (nothing applied) in the measured ticks."""
    idle = {p.id for p in run.pairs if not p.first_sync}
    return [d for t in run.ticks for d in t.done.values() if d.pair in idle and d.applied == 0]


@dataclass
class Cost:
    lambda_usd: float
    sqs_usd: float
    dynamodb_usd: float
    duration: float
    ddb_reads: float
    ddb_writes: float

    @property
    def total(self) -> float:
        return self.lambda_usd + self.sqs_usd + self.dynamodb_usd


def cost_per_pair_month(run: Run) -> Cost:
    """An idle pair's month, from the measured idle cycles, the dispatcher and the call counts."""
    cycles = idle_cycles(run)
    duration = statistics.mean(d.duration for d in cycles) if cycles else math.nan
    reads = statistics.mean(sum(n for k, n in d.dynamodb.items() if k.startswith("R:")) for d in cycles)
    writes = statistics.mean(sum(n for k, n in d.dynamodb.items() if k.startswith("W:")) for d in cycles)
    dispatch = statistics.mean(t.dispatch_seconds for t in run.ticks) / len(run.pairs)
    per_tick_lambda = (
        duration * WORKER_MB / 1024 * PRICE_LAMBDA_GB_S
        + PRICE_LAMBDA_REQUEST
        + dispatch * DISPATCHER_MB / 1024 * PRICE_LAMBDA_GB_S
        + PRICE_LAMBDA_REQUEST / len(run.pairs)
    )
    # SendMessageBatch (10 a request), the event source's ReceiveMessage and DeleteMessage
    per_tick_sqs = (0.1 + 1 + 1) * PRICE_SQS_FIFO_REQUEST
    per_tick_ddb = reads * PRICE_DDB_RRU + writes * PRICE_DDB_WRU
    return Cost(
        per_tick_lambda * TICKS_PER_MONTH,
        per_tick_sqs * TICKS_PER_MONTH,
        per_tick_ddb * TICKS_PER_MONTH,
        duration,
        reads,
        writes,
    )


def table(headers: list[str], rows: list[list[str]]) -> str:
    from bench import table as render

    return render(headers, rows)


def report(run: Run) -> str:
    sizes, pairs = run.sizes, run.pairs
    first = {p.id for p in pairs if p.first_sync}
    bases = len({p.leads.base_id for p in pairs if p.system == "airtable"})
    lines = [
        "",
        "## Fan-out: many pairs on one stack (dispatcher -> SQS FIFO -> worker handlers)",
        "",
        f"{len(pairs)} pairs ({sum(p.system == 'notion' for p in pairs)} Notion, "
        f"{sum(p.system == 'airtable' for p in pairs)} Airtable in {bases} shared bases), each with its own board; "
        f"one Trello token, one Notion token, one Airtable token for all; {len(first)} pairs in a first sync of "
        f"{sizes.first_leads} leads, the others idle with {sizes.idle_leads} linked leads; {sizes.concurrency} "
        f"concurrent workers (threads), batch size 1; warm-up {len(run.warmup)} ticks with limits off.",
        "",
    ]
    rows = []
    for t in run.ticks:
        idle_lat = [d.latency for d in t.done.values() if d.pair not in first]
        first_lat = [d.latency for d in t.done.values() if d.pair in first]
        rows.append(
            [
                t.label,
                f"{len(t.done)}/{len(pairs)}",
                f"{t.dispatch_seconds:.2f}",
                _lat(idle_lat),
                _lat(first_lat),
                f"{sum(1 for x in idle_lat if x <= TICK_SECONDS)}/{len(idle_lat)}",
                f"{t.span:.1f}",
                str(t.failures),
                str(t.redelivered),
                str(t.duplicate_cards),
                str(t.dead_lettered),
            ]
        )
    lines.append(
        table(
            [
                "tick",
                "pairs done",
                "dispatch s",
                "idle p50/p95/max s",
                "first-sync p50/p95/max s",
                "idle within 60 s",
                "span s",
                "failed",
                "redelivered",
                "duplicate cards",
                "DLQ",
            ],
            rows,
        )
    )
    lines += ["", "### Shared budgets per credential (measured ticks)", ""]
    credentials = sorted({c for t in run.ticks for c in t.requests} | {c for t in run.ticks for c in t.throttled})
    rows = []
    shown = [c for c in credentials if not c.startswith("airtable base")]
    base_rows = [c for c in credentials if c.startswith("airtable base")]
    for credential in shown:
        rows.append(budget_row(run, credential, credential))
    if base_rows:
        worst = max(base_rows, key=lambda c: max(t.requests.get(c, 0) for t in run.ticks))
        rows.append(budget_row(run, worst, f"busiest airtable base ({len(base_rows)} bases)"))
        rows.append(
            [
                "all airtable bases",
                "",
                " ".join(str(sum(t.throttled.get(c, 0) for c in base_rows)) for t in run.ticks),
                "",
            ]
        )
    lines.append(table(["credential", "requests per tick", "429s per tick", "share of per-minute budget"], rows))
    cycles = idle_cycles(run)
    cost = cost_per_pair_month(run)
    by_op: Counter[str] = Counter()
    for d in cycles:
        by_op.update(d.dynamodb)
    calls = [sum(d.dynamodb.values()) for d in cycles]
    lines += ["", "### Idle cycle and cost per pair per month", ""]
    rows = [
        [
            str(len(cycles)),
            f"{statistics.mean(calls):.2f} ({min(calls)}..{max(calls)})" if calls else "-",
            " ".join(f"{k[2:]}:{v / len(cycles):.2f}" for k, v in sorted(by_op.items())) if cycles else "-",
            f"{cost.duration * 1000:.0f}",
            f"{statistics.median(d.cpu for d in cycles) * 1000:.0f}" if cycles else "-",
            f"{cost.lambda_usd:.4f}",
            f"{cost.sqs_usd:.4f}",
            f"{cost.dynamodb_usd:.4f}",
            f"{cost.total:.4f}",
        ]
    ]
    lines.append(
        table(
            [
                "idle cycles",
                "DDB calls/cycle",
                "by operation",
                "worker ms",
                "worker CPU ms",
                "Lambda $",
                "SQS $",
                "DynamoDB $",
                "total $/pair/month",
            ],
            rows,
        )
    )
    lines += ["", "Notes:"]
    answers = run.dynamodb_answer_seconds
    if answers:
        lines.append(
            f"- DynamoDB answer time seen by the workers in the measured ticks (moto, one request at a time): "
            f"p50 {percentile(answers, 50) * 1000:.0f} ms, p95 {percentile(answers, 95) * 1000:.0f} ms over "
            f"{len(answers)} calls; DynamoDB's own is single-digit milliseconds, so worker times here are the "
            "simulation's more than the product's."
        )
    lines += [f"- {note}" for note in run.notes]
    lines += [f"- {line}" for line in legend()]
    return "\n".join(lines)


def budget_row(run: Run, credential: str, label: str) -> list[str]:
    per_tick = [t.requests.get(credential, 0) for t in run.ticks]
    return [
        label,
        " ".join(str(n) for n in per_tick),
        " ".join(str(t.throttled.get(credential, 0)) for t in run.ticks),
        " ".join(f"{n / capacity(credential):.0%}" for n in per_tick),
    ]


def legend() -> list[str]:
    return [
        "latency: seconds from the tick (the dispatcher's invocation) to the end of the worker invocation that ran"
        " the pair's cycle (its commit is the cycle's last step); real time, all workers in one process (they share"
        " its GIL with the emulators; moto runs in a process of its own), so this is an upper bound for the compute"
        " part, and a lower bound for the network part: the emulators answer in milliseconds.",
        "between ticks the sandbox clock jumps to the next minute; within a tick every clock runs in real time.",
        "moto (SQS, DynamoDB; a process of its own) answers one request at a time (its DynamoDB is not"
        " thread-safe under concurrent transactions); the state table, leases and budget items are the product's own.",
        "share of per-minute budget: requests the credential's API served during the tick / (documented rate x 60 s):"
        " Trello 100 req/10 s per token, Notion 3 req/s per integration, Airtable 5 req/s per base.",
        "429s: rate-limited answers of the sandbox, which enforces those limits per credential (target 0).",
        "DDB calls/cycle: DynamoDB request units of the idle pairs' worker invocations (state, lease, budget grants;"
        " a transaction item counts 2), R: reads W: writes.",
        f"cost: an idle pair's month of {TICKS_PER_MONTH:,} ticks at list prices (us-east-1, x86): Lambda"
        f" ${PRICE_LAMBDA_GB_S:.10f}/GB-s and $0.20/M requests (worker {WORKER_MB} MB x measured wall time, plus its"
        f" share of the {DISPATCHER_MB} MB dispatcher), SQS FIFO $0.50/M requests (send/10, receive, delete; the"
        " event source's empty polls not counted), DynamoDB on-demand $0.625/M WRU, $0.125/M RRU (1 unit per"
        " call of an item under 1 KB / 4 KB). Free tiers not deducted.",
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=int, default=200, help="fan-out: pairs on the stack (default 200)")
    parser.add_argument("--concurrency", type=int, default=10, help="fan-out: concurrent workers (default 10)")
    parser.add_argument("--notion-share", type=float, default=1 / 3, help="fan-out: share of Notion pairs")
    parser.add_argument("--pairs-per-base", type=int, default=4, help="fan-out: Airtable pairs per base")
    parser.add_argument("--first-sync-share", type=float, default=0.05, help="fan-out: share of pairs in a first sync")
    parser.add_argument("--first-leads", type=int, default=10, help="fan-out: leads of a first-sync pair")
    parser.add_argument("--idle-leads", type=int, default=2, help="fan-out: linked leads of an idle pair")
    parser.add_argument("--max-ticks", type=int, default=4, help="fan-out: measured ticks for the first syncs")
    parser.add_argument(
        "--grant-ttl",
        type=float,
        default=None,
        help="fan-out: seconds after its turn an unspent granted token is given up (an experiment)",
    )


def sizes_from(args: argparse.Namespace) -> Sizes:
    if args.pairs < 2 or args.concurrency < 1 or args.pairs_per_base < 1:
        raise SystemExit("fan-out: --pairs must be >= 2, --concurrency and --pairs-per-base >= 1")
    return Sizes(
        pairs=args.pairs,
        concurrency=args.concurrency,
        notion_share=args.notion_share,
        pairs_per_base=args.pairs_per_base,
        first_sync_share=args.first_sync_share,
        idle_leads=args.idle_leads,
        first_leads=args.first_leads,
        max_ticks=args.max_ticks,
        grant_ttl=args.grant_ttl,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(sizes_from(args))
    print(report(result))
    print(f"\nfan-out run: {time.perf_counter() - started:.0f} s real")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
