"""Fetch: read what changed on both sides, the records left pending, and a batch of the backlog.

Reads only: nothing is written here. Every record read is checked (its own id and its link marker
against the systems' id formats, so a typed marker never reaches a URL or a query) and canonicalised;
one exactly as last seen (``META.seen``) is skipped. Direct reads take at most ``direct_read_share``
of the remaining time, and a record not read this time stays pending for the next cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from leadsync import backlog
from leadsync.connectors.base import Connector, ManyReading, Resuming, Vouching
from leadsync.core.fingerprint import fingerprint
from leadsync.core.models import Record, Side
from leadsync.cycle.working import Cycle, listing_key
from leadsync.errors import ApiError, DeadlineExceeded, RecordError, RetryableError
from leadsync.observability import logger
from leadsync.state.base import StateStore


def is_sweep_due(cycle: Cycle) -> bool:
    last = cycle.meta.last_full_sweep
    if last is None:
        return True
    period = timedelta(minutes=cycle.pair.config.full_sweep_minutes)
    return cycle.started - datetime.fromisoformat(last) >= period


def out_of_time(cycle: Cycle, exc: DeadlineExceeded | RetryableError) -> bool:
    """Whether a listing cut short by ``exc`` ran out of time (rather than into an error worth raising)."""
    return isinstance(exc, DeadlineExceeded) or cycle.deadline.remaining() < cycle.limits.unit_reserve_seconds


def fetch_side(cycle: Cycle, side: Side, full: bool) -> None:
    """One side's changes since its cursor (everything when ``full``), then its pending records.

    A connector that lists in parts (``Resuming``: Notion) carries on a listing under way, and
    stops a listing of everything once it has used ``listing_share`` of the time left: the rest
    of the cycle applies what it read, and the next cycle goes on from where it stopped.
    """
    connector = cycle.pair.connector(side)
    cursor = None if full else cycle.meta.cursors.get(side.value)
    if isinstance(connector, Resuming):
        resume = cycle.meta.cursors.get(listing_key(side))
        keep = cycle.deadline.remaining() * (1.0 - cycle.limits.listing_share)
        result = connector.fetch_part(None if resume else cursor, resume, keep)
        cycle.listing_finished = resume is not None and result.resume is None
    else:
        result = connector.fetch_changed(cursor)
    cycle.fetched[side] = result
    for record in result.records:
        take(cycle, side, record)
    pending = [i for i in cycle.meta.pending.get(side.value, []) if i not in cycle.records[side]]
    reads = read_directly(cycle, side, pending)
    for record_id in [*reads.unread, *reads.refused]:
        cycle.failed[side].add(record_id)  # not read this time: stays pending
    cycle.report.read[side.value] = len(result.records)


@dataclass
class Reads:
    """What a batch of direct reads could not take: out of time, refused, or not there."""

    unread: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


def read_directly(cycle: Cycle, side: Side, ids: list[str], *, absent_is_deleted: bool = True) -> Reads:
    """Read records one by one while time allows (they are rate limited).

    A record that is not there (for this pair: gone, or in another database or board) is taken
    as deleted when ``absent_is_deleted``, else listed in ``absent``. A refusal naming one
    record (a 4xx, a malformed id) is that record's problem: reported, and the reads go on.
    Direct reads never take more than ``direct_read_share`` of the remaining time, so a long
    list of them can never keep a cycle from applying and committing anything. A connector that
    reads many records in one request (``ManyReading``: Google Sheets) reads the batch at once.
    """
    connector = cycle.pair.connector(side)
    reads = Reads()
    if len(ids) > 1 and isinstance(connector, ManyReading):
        try:
            answers = connector.get_many(ids)
        except (DeadlineExceeded, RetryableError) as exc:
            logger.warning("direct reads stopped; they wait for the next cycle", extra={"error": str(exc)})
            reads.unread = list(ids)
            return reads
        except ApiError as exc:
            shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            cycle.problem(f"{side.value} records {shown} could not be read ({connector.system}): {exc}")
            reads.refused = list(ids)
            return reads
        for record_id in ids:
            _settle(cycle, side, reads, record_id, answers.get(record_id), absent_is_deleted)
        return reads
    stop_below = cycle.deadline.remaining() * (1 - cycle.limits.direct_read_share)
    for index, record_id in enumerate(ids):
        if cycle.deadline.remaining() <= stop_below:
            reads.unread = ids[index:]
            return reads
        try:
            record: Record | RecordError | ApiError | None = connector.get(record_id)
        except (DeadlineExceeded, RetryableError) as exc:
            logger.warning("direct reads stopped; the rest wait for the next cycle", extra={"error": str(exc)})
            reads.unread = ids[index:]
            return reads
        except (ApiError, RecordError) as exc:
            record = exc
        _settle(cycle, side, reads, record_id, record, absent_is_deleted)
    return reads


def _settle(
    cycle: Cycle,
    side: Side,
    reads: Reads,
    record_id: str,
    answer: Record | RecordError | ApiError | None,
    absent_is_deleted: bool,
) -> None:
    """One direct read's answer: a refusal is the record's problem, an absent record deleted (or listed)."""
    if isinstance(answer, ApiError | RecordError):
        system = cycle.pair.connector(side).system
        cycle.problem(f"{side.value} {record_id} could not be read ({system}): {answer}")
        reads.refused.append(record_id)
        return
    if answer is None and not absent_is_deleted:
        reads.absent.append(record_id)
        return
    take(cycle, side, answer if answer is not None else Record(record_id, {}, deleted=True), force=True)


def get(connector: Connector, record_id: str) -> Record:
    """A direct read; a record that is gone comes back as ``deleted``."""
    record = connector.get(record_id)
    return record if record is not None else Record(record_id, {}, deleted=True)


def _checked_ids(cycle: Cycle, side: Side, native: Record) -> Record | None:
    """The record with its link marker checked against the other system's id format (a marker
    anyone can type is never put into a URL or a query); ``None`` if its own id is malformed."""
    own = cycle.pair.connector(side)
    if own.normalize_id(native.id) != native.id:
        cycle.problem(f"{side.value} {native.id!r}: not a valid {own.system} id; skipped")
        return None
    if native.link is None:
        return native
    other = cycle.pair.connector(side.other)
    link = other.normalize_id(native.link)
    if link is None:
        cycle.problem(
            f"{side.value} {native.id}: its link marker {native.link!r} is not a valid {other.system} id; "
            "ignored (the record is treated as unlinked)",
        )
    return native if link == native.link else replace(native, link=link)


def take(cycle: Cycle, side: Side, native: Record, *, force: bool = False) -> None:
    """Canonicalise a record read this cycle; skip it if it is exactly what we last saw."""
    checked = _checked_ids(cycle, side, native)
    if checked is None:
        return
    canonical, problems = cycle.pair.plan_config.mapping.to_canonical(side, checked)
    for problem in problems:
        cycle.problem(problem)
    digest = fingerprint(canonical)
    cycle.seen[side][canonical.id] = (digest, canonical.updated_at)
    if not force and not problems and cycle.meta.seen.get(side.value, {}).get(canonical.id) == digest:
        return
    cycle.records[side][canonical.id] = canonical


def take_backlog(cycle: Cycle, store: StateStore) -> None:
    """Take a batch of saved records from the head of the backlog (a fresher read wins).

    Entries whose record got linked since they were saved are dropped on the way; chunks are
    read until a full batch of still-unlinked records is found (bounded), so a backlog full of
    stale entries drains in one cycle and every invocation of a first sync has a full batch.
    """
    live: list[dict[str, object]] = []
    for seq in cycle.meta.backlog[: backlog.MAX_CHUNKS_PER_CYCLE]:
        chunk = store.backlog(cycle.pair.id, seq)
        cycle.backlog_consumed.append(seq)
        cycle.backlog_entries_read += len(chunk)
        live.extend(_unlinked(store, cycle.pair.id, chunk))
        if len(live) >= backlog.BATCH or cycle.deadline.remaining() < cycle.limits.unit_reserve_seconds * 4:
            break
    batch, cycle.backlog_rest = live[: backlog.BATCH], live[backlog.BATCH :]
    taken: dict[Side, list[str]] = {Side.LEAD: [], Side.CARD: []}
    for entry in batch:
        side, record = backlog.decode(entry)
        if record.id not in cycle.records[side]:
            cycle.records[side][record.id] = record
            cycle.from_backlog.add((side, record.id))
            taken[side].append(record.id)
    for side, record_ids in taken.items():  # read from the pair's own containers when saved
        connector = cycle.pair.connector(side)
        if record_ids and isinstance(connector, Vouching):
            connector.vouch(record_ids)
    if cycle.backlog_consumed:
        cycle.report.read["backlog"] = len(batch)


def _unlinked(store: StateStore, pair_id: str, entries: list[dict[str, object]]) -> list[dict[str, object]]:
    """The entries whose record has no link yet (one batched lookup per side)."""
    ids: dict[Side, list[str]] = {Side.LEAD: [], Side.CARD: []}
    for entry in entries:
        ids[Side(str(entry["side"]))].append(str(entry["id"]))
    linked = {
        Side.LEAD: set(store.links_by_lead(pair_id, ids[Side.LEAD])) if ids[Side.LEAD] else set(),
        Side.CARD: set(store.links_by_card(pair_id, ids[Side.CARD])) if ids[Side.CARD] else set(),
    }
    seen: set[tuple[Side, str]] = set()
    out = []
    for entry in entries:
        key = (Side(str(entry["side"])), str(entry["id"]))
        if key[1] not in linked[key[0]] and key not in seen:
            seen.add(key)
            out.append(entry)
    return out
