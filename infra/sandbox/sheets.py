"""Google Sheets API v4 emulator (values + spreadsheets.batchUpdate) with its OAuth token endpoint.

Behaviour follows docs/api-notes §4: `/v4/spreadsheets/{id}` metadata, values get/batchGet/update/
append/batchUpdate/clear/batchClear with A1 ranges (see `sheets_a1`), trailing empty cells and rows
dropped, RAW vs USER_ENTERED input, atomic `:batchUpdate` (insert/delete/append dimension, add/delete
sheet, update sheet/spreadsheet properties), Google error bodies, per-minute read/write quotas per user
and per project. `POST /token` exchanges a service-account JWT (see `google_token`).
"""

from __future__ import annotations

import copy
import random
import re
import string
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sandbox.common import Emulator, HttpError, Request, Response, Rule, json_response, read_json
from sandbox.google_token import GOOGLE_TOKEN_URLS, TokenGrantError, TokenIssuer, generate_service_account
from sandbox.sheets_a1 import A1Error, A1Range, column_letters, format_range, parse_a1

__all__ = ["SheetsEmulator", "make_service_account"]

DEFAULT_ROWS, DEFAULT_COLS = 1000, 26
READ_SCOPES = frozenset(
    "https://www.googleapis.com/auth/" + s
    for s in ("spreadsheets", "spreadsheets.readonly", "drive", "drive.readonly", "drive.file")
)
WRITE_SCOPES = frozenset("https://www.googleapis.com/auth/" + s for s in ("spreadsheets", "drive", "drive.file"))
_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
_ID_CHARS = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class Cell:
    """A stored cell: its value (str, int/float or bool) and the formula that produced it, if any."""

    value: str | int | float | bool
    formula: str | None = None


@dataclass
class Sheet:
    """One tab: properties and a dense list of rows (rows hold Cell or None)."""

    sheet_id: int
    title: str
    row_count: int = DEFAULT_ROWS
    col_count: int = DEFAULT_COLS
    frozen_rows: int = 0
    rows: list[list[Cell | None]] = field(default_factory=list)

    def cell(self, row: int, col: int) -> Cell | None:
        if row < len(self.rows) and col < len(self.rows[row]):
            return self.rows[row][col]
        return None

    def put(self, row: int, col: int, cell: Cell | None) -> None:
        while len(self.rows) <= row:
            self.rows.append([])
        line = self.rows[row]
        while len(line) <= col:
            line.append(None)
        line[col] = cell

    def row_is_empty(self, row: int, start_col: int = 0, end_col: int | None = None) -> bool:
        if row >= len(self.rows):
            return True
        return all(c is None for c in self.rows[row][start_col:end_col])


@dataclass
class Spreadsheet:
    """A spreadsheet document: title and ordered sheets."""

    id: str
    title: str
    sheets: list[Sheet] = field(default_factory=list)

    def by_title(self, title: str) -> Sheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def by_id(self, sheet_id: Any) -> Sheet | None:
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)


def google_error(status: int, message: str, status_text: str | None = None) -> HttpError:
    """HttpError with Google's `{"error":{"code","message","status"}}` body."""
    body = {"error": {"code": status, "message": message, "status": status_text or _STATUS[status]}}
    return HttpError(json_response(body, status))


def _bad(message: str) -> HttpError:
    return google_error(400, message)


class SheetsEmulator(Emulator):
    """In-memory Google Sheets; HTTP API under /v4/spreadsheets and the token endpoint at /token."""

    name: ClassVar[str] = "sheets"
    base_path: ClassVar[str] = ""
    env_var: ClassVar[str | None] = "LEADSYNC_SHEETS_BASE_URL"
    rate_limit_defaults: ClassVar[dict[str, Any]] = {
        "read_per_minute_per_user": 60,
        "write_per_minute_per_user": 60,
        "read_per_minute_per_project": 300,
        "write_per_minute_per_project": 300,
    }

    def __init__(self, *args: Any, accept_unissued_tokens: bool = False, **kwargs: Any) -> None:
        self.issuer = TokenIssuer()
        self.accept_unissued_tokens = accept_unissued_tokens
        """A setting (kept across `reset`): True answers any non-empty bearer token, as the sandbox
        did before it checked tokens; default False answers 401 UNAUTHENTICATED to a token the token
        endpoint never issued or that has expired, as Google does."""
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ framework hooks
    def routes(self) -> list[Rule]:
        return [
            Rule("/token", endpoint="token_endpoint", methods=["POST"]),
            Rule("/v4/spreadsheets", endpoint="create_endpoint", methods=["POST"]),
            Rule("/v4/spreadsheets/<path:rest>", endpoint="dispatch"),
        ]

    def reset_data(self) -> None:
        """Forget spreadsheets (registered service accounts and issued tokens are kept)."""
        self._rng = random.Random()
        self.books: dict[str, Spreadsheet] = {}

    @property
    def token_uri(self) -> str:
        """The OAuth token endpoint URL to put in service-account JSON."""
        return self.root_url + "/token"

    def env(self) -> dict[str, str]:
        return {"LEADSYNC_SHEETS_BASE_URL": self.url, "LEADSYNC_GOOGLE_TOKEN_URI": self.token_uri}

    def authenticate(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            return _auth_error(
                "Request is missing required authentication credential. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential. "
                "See https://developers.google.com/identity/sign-in/web/devconsole-project."
            )
        issued = self.issuer.lookup(token)
        if issued is None:
            # Google accepts only the access tokens it issued; `require_token(...)` registers static
            # extra ones for direct tests, `accept_unissued_tokens` restores the old lenient mode
            if self.accept_unissued_tokens or (self._tokens is not None and token in self._tokens):
                return None
            return _auth_error(_INVALID_CREDENTIALS)
        if issued.expires_at <= self.clock.time():
            return _auth_error(_INVALID_CREDENTIALS)
        needed = READ_SCOPES if request.method == "GET" else WRITE_SCOPES
        if not needed.intersection(issued.scopes):
            return json_response(
                {
                    "error": {
                        "code": 403,
                        "message": "Request had insufficient authentication scopes.",
                        "status": "PERMISSION_DENIED",
                    }
                },
                403,
            )
        return None

    def route_template(self, request: Request) -> tuple[str, dict[str, Any]] | None:
        """`/v4/spreadsheets/{id}[/values/{range}][:verb]` and `/values:batchGet`-style templates."""
        route = super().route_template(request)
        if route is None or "{rest}" not in route[0]:
            return route
        rest = str(route[1]["rest"])
        book, _, tail = rest.partition("/")
        book, colon, verb = book.partition(":")
        template = "/v4/spreadsheets/{spreadsheetId}" + (colon + verb)
        if tail.startswith("values:"):
            template += "/" + tail
        elif tail.startswith("values/"):
            _, _, suffix = tail[len("values/") :].rpartition(":")
            has_verb = ":" in tail[len("values/") :] and suffix in ("append", "clear")
            template += "/values/{range}" + (":" + suffix if has_verb else "")
        elif tail:
            template += "/" + tail
        return template, route[1]

    _ENUM_PARAMS: ClassVar[frozenset[str]] = frozenset(
        {
            "valueInputOption",
            "insertDataOption",
            "valueRenderOption",
            "dateTimeRenderOption",
            "majorDimension",
            "responseValueRenderOption",
            "grant_type",
        }
    )

    def notable_params(self, request: Request, path: str, values: dict[str, Any]) -> set[str]:
        """Query and body names; enum-like ones as `name=value` (`valueInputOption=RAW`); for
        `:batchUpdate` of the spreadsheet, `requests.<kind>` of each request."""
        names: set[str] = set()
        items: list[tuple[str, Any]] = list(request.args.items(multi=True))
        if path == "/token":
            items += list(request.form.items(multi=True))
        elif request.method != "GET":
            body = read_json(request)
            items += list(body.items()) if isinstance(body, dict) else []
        for key, value in items:
            if key == "assertion":
                continue
            if key in self._ENUM_PARAMS and isinstance(value, str):
                names.add(f"{key}={value}")
            elif key == "requests" and isinstance(value, list):
                names |= {f"requests.{kind}" for item in value if isinstance(item, dict) for kind in item}
            else:
                names.add(key)
        return names

    def check_rate_limit(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        kind = "read" if request.method == "GET" else "write"
        params = self.limiter.params
        checks = [
            (f"{kind}:user:{self._user(request)}", params[f"{kind}_per_minute_per_user"], "User"),
            (f"{kind}:project", params[f"{kind}_per_minute_per_project"], "Project"),
        ]
        for key, limit, scope in checks:
            if not self.limiter.peek_window(key, int(limit), 60.0).allowed:
                return _quota_response(kind, scope, int(limit))
        for key, limit, _ in checks:
            self.limiter.window(key, int(limit), 60.0)
        return None

    def _user(self, request: Request) -> str:
        token = request.headers.get("Authorization", "")[7:].strip()
        issued = self.issuer.lookup(token)
        return issued.client_email if issued else token

    def rate_limited_response(self, request: Request, retry_after: float) -> Response:
        kind = "read" if request.method == "GET" else "write"
        return _quota_response(kind, "User", int(self.limiter.params[f"{kind}_per_minute_per_user"]))

    def decorate(self, request: Request, response: Response) -> None:
        if self.limiter.enabled and self.limiter.time_scale != 1.0:
            response.headers["x-sandbox-time-scale"] = str(self.limiter.time_scale)

    def error_response(self, status: int, request: Request) -> Response:
        messages = {
            404: ("Requested entity was not found.", "NOT_FOUND"),
            405: ("Method Not Allowed", "INVALID_ARGUMENT"),
            500: ("Internal error encountered.", "INTERNAL"),
            503: ("The service is currently unavailable.", "UNAVAILABLE"),
        }
        message, status_text = messages.get(status, messages[503])
        return json_response({"error": {"code": status, "message": message, "status": status_text}}, status)

    def stats_data(self) -> dict[str, Any]:
        return {"spreadsheets": len(self.books)}

    # ------------------------------------------------------------------ service accounts
    def register_service_account(self, client_email: str, public_key_pem: str | bytes) -> None:
        """Trust this public key for JWT assertions whose `iss` is `client_email`."""
        self.issuer.register(client_email, public_key_pem)

    def make_service_account(
        self, client_email: str = "leadsync@leadsync-sandbox.iam.gserviceaccount.com"
    ) -> dict[str, str]:
        """A real service-account JSON info (fresh RSA key, token_uri = this emulator), registered here."""
        info, public_pem = generate_service_account(client_email, self.token_uri)
        self.register_service_account(client_email, public_pem)
        return info

    def issue_token(
        self,
        client_email: str = "leadsync@leadsync-sandbox.iam.gserviceaccount.com",
        scopes: tuple[str, ...] = ("https://www.googleapis.com/auth/spreadsheets",),
        lifetime_s: float = 3599,
    ) -> str:
        """An access token as the token endpoint would issue it, without a JWT (direct HTTP tests)."""
        return self.issuer.issue(client_email, tuple(scopes), self.clock.time() + lifetime_s)

    # ------------------------------------------------------------------ user helpers (the "UI")
    def create_spreadsheet(self, title: str = "Leads", sheets: dict[str, list[list[Any]]] | None = None) -> str:
        """Create a spreadsheet whose tabs hold the given rows (typed in as a user would)."""
        with self.lock:
            book = Spreadsheet(self._spreadsheet_id(), title)
            for index, (sheet_title, rows) in enumerate((sheets or {"Sheet1": []}).items()):
                sheet = Sheet(0 if index == 0 else self._sheet_id(), sheet_title)
                sheet.row_count = max(DEFAULT_ROWS, len(rows))
                sheet.col_count = max([DEFAULT_COLS, *(len(r) for r in rows)])
                _write(sheet, 0, 0, rows, "USER_ENTERED")
                book.sheets.append(sheet)
            self.books[book.id] = book
            return book.id

    def user_set_values(self, spreadsheet_id: str, a1: str, values: list[list[Any]]) -> None:
        """A person types `values` starting at the range's top-left cell."""
        with self.lock:
            book = self._book(spreadsheet_id)
            sheet, rng = self._resolve(book, a1)
            _write(sheet, rng.start_row or 0, rng.start_col or 0, values, "USER_ENTERED")

    def user_insert_row(self, spreadsheet_id: str, sheet: str, index: int, values: list[Any]) -> None:
        """A person inserts a row so that it becomes row number `index` (1-based) and fills it."""
        with self.lock:
            tab = self._tab(self._book(spreadsheet_id), sheet)
            _insert(tab, "ROWS", index - 1, index)
            _write(tab, index - 1, 0, [values], "USER_ENTERED")

    def user_delete_row(self, spreadsheet_id: str, sheet: str, index: int) -> None:
        """A person deletes row number `index` (1-based); rows below move up."""
        with self.lock:
            tab = self._tab(self._book(spreadsheet_id), sheet)
            _delete(tab, "ROWS", index - 1, index)

    def values(self, spreadsheet_id: str, sheet: str, rows: int | None = None) -> list[list[str]]:
        """The tab's formatted values as values.get returns them (trailing empties dropped); only the
        first ``rows`` rows when given."""
        with self.lock:
            tab = self._tab(self._book(spreadsheet_id), sheet)
            end = tab.row_count if rows is None else min(rows, tab.row_count)
            return _read(tab, 0, end, 0, tab.col_count, "FORMATTED_VALUE")

    def sheet_id(self, spreadsheet_id: str, sheet: str) -> int:
        """The numeric sheetId (gid) of a tab."""
        with self.lock:
            return self._tab(self._book(spreadsheet_id), sheet).sheet_id

    # ------------------------------------------------------------------ lookups
    def _spreadsheet_id(self) -> str:
        return "".join(self._rng.choice(_ID_CHARS) for _ in range(44))

    def _sheet_id(self) -> int:
        return self._rng.randrange(1, 2**31 - 1)

    def _book(self, spreadsheet_id: str) -> Spreadsheet:
        book = self.books.get(spreadsheet_id)
        if book is None:
            raise google_error(404, "Requested entity was not found.")
        return book

    @staticmethod
    def _tab(book: Spreadsheet, title: str) -> Sheet:
        sheet = book.by_title(title)
        if sheet is None:
            raise _bad(f"Unable to parse range: {title}")
        return sheet

    @staticmethod
    def _resolve(book: Spreadsheet, text: str) -> tuple[Sheet, A1Range]:
        try:
            rng = parse_a1(text, [s.title for s in book.sheets])
        except A1Error:
            raise _bad(f"Unable to parse range: {text}") from None
        sheet = book.sheets[0] if rng.sheet is None else book.by_title(rng.sheet)
        if sheet is None:
            raise _bad(f"Unable to parse range: {text}")
        return sheet, rng

    # ------------------------------------------------------------------ HTTP: token + routing
    def token_endpoint(self, request: Request) -> Response:
        audiences = (*GOOGLE_TOKEN_URLS, self.token_uri)
        try:
            body = self.issuer.exchange(dict(request.form), self.clock.time(), audiences)
        except TokenGrantError as exc:
            return json_response(exc.body(), exc.status)
        return json_response(body, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})

    def create_endpoint(self, request: Request) -> Response:
        body = _json_body(request)
        props = body.get("properties") or {}
        titles = [((s.get("properties") or {}).get("title")) for s in body.get("sheets") or []]
        book_id = self.create_spreadsheet(
            str(props.get("title", "Untitled spreadsheet")),
            {str(t or f"Sheet{i + 1}"): [] for i, t in enumerate(titles)} or None,
        )
        return json_response(self._metadata(self._book(book_id)))

    def dispatch(self, request: Request, rest: str) -> Response:
        method = request.method
        if "/" not in rest:
            if rest.endswith(":batchUpdate") and method == "POST":
                return self._batch_update(self._book(rest[: -len(":batchUpdate")]), request)
            if ":" not in rest and method == "GET":
                return json_response(self._metadata(self._book(rest)))
            raise google_error(404, "Requested entity was not found.")
        book_id, tail = rest.split("/", 1)
        book = self._book(book_id)
        collection = {
            ("values:batchGet", "GET"): self._batch_get,
            ("values:batchUpdate", "POST"): self._values_batch_update,
            ("values:batchClear", "POST"): self._batch_clear,
        }
        if (tail, method) in collection:
            return collection[(tail, method)](book, request)
        if not tail.startswith("values/"):
            raise google_error(404, "Requested entity was not found.")
        a1 = tail[len("values/") :]
        if method == "POST" and a1.endswith(":append"):
            return self._append(book, a1[: -len(":append")], request)
        if method == "POST" and a1.endswith(":clear"):
            return self._clear(book, a1[: -len(":clear")])
        if method == "GET":
            return json_response(self._get_range(book, a1, request.args))
        if method == "PUT":
            return self._update(book, a1, request)
        raise google_error(404, "Requested entity was not found.")

    # ------------------------------------------------------------------ spreadsheets.get / batchUpdate
    def _metadata(self, book: Spreadsheet) -> dict[str, Any]:
        return {
            "spreadsheetId": book.id,
            "properties": {
                "title": book.title,
                "locale": "en_US",
                "autoRecalc": "ON_CHANGE",
                "timeZone": "Etc/GMT",
            },
            "sheets": [{"properties": _sheet_properties(s, i)} for i, s in enumerate(book.sheets)],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.id}/edit",
        }

    def _batch_update(self, book: Spreadsheet, request: Request) -> Response:
        body = _json_body(request)
        requests_ = body.get("requests")
        if not isinstance(requests_, list) or not requests_:
            raise _bad("Must specify at least one request.")
        draft = copy.deepcopy(book)  # atomic: apply to a copy, keep it only if every request succeeds
        replies = [self._apply_request(draft, item, index) for index, item in enumerate(requests_)]
        self.books[book.id] = draft
        result: dict[str, Any] = {"spreadsheetId": book.id, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            result["updatedSpreadsheet"] = self._metadata(draft)
        return json_response(result)

    def _apply_request(self, book: Spreadsheet, item: Any, index: int) -> dict[str, Any]:
        if not isinstance(item, dict) or len(item) != 1:
            raise _bad(f"Invalid requests[{index}]: exactly one request kind must be set.")
        kind, spec = next(iter(item.items()))
        where = f"Invalid requests[{index}].{kind}"
        handler = {
            "insertDimension": self._req_insert_dimension,
            "deleteDimension": self._req_delete_dimension,
            "appendDimension": self._req_append_dimension,
            "addSheet": self._req_add_sheet,
            "deleteSheet": self._req_delete_sheet,
            "updateSheetProperties": self._req_update_sheet,
            "updateSpreadsheetProperties": self._req_update_spreadsheet,
        }.get(kind)
        if handler is None:
            raise _bad(f"Invalid requests[{index}]: {kind} is not supported by the sandbox emulator.")
        if not isinstance(spec, dict):
            raise _bad(f"{where}: request body must be an object.")
        return handler(book, spec, where)

    @staticmethod
    def _grid(book: Spreadsheet, sheet_id: Any, where: str) -> Sheet:
        sheet = book.by_id(sheet_id if sheet_id is not None else 0)
        if sheet is None:
            raise _bad(f"{where}: No grid with id: {sheet_id}")
        return sheet

    def _dimension_range(self, book: Spreadsheet, spec: dict[str, Any], where: str) -> tuple[Sheet, str, int, int]:
        rng = spec.get("range") or {}
        sheet = self._grid(book, rng.get("sheetId"), where)
        dimension = rng.get("dimension")
        if dimension not in ("ROWS", "COLUMNS"):
            raise _bad(f"{where}: range.dimension must be ROWS or COLUMNS.")
        start, end = rng.get("startIndex", 0), rng.get("endIndex")
        if not isinstance(start, int) or not isinstance(end, int) or start < 0 or end <= start:
            raise _bad(f"{where}: startIndex must be less than endIndex and both non-negative.")
        return sheet, dimension, start, end

    def _req_insert_dimension(self, book: Spreadsheet, spec: dict[str, Any], where: str) -> dict[str, Any]:
        sheet, dimension, start, end = self._dimension_range(book, spec, where)
        size = sheet.row_count if dimension == "ROWS" else sheet.col_count
        if start > size:
            raise _bad(f"{where}: startIndex [{start}] is after the last {dimension.lower()[:-1]} ({size}).")
        if spec.get("inheritFromBefore") and start == 0:
            raise _bad(f"{where}: Cannot inherit properties from before when inserting at index 0.")
        _insert(sheet, dimension, start, end)
        return {}

    def _req_delete_dimension(self, book: Spreadsheet, spec: dict[str, Any], where: str) -> dict[str, Any]:
        sheet, dimension, start, end = self._dimension_range(book, spec, where)
        size = sheet.row_count if dimension == "ROWS" else sheet.col_count
        if end > size:
            raise _bad(f"{where}: Invalid range: endIndex [{end}] is beyond the grid size ({size}).")
        if start == 0 and end >= size:
            raise _bad(f"{where}: You can't delete all the {dimension.lower()} on the sheet.")
        _delete(sheet, dimension, start, end)
        return {}

    def _req_append_dimension(self, book: Spreadsheet, spec: dict[str, Any], where: str) -> dict[str, Any]:
        sheet = self._grid(book, spec.get("sheetId"), where)
        length = spec.get("length")
        if not isinstance(length, int) or length <= 0 or spec.get("dimension") not in ("ROWS", "COLUMNS"):
            raise _bad(f"{where}: dimension and a positive length are required.")
        if spec["dimension"] == "ROWS":
            sheet.row_count += length
        else:
            sheet.col_count += length
        return {}

    def _req_add_sheet(self, book: Spreadsheet, spec: dict[str, Any], where: str) -> dict[str, Any]:
        props = spec.get("properties") or {}
        title = str(props.get("title") or f"Sheet{len(book.sheets) + 1}")
        if book.by_title(title) is not None:
            raise _bad(f'{where}: A sheet with the name "{title}" already exists. Please enter another name.')
        sheet_id = props.get("sheetId", self._sheet_id())
        if book.by_id(sheet_id) is not None:
            raise _bad(f"{where}: A sheet with id {sheet_id} already exists.")
        grid = props.get("gridProperties") or {}
        sheet = Sheet(
            sheet_id,
            title,
            int(grid.get("rowCount", DEFAULT_ROWS)),
            int(grid.get("columnCount", DEFAULT_COLS)),
            int(grid.get("frozenRowCount", 0)),
        )
        position = min(int(props.get("index", len(book.sheets))), len(book.sheets))
        book.sheets.insert(position, sheet)
        return {"addSheet": {"properties": _sheet_properties(sheet, position)}}

    def _req_delete_sheet(self, book: Spreadsheet, spec: dict[str, Any], where: str) -> dict[str, Any]:
        sheet = self._grid(book, spec.get("sheetId"), where)
        if len(book.sheets) == 1:
            raise _bad(f"{where}: You can't remove all the sheets in a document.")
        book.sheets.remove(sheet)
        return {}

    def _req_update_sheet(self, book: Spreadsheet, spec: dict[str, Any], where: str) -> dict[str, Any]:
        props = spec.get("properties") or {}
        sheet = self._grid(book, props.get("sheetId"), where)
        fields = _field_mask(spec.get("fields"), where)
        grid = props.get("gridProperties") or {}
        setters = {
            "title": lambda: self._rename(book, sheet, str(props.get("title", "")), where),
            "index": lambda: self._move(book, sheet, int(props.get("index", 0))),
            "gridProperties.rowCount": lambda: setattr(sheet, "row_count", _positive(grid, "rowCount", where)),
            "gridProperties.columnCount": lambda: setattr(sheet, "col_count", _positive(grid, "columnCount", where)),
            "gridProperties.frozenRowCount": lambda: setattr(sheet, "frozen_rows", int(grid.get("frozenRowCount", 0))),
        }
        if fields == ["*"]:
            fields = [f for f in setters if f.split(".")[-1] in {**props, **grid}]
        for name in fields:
            if name == "gridProperties":
                fields += [f for f in setters if f.startswith("gridProperties.") and f.split(".")[1] in grid]
                continue
            setter = setters.get(name)
            if setter is None:
                raise _bad(f"{where}: field mask path '{name}' is not supported by the sandbox emulator.")
            setter()
        if sheet.row_count < len(sheet.rows):
            del sheet.rows[sheet.row_count :]
        for row in sheet.rows:
            del row[sheet.col_count :]
        return {}

    def _rename(self, book: Spreadsheet, sheet: Sheet, title: str, where: str) -> None:
        if not title:
            raise _bad(f"{where}: title must not be empty.")
        other = book.by_title(title)
        if other is not None and other is not sheet:
            raise _bad(f'{where}: A sheet with the name "{title}" already exists. Please enter another name.')
        sheet.title = title

    @staticmethod
    def _move(book: Spreadsheet, sheet: Sheet, index: int) -> None:
        book.sheets.remove(sheet)
        book.sheets.insert(max(0, min(index, len(book.sheets))), sheet)

    @staticmethod
    def _req_update_spreadsheet(book: Spreadsheet, spec: dict[str, Any], where: str) -> dict[str, Any]:
        fields = _field_mask(spec.get("fields"), where)
        props = spec.get("properties") or {}
        if "title" in fields or fields == ["*"]:
            book.title = str(props.get("title", book.title))
        return {}

    # ------------------------------------------------------------------ values endpoints
    def _get_range(self, book: Spreadsheet, a1: str, args: Any) -> dict[str, Any]:
        sheet, rng = self._resolve(book, a1)
        render = _choice(args.get("valueRenderOption"), "FORMATTED_VALUE", _RENDER_OPTIONS, "valueRenderOption")
        major = _choice(args.get("majorDimension"), "ROWS", ("ROWS", "COLUMNS"), "majorDimension")
        r0, r1, c0, c1 = _bounds(sheet, rng, a1)
        values = _read(sheet, r0, r1, c0, c1, render, major == "COLUMNS")
        result: dict[str, Any] = {"range": format_range(sheet.title, r0, r1, c0, c1), "majorDimension": major}
        if values:
            result["values"] = values
        return result

    def _batch_get(self, book: Spreadsheet, request: Request) -> Response:
        ranges = request.args.getlist("ranges")
        value_ranges = [self._get_range(book, a1, request.args) for a1 in ranges]
        return json_response({"spreadsheetId": book.id, "valueRanges": value_ranges})

    def _update(self, book: Spreadsheet, a1: str, request: Request) -> Response:
        option = _input_option(request.args.get("valueInputOption"))
        body = _json_body(request)
        draft = copy.deepcopy(book)
        result = self._update_one(draft, a1, body, option)
        self.books[book.id] = draft
        return json_response(result)

    def _update_one(self, book: Spreadsheet, a1: str, body: dict[str, Any], option: str) -> dict[str, Any]:
        sheet, rng = self._resolve(book, a1)
        values = _values_of(body)
        r0, r1, c0, c1 = _bounds(sheet, rng, a1, for_write=True)
        single = rng.start_row is not None and rng.end_row == (rng.start_row or 0) + 1
        single = single and rng.end_col == (rng.start_col or 0) + 1
        if not single:
            if len(values) > r1 - r0:
                raise _bad(f"Requested writing within range [{a1}], but tried writing to row [{r0 + len(values) + 1}]")
            widest = max((len(v) for v in values), default=0)
            if widest > c1 - c0:
                raise _bad(
                    f"Requested writing within range [{a1}], but tried writing to column "
                    f"[{column_letters(c0 + widest)}]"
                )
        height, width = len(values), max((len(v) for v in values), default=0)
        if r0 + height > sheet.row_count or c0 + width > sheet.col_count:
            raise _bad(f"Range ({a1}) exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.col_count}")
        cells = _write(sheet, r0, c0, values, option)
        return _update_response(book.id, sheet, r0, c0, values, cells)

    def _values_batch_update(self, book: Spreadsheet, request: Request) -> Response:
        body = _json_body(request)
        option = _input_option(body.get("valueInputOption"))
        data = body.get("data") or []
        if not isinstance(data, list):
            raise _bad("Invalid value at 'data': expected a list of ValueRange.")
        draft = copy.deepcopy(book)
        responses = []
        for item in data:
            if not isinstance(item, dict) or "range" not in item:
                raise _bad("Invalid data[]: every ValueRange needs a range.")
            responses.append(self._update_one(draft, str(item["range"]), item, option))
        self.books[book.id] = draft
        total = {
            "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
            "totalUpdatedColumns": sum(r.get("updatedColumns", 0) for r in responses),
            "totalUpdatedCells": sum(r.get("updatedCells", 0) for r in responses),
            "totalUpdatedSheets": len(
                {r["updatedRange"].rsplit("!", 1)[0] for r in responses if r.get("updatedCells")}
            ),
        }
        return json_response({"spreadsheetId": book.id, **total, "responses": responses})

    def _append(self, book: Spreadsheet, a1: str, request: Request) -> Response:
        option = _input_option(request.args.get("valueInputOption"))
        insert = _choice(
            request.args.get("insertDataOption"), "OVERWRITE", ("OVERWRITE", "INSERT_ROWS"), "insertDataOption"
        )
        body = _json_body(request)
        sheet, rng = self._resolve(book, a1)
        values = _values_of(body)
        table = _find_table(sheet, rng)
        start_col = rng.start_col or 0
        write_row = table[1] if table else (rng.start_row or 0)
        height, width = len(values), max((len(v) for v in values), default=0)
        if insert == "INSERT_ROWS" and height:
            _insert(sheet, "ROWS", min(write_row, sheet.row_count), min(write_row, sheet.row_count) + height)
        sheet.row_count = max(sheet.row_count, write_row + height)
        sheet.col_count = max(sheet.col_count, start_col + width)
        cells = _write(sheet, write_row, start_col, values, option)
        result: dict[str, Any] = {"spreadsheetId": book.id}
        if table:
            result["tableRange"] = format_range(
                sheet.title, table[0], table[1], start_col, max(table[2], start_col + 1)
            )
        result["updates"] = _update_response(book.id, sheet, write_row, start_col, values, cells)
        return json_response(result)

    def _clear(self, book: Spreadsheet, a1: str) -> Response:
        return json_response({"spreadsheetId": book.id, "clearedRange": self._clear_one(book, a1)})

    def _clear_one(self, book: Spreadsheet, a1: str) -> str:
        sheet, rng = self._resolve(book, a1)
        r0, r1, c0, c1 = _bounds(sheet, rng, a1)
        for row in range(r0, min(r1, len(sheet.rows))):
            for col in range(c0, min(c1, len(sheet.rows[row]))):
                sheet.rows[row][col] = None
        return format_range(sheet.title, r0, r1, c0, c1)

    def _batch_clear(self, book: Spreadsheet, request: Request) -> Response:
        ranges = _json_body(request).get("ranges") or []
        draft = copy.deepcopy(book)
        cleared = [self._clear_one(draft, str(a1)) for a1 in ranges]
        self.books[book.id] = draft
        return json_response({"spreadsheetId": book.id, "clearedRanges": cleared})


# ---------------------------------------------------------------------------------------- helpers
_INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_RENDER_OPTIONS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")


def _auth_error(message: str) -> Response:
    return json_response(
        {"error": {"code": 401, "message": message, "status": "UNAUTHENTICATED"}},
        401,
        {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
    )


def _quota_response(kind: str, scope: str, limit: int) -> Response:
    metric = "Read requests" if kind == "read" else "Write requests"
    limit_name = f"{kind.capitalize()}RequestsPerMinutePer{scope}"
    message = (
        f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per {scope.lower()}' "
        "of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {
                "quota_limit": limit_name,
                "quota_limit_value": str(limit),
                "quota_location": "global",
                "quota_metric": f"sheets.googleapis.com/{kind}_requests",
                "service": "sheets.googleapis.com",
                "consumer": "projects/000000000000",
            },
        }
    ]
    body = {"error": {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}}
    return json_response(body, 429)


def _sheet_properties(sheet: Sheet, index: int) -> dict[str, Any]:
    grid: dict[str, Any] = {"rowCount": sheet.row_count, "columnCount": sheet.col_count}
    if sheet.frozen_rows:
        grid["frozenRowCount"] = sheet.frozen_rows
    return {
        "sheetId": sheet.sheet_id,
        "title": sheet.title,
        "index": index,
        "sheetType": "GRID",
        "gridProperties": grid,
    }


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = read_json(request)
    except ValueError:
        raise _bad("Invalid JSON payload received.") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _bad("Invalid JSON payload received. Expected an object.")
    return body


def _choice(value: str | None, default: str, allowed: tuple[str, ...], name: str) -> str:
    if value is None or value == "":
        return default
    if value not in allowed:
        raise _bad(f"Invalid value at '{name}' (TYPE_ENUM), \"{value}\"")
    return value


def _input_option(value: Any) -> str:
    if value in (None, "", "INPUT_VALUE_OPTION_UNSPECIFIED"):
        raise _bad("'valueInputOption' is required but not specified")
    if value not in ("RAW", "USER_ENTERED"):
        raise _bad(f"Invalid value at 'value_input_option' (TYPE_ENUM), \"{value}\"")
    return str(value)


def _field_mask(value: Any, where: str) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{where}: At least one field must be updated. Not updating anything is a no-op.")
    return [part.strip().replace("/", ".") for part in value.split(",") if part.strip()]


def _positive(grid: dict[str, Any], key: str, where: str) -> int:
    value = grid.get(key)
    if not isinstance(value, int) or value < 1:
        raise _bad(f"{where}: gridProperties.{key} must be a positive integer.")
    return value


def _values_of(body: dict[str, Any]) -> list[list[Any]]:
    values = body.get("values") or []
    if body.get("majorDimension") == "COLUMNS":
        width = max((len(v) for v in values), default=0)
        values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
    if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
        raise _bad("Invalid values: expected a list of lists.")
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            if isinstance(value, dict | list):
                raise _bad(f"Invalid values[{r}][{c}]: list_value or struct_value is not allowed here")
    return values


def _bounds(sheet: Sheet, rng: A1Range, a1: str, for_write: bool = False) -> tuple[int, int, int, int]:
    """0-based (row0, row1, col0, col1), open ends clamped to the grid; start beyond the grid is an error."""
    r0, c0 = rng.start_row or 0, rng.start_col or 0
    r1 = sheet.row_count if rng.end_row is None else min(rng.end_row, sheet.row_count)
    c1 = sheet.col_count if rng.end_col is None else min(rng.end_col, sheet.col_count)
    if r0 >= sheet.row_count or c0 >= sheet.col_count:
        raise _bad(f"Range ({a1}) exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.col_count}")
    if for_write and rng.end_row is not None and rng.end_row > sheet.row_count:
        r1 = rng.end_row
    if for_write and rng.end_col is not None and rng.end_col > sheet.col_count:
        c1 = rng.end_col
    return r0, r1, c0, c1


def _render(cell: Cell | None, option: str) -> Any:
    if cell is None:
        return ""
    if option == "FORMULA" and cell.formula is not None:
        return cell.formula
    value = cell.value
    if option == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for row in rows:
        end = len(row)
        while end and row[end - 1] == "":
            end -= 1
        out.append(row[:end])
    while out and not out[-1]:
        out.pop()
    return out


def _read(sheet: Sheet, r0: int, r1: int, c0: int, c1: int, option: str, by_columns: bool = False) -> list[list[Any]]:
    last_row = min(r1, len(sheet.rows))
    grid = [[_render(sheet.cell(r, c), option) for c in range(c0, c1)] for r in range(r0, last_row)]
    if by_columns:
        grid = [list(col) for col in zip(*grid, strict=True)] if grid else []
    return _trim(grid)


def _parse_input(value: Any, option: str) -> Cell | bool | None:
    """Cell to store, None to clear, or False to leave the cell unchanged (JSON null)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return Cell(value)
    if isinstance(value, int | float):
        return Cell(value)
    text = str(value)
    if text == "":
        return None
    if option == "RAW":
        return Cell(text)
    if text.startswith("'"):
        return Cell(text[1:])
    if text.startswith("=") and len(text) > 1:
        return Cell(text, formula=text)
    if text.upper() in ("TRUE", "FALSE"):
        return Cell(text.upper() == "TRUE")
    stripped = text.strip()
    if stripped and any(ch.isdigit() for ch in stripped) and _NUMBER.match(stripped):
        number = float(stripped.replace(",", ""))
        return Cell(int(number) if number.is_integer() and abs(number) < 2**53 else number)
    return Cell(text)


def _write(sheet: Sheet, r0: int, c0: int, values: list[list[Any]], option: str) -> int:
    """Write a block; returns how many cells were written (JSON nulls are skipped)."""
    written = 0
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            parsed = _parse_input(value, option)
            if parsed is False:
                continue
            sheet.put(r0 + r, c0 + c, parsed if isinstance(parsed, Cell) else None)
            written += 1
    return written


def _update_response(
    book_id: str, sheet: Sheet, r0: int, c0: int, values: list[list[Any]], cells: int
) -> dict[str, Any]:
    height, width = len(values), max((len(v) for v in values), default=0)
    result: dict[str, Any] = {"spreadsheetId": book_id}
    if height and width:
        result.update(
            updatedRange=format_range(sheet.title, r0, r0 + height, c0, c0 + width),
            updatedRows=sum(1 for row in values if any(v is not None for v in row)),
            updatedColumns=sum(1 for c in range(width) if any(c < len(row) and row[c] is not None for row in values)),
            updatedCells=cells,
        )
    return result


def _insert(sheet: Sheet, dimension: str, start: int, end: int) -> None:
    count = end - start
    if dimension == "ROWS":
        if start < len(sheet.rows):
            sheet.rows[start:start] = [[] for _ in range(count)]
        sheet.row_count += count
    else:
        for row in sheet.rows:
            if start < len(row):
                row[start:start] = [None] * count
        sheet.col_count += count


def _delete(sheet: Sheet, dimension: str, start: int, end: int) -> None:
    if dimension == "ROWS":
        del sheet.rows[start:end]
        sheet.row_count -= end - start
    else:
        for row in sheet.rows:
            del row[start:end]
        sheet.col_count -= end - start


def _find_table(sheet: Sheet, rng: A1Range) -> tuple[int, int, int] | None:
    """The logical table `append` extends: (first row, row after the last, column after the last) or None.

    With an explicit start row the table must begin on that row (an empty first row means "write
    here", which is what gspread's insert_row relies on); otherwise it begins at the first non-empty
    row of the range. It extends over consecutive non-empty rows.
    """
    c0 = rng.start_col or 0
    c1 = rng.end_col
    if rng.start_row is not None:
        first = rng.start_row
        if sheet.row_is_empty(first, c0, c1):
            return None
    else:
        first = next((r for r in range(len(sheet.rows)) if not sheet.row_is_empty(r, c0, c1)), -1)
        if first < 0:
            return None
    last = first
    while last + 1 < len(sheet.rows) and not sheet.row_is_empty(last + 1, c0, c1):
        last += 1
    width = max(
        (c + 1 for r in range(first, last + 1) for c, cell in enumerate(sheet.rows[r]) if cell is not None and c >= c0),
        default=c0 + 1,
    )
    return first, last + 1, width


def make_service_account(
    sb: Any, client_email: str = "leadsync@leadsync-sandbox.iam.gserviceaccount.com"
) -> dict[str, str]:
    """A service-account info dict for `Credentials.from_service_account_info`, trusted by the sandbox.

    `sb` is a `Sandbox` (uses `sb.sheets`) or a `SheetsEmulator`.
    """
    emulator = sb if isinstance(sb, SheetsEmulator) else sb.sheets
    return emulator.make_service_account(client_email)
