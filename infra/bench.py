"""leadsync benchmark: what a cycle costs, and how long the first sync of N leads takes.

    make bench                                   (N = 100, 1,000, 10,000, latency off and on; then the fan-out)
    .venv/bin/python infra/bench.py --sizes 100,1000 [--latency off|on|both] [--max-invocations K] [--no-fanout]
    .venv/bin/python infra/bench.py --sizes 1000 --engine-env NAME=VALUE [--pair-option KEY=JSON]
    .venv/bin/python infra/bench.py --fanout-only [--pairs 200] [--concurrency 10]   (bench_fanout.py)

For each lead tracker and size N, against the sandbox (in this process) and a moto DynamoDB
server, with the real handler running in a separate "Lambda container" process
(``bench_worker.py``):

1. seed N leads directly through the emulator's user helpers, and an empty Trello board;
2. first sync, rate limits ON (sandbox enforces the documented limits, the product's client
   limiters run with its documented limits), time sped up ``S`` times on both sides: one
   scheduled invocation per tick until every lead has its card (or K invocations);
3. three settling cycles (past the 2-minute read overlap), then no-change cycles: requests per
   system and DynamoDB calls;
4. rate limits OFF, a fresh worker: a cold then warm no-change cycles for CPU and memory, then a
   no-change full sweep (the hourly re-read);
5. latency on: a fresh world, every emulator answering with its system's realistic latency, step 2 only.

Then the handler's import time and the deployment package size, and the fan-out simulation:
many pairs through the dispatcher and worker handlers, SQS and shared budgets (``bench_fanout.py``).
See docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "infra"), str(ROOT)]

import bench_fanout  # noqa: E402
from bench_world import TICK_SECONDS, Stack, Worker, World, lead_trackers  # noqa: E402

# Documented sustained rates used for the bound (requests per second per credential).
DOCUMENTED_RATES = {"notion": 3.0, "trello": 10.0, "airtable": 5.0, "sheets": 1.0}
RATE_NOTES = {
    "notion": "3 req/s per integration",
    "trello": "100 req/10 s per token",
    "airtable": "5 req/s per base",
    "sheets": "60 reads/min and 60 writes/min per user",
}
LAMBDA_TIMEOUT = 55.0  # template.yaml SyncFunction Timeout
PAIR = "e2e"
SETTLING_CYCLES = 3  # one minute apart: past the 2-minute overlap of the incremental reads
MB = 1024 * 1024


@dataclass
class Cycle:
    """One scheduled invocation as measured from both sides."""

    requests: dict[str, int]
    throttled: dict[str, int]
    reads: dict[str, int]
    dynamodb: dict[str, int]
    wall: float
    simulated: float
    cpu: float
    maxrss_kb: int
    traced_peak: int | None
    summary: dict[str, Any]
    error: str | None
    clock_ok: bool = True
    rss_per_cycle: bool = True

    @property
    def dynamodb_calls(self) -> int:
        return sum(self.dynamodb.values())

    @property
    def changed(self) -> bool:
        return bool(self.summary.get("applied"))


@dataclass
class FirstSync:
    clock: str
    scale: float = 1.0
    latency: bool = False  # the emulators answered with realistic latency (sandbox/latency.py)
    cycles: list[Cycle] = field(default_factory=list)
    progress: list[tuple[int, int]] = field(default_factory=list)  # (leads linked, open cards) after each
    done: bool = False
    real_seconds: float = 0.0
    finished_unlimited: int = 0  # invocations run with limits off to finish it (when it did not finish)

    @property
    def linked(self) -> tuple[int, int]:
        return self.progress[-1] if self.progress else (0, 0)

    def total(self, attr: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for cycle in self.cycles:
            for system, n in getattr(cycle, attr).items():
                out[system] = out.get(system, 0) + n
        return out

    @property
    def active_seconds(self) -> float:
        """Simulated seconds spent inside invocations."""
        return sum(c.simulated for c in self.cycles)

    @property
    def span_seconds(self) -> float:
        """Simulated seconds from the first tick to the end of the last invocation."""
        if not self.cycles:
            return 0.0
        return (len(self.cycles) - 1) * TICK_SECONDS + self.cycles[-1].simulated

    def bound(self) -> tuple[float, str]:
        """max over systems of requests / documented rate; and which system sets it."""
        requests, reads = self.total("requests"), self.total("reads")
        best, which = 0.0, "-"
        for system, n in requests.items():
            if system == "sheets":  # reads and writes have separate per-minute quotas
                seconds = max(reads.get(system, 0), n - reads.get(system, 0)) / DOCUMENTED_RATES[system]
            else:
                seconds = n / DOCUMENTED_RATES.get(system, math.inf)
            if seconds > best:
                best, which = seconds, system
        return best, which


@dataclass
class Result:
    system: str
    n: int
    first: FirstSync
    steady: list[Cycle] = field(default_factory=list)
    cold: Cycle | None = None
    warm: list[Cycle] = field(default_factory=list)
    traced: Cycle | None = None
    sweep: Cycle | None = None
    notes: list[str] = field(default_factory=list)


# -- running -------------------------------------------------------------------------------------


def run_cycle(world: World, worker: Worker, *, trace: bool = False) -> Cycle:
    """One scheduled invocation; afterwards the sandbox clock moves on to the next minute's tick."""
    sb = world.stack.sb
    world.clear_requests()
    # The emulators and moto stand for remote services: a full garbage collection of their world
    # (0.4-0.5 s at 10,000 records, about once an invocation) must not stall the product's requests.
    # It runs here, between invocations; during one, the collector skips what existed before it.
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    answer = worker.invoke(sb.clock.offset, timeout=LAMBDA_TIMEOUT, trace=trace)
    counts = world.requests()
    simulated = float(answer.get("simulated", answer["wall"]))
    # Virtual clock: the sandbox clock already moved by the skipped waits (and the real time);
    # scaled clock: its windows ran S times faster while its timestamps kept real time.
    elapsed = float(answer["wall"]) + float(answer.get("skipped", 0.0))
    sb.clock.advance(max(0.0, TICK_SECONDS - elapsed))
    summary = (answer.get("result") or {}).get("pairs", {}).get(PAIR, {})
    return Cycle(
        requests={k: v["requests"] for k, v in counts.items() if v["requests"]},
        throttled={k: v["throttled"] for k, v in counts.items() if v["throttled"]},
        reads={k: v["reads"] for k, v in counts.items() if v["reads"]},
        dynamodb=answer.get("dynamodb", {}),
        wall=float(answer["wall"]),
        simulated=simulated,
        cpu=float(answer["cpu"]),
        maxrss_kb=int(answer["maxrss_kb"]),
        traced_peak=answer.get("traced_peak"),
        summary=summary,
        error=answer.get("error"),
        clock_ok=bool(answer.get("clock_ok", True)),
        rss_per_cycle=bool(answer.get("rss_per_cycle", False)),
    )


def _synced(world: World, cycle: Cycle, linked: tuple[int, int]) -> bool:
    status, deferred = cycle.summary.get("status"), cycle.summary.get("deferred")
    return linked == (world.n, world.n) and status == "synced" and not deferred


def first_sync(
    world: World, worker: Worker, clock: str, scale: float, max_invocations: int, budget: float, latency: bool = False
) -> FirstSync:
    """Invocations, one per tick, until every lead is linked to a card (or a cap is reached).

    Progress is counted from the cycles' own ``create_card`` counts; the world itself (every
    lead's link, every card: O(N)) is checked when that count says the sync may be done.
    """
    result = FirstSync(clock, scale, latency)
    started = time.perf_counter()
    created = 0
    while len(result.cycles) < max_invocations and time.perf_counter() - started < budget:
        cycle = run_cycle(world, worker)
        result.cycles.append(cycle)
        created += int(cycle.summary.get("applied", {}).get("create_card", 0))
        quiet = cycle.summary.get("status") == "synced" and not cycle.summary.get("deferred")
        linked = world.linked() if created >= world.n and quiet else (created, created)
        result.progress.append(linked)
        _progress(
            f"  invocation {len(result.cycles)}: {cycle.summary.get('status')}, requests "
            f"{_per_system(cycle.requests)}, cards {linked[1]}/{world.n}, {cycle.simulated:.0f} s simulated, "
            f"{cycle.wall:.1f} s real"
        )
        if cycle.error:
            _progress(f"  handler raised: {cycle.error}")
            break
        if _synced(world, cycle, linked):
            result.done = True
            break
    if not result.done and result.cycles:
        result.progress[-1] = world.linked()
    result.real_seconds = time.perf_counter() - started
    return result


def finish_unlimited(world: World, worker: Worker, first: FirstSync, max_invocations: int, budget: float) -> bool:
    """Carry an unfinished first sync to the end with every limit off (to reach the steady state)."""
    started = time.perf_counter()
    while first.finished_unlimited < max_invocations and time.perf_counter() - started < budget:
        cycle = run_cycle(world, worker)
        first.finished_unlimited += 1
        linked = world.linked()
        _progress(f"  unlimited invocation {first.finished_unlimited}: cards {linked[1]}/{world.n}")
        if _synced(world, cycle, linked):
            return True
    return False


def bench_world(
    stack: Stack, system: str, make: Any, n: int, args: argparse.Namespace, latency: bool = False
) -> Result:
    """Latency off: the first sync, then the no-change, CPU, memory and sweep figures. Latency on:
    the first sync only, every emulator answering with its system's realistic latency (seeded)."""
    scale = (auto_scale(n) if args.scale == "auto" else float(args.scale)) if args.clock == "scaled" else 1.0
    _progress(f"{system} N={n}: seeding")
    world = World(stack, system, n, pair_options=args.pair_options, engine_env=args.engine_env).build(make)
    log = stack.workdir / f"worker-{system}-{n}{'-latency' if latency else ''}.log"
    label = f"{system} N={n}" + (" latency on" if latency else "")
    if latency:
        stack.sb.latency(seed=n, mode="real")
        try:
            return _first_sync_only(world, Worker(world.env, log), system, n, args.latency_scale, label, args)
        finally:
            stack.sb.latency(False)

    def limits(worker: Worker, enabled: bool) -> None:
        world.rate_limits(enabled, scale if enabled else 1.0)
        worker.limits(args.clock, scale if enabled else 1.0, enabled)

    worker = Worker(world.env, log)
    try:
        limits(worker, True)
        _progress(f"{label}: first sync, rate limits on, {clock_words(args.clock, scale)}")
        first = first_sync(world, worker, args.clock, scale, args.max_invocations, args.first_sync_budget)
        result = Result(system, n, first)
        steady_ok = first.done
        if not first.done:
            result.notes.append(
                f"{label}: first sync NOT done after {len(first.cycles)} invocations "
                f"({first.real_seconds:.0f} s real): {first.linked[1]:,}/{n:,} cards, "
                f"{first.linked[0]:,}/{n:,} leads linked; " + describe_progress(first)
            )
            _progress(f"{label}: finishing the first sync with rate limits off")
            limits(worker, False)
            steady_ok = finish_unlimited(world, worker, first, args.max_invocations, args.finish_budget)
            result.notes.append(
                f"{label}: with rate limits off it "
                + ("finished" if steady_ok else "still did not finish")
                + f" after {first.finished_unlimited} more invocations"
            )
            limits(worker, True)
        rss_first = max((c.maxrss_kb for c in first.cycles), default=0)
        result.notes.append(f"{label}: handler process peak RSS over the first sync: {rss_first / 1024:.0f} MB")
        if first.cycles and not first.cycles[-1].rss_per_cycle:
            result.notes.append(f"{label}: RSS peaks could not be reset per cycle: they are process-lifetime peaks")
        if steady_ok:
            _progress(f"{label}: no-change cycles, rate limits on")
            # the first cycles still re-read what the first sync's last minutes wrote (the 2-minute overlap)
            cycles = [run_cycle(world, worker) for _ in range(SETTLING_CYCLES + args.cycles)]
            result.steady = cycles[SETTLING_CYCLES:]
    finally:
        worker.close()
    if not steady_ok:
        result.notes.append(f"{label}: no steady state reached; no-change figures not measured")
        return result

    _progress(f"{label}: CPU and memory, rate limits off, fresh handler process")
    world.rate_limits(False, 1.0)
    worker = Worker(world.env, log)
    try:
        worker.limits(args.clock, 1.0, False)
        result.cold = run_cycle(world, worker)
        result.warm = [run_cycle(world, worker) for _ in range(args.cycles)]
        result.traced = run_cycle(world, worker, trace=True)
        stack.sb.clock.advance(61 * 60)  # past the default full_sweep_minutes (60)
        result.sweep = run_cycle(world, worker)
    finally:
        worker.close()
    for cycle in [*result.steady, result.cold, *result.warm, result.traced]:
        if cycle is not None and cycle.changed:
            result.notes.append(f"{label}: a cycle meant to be no-change applied {cycle.summary['applied']}")
            break
    if not all(c.clock_ok for c in first.cycles):
        result.notes.append(f"{label}: some rate-limit buckets did not run on the bench's clock")
    return result


def _first_sync_only(
    world: World, worker: Worker, system: str, n: int, scale: float, label: str, args: argparse.Namespace
) -> Result:
    try:
        world.rate_limits(True, scale)
        worker.limits("scaled", scale, True)  # real time (x scale): the virtual clock cannot overlap latency
        _progress(f"{label}: first sync, rate limits and latency on, {clock_words('scaled', scale)}")
        first = first_sync(world, worker, "scaled", scale, args.max_invocations, args.latency_budget, True)
    finally:
        worker.close()
    result = Result(system, n, first)
    if not first.done:
        result.notes.append(
            f"{label}: first sync NOT done after {len(first.cycles)} invocations: "
            f"{first.linked[1]:,}/{n:,} cards; " + describe_progress(first)
        )
    if not all(c.clock_ok for c in first.cycles):
        result.notes.append(f"{label}: some rate-limit buckets did not run on the bench's clock")
    return result


def describe_progress(first: FirstSync) -> str:
    """Cards per invocation and requests per invocation, to show where an unfinished sync stands."""
    if not first.cycles:
        return "no invocation ran"
    cards = [b - a for (_, a), (_, b) in zip([(0, 0), *first.progress[:-1]], first.progress, strict=True)]
    last = first.cycles[-1]
    return (
        f"cards created per invocation: first {cards[0]}, last {cards[-1]}, mean {statistics.mean(cards):.0f}; "
        f"last invocation: requests {_per_system(last.requests)}, {last.simulated:.0f} s simulated, "
        f"status {last.summary.get('status')}, deferred {last.summary.get('deferred')}"
    )


def clock_words(clock: str, scale: float) -> str:
    if clock == "virtual":
        return "virtual clock (waits skipped, simulated time = compute + waits)"
    return f"time x{scale:g} (sandbox time_scale and the product's clocks)"


def auto_scale(n: int) -> float:
    """Time scale for the rate-limited first sync: 1 up to 100 leads, then N / 100 capped at 50."""
    return float(min(50, max(1, round(n / 100))))


# -- reporting -----------------------------------------------------------------------------------


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _per_system(values: dict[str, int]) -> str:
    return " ".join(f"{k} {v:,}" for k, v in sorted(values.items())) or "0"


def _spread(cycles: list[Cycle], key: Any) -> str:
    values = sorted({key(c) for c in cycles})
    if not values:
        return "-"
    return str(values[0]) if len(values) == 1 else f"{values[0]}..{values[-1]}"


def _req_spread(cycles: list[Cycle], system: str) -> str:
    systems = sorted({s for c in cycles for s in c.requests} | {system, "trello"})
    parts = []
    for system in systems:
        parts.append(f"{system} {_spread(cycles, lambda c, s=system: c.requests.get(s, 0))}")
    return ", ".join(parts)


def _swept(summary: dict[str, Any]) -> str:
    """'yes' when the cycle was a full sweep and it finished (a postponed or failed one says so)."""
    if not summary.get("full_sweep"):
        return "NO"
    return "yes" if summary.get("status") == "synced" else f"NO ({summary.get('status')})"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "-+-".join("-" * w for w in widths)]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def report(results: list[Result], args: argparse.Namespace) -> str:
    lines = ["", "## No-change cycle (first sync complete + three settling cycles)", ""]
    rows = []
    for r in results:
        if r.first.latency:
            continue
        warm_cpu = statistics.median(c.cpu for c in r.warm) if r.warm else math.nan
        rows.append(
            [
                r.system,
                f"{r.n:,}",
                _req_spread(r.steady, r.system),
                _spread(r.steady, lambda c: c.dynamodb_calls),
                " ".join(f"{k}:{v}" for k, v in sorted(r.steady[-1].dynamodb.items())) if r.steady else "-",
                f"{warm_cpu:.3f}",
                f"{r.cold.cpu:.3f}" if r.cold else "-",
                f"{max(c.maxrss_kb for c in [r.cold, *r.warm] if c) / 1024:.0f}" if r.warm else "-",
                f"{r.traced.traced_peak / MB:.1f}" if r.traced and r.traced.traced_peak else "-",
            ]
        )
    lines.append(
        table(
            [
                "tracker",
                "N",
                "requests/cycle",
                "DDB calls",
                "DDB calls by operation",
                "CPU s warm",
                "CPU s cold",
                "peak RSS MB",
                "heap peak MB",
            ],
            rows,
        )
    )
    lines += ["", "## First sync (rate limits on)", ""]
    rows = []
    for r in results:
        f = r.first
        bound, which = f.bound()
        state = "done" if f.done else f"NOT done ({f.linked[1]:,}/{r.n:,} cards)"
        wall = sum(c.wall for c in f.cycles)
        cpu = sum(c.cpu for c in f.cycles)
        rows.append(
            [
                r.system,
                f"{r.n:,}",
                "virtual" if f.clock == "virtual" else f"x{f.scale:g}",
                "on" if f.latency else "off",
                f"{len(f.cycles)} {state}",
                _per_system(f.total("requests")),
                _per_system(f.total("throttled")),
                f"{f.active_seconds:,.0f}",
                f"{f.span_seconds:,.0f}",
                f"{bound:,.0f} ({which})",
                f"{f.active_seconds / bound:.2f}" if bound else "-",
                f"{sum(c.dynamodb_calls for c in f.cycles):,}",
                f"{cpu:.1f} ({cpu / max(1e-9, wall):.0%})",
                f"{f.real_seconds:.0f}",
            ]
        )
    lines.append(
        table(
            [
                "tracker",
                "N",
                "clock",
                "latency",
                "invocations",
                "requests",
                "429s",
                "active s",
                "span s",
                "bound s",
                "active/bound",
                "DDB calls",
                "CPU s (busy)",
                "real s",
            ],
            rows,
        )
    )
    lines += ["", "## First sync: latency off and on", ""]
    lines.append(latency_table(results))
    lines += ["", "## Hourly full sweep with no changes (rate limits off)", ""]
    rows = [
        [
            r.system,
            f"{r.n:,}",
            _per_system(r.sweep.requests),
            str(r.sweep.dynamodb_calls),
            f"{r.sweep.cpu:.3f}",
            f"{r.sweep.wall:.2f}",
            f"{r.sweep.maxrss_kb / 1024:.0f}",
            _swept(r.sweep.summary),
        ]
        for r in results
        if r.sweep is not None and not r.first.latency
    ]
    lines.append(table(["tracker", "N", "requests", "DDB calls", "CPU s", "wall s", "peak RSS MB", "swept"], rows))
    lines += ["", "Notes:"]
    lines += [f"- {note}" for r in results for note in r.notes]
    lines += [f"- {line}" for line in legend(args.clock)]
    return "\n".join(lines)


def share_of_bound(first: FirstSync) -> str:
    """bound s / active s as a percentage: 100 % runs exactly at the busiest system's documented limit."""
    bound, _ = first.bound()
    if not first.done:
        return "NOT done"
    return f"{bound / first.active_seconds:.0%}" if first.active_seconds else "-"


def latency_table(results: list[Result]) -> str:
    """One row per tracker and N: the first sync with latency off beside the same with latency on."""
    runs: dict[tuple[str, int], dict[bool, FirstSync]] = {}
    for r in results:
        runs.setdefault((r.system, r.n), {})[r.first.latency] = r.first
    rows = []
    for (system, n), by_latency in runs.items():
        row = [system, f"{n:,}"]
        for latency in (False, True):
            f = by_latency.get(latency)
            if f is None:
                row += ["-"] * 4
                continue
            row += [
                f"{len(f.cycles)}" + ("" if f.done else " NOT done"),
                _per_system(f.total("requests")),
                str(sum(f.total("throttled").values())),
                share_of_bound(f),
            ]
        rows.append(row)
    headers = ["tracker", "N"]
    for words in ("off", "on"):
        headers += [f"{words}: invocations", f"{words}: requests", f"{words}: 429s", f"{words}: share of bound"]
    return table(headers, rows)


def legend(clock: str) -> list[str]:
    if clock == "virtual":
        time_line = (
            "clock virtual: the product's waits (rate-limit buckets, Retry-After, backoff) are skipped and the"
            " sandbox's shared clock is moved forward by each skipped wait, so its rate-limit windows see that time"
            " pass; simulated time = real compute and I/O + skipped waits. 'active s' and 'span s' are simulated."
        )
    else:
        time_line = (
            "clock xS: the sandbox's rate-limit windows (its time_scale) and the product's clocks (rate-limit"
            " buckets, Lambda context, deadline) run S times faster than real time; simulated = real x S, compute"
            " included (so a CPU-bound run looks S times slower than it is)."
        )
    return [
        "requests/cycle: HTTP requests each emulator served in one no-change cycle (min..max over the cycles).",
        "DDB calls: DynamoDB API calls the handler process made in the cycle (botocore calls counted in it).",
        "CPU s: time.process_time() of the handler process for one cycle (the emulators run in the bench process,"
        " moto in its own); cold = first invocation of a fresh process (after its imports), warm = median of the"
        " next ones.",
        "peak RSS MB: the handler process's resident-set peak (VmHWM, reset before each cycle through"
        " /proc/self/clear_refs) over its cold and warm cycles: imports and pools included, as Lambda memory;"
        " heap peak MB: tracemalloc peak during one warm cycle (Python allocations only).",
        time_line,
        "active s: sum over the first sync's invocations of their simulated duration (time inside invocations);"
        " span s: (invocations - 1) x 60 s + the last invocation (EventBridge ticks every minute).",
        "bound s: max over systems of (requests the product sent to that system during the first sync / its"
        " documented rate: "
        + ", ".join(f"{k} {v:g}/s" for k, v in DOCUMENTED_RATES.items())
        + " for reads and for writes separately); active/bound: how close the first sync runs to that limit.",
        "latency on: every emulator answers after a delay drawn (seeded) from its system's realistic read/write"
        " latency (docs/sandbox.md, Latency), and the first sync runs in real time (x --latency-scale, default 1)"
        " whatever --clock says: a virtual clock cannot overlap the latency of answers in flight together (a"
        " measured 36 % of the bound where real time gives 85 %: docs/benchmark.md).",
        "share of bound: bound s / active s (the first sync's share of what the documented limits allow);"
        " latency off beside latency on, for the engine settings printed at the top.",
        "CPU s (busy): handler CPU over the whole first sync, and its share of the handler's real wall time.",
        f"Lambda timeout {LAMBDA_TIMEOUT:g} s (simulated), the engine's own safety margin inside it.",
    ]


def static_section(args: argparse.Namespace) -> str:
    from bench_static import import_seconds, package_size

    lines = ["", "## Handler", ""]
    modes = ((True, "as in Lambda: runtime variables set, tracing on"), (False, "locally: tracing off"))
    for lambda_env, words in modes:
        seconds, top = import_seconds(args.import_runs, lambda_env)
        runs = f"fresh interpreter, median of {args.import_runs}"
        lines.append(f"import handlers.scheduled_sync ({words}; {runs}): {seconds:.3f} s")
        slowest = ", ".join(f"{name} {t:.3f} s" for name, t in top)
        lines.append(f"  slowest third-party packages (cumulative, nested ones also inside their importer): {slowest}")
    if args.no_package:
        lines.append("package size: skipped (--no-package)")
    else:
        lines.append(f"package size: {package_size().describe()}")
        lines.append(f"  Sheets layer (deployed while SheetsSupport=true): {package_size('sheets').describe()}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated N (default 100,1000,10000)")
    parser.add_argument("--trackers", default="", help="lead trackers to run (default: every one available)")
    parser.add_argument("--clock", choices=("virtual", "scaled"), default="virtual", help="how waits pass (see docs)")
    parser.add_argument("--scale", default="auto", help="--clock scaled: time scale, or 'auto' (N/100, 1..50)")
    parser.add_argument(
        "--all-trackers-up-to", type=int, default=10_000, help="larger N run Notion only (default 10000)"
    )
    parser.add_argument("--max-invocations", type=int, default=150, help="cap on first-sync invocations")
    parser.add_argument("--first-sync-budget", type=float, default=900.0, help="cap on real seconds per first sync")
    parser.add_argument(
        "--latency-budget",
        type=float,
        default=5400.0,
        help="cap on real seconds per first sync with latency on (it runs in real time; default 5400)",
    )
    parser.add_argument(
        "--finish-budget", type=float, default=120.0, help="real seconds to finish an unfinished first sync unlimited"
    )
    parser.add_argument(
        "--latency",
        choices=("off", "on", "both"),
        default="both",
        help="first syncs without and/or with realistic API latency in the sandbox (default both)",
    )
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=1.0,
        help="latency on: the first sync runs on real time x this (default 1; whatever --clock says, see docs)",
    )
    parser.add_argument("--cycles", type=int, default=3, help="no-change cycles measured per mode (default 3)")
    parser.add_argument("--import-runs", type=int, default=3, help="fresh interpreters timed for the import")
    parser.add_argument("--no-package", action="store_true", help="skip the package size (pip install can be slow)")
    parser.add_argument("--fanout-only", action="store_true", help="run only the fan-out simulation")
    parser.add_argument("--no-fanout", action="store_true", help="skip the fan-out simulation")
    parser.add_argument(
        "--engine-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the handler's environment (repeatable), e.g. an engine tunable such as its write concurrency",
    )
    parser.add_argument(
        "--pair-option",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="merged into the bench pair's config (repeatable), e.g. a per-pair tunable",
    )
    parser.add_argument(
        "--write-concurrency",
        type=int,
        default=None,
        metavar="W",
        help="units a cycle applies at once (LEADSYNC_WRITE_CONCURRENCY; 1: sequential; default: from the limits)",
    )
    bench_fanout.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        args.engine_env = engine_env(args.engine_env)
        args.pair_options = pair_options(args.pair_option)
    except ValueError as exc:
        parser.error(str(exc))
    if args.write_concurrency is not None:  # the handler processes inherit it (bench_world.World.env)
        os.environ["LEADSYNC_WRITE_CONCURRENCY"] = str(args.write_concurrency)
    print(f"write concurrency: {os.environ.get('LEADSYNC_WRITE_CONCURRENCY', 'from the rate limits')}")
    if args.fanout_only:
        return run_fanout(args)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    available = lead_trackers()
    wanted = [t for t in args.trackers.split(",") if t] or list(available)
    missing = [t for t in wanted if t not in available]
    if missing:
        parser.error(f"lead trackers not available (connector or e2e world missing): {missing}")

    print(f"leadsync benchmark: sizes {sizes}, lead trackers {wanted} <-> trello")
    print(f"engine settings: {settings_words(args)}")
    print("rate limits enforced by the sandbox: " + "; ".join(f"{k} {RATE_NOTES[k]}" for k in [*wanted, "trello"]))
    stack = Stack()
    results: list[Result] = []
    try:
        for n in sizes:
            for system in wanted:
                if n > args.all_trackers_up_to and system != "notion" and len(wanted) > 1:
                    continue
                for latency in {"off": (False,), "on": (True,), "both": (False, True)}[args.latency]:
                    results.append(bench_world(stack, system, available[system], n, args, latency))
    finally:
        stack.stop()
    print(report(results, args))
    print(static_section(args))
    print(f"\nworker logs: {stack.workdir}")
    return 0 if args.no_fanout else run_fanout(args)


def engine_env(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (--engine-env) as a dict."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--engine-env {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def pair_options(items: list[str]) -> dict[str, Any]:
    """``KEY=JSON`` strings (--pair-option) as a dict; a value that is not JSON is kept as a string."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--pair-option {item!r}: expected KEY=JSON")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def settings_words(args: argparse.Namespace) -> str:
    """The engine settings of this run as the report's header says them (the defaults when none given)."""
    parts = [f"{k}={v}" for k, v in sorted(args.engine_env.items())]
    parts += [f"pair {k}={json.dumps(v)}" for k, v in sorted(args.pair_options.items())]
    return ", ".join(parts) or "the engine's defaults (writes at once: the width from the rate limits, up to 8)"


def run_fanout(args: argparse.Namespace) -> int:
    """The fan-out simulation (``bench_fanout``), sized by its own flags."""
    started = time.perf_counter()
    print(bench_fanout.report(bench_fanout.run(bench_fanout.sizes_from(args))))
    print(f"\nfan-out run: {time.perf_counter() - started:.0f} s real")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
