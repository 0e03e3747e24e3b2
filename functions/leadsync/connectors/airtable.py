"""Airtable connector: the records of one table of one base (Web API v0).

Values are plain strings. Airtable omits empty cells from its answers, so a field absent from a
record reads as ``None`` (absence is not a deletion). Text, email, url and phone fields as is;
single select -> option name; multiple selects -> names joined by ", "; number/currency/percent ->
decimal text; checkbox -> "true"/"false" (never ``None``: an unticked box is omitted by Airtable
and reads "false", so "false" written from the other side reads back the same); date/dateTime ->
the ISO text; computed fields (last modified, created, formula, lookup...) are read-only.

Incremental reads need a "Last modified time" field (``last_modified_field``): records modified on
or after the cursor minus ``overlap_seconds`` (30 s) are listed, oldest first, with only the
mapped fields; the cursor is the server's time (``Date``) of the listing's first page. Writes
send ``typecast: false`` so an unknown select option fails (Airtable would otherwise create it
silently) and use PATCH only (PUT clears the fields it is not given).

Deletion: Airtable has no archive. ``archive`` deletes the record for good unless
``archived_field`` names a checkbox, which is then ticked instead; ticked records read as
``deleted`` and are left out of full listings. A record deleted by a person simply stops appearing:
the engine notices on its full sweep, confirming with ``get`` (``None``).

Rate limits: 5 requests/s per base (the shared limiter, keyed by base id), and a 429 locks the
base for 30 s. Airtable's 429 carries no ``Retry-After``, so the connector mounts an adapter that
supplies one on Airtable URLs: the transport then pauses the base's limiter and waits, instead of
retrying into the lockout.

Cost: an incremental read with no edits is one request; the base schema is read once per process
(refreshed when a field or table is not found).

Ids: every record id handed in must be ``rec`` + 14 alphanumerics (``normalize_id``) or it is a
``RecordError`` and nothing is sent (in ``set_links`` the record is reported failed and the others
are written); the base, table and record are each one percent-encoded path segment, so a record can
only ever be addressed inside the configured base and table.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import requests
from requests.adapters import HTTPAdapter

from leadsync.connectors import airtable_formula as formula
from leadsync.connectors.base import Schema
from leadsync.connectors.deadline import Deadline
from leadsync.connectors.http import Transport, path, with_record_context
from leadsync.connectors.ratelimit import Limit, shared_limiter
from leadsync.connectors.values import BadValue as _BadValue
from leadsync.connectors.values import parse_number as _parse_number
from leadsync.core import ids
from leadsync.core.models import FetchResult, Fields, Record, Value
from leadsync.errors import ApiError, ConfigError, LeadsyncError, NotFound, RecordError

log = logging.getLogger("leadsync.connectors.airtable")

DEFAULT_BASE_URL = "https://api.airtable.com"
MAX_RECORDS_PER_REQUEST = 10
MAX_PAGE_SIZE = 100
MAX_URL_LENGTH = 16_000
MAX_TEXT_LENGTH = 100_000  # characters in a long text cell
PENALTY_SECONDS = 30.0
# Airtable stamps edits to the millisecond (Notion rounds to the minute and needs two minutes), and
# the cursor is the server's time before the listing began (``_newest``): the overlap only covers
# clock differences between Airtable's servers. Each second of it is re-read after every write
# (a large first sync writes a card id every tenth of a second).
OVERLAP_SECONDS = 30
LISTING_RESTARTS = 2  # an expired pagination iterator restarts the listing this many times
TEXT_TYPES = frozenset({"singleLineText", "multilineText", "email", "url", "phoneNumber", "richText"})
NUMBER_TYPES = frozenset({"number", "currency", "percent", "rating", "duration"})
OPTION_TYPES = frozenset({"singleSelect", "multipleSelects"})
WRITABLE_TYPES = TEXT_TYPES | NUMBER_TYPES | OPTION_TYPES | {"checkbox", "date", "dateTime"}
TRUE_WORDS = frozenset({"true", "yes", "1", "checked", "x"})
FALSE_WORDS = frozenset({"false", "no", "0", "unchecked", ""})
ITERATOR_EXPIRED = "LIST_RECORDS_ITERATOR_NOT_AVAILABLE"

# Process-wide cache (survives warm Lambda invocations): (base URL, base id) -> its tables.
_cache_lock = threading.Lock()
_bases: dict[tuple[str, str], list[dict[str, Any]]] = {}


def clear_caches() -> None:
    """Forget cached base schemas (tests, schema changes)."""
    with _cache_lock:
        _bases.clear()


# -- transport ----------------------------------------------------------------------------------


class PenaltyAdapter(HTTPAdapter):
    """Adds ``Retry-After: <penalty>`` to a 429 that has none (Airtable's 30 s lockout)."""

    def __init__(self, penalty_seconds: float) -> None:
        super().__init__()
        self.penalty_seconds = penalty_seconds

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        if response.status_code == 429 and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = f"{self.penalty_seconds:g}"
        return response


def supply_penalty(transport: Transport, penalty_seconds: float = PENALTY_SECONDS) -> None:
    """Make ``transport`` wait out Airtable's lockout after a 429 (only its own base URL is affected)."""
    session = transport.session
    prefix = transport.base_url + "/"
    current = session.adapters.get(prefix)
    if isinstance(current, PenaltyAdapter) and current.penalty_seconds == penalty_seconds:
        return
    session.mount(prefix, PenaltyAdapter(penalty_seconds))


def airtable_transport(
    token: str,
    base_id: str,
    *,
    base_url: str = DEFAULT_BASE_URL,
    deadline: Deadline | None = None,
    limit: Limit | None = None,
    penalty_seconds: float = PENALTY_SECONDS,
    **options: Any,
) -> Transport:
    """A transport for one personal access token on one base, on that base's shared rate limiter."""
    transport = Transport(
        "airtable",
        base_url,
        auth_headers={"Authorization": f"Bearer {token}"},
        rate_limiter=shared_limiter("airtable", base_id, limit=limit),
        deadline=deadline,
        **options,
    )
    supply_penalty(transport, penalty_seconds)
    return transport


# -- values ------------------------------------------------------------------------------------


def _number_text(number: float | int) -> str:
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return str(number)


def _plain(value: Any) -> Value:
    """Any cell value as text: lists joined by ", ", error values (``{"specialValue": "NaN"}``) empty."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        parts = [p for p in (_plain(v) for v in value) if p]
        return ", ".join(parts) or None
    if isinstance(value, dict):
        named = value.get("name") or value.get("email") or value.get("url")
        return str(named) if named else None
    return str(value)


def read_value(ftype: str, value: Any) -> Value:
    """A cell as a plain string; ``value`` is ``None`` when Airtable omitted the (empty) cell."""
    if ftype == "checkbox":
        return "true" if value is True else "false"
    return _plain(value)


def write_value(ftype: str, value: Value) -> Any:
    """The JSON cell value for writing ``value`` to a field of type ``ftype`` (raises ``_BadValue``)."""
    text = value if value not in (None, "") else None
    if ftype in TEXT_TYPES:
        if text is not None and len(text) > MAX_TEXT_LENGTH:
            raise _BadValue(f"text of {len(text)} characters is too long for Airtable (at most {MAX_TEXT_LENGTH})")
        return text
    if ftype == "singleSelect":
        return text
    if ftype == "multipleSelects":
        return [n.strip() for n in (text or "").split(",") if n.strip()]
    if ftype in NUMBER_TYPES:
        return _parse_number(text)
    if ftype == "checkbox":
        word = (text or "").strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise _BadValue(f"{text!r} is not a checkbox value (true/false)")
        return word in TRUE_WORDS
    if ftype in ("date", "dateTime"):
        return text
    raise _BadValue(f"fields of type {ftype!r} cannot be written")


class _Listing(NamedTuple):
    records: list[dict[str, Any]]
    as_of: datetime | None  # the server's ``Date`` of the first answer


def _parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _chunks(items: Sequence[Any], size: int = MAX_RECORDS_PER_REQUEST) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- connector ---------------------------------------------------------------------------------


class AirtableConnector:
    """Reads and writes the records of one Airtable table.

    ``table``: the table id (``tbl…``, survives renames) or name. ``fields``: field names to read
    (every record carries exactly these keys). ``link_field``: a text field holding the
    counterpart id. ``last_modified_field``: a "Last modified time" field (required).
    ``archived_field``: an optional checkbox ticked by ``archive`` instead of deleting.
    ``typecast``: let Airtable convert values (and create select options); off by default.
    """

    system = "airtable"
    link_batch_size = MAX_RECORDS_PER_REQUEST  # markers per PATCH (``set_links``)

    def __init__(
        self,
        transport: Transport,
        *,
        base_id: str,
        table: str,
        fields: Sequence[str],
        link_field: str = "Trello Card",
        last_modified_field: str = "Last Modified",
        archived_field: str | None = None,
        overlap_seconds: int = OVERLAP_SECONDS,
        page_size: int = MAX_PAGE_SIZE,
        typecast: bool = False,
        penalty_seconds: float = PENALTY_SECONDS,
        webhook_ids: Sequence[str] = (),
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        settings = {"link_field": link_field, "last_modified_field": last_modified_field}
        if archived_field is not None:
            settings["archived_field"] = archived_field
        problems = [
            f"Airtable {setting}: {problem}"
            for setting, name in settings.items()
            if (problem := formula.field_problem(name)) is not None
        ]
        if problems:
            raise ConfigError(problems)
        self.transport = transport
        self.base_id = base_id
        self.table = table
        self.fields = list(fields)
        self.link_field = link_field
        self.last_modified_field = last_modified_field
        self.archived_field = archived_field
        self.overlap = timedelta(seconds=overlap_seconds)
        self.page_size = page_size
        self.typecast = typecast
        self.webhook_ids = frozenset(webhook_ids)  # ours (their MAC secrets are in the credentials)
        self._checked = False
        supply_penalty(transport, penalty_seconds)

    # -- schema ----------------------------------------------------------------------------

    def _tables(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        key = (self.transport.base_url, self.base_id)
        with _cache_lock:
            cached = None if refresh else _bases.get(key)
        if cached is None:
            try:
                answer = self.transport.request("GET", path("/v0/meta/bases/{}/tables", self.base_id))
            except ApiError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                raise ConfigError(
                    [
                        f"cannot read the schema of Airtable base {self.base_id} ({exc.status}): check the base id "
                        "(the app… part of the table's URL), that the token has access to this base and the "
                        "scopes data.records:read, data.records:write and schema.bases:read"
                    ]
                ) from exc
            cached = list((answer or {}).get("tables") or [])
            with _cache_lock:
                _bases[key] = cached
        return cached

    def _table(self, *, refresh: bool = False) -> dict[str, Any]:
        for again in (refresh, True):
            tables = self._tables(refresh=again)
            for table in tables:
                if self.table in (table.get("id"), table.get("name")):
                    return table
            if again:
                break
        listed = ", ".join(f"{t.get('name')!r} ({t.get('id')})" for t in tables) or "none"
        raise ConfigError([f"Airtable base {self.base_id} has no table {self.table!r}; its tables: {listed}"])

    def _schema(self, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """Field name -> field definition (``type``, ``id``, ``options``)."""
        return {str(f["name"]): f for f in self._table(refresh=refresh).get("fields", [])}

    def _field(self, name: str) -> dict[str, Any]:
        schema = self._schema()
        if name not in schema:
            schema = self._schema(refresh=True)
        if name not in schema:
            raise ConfigError(
                [f"Airtable table {self.table!r} has no field {name!r}; it has: {', '.join(sorted(schema))}"]
            )
        return schema[name]

    @property
    def _path(self) -> str:
        return path("/v0/{}/{}", self.base_id, str(self._table()["id"]))

    def _record_path(self, record_id: str) -> str:
        """The path of one record of this table (a malformed id is a ``RecordError``, nothing sent)."""
        checked = self._record_id(record_id)  # before the schema is read: nothing is sent for a bad id
        return path("/v0/{}/{}/{}", self.base_id, str(self._table()["id"]), checked)

    @property
    def table_id(self) -> str:
        """The table's ``tbl…`` id (webhook payloads name tables by id)."""
        return str(self._table()["id"])

    # -- webhooks (leadsync.cycle.payloads) ------------------------------------------------

    def webhooks(self) -> Any:
        """The base's webhooks as listed (``GET /v0/bases/{base}/webhooks``), unparsed: untrusted."""
        return self.transport.request("GET", path("/v0/bases/{}/webhooks", self.base_id))

    def webhook_payloads(self, webhook_id: str, cursor: int) -> Any:
        """One page of a webhook's payloads from ``cursor`` (at most 50), unparsed: untrusted. A webhook
        that is gone is a ``NotFound``; a malformed id is a ``ValueError`` and nothing is sent."""
        if ids.airtable_webhook_id(webhook_id) is None or cursor < 1:
            raise ValueError("not an Airtable webhook id and cursor: nothing was sent")
        route = path("/v0/bases/{}/webhooks/{}/payloads", self.base_id, webhook_id)
        return self.transport.request("GET", route, params={"cursor": cursor})

    # -- ids -------------------------------------------------------------------------------

    def normalize_id(self, raw: str) -> str | None:
        """An Airtable record id (``rec`` + 14 alphanumerics) as is; ``None`` when ``raw`` is not one."""
        return ids.airtable_record_id(raw)

    def _record_id(self, record_id: str) -> str:
        found = ids.airtable_record_id(record_id)
        if found is None:
            raise RecordError(
                ids.shown(record_id), "not an Airtable record id ('rec' + 14 letters or digits): nothing was sent"
            )
        return found

    def check(self) -> None:
        """Check the table against the settings (once): every field exists, the special ones have
        the right types, and the last-modified field watches the synced fields."""
        if self._checked:
            return
        wanted = self._read_fields()
        schema = self._schema()
        if any(name not in schema for name in wanted):
            schema = self._schema(refresh=True)
        problems = []
        if self.last_modified_field not in schema:
            problems.append(
                f"Airtable table {self.table!r} has no field {self.last_modified_field!r} (last_modified_field), "
                'needed to read only what changed: add a field of type "Last modified time" watching all fields '
                f"and name it {self.last_modified_field!r}, or set last_modified_field to an existing one"
            )
        missing = [name for name in wanted if name not in schema and name != self.last_modified_field]
        if missing:
            problems.append(
                f"Airtable table {self.table!r} has no field {', '.join(map(repr, missing))}; "
                f"it has: {', '.join(sorted(schema))}"
            )
        if problems:
            raise ConfigError(problems)
        problems = self._type_problems(schema)
        if problems:
            raise ConfigError(problems)
        self._checked = True

    def _type_problems(self, schema: Mapping[str, dict[str, Any]]) -> list[str]:
        problems = []
        modified = schema[self.last_modified_field]
        if modified.get("type") != "lastModifiedTime":
            problems.append(
                f"Airtable field {self.last_modified_field!r} (last_modified_field) is a {modified.get('type')} "
                'field; it must be a "Last modified time" field'
            )
        watched = ((modified.get("options") or {}).get("referencedFieldIds")) or []
        if watched:
            unwatched = [n for n in (*self.fields, self.link_field) if schema[n].get("id") not in watched]
            if unwatched:
                problems.append(
                    f"Airtable field {self.last_modified_field!r} does not watch {', '.join(map(repr, unwatched))}: "
                    "edits to them would be missed; set it to watch all fields"
                )
        link_type = schema[self.link_field].get("type")
        if link_type not in ("singleLineText", "multilineText"):
            problems.append(f"Airtable link_field {self.link_field!r} is a {link_type} field; it must be text")
        if self.archived_field and schema[self.archived_field].get("type") != "checkbox":
            problems.append(
                f"Airtable archived_field {self.archived_field!r} is a "
                f"{schema[self.archived_field].get('type')} field; it must be a checkbox"
            )
        return problems

    def describe(self) -> Schema:
        """Field name -> type, and the option names of single and multiple select fields."""
        schema = self._schema(refresh=True)
        options = {
            name: [str(c["name"]) for c in (f.get("options") or {}).get("choices", [])]
            for name, f in schema.items()
            if f.get("type") in OPTION_TYPES
        }
        return Schema(fields={name: str(f.get("type")) for name, f in schema.items()}, options=options)

    # -- reading ---------------------------------------------------------------------------

    def _record(self, raw: Mapping[str, Any]) -> Record:
        cells = raw.get("fields") or {}
        schema = self._schema()
        stamp = _parse_time(cells.get(self.last_modified_field)) or _parse_time(raw.get("createdTime"))
        return Record(
            id=str(raw["id"]),
            # Airtable leaves empty cells out of a record, so only the schema tells an empty field from
            # a missing one: a mapped name the table does not have is left out (the field is left alone).
            fields={
                name: read_value(str(schema[name].get("type")), cells.get(name))
                for name in self.fields
                if name in schema
            },
            updated_at=stamp,
            deleted=bool(self.archived_field and cells.get(self.archived_field)),
            link=_plain(cells.get(self.link_field)),
        )

    def _read_fields(self) -> list[str]:
        names = [*self.fields, self.link_field, self.last_modified_field]
        if self.archived_field:
            names.append(self.archived_field)
        return list(dict.fromkeys(names))

    def _list(self, condition: str | None) -> _Listing:
        """Every record matching ``condition``, oldest modification first (restarting the listing
        if Airtable expired its pagination iterator), and the server's time of the first answer."""
        options: dict[str, Any] = {
            "pageSize": self.page_size,
            "fields": self._read_fields(),
            "sort": [{"field": self.last_modified_field, "direction": "asc"}],
        }
        if condition is not None:
            options["filterByFormula"] = condition
        return self._restartable(options)

    def _restartable(self, options: Mapping[str, Any]) -> _Listing:
        """Every page of a listing, restarted if Airtable expired its pagination iterator."""
        restarts = 0
        while True:
            try:
                return self._pages(options)
            except ApiError as exc:
                if ITERATOR_EXPIRED not in str(exc) or restarts >= LISTING_RESTARTS:
                    raise
                restarts += 1
                log.warning("Airtable listing of %s: pagination iterator expired; restarting", self.table)

    def view_members(self, view: str) -> frozenset[str]:
        """The ids of the records in ``view`` (a sync rule's membership read): the view's listing
        with one small field per record, ``pageSize`` 100; the normal fetch never uses a view."""
        options = {"pageSize": MAX_PAGE_SIZE, "view": view, "fields": [self.last_modified_field]}
        return frozenset(str(raw["id"]) for raw in self._restartable(options).records)

    def views(self) -> list[tuple[str, str]]:
        """The table's views as (id, name), from the base schema."""
        return [(str(v.get("id")), str(v.get("name"))) for v in self._table(refresh=True).get("views") or []]

    def _pages(self, options: Mapping[str, Any]) -> _Listing:
        records: list[dict[str, Any]] = []
        offset: str | None = None
        as_of: datetime | None = None
        while True:
            answer = self._list_page({**options, "offset": offset} if offset else dict(options)) or {}
            if offset is None:
                as_of = self.transport.server_time
            records.extend(answer.get("records") or [])
            offset = answer.get("offset")
            if not offset:
                return _Listing(records, as_of)

    def _list_page(self, options: Mapping[str, Any]) -> Any:
        """One page: GET with query parameters, or POST …/listRecords when the URL would be too long."""
        params: dict[str, Any] = {}
        for key, value in options.items():
            if key == "fields":
                params["fields[]"] = list(value)
            elif key == "sort":
                for i, item in enumerate(value):
                    params[f"sort[{i}][field]"] = item["field"]
                    params[f"sort[{i}][direction]"] = item["direction"]
            else:
                params[key] = value
        path = self._path
        url = requests.Request("GET", f"{self.transport.base_url}{path}", params=params).prepare().url or ""
        if len(url) <= MAX_URL_LENGTH:
            return self.transport.request("GET", path, params=params)
        return self.transport.request("POST", f"{path}/listRecords", json=dict(options), idempotent=True)

    def _newest(self, listing: _Listing, cursor: str | None) -> str | None:
        """The next cursor: the server's time of the listing's first page when known, else the
        newest last-modified time listed.

        Not the newest time listed when the server's is known: a listing pages over live records,
        so a record edited on an earlier page after that page was read carries a time older than
        later pages' newest one, and only a cursor from before the listing began reads it again.
        Not the last edit either, or a quiet table would be read from its last edit minus the
        overlap for ever. The overlap then only covers clock differences between Airtable's
        servers and an edit not yet visible to the first page.
        """
        if listing.as_of is not None:
            return formula.iso_ms(listing.as_of)
        newest, newest_at = cursor, _parse_time(cursor)
        for raw in listing.records:
            stamp = (raw.get("fields") or {}).get(self.last_modified_field)
            at = _parse_time(stamp)
            if at is not None and (newest_at is None or at > newest_at):
                newest, newest_at = str(stamp), at
        return newest

    def fetch_changed(self, cursor: str | None) -> FetchResult:
        """Records modified on or after ``cursor`` minus the overlap, oldest first.

        ``cursor`` is a time (ISO); the returned one is the server's time of this read's first
        page, or the newest last-modified time read when the server sent no ``Date``
        (``_newest``). ``None`` (or a
        cursor that is not a time, e.g. left by another system) lists every live record
        (``complete``). Incremental reads
        include records ticked as archived (``deleted``) so the engine learns of them at once;
        records deleted for good are not listed (the full sweep finds them).
        """
        self.check()
        since = _parse_time(cursor)
        if cursor is not None and since is None:
            log.warning("Airtable cursor %r is not a time; listing the whole table", cursor)
            cursor = None
        if since is None:
            return self.fetch_all()
        listing = self._list(formula.on_or_after(self.last_modified_field, since - self.overlap))
        return FetchResult([self._record(r) for r in listing.records], self._newest(listing, cursor), complete=False)

    def fetch_all(self) -> FetchResult:
        """Every live record (``complete``), archived ones left out; the cursor is the server's
        time of the listing's first page (``_newest``)."""
        self.check()
        condition = formula.unchecked(self.archived_field) if self.archived_field else None
        listing = self._list(condition)
        return FetchResult([self._record(r) for r in listing.records], self._newest(listing, None), complete=True)

    def get(self, record_id: str) -> Record | None:
        """The record (``deleted`` when its archived box is ticked), ``None`` when it is gone.

        A malformed id is a ``RecordError`` and nothing is sent."""
        record_path = self._record_path(record_id)
        try:
            raw = self.transport.request("GET", record_path)
        except NotFound:
            return None
        return self._record(raw)

    def find_by_link(self, link: str) -> Record | None:
        """The record whose link field is exactly ``link``, preferring one not archived (one query).

        ``link`` is an id of the other system: outside ``[A-Za-z0-9-]{1,64}`` it is a ``RecordError``
        (the formula quoting would hold anyway; this keeps odd values out of queries altogether)."""
        if not link:
            return None
        if not ids.safe_link(link):
            raise RecordError(
                ids.shown(link), f"not a link value leadsync writes ({self.link_field!r}): nothing was sent"
            )
        self.check()
        raws = self._list(formula.equals(self.link_field, link)).records
        records = [r for r in (self._record(raw) for raw in raws) if r.link == link]
        records.sort(key=lambda r: r.deleted)
        return records[0] if records else None

    # -- writing ---------------------------------------------------------------------------

    def _cells(self, fields: Fields, record: str) -> dict[str, Any]:
        cells: dict[str, Any] = {}
        for name, value in fields.items():
            ftype = str(self._field(name).get("type"))
            if ftype not in WRITABLE_TYPES:
                raise ConfigError([f"Airtable field {name!r} is a {ftype} field and cannot be written"])
            try:
                cells[name] = write_value(ftype, value)
            except _BadValue as exc:
                raise RecordError(record, f"field {name!r}: {exc}") from None
        return cells

    def _new_cells(self, fields: Fields, link: str | None, label: str) -> dict[str, Any]:
        cells = self._cells(fields, label)
        if link is not None:
            cells[self.link_field] = link
        return cells

    def _unknown_options(self, cells: Sequence[Mapping[str, Any]]) -> list[str]:
        """``field 'X' has no option 'Y'`` for each select value the table does not offer."""
        schema = self._schema(refresh=True)
        found: dict[tuple[str, str], None] = {}
        for row in cells:
            for name, value in row.items():
                spec = schema.get(name, {})
                if spec.get("type") not in OPTION_TYPES or value in (None, []):
                    continue
                offered = {c.get("name") for c in (spec.get("options") or {}).get("choices", [])}
                for option in value if isinstance(value, list) else [value]:
                    if option not in offered:
                        found[(name, option)] = None
        return [f"field {name!r} has no option {option!r}" for name, option in found]

    @contextmanager
    def _about(self, records: Sequence[str], cells: Sequence[Mapping[str, Any]]) -> Iterator[None]:
        """Name the record(s) (and an unknown select option's field) in any API error."""
        try:
            yield
        except NotFound:
            raise
        except ApiError as exc:
            context = f"record {', '.join(records)}"
            if exc.status == 422:
                unknown = self._unknown_options(cells)
                if unknown:
                    context += (
                        f" ({'; '.join(unknown)}: leadsync writes without typecast and never creates options; "
                        "add the option in Airtable or map the value)"
                    )
            raise with_record_context(exc, context) from exc

    def create(self, fields: Fields, link: str | None) -> Record:
        """A new record with these values and ``link`` in the link field."""
        return self.create_many([(fields, link)])[0]

    def create_many(self, items: Sequence[tuple[Fields, str | None]]) -> list[Record]:
        """Create records, up to 10 per request, in order. A failed request raises (the records
        of earlier requests exist). A retried request whose answer was lost may create twice."""
        created: list[Record] = []
        for chunk in _chunks(items):
            labels = [f"(new, linked to {link})" if link else "(new)" for _, link in chunk]
            rows = [self._new_cells(fields, link, label) for (fields, link), label in zip(chunk, labels, strict=True)]
            body = {"records": [{"fields": row} for row in rows], "typecast": self.typecast}
            with self._about(labels, rows):
                answer = self.transport.request("POST", self._path, json=body)
            created.extend(self._record(raw) for raw in answer["records"])
        return created

    def update(self, record_id: str, fields: Fields) -> Record:
        """Change only the given fields (a partial PATCH; never PUT, which clears the others)."""
        record_path = self._record_path(record_id)
        if not fields:
            record = self.get(record_id)
            if record is None:
                raise NotFound(self.system, 404, "record not found", method="GET", path=record_path)
            return record
        cells = self._cells(fields, record_id)
        with self._about([record_id], [cells]):
            raw = self.transport.request("PATCH", record_path, json={"fields": cells, "typecast": self.typecast})
        return self._record(raw)

    def update_many(self, items: Sequence[tuple[str, Fields]]) -> list[Record]:
        """Partial updates of several records, up to 10 per request, in order."""
        updated: list[Record] = []
        for record_id, _ in items:
            self._record_id(record_id)
        for chunk in _chunks(items):
            rows = [self._cells(fields, record_id) for record_id, fields in chunk]
            chunk_ids = [record_id for record_id, _ in chunk]
            body = {
                "records": [{"id": rid, "fields": row} for rid, row in zip(chunk_ids, rows, strict=True)],
                "typecast": self.typecast,
            }
            with self._about(chunk_ids, rows):
                answer = self.transport.request("PATCH", self._path, json=body)
            updated.extend(self._record(raw) for raw in answer["records"])
        return updated

    def set_link(self, record_id: str, link: str | None) -> None:
        """Write (or clear) the counterpart id in the link field."""
        record_path = self._record_path(record_id)
        cells = {self.link_field: link or None}
        with self._about([record_id], [cells]):
            self.transport.request("PATCH", record_path, json={"fields": cells})

    def set_links(self, links: Sequence[tuple[str, str | None]]) -> dict[str, LeadsyncError]:
        """Write many link fields, ten records per PATCH. Airtable refuses a whole request for
        one bad record (one deleted meanwhile), so a refused request is retried record by record
        to write the others and name the one at fault. A malformed id is reported (``RecordError``)
        and never sent."""
        failed: dict[str, LeadsyncError] = {}
        valid: list[tuple[str, str | None]] = []
        for record_id, link in links:
            try:
                valid.append((self._record_id(record_id), link))
            except RecordError as exc:
                failed[record_id] = exc
        for chunk in _chunks(valid):
            chunk_ids = [record_id for record_id, _ in chunk]
            rows = [{self.link_field: link or None} for _, link in chunk]
            body = {"records": [{"id": rid, "fields": row} for rid, row in zip(chunk_ids, rows, strict=True)]}
            try:
                with self._about(chunk_ids, rows):
                    self.transport.request("PATCH", self._path, json=body)
            except ApiError:
                for record_id, link in chunk:
                    try:
                        self.set_link(record_id, link)
                    except ApiError as exc:
                        failed[record_id] = exc
        return failed

    def archive(self, record_id: str) -> None:
        """Tick ``archived_field`` if configured; otherwise DELETE the record for good (Airtable has
        no archive). A record already gone counts as archived."""
        record_path = self._record_path(record_id)
        with self._about([record_id], []):
            try:
                if self.archived_field:
                    body = {"fields": {self.archived_field: True}, "typecast": self.typecast}
                    self.transport.request("PATCH", record_path, json=body)
                else:
                    self.transport.request("DELETE", record_path)
            except NotFound:
                log.info("Airtable record %s to archive no longer exists", record_id)
