"""Commit: the backlog, the links, then ``META`` in one conditional write that releases the lease.

Links and backlog chunks are written fenced (our lease, ``META``'s version) before ``META``; the
``META`` commit checks the version and the lease, so a run that lost its lease commits nothing.
Cursors move only past records that were applied; too many failures to track one by one hold the
cursor back instead. A crash before the commit leaves the old backlog queue and cursors: the next
cycle reads the same window and skips what is already linked. What comes after the commit
(retiring backlog chunks, acknowledging rows) is harmless to lose.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from leadsync import backlog, progress
from leadsync.core import history
from leadsync.core.models import Link, Record, Side
from leadsync.cycle.working import Cycle, CycleReport, listing_key
from leadsync.errors import LeadsyncError, StaleState
from leadsync.observability import COUNT, MILLISECONDS, SECONDS, logger, metrics
from leadsync.state.base import StateStore


def commit(cycle: Cycle, store: StateStore, owner: str, full: bool, puts: list[Link], drops: list[Link]) -> None:
    """Store the applied plan's links, delete the resolved intents, then commit ``META``."""
    pair_id = cycle.pair.id
    if drops:
        store.delete_links(pair_id, drops, fence=cycle.fence)
    if puts:
        store.put_links(pair_id, puts, fence=cycle.fence)
    for intent in cycle.resolved_intents:
        store.delete_intent(pair_id, intent.token, fence=cycle.fence)
    if cycle.new_pending:
        store.put_pending(pair_id, cycle.new_pending)
    _commit_cycle(cycle, store, owner, full)


def postpone_sweep(cycle: Cycle, store: StateStore, owner: str, exc: LeadsyncError) -> None:
    """A full sweep that does not fit in one invocation is not retried every minute (which
    would stop all syncing): it is retried after ``full_sweep_minutes``, and the cycles
    in between are incremental. Nothing else in the state changes."""
    message = (
        f"pair {cycle.pair.id}: the full sweep did not fit in this invocation ({exc}); incremental cycles "
        f"go on and the sweep is tried again in {cycle.pair.config.full_sweep_minutes} minutes. Deletions "
        "that only a sweep notices wait until one fits: see docs/deploy.md (large trackers)"
    )
    logger.error(message)
    cycle.report.errors.append(message)
    cycle.report.status = "partial"
    cycle.meta.last_full_sweep = cycle.started.isoformat()  # the last attempt: see fetch.is_sweep_due
    cycle.meta.last_run = {**cycle.report.summary(), "at": cycle.started.isoformat()}
    _commit_meta(cycle, store, owner, "nothing committed")


def _commit_meta(cycle: Cycle, store: StateStore, owner: str, lost: str) -> bool:
    """Commit ``META`` and release the lease; False (the cycle failed) if the state changed under us."""
    try:
        cycle.meta = store.commit(cycle.pair.id, owner, cycle.meta, release=True)
    except StaleState as exc:
        cycle.report.status = "failed"
        cycle.report.errors.append(str(exc))
        logger.error(f"state changed under this run (lease lost?); {lost}", extra={"error": str(exc)})
        return False
    return True


def _commit_cycle(cycle: Cycle, store: StateStore, owner: str, full: bool) -> None:
    meta = cycle.meta
    held_back = False
    for side in (Side.LEAD, Side.CARD):
        pending = sorted(cycle.failed[side])
        result = cycle.fetched[side]
        if len(pending) > cycle.limits.max_pending:
            held_back = True  # too many to track one by one: read the same window again
            meta.pending[side.value] = []
        else:
            meta.pending[side.value] = pending
            if result.cursor is not None:
                meta.cursors[side.value] = result.cursor
            _keep_listing(meta.cursors, side, result.resume)
        meta.seen[side.value] = _seen_to_keep(cycle, side)
    retired = _save_backlog(cycle, store)
    complete = all(cycle.fetched[s].complete for s in (Side.LEAD, Side.CARD))
    if full and complete and not held_back and not cycle.unconfirmed:
        meta.last_full_sweep = cycle.started.isoformat()
    elif full and cycle.listing_finished and not held_back:
        # A sweep listed in parts sees no deletions (no one listing held every record); it is
        # done for now, as a sweep that does not fit (postpone_sweep): the next ones are incremental.
        meta.last_full_sweep = cycle.started.isoformat()
    if cycle.report.errors or cycle.report.deferred:
        cycle.report.status = "partial"
    cycle.report.duration_ms = cycle.report.elapsed_ms()
    _estimate(cycle.report)
    meta.last_run = {**cycle.report.summary(), "at": cycle.started.isoformat()}
    if not _commit_meta(cycle, store, owner, "nothing more committed"):
        return
    if retired:
        store.delete_backlog(cycle.pair.id, retired)
    _acknowledge(cycle)


def _keep_listing(cursors: dict[str, str], side: Side, resume: str | None) -> None:
    """Keep the token of a listing in parts under way; forget it once its last part is read.
    (Not reached when the side's records are held back: that part is listed again.)"""
    if resume is None:
        cursors.pop(listing_key(side), None)
    else:
        cursors[listing_key(side)] = resume


def _save_backlog(cycle: Cycle, store: StateStore) -> list[int]:
    """Write the new backlog queue into fresh chunks; META's commit switches to it.

    Returns the chunks to delete once META is committed. A crash before the commit leaves
    the old queue intact (records already linked are then skipped, never created twice).
    """
    meta = cycle.meta
    if not cycle.deferred_creates and not cycle.backlog_consumed:
        return []
    deferred = [backlog.encode(side, record) for (side, _), record in sorted(cycle.deferred_creates.items())]
    # What was left of the head and this cycle's deferrals go first, in shared chunks, then the
    # older chunks. Deferrals appended as chunks of their own would leave a long first sync with
    # dozens of chunks of a few entries each, more than a cycle reads (MAX_CHUNKS_PER_CYCLE).
    head, too_large = backlog.chunks([*cycle.backlog_rest, *deferred])
    for entry in too_large:  # cannot be saved whole: re-read it directly instead
        cycle.failed[Side(str(entry["side"]))].add(str(entry["id"]))
    before = cycle.report.backlog
    cycle.report.backlog = backlog.queued_after(before, cycle.backlog_entries_read, sum(len(c) for c in head))
    retired = list(cycle.backlog_consumed)
    tail = meta.backlog[len(retired) :]
    first = max([*meta.backlog, -1]) + 1
    written = list(range(first, first + len(head)))
    for seq, chunk in zip(written, head, strict=True):
        store.put_backlog(cycle.pair.id, seq, chunk, fence=cycle.fence)
    meta.backlog = [*written, *tail]
    return retired


def _acknowledge(cycle: Cycle) -> None:
    """Tell connectors that keep change markers in the system itself (Sheets) what is handled:
    the records now in sync, and the new ones saved to the backlog (committed with it, they
    are the backlog's to create; read as changed again they would only be saved again, every
    cycle, until their turn came: 10,000 rows re-read and re-saved per invocation of a first sync)."""
    for side in (Side.LEAD, Side.CARD):
        method = getattr(cycle.pair.connector(side), "acknowledge", None)
        if not callable(method):
            continue
        saved = [record_id for (s, record_id) in cycle.deferred_creates if s is side]
        done = [i for i in dict.fromkeys([*cycle.seen[side], *saved]) if i not in cycle.failed[side]]
        if done:
            try:
                method(sorted(done))
            except LeadsyncError as exc:  # harmless: those rows are read as changed next cycle
                logger.warning("could not acknowledge synced rows", extra={"error": str(exc)})


def _seen_to_keep(cycle: Cycle, side: Side) -> dict[str, str]:
    horizon = cycle.started - cycle.limits.seen_window
    entries = [
        (stamp or cycle.started, record_id, digest)
        for record_id, (digest, stamp) in cycle.seen[side].items()
        if record_id not in cycle.failed[side] and (stamp is None or stamp >= horizon)
    ]
    entries.sort(reverse=True)
    return {record_id: digest for _, record_id, digest in entries[: cycle.limits.max_seen]}


def created(report: CycleReport) -> int:
    """Records this cycle created (on either side)."""
    return sum(n for key, n in report.applied.items() if key.startswith("create_"))


def _estimate(report: CycleReport) -> None:
    """The backlog's ETA at this cycle's rate of creations (see ``leadsync.progress``)."""
    eta = progress.estimate(created(report), report.backlog, report.duration_ms / 1000)
    report.eta_seconds, report.eta_cycles = eta.eta_seconds, eta.eta_cycles


def record_history(cycle: Cycle, store: StateStore) -> None:
    """Store the cycle's activity: what it applied, its conflicts, skipped records, failures.

    Whatever the cycle's outcome (a failed cycle's changes happened all the same); never raises:
    a history that cannot be written is logged, the sync itself is not undone or failed for it.
    """
    report, pair_id = cycle.report, cycle.pair.id
    if report.status == "dry_run":
        return
    at = cycle.clock()
    items = list(cycle.history)
    items += [history.skipped(pair_id, at, problem) for problem in report.problems]
    recorded = [a.message for a in items if a.kind == "failed"]
    items += [history.error(pair_id, at, e) for e in report.errors if not any(m.startswith(e) for m in recorded)]
    if not items:
        return
    try:
        store.put_activity(pair_id, items, timedelta(days=cycle.pair.config.history_days))
    except Exception as exc:  # the sync is done; only its history is missing
        logger.warning("could not store the cycle's history", extra={"error": str(exc), "items": len(items)})


def emit(report: CycleReport, cycle: Cycle | None) -> None:
    """The cycle's summary line and metrics (every cycle, whatever its status)."""
    if report.backlog and report.eta_seconds is None and report.eta_cycles is None:
        _estimate(report)
    message = "cycle finished"
    if report.backlog:
        message += (
            f"; {report.backlog} records wait to be created, {progress.describe_eta(report.eta_seconds)} to go"
            f" ({report.eta_cycles if report.eta_cycles is not None else '?'} cycles) at this cycle's rate"
        )
    logger.info(message, extra={"summary": report.summary()})
    if progress.listening():
        elapsed = report.duration_ms / 1000
        progress.publish(progress.Progress(report.pair, created(report), report.backlog, elapsed))
    metrics.add_metric(name="BacklogRemaining", unit=COUNT, value=report.backlog)
    metrics.add_metric(name="RecordsRead", unit=COUNT, value=sum(report.read.values()))
    metrics.add_metric(name="OperationsApplied", unit=COUNT, value=sum(report.applied.values()))
    metrics.add_metric(name="Conflicts", unit=COUNT, value=report.conflicts)
    metrics.add_metric(name="SyncErrors", unit=COUNT, value=len(report.errors))
    metrics.add_metric(name="CycleDurationMs", unit=MILLISECONDS, value=report.duration_ms)
    if cycle is not None:
        changed = [*cycle.records[Side.LEAD].values(), *cycle.records[Side.CARD].values()]
        lag = _lag_seconds(changed, cycle.clock())
        if lag is not None:
            metrics.add_metric(name="SyncLagSeconds", unit=SECONDS, value=lag)


def _lag_seconds(records: Iterable[Record], now: datetime) -> float | None:
    """Age of the oldest edit handled this cycle (how far behind the sync runs)."""
    stamps = [r.updated_at for r in records if r.updated_at is not None]
    return max(0.0, (now - min(stamps)).total_seconds()) if stamps else None
