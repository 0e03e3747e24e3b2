"""Apply: run the plan unit by unit, stopping with a margin before the deadline.

A creation writes an intent first (fenced: a run that lost its lease stops there), creates the
record carrying the link marker, stores the link, deletes the intent, then writes the marker back
(``markers``), so a crash at any line can never create a record twice. A unit that fails is logged
and its records are re-read next cycle; the rest goes on. A unit the deadline leaves no time for is
deferred (a creation's source goes to the backlog). The mass-deletion guard keeps back every archive
of a plan that would archive more than the pair's limit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from leadsync.core import history
from leadsync.core.fingerprint import fingerprint
from leadsync.core.guards import Held, hold_mass_deletions
from leadsync.core.models import Intent, Link, Record, Side
from leadsync.core.operations import Archive, Create, Plan, SetMarker, Unit, Update
from leadsync.cycle import meter
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
    """Apply the units that time allows; the links to store and to drop at the commit."""
    puts: list[Link] = []
    drops: list[Link] = []
    progress = meter.start(cycle, the_plan)
    for unit in the_plan.units:
        if unit.writes and cycle.deadline.remaining() < reserve(cycle):
            _defer(cycle, unit)
            continue
        # Logged before the writes: once the winner's value reaches the losing side, the next
        # cycle sees both sides agree, so a unit cut short (error, crash) would never log it.
        before = _before(cycle, unit)
        _record_conflicts(cycle, unit, before)
        try:
            link = _apply_unit(cycle, store, unit)
        except DeadlineExceeded:
            _defer(cycle, unit)
            continue
        except StaleState:  # the lease is lost: another run owns the pair now, write nothing more
            raise
        except LeadsyncError as exc:
            message = f"pair {cycle.pair.id}, lead {unit.lead_id}, card {unit.card_id}: {exc}"
            cycle.report.errors.append(message)
            logger.error("could not apply changes; will retry next cycle", extra={"error": message})
            cycle.history.append(history.failed(cycle.pair.id, cycle.clock(), unit, message))
            _mark_failed(cycle, unit)
            continue
        created = any(isinstance(op, Create) for op in unit.ops)
        if link is not None and not created:  # a creation stores its link at once
            puts.append(link)
        if unit.drop is not None and not created:
            drops.append(unit.drop)
        _record_activity(cycle, unit, link, before)
        if created and progress is not None:
            progress.created_one()
    for side in (Side.LEAD, Side.CARD):
        write_markers(cycle, side)
    return puts, drops


def _apply_unit(cycle: Cycle, store: StateStore, unit: Unit) -> Link | None:
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
            cycle.report.problems.extend(problems)
            if native:
                written = connector.update(op.record_id, native)
                _remember(cycle, op.side, written)
        elif isinstance(op, Archive):
            connector.archive(op.record_id)
            cycle.seen[op.side].pop(op.record_id, None)
        elif isinstance(op, SetMarker) and (
            detached or not queue_marker(cycle, op.side, op.record_id, op.link)
        ):  # a tombstone's marker is written at once: the planner relies on it next cycle
            connector.set_link(op.record_id, op.link)
            remember_marker(cycle, op.side, op.record_id, op.link)
        _count(cycle, op)
    return link


def _create(cycle: Cycle, store: StateStore, op: Create, link: Link | None, unit_drop: Link | None) -> Link:
    """Create with an intent first, so a crash at any line cannot duplicate the record."""
    pair = cycle.pair
    assert link is not None
    token = uuid.uuid4().hex
    if unit_drop is not None:
        store.delete_links(pair.id, [unit_drop], fence=cycle.fence)
    # fenced: a run that lost its lease (paused past it) stops here, before creating anything
    store.put_intent(pair.id, Intent(token, op.side, op.source_id, cycle.clock()), fence=cycle.fence)
    native, problems = pair.plan_config.mapping.to_native(op.side, op.fields, op.source_id)
    cycle.report.problems.extend(problems)
    try:
        created = pair.connector(op.side).create(native, op.source_id)
    except ApiError:  # a definite refusal: nothing was created, nothing to recover
        store.delete_intent(pair.id, token, fence=cycle.fence)
        raise
    # (on a deadline or transient error the create may or may not have happened: the intent stays)
    _remember(cycle, op.side, created)
    new_link = replace(link, card_id=created.id) if op.side is Side.CARD else replace(link, lead_id=created.id)
    store.put_links(pair.id, [new_link], fence=cycle.fence)
    store.delete_intent(pair.id, token, fence=cycle.fence)
    if queue_marker(cycle, op.side.other, op.source_id, created.id):
        return new_link
    try:
        pair.connector(op.side.other).set_link(op.source_id, created.id)
        remember_marker(cycle, op.side.other, op.source_id, created.id)
    except (DeadlineExceeded, RetryableError) as exc:  # the link is stored; the marker is rewritten later
        marker_not_written(cycle, op.side.other, op.source_id, exc)
    return new_link


def _remember(cycle: Cycle, side: Side, native: Record) -> None:
    canonical, _ = cycle.pair.plan_config.mapping.to_canonical(side, native)
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
