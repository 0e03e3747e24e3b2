"""The Connector protocol every system implements, on either side of a pair."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from leadsync.core.models import FetchResult, Fields, Record, Value
from leadsync.errors import LeadsyncError, RecordError


@dataclass(frozen=True)
class Schema:
    """What a connector found on its system: the fields it can read and write.

    ``fields`` maps native field name -> type name (e.g. ``"title"``, ``"email"``, ``"list"``).
    ``options`` maps a field to its allowed values where the system restricts them
    (Notion status/select options, Trello list names).
    """

    fields: dict[str, str]
    options: dict[str, list[str]] = field(default_factory=dict)


class Connector(Protocol):
    """One system (a Notion data source, a Trello board, an Airtable table, a Google Sheet).

    Records carry native field names (a Notion property, a Trello ``name``/``list``/``desc:Label``
    target, an Airtable field, a sheet column header). Values are strings or ``None``.
    Implementations never decide what to sync: they read and write what they are told.
    """

    system: str

    def describe(self) -> Schema:
        """Discover the schema (used to validate the pair config against reality)."""

    def fetch_changed(self, cursor: str | None) -> FetchResult:
        """Records changed since ``cursor`` (``None``: everything), plus the next cursor."""

    def fetch_all(self) -> FetchResult:
        """Every live record (a full sweep); ``complete`` is true."""

    def get(self, record_id: str) -> Record | None:
        """One record by id, read directly. ``None`` when it no longer exists;
        ``deleted=True`` when archived/trashed."""

    def create(self, fields: Fields, link: str | None) -> Record:
        """Create a record carrying ``link`` (the counterpart id) as its link marker."""

    def update(self, record_id: str, fields: Fields) -> Record:
        """Change only the given fields."""

    def set_link(self, record_id: str, link: str | None) -> None:
        """Write (or clear) the counterpart id marker on an existing record."""

    def archive(self, record_id: str) -> None:
        """Archive / trash / close the record (never a hard delete unless configured)."""

    def find_by_link(self, link: str) -> Record | None:
        """The record whose link marker is ``link`` (recovering an interrupted create)."""

    def normalize_id(self, raw: str) -> str | None:
        """``raw`` as a record id of THIS system in canonical form, or ``None`` when malformed.

        Pure (no request). Use it on every id read out of a record before it is trusted: a link
        marker on the other side names a record here (``connector(side.other).normalize_id(link)``).
        Formats: Notion a UUID (dashed or 32-hex, any case) -> lowercase dashed; Trello 24 hex ->
        lowercase; Airtable ``rec`` + 14 alphanumerics; Google Sheets ``L-`` + 10 base32 characters
        (the ids the connector mints). ``get``, ``update``, ``set_link``, ``archive`` (and the batch
        forms) raise ``RecordError`` for an id this refuses, before sending anything; ``find_by_link``
        does for a link outside ``[A-Za-z0-9-]{1,64}``.
        """


class Normalizing(Protocol):
    """Optional: a connector that stores some values reshaped (flattened, truncated) says how,
    so both sides compare equal and a reshaped value never ping-pongs."""

    def normalizer(self, native_field: str) -> Callable[[Value], Value] | None: ...


class Acknowledging(Protocol):
    """Optional: a connector that keeps change markers in the system itself (Google Sheets'
    state column) is told, after a cycle commits, which records are now in sync."""

    def acknowledge(self, record_ids: Sequence[str]) -> None: ...


@runtime_checkable
class Vouching(Protocol):
    """Optional: a connector that reads a record before its first write, to check it lives in the
    pair's container (Notion), is told which ids the pair's own state holds as read from there
    (the backlog's snapshots, taken from this container, whose identity the cycle has checked)."""

    def vouch(self, record_ids: Sequence[str]) -> None: ...


@runtime_checkable
class ManyReading(Protocol):
    """Optional: a connector whose direct read of one record is a read of many (Google Sheets: a
    lead is a row, and a row is read with its sheet), so it reads a batch in one request.

    ``get_many`` answers each id with its record, ``None`` (not there) or the ``RecordError`` that
    refused it (a malformed id: never sent); a transient, deadline or API failure of the one
    read is raised, as ``get`` would raise it."""

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record | RecordError | None]: ...


@runtime_checkable
class Resuming(Protocol):
    """Optional: a connector whose listing of everything can take longer than an invocation (Notion:
    100 pages a request, a few requests a second) lists it in parts, one per cycle.

    ``fetch_part`` is ``fetch_changed(cursor)``, except that a listing of everything (``cursor``
    None) stops starting requests once fewer than ``keep`` seconds are left before the transport's
    deadline (after one request at least), and comes back with what it read and ``resume``, an
    opaque token. Given that token (``resume``), it carries that listing on where it stopped. The
    last part comes back with ``resume`` None and the cursor of the whole listing (from its first
    part's time, so what changed while it went on is read again); only a listing done in one part
    can be ``complete``. A token it cannot use (malformed, or refused by the system) starts the
    listing again."""

    def fetch_part(self, cursor: str | None, resume: str | None, keep: float) -> FetchResult: ...


class BatchLinking(Protocol):
    """Optional: a connector that writes many link markers in few requests (Airtable: ten per
    PATCH; Google Sheets: one read and one write for a whole batch). The engine queues the
    markers of the cards it creates and hands them over ``link_batch_size`` at a time.

    ``set_links`` returns the records it could not write, with the reason (a record gone, a
    refusal naming it); a transient or deadline failure of the whole batch is raised.
    """

    link_batch_size: int

    def set_links(self, links: Sequence[tuple[str, str | None]]) -> dict[str, LeadsyncError]: ...
