"""Re-point a pair on purpose: forget what its state knows about the old place.

When a side of a pair is moved to another database, table, sheet or board, the stored links name
records of the old place. ``repoint`` drops them (with the intents, the backlog, the cursors and
the fingerprints) and stores the new containers, under the pair's lease. Nothing is written to
the trackers. The next cycle is a first sync: records are adopted by their link markers (and
``match_on``) before anything is created; markers naming records of the old place are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leadsync.config import PairConfig
from leadsync.core.models import Fence, PairMeta
from leadsync.identity import containers
from leadsync.state.base import StateStore

LEASE_SECONDS = 300


@dataclass(frozen=True)
class RepointResult:
    """What ``repoint`` forgot, and where the pair points now."""

    pair: str
    links: int
    intents: int
    backlog_chunks: int
    old: dict[str, str]
    new: dict[str, str]


def repoint(store: StateStore, pair: PairConfig, owner: str, now: datetime) -> RepointResult:
    """Forget the pair's links and cursors and adopt the configured containers (raises
    ``LeaseHeld`` while a cycle runs: try again in a minute)."""
    meta = store.acquire(pair.id, owner, now, LEASE_SECONDS)
    try:
        fence = Fence(owner, meta.version)
        links = store.all_links(pair.id)
        intents = store.intents(pair.id)
        if links:
            store.delete_links(pair.id, links, fence=fence)
        for intent in intents:
            store.delete_intent(pair.id, intent.token, fence=fence)
        chunks = list(meta.backlog)
        fresh = PairMeta(version=meta.version, last_run=meta.last_run, sides=containers(pair))
        store.commit(pair.id, owner, fresh, release=True)
    except BaseException:
        store.release(pair.id, owner)
        raise
    if chunks:
        store.delete_backlog(pair.id, chunks)
    return RepointResult(pair.id, len(links), len(intents), len(chunks), dict(meta.sides), fresh.sides)
