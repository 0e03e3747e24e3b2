"""`make soak`: randomized fault/crash/overlap scenarios per lead tracker, with a summary table.

    python infra/soak.py --scenarios 200 [--trackers notion,airtable,sheets] [--seed S]
                         [--steps 24] [--store sqlite|dynamodb] [--spare-creates]
                         [--spare-token-endpoint] [--no-hostile] [--workers 2] [--fanout N]
                         [--latency realistic|fixed:S|lognormal:MEDIAN:P95] [--write-concurrency W]

Each scenario (tests/soak/model.py) drives the real handler against the sandbox: people edit both
sides, cycles run under random faults, get killed at a random call, or overlap with a second
invocation; then faults stop and two clean cycles must converge with no duplicate and no lost edit.
Hostile edits are on unless ``--no-hostile`` (tests/soak/hostile.py): hand-made cards with foreign,
malformed and copied markers, lead link fields overwritten with garbage, the pair pointed at another
tracker for a few cycles; the summary counts foreign reads/writes and mass archives (both must be 0).
Scenario i of a tracker uses seed S + i, so any failure replays with ``--seed <its seed>
--scenarios 1 --trackers <tracker> --verbose``. ``--latency`` makes the emulators answer with API latency
on the sandbox's virtual clock (sandbox/latency.py; seeded by the scenario seeds). Exits 1 on any violation.
``--write-concurrency W`` pins the units a cycle applies at once (1: one at a time; default: the
engine's width from the rate limits, several at once): a crash then often comes while other writes are
in flight (the ``in_flight`` column counts those crashes).
``--fanout N`` runs every cycle through the dispatcher and worker handlers (moto SQS), with N
bystander pairs working in other threads at the same time (tests/soak/fanout.py); state in DynamoDB.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "functions", ROOT / "infra"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

KINDS = ("429", "500", "502", "503", "timeout", "drop", "malformed", "truncated", "lost_response")


def _run_chunk(
    tracker: str,
    seeds: list[int],
    steps: int,
    store: str,
    spare: bool,
    token: bool,
    hostile: bool,
    latency: str | None = None,
    fanout: int = 0,
    webhooks: bool = False,
    write_concurrency: int | None = None,
) -> list[object]:
    """Run some scenarios in this process, on one sandbox (a worker of the pool)."""
    warnings.simplefilter("ignore")
    if write_concurrency is not None:
        import leadsync.engine

        leadsync.engine.WRITE_CONCURRENCY = write_concurrency
    from sandbox.latency import latency_settings
    from tests.soak.env import SoakEnvironment
    from tests.soak.model import run_scenario

    settings = latency_settings(latency, seeds[0] if seeds else None, mode="virtual")
    with SoakEnvironment.start(quiet=True, store=store, latency=settings, fanout=fanout) as env:
        return [
            run_scenario(
                env,
                tracker,
                seed,
                steps,
                spare_creates=spare,
                fault_token_endpoint=token,
                hostile=hostile,
                webhooks=webhooks,
            )
            for seed in seeds
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", type=int, default=200, help="scenarios per lead tracker")
    parser.add_argument("--trackers", default=None, help="comma list (default: every available one)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the first scenario")
    parser.add_argument("--steps", type=int, default=24, help="random steps per scenario")
    parser.add_argument("--store", choices=("sqlite", "dynamodb"), default="sqlite", help="state store")
    parser.add_argument("--spare-creates", action="store_true", help="no ambiguous faults on POST requests")
    parser.add_argument(
        "--spare-token-endpoint",
        dest="fault_token_endpoint",
        action="store_false",
        help="no faults on Google's token endpoint (they are on by default)",
    )
    parser.add_argument(
        "--no-hostile",
        dest="hostile",
        action="store_false",
        help="no hostile edits (foreign/malformed/copied markers, garbled link fields, config pointed away)",
    )
    parser.add_argument(
        "--latency",
        default=None,
        help="emulators answer with API latency (virtual clock): realistic, fixed:SECONDS or lognormal:MEDIAN:P95",
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="Trello webhook calls (dropped, duplicated, reordered) drive hinted cycles between the others",
    )
    parser.add_argument(
        "--write-concurrency",
        type=int,
        default=None,
        metavar="W",
        help="units a cycle applies at once (1: sequential; default: derived from the rate limits)",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes (each with its own sandbox)")
    parser.add_argument(
        "--fanout",
        type=int,
        default=0,
        metavar="N",
        help="cycles through the dispatcher and worker handlers, with N bystander pairs at once",
    )
    parser.add_argument("--verbose", action="store_true", help="print the steps of every failing scenario")
    args = parser.parse_args(argv)
    from sandbox.latency import latency_settings

    try:
        latency_settings(args.latency)
    except ValueError as exc:
        parser.error(f"--latency: {exc}, or realistic, or off")

    from tests.soak.env import LEAD_TRACKERS

    trackers = args.trackers.split(",") if args.trackers else sorted(LEAD_TRACKERS)
    unknown = [t for t in trackers if t not in LEAD_TRACKERS]
    if unknown:
        parser.error(f"unknown or unavailable lead trackers {unknown}; available: {sorted(LEAD_TRACKERS)}")
    print(
        f"soak: {args.scenarios} scenario(s) x {len(trackers)} tracker(s), {args.steps} steps, seeds from "
        f"{args.seed}, state in {'dynamodb' if args.fanout else args.store}"
        f"{', no ambiguous faults on POST' if args.spare_creates else ''}"
        f"{', hostile edits' if args.hostile else ', no hostile edits'}"
        f"{f', latency {args.latency}' if args.latency else ''}"
        f"{f', fan-out with {args.fanout} bystander pairs' if args.fanout else ''}"
        f"{', webhooks (deliveries dropped, duplicated, reordered)' if args.webhooks else ''}",
        flush=True,
    )
    rows, failures = [], []
    for tracker in trackers:
        seeds = list(range(args.seed, args.seed + args.scenarios))
        chunks = [seeds[i :: args.workers] for i in range(args.workers) if seeds[i :: args.workers]]
        started = time.monotonic()
        with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
            futures = [
                pool.submit(
                    _run_chunk,
                    tracker,
                    chunk,
                    args.steps,
                    args.store,
                    args.spare_creates,
                    args.fault_token_endpoint,
                    args.hostile,
                    args.latency,
                    args.fanout,
                    args.webhooks,
                    args.write_concurrency,
                )
                for chunk in chunks
            ]
            outcomes = [o for f in futures for o in f.result()]
        elapsed = time.monotonic() - started
        faults: Counter[str] = Counter()
        hostile: Counter[str] = Counter()
        hooks: Counter[str] = Counter()
        for o in outcomes:
            faults.update(o.faults)  # type: ignore[attr-defined]
            hostile.update(o.hostile)  # type: ignore[attr-defined]
            hooks.update(o.webhook)  # type: ignore[attr-defined]
        bad = [o for o in outcomes if o.violations]  # type: ignore[attr-defined]
        failures += bad
        rows.append(
            {
                "tracker": tracker,
                "scenarios": len(outcomes),
                "steps": sum(o.steps for o in outcomes),  # type: ignore[attr-defined]
                "cycles": sum(o.cycles for o in outcomes),  # type: ignore[attr-defined]
                "faults": faults,
                "crashes": sum(o.crashes for o in outcomes),  # type: ignore[attr-defined]
                "in_flight": sum(o.crashes_in_flight for o in outcomes),  # type: ignore[attr-defined]
                "overlaps": sum(o.overlaps for o in outcomes),  # type: ignore[attr-defined]
                "violations": sum(len(o.violations) for o in bad),  # type: ignore[attr-defined]
                "hostile": hostile,
                "away": sum(o.away_cycles for o in outcomes),  # type: ignore[attr-defined]
                "foreign": sum(o.foreign for o in outcomes),  # type: ignore[attr-defined]
                "mass": sum(o.mass_archives for o in outcomes),  # type: ignore[attr-defined]
                "held": sum(o.held for o in outcomes),  # type: ignore[attr-defined]
                "max_arch": max((o.most_archived for o in outcomes), default=0),  # type: ignore[attr-defined]
                "failed": len(bad),
                "time": elapsed,
                "approve": sum(1 for o in outcomes if o.approve),  # type: ignore[attr-defined]
                "waited": sum(o.pending for o in outcomes),  # type: ignore[attr-defined]
            }
        )
        print(f"  {tracker}: {len(outcomes)} scenarios in {elapsed:.0f}s, {len(bad)} failing", flush=True)
        if args.webhooks:
            hinted = sum(o.hinted for o in outcomes)  # type: ignore[attr-defined]
            print(f"    webhooks: {hinted} hinted cycles; calls {dict(sorted(hooks.items()))}", flush=True)
    _print_table(rows)
    for row in rows:  # approve mode: no card archived without approval (a violation otherwise)
        print(f"  {row['tracker']}: {row['approve']} approve-mode scenarios, {row['waited']} deletions waited")
    if args.hostile:
        _print_hostile(rows)
    if failures:
        _print_failures(failures, args)
        return 1
    print("no violations")
    return 0


def _print_table(rows: list[dict[str, object]]) -> None:
    header = ["tracker", "scenarios", "steps", "cycles", "crashes", "in_flight", "overlaps", "violations", "failed"]
    header += ["time"]
    header += [f"f:{k}" for k in KINDS] + ["faults"]
    lines = [header]
    for row in rows:
        faults: Counter[str] = row["faults"]  # type: ignore[assignment]
        cells = [str(row[k]) if k != "time" else f"{row[k]:.0f}s" for k in header[:10]]
        cells += [str(faults.get(k, 0)) for k in KINDS] + [str(sum(faults.values()))]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    for line in lines:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))
    print()


HOSTILE = ("card:foreign", "card:malformed", "card:duplicate", "lead:garbled", "lead:foreign card", "pointed away")


def _print_hostile(rows: list[dict[str, object]]) -> None:
    """Hostile edits made, cycles run pointed away, and the two hostile invariants (both must be 0)."""
    header = ["tracker", *(f"h:{k.replace(' ', '_')}" for k in HOSTILE), "away_cycles", "held", "max_arch"]
    header += ["foreign", "mass_archives"]
    lines = [header]
    for row in rows:
        hostile: Counter[str] = row["hostile"]  # type: ignore[assignment]
        cells = [str(row["tracker"]), *(str(hostile.get(k, 0)) for k in HOSTILE)]
        cells += [str(row[k]) for k in ("away", "held", "max_arch", "foreign", "mass")]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))
    print()


def _print_failures(failures: list[object], args: argparse.Namespace) -> None:
    print(f"{len(failures)} failing scenario(s):")
    kinds: Counter[str] = Counter()
    for o in failures:
        for v in o.violations:  # type: ignore[attr-defined]
            kinds[v.split(":")[0]] += 1
    print("  by invariant: " + ", ".join(f"{k}={n}" for k, n in kinds.most_common()))
    for o in failures[:20]:
        print(f"\n- {o.tracker} seed {o.seed}:")  # type: ignore[attr-defined]
        for v in o.violations[:5]:  # type: ignore[attr-defined]
            print(f"    {v}")
        print(
            f"    replay: python infra/soak.py --trackers {o.tracker} --seed {o.seed} --scenarios 1 "  # type: ignore[attr-defined]
            f"--steps {args.steps} --store {args.store}{' --spare-creates' if args.spare_creates else ''}"
            f"{'' if args.fault_token_endpoint else ' --spare-token-endpoint'}"
            f"{'' if args.hostile else ' --no-hostile'}{f' --fanout {args.fanout}' if args.fanout else ''} --verbose"
        )
        if args.verbose:
            for line in o.log:  # type: ignore[attr-defined]
                print(f"      {line}")


if __name__ == "__main__":
    sys.exit(main())
