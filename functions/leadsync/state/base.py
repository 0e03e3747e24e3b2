"""The StateStore protocol, implemented by DynamoDB (cloud) and SQLite (local)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from leadsync.core.approvals import PendingDeletion
from leadsync.core.history import Activity
from leadsync.core.models import Fence, Intent, Link, PairMeta


class StateStore(Protocol):
    """Durable state of every pair. All methods are keyed by ``pair_id``.

    Fencing: every write of links, intents and backlog chunks takes an optional ``fence`` (the
    lease owner and META version of the run making it). With a fence the write is conditional:
    if another run took the lease or committed since, it raises ``StaleState`` and writes nothing.
    The engine always passes one; tools that hold no lease (tests, migrations) may not.

    Cost model (DynamoDB): a no-change cycle calls ``acquire`` (1 request, returns META)
    and ``commit`` (1 request, also releases the lease). Link reads are batched and only
    for the records that changed.
    """

    def acquire(self, pair_id: str, owner: str, now: datetime, ttl_seconds: int) -> PairMeta:
        """Take the pair's lease (free, expired, or already ours) and return its META.

        Raises ``LeaseHeld`` when another owner holds an unexpired lease.
        """

    def commit(self, pair_id: str, owner: str, meta: PairMeta, *, release: bool = True) -> PairMeta:
        """Write META if its stored version is still ``meta.version`` and we hold the lease.

        Returns META with the new version. Releases the lease when ``release``.
        Raises ``StaleState`` on a version or lease mismatch.
        """

    def release(self, pair_id: str, owner: str) -> None:
        """Give up the lease if we hold it (no error if we do not)."""

    def links_by_lead(self, pair_id: str, lead_ids: Iterable[str]) -> dict[str, Link]:
        """The links of these leads that exist, keyed by lead id."""

    def links_by_card(self, pair_id: str, card_ids: Iterable[str]) -> dict[str, Link]:
        """The links of these cards that exist, keyed by card id."""

    def all_links(self, pair_id: str) -> list[Link]:
        """Every link of the pair (full sweeps only)."""

    def put_links(self, pair_id: str, links: Iterable[Link], *, fence: Fence | None = None) -> None:
        """Create or replace links (and their card-side pointers)."""

    def delete_links(self, pair_id: str, links: Iterable[Link], *, fence: Fence | None = None) -> None:
        """Remove links (and their card-side pointers)."""

    def put_intent(self, pair_id: str, intent: Intent, *, fence: Fence | None = None) -> None:
        """Record that a creation is about to happen."""

    def intents(self, pair_id: str) -> list[Intent]:
        """Every leftover intent of the pair."""

    def delete_intent(self, pair_id: str, token: str, *, fence: Fence | None = None) -> None:
        """Forget an intent once its link is committed (or it is resolved)."""

    def put_backlog(self, pair_id: str, seq: int, entries: list[dict[str, Any]], *, fence: Fence | None = None) -> None:
        """Store (or replace) backlog chunk ``seq``: records read but not yet processed.

        A large first sync lists every record once, then works through this queue over as many
        invocations as the rate limits need, instead of listing everything again. A chunk must
        stay under ~300 KB of JSON (DynamoDB's item limit is 400 KB).
        """

    def backlog(self, pair_id: str, seq: int) -> list[dict[str, Any]]:
        """The entries of backlog chunk ``seq`` ([] if it does not exist)."""

    def delete_backlog(self, pair_id: str, seqs: Iterable[int]) -> None:
        """Remove backlog chunks."""

    def put_activity(self, pair_id: str, items: Sequence[Activity], retention: timedelta) -> None:
        """Keep these activities for ``retention`` after each one's time (then they are forgotten).

        Not fenced: they record what was done, whoever holds the lease now.
        """

    def activity(
        self, pair_id: str, now: datetime, *, record: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[Activity]:
        """The pair's activities (of one record, lead or card id, if given) from ``since`` on, newest first.

        At most ``limit``; activities past their retention at ``now`` are left out.
        """

    def put_pending(self, pair_id: str, items: Sequence[PendingDeletion]) -> None:
        """Record deletions that wait for approval; one already waiting (same id) is kept as it is."""

    def pending(self, pair_id: str) -> list[PendingDeletion]:
        """Every deletion of the pair that waits for approval, oldest first."""

    def delete_pending(self, pair_id: str, ids: Iterable[str]) -> None:
        """Forget these pending deletions (approved and done, rejected, or their record came back)."""
