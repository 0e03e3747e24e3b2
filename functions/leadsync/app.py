"""What an invocation does, over the same engine: one pair's cycle (``sync_pair``), every pair
in one process (``run_scheduled``: the single-function handler and ``leadsync plan``), and the
fan-out's two halves (``leadsync.fanout``: the dispatcher enqueues one message per pair, the
worker's ``PairWorker.run`` runs ``sync_pair``; ``leadsync sync`` calls that same entry per pair)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import leadsync.engine
from leadsync.config import PairConfig, Settings
from leadsync.connectors.deadline import Deadline
from leadsync.credentials import Credentials, load_credentials
from leadsync.engine import CycleReport, Engine
from leadsync.errors import ConfigError
from leadsync.observability import COUNT, logger, metrics
from leadsync.state.base import StateStore
from leadsync.webhooks.upkeep import refresh_airtable
from leadsync.wiring import build_runtime, build_store, load_sync_config

MIN_SECONDS_FOR_A_PAIR = 5.0


def sync_pair(
    pair: PairConfig,
    settings: Settings,
    creds: Credentials,
    store: StateStore,
    deadline: Deadline,
    owner: str,
    *,
    dry_run: bool | None = None,
    allow_deletions: bool = False,
) -> CycleReport:
    """One cycle of one pair: the unit of work of every entry point. Never raises: a pair that
    cannot run (a bad setting, a missing credential, a bug) is a failed report, counted in
    ``SyncErrors``; ``allow_deletions`` is the operator's confirmation of a held mass deletion
    (a full sweep with the guard lifted, this once)."""
    logger.append_keys(pair=pair.id)
    logger.set_correlation_id(f"{pair.id}:{owner}")
    try:
        runtime = build_runtime(pair, settings, creds, deadline)
    except ConfigError as exc:
        logger.error("pair not runnable", extra={"error": str(exc)})
        return _failed(pair.id, str(exc))
    except Exception as exc:  # one pair's bad setting or value never stops the other pairs
        logger.exception("pair not runnable")
        return _failed(pair.id, f"pair {pair.id}: not runnable: {type(exc).__name__}: {exc}")
    dry = settings.dry_run if dry_run is None else dry_run
    report = Engine(store, write_concurrency=settings.write_concurrency).sync(
        runtime, deadline, owner, dry_run=dry, full_sweep=allow_deletions, allow_deletions=allow_deletions
    )
    if not dry and report.status != "failed":
        refresh_airtable(pair, settings, creds, deadline, leadsync.engine.utcnow())  # 7-day webhooks kept alive
    return report


def run_scheduled(
    context: Any,
    *,
    settings: Settings | None = None,
    dry_run: bool | None = None,
    with_activity: bool = False,
    allow_deletions: Collection[str] = (),
) -> dict[str, Any]:
    """Sync every pair once, in this process. Configuration errors raise (the invocation fails
    and alarms); a pair that fails, whatever the reason, is reported and the others still run.

    ``allow_deletions`` names pairs whose held mass deletion the operator confirmed.
    """
    settings = settings or Settings.from_env()
    config = load_sync_config(settings)
    unknown = sorted(set(allow_deletions) - {p.id for p in config.pairs})
    if unknown:
        raise ConfigError([f"--allow-deletions names pairs that are not configured: {unknown}"])
    creds = load_credentials(settings.secret_arn)
    store = build_store(settings)
    deadline = Deadline.from_lambda_context(context, margin_seconds=settings.safety_margin_seconds)
    owner = str(getattr(context, "aws_request_id", "local"))
    reports: list[CycleReport] = []
    for pair in config.pairs:
        if deadline.remaining() < MIN_SECONDS_FOR_A_PAIR:
            logger.warning("no time left for this pair; it runs next invocation", extra={"pair": pair.id})
            reports.append(CycleReport(pair.id, status="no_time"))
            continue
        confirmed = pair.id in allow_deletions
        reports.append(
            sync_pair(pair, settings, creds, store, deadline, owner, dry_run=dry_run, allow_deletions=confirmed)
        )
    logger.remove_keys(["pair"])
    return results(reports, with_activity=with_activity)


def results(reports: list[CycleReport], *, with_activity: bool = False) -> dict[str, Any]:
    """The invocation's answer: each pair's summary, and with ``with_activity`` (the CLI's readouts)
    what it did, planned and why it failed."""
    if with_activity:
        return {
            "pairs": {
                r.pair: {**r.summary(), "activity": r.activity, "plan": r.plan, "error_messages": r.errors}
                for r in reports
            }
        }
    return {"pairs": {r.pair: r.summary() for r in reports}}


def _failed(pair_id: str, error: str) -> CycleReport:
    """The report of a pair that could not run; its error is counted in ``SyncErrors`` like any other."""
    metrics.add_metric(name="SyncErrors", unit=COUNT, value=1)
    return CycleReport(pair_id, status="failed", errors=[error])
