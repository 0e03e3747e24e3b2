"""Apply: run the plan's units, several at once (``concurrent``), stopping with a margin before the deadline.

A creation writes an intent first (fenced: a run that lost its lease stops there), creates the
record carrying the link marker, stores the link, deletes the intent, then writes the marker back
(``markers``), so a crash at any line can never create a record twice. A unit that fails is logged
and its records are re-read next cycle; the rest goes on. A unit the deadline leaves no time for is
deferred (a creation's source goes to the backlog). The mass-deletion guard keeps back every
archive of a plan that would archive more than the pair's limit.

Units run on up to ``write_width`` threads: each unit's operations stay in order on one thread,
units touching the same record never overlap, and the outcomes are gathered on the calling thread
(``concurrent``; the guarantees are argued in docs/reliability.md).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import replace

from leadsync.connectors.ratelimit import DEFAULT_WRITE_SECONDS, TYPICAL_WRITE_SECONDS
from leadsync.core import history
from leadsync.core.fingerprint import fingerprint
from leadsync.core.guards import Held, hold_mass_deletions
from leadsync.core.models import Intent, Link, Record, Side
from leadsync.core.operations import Archive, Create, Plan, SetMarker, Unit, Update
from leadsync.cycle import concurrent, meter
from leadsync.cycle.markers import marker_not_written, queue_marker, remember_marker, write_markers
from leadsync.cycle.working import Cycle
from leadsync.errors import ApiError, DeadlineExceeded, LeadsyncError, RetryableError, StaleState
from leadsync.observability import logger
from leadsync.state.base import StateStore


def guard_deletions(cycle: Cycle, the_plan: Plan, links: list[Link], full: bool) -> tuple[Plan, Held]:
    """Keep back every archive of a plan that would archive more than the pair's limit.

    The rest of the plan runs. The held records are found again by the next sweep, and held
    again, until the operator confirms (``allow_deletions``) or raises the limit.
    """
    pair = cycle.pair
    known = len(links) if full else max(cycle.meta.link_count, len(links))
    if full:
        cycle.meta.link_count = len(links)
    limit = pair.config.deletion_limit(known)
    kept, held = hold_mass_deletions(the_plan, limit)
    if not held.units:
        return the_plan, held
    if cycle.allow_deletions:
        logger.warning(
            "mass deletion confirmed by the operator",
            extra={"pair": pair.id, "deletions": held.count, "limit": limit},
        )
        return the_plan, Held(limit=limit)
    message = (
        f"pair {pair.id}: this cycle would archive or delete {held.count} records, more than the limit of "
        f"{limit} (max_deletions_per_cycle); none was archived or deleted, everything else was synced. "
        f"If these deletions are meant, run `python -m leadsync sync --allow-deletions {pair.id}` or raise "
        "max_deletions_per_cycle; if not, check the trackers and the pair's configuration (an emptied or "
        "re-pointed database, table, sheet or board?)"
    )
    logger.error(message, extra={"examples": [op.describe() for u in held.units[:5] for op in u.ops]})
    cycle.report.errors.append(message)
    cycle.report.held_deletions = held.count
    why = f"mass-deletion guard, more than {limit} this cycle; `sync --allow-deletions {pair.id}` confirms"
    cycle.history += [item for unit in held.units for item in history.held(pair.id, cycle.clock(), unit, why)]
    for unit in held.units:  # read again by the next sweep, not skipped as already seen
        for side, record_id in ((Side.LEAD, unit.lead_id), (Side.CARD, unit.card_id)):
            if record_id:
                cycle.seen[side].pop(record_id, None)
    return kept, held


def reserve(cycle: Cycle) -> float:
    """Time a unit must leave: the commit's, plus the queued markers' write when there are some."""
    queued = any(cycle.markers[side] for side in (Side.LEAD, Side.CARD))
    return cycle.limits.unit_reserve_seconds + (cycle.limits.marker_flush_seconds if queued else 0.0)


def apply_plan(
    cycle: Cycle, store: StateStore, the_plan: Plan, reserve: Callable[[Cycle], float] = reserve
) -> tuple[list[Link], list[Link]]:
    """Apply the units that time allows, up to ``write_width`` at once; the links to store and to drop.

    Units start in the plan's order, each once the units before it that touch the same records
    are done (``concurrent.blockers``) and a lane is free; what they did is handled here, on this
    thread, as they finish. A lost lease or an unexpected error stops new units, waits for those
    in flight, then raises.
    """
    puts: list[Link] = []
    drops: list[Link] = []
    progress = meter.start(cycle, the_plan)
    units = the_plan.units
    befores: dict[int, dict[Side, Record | None]] = {}
    stop: list[BaseException] = []

    def done(index: int, link: Link | None, error: BaseException | None) -> None:
        unit = units[index]
        with cycle.lock:
            if error is not None:
                _failed(cycle, unit, error, stop)
                return
            created = any(isinstance(op, Create) for op in unit.ops)
            if link is not None and not created:  # a creation stores its link at once
                puts.append(link)
            if unit.drop is not None and not created:
                drops.append(unit.drop)
            _record_activity(cycle, unit, link, befores.pop(index))
        if created and progress is not None:
            progress.created_one()

    waits = concurrent.blockers(units)
    with concurrent.Lanes[Link | None](write_width(cycle), done) as lanes:
        for index, unit in enumerate(units):
            lanes.ready(waits[index])
            if stop:
                break
            if unit.writes and cycle.deadline.remaining() < reserve(cycle) + lanes.overlap():
                with cycle.lock:
                    _defer(cycle, unit)
                lanes.skip(index)
                continue
            # Logged before the writes: once the winner's value reaches the losing side, the next
            # cycle sees both sides agree, so a unit cut short (error, crash) would never log it.
            with cycle.lock:
                befores[index] = _before(cycle, unit)
                _record_conflicts(cycle, unit, befores[index])
            lanes.start(index, functools.partial(_apply_unit, cycle, store, unit))
    if stop:
        raise stop[0]
    for side in (Side.LEAD, Side.CARD):
        write_markers(cycle, side)
    return puts, drops


def write_width(cycle: Cycle) -> int:
    """Units applied at once: the engine's setting, or derived from both sides' rate limits.

    Derived: enough to keep the faster credential busy while a unit waits on both systems'
    typical write latency (``concurrent.width``); 1 when a side has no rate limiter to pace it.
    """
    limits = cycle.limits
    if limits.write_concurrency is not None:
        return max(1, limits.write_concurrency)
    rates: list[float] = []
    seconds = 0.0
    for side in (Side.LEAD, Side.CARD):
        transport = getattr(cycle.pair.connector(side), "transport", None)
        limiter = getattr(transport, "rate_limiter", None)
        if limiter is None:
            return 1
        rates.append(limiter.limit.rate)
        seconds += TYPICAL_WRITE_SECONDS.get(getattr(transport, "system", ""), DEFAULT_WRITE_SECONDS)
    return concurrent.width(rates, seconds, limits.max_write_concurrency)


def _failed(cycle: Cycle, unit: Unit, error: BaseException, stop: list[BaseException]) -> None:
    """A unit that raised: deferred (deadline), logged and retried next cycle, or the cycle stops."""
    if isinstance(error, DeadlineExceeded):
        _defer(cycle, unit)
    elif isinstance(error, LeadsyncError) and not isinstance(error, StaleState):
        message = f"pair {cycle.pair.id}, lead {unit.lead_id}, card {unit.card_id}: {error}"
        cycle.report.errors.append(message)
        logger.error("could not apply changes; will retry next cycle", extra={"error": message})
        cycle.history.append(history.failed(cycle.pair.id, cycle.clock(), unit, message))
        _mark_failed(cycle, unit)
    else:  # the lease is lost (another run owns the pair now: write nothing more), or a bug
        stop.append(error)


def _apply_unit(cycle: Cycle, store: StateStore, unit: Unit) -> Link | None:
    """Run one unit's operations in order (on a lane's thread: shared data only under ``cycle.lock``)."""
    pair = cycle.pair
    mapping = pair.plan_config.mapping
    link = unit.link
    detached = link is not None and link.detached
    for op in unit.ops:
        connector = pair.connector(op.side)
        if isinstance(op, Create):
            link = _create(cycle, store, op, link, unit.drop)
        elif isinstance(op, Update):
            native, problems = mapping.to_native(op.side, op.changes, op.record_id)
            with cycle.lock:
                cycle.report.problems.extend(problems)
            if native:
                with cycle.calling(op.side):
                    written = connector.update(op.record_id, native)
                _remember(cycle, op.side, written)
        elif isinstance(op, Archive):
            with cycle.calling(op.side):
                connector.archive(op.record_id)
            with cycle.lock:
                cycle.seen[op.side].pop(op.record_id, None)
        elif isinstance(op, SetMarker) and (
            detached or not queue_marker(cycle, op.side, op.record_id, op.link)
        ):  # a tombstone's marker is written at once: the planner relies on it next cycle
            with cycle.calling(op.side):
                connector.set_link(op.record_id, op.link)
            remember_marker(cycle, op.side, op.record_id, op.link)
        _count(cycle, op)
    return link


def _create(cycle: Cycle, store: StateStore, op: Create, link: Link | None, unit_drop: Link | None) -> Link:
    """Create with an intent first, so a crash at any line cannot duplicate the record."""
    pair = cycle.pair
    assert link is not None
    token = uuid.uuid4().hex
    with cycle.store_lock:
        if unit_drop is not None:
            store.delete_links(pair.id, [unit_drop], fence=cycle.fence)
        # fenced: a run that lost its lease (paused past it) stops here, before creating anything
        store.put_intent(pair.id, Intent(token, op.side, op.source_id, cycle.clock()), fence=cycle.fence)
    native, problems = pair.plan_config.mapping.to_native(op.side, op.fields, op.source_id)
    with cycle.lock:
        cycle.report.problems.extend(problems)
    try:
        with cycle.calling(op.side):
            created = pair.connector(op.side).create(native, op.source_id)
    except ApiError:  # a definite refusal: nothing was created, nothing to recover
        with cycle.store_lock:
            store.delete_intent(pair.id, token, fence=cycle.fence)
        raise
    # (on a deadline or transient error the create may or may not have happened: the intent stays)
    _remember(cycle, op.side, created)
    new_link = replace(link, card_id=created.id) if op.side is Side.CARD else replace(link, lead_id=created.id)
    with cycle.store_lock:
        store.put_links(pair.id, [new_link], fence=cycle.fence)
        store.delete_intent(pair.id, token, fence=cycle.fence)
    if queue_marker(cycle, op.side.other, op.source_id, created.id):
        return new_link
    try:
        with cycle.calling(op.side.other):
            pair.connector(op.side.other).set_link(op.source_id, created.id)
        remember_marker(cycle, op.side.other, op.source_id, created.id)
    except (DeadlineExceeded, RetryableError) as exc:  # the link is stored; the marker is rewritten later
        marker_not_written(cycle, op.side.other, op.source_id, exc)
    return new_link


def _remember(cycle: Cycle, side: Side, native: Record) -> None:
    canonical, _ = cycle.pair.plan_config.mapping.to_canonical(side, native)
    with cycle.lock:
        cycle.seen[side][canonical.id] = (fingerprint(canonical), cycle.clock())
        cycle.records[side][canonical.id] = canonical


def _defer(cycle: Cycle, unit: Unit) -> None:
    """No time left for this unit: a creation goes to the backlog, anything else is re-read next cycle."""
    cycle.report.deferred += 1
    first = unit.ops[0] if unit.ops else None
    if isinstance(first, Create):
        source_side = first.side.other
        record = cycle.records[source_side].get(first.source_id)
        if record is not None:
            cycle.deferred_creates[(source_side, first.source_id)] = record
            cycle.seen[source_side].pop(first.source_id, None)
            return
    _mark_failed(cycle, unit)


def _mark_failed(cycle: Cycle, unit: Unit) -> None:
    for side, record_id in ((Side.LEAD, unit.lead_id), (Side.CARD, unit.card_id)):
        if record_id:
            cycle.failed[side].add(record_id)
            cycle.seen[side].pop(record_id, None)
    if unit.lead_id is None and unit.ops and isinstance(unit.ops[0], Create):
        cycle.failed[unit.ops[0].side.other].add(unit.ops[0].source_id)


def _count(cycle: Cycle, op: Create | Update | Archive | SetMarker) -> None:
    key = f"{type(op).__name__.lower()}_{op.side.value}"
    with cycle.lock:
        cycle.report.applied[key] = cycle.report.applied.get(key, 0) + 1


def _before(cycle: Cycle, unit: Unit) -> dict[Side, Record | None]:
    """Each side's record of the unit as read this cycle (before the unit writes it)."""
    return {
        side: cycle.records[side].get(record_id) if record_id else None
        for side, record_id in ((Side.LEAD, unit.lead_id), (Side.CARD, unit.card_id))
    }


def _record_activity(cycle: Cycle, unit: Unit, link: Link | None, before: dict[Side, Record | None]) -> None:
    """The report's lines, the log's and the history's items of an applied unit (redacted)."""
    for op in unit.ops:
        line = history.redact_op(op, cycle.redacted).describe()
        cycle.report.activity.append(line)
        logger.info("applied", extra={"activity": line, "lead": unit.lead_id, "card": unit.card_id})
    for note in unit.notes:
        cycle.report.activity.append(note)
        logger.info(note, extra={"lead": unit.lead_id, "card": unit.card_id})
    lead_id = link.lead_id if link is not None else unit.lead_id
    card_id = link.card_id if link is not None else unit.card_id
    base, mapping = cycle.bases.get(unit.lead_id or "", {}), cycle.pair.plan_config.mapping
    at = cycle.clock()
    cycle.history += history.applied(cycle.pair.id, at, unit, lead_id, card_id, before, cycle.redacted, base, mapping)


def _record_conflicts(cycle: Cycle, unit: Unit, before: dict[Side, Record | None]) -> None:
    """Log each conflict of a unit about to be applied (again if the unit is retried next cycle)."""
    for conflict in unit.conflicts:
        cycle.report.conflicts += 1
        shown = history.redact_conflict(conflict, cycle.redacted)
        cycle.report.activity.append(history.conflict_line(shown))
        logger.warning(
            "conflict resolved",
            extra={
                "field": conflict.field,
                "lead_value": shown.lead_value,
                "card_value": shown.card_value,
                "winner": conflict.winner.value,
                "why": conflict.why,
                "lead": unit.lead_id,
                "card": unit.card_id,
            },
        )
    cycle.history += history.conflicts(cycle.pair.id, cycle.clock(), unit, before, cycle.redacted)
