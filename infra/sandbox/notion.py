"""Notion API emulator (Notion-Version 2025-09-03: databases contain data sources, pages are rows).

Endpoints: GET /v1/databases/{id}, GET /v1/data_sources/{id}, POST /v1/data_sources/{id}/query,
POST /v1/pages, GET|PATCH /v1/pages/{id}. Timestamps are rounded DOWN to the minute like the real API;
errors use the real body `{"object":"error","status","code","message","request_id"}`.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import string
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sandbox.common import Emulator, HttpError, Request, Response, Rule, json_response, read_json
from sandbox.notion_query import PageView, QueryError, apply_query, compile_filter, sort_key_function
from sandbox.notion_webhooks import NotionWebhooks

SUPPORTED_VERSIONS = ("2025-09-03", "2026-03-11")
COLORS = ("default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red")
WRITABLE_TYPES = frozenset(
    {
        "title",
        "rich_text",
        "email",
        "select",
        "status",
        "number",
        "checkbox",
        "url",
        "phone_number",
        "date",
        "multi_select",
    }
)
READ_ONLY_TYPES = frozenset({"created_time", "last_edited_time"})
TEXT_LIMIT = 2000
RICH_TEXT_ITEMS_LIMIT = 100
SHORT_TEXT_LIMIT = {"email": 200, "phone_number": 200, "url": 2000}
BOT_USER_ID = "1b6c4f0e-7c2a-4b53-9d3f-0a1e2b3c4d5e"
PERSON_USER_ID = "6f2d3a41-8e5b-4c7d-a9f0-1b2c3d4e5f60"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def iso_minute(epoch: float) -> str:
    """Notion's timestamp format, rounded down to the minute: 2024-05-01T10:03:00.000Z."""
    floored = math.floor(epoch / 60) * 60
    return datetime.fromtimestamp(floored, tz=UTC).strftime("%Y-%m-%dT%H:%M:00.000Z")


def normalize_id(raw: str) -> str | None:
    """Dashed lowercase UUID for a dashed or compact id; None when it is not a UUID."""
    if not _UUID.match(raw):
        return None
    return str(uuid.UUID(raw.replace("-", "")))


def rich_text(content: str) -> list[dict[str, Any]]:
    """Response-shaped rich text for a plain string (no items for an empty string)."""
    if not content:
        return []
    return [_text_item(content[i : i + TEXT_LIMIT], None) for i in range(0, len(content), TEXT_LIMIT)]


def _text_item(content: str, link: Any, annotations: dict[str, Any] | None = None) -> dict[str, Any]:
    base_annotations = {
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "code": False,
        "color": "default",
    }
    base_annotations.update(annotations or {})
    return {
        "type": "text",
        "text": {"content": content, "link": link},
        "annotations": base_annotations,
        "plain_text": content,
        "href": link.get("url") if isinstance(link, dict) else None,
    }


@dataclass
class _Page:
    id: str
    data_source_id: str
    created: float
    edited: float
    seq: int
    values: dict[str, Any]  # property name -> response-shaped value (rich text list, option dict, scalar)
    in_trash: bool = False
    created_by: str = BOT_USER_ID
    edited_by: str = BOT_USER_ID


@dataclass
class _DataSource:
    id: str
    database_id: str
    name: str
    properties: dict[str, dict[str, Any]]  # name -> schema object {"id","name","type",<type>:{...}}
    created: float
    page_ids: list[str] = field(default_factory=list)


@dataclass
class _Database:
    id: str
    title: str
    created: float
    data_source_ids: list[str] = field(default_factory=list)


class NotionEmulator(NotionWebhooks, Emulator):
    """In-memory Notion workspace behind the real REST shapes of API version 2025-09-03."""

    name = "notion"
    base_path = ""
    env_var = "LEADSYNC_NOTION_BASE_URL"
    rate_limit_defaults = {"rps": 3.0, "burst": 10}
    result_cap = 10_000
    """Results one query can return before `request_status` says incomplete (the real cap is 10,000)."""

    def routes(self) -> list[Rule]:
        return [
            Rule("/v1/databases/<db_id>", endpoint="get_database", methods=["GET"]),
            Rule("/v1/data_sources/<ds_id>", endpoint="get_data_source", methods=["GET"]),
            Rule("/v1/data_sources/<ds_id>/query", endpoint="query_data_source", methods=["POST"]),
            Rule("/v1/pages", endpoint="create_page", methods=["POST"]),
            Rule("/v1/pages/<page_id>", endpoint="get_page", methods=["GET"]),
            Rule("/v1/pages/<page_id>", endpoint="update_page", methods=["PATCH"]),
        ]

    def reset_data(self) -> None:
        self.databases: dict[str, _Database] = {}
        self.data_sources: dict[str, _DataSource] = {}
        self._pages: dict[str, _Page] = {}
        self._cursors: dict[str, int] = {}
        self._seq = itertools.count()
        self._random = random.Random(7)
        self.reset_webhooks()

    def stats_data(self) -> dict[str, Any]:
        return {
            "databases": len(self.databases),
            "data_sources": len(self.data_sources),
            "pages": len(self._pages),
            "pages_in_trash": sum(1 for p in self._pages.values() if p.in_trash),
        }

    # ------------------------------------------------------------------ errors, auth, limits
    def error(self, status: int, code: str, message: str) -> Response:
        """The real Notion error body."""
        return json_response(
            {
                "object": "error",
                "status": status,
                "code": code,
                "message": message,
                "request_id": self.new_request_id(),
            },
            status,
        )

    def fail(self, status: int, code: str, message: str) -> HttpError:
        """An exception carrying a Notion error response."""
        return HttpError(self.error(status, code, message))

    def invalid(self, message: str) -> HttpError:
        """400 validation_error."""
        return self.fail(400, "validation_error", message)

    def error_response(self, status: int, request: Request) -> Response:
        if status in (404, 405):
            return self.error(400, "invalid_request_url", "Invalid request URL.")
        if status == 503:
            return self.error(
                503,
                "service_unavailable",
                "Notion is unavailable. This can occur when the time to respond to a request takes longer "
                "than 60 seconds, the maximum request timeout.",
            )
        return self.error(500, "internal_server_error", "Unexpected error occurred.")

    def rate_limited_response(self, request: Request, retry_after: float) -> Response:
        response = self.error(429, "rate_limited", "You have been rated limited. Please try again in a few minutes.")
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        return response

    def notable_params(self, request: Request, path: str, values: dict[str, Any]) -> set[str]:
        """Query names; for a query, each filter (`filter.timestamp:last_edited_time.on_or_after`,
        `filter.property:rich_text.equals`, `filter.and`) and sort (`sorts.timestamp:created_time`)
        and the other body keys; for a page write, `parent.<type>`, `properties.<type>` of each
        value (`properties.rich_text.split` for more than one text item) and the other keys."""
        names = set(request.args)
        body = read_json(request)
        if not isinstance(body, dict):
            return names
        for key, value in body.items():
            if key == "filter" and isinstance(value, dict):
                names |= _filter_names(value, "filter")
            elif key == "sorts" and isinstance(value, list):
                for sort in value:
                    kind = "timestamp:" + str(sort.get("timestamp")) if "timestamp" in sort else "property"
                    names.add(f"sorts.{kind}")
            elif key == "parent" and isinstance(value, dict):
                names.add(f"parent.{value.get('type') or next(iter(value), '')}")
            elif key == "properties" and isinstance(value, dict):
                for prop in value.values():
                    kinds = [k for k in (prop or {}) if k not in ("id", "type")] if isinstance(prop, dict) else []
                    for kind in kinds:
                        names.add(f"properties.{kind}")
                        items = prop[kind]
                        if kind in ("title", "rich_text") and isinstance(items, list) and len(items) > 1:
                            names.add(f"properties.{kind}.split")
            else:
                names.add(key)
        return names

    def authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if not self.token_ok(token):
            return self.error(401, "unauthorized", "API token is invalid.")
        version = request.headers.get("Notion-Version")
        if not version:
            return self.error(
                400,
                "missing_version",
                "Notion-Version header failed validation: Notion-Version header should be defined, "
                "instead was `undefined`.",
            )
        if version not in SUPPORTED_VERSIONS:
            return self.error(
                400,
                "invalid_request",
                f"The sandbox emulates Notion-Version {' and '.join(SUPPORTED_VERSIONS)}, not {version}.",
            )
        request.environ["sandbox.token"] = token
        return None

    def check_rate_limit(self, request: Request) -> Response | None:
        decision = self.limiter.token_bucket(
            request.environ.get("sandbox.token", ""),
            float(self.limiter.params["rps"]),
            int(self.limiter.params["burst"]),
        )
        return None if decision.allowed else self.rate_limited_response(request, decision.retry_after)

    def decorate(self, request: Request, response: Response) -> None:
        if self.limiter.enabled and self.limiter.time_scale != 1.0:
            response.headers["x-sandbox-time-scale"] = str(self.limiter.time_scale)

    # ------------------------------------------------------------------ lookups
    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = read_json(request)
        except ValueError as exc:
            raise self.fail(400, "invalid_json", "Error parsing JSON body.") from exc
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise self.invalid("body failed validation: body should be an object.")
        return body

    def _id(self, raw: Any, where: str) -> str:
        normalized = normalize_id(raw) if isinstance(raw, str) else None
        if normalized is None:
            raise self.invalid(f'{where} should be a valid uuid, instead was `"{raw}"`.')
        return normalized

    def _database(self, raw: str, where: str = "path.database_id") -> _Database:
        db_id = self._id(raw, where)
        if db_id not in self.databases:
            raise self.fail(
                404,
                "object_not_found",
                f"Could not find database with ID: {db_id}. Make sure the relevant pages and databases are "
                "shared with your integration.",
            )
        return self.databases[db_id]

    def _data_source(self, raw: str, where: str = "path.data_source_id") -> _DataSource:
        ds_id = self._id(raw, where)
        if ds_id not in self.data_sources:
            raise self.fail(
                404,
                "object_not_found",
                f"Could not find data_source with ID: {ds_id}. "
                "Make sure the relevant pages and databases are shared with your integration.",
            )
        return self.data_sources[ds_id]

    def _page(self, raw: str) -> _Page:
        page_id = self._id(raw, "path.page_id")
        if page_id not in self._pages:
            raise self.fail(
                404,
                "object_not_found",
                f"Could not find page with ID: {page_id}. Make sure the relevant pages and databases are "
                "shared with your integration.",
            )
        return self._pages[page_id]

    # ------------------------------------------------------------------ JSON shapes
    def _version(self, request: Request | None) -> str:
        return request.headers.get("Notion-Version", SUPPORTED_VERSIONS[0]) if request else SUPPORTED_VERSIONS[0]

    def database_json(self, db: _Database) -> dict[str, Any]:
        """GET /v1/databases/{id} response."""
        edited = max([db.created] + [self.data_sources[d].created for d in db.data_source_ids])
        return {
            "object": "database",
            "id": db.id,
            "title": rich_text(db.title),
            "description": [],
            "parent": {"type": "workspace", "workspace": True},
            "is_inline": False,
            "in_trash": False,
            "is_locked": False,
            "created_time": iso_minute(db.created),
            "last_edited_time": iso_minute(edited),
            "data_sources": [{"id": d, "name": self.data_sources[d].name} for d in db.data_source_ids],
            "icon": None,
            "cover": None,
            "url": f"https://www.notion.so/{db.id.replace('-', '')}",
            "public_url": None,
        }

    def data_source_json(self, ds: _DataSource) -> dict[str, Any]:
        """GET /v1/data_sources/{id} response (the schema lives here in 2025-09-03)."""
        return {
            "object": "data_source",
            "id": ds.id,
            "created_time": iso_minute(ds.created),
            "last_edited_time": iso_minute(ds.created),
            "created_by": {"object": "user", "id": PERSON_USER_ID},
            "last_edited_by": {"object": "user", "id": PERSON_USER_ID},
            "title": rich_text(ds.name),
            "description": [],
            "properties": {name: _copy(prop) for name, prop in ds.properties.items()},
            "parent": {"type": "database_id", "database_id": ds.database_id},
            "database_parent": {"type": "workspace", "workspace": True},
            "is_inline": False,
            "archived": False,
            "in_trash": False,
            "icon": None,
            "cover": None,
            "url": f"https://www.notion.so/{ds.database_id.replace('-', '')}",
            "public_url": None,
        }

    def page_json(self, page: _Page, request: Request | None = None, only: set[str] | None = None) -> dict[str, Any]:
        """The page object as GET /v1/pages/{id} returns it."""
        ds = self.data_sources[page.data_source_id]
        properties: dict[str, Any] = {}
        for name, prop in ds.properties.items():
            if only is not None and prop["id"] not in only and name not in only:
                continue
            ptype = prop["type"]
            if ptype == "created_time":
                value: Any = iso_minute(page.created)
            elif ptype == "last_edited_time":
                value = iso_minute(page.edited)
            else:
                value = _copy(page.values.get(name, _empty(ptype)))
            properties[name] = {"id": prop["id"], "type": ptype, ptype: value}
        title = "".join(
            t["plain_text"]
            for t in page.values.get(next(n for n, p in ds.properties.items() if p["type"] == "title"), [])
        )
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")
        page_json: dict[str, Any] = {
            "object": "page",
            "id": page.id,
            "created_time": iso_minute(page.created),
            "last_edited_time": iso_minute(page.edited),
            "created_by": {"object": "user", "id": page.created_by},
            "last_edited_by": {"object": "user", "id": page.edited_by},
            "cover": None,
            "icon": None,
            "parent": {"type": "data_source_id", "data_source_id": ds.id, "database_id": ds.database_id},
            "in_trash": page.in_trash,
            "archived": page.in_trash,
            "is_locked": False,
            "properties": properties,
            "url": f"https://www.notion.so/{slug + '-' if slug else ''}{page.id.replace('-', '')}",
            "public_url": None,
        }
        if self._version(request) >= "2026-03-11":
            del page_json["archived"]
        return page_json

    # ------------------------------------------------------------------ endpoints
    def get_database(self, request: Request, db_id: str) -> Response:
        return json_response(self.database_json(self._database(db_id)))

    def get_data_source(self, request: Request, ds_id: str) -> Response:
        return json_response(self.data_source_json(self._data_source(ds_id)))

    def query_data_source(self, request: Request, ds_id: str) -> Response:
        ds = self._data_source(ds_id)
        body = self._body(request)
        page_size = body.get("page_size", 100)
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise self.invalid(
                f"body failed validation: body.page_size should be a positive integer, instead was `{page_size}`."
            )
        if page_size > 100:
            raise self.invalid(f"body failed validation: body.page_size should be ≤ `100`, instead was `{page_size}`.")
        include_trash = bool(body.get("in_trash", body.get("archived", False)))
        try:
            predicate = compile_filter(body["filter"], ds.properties, self.clock.time()) if "filter" in body else None
            key = sort_key_function(body.get("sorts"), ds.properties)
        except QueryError as exc:
            raise self.invalid(str(exc)) from exc
        pages = [self._pages[p] for p in ds.page_ids if include_trash or not self._pages[p].in_trash]
        views = [self._view(p, ds) for p in pages]
        order = apply_query(views, predicate, key)
        start = 0
        cursor = body.get("start_cursor")
        if cursor is not None:
            if not isinstance(cursor, str) or cursor not in self._cursors:
                raise self.invalid(f"start_cursor provided is invalid: {cursor}")
            start = self._cursors[cursor]
        end = min(start + page_size, len(order), self.result_cap)
        capped = end >= self.result_cap and len(order) > self.result_cap
        has_more = end < len(order) and not capped
        next_cursor = None
        if has_more:
            next_cursor = str(uuid.uuid4())
            self._cursors[next_cursor] = end
        only = set(request.args.getlist("filter_properties")) or None
        result: dict[str, Any] = {
            "object": "list",
            "results": [self.page_json(pages[i], request, only) for i in order[start:end]],
            "next_cursor": next_cursor,
            "has_more": has_more,
            "type": "page_or_data_source",
            "page_or_data_source": {},
        }
        if capped:
            result["request_status"] = {
                "type": "incomplete",
                "incomplete_reason": "query_result_limit_reached",
            }
        return json_response(result)

    def create_page(self, request: Request) -> Response:
        body = self._body(request)
        ds = self._parent_data_source(body.get("parent"))
        properties = body.get("properties", {})
        if not isinstance(properties, dict):
            raise self.invalid("body failed validation: body.properties should be an object.")
        values = self._validate_properties(ds, properties, request)
        page_id = self._insert_page(ds, values, BOT_USER_ID)
        return json_response(self.page_json(self._pages[page_id], request))

    def get_page(self, request: Request, page_id: str) -> Response:
        only = set(request.args.getlist("filter_properties")) or None
        return json_response(self.page_json(self._page(page_id), request, only))

    def update_page(self, request: Request, page_id: str) -> Response:
        page = self._page(page_id)
        body = self._body(request)
        trash = body.get("in_trash")
        if "archived" in body:
            if self._version(request) >= "2026-03-11":
                raise self.invalid("body failed validation: body.archived is not supported, use body.in_trash.")
            trash = body["archived"] if trash is None else trash
        if trash is not None and not isinstance(trash, bool):
            raise self.invalid(f"body failed validation: body.in_trash should be a boolean, instead was `{trash}`.")
        properties = body.get("properties") or {}
        if not isinstance(properties, dict):
            raise self.invalid("body failed validation: body.properties should be an object.")
        if page.in_trash and trash is not False and properties:
            raise self.invalid("Can't edit block that is archived. You must unarchive the block before editing.")
        ds = self.data_sources[page.data_source_id]
        values = self._validate_properties(ds, properties, request)
        page.values.update(values)
        if trash is not None:
            page.in_trash = trash
        if values or trash is not None:
            page.edited, page.edited_by = self.clock.time(), BOT_USER_ID
            self._notify_change(page, list(values), trash, BOT_USER_ID)
        return json_response(self.page_json(page, request))

    # ------------------------------------------------------------------ validation of writes
    def _parent_data_source(self, parent: Any) -> _DataSource:
        if not isinstance(parent, dict):
            raise self.invalid("body failed validation: body.parent should be defined, instead was `undefined`.")
        if "data_source_id" in parent:
            return self._data_source(parent["data_source_id"], "body.parent.data_source_id")
        if "database_id" in parent:
            db = self._database(parent["database_id"], "body.parent.database_id")
            if len(db.data_source_ids) != 1:
                raise self.invalid(
                    "Databases with multiple data sources are not supported in this API version. "
                    "Use a data_source_id parent instead."
                )
            return self.data_sources[db.data_source_ids[0]]
        raise self.invalid("body failed validation: body.parent should have a data_source_id or database_id.")

    def _validate_properties(
        self, ds: _DataSource, properties: dict[str, Any], request: Request | None
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for key, raw in properties.items():
            name = self._property_name(ds, key)
            prop = ds.properties[name]
            ptype = prop["type"]
            if ptype in READ_ONLY_TYPES:
                raise self.invalid(f"{name} is a {ptype} property and cannot be updated.")
            if not isinstance(raw, dict) or ptype not in raw:
                raise self.invalid(
                    f"body failed validation. Fix one: body.properties.{name}.{ptype} should be defined, "
                    "instead was `undefined`."
                )
            values[name] = self._property_value(ds, name, prop, raw[ptype])
        return values

    def _property_name(self, ds: _DataSource, key: str) -> str:
        if key in ds.properties:
            return key
        for name, prop in ds.properties.items():
            if prop["id"] == key:
                return name
        raise self.invalid(f"{key} is not a property that exists.")

    def _property_value(self, ds: _DataSource, name: str, prop: dict[str, Any], value: Any) -> Any:
        ptype = prop["type"]
        where = f"body.properties.{name}.{ptype}"
        if ptype in ("title", "rich_text"):
            return self._rich_text_value(value, where)
        if value is None:
            if ptype == "checkbox":
                raise self.invalid(f"body failed validation: {where} should be a boolean, instead was `null`.")
            return [] if ptype == "multi_select" else None
        if ptype in SHORT_TEXT_LIMIT:
            if not isinstance(value, str):
                raise self.invalid(f"body failed validation: {where} should be a string or `null`.")
            limit = SHORT_TEXT_LIMIT[ptype]
            if len(value) > limit:
                raise self.invalid(
                    f"body failed validation: {where}.length should be ≤ `{limit}`, instead was `{len(value)}`."
                )
            return value
        if ptype in ("select", "status"):
            return self._option_value(prop, value, where)
        if ptype == "multi_select":
            if not isinstance(value, list):
                raise self.invalid(f"body failed validation: {where} should be an array.")
            return [self._option_value(prop, v, where) for v in value]
        if ptype == "number":
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise self.invalid(f"body failed validation: {where} should be a number or `null`.")
            return value
        if ptype == "checkbox":
            if not isinstance(value, bool):
                raise self.invalid(f"body failed validation: {where} should be a boolean.")
            return value
        if ptype == "date":
            if not isinstance(value, dict) or not isinstance(value.get("start"), str):
                raise self.invalid(f"body failed validation: {where}.start should be defined.")
            return {"start": value["start"], "end": value.get("end"), "time_zone": value.get("time_zone")}
        raise self.invalid(f"{name} cannot be written by the sandbox ({ptype}).")

    def _rich_text_value(self, value: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise self.invalid(f"body failed validation: {where} should be an array.")
        if len(value) > RICH_TEXT_ITEMS_LIMIT:
            raise self.invalid(
                f"body failed validation: {where}.length should be ≤ `{RICH_TEXT_ITEMS_LIMIT}`, "
                f"instead was `{len(value)}`."
            )
        items = []
        for index, item in enumerate(value):
            text = item.get("text") if isinstance(item, dict) else None
            if not isinstance(text, dict) or not isinstance(text.get("content"), str):
                raise self.invalid(f"body failed validation: {where}[{index}].text.content should be defined.")
            content = text["content"]
            if len(content) > TEXT_LIMIT:
                raise self.invalid(
                    f"body failed validation: {where}[{index}].text.content.length "
                    f"should be ≤ `{TEXT_LIMIT}`, "
                    f"instead was `{len(content)}`."
                )
            items.append(_text_item(content, text.get("link"), item.get("annotations")))
        return items

    def _option_value(self, prop: dict[str, Any], value: Any, where: str) -> dict[str, Any]:
        ptype = prop["type"]
        options = prop[ptype]["options"]
        if not isinstance(value, dict) or not ({"name", "id"} & set(value)):
            raise self.invalid(f"body failed validation: {where} should have a name or an id.")
        if "id" in value:
            for option in options:
                if option["id"] == value["id"]:
                    return {"id": option["id"], "name": option["name"], "color": option["color"]}
            raise self.invalid(f"{where}: option with id {value['id']} does not exist.")
        name = value["name"]
        if not isinstance(name, str) or not name.strip():
            raise self.invalid(f"body failed validation: {where}.name should be a non-empty string.")
        if "," in name:
            raise self.invalid(f"Invalid select option, commas not allowed: {name}")
        for option in options:
            if option["name"] == name:
                return {"id": option["id"], "name": option["name"], "color": option["color"]}
        if ptype == "status":
            raise self.invalid(
                f'Invalid status option. Status option "{name}" does not exist for property {prop["name"]}.'
            )
        option = self._new_option(name, value.get("color"), len(options))
        options.append(option)
        return {"id": option["id"], "name": option["name"], "color": option["color"]}

    # ------------------------------------------------------------------ internals
    def _new_option(self, name: str, color: str | None, index: int) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "name": name,
            "color": color or COLORS[index % len(COLORS)],
            "description": None,
        }

    def _new_property_id(self, taken: set[str]) -> str:
        alphabet = string.ascii_letters + string.digits + "@:;<=>[]^`{|}~"
        while True:
            raw = "".join(self._random.choice(alphabet) for _ in range(4))
            encoded = quote(raw, safe="")
            if encoded not in taken:
                return encoded

    def _view(self, page: _Page, ds: _DataSource) -> PageView:
        plain: dict[str, Any] = {}
        for name, prop in ds.properties.items():
            plain[name] = _plain(prop["type"], page.values.get(name, _empty(prop["type"])))
        return PageView(
            created=math.floor(page.created / 60) * 60,
            edited=math.floor(page.edited / 60) * 60,
            values=plain,
            seq=page.seq,
        )

    def _insert_page(self, ds: _DataSource, values: dict[str, Any], author: str) -> str:
        now = self.clock.time()
        page_id = str(uuid.uuid4())
        self._pages[page_id] = _Page(page_id, ds.id, now, now, next(self._seq), values, False, author, author)
        ds.page_ids.append(page_id)
        self.notify_page(self._pages[page_id], "created", author, author == BOT_USER_ID)
        return page_id

    def _notify_change(self, page: _Page, properties: list[str], trash: bool | None, author: str) -> None:
        if properties:
            self.notify_page(page, "properties_updated", author, author == BOT_USER_ID, properties)
        if trash is not None:
            self.notify_page(page, "deleted" if trash else "undeleted", author, author == BOT_USER_ID)

    # ------------------------------------------------------------------ user helpers (a person in the UI)
    def create_database(
        self,
        title: str = "Leads",
        properties: dict[str, str] | None = None,
        status_options: list[str] | None = None,
        select_options: dict[str, list[str]] | None = None,
    ) -> tuple[str, str]:
        """A database with one data source of these property types; returns (database_id, data_source_id)."""
        with self.lock:
            db = _Database(str(uuid.uuid4()), title, self.clock.time())
            self.databases[db.id] = db
            ds_id = self.add_data_source(db.id, title, properties, status_options, select_options)
            return db.id, ds_id

    def add_data_source(
        self,
        database_id: str,
        name: str,
        properties: dict[str, str] | None = None,
        status_options: list[str] | None = None,
        select_options: dict[str, list[str]] | None = None,
    ) -> str:
        """Add a data source to a database (a second one breaks database_id-based code); returns its id."""
        if properties is None:
            properties = {
                "Name": "title",
                "Email": "email",
                "Status": "status",
                "Source": "select",
                "Trello Card": "rich_text",
            }
        if list(properties.values()).count("title") != 1:
            raise ValueError("a data source needs exactly one title property")
        with self.lock:
            schema: dict[str, dict[str, Any]] = {}
            taken: set[str] = set()
            for prop_name, ptype in properties.items():
                if ptype not in WRITABLE_TYPES | READ_ONLY_TYPES:
                    raise ValueError(f"unsupported property type {ptype!r}")
                prop_id = "title" if ptype == "title" else self._new_property_id(taken)
                taken.add(prop_id)
                config: dict[str, Any] = {}
                if ptype in ("select", "multi_select"):
                    names = (select_options or {}).get(prop_name, [])
                    config = {"options": [self._new_option(n, None, i) for i, n in enumerate(names)]}
                elif ptype == "status":
                    names = status_options or ["Not started", "In progress", "Done"]
                    options = [self._new_option(n, None, i) for i, n in enumerate(names)]
                    config = {"options": options, "groups": _status_groups(options)}
                elif ptype == "number":
                    config = {"format": "number"}
                schema[prop_name] = {
                    "id": prop_id,
                    "name": prop_name,
                    "type": ptype,
                    "description": None,
                    ptype: config,
                }
            ds = _DataSource(str(uuid.uuid4()), database_id, name, schema, self.clock.time())
            self.data_sources[ds.id] = ds
            self.databases[database_id].data_source_ids.append(ds.id)
            return ds.id

    def user_create_page(self, ds_id: str, values: dict[str, Any]) -> str:
        """A person adds a row with plain values ({"Name": "Ada", "Status": "New"}); returns the page id."""
        with self.lock:
            ds = self.data_sources[ds_id]
            return self._insert_page(ds, self._plain_to_values(ds, values), PERSON_USER_ID)

    def user_update_page(self, page_id: str, values: dict[str, Any]) -> None:
        """A person edits some properties (plain values); bumps last_edited_time."""
        with self.lock:
            page = self._pages[page_id]
            page.values.update(self._plain_to_values(self.data_sources[page.data_source_id], values))
            page.edited, page.edited_by = self.clock.time(), PERSON_USER_ID
            self._notify_change(page, list(values), None, PERSON_USER_ID)

    def user_trash_page(self, page_id: str) -> None:
        """A person deletes the row (moves the page to the trash)."""
        self._user_set_trash(page_id, True)

    def user_restore_page(self, page_id: str) -> None:
        """A person restores the row from the trash."""
        self._user_set_trash(page_id, False)

    def _user_set_trash(self, page_id: str, in_trash: bool) -> None:
        with self.lock:
            page = self._pages[page_id]
            page.in_trash = in_trash
            page.edited, page.edited_by = self.clock.time(), PERSON_USER_ID
            self._notify_change(page, [], in_trash, PERSON_USER_ID)

    def page_values(self, page_id: str) -> dict[str, Any]:
        """Plain values of a page (text, option name, email...) plus "_in_trash"."""
        with self.lock:
            page = self._pages[normalize_id(page_id) or page_id]
            ds = self.data_sources[page.data_source_id]
            values: dict[str, Any] = {}
            for name, prop in ds.properties.items():
                ptype = prop["type"]
                if ptype == "created_time":
                    values[name] = iso_minute(page.created)
                elif ptype == "last_edited_time":
                    values[name] = iso_minute(page.edited)
                else:
                    values[name] = _plain(ptype, page.values.get(name, _empty(ptype)))
            values["_in_trash"] = page.in_trash
            return values

    def pages(self, ds_id: str, include_trashed: bool = False) -> list[dict[str, Any]]:
        """Plain values of every page in creation order, each with "_id" (trashed ones only if asked)."""
        with self.lock:
            ids = [p for p in self.data_sources[ds_id].page_ids if include_trashed or not self._pages[p].in_trash]
            return [{"_id": p, **self.page_values(p)} for p in ids]

    def get_page_json(self, page_id: str) -> dict[str, Any]:
        """The page object exactly as the API would return it."""
        with self.lock:
            return self.page_json(self._pages[normalize_id(page_id) or page_id])

    def _plain_to_values(self, ds: _DataSource, plain: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in plain.items():
            if name not in ds.properties:
                raise KeyError(f"no property {name!r} in data source {ds.name!r}")
            prop = ds.properties[name]
            ptype = prop["type"]
            if ptype in ("title", "rich_text"):
                values[name] = rich_text(value or "")
            elif ptype in ("select", "status"):
                if value is None:
                    values[name] = None
                else:
                    try:
                        values[name] = self._option_value(prop, {"name": value}, name)
                    except HttpError as exc:
                        raise ValueError(f"{value!r} is not an option of {name!r}") from exc
            elif ptype == "multi_select":
                values[name] = [self._option_value(prop, {"name": v}, name) for v in value or []]
            elif ptype == "date":
                values[name] = {"start": value, "end": None, "time_zone": None} if value else None
            elif ptype in READ_ONLY_TYPES:
                raise ValueError(f"{name!r} is read-only")
            else:
                values[name] = value
        return values


def _status_groups(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [o["id"] for o in options]
    todo, doing, done = ids[:1], ids[1:-1] if len(ids) > 2 else [], ids[-1:] if len(ids) > 1 else []
    return [
        {"id": str(uuid.uuid4()), "name": "To-do", "color": "gray", "option_ids": todo},
        {"id": str(uuid.uuid4()), "name": "In progress", "color": "blue", "option_ids": doing},
        {"id": str(uuid.uuid4()), "name": "Complete", "color": "green", "option_ids": done},
    ]


def _empty(ptype: str) -> Any:
    if ptype in ("title", "rich_text", "multi_select"):
        return []
    if ptype == "checkbox":
        return False
    return None


def _plain(ptype: str, value: Any) -> Any:
    if ptype in ("title", "rich_text"):
        return "".join(item["plain_text"] for item in value) if value else ("" if ptype == "title" else None)
    if ptype in ("select", "status"):
        return value["name"] if value else None
    if ptype == "multi_select":
        return [v["name"] for v in value]
    if ptype == "date":
        return value["start"] if value else None
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _filter_names(node: dict[str, Any], prefix: str) -> set[str]:
    """`filter.timestamp:<which>.<op>`, `filter.property:<type>.<op>`, `filter.and|or` (recursing)."""
    for compound in ("and", "or"):
        if compound in node:
            names = {f"{prefix}.{compound}"}
            for child in node[compound] or []:
                names |= _filter_names(child, prefix) if isinstance(child, dict) else set()
            return names
    if "timestamp" in node:
        which = str(node["timestamp"])
        return {f"{prefix}.timestamp:{which}.{op}" for op in node.get(which) or {}}
    kinds = [k for k in node if k != "property"]
    return {f"{prefix}.property:{kind}.{op}" for kind in kinds for op in (node[kind] or {})}
