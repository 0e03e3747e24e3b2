"""Notion connector: one data source (API version 2025-09-03) of a database.

Values are plain strings: title/rich_text -> plain text; email/url/phone_number as is;
select/status -> option name; multi_select -> names joined by ", "; number -> decimal text;
checkbox -> "true"/"false"; date -> its start; formula/created_time/last_edited_time/unique_id
are read-only. Empty values are ``None``.

Cost: an incremental read with no edits is one query request; the data source id and the schema
are cached for the life of the process (refreshed when a property or option is not found).

Ids: every page id handed in (``get``, ``update``, ``set_link``, ``archive``) must be a UUID
(``normalize_id``) or it is a ``RecordError`` and nothing is sent. Only pages of the configured data
source are read or written: a page whose ``parent`` is another data source (a link pointing out of
the pair) reads as ``None`` and is never written (``RecordError``). Writes need no extra request for
pages this connector has already read from its data source; any other page is read once first to
check where it lives.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from leadsync.connectors.base import Schema
from leadsync.connectors.deadline import Deadline
from leadsync.connectors.http import Transport, about_record, path
from leadsync.connectors.ratelimit import Limit, shared_limiter
from leadsync.connectors.values import BadValue as _BadValue
from leadsync.connectors.values import parse_number as _parse_number
from leadsync.core import ids
from leadsync.core.models import FetchResult, Fields, Record, Value
from leadsync.errors import ApiError, ConfigError, NotFound, RecordError
from leadsync.observability import logger

log = logging.getLogger("leadsync.connectors.notion")

NOTION_VERSION = "2025-09-03"
DEFAULT_BASE_URL = "https://api.notion.com"
TEXT_ITEM_LIMIT = 2000  # UTF-16 code units per rich-text item
TEXT_ITEMS_LIMIT = 100  # items per rich-text array
WRITABLE_TYPES = frozenset(
    {"title", "rich_text", "email", "url", "phone_number", "select", "status", "multi_select"}
    | {"number", "checkbox", "date"}
)
OPTION_TYPES = ("select", "status", "multi_select")
TRUE_WORDS = frozenset({"true", "yes", "1", "checked", "x"})
FALSE_WORDS = frozenset({"false", "no", "0", "unchecked", ""})

# Process-wide caches (survive warm Lambda invocations): database -> data source, data source -> schema.
_cache_lock = threading.Lock()
_data_sources: dict[tuple[str, str], str] = {}
_schemas: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}


def notion_transport(
    token: str,
    *,
    base_url: str = DEFAULT_BASE_URL,
    deadline: Deadline | None = None,
    limit: Limit | None = None,
    **options: Any,
) -> Transport:
    """A transport for one Notion integration token, on that token's shared rate limiter."""
    return Transport(
        "notion",
        base_url,
        auth_headers={"Authorization": f"Bearer {token}", "Notion-Version": NOTION_VERSION},
        rate_limiter=shared_limiter("notion", token, limit=limit),
        deadline=deadline,
        **options,
    )


def clear_caches() -> None:
    """Forget cached data source ids and schemas (tests, schema changes)."""
    with _cache_lock:
        _data_sources.clear()
        _schemas.clear()


# -- values ------------------------------------------------------------------------------------


def _plain_text(items: Any) -> str | None:
    text = "".join(str(item.get("plain_text", "")) for item in items or [])
    return text or None


def _number_text(number: Any) -> str | None:
    if number is None:
        return None
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return str(number)


def read_value(prop: Mapping[str, Any] | None) -> Value:
    """A page property value as a plain string (``None`` when empty)."""
    if not prop:
        return None
    ptype = prop.get("type")
    value = prop.get(str(ptype))
    if ptype in ("title", "rich_text"):
        return _plain_text(value)
    if ptype in ("email", "url", "phone_number", "created_time", "last_edited_time"):
        return value or None
    if ptype in ("select", "status"):
        return value.get("name") if value else None
    if ptype == "multi_select":
        return ", ".join(o["name"] for o in value) if value else None
    if ptype == "number":
        return _number_text(value)
    if ptype == "checkbox":
        return "true" if value else "false"
    if ptype == "date":
        return value.get("start") if value else None
    if ptype == "unique_id" and value:
        number = value.get("number")
        return f"{value['prefix']}-{number}" if value.get("prefix") else _number_text(number)
    if ptype == "formula" and value:
        inner = value.get(value.get("type", ""))
        if isinstance(inner, dict):
            return inner.get("start")
        if isinstance(inner, bool):
            return "true" if inner else "false"
        return _number_text(inner) if isinstance(inner, int | float) else (inner or None)
    return None


def _utf16_len(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def split_text(text: str, limit: int = TEXT_ITEM_LIMIT) -> list[str]:
    """Chunks of at most ``limit`` UTF-16 code units (Notion counts like JavaScript), never
    splitting a surrogate pair."""
    chunks: list[str] = []
    current: list[str] = []
    units = 0
    for char in text:
        width = _utf16_len(char)
        if units + width > limit:
            chunks.append("".join(current))
            current, units = [], 0
        current.append(char)
        units += width
    if current:
        chunks.append("".join(current))
    return chunks


def rich_text(text: str | None) -> list[dict[str, Any]]:
    """A rich-text array for a plain string, split into items Notion accepts."""
    return [{"type": "text", "text": {"content": chunk}} for chunk in split_text(text or "")]


def write_value(ptype: str, value: Value, options: Sequence[str] = ()) -> dict[str, Any]:
    """The property value object for writing ``value`` to a property of type ``ptype``.

    ``options`` are the allowed status names (Notion cannot create status options).
    Raises ``_BadValue`` with a user-facing reason.
    """
    text = value if value not in (None, "") else None
    if ptype in ("title", "rich_text"):
        items = rich_text(text)
        if len(items) > TEXT_ITEMS_LIMIT:
            raise _BadValue(
                f"text of {len(text or '')} characters is too long for Notion "
                f"(at most {TEXT_ITEMS_LIMIT} items of {TEXT_ITEM_LIMIT})"
            )
        return {ptype: items}
    if ptype in ("email", "url", "phone_number"):
        return {ptype: text}
    if ptype == "select":
        if text is not None and "," in text:
            raise _BadValue(f"select option {text!r} contains a comma, which Notion does not allow")
        return {ptype: {"name": text} if text is not None else None}
    if ptype == "status":
        if text is not None and text not in options:
            raise _BadValue(
                f"{text!r} is not an option of this status property; allowed: {', '.join(options)} "
                "(Notion's API cannot create status options: add it in Notion first)"
            )
        return {ptype: {"name": text} if text is not None else None}
    if ptype == "multi_select":
        names = [n.strip() for n in (text or "").split(",") if n.strip()]
        return {ptype: [{"name": n} for n in names]}
    if ptype == "number":
        return {ptype: _parse_number(text)}
    if ptype == "checkbox":
        word = (text or "").strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise _BadValue(f"{text!r} is not a checkbox value (true/false)")
        return {ptype: word in TRUE_WORDS}
    if ptype == "date":
        return {ptype: {"start": text} if text is not None else None}
    raise _BadValue(f"properties of type {ptype!r} cannot be written")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _Listing(NamedTuple):
    pages: list[dict[str, Any]]
    capped: bool  # Notion stopped at its result cap
    as_of: datetime | None  # the server's ``Date`` of the first answer
    rest: str | None = None  # the ``next_cursor`` where the listing stopped for time


BY_CREATION = [{"timestamp": "created_time", "direction": "ascending"}]  # stable under edits


class _Resume(NamedTuple):
    """Where a listing of everything in parts stands (``Resuming``; the token is its JSON)."""

    as_of: datetime  # the server's time of the listing's first answer
    after: str | None  # ``created_time`` the current window starts at (past the result cap)
    start: str | None  # Notion's ``next_cursor`` in that window

    def token(self) -> str:
        return json.dumps({"as_of": _iso(self.as_of), "after": self.after, "start": self.start}, sort_keys=True)

    @classmethod
    def parse(cls, token: str | None) -> _Resume | None:
        """The token's state, or None when there is none or it is not one of ours."""
        try:
            data = json.loads(token) if token else None
        except ValueError:
            return None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str | None) for k in ("after", "start")):
            return None
        try:
            as_of = _parse_time(data.get("as_of"))
        except (AttributeError, TypeError, ValueError):
            return None
        return cls(as_of, data.get("after"), data.get("start")) if as_of is not None else None


def _caught_up(newest: str | None, as_of: datetime | None) -> str | None:
    """The cursor after a query that read everything: the newest edit seen, or the server's
    time of the query when that is later.

    Without this a quiet database would be queried from its last edit minus the overlap for
    ever, re-reading every page edited in that window on every cycle. Any edit the query could
    not see yet is at most a few seconds older than ``as_of``; the next query starts at
    ``as_of`` minus the overlap (two minutes, minute rounding included), so it still finds it.
    """
    if as_of is None or (newest is not None and _sort_key(newest) >= as_of):
        return newest
    return _iso(as_of)


# -- connector ---------------------------------------------------------------------------------


class NotionConnector:
    """Reads and writes the pages of one Notion data source.

    ``fields``: property names to read (every record carries exactly these keys).
    ``link_field``: a rich_text property holding the counterpart (card) id.
    ``overlap_seconds``: how far before the cursor an incremental query starts (Notion rounds
    ``last_edited_time`` down to the minute, so records may repeat; they never go missing).
    ``data_source_id``: required when the database has more than one data source.
    """

    system = "notion"

    def __init__(
        self,
        transport: Transport,
        *,
        database_id: str,
        fields: Sequence[str],
        link_field: str = "Trello Card",
        overlap_seconds: int = 120,
        page_size: int = 100,
        data_source_id: str | None = None,
    ) -> None:
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be between 1 and 100")
        self.transport = transport
        self.database_id = database_id
        self.fields = list(fields)
        self.link_field = link_field
        self.overlap = timedelta(seconds=overlap_seconds)
        self.page_size = page_size
        self._data_source_id = data_source_id
        self._ours: set[str] = set()  # page ids read from this data source (checked: no read before a write)

    # -- discovery -------------------------------------------------------------------------

    @property
    def data_source_id(self) -> str:
        """The data source behind ``database_id`` (resolved once per process)."""
        if self._data_source_id is None:
            key = (self.transport.base_url, self.database_id)
            with _cache_lock:
                cached = _data_sources.get(key)
            if cached is None:
                cached = self._resolve_data_source()
                with _cache_lock:
                    _data_sources[key] = cached
            self._data_source_id = cached
        return self._data_source_id

    def _resolve_data_source(self) -> str:
        try:
            database = self.transport.request("GET", path("/v1/databases/{}", self.database_id))
        except NotFound as exc:
            raise ConfigError(
                [f"Notion database {self.database_id} not found (is it shared with the integration?)"]
            ) from exc
        sources = database.get("data_sources") or []
        if not sources:
            raise ConfigError([f"Notion database {self.database_id} has no data source"])
        if len(sources) > 1:
            listed = ", ".join(f"{s.get('name')!r} ({s['id']})" for s in sources)
            raise ConfigError(
                [
                    f"Notion database {self.database_id} has {len(sources)} data sources ({listed}): "
                    "set data_source_id to choose one"
                ]
            )
        return str(sources[0]["id"])

    def _schema(self, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        key = (self.transport.base_url, self.data_source_id)
        with _cache_lock:
            cached = None if refresh else _schemas.get(key)
        if cached is None:
            data_source = self.transport.request("GET", path("/v1/data_sources/{}", self.data_source_id))
            cached = dict(data_source.get("properties") or {})
            with _cache_lock:
                _schemas[key] = cached
        return cached

    def _property(self, name: str) -> dict[str, Any]:
        schema = self._schema()
        if name not in schema:
            schema = self._schema(refresh=True)
        if name not in schema:
            raise ConfigError(
                [
                    f"Notion data source {self.data_source_id} has no property {name!r}; "
                    f"it has: {', '.join(sorted(schema))}"
                ]
            )
        return schema[name]

    def _options(self, name: str, *, refresh: bool = False) -> list[str]:
        prop = self._schema(refresh=refresh).get(name) or self._property(name)
        ptype = prop["type"]
        return [o["name"] for o in (prop.get(ptype) or {}).get("options", [])]

    def describe(self) -> Schema:
        """Property name -> type, and the options of status/select/multi_select properties."""
        schema = self._schema(refresh=True)
        fields = {name: prop["type"] for name, prop in schema.items()}
        options = {
            name: [o["name"] for o in (prop.get(prop["type"]) or {}).get("options", [])]
            for name, prop in schema.items()
            if prop["type"] in OPTION_TYPES
        }
        return Schema(fields=fields, options=options)

    # -- ids -------------------------------------------------------------------------------

    def normalize_id(self, raw: str) -> str | None:
        """A Notion page id (UUID, dashed or 32-hex compact, any case) as Notion writes it:
        lowercase dashed ``8-4-4-4-12``; ``None`` when ``raw`` is not one."""
        return ids.notion_id(raw)

    def _page_id(self, record_id: str) -> str:
        """The canonical page id, or a ``RecordError`` before anything is sent."""
        page_id = ids.notion_id(record_id)
        if page_id is None:
            raise RecordError(
                ids.shown(record_id), "not a Notion page id (a UUID, 8-4-4-4-12 or 32 hex characters): nothing was sent"
            )
        return page_id

    def _owns(self, page: Mapping[str, Any]) -> bool:
        """Whether the page lives in the configured data source (or, in the legacy shape, database)."""
        parent = page.get("parent") or {}
        kind = parent.get("type")
        if kind == "data_source_id":
            expected = ids.notion_id(self.data_source_id)
        elif kind == "database_id":
            expected = ids.notion_id(self.database_id)
        else:
            return False
        return expected is not None and ids.notion_id(parent.get(kind)) == expected

    def _refuse(self, page_id: str, page: Mapping[str, Any]) -> None:
        logger.warning(
            "refused foreign link",
            extra={
                "system": self.system,
                "record_id": page_id,
                "parent": dict(page.get("parent") or {}),
                "data_source_id": self.data_source_id,
            },
        )

    def _read_page(self, page_id: str) -> dict[str, Any] | None:
        """The page of this data source, ``None`` when Notion says it is gone or it lives elsewhere."""
        try:
            page = self.transport.request("GET", path("/v1/pages/{}", page_id))
        except NotFound:
            return None
        if not self._owns(page):
            self._refuse(page_id, page)
            return None
        return dict(page)

    def _writable(self, record_id: str) -> str:
        """The canonical id of a page this connector may write: one already read from its data
        source, or one read now and found there. A foreign page is a ``RecordError``; a page gone is
        ``NotFound``."""
        page_id = self._page_id(record_id)
        if page_id in self._ours:
            return page_id
        page = self.transport.request("GET", path("/v1/pages/{}", page_id))
        if not self._owns(page):
            self._refuse(page_id, page)
            raise RecordError(
                record_id,
                f"Notion page {page_id} is not in data source {self.data_source_id} of this pair "
                "(refused foreign link): nothing was written",
            )
        self._ours.add(page_id)
        return page_id

    def vouch(self, record_ids: Sequence[str]) -> None:
        """Take pages the pair's backlog read from this data source as ours: no GET before their write.

        Only ids of Notion's format are taken; anything else still gets the check at its write.
        """
        self._ours.update(page_id for page_id in map(ids.notion_id, record_ids) if page_id)

    # -- reading ---------------------------------------------------------------------------

    def _record(self, page: Mapping[str, Any]) -> Record:
        if self._owns(page):
            self._ours.add(ids.notion_id(page.get("id")) or str(page["id"]))
        props = page.get("properties") or {}
        return Record(
            id=str(page["id"]),
            # A page carries every property of its data source, empty ones too: a mapped name absent
            # from it (renamed or mistyped) is left out, so the planner leaves that field alone rather
            # than reading it as cleared and clearing it on the other side.
            fields={name: read_value(props[name]) for name in self.fields if name in props},
            updated_at=_parse_time(page.get("last_edited_time")),
            deleted=bool(page.get("in_trash") or page.get("archived")),
            link=read_value(props.get(self.link_field)),
        )

    def filter_members(self, query_filter: Mapping[str, Any]) -> frozenset[str] | None:
        """The ids of the pages matching ``query_filter`` (a sync rule's membership read), with only
        the title property in each answer (``filter_properties``); ``None`` when Notion stopped at its
        result cap (the membership is then unknown, and nobody is taken as having left the rule)."""
        schema = self._schema()
        title = next((str(p.get("id")) for p in schema.values() if p.get("type") == "title"), None)
        params = {"filter_properties": [title]} if title else None
        listing = self._query({"filter": dict(query_filter)}, params=params)
        if listing.capped:
            return None
        return frozenset(ids.notion_id(str(p["id"])) or str(p["id"]) for p in listing.pages)

    def check_filter(self, query_filter: Mapping[str, Any]) -> None:
        """Let Notion validate ``query_filter``: one query of one page (a refusal is an ``ApiError``)."""
        self.transport.request(
            "POST",
            path("/v1/data_sources/{}/query", self.data_source_id),
            json={"filter": dict(query_filter), "page_size": 1},
            idempotent=True,
        )

    def _query(
        self,
        body: dict[str, Any],
        params: Mapping[str, Any] | None = None,
        *,
        start: str | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> _Listing:
        """Every page the query returns, whether Notion stopped at its result cap, and the
        server's time of the first answer. From ``start`` (a ``next_cursor``) if given; when
        ``stop()`` says so before a request (never the first), the pages so far and ``rest``."""
        pages: list[dict[str, Any]] = []
        as_of: datetime | None = None
        first = True
        while True:
            if not first and stop is not None and stop():
                return _Listing(pages, False, as_of, rest=start)
            request = {**body, "page_size": self.page_size}
            if start:
                request["start_cursor"] = start
            answer = self.transport.request(
                "POST",
                path("/v1/data_sources/{}/query", self.data_source_id),
                json=request,
                params=params,
                idempotent=True,
            )
            if first:
                as_of = self.transport.server_time
                first = False
            pages.extend(r for r in answer.get("results", []) if r.get("object") == "page")
            if (answer.get("request_status") or {}).get("type") == "incomplete":
                return _Listing(pages, True, as_of)
            start = answer.get("next_cursor")
            if not answer.get("has_more") or not start:
                return _Listing(pages, False, as_of)

    def fetch_changed(self, cursor: str | None) -> FetchResult:
        """Pages edited since ``cursor`` minus the overlap, oldest edit first.

        ``cursor`` is an ISO timestamp (the newest ``last_edited_time`` seen, moved up to the
        server's time of the query when the query read everything: ``_caught_up``); ``None`` lists
        everything (``complete`` unless Notion's 10,000-result cap was hit). When the cap is hit
        the records read so far come back with the cursor at the last timestamp seen, so the
        next cycle carries on. Trashed pages do not appear (Notion's queries exclude them): the
        engine's full sweep and direct ``get`` find them.
        """
        body: dict[str, Any] = {"sorts": [{"timestamp": "last_edited_time", "direction": "ascending"}]}
        since = _parse_time(cursor)
        if since is not None:
            body["filter"] = {
                "timestamp": "last_edited_time",
                "last_edited_time": {"on_or_after": _iso(since - self.overlap)},
            }
        pages, capped, as_of, _ = self._query(body)
        newest = cursor
        for page in pages:
            edited = page.get("last_edited_time")
            if edited and (newest is None or _sort_key(edited) > _sort_key(newest)):
                newest = edited
        if not capped:
            newest = _caught_up(newest, as_of)
        if capped:
            log.warning(
                "Notion query of %s stopped at the result cap after %d pages; continuing from %s next cycle",
                self.data_source_id,
                len(pages),
                newest,
            )
        return FetchResult(
            records=[self._record(p) for p in pages],
            cursor=newest,
            complete=cursor is None and not capped,
        )

    def fetch_part(self, cursor: str | None, resume: str | None, keep: float) -> FetchResult:
        """``fetch_changed``, in parts when it lists everything (``connectors.base.Resuming``).

        A listing of everything goes by ``created_time``, which edits do not change, so a part
        carries on from Notion's ``next_cursor`` where the last one stopped; past the result cap
        it goes on in windows, as ``fetch_all``. An incremental read is ``fetch_changed``: its
        cursor already carries it on. A token Notion refuses (400) starts the listing again.
        """
        state = _Resume.parse(resume)
        if resume is not None and state is None:
            log.warning("Notion listing of %s: unusable resume token; listing again", self.data_source_id)
        if cursor is not None and state is None:
            return self.fetch_changed(cursor)
        try:
            return self._listing_part(state, keep)
        except ApiError as exc:
            if state is None or exc.status != 400:
                raise
            log.warning("Notion refused to carry the listing of %s on (%s); listing again", self.data_source_id, exc)
            return self._listing_part(None, keep)

    def _listing_part(self, state: _Resume | None, keep: float) -> FetchResult:
        def stop() -> bool:
            return self.transport.deadline.remaining() < keep

        after, start, as_of = (state.after, state.start, state.as_of) if state else (None, None, None)
        pages: dict[str, dict[str, Any]] = {}  # by id: a new window repeats its first minute's pages
        while True:
            body: dict[str, Any] = {"sorts": BY_CREATION}
            if after is not None:
                body["filter"] = {"timestamp": "created_time", "created_time": {"on_or_after": after}}
            listing = self._query(body, start=start, stop=stop)
            as_of = as_of or listing.as_of or datetime.now(UTC)
            fresh = [p for p in listing.pages if p["id"] not in pages]
            pages.update((p["id"], p) for p in fresh)
            if listing.rest is not None:  # out of time: the next part goes on from here
                token = _Resume(as_of, after, listing.rest).token()
                return FetchResult([self._record(p) for p in pages.values()], None, False, resume=token)
            last = listing.pages[-1].get("created_time") if listing.pages else None
            if not listing.capped:
                break
            if not fresh or last is None or last == after:
                log.warning("Notion listing of %s cannot get past the result cap at %s", self.data_source_id, last)
                return FetchResult([self._record(p) for p in pages.values()], _iso(as_of), False)
            after, start = last, None  # past the cap: a new window from the last creation time read
            if stop():
                token = _Resume(as_of, after, None).token()
                return FetchResult([self._record(p) for p in pages.values()], None, False, resume=token)
        whole = state is None
        newest = max((p.get("last_edited_time") or "" for p in pages.values()), default="", key=_sort_key) or None
        cursor = _caught_up(newest, as_of) if whole else _iso(as_of)
        return FetchResult([self._record(p) for p in pages.values()], cursor, whole)

    def fetch_all(self) -> FetchResult:
        """Every live page, oldest first; windows by ``created_time`` past the result cap.

        The cursor is the newest ``last_edited_time`` seen or the server's time of the first
        answer, whichever is later (see ``_caught_up``).
        ``complete`` is false only if more than the cap share one creation minute.
        """
        seen: dict[str, dict[str, Any]] = {}
        lower: str | None = None
        complete = True
        started: datetime | None = None
        while True:
            body: dict[str, Any] = {"sorts": [{"timestamp": "created_time", "direction": "ascending"}]}
            if lower is not None:
                body["filter"] = {"timestamp": "created_time", "created_time": {"on_or_after": lower}}
            pages, capped, as_of, _ = self._query(body)
            started = started or as_of
            fresh = [p for p in pages if p["id"] not in seen]
            seen.update((p["id"], p) for p in fresh)
            if not capped:
                break
            last = pages[-1].get("created_time") if pages else None
            if not fresh or last is None or last == lower:
                log.warning("Notion listing of %s cannot get past the result cap at %s", self.data_source_id, last)
                complete = False
                break
            lower = last
        newest = max((p.get("last_edited_time") or "" for p in seen.values()), default="", key=_sort_key) or None
        if complete:
            newest = _caught_up(newest, started)
        return FetchResult([self._record(p) for p in seen.values()], newest, complete)

    def get(self, record_id: str) -> Record | None:
        """The page (``deleted`` when in the trash), or ``None`` when Notion says it is gone or
        when it belongs to another data source (logged: ``refused foreign link``).

        A malformed id is a ``RecordError`` and nothing is sent."""
        page = self._read_page(self._page_id(record_id))
        return self._record(page) if page is not None else None

    def find_by_link(self, link: str) -> Record | None:
        """The live page whose link property equals ``link`` (one filtered query).

        ``link`` is an id of the other system: anything but ``[A-Za-z0-9-]{1,64}`` is a ``RecordError``."""
        if not ids.safe_link(link):
            raise RecordError(
                ids.shown(link), f"not a link value leadsync writes ({self.link_field!r}): nothing was sent"
            )
        ptype = self._property(self.link_field)["type"]
        body = {"filter": {"property": self.link_field, ptype: {"equals": link}}}
        records = [self._record(p) for p in self._query(body).pages]
        return records[0] if records else None

    # -- writing ---------------------------------------------------------------------------

    def _properties(self, fields: Fields, record: str) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        for name, value in fields.items():
            prop = self._property(name)
            ptype = prop["type"]
            if ptype not in WRITABLE_TYPES:
                raise ConfigError([f"Notion property {name!r} is a {ptype} property and cannot be written"])
            options = self._options(name) if ptype == "status" else ()
            if ptype == "status" and value not in (None, "") and value not in options:
                options = self._options(name, refresh=True)
            try:
                properties[name] = write_value(ptype, value, options)
            except _BadValue as exc:
                raise RecordError(record, f"property {name!r}: {exc}") from None
        return properties

    def _about(self, record: str) -> AbstractContextManager[None]:
        return about_record(f"record {record}")

    def create(self, fields: Fields, link: str | None) -> Record:
        """A new page with these values and ``link`` in the link property."""
        label = f"(new, linked to {link})" if link else "(new)"
        properties = self._properties(fields, label)
        if link is not None:
            properties[self.link_field] = write_value(self._property(self.link_field)["type"], link)
        body = {"parent": {"type": "data_source_id", "data_source_id": self.data_source_id}, "properties": properties}
        with self._about(label):
            page = self.transport.request("POST", "/v1/pages", json=body)
        return self._record(page)

    def update(self, record_id: str, fields: Fields) -> Record:
        """Change only the given properties (a partial PATCH) of a page of this data source."""
        page_id = self._page_id(record_id)
        if not fields:
            with self._about(record_id):
                page = self.transport.request("GET", path("/v1/pages/{}", page_id))
            if not self._owns(page):
                self._refuse(page_id, page)
                raise RecordError(
                    record_id, f"Notion page {page_id} is not in data source {self.data_source_id} of this pair"
                )
            return self._record(page)
        properties = self._properties(fields, record_id)
        with self._about(record_id):
            page_id = self._writable(page_id)
            page = self.transport.request("PATCH", path("/v1/pages/{}", page_id), json={"properties": properties})
        return self._record(page)

    def set_link(self, record_id: str, link: str | None) -> None:
        """Write (or clear) the counterpart id in the link property of a page of this data source."""
        page_id = self._page_id(record_id)
        value = write_value(self._property(self.link_field)["type"], link)
        with self._about(record_id):
            page_id = self._writable(page_id)
            self.transport.request(
                "PATCH", path("/v1/pages/{}", page_id), json={"properties": {self.link_field: value}}
            )

    def archive(self, record_id: str) -> None:
        """Move the page to the trash (the API cannot delete permanently). A page already gone
        counts as archived; a page of another data source is a ``RecordError``."""
        page_id = self._page_id(record_id)
        with self._about(record_id):
            try:
                page_id = self._writable(page_id)
                self.transport.request("PATCH", path("/v1/pages/{}", page_id), json={"in_trash": True})
            except NotFound:
                log.info("Notion page %s to archive no longer exists", record_id)


def _sort_key(timestamp: str) -> datetime:
    return _parse_time(timestamp) or datetime.min.replace(tzinfo=UTC)
