"""Google Sheets connector: the rows of one tab of a spreadsheet, as leads.

The tab's first row is the header; columns are found by header name on every read, so a person
may reorder them. Besides the mapped columns the header must hold three bookkeeping columns:

- the id column (``Lead ID``): rows have no ids in Sheets, so leadsync fills in a short random id
  (``L-`` + 10 base32 characters) in every row with data that has none, and gives a fresh id to
  the second copy of a copied row (clearing its link and state: it is a new lead);
- the link column (``Trello Card``): the counterpart (card) id;
- the state column (``leadsync``, may be hidden): a 12-hex hash of the row's id, mapped values and
  link as last acknowledged, or ``archived``.

Change detection without a change feed: an incremental read is ONE ``values.get`` of the tab and
returns only rows whose hash differs from their state cell (new and edited rows).
:meth:`SheetsConnector.acknowledge`, called after a cycle commits, writes the hashes of the rows it
handled in one ``values.batchUpdate``; ``update``/``set_link`` keep a row acknowledged when it held
nothing unsynced. A full read (``fetch_changed(None)``, ``fetch_all``) returns every row.

Rows move (a person inserts, deletes, sorts): no write trusts a row number from an earlier read.
Just before writing, the header and the target row are read again (one ``values:batchGet``); if the
id cell no longer holds the id, the tab is re-read and the row found again by id. A header missing
a needed column is a ConfigError naming the column and the tab, and nothing is written.

Values are strings: read as the person sees them (FORMATTED_VALUE), written with RAW so ``00123``,
``+44 20 ...`` and ``=1+1`` stay text; ``None`` clears the cell. Sheets has no archive and
leadsync never deletes rows: ``archive`` writes ``archived`` into the state cell and such rows read
as deleted (clear the cell to bring the lead back). A row a person deletes (or clears) is gone:
``get`` returns ``None`` and the engine's full sweep notices. Records carry no ``updated_at``
(Sheets has no timestamps), so conflicts go to the pair's tie breaker.

Quotas: 60 reads and 60 writes per minute per user; every request takes a token from the shared
limiter of the service account (its ``client_email``), and 429 RESOURCE_EXHAUSTED is retried with
exponential backoff by the transport.

Ids: a lead id is exactly what leadsync mints (``L-`` + 10 base32 characters, ``normalize_id``). A row
whose id cell holds anything else (typed or pasted by a person) is treated like a copied row on the
next sync read: it gets a fresh id, and its link and state cells are cleared. An id handed in that is
not one (``get``, ``update``, ``set_link``, ``archive``) is a ``RecordError`` and nothing is sent.
Only the configured tab of the configured spreadsheet is ever read or written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

from leadsync.connectors.base import Schema
from leadsync.connectors.deadline import Deadline
from leadsync.connectors.http import Transport, about_record, path
from leadsync.connectors.ratelimit import Limit, shared_limiter
from leadsync.connectors.sheets_auth import ServiceAccountAuth, clear_cache, service_account_auth
from leadsync.connectors.sheets_rows import (
    ARCHIVED,
    Columns,
    Row,
    Table,
    cell_range,
    column_range,
    first_row_of,
    header_of,
    new_lead_id,
    parse_table,
    read_row,
    row_hash,
    row_range,
    tab_range,
)
from leadsync.core import ids
from leadsync.core.models import FetchResult, Fields, Record, Value
from leadsync.errors import ApiError, ConfigError, LeadsyncError, NotFound, RecordError, RetryableError

log = logging.getLogger("leadsync.connectors.sheets")

DEFAULT_BASE_URL = "https://sheets.googleapis.com"
CURSOR = "sheet"  # an incremental read needs no position: the state column says what changed
Cell = tuple[int, int, str]  # row number, column index, text
CELL_LIMIT = 50_000  # characters per cell (Google Sheets)
READ_PARAMS = {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"}
# Google asks for exponential backoff on 429 (quotas refill each minute) and sends no Retry-After.
TRANSPORT_DEFAULTS: dict[str, Any] = {"max_attempts": 6, "backoff_base": 1.0, "backoff_cap": 32.0}


def clear_caches() -> None:
    """Forget cached service-account tokens (tests)."""
    clear_cache()


def sheets_transport(
    auth: ServiceAccountAuth,
    *,
    base_url: str = DEFAULT_BASE_URL,
    deadline: Deadline | None = None,
    limit: Limit | None = None,
    **options: Any,
) -> Transport:
    """A transport on the service account's shared rate limiter, with a fresh bearer per attempt."""
    transport = Transport(
        "sheets",
        base_url,
        auth_headers={},
        rate_limiter=shared_limiter("sheets", auth.client_email, limit=limit),
        deadline=deadline,
        **{**TRANSPORT_DEFAULTS, **options},
    )
    transport.auth = lambda: auth.headers(transport.deadline)
    return transport


def _blank(value: Value) -> Value:
    return value if value not in (None, "") else None


@dataclass
class _Known:
    """A row as leadsync last handed it out (read), with leadsync's own writes applied on top."""

    fields: Fields
    link: Value
    state: str  # the state cell as last read or written


class SheetsConnector:
    """Reads and writes the lead rows of one tab.

    ``fields``: mapped column names (every record carries exactly these keys).
    ``id_column``, ``link_field``, ``state_column``: the bookkeeping columns (see the module doc).
    """

    system = "sheets"
    # Markers per read of the tab and batch write (``set_links``): a 55 s invocation creates about
    # 400 cards, whose markers are then written by one read and one write at its end.
    link_batch_size = 500
    # Rows are addressed through a cache of where each lead is (``_where``, ``_known``), which an
    # append or a read changes: the concurrent apply calls this connector one write at a time.
    thread_safe = False

    def __init__(
        self,
        transport: Transport,
        *,
        spreadsheet_id: str,
        fields: Sequence[str],
        sheet: str = "Leads",
        id_column: str = "Lead ID",
        link_field: str = "Trello Card",
        state_column: str = "leadsync",
        auth: ServiceAccountAuth | None = None,
    ) -> None:
        self.transport = transport
        self.spreadsheet_id = spreadsheet_id
        self.sheet = sheet
        self.fields = list(fields)
        self.id_column = id_column
        self.link_field = link_field
        self.state_column = state_column
        self.auth = auth
        self._columns: Columns | None = None
        self._where: dict[str, int] = {}  # id -> row number, from the latest read or write
        self._known: dict[str, _Known] = {}

    @classmethod
    def from_service_account(
        cls,
        account_info: Mapping[str, Any],
        *,
        spreadsheet_id: str,
        fields: Sequence[str],
        sheet: str = "Leads",
        id_column: str = "Lead ID",
        link_field: str = "Trello Card",
        state_column: str = "leadsync",
        base_url: str = DEFAULT_BASE_URL,
        token_uri: str | None = None,
        deadline: Deadline | None = None,
        limit: Limit | None = None,
        **options: Any,
    ) -> SheetsConnector:
        """A connector authenticated as the service account (``token_uri`` overrides the key's)."""
        auth = service_account_auth(account_info, token_uri=token_uri)
        transport = sheets_transport(auth, base_url=base_url, deadline=deadline, limit=limit, **options)
        return cls(
            transport,
            spreadsheet_id=spreadsheet_id,
            fields=fields,
            sheet=sheet,
            id_column=id_column,
            link_field=link_field,
            state_column=state_column,
            auth=auth,
        )

    # -- HTTP ------------------------------------------------------------------------------

    def _path(self, tail: str) -> str:
        """``tail`` (fixed text: ``values:batchGet``) under the spreadsheet, whose id is encoded."""
        return path("/v4/spreadsheets/{}/", self.spreadsheet_id) + tail

    def _values_path(self, a1: str, suffix: str = "") -> str:
        return path("/v4/spreadsheets/{}/values/{}", self.spreadsheet_id, a1) + suffix

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; a 401 (token revoked or expired early) fetches a new token once."""
        try:
            try:
                return self.transport.request(method, path, **kwargs)
            except ApiError as exc:
                if exc.status != 401 or self.auth is None:
                    raise
                self.auth.invalidate()
                return self.transport.request(method, path, **kwargs)
        except ApiError as exc:
            problem = self._config_problem(exc)
            if problem is None:
                raise
            raise problem from exc

    def _config_problem(self, exc: ApiError) -> ConfigError | None:
        """Errors no retry or other row can fix: the spreadsheet, the tab or the sharing is wrong."""
        who = self.auth.client_email if self.auth else "the service account"
        said = str(exc).split(f"-> {exc.status}: ", 1)[-1]
        if exc.status == 404:
            return ConfigError([f"spreadsheet {self.spreadsheet_id} not found (check spreadsheet_id): {said}"])
        if exc.status == 403:
            return ConfigError(
                [f"spreadsheet {self.spreadsheet_id}: access denied; share it with {who} as Editor ({said})"]
            )
        if exc.status == 401:
            return ConfigError([f"Google rejected the access token of {who}: {said}"])
        if exc.status == 400 and "Unable to parse range" in said:
            return ConfigError([f"spreadsheet {self.spreadsheet_id} has no tab named {self.sheet!r}"])
        return None

    def _get(self, a1: str) -> list[list[Any]]:
        answer = self._call("GET", self._values_path(a1), params=READ_PARAMS)
        return list((answer or {}).get("values") or [])

    def _batch_get(self, ranges: Sequence[str]) -> list[list[list[Any]]]:
        answer = self._call("GET", self._path("values:batchGet"), params={**READ_PARAMS, "ranges": list(ranges)})
        found = [list(vr.get("values") or []) for vr in (answer or {}).get("valueRanges") or []]
        if len(found) != len(ranges):
            raise RetryableError(f"sheets values:batchGet answered {len(found)} ranges for {len(ranges)}")
        return found

    def _write(self, cells: Sequence[Cell]) -> None:
        """Write single cells (row number, column index, text) in one atomic RAW batch."""
        data = [
            {"range": cell_range(self.sheet, row, col), "majorDimension": "ROWS", "values": [[text]]}
            for row, col, text in cells
        ]
        # Writing the same values to the same cells again is harmless: retry even a malformed answer.
        self._call(
            "POST", self._path("values:batchUpdate"), json={"valueInputOption": "RAW", "data": data}, idempotent=True
        )

    def _about(self, record: str) -> AbstractContextManager[None]:
        return about_record(f"record {record}")

    # -- reading ---------------------------------------------------------------------------

    def _columns_of(self, header: Sequence[str]) -> Columns:
        self._columns = Columns.from_header(
            header,
            sheet=self.sheet,
            fields=self.fields,
            id_column=self.id_column,
            link_field=self.link_field,
            state_column=self.state_column,
        )
        return self._columns

    def _read(self) -> Table:
        """The whole tab in one request, parsed; row locations refreshed."""
        values = self._get(tab_range(self.sheet))
        table = parse_table(values, self._columns_of(header_of(values)))
        self._where = {record_id: row.number for record_id, row in table.rows.items()}
        return table

    def _record(self, row: Row) -> Record:
        return Record(id=row.id, fields=dict(row.fields), updated_at=None, deleted=row.archived, link=row.link)

    def _remember(self, row: Row) -> None:
        self._known[row.id] = _Known(dict(row.fields), row.link, row.state)

    def describe(self) -> Schema:
        """The header's column names (all text: a sheet cell holds what the person types)."""
        header = header_of(self._get(row_range(self.sheet, 1)))
        return Schema(fields={name: "text" for name in header if name})

    def fetch_changed(self, cursor: str | None) -> FetchResult:
        """New and edited rows (their hash differs from their state cell); ``None``: every row.

        One ``values.get`` of the tab, plus one write when rows need ids. Archived rows are left
        out. The cursor is always ``"sheet"``: the state column, not a position, says what changed.
        """
        table = self._read_for_sync()
        live = sorted((r for r in table.rows.values() if not r.archived), key=lambda r: r.number)
        if cursor is None:
            return FetchResult([self._record(r) for r in live], CURSOR, True)
        return FetchResult([self._record(r) for r in live if not r.acknowledged], CURSOR, False)

    def fetch_all(self) -> FetchResult:
        """Every live lead row (a full sweep)."""
        return self.fetch_changed(None)

    # -- ids -------------------------------------------------------------------------------

    def normalize_id(self, raw: str) -> str | None:
        """A lead id as this connector mints them (``L-`` + 10 of ``A-Z2-7``), as is; else ``None``."""
        return ids.sheets_lead_id(raw)

    def _lead_id(self, record_id: str) -> str:
        found = ids.sheets_lead_id(record_id)
        if found is None:
            raise RecordError(
                ids.shown(record_id),
                f"not a lead id of sheet {self.sheet!r} ({self.id_column}: 'L-' + 10 of A-Z, 2-7): nothing was sent",
            )
        return found

    def _read_for_sync(self) -> Table:
        table = self._read()
        malformed = [row for row in table.rows.values() if ids.sheets_lead_id(row.id) is None]
        for row in malformed:
            del table.rows[row.id]
            self._where.pop(row.id, None)
        if table.without_id or table.duplicates or malformed:
            self._assign_ids(table, malformed)
        for row in table.rows.values():
            self._remember(row)
        return table

    def _assign_ids(self, table: Table, malformed: Sequence[Row] = ()) -> None:
        """Give every row with data but no id a fresh id, and every copied row and every row whose
        id is not one leadsync makes (``malformed``) a new one (one write).

        Rows left without an id (the write failed) are skipped this cycle and tried again next.
        """
        columns = table.columns
        cells: list[tuple[int, int, str]] = []
        fixed: list[Row] = []
        taken = set(table.rows)
        for row in [*table.without_id, *malformed, *table.duplicates]:
            record_id = new_lead_id()
            while record_id in taken:
                record_id = new_lead_id()
            taken.add(record_id)
            cells.append((row.number, columns.id, record_id))
            if row.id and ids.sheets_lead_id(row.id) is None:  # not our id: a new lead, as a copy is
                log.warning(
                    "sheet %r row %d: lead id %r is not one leadsync makes ('L-' + 10 of A-Z, 2-7): "
                    "it is a new lead with id %s",
                    self.sheet,
                    row.number,
                    row.id,
                    record_id,
                )
                cells += [(row.number, columns.link, ""), (row.number, columns.state, "")]
                fixed.append(replace(row, id=record_id, link=None, state=""))
            elif row.id:  # a copy of another row: a new lead, not linked, nothing acknowledged
                log.warning(
                    "sheet %r row %d repeats lead id %s of row %d (a copied row?): it is a new lead with id %s",
                    self.sheet,
                    row.number,
                    row.id,
                    table.rows[row.id].number,
                    record_id,
                )
                cells += [(row.number, columns.link, ""), (row.number, columns.state, "")]
                fixed.append(replace(row, id=record_id, link=None, state=""))
            else:
                fixed.append(replace(row, id=record_id))
        try:
            self._write(cells)
        except (ApiError, RetryableError) as exc:
            log.warning(
                "sheet %r: could not write ids for %d rows, next cycle tries again: %s", self.sheet, len(fixed), exc
            )
            return
        for row in fixed:
            table.rows[row.id] = row
            self._where[row.id] = row.number
        log.info("sheet %r: gave ids to %d rows", self.sheet, len(fixed))

    def get(self, record_id: str) -> Record | None:
        """The row holding ``record_id`` (``deleted`` when archived), or ``None`` when no row does.

        A malformed id is a ``RecordError`` and nothing is sent."""
        lead_id = self._lead_id(record_id)  # before the read: nothing is sent for a bad id
        row = self._read().rows.get(lead_id)
        if row is None:
            return None
        self._remember(row)
        return self._record(row)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, Record | RecordError | None]:
        """Each id's row as ``get`` reads it, from one read of the sheet (not one read per id): a
        malformed id is answered with its ``RecordError`` and the others are still read."""
        found: dict[str, Record | RecordError | None] = {}
        wanted: dict[str, str] = {}
        for record_id in record_ids:
            try:
                wanted[record_id] = self._lead_id(record_id)
            except RecordError as exc:
                found[record_id] = exc
        if not wanted:
            return found
        rows = self._read().rows
        for record_id, lead_id in wanted.items():
            row = rows.get(lead_id)
            if row is not None:
                self._remember(row)
            found[record_id] = self._record(row) if row is not None else None
        return found

    def find_by_link(self, link: str) -> Record | None:
        """The first live row (with a well-formed id) whose link cell holds ``link``; ``link``
        outside ``[A-Za-z0-9-]{1,64}`` is a ``RecordError``."""
        if not ids.safe_link(link):
            raise RecordError(
                ids.shown(link), f"not a link value leadsync writes ({self.link_field!r}): nothing was sent"
            )
        rows = sorted(self._read().rows.values(), key=lambda r: r.number)
        row = next((r for r in rows if r.link == link and not r.archived and ids.sheets_lead_id(r.id)), None)
        if row is None:
            return None
        self._remember(row)
        return self._record(row)

    # -- locating a row just before a write -------------------------------------------------

    def _fresh_row(self, record_id: str) -> Row | None:
        """The row holding ``record_id`` now: the header and the remembered row re-read in one
        batchGet; if the row moved (or the header changed), the whole tab is read again."""
        number = self._where.get(record_id)
        columns = self._columns
        if number is not None and columns is not None:
            header, cells = self._batch_get([row_range(self.sheet, 1), row_range(self.sheet, number)])
            if tuple(header_of(header)) == columns.header:
                row = read_row(number, cells[0] if cells else [], columns)
                if row is not None and row.id == record_id:
                    return row
            log.info("sheet %r: lead %s is no longer on row %d; reading the tab again", self.sheet, record_id, number)
        return self._read().rows.get(record_id)

    def _locate(self, record_ids: Sequence[str]) -> dict[str, int]:
        """Current row numbers of these ids, from the header and the id column read just now."""
        columns = self._columns
        if columns is None:
            columns = self._columns_of(header_of(self._get(row_range(self.sheet, 1))))
        header, ids = self._batch_get([row_range(self.sheet, 1), column_range(self.sheet, columns.id)])
        if tuple(header_of(header)) != columns.header:
            moved = self._columns_of(header_of(header))
            if moved.id != columns.id:
                ids = self._get(column_range(self.sheet, moved.id))
        wanted = set(record_ids)
        found: dict[str, int] = {}
        for offset, cells in enumerate(ids[1:]):
            value = str(cells[0]).strip() if cells else ""
            if value in wanted and value not in found:
                found[value] = offset + 2
        self._where.update(found)
        return found

    # -- writing ---------------------------------------------------------------------------

    def _check(self, fields: Mapping[str, Value], record: str) -> None:
        unknown = [name for name in fields if name not in self.fields]
        if unknown:
            raise ConfigError([f"sheet {self.sheet!r}: {unknown} are not mapped columns ({self.fields})"])
        for name, value in fields.items():
            if value is not None and len(value) > CELL_LIMIT:
                raise RecordError(
                    record, f"column {name!r}: {len(value)} characters, more than a Sheets cell holds ({CELL_LIMIT})"
                )

    def _missing(self, record_id: str) -> NotFound:
        return NotFound(
            self.system,
            404,
            f"no row with {self.id_column} {record_id} in sheet {self.sheet!r}",
            method="GET",
            path=self._path("values"),
        )

    def create(self, fields: Fields, link: str | None) -> Record:
        """Append a row (RAW, INSERT_ROWS) with a fresh id, the values, the link and its hash."""
        label = f"(new, linked to {link})" if link else "(new)"
        self._check(fields, label)
        columns = self._columns_of(header_of(self._get(row_range(self.sheet, 1))))
        record_id = new_lead_id()
        values: Fields = {name: _blank(fields.get(name)) for name in self.fields}
        link = _blank(link)
        state = row_hash(record_id, values, link)
        cells: list[str | None] = [None] * columns.width
        cells[columns.id] = record_id
        cells[columns.link] = link or ""
        cells[columns.state] = state
        for name, col in columns.fields.items():
            cells[col] = values[name] or ""
        retries = self.transport.stats.retries
        with self._about(label):
            answer = self._call(
                "POST",
                self._values_path(tab_range(self.sheet), ":append"),
                params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
                json={"majorDimension": "ROWS", "values": [cells]},
                # safe to retry although it is a POST: the row carries an id made here, and a copy that
                # landed twice is found by that id and blanked just below
                idempotent=True,
            )
        self._where[record_id] = first_row_of(str(((answer or {}).get("updates") or {}).get("updatedRange", "")))
        self._known[record_id] = _Known(dict(values), link, state)
        if self.transport.stats.retries > retries:
            self._clear_repeated_appends(record_id)
        return Record(id=record_id, fields=values, updated_at=None, deleted=False, link=link)

    def _clear_repeated_appends(self, record_id: str) -> None:
        """An append retried after a lost answer may have landed twice: blank the extra copies
        (rows leadsync wrote a moment ago, never a person's row: the id is new and random)."""
        table = self._read()
        copies = [r for r in table.duplicates if r.id == record_id]
        if not copies:
            return
        columns = table.columns
        used = [columns.id, columns.link, columns.state, *columns.fields.values()]
        self._write([(row.number, col, "") for row in copies for col in used])
        log.warning(
            "sheet %r: a retried append left %d extra copies of %s; blanked them", self.sheet, len(copies), record_id
        )

    def _row_cells(self, row: Row, changes: Fields, link: Value, record_id: str) -> tuple[list[Cell], str]:
        """The cells that write ``changes`` (and ``link``) into ``row``, keeping it acknowledged if
        it was, and the state cell as it will then be."""
        columns = self._columns
        assert columns is not None
        cells = [(row.number, columns.fields[name], value or "") for name, value in changes.items()]
        if link != row.link:
            cells.append((row.number, columns.link, link or ""))
        state = row.state
        if row.acknowledged:  # nothing unsynced in the row: it stays acknowledged with our write
            state = row_hash(record_id, {**row.fields, **changes}, link)
            cells.append((row.number, columns.state, state))
        return cells, state

    def _write_row(self, row: Row, changes: Fields, link: Value, record_id: str) -> str:
        """Write ``changes`` (and ``link``) into ``row``; return the state cell as it now is."""
        cells, state = self._row_cells(row, changes, link, record_id)
        with self._about(record_id):
            self._write(cells)
        return state

    def _after_write(self, record_id: str, changes: Fields, link: Value, state: str) -> None:
        known = self._known.get(record_id)
        if known is not None:
            known.fields.update(changes)
            known.link = link
            known.state = state

    def update(self, record_id: str, fields: Fields) -> Record:
        """Write only the given cells (RAW) into the row holding ``record_id`` now."""
        self._lead_id(record_id)
        self._check(fields, record_id)
        row = self._fresh_row(record_id)
        if row is None:
            raise self._missing(record_id)
        changes: Fields = {name: _blank(value) for name, value in fields.items()}
        if not changes:
            return self._record(row)
        state = self._write_row(row, changes, row.link, record_id)
        self._after_write(record_id, changes, row.link, state)
        return self._record(replace(row, fields={**row.fields, **changes}, state=state))

    def set_link(self, record_id: str, link: str | None) -> None:
        """Write (or clear) the card id in the link column."""
        self._lead_id(record_id)
        row = self._fresh_row(record_id)
        if row is None:
            raise self._missing(record_id)
        link = _blank(link)
        if link == row.link:
            return
        state = self._write_row(row, {}, link, record_id)
        self._after_write(record_id, {}, link, state)

    def set_links(self, links: Sequence[tuple[str, str | None]]) -> dict[str, LeadsyncError]:
        """Write many link cells: one read of the tab to find the rows, one batch write. A malformed
        id is reported (``RecordError``), the others are written."""
        missing: dict[str, LeadsyncError] = {}
        valid: list[tuple[str, str | None]] = []
        for record_id, link in links:
            try:
                valid.append((self._lead_id(record_id), link))
            except RecordError as exc:
                missing[record_id] = exc
        if not valid:
            return missing
        table = self._read()
        cells: list[Cell] = []
        written: list[tuple[str, Value, str]] = []
        for record_id, link in valid:
            row = table.rows.get(record_id)
            if row is None:
                missing[record_id] = self._missing(record_id)
                continue
            if _blank(link) != row.link:
                row_cells, state = self._row_cells(row, {}, _blank(link), record_id)
                cells.extend(row_cells)
                written.append((record_id, _blank(link), state))
        if cells:
            with self._about(", ".join(record_id for record_id, _, _ in written)):
                self._write(cells)
        for record_id, link, state in written:
            self._after_write(record_id, {}, link, state)
        return missing

    def archive(self, record_id: str) -> None:
        """Write ``archived`` into the state cell (rows are never deleted). A row that is gone, or
        already archived, needs nothing."""
        self._lead_id(record_id)
        row = self._fresh_row(record_id)
        if row is None:
            log.info("sheet %r: lead %s to archive is no longer in the sheet", self.sheet, record_id)
            return
        if row.archived:
            return
        assert self._columns is not None
        with self._about(record_id):
            self._write([(row.number, self._columns.state, ARCHIVED)])
        known = self._known.get(record_id)
        if known is not None:
            known.state = ARCHIVED

    def acknowledge(self, record_ids: Sequence[str]) -> None:
        """Record that these rows are synced: write the hash of each row as leadsync last read it
        (with its own writes applied) into its state cell, all in one RAW ``values.batchUpdate``.

        Call it after the cycle that handled the rows has committed. Rows already acknowledged,
        archived, unknown to this connector or gone are skipped; nothing to write, no request. A
        row a person edited since it was read keeps a differing hash and is read again next cycle.
        """
        due: dict[str, str] = {}
        for record_id in dict.fromkeys(record_ids):
            known = self._known.get(record_id)
            if known is None or known.state.strip().lower() == ARCHIVED:
                continue
            digest = row_hash(record_id, known.fields, known.link)
            if known.state != digest:
                due[record_id] = digest
        if not due:
            return
        where = self._locate(list(due))
        columns = self._columns
        assert columns is not None
        cells = [(where[record_id], columns.state, digest) for record_id, digest in due.items() if record_id in where]
        if not cells:
            return
        self._write(cells)
        for record_id, digest in due.items():
            if record_id in where:
                self._known[record_id].state = digest
        log.debug("sheet %r: acknowledged %d rows", self.sheet, len(cells))
