"""Plain data shared by every layer: records, links, pair state.

Values are canonical strings (or ``None`` for empty); connectors translate to and from
their systems' shapes, and `core.mapping` translates between native field names and the
pair's canonical field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

Value = str | None
Fields = dict[str, Value]


class Side(StrEnum):
    """The two roles of a pair. Any connector may play either role."""

    LEAD = "lead"
    CARD = "card"

    @property
    def other(self) -> Side:
        return Side.CARD if self is Side.LEAD else Side.LEAD


@dataclass(frozen=True)
class Record:
    """One lead or card as read from its system.

    ``fields`` is keyed by field name (native names in connectors, canonical names in the core).
    ``link`` is the counterpart id written into the record by leadsync (the link marker), if any.
    ``deleted`` is true for archived, trashed or confirmed-deleted records.
    ``tags`` are what a sync rule may test besides fields (a Trello card's labels, see
    ``leadsync.core.rules.label_tag``); ``None`` when the record's tags were not read.
    """

    id: str
    fields: Fields
    updated_at: datetime | None = None
    deleted: bool = False
    link: str | None = None
    tags: frozenset[str] | None = None


@dataclass(frozen=True)
class Link:
    """A lead linked to a card, with the base snapshot both sides agreed on last.

    ``detached`` marks a tombstone: the card was archived or deleted and the configured rule
    left the lead alone. A detached lead gets no new card; un-archiving the card re-attaches it.
    """

    lead_id: str
    card_id: str
    base: Fields
    detached: bool = False


@dataclass(frozen=True)
class Intent:
    """A card (or lead) creation that was started but not yet committed as a link."""

    token: str
    side: Side  # the side on which the record is being created
    source_id: str  # the record on the other side it is created for
    created_at: datetime


@dataclass
class PairMeta:
    """Per-pair bookkeeping: incremental cursors, sweep time, last run summary, version."""

    version: int = 0
    cursors: dict[str, str] = field(default_factory=dict)  # side -> opaque cursor
    last_full_sweep: str | None = None  # ISO time
    last_run: dict[str, object] = field(default_factory=dict)
    # side -> {record id: fingerprint} of records written or seen at the end of the last cycle,
    # so records re-read inside an incremental overlap window cost no link lookups.
    seen: dict[str, dict[str, str]] = field(default_factory=dict)
    # side -> record ids whose operations failed; fetched directly next cycle so a cursor can
    # advance past them without losing their changes.
    pending: dict[str, list[str]] = field(default_factory=dict)
    # sequence numbers of the backlog chunks still to process, oldest first (see StateStore.put_backlog)
    backlog: list[int] = field(default_factory=list)
    # side -> the container its links belong to ("notion:<database>", "trello:<board>", ...), so a
    # pair pointed somewhere else stops instead of taking the new place's records for deletions
    sides: dict[str, str] = field(default_factory=dict)
    # links the pair had at its last full sweep (the default mass-deletion limit is a share of it)
    link_count: int = 0


@dataclass(frozen=True)
class Fence:
    """Proof of holding a pair's lease: writes made with it succeed only while META still has
    this lease owner and this version, so a run that lost its lease (paused, timed out) writes nothing."""

    owner: str
    version: int


@dataclass(frozen=True)
class FetchResult:
    """Records read from one side in one cycle.

    ``complete`` is true when ``records`` is every live record of the side (a full listing);
    only then may absence from the listing suggest a deletion (which is still confirmed by a
    direct fetch). ``cursor`` is the side's new incremental cursor, to be committed only
    after the records it covers are applied. ``resume``: a listing that stopped for time before
    its end (``connectors.base.Resuming``) says here how to carry it on; ``cursor`` is then None.
    """

    records: list[Record]
    cursor: str | None
    complete: bool
    resume: str | None = None
