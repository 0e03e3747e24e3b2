"""Confirm: settle, before planning, what the listings alone cannot.

Interrupted creations (intents) are looked up by their marker, so nothing is ever created twice:
an intent not resolved this cycle keeps its source record out of the plan. The links of the
records read are loaded; a linked record missing from a complete listing is read directly before
anything is concluded (a glitch in a listing never deletes anything), and a marker naming a
record not read is followed only to a record of this pair. Reads only, like the fetch.
"""

from __future__ import annotations

from dataclasses import replace

from leadsync.core.models import Intent, Link, Record, Side
from leadsync.cycle.fetch import get, read_directly, take
from leadsync.cycle.working import Cycle
from leadsync.errors import DeadlineExceeded, RetryableError
from leadsync.observability import logger
from leadsync.state.base import StateStore


def recover_intents(cycle: Cycle) -> None:
    """Creations that may have been interrupted: find what they created (by marker) before planning.

    An intent resolved here is deleted at commit. One that cannot be resolved this cycle (no time,
    API down) keeps its source record out of planning, so it can never be created twice.
    """
    by_side: dict[Side, list[Intent]] = {}
    for intent in cycle.intents:
        by_side.setdefault(intent.side, []).append(intent)
    for side, intents in by_side.items():
        source_side = side.other
        try:
            found = _find_created(cycle, side, intents)
            for intent in intents:
                record = found.get(intent.source_id)
                logger.info(
                    "recovering an interrupted creation",
                    extra={
                        "intent": intent.token,
                        "source": intent.source_id,
                        "found": record.id if record else None,
                    },
                )
                if record is not None and record.id not in cycle.records[side]:
                    take(cycle, side, record, force=True)
                if intent.source_id not in cycle.records[source_side]:
                    source = get(cycle.pair.connector(source_side), intent.source_id)
                    take(cycle, source_side, source, force=True)
                cycle.resolved_intents.append(intent)
        except (DeadlineExceeded, RetryableError) as exc:
            logger.warning("interrupted creations not resolved this cycle", extra={"error": str(exc)})
        done = {i.token for i in cycle.resolved_intents}
        for intent in intents:
            if intent.token not in done:
                cycle.blocked[source_side].add(intent.source_id)


def _find_created(cycle: Cycle, side: Side, intents: list[Intent]) -> dict[str, Record]:
    """Records on ``side`` carrying the markers of these intents' sources (one listing for many)."""
    connector = cycle.pair.connector(side)
    if len(intents) == 1:
        record = connector.find_by_link(intents[0].source_id)
        return {intents[0].source_id: record} if record is not None else {}
    wanted = {i.source_id for i in intents}
    return {r.link: r for r in connector.fetch_all().records if r.link in wanted}


def hold_back_blocked(cycle: Cycle) -> None:
    """An unresolved intent: plan nothing for its source yet (it is read again next cycle)."""
    for side, ids in cycle.blocked.items():
        for record_id in ids:
            cycle.records[side].pop(record_id, None)
            cycle.failed[side].add(record_id)


def load_links(cycle: Cycle, store: StateStore, full: bool) -> list[Link]:
    """The links the plan needs: all of them in a sweep, else those of the records read."""
    pair_id = cycle.pair.id
    leads, cards = cycle.records[Side.LEAD], cycle.records[Side.CARD]
    if full:
        links = store.all_links(pair_id)
    else:
        found = store.links_by_lead(pair_id, list(leads)) if leads else {}
        by_card = store.links_by_card(pair_id, list(cards)) if cards else {}
        merged = {link.lead_id: link for link in found.values()}
        merged.update({link.lead_id: link for link in by_card.values()})
        links = list(merged.values())
    linked = {(Side.LEAD, link.lead_id) for link in links} | {(Side.CARD, link.card_id) for link in links}
    for side, record_id in cycle.from_backlog & linked:  # processed since it was saved: drop the snapshot
        cycle.records[side].pop(record_id, None)
    looked_up = {Side.LEAD: set(leads), Side.CARD: set(cards)}
    _confirm(cycle, links, full)
    if not full:  # records read directly (named by a marker) may be linked too: their links count
        extra = {side: [i for i in cycle.records[side] if i not in looked_up[side]] for side in looked_up}
        known = {link.lead_id for link in links}
        more = [
            *(store.links_by_lead(pair_id, extra[Side.LEAD]).values() if extra[Side.LEAD] else ()),
            *(store.links_by_card(pair_id, extra[Side.CARD]).values() if extra[Side.CARD] else ()),
        ]
        for link in more:
            if link.lead_id not in known:
                known.add(link.lead_id)
                links.append(link)
    return links


def _confirm(cycle: Cycle, links: list[Link], full: bool) -> None:
    """Read directly what the planner needs but the listings did not give.

    A linked record missing from a complete listing is confirmed gone (or not) by a direct
    read before anything is deleted; a marker naming a record we did not read is resolved.
    """
    leads, cards = cycle.records[Side.LEAD], cycle.records[Side.CARD]
    linked_leads = {link.lead_id for link in links}
    linked_cards = {link.card_id for link in links}
    wanted: dict[Side, set[str]] = {Side.LEAD: set(), Side.CARD: set()}
    if full:
        for link in links:
            for side, record_id in ((Side.LEAD, link.lead_id), (Side.CARD, link.card_id)):
                complete = cycle.fetched[side].complete
                if complete and record_id not in cycle.records[side] and record_id not in cycle.seen[side]:
                    wanted[side].add(record_id)
    referrers: dict[tuple[Side, str], set[str]] = {}
    for lead in list(leads.values()):
        if lead.id not in linked_leads and lead.link and lead.link not in cards:
            referrers.setdefault((Side.CARD, lead.link), set()).add(lead.id)
    for card in list(cards.values()):
        if card.id not in linked_cards and card.link and card.link not in leads:
            referrers.setdefault((Side.LEAD, card.link), set()).add(card.id)
    for side in (Side.LEAD, Side.CARD):
        confirmed = read_directly(cycle, side, sorted(wanted[side]))
        if confirmed.unread:  # not confirmed this cycle: nothing is concluded about them
            cycle.unconfirmed = True
        named = sorted({i for (s, i) in referrers if s is side} - wanted[side])
        reads = read_directly(cycle, side, named, absent_is_deleted=False)
        cycle.unconfirmed |= bool(reads.unread)
        for record_id in [*confirmed.unread, *confirmed.refused, *reads.unread, *reads.refused]:
            for referrer in referrers.get((side, record_id), ()):  # retried next cycle
                cycle.records[side.other].pop(referrer, None)
                cycle.failed[side.other].add(referrer)
        for record_id in reads.absent:
            for referrer in referrers[(side, record_id)]:
                _ignore_marker(cycle, side.other, referrer, record_id)


def _ignore_marker(cycle: Cycle, side: Side, record_id: str, named: str) -> None:
    """A marker naming a record this pair cannot see (deleted for good, or a page, record or
    card of another database, table or board: a copy, or typed by hand) is not followed."""
    system = cycle.pair.connector(side.other).system
    logger.warning(
        "refused foreign or unknown link",
        extra={"side": side.value, "record": record_id, "names": named, "system": system},
    )
    cycle.problem(
        f"{side.value} {record_id}: its link marker names {side.other.value} {named}, which is not in this "
        f"pair's {system} (deleted, or another database's or board's); the marker is ignored",
    )
    record = cycle.records[side].get(record_id)
    if record is not None:
        cycle.records[side][record_id] = replace(record, link=None)
