"""Airtable webhook payloads as hints: records deleted for good reach the plan this cycle, not at the sweep.

Runs after the fetch, for each Airtable side whose connector knows our webhook ids (the credentials'
``airtable_webhook_secrets``; without them nothing is sent). It finds the pair's webhook (once: listed,
then kept in ``META.cursors``), reads its payloads from the stored cursor while ``mightHaveMore`` (at most
:data:`~leadsync.webhooks.payloads.MAX_PAGES` pages), and takes the ``destroyedRecordIds`` of *linked*
records as ids to read directly: the same read a sweep does for a linked record missing from its
listing. Only a ``404`` there makes the record deleted; a record that is still there is simply read.
From there the planner, approvals and the mass-deletion guard treat it like any deletion. A lost,
stale or forged payload can therefore never change data. Changed and created records are left to the
incremental listing of the same cycle, which reads them anyway.

The new cursor is written into ``META`` and so committed with the cycle (a crash re-reads the same
payloads). Ids that could not be read this cycle stay pending and are read directly next cycle (unless
the pending list overflows and is dropped, ``commit.py``: then the next sweep finds them).
Reading never fails the cycle: a refusal or a malformed answer keeps the cursor where it was.
"""

from __future__ import annotations

from leadsync.connectors.airtable import AirtableConnector
from leadsync.core.models import Side
from leadsync.cycle.fetch import read_directly
from leadsync.cycle.working import Cycle
from leadsync.errors import LeadsyncError, NotFound
from leadsync.observability import logger
from leadsync.state.base import StateStore
from leadsync.webhooks.payloads import MAX_PAGES, HookCursor, our_webhook, read_page, state_key


def read_payloads(cycle: Cycle, store: StateStore) -> None:
    """Take the deletions the Airtable webhook payloads name (see the module docstring)."""
    for side in (Side.LEAD, Side.CARD):
        connector = cycle.pair.connector(side)
        if isinstance(connector, AirtableConnector) and connector.webhook_ids:
            _read_side(cycle, store, side, connector)


def _read_side(cycle: Cycle, store: StateStore, side: Side, connector: AirtableConnector) -> None:
    key = state_key(side.value)
    state = HookCursor.decode(cycle.meta.cursors.get(key))
    destroyed: dict[str, None] = {}
    try:
        if state is None or state.webhook_id not in connector.webhook_ids:
            hook = our_webhook(connector.webhooks(), cycle.pair.id, connector.webhook_ids)
            if hook is None:
                cycle.meta.cursors.pop(key, None)
                return
            state = HookCursor(hook, 1)  # from its first payload still kept (a week's worth at most)
        table_id = connector.table_id
        for _ in range(MAX_PAGES):
            if cycle.deadline.remaining() < cycle.limits.unit_reserve_seconds * 4:
                break
            page = read_page(connector.webhook_payloads(state.webhook_id, state.cursor), table_id, state.cursor)
            for problem in page.problems:
                cycle.problem(f"{side.value} webhook {state.webhook_id}: {problem}")
            destroyed.update(dict.fromkeys(page.destroyed))
            state = HookCursor(state.webhook_id, page.cursor)
            if not page.more:
                break
    except NotFound:  # the webhook is gone (removed, or expired long ago): find it again next cycle
        logger.warning("airtable webhook not found; its payloads are not read", extra={"side": side.value})
        cycle.meta.cursors.pop(key, None)
        return
    except (LeadsyncError, ValueError) as exc:  # out of time, refused, malformed: what was read so far counts
        logger.warning("airtable webhook payloads not read to the end", extra={"error": str(exc)[:200]})
    if state is not None:
        cycle.meta.cursors[key] = state.encode()
    _confirm_deleted(cycle, store, side, [i for i in destroyed if i not in cycle.records[side]])


def _confirm_deleted(cycle: Cycle, store: StateStore, side: Side, named: list[str]) -> None:
    """Read the linked ones directly: a 404 is a deletion, anything else the record as it is."""
    if not named:
        return
    pair_id = cycle.pair.id
    linked = store.links_by_lead(pair_id, named) if side is Side.LEAD else store.links_by_card(pair_id, named)
    wanted = [record_id for record_id in named if record_id in linked]
    if not wanted:
        return
    logger.info("airtable webhook names deleted records; confirming", extra={"side": side.value, "records": wanted})
    reads = read_directly(cycle, side, wanted)
    for record_id in [*reads.unread, *reads.refused]:
        cycle.failed[side].add(record_id)  # read directly next cycle
