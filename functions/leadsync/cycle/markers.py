"""Link markers: the counterpart's id written into a record, at once or queued and written in batches.

A marker not written (a failed batch, the deadline) is harmless: the link is stored, and the
record, read again next cycle, gets its marker then. Whatever is queued is written at the end of
the apply step, for which the last units leave time (``apply.reserve``).
"""

from __future__ import annotations

from dataclasses import replace

from leadsync.connectors.base import BatchLinking
from leadsync.core.fingerprint import fingerprint
from leadsync.core.models import Side
from leadsync.cycle.working import Cycle
from leadsync.errors import LeadsyncError
from leadsync.observability import logger


def queue_marker(cycle: Cycle, side: Side, record_id: str, link: str | None) -> bool:
    """Queue a marker for a connector that writes them in batches (``BatchLinking``); a full
    batch is written at once, the rest at the end of the apply step. False: write it now."""
    connector = cycle.pair.connector(side)
    size = getattr(connector, "link_batch_size", 0)
    if not size:
        return False
    with cycle.lock:  # units on several threads queue markers: a full batch is taken by one of them
        queue = cycle.markers[side]
        queue.append((record_id, link))
        full = len(queue) >= size
        if full:
            queued, cycle.markers[side] = queue, []
    if full:
        _write(cycle, side, queued)
    return True


def write_markers(cycle: Cycle, side: Side) -> None:
    """Write the queued markers of one side. A marker not written is harmless: the link is
    stored, and the record, read again next cycle, gets its marker then."""
    with cycle.lock:
        queued, cycle.markers[side] = cycle.markers[side], []
    _write(cycle, side, queued)


def _write(cycle: Cycle, side: Side, queued: list[tuple[str, str | None]]) -> None:
    if not queued:
        return
    connector: BatchLinking = cycle.pair.connector(side)  # type: ignore[assignment]
    try:
        with cycle.calling(side):
            failed = connector.set_links(queued)
    except LeadsyncError as exc:  # the whole batch (a deadline, a refusal, a header gone)
        failed = dict.fromkeys((record_id for record_id, _ in queued), exc)
    for record_id, link in queued:
        error = failed.get(record_id)
        if error is None:
            remember_marker(cycle, side, record_id, link)
        else:
            marker_not_written(cycle, side, record_id, error)


def marker_not_written(cycle: Cycle, side: Side, record_id: str, error: LeadsyncError) -> None:
    """Read the record again next cycle; its stored link then asks for the marker again."""
    logger.warning("link marker not written yet", extra={"record": record_id, "error": str(error)})
    with cycle.lock:
        cycle.records[side].pop(record_id, None)
        cycle.seen[side].pop(record_id, None)
        cycle.failed[side].add(record_id)


def remember_marker(cycle: Cycle, side: Side, record_id: str, link: str | None) -> None:
    with cycle.lock:
        record = cycle.records[side].get(record_id)
        if record is not None:
            updated = replace(record, link=link)
            cycle.records[side][record_id] = updated
            cycle.seen[side][record_id] = (fingerprint(updated), cycle.clock())
        else:
            cycle.seen[side].pop(record_id, None)
