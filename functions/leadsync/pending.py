"""The operator's answer to deletions waiting for approval: approve (archive now) or reject (keep).

Both run under the pair's lease (like ``repoint``), so no cycle runs meanwhile, and record what they
did in the history. Approving reads the gone record once more first: if it came back, nothing is
archived and the pending deletion is dropped. Rejecting keeps both records and ends the link the way
``detach`` does (a deleted lead: the link is dropped and the card's link marker cleared, the card
stays; a deleted card: the lead stays with a tombstone, so no replacement card is made).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from leadsync.core import history
from leadsync.core.approvals import PendingDeletion
from leadsync.core.models import Fence, Side
from leadsync.cycle.working import PairRuntime
from leadsync.errors import LeadsyncError
from leadsync.state.base import StateStore

LEASE_SECONDS = 300


@dataclass(frozen=True)
class Outcome:
    """What became of one pending deletion."""

    id: str
    done: str  # "archived" | "kept" | "came back" | "failed"
    message: str


def resolve(
    store: StateStore, runtime: PairRuntime, ids: list[str] | None, approve: bool, owner: str, now: datetime
) -> list[Outcome]:
    """Approve (``approve``) or reject the pending deletions ``ids`` (None: all of the pair's).

    Raises ``LeaseHeld`` while a cycle runs (try again in a minute) and ``KeyError`` naming an id
    that does not wait.
    """
    pair_id = runtime.id
    meta = store.acquire(pair_id, owner, now, LEASE_SECONDS)
    outcomes: list[Outcome] = []
    try:
        fence = Fence(owner, meta.version)
        waiting = {p.id: p for p in store.pending(pair_id)}
        unknown = [i for i in ids or [] if i not in waiting]
        if unknown:
            raise KeyError(f"pair {pair_id}: no deletion {', '.join(unknown)} waits (see python -m leadsync pending)")
        chosen = [waiting[i] for i in ids] if ids is not None else list(waiting.values())
        for p in chosen:
            outcomes.append(_approve(store, runtime, p, fence) if approve else _reject(store, runtime, p, fence))
    finally:
        store.release(pair_id, owner)
    items = [_activity(runtime.config.id, now, p, o) for p, o in zip(chosen, outcomes, strict=False)]
    if items:
        store.put_activity(pair_id, items, timedelta(days=runtime.config.history_days))
    return outcomes


def _approve(store: StateStore, runtime: PairRuntime, p: PendingDeletion, fence: Fence) -> Outcome:
    try:
        gone = runtime.connector(p.gone_side).get(p.gone_id)
        if gone is not None and not gone.deleted:
            store.delete_pending(runtime.id, [p.id])
            return Outcome(p.id, "came back", f"{p.gone_side.value} {p.gone_id} is back: nothing archived")
        runtime.connector(p.side).archive(p.record_id)
    except LeadsyncError as exc:  # stays pending: approve it again once the tracker answers
        return Outcome(p.id, "failed", f"{p.describe()} failed, still waiting: {exc}")
    if p.link is not None:
        store.delete_links(runtime.id, [p.link], fence=fence)
    store.delete_pending(runtime.id, [p.id])
    return Outcome(p.id, "archived", f"{p.describe()}: approved and done")


def _reject(store: StateStore, runtime: PairRuntime, p: PendingDeletion, fence: Fence) -> Outcome:
    if p.side is Side.CARD:  # its marker would name the deleted lead, and ask for the archive again
        try:
            runtime.connector(Side.CARD).set_link(p.record_id, None)
        except LeadsyncError as exc:  # stays pending: reject it again once the tracker answers
            return Outcome(p.id, "failed", f"could not clear the link marker of card {p.record_id}: {exc}")
    if p.link is not None:
        current = store.links_by_lead(runtime.id, [p.link.lead_id]).get(p.link.lead_id)
        if current is not None and current.card_id == p.link.card_id:
            if p.side is Side.LEAD:  # the card is gone: the lead stays, a tombstone says so
                store.put_links(runtime.id, [replace(current, detached=True)], fence=fence)
            else:  # the lead is gone: the card stays, unlinked
                store.delete_links(runtime.id, [current], fence=fence)
    store.delete_pending(runtime.id, [p.id])
    return Outcome(p.id, "kept", f"{p.describe()}: rejected, {p.side.value} {p.record_id} kept and unlinked")


def _activity(pair_id: str, at: datetime, p: PendingDeletion, outcome: Outcome) -> history.Activity:
    lead, card = (p.gone_id, p.record_id) if p.side is Side.CARD else (p.record_id, p.gone_id)
    kind = {"archived": "archive", "failed": "failed"}.get(outcome.done, "note")
    side = p.side.value if outcome.done == "archived" else None
    return history.Activity(
        at, pair_id, kind, f"pending {p.id}: {outcome.message}", lead, card, side=side, label=p.label
    )
