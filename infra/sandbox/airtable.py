"""Airtable Web API emulator: records (list/get/create/update/upsert/delete) and the base-schema endpoint.

Behaviour follows docs/api-notes §3: `/v0/{baseId}/{tableIdOrName}`, 100-record pages with an opaque
`itr…/rec…` offset (order frozen at the first page, values live), `fields[]` (a bare `fields=` is
422 INVALID_REQUEST_UNKNOWN), `filterByFormula` (see `airtable_formula`), `sort[i][field|direction]`,
`maxRecords`, `returnFieldsByFieldId`, `cellFormat`; `POST …/listRecords` with the same options in the
body; ≤10 records per write; PUT clears omitted fields; `performUpsert`; empty values omitted from
responses; a `lastModifiedTime` field maintained per record (ms precision); errors
`{"error":{"type","message"}}`; 5 requests/s per base, then 429 for a 30 s penalty.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote

from sandbox.airtable_formula import (
    FormulaRuntimeError,
    FormulaSyntaxError,
    evaluate,
    field_refs,
    is_truthy,
    parse,
    parse_datetime,
)
from sandbox.airtable_webhooks import AirtableWebhooks
from sandbox.common import Emulator, HttpError, Request, Response, Rule, json_response, read_json

__all__ = ["AirtableEmulator"]

MAX_RECORDS_PER_REQUEST = 10
MAX_PAGE_SIZE = 100
COMPUTED_TYPES = frozenset({"lastModifiedTime", "createdTime", "autoNumber", "formula"})
TEXT_TYPES = frozenset({"singleLineText", "multilineText", "email", "url", "phoneNumber", "richText"})
_ALNUM = string.ascii_letters + string.digits
_DATE_FORMAT = {"format": "YYYY-MM-DD", "name": "iso"}
_TIME_FORMAT = {"format": "HH:mm", "name": "24hour"}
LIST_PARAMS = frozenset(
    {
        "pageSize",
        "offset",
        "view",
        "fields",
        "filterByFormula",
        "sort",
        "maxRecords",
        "cellFormat",
        "timeZone",
        "userLocale",
        "returnFieldsByFieldId",
        "recordMetadata",
    }
)


def iso_ms(value: datetime) -> str:
    """`2024-05-01T10:00:00.123Z`."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_s(value: datetime) -> str:
    """`2024-05-01T10:00:00.000Z` (createdTime has second precision)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def error(status: int, kind: str, message: str) -> HttpError:
    """An HttpError carrying Airtable's error body."""
    return HttpError(json_response({"error": {"type": kind, "message": message}}, status))


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


@dataclass
class AtField:
    """A field of a table."""

    id: str
    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)

    def schema(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "id": self.id, "name": self.name}
        if self.options:
            data["options"] = self.options
        return data


@dataclass
class AtRecord:
    """A row: values keyed by field id, with creation and per-field modification times."""

    id: str
    created: datetime
    modified: datetime
    values: dict[str, Any] = field(default_factory=dict)
    field_modified: dict[str, datetime] = field(default_factory=dict)


@dataclass
class AtView:
    """A grid view: the records its ``formula`` (filterByFormula syntax) keeps, or all of them."""

    id: str
    name: str
    formula: str | None = None


@dataclass
class AtTable:
    """A table with its fields, its grid views (the first: "Grid view", every record) and its
    records (dict order = creation order)."""

    id: str
    name: str
    view_id: str
    fields: list[AtField] = field(default_factory=list)
    records: dict[str, AtRecord] = field(default_factory=dict)
    views: list[AtView] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.views:
            self.views.append(AtView(self.view_id, "Grid view"))

    def view(self, key: str) -> AtView | None:
        """A view by id or by name."""
        return next((v for v in self.views if key in (v.id, v.name)), None)

    def field(self, key: str) -> AtField | None:
        """A field by id or by name."""
        for item in self.fields:
            if key in (item.id, item.name):
                return item
        return None


@dataclass
class AtBase:
    """A base (application) holding tables."""

    id: str
    name: str
    tables: list[AtTable] = field(default_factory=list)

    def table(self, key: str) -> AtTable | None:
        """A table by id or by name."""
        for item in self.tables:
            if key in (item.id, item.name):
                return item
        return None


class _RecordContext:
    """Adapts a record to the formula evaluator."""

    def __init__(self, table: AtTable, record: AtRecord, now: datetime) -> None:
        self.table, self.record, self._now = table, record, now

    def field_value(self, name: str) -> Any:
        item = self.table.field(name)
        if item is None:
            raise FormulaRuntimeError(f"unknown field {name}")
        if item.type == "lastModifiedTime":
            return self.record.modified
        if item.type == "createdTime":
            return self.record.created
        value = self.record.values.get(item.id)
        if item.type in ("dateTime", "date") and value:
            return parse_datetime(value)
        return value

    def last_modified(self, names: list[str]) -> datetime:
        if not names:
            return self.record.modified
        stamps = []
        for name in names:
            item = self.table.field(name)
            if item is None:
                raise FormulaRuntimeError(f"unknown field {name}")
            stamps.append(self.record.field_modified.get(item.id, self.record.created))
        return max(stamps)

    def created(self) -> datetime:
        return self.record.created

    def record_id(self) -> str:
        return self.record.id

    def now(self) -> datetime:
        return self._now


class AirtableEmulator(AirtableWebhooks, Emulator):
    """In-memory Airtable: bases, tables, fields, records; HTTP API under /v0."""

    name: ClassVar[str] = "airtable"
    base_path: ClassVar[str] = ""
    env_var: ClassVar[str | None] = "LEADSYNC_AIRTABLE_BASE_URL"
    rate_limit_defaults: ClassVar[dict[str, Any]] = {"per_base_rps": 5, "per_token_rps": 50, "penalty_s": 30}

    # ------------------------------------------------------------------ framework hooks
    def routes(self) -> list[Rule]:
        return [
            Rule("/v0/meta/bases/<base_id>/tables", endpoint="get_schema", methods=["GET"]),
            Rule("/v0/<base_id>/<table_key>/listRecords", endpoint="post_list", methods=["POST"]),
            Rule("/v0/<base_id>/<table_key>", endpoint="records_collection"),
            Rule("/v0/<base_id>/<table_key>/<record_id>", endpoint="record_item"),
            *self.webhook_routes(),
        ]

    def reset_data(self) -> None:
        self._rng = random.Random()
        self.bases: dict[str, AtBase] = {}
        self._iterators: dict[str, list[str]] = {}
        self.reset_webhooks()

    def notable_params(self, request: Request, path: str, values: dict[str, Any]) -> set[str]:
        """Query and body names (`fields[]`, `sort` for `sort[0][field]`, `records`, `typecast`...),
        plus `filterByFormula:<FUNCTION>` for each function and `filterByFormula:{field}` for a field
        reference in a formula."""
        names: set[str] = set()
        formulas: list[str] = []
        body = read_json(request) if request.method in ("POST", "PATCH", "PUT") else None
        items = list(request.args.items(multi=True)) + (list(body.items()) if isinstance(body, dict) else [])
        for key, value in items:
            name = re.sub(r"\[\d+\].*$", "", key)
            names.add(name)
            if name == "filterByFormula" and isinstance(value, str):
                formulas.append(value)
        for formula in formulas:
            names |= {f"filterByFormula:{fn}" for fn in re.findall(r"\b([A-Z_]+)\(", formula)}
            if "{" in formula:
                names.add("filterByFormula:{field}")
        return names

    def authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not self.token_ok(token):
            return json_response(
                {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}}, 401
            )
        return None

    def check_rate_limit(self, request: Request) -> Response | None:
        base_id = _base_of(request.path)
        params = self.limiter.params
        keys = [f"base:{base_id}"] if base_id else []
        token = request.headers.get("Authorization", "")[7:].strip()
        keys.append(f"token:{token}")
        for key in keys:
            left = self.limiter.penalty(key)
            if left > 0:
                return self.rate_limited_response(request, left)
        limits = {"base": params["per_base_rps"], "token": params["per_token_rps"]}
        for key in keys:
            decision = self.limiter.window(key, int(limits[key.split(":", 1)[0]]), 1.0)
            if not decision.allowed:
                self.limiter.penalize(key, float(params["penalty_s"]))
                return self.rate_limited_response(request, self.limiter.penalty(key))
        return None

    def rate_limited_response(self, request: Request, retry_after: float) -> Response:
        return json_response(
            {
                "error": {
                    "type": "RATE_LIMIT_REACHED",
                    "message": "Rate limit exceeded. Please try again later",
                }
            },
            429,
        )

    def decorate(self, request: Request, response: Response) -> None:
        if self.limiter.enabled and self.limiter.time_scale != 1.0:
            response.headers["x-sandbox-time-scale"] = str(self.limiter.time_scale)

    def error_response(self, status: int, request: Request) -> Response:
        bodies = {
            404: ("NOT_FOUND", "Could not find what you are looking for"),
            405: ("NOT_FOUND", "Could not find what you are looking for"),
            500: ("SERVER_ERROR", "Try again. If the problem persists, contact support."),
            503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please retry shortly."),
        }
        kind, message = bodies.get(status, bodies[503])
        return json_response({"error": {"type": kind, "message": message}}, 404 if status == 405 else status)

    def stats_data(self) -> dict[str, Any]:
        return {
            "bases": len(self.bases),
            "records": sum(len(t.records) for b in self.bases.values() for t in b.tables),
        }

    # ------------------------------------------------------------------ ids and lookups
    def _id(self, prefix: str) -> str:
        return prefix + "".join(self._rng.choice(_ALNUM) for _ in range(14))

    def _now(self) -> datetime:
        """Clock time at Airtable's millisecond precision."""
        now = self.clock.now()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def _base(self, base_id: str) -> AtBase:
        base = self.bases.get(base_id)
        if base is None:
            raise _model_not_found()
        return base

    def _table(self, base_id: str, table_key: str) -> AtTable:
        table = self._base(base_id).table(unquote(table_key))
        if table is None:
            raise _model_not_found()
        return table

    # ------------------------------------------------------------------ user helpers (the "UI")
    def create_base(
        self,
        tables: dict[str, dict[str, str | dict[str, Any]]],
        select_options: dict[str, dict[str, list[str]]] | None = None,
        name: str = "Leads base",
    ) -> tuple[str, dict[str, str]]:
        """Create a base; `tables` maps table name -> {field name: type or {"type","options"}}.

        The first field is the primary field. Returns (base_id, {table_name: table_id}).
        """
        with self.lock:
            base = AtBase(self._id("app"), name)
            for table_name, fields in tables.items():
                table = AtTable(self._id("tbl"), table_name, self._id("viw"))
                choices = (select_options or {}).get(table_name, {})
                for field_name, spec in fields.items():
                    kind = spec if isinstance(spec, str) else str(spec["type"])
                    extra = {} if isinstance(spec, str) else dict(spec.get("options", {}))
                    options = self._default_options(kind, choices.get(field_name, []))
                    options.update(extra)
                    table.fields.append(AtField(self._id("fld"), field_name, kind, options))
                for item in table.fields:
                    if item.type == "lastModifiedTime":
                        item.options["referencedFieldIds"] = [
                            f.id for f in table.fields if f.type not in COMPUTED_TYPES
                        ]
                base.tables.append(table)
            self.bases[base.id] = base
            return base.id, {t.name: t.id for t in base.tables}

    def create_view(self, base_id: str, table: str, name: str, formula: str | None = None) -> str:
        """Add a grid view showing the records ``formula`` keeps (as a person filters a view in the UI);
        ``set_view_filter`` changes it later. Returns the view id."""
        with self.lock:
            at_table = self._table(base_id, table)
            view = AtView(self._id("viw"), name, formula)
            at_table.views.append(view)
            return view.id

    def set_view_filter(self, base_id: str, table: str, view: str, formula: str | None) -> None:
        """Change which records a view shows (``None``: all of them)."""
        with self.lock:
            found = self._table(base_id, table).view(view)
            if found is None:
                raise KeyError(view)
            found.formula = formula

    def _default_options(self, kind: str, choices: list[str]) -> dict[str, Any]:
        datetime_options: dict[str, Any] = {
            "timeZone": "utc",
            "dateFormat": _DATE_FORMAT,
            "timeFormat": _TIME_FORMAT,
        }
        datetime_result = {"type": "dateTime", "options": datetime_options}
        if kind in ("singleSelect", "multipleSelects"):
            return {"choices": [self._choice(name) for name in choices]}
        if kind == "number":
            return {"precision": 0}
        if kind == "checkbox":
            return {"color": "greenBright", "icon": "check"}
        if kind == "date":
            return {"dateFormat": _DATE_FORMAT}
        if kind == "dateTime":
            return dict(datetime_options)
        if kind == "lastModifiedTime":
            return {"isValid": True, "referencedFieldIds": [], "result": datetime_result}
        if kind == "createdTime":
            return {"result": datetime_result}
        return {}

    def _choice(self, name: str) -> dict[str, str]:
        return {"id": self._id("sel"), "name": name, "color": "blueLight2"}

    def user_create_record(self, base_id: str, table: str, fields: dict[str, Any]) -> str:
        """A person adds a row (values typecast like pasted text)."""
        with self.lock, self.as_person():
            tbl = self._table(base_id, table)
            return self._create(tbl, fields, typecast=True).id

    def user_update_record(self, base_id: str, table: str, record_id: str, fields: dict[str, Any]) -> None:
        """A person edits cells (None or "" clears a cell)."""
        with self.lock, self.as_person():
            tbl = self._table(base_id, table)
            self._update(tbl, self._record(tbl, record_id), fields, typecast=True, replace=False)

    def user_delete_record(self, base_id: str, table: str, record_id: str) -> None:
        """A person deletes a row."""
        with self.lock, self.as_person():
            tbl = self._table(base_id, table)
            self._record(tbl, record_id)
            del tbl.records[record_id]
            self.record_event(tbl, "destroyed", record_id)

    def records(self, base_id: str, table: str) -> list[dict[str, Any]]:
        """Every record as the API returns it (creation order)."""
        with self.lock:
            tbl = self._table(base_id, table)
            return [self._render(tbl, rec) for rec in tbl.records.values()]

    def record(self, base_id: str, table: str, record_id: str) -> dict[str, Any]:
        """One record as the API returns it."""
        with self.lock:
            tbl = self._table(base_id, table)
            return self._render(tbl, self._record(tbl, record_id))

    # ------------------------------------------------------------------ model operations
    def _record(self, table: AtTable, record_id: str) -> AtRecord:
        rec = table.records.get(record_id)
        if rec is None:
            raise error(404, "NOT_FOUND", f'Could not find record "{record_id}"')
        return rec

    def _convert(self, table: AtTable, fields: Any, typecast: bool) -> dict[str, Any]:
        """Validate and convert written values; returns {field_id: stored value} (None = clear)."""
        if not isinstance(fields, dict):
            raise error(422, "INVALID_REQUEST_UNKNOWN", "Invalid request: parameter validation failed.")
        converted: dict[str, Any] = {}
        for key, value in fields.items():
            item = table.field(key)
            if item is None:
                raise error(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{key}"')
            if item.type in COMPUTED_TYPES:
                raise error(
                    422,
                    "INVALID_VALUE_FOR_COLUMN",
                    f'Field "{item.name}" cannot accept a value because the field is computed',
                )
            converted[item.id] = self._cell(item, value, typecast)
        return converted

    def _cell(self, item: AtField, value: Any, typecast: bool) -> Any:
        invalid = error(422, "INVALID_VALUE_FOR_COLUMN", f'Field "{item.name}" cannot accept the provided value')
        if value is None:
            return None
        kind = item.type
        if kind in TEXT_TYPES:
            if isinstance(value, str):
                return value or None
            if typecast and isinstance(value, int | float | bool):
                return str(value)
            raise invalid
        if kind == "number":
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            if typecast and isinstance(value, str):
                try:
                    number = float(value) if value.strip() else None
                except ValueError:
                    return None
                return int(number) if number is not None and number.is_integer() else number
            raise invalid
        if kind == "checkbox":
            if isinstance(value, bool):
                return value
            if typecast:
                return str(value).strip().lower() in ("true", "1", "yes", "checked", "x")
            raise invalid
        if kind in ("singleSelect", "multipleSelects"):
            return self._select(item, value, typecast, invalid)
        if kind in ("date", "dateTime"):
            if not isinstance(value, str):
                raise invalid
            if not value:
                return None
            try:
                moment = parse_datetime(value)
            except FormulaRuntimeError:
                raise invalid from None
            return moment.strftime("%Y-%m-%d") if kind == "date" else iso_ms(moment)
        return value

    def _select(self, item: AtField, value: Any, typecast: bool, invalid: HttpError) -> Any:
        multiple = item.type == "multipleSelects"
        if multiple:
            if typecast and isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise invalid
            names = value
        else:
            if not isinstance(value, str):
                raise invalid
            if not value:
                return None
            names = [value]
        choices = item.options.setdefault("choices", [])
        known = {c["name"] for c in choices}
        for name in names:
            if name in known:
                continue
            if not typecast:
                raise error(
                    422,
                    "INVALID_MULTIPLE_CHOICE_OPTIONS",
                    f'Insufficient permissions to create new select option ""{name}""',
                )
            choices.append(self._choice(name))
            known.add(name)
        return list(names) if multiple else names[0]

    def _create(self, table: AtTable, fields: Any, typecast: bool) -> AtRecord:
        values = self._convert(table, fields, typecast)
        now = self._now()
        rec = AtRecord(self._id("rec"), created=now, modified=now)
        for field_id, value in values.items():
            if value is not None:
                rec.values[field_id] = value
                rec.field_modified[field_id] = now
        table.records[rec.id] = rec
        self.record_event(table, "created", rec)
        return rec

    def _update(self, table: AtTable, rec: AtRecord, fields: Any, typecast: bool, replace: bool) -> AtRecord:
        values = self._convert(table, fields, typecast)
        if replace:
            for item in table.fields:
                if item.type not in COMPUTED_TYPES:
                    values.setdefault(item.id, None)
        before = dict(rec.values)
        self._apply(rec, values)
        changed = {fid for fid in set(before) | set(rec.values) if before.get(fid) != rec.values.get(fid)}
        if changed:
            self.record_event(table, "changed", rec, changed)
        return rec

    def _apply(self, rec: AtRecord, values: dict[str, Any]) -> None:
        """Store converted values; only real changes bump the modification times."""
        now = self._now()
        for field_id, value in values.items():
            old = rec.values.get(field_id)
            if (_is_empty(old) and _is_empty(value)) or old == value:
                continue
            if _is_empty(value):
                rec.values.pop(field_id, None)
            else:
                rec.values[field_id] = value
            rec.field_modified[field_id] = now
            rec.modified = now

    def _render(
        self, table: AtTable, rec: AtRecord, by_id: bool = False, only: set[str] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in table.fields:
            if only is not None and item.id not in only:
                continue
            if item.type == "lastModifiedTime":
                value: Any = iso_ms(rec.modified)
            elif item.type == "createdTime":
                value = iso_ms(rec.created)
            else:
                value = rec.values.get(item.id)
            if _is_empty(value):
                continue
            out[item.id if by_id else item.name] = list(value) if isinstance(value, list) else value
        return {"id": rec.id, "createdTime": iso_s(rec.created), "fields": out}

    # ------------------------------------------------------------------ listing
    def _list(self, base_id: str, table: AtTable, opts: dict[str, Any]) -> Response:
        page_size = _int_opt(opts, "pageSize", MAX_PAGE_SIZE)
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise error(422, "INVALID_PAGE_SIZE", "Invalid page size: must be between 1 and 100")
        by_id = _bool_opt(opts.get("returnFieldsByFieldId"))
        if opts.get("cellFormat", "json") not in ("json", "string"):
            raise error(422, "INVALID_REQUEST_UNKNOWN", "Invalid cellFormat: expected json or string")
        if opts.get("cellFormat") == "string" and not (opts.get("timeZone") and opts.get("userLocale")):
            raise error(
                422,
                "INVALID_REQUEST_MISSING_FIELDS",
                "The timeZone and userLocale parameters are required when using string as the cellFormat",
            )
        only = None
        if opts.get("fields") is not None:
            names = opts["fields"] if isinstance(opts["fields"], list) else [opts["fields"]]
            only = {self._known_field(table, str(n)).id for n in names}
        offset = opts.get("offset")
        if offset:
            order = self._iterators.get(str(offset).split("/", 1)[0])
            if order is None:
                raise error(
                    422,
                    "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                    "The iterator is not available. Please restart the listing.",
                )
            start_id = str(offset).split("/", 1)[1] if "/" in str(offset) else ""
            start = order.index(start_id) if start_id in order else len(order)
            iterator_id = str(offset).split("/", 1)[0]
        else:
            order = self._ordered(table, opts)
            iterator_id, start = "itr" + self._id("")[:14], 0
        live = [rid for rid in order[start:] if rid in table.records]
        page, rest = live[:page_size], live[page_size:]
        body: dict[str, Any] = {
            "records": [self._render(table, table.records[r], by_id, only) for r in page],
        }
        if rest:
            self._iterators[iterator_id] = order
            while len(self._iterators) > 1000:
                self._iterators.pop(next(iter(self._iterators)))
            body["offset"] = f"{iterator_id}/{rest[0]}"
        return json_response(body)

    def _known_field(self, table: AtTable, key: str) -> AtField:
        item = table.field(key)
        if item is None:
            raise error(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{key}"')
        return item

    def _ordered(self, table: AtTable, opts: dict[str, Any]) -> list[str]:
        """Matching record ids in their listing order, capped by maxRecords."""
        recs = list(table.records.values())
        if opts.get("view"):
            view = table.view(str(opts["view"]))
            if view is None:
                raise error(422, "VIEW_NAME_NOT_FOUND", f'Could not find view "{opts["view"]}" in table {table.id}')
            if view.formula:
                recs = self._filter(table, recs, view.formula)
        formula = opts.get("filterByFormula")
        if formula:
            recs = self._filter(table, recs, str(formula))
        for key, descending in reversed(_sort_spec(opts.get("sort"))):
            item: AtField = self._known_field(table, key)

            def by_field(rec: AtRecord, item: AtField = item) -> tuple[int, Any]:
                return _sort_key(self._sort_value(item, rec))

            recs.sort(key=by_field, reverse=descending)
        max_records = _int_opt(opts, "maxRecords", 0)
        if max_records > 0:
            recs = recs[:max_records]
        return [r.id for r in recs]

    def _sort_value(self, item: AtField, rec: AtRecord) -> Any:
        if item.type == "lastModifiedTime":
            return iso_ms(rec.modified)
        if item.type == "createdTime":
            return iso_ms(rec.created)
        return rec.values.get(item.id)

    def _filter(self, table: AtTable, recs: list[AtRecord], formula: str) -> list[AtRecord]:
        invalid = error(
            422,
            "INVALID_FILTER_BY_FORMULA",
            "The formula for filtering records is invalid: Invalid formula. Please check your formula text.",
        )
        try:
            tree = parse(formula)
        except FormulaSyntaxError:
            raise invalid from None
        unknown = [name for name in field_refs(tree) if table.field(name) is None]
        if unknown:
            raise error(
                422,
                "INVALID_FILTER_BY_FORMULA",
                f"The formula for filtering records is invalid: Unknown field names: {', '.join(unknown)}",
            )
        now = self._now()
        kept = []
        for rec in recs:
            try:
                if is_truthy(evaluate(tree, _RecordContext(table, rec, now))):
                    kept.append(rec)
            except (FormulaRuntimeError, TypeError, ValueError, OverflowError):
                continue
        return kept

    # ------------------------------------------------------------------ HTTP handlers
    def get_schema(self, request: Request, base_id: str) -> Response:
        base = self._base(base_id)
        include = request.args.getlist("include") + request.args.getlist("include[]")
        tables = []
        for table in base.tables:
            views: list[dict[str, Any]] = []
            for at_view in table.views:
                view: dict[str, Any] = {"id": at_view.id, "name": at_view.name, "type": "grid"}
                if "visibleFieldIds" in include:
                    view["visibleFieldIds"] = [f.id for f in table.fields]
                views.append(view)
            tables.append(
                {
                    "id": table.id,
                    "name": table.name,
                    "primaryFieldId": table.fields[0].id if table.fields else "",
                    "fields": [f.schema() for f in table.fields],
                    "views": views,
                }
            )
        return json_response({"tables": tables})

    def post_list(self, request: Request, base_id: str, table_key: str) -> Response:
        table = self._table(base_id, table_key)
        body = _body(request)
        unknown = set(body) - LIST_PARAMS
        if unknown:
            raise _invalid_request(f"unknown parameters {sorted(unknown)}")
        opts = dict(body)
        for key in ("timeZone", "userLocale"):
            if key in request.args:
                opts[key] = request.args[key]
        return self._list(base_id, table, opts)

    def records_collection(self, request: Request, base_id: str, table_key: str) -> Response:
        table = self._table(base_id, table_key)
        method = request.method
        if method == "GET":
            return self._list(base_id, table, _query_options(request))
        if method == "POST":
            return self._post_records(table, _body(request))
        if method in ("PATCH", "PUT"):
            return self._patch_records(table, _body(request), replace=method == "PUT")
        if method == "DELETE":
            ids = request.args.getlist("records[]")
            if not ids or len(ids) > MAX_RECORDS_PER_REQUEST:
                raise _invalid_request("records[] must list 1 to 10 record ids")
            for rid in ids:
                self._record(table, rid)
            for rid in ids:
                if table.records.pop(rid, None) is not None:
                    self.record_event(table, "destroyed", rid)
            return json_response({"records": [{"id": rid, "deleted": True} for rid in ids]})
        raise error(404, "NOT_FOUND", "Could not find what you are looking for")

    def record_item(self, request: Request, base_id: str, table_key: str, record_id: str) -> Response:
        table = self._table(base_id, table_key)
        rec = self._record(table, record_id)
        method = request.method
        if method == "GET":
            opts = _query_options(request, allowed={"returnFieldsByFieldId", "cellFormat", "timeZone", "userLocale"})
            return json_response(self._render(table, rec, _bool_opt(opts.get("returnFieldsByFieldId"))))
        if method in ("PATCH", "PUT"):
            body = _body(request)
            if "fields" not in body:
                raise _invalid_request("missing fields")
            self._update(table, rec, body["fields"], bool(body.get("typecast")), method == "PUT")
            return json_response(self._render(table, rec, bool(body.get("returnFieldsByFieldId"))))
        if method == "DELETE":
            del table.records[rec.id]
            self.record_event(table, "destroyed", rec.id)
            return json_response({"id": rec.id, "deleted": True})
        raise error(404, "NOT_FOUND", "Could not find what you are looking for")

    def _post_records(self, table: AtTable, body: dict[str, Any]) -> Response:
        typecast, by_id = bool(body.get("typecast")), bool(body.get("returnFieldsByFieldId"))
        if "records" not in body:
            if "fields" not in body:
                raise _invalid_request("missing records or fields")
            rec = self._create(table, body["fields"], typecast)
            return json_response(self._render(table, rec, by_id))
        items = _records_list(body["records"])
        for item in items:
            self._convert(table, item.get("fields", {}), typecast)  # validate all before writing
        created = [self._create(table, item.get("fields", {}), typecast) for item in items]
        return json_response({"records": [self._render(table, rec, by_id) for rec in created]})

    def _patch_records(self, table: AtTable, body: dict[str, Any], replace: bool) -> Response:
        typecast, by_id = bool(body.get("typecast")), bool(body.get("returnFieldsByFieldId"))
        items = _records_list(body.get("records"))
        upsert = body.get("performUpsert")
        merge_on: list[str] = []
        if upsert is not None:
            merge_on = list((upsert or {}).get("fieldsToMergeOn") or [])
            if not 1 <= len(merge_on) <= 3:
                raise _invalid_request("performUpsert.fieldsToMergeOn must list 1 to 3 fields")
            merge_on = [self._known_field(table, key).id for key in merge_on]
        plan: list[tuple[AtRecord | None, dict[str, Any]]] = []
        for item in items:
            fields = item.get("fields", {})
            self._convert(table, fields, typecast)
            if "id" in item:
                plan.append((self._record(table, str(item["id"])), fields))
            elif upsert is not None:
                plan.append((self._match(table, fields, merge_on, typecast), fields))
            else:
                raise _invalid_request("each record needs an id")
        created_ids, updated_ids, out = [], [], []
        for rec, fields in plan:
            if rec is None:
                rec = self._create(table, fields, typecast)
                created_ids.append(rec.id)
            else:
                self._update(table, rec, fields, typecast, replace)
                updated_ids.append(rec.id)
            out.append(self._render(table, rec, by_id))
        result: dict[str, Any] = {"records": out}
        if upsert is not None:
            result.update(createdRecords=created_ids, updatedRecords=updated_ids)
        return json_response(result)

    def _match(self, table: AtTable, fields: Any, merge_on: list[str], typecast: bool) -> AtRecord | None:
        values = self._convert(table, fields, typecast)
        missing = [fid for fid in merge_on if fid not in values]
        if missing:
            raise _invalid_request("every record must include the fieldsToMergeOn fields")
        found = [rec for rec in table.records.values() if all(rec.values.get(fid) == values[fid] for fid in merge_on)]
        if len(found) > 1:
            raise error(
                422,
                "INVALID_VALUE_FOR_COLUMN",
                "Upsert failed: more than one record matches the fieldsToMergeOn values",
            )
        return found[0] if found else None


# ---------------------------------------------------------------------------------------- helpers
def _model_not_found() -> HttpError:
    return error(
        403,
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        "Invalid permissions, or the requested model was not found. Check that both your user and your "
        "token have the required permissions, and that the model names and/or ids are correct.",
    )


def _invalid_request(detail: str) -> HttpError:
    return error(
        422,
        "INVALID_REQUEST_UNKNOWN",
        f"Invalid request: parameter validation failed. Check your request data. ({detail})",
    )


def _base_of(path: str) -> str | None:
    parts = path.strip("/").split("/")
    if len(parts) >= 4 and parts[:3] == ["v0", "meta", "bases"]:
        return parts[3]
    if len(parts) >= 2 and parts[0] == "v0" and parts[1] not in ("meta", "bases"):
        return parts[1]
    if len(parts) >= 3 and parts[:2] == ["v0", "bases"]:
        return parts[2]
    return None


def _body(request: Request) -> dict[str, Any]:
    try:
        body = read_json(request)
    except ValueError:
        raise error(400, "INVALID_REQUEST_BODY", "Could not parse request body") from None
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise _invalid_request("body must be an object")
    return body


def _records_list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise _invalid_request("records must be a non-empty array of objects")
    if len(value) > MAX_RECORDS_PER_REQUEST:
        raise error(
            422,
            "INVALID_RECORDS",
            f"Invalid records: you may only operate on up to {MAX_RECORDS_PER_REQUEST} records per request",
        )
    return value


def _query_options(request: Request, allowed: set[str] | None = None) -> dict[str, Any]:
    """GET query → list options; array params need `[]` (bare `fields=` is rejected like Airtable does)."""
    opts: dict[str, Any] = {}
    sorts: dict[int, dict[str, str]] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if key in ("fields[]", "recordMetadata[]"):
            name = key[:-2]
            if allowed is not None and name not in allowed:
                raise _invalid_request(f"unknown parameter {key}")
            opts[name] = values
        elif key.startswith("sort[") and (allowed is None or "sort" in allowed):
            try:
                index_text, attr = key[5:].split("][", 1)
                index, attr = int(index_text), attr.rstrip("]")
            except ValueError:
                raise _invalid_request(f"bad parameter {key}") from None
            if attr not in ("field", "direction"):
                raise _invalid_request(f"bad parameter {key}")
            sorts.setdefault(index, {})[attr] = values[0]
        elif key in LIST_PARAMS - {"fields", "recordMetadata", "sort"} and (allowed is None or key in allowed):
            opts[key] = values[0]
        else:
            raise _invalid_request(f"unknown parameter {key}")
    if sorts:
        opts["sort"] = [sorts[i] for i in sorted(sorts)]
    return opts


def _sort_spec(value: Any) -> list[tuple[str, bool]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid_request("sort must be an array")
    spec = []
    for item in value:
        if not isinstance(item, dict) or "field" not in item:
            raise _invalid_request("sort items need a field")
        direction = str(item.get("direction", "asc"))
        if direction not in ("asc", "desc"):
            raise _invalid_request("sort direction must be asc or desc")
        spec.append((str(item["field"]), direction == "desc"))
    return spec


def _sort_key(value: Any) -> tuple[int, Any]:
    if _is_empty(value):
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, list):
        return (2, ", ".join(map(str, value)).lower())
    return (2, str(value).lower())


def _int_opt(opts: dict[str, Any], key: str, default: int) -> int:
    value = opts.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _invalid_request(f"{key} must be an integer") from None


def _bool_opt(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)
