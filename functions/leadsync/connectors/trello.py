"""Trello connector: the cards of one board.

Native field names:
- ``name``: the card title;
- ``list``: the NAME of the card's list (ids are mapped through the board's lists, cached per
  process and refreshed when an unknown id or name turns up);
- ``desc``: the user's free text of the description;
- ``desc:<Label>``: a managed line ``<Label>: <value>`` in the ``**leadsync**`` block at the end
  of the description (see :mod:`leadsync.connectors.trello_desc`; values are one line: line breaks
  are flattened to spaces). The link marker is the line ``<link_label>: <lead id>`` of that block.

Archived (closed) cards and cards moved to another board read as ``deleted``; a card that no
longer exists reads as ``None`` from ``get``. Credentials travel in the ``Authorization: OAuth``
header, never in the URL.

Cost: an incremental read with no changes is one request (the board's actions since the cursor).

Ids: every card id handed in must be a 24-hex Trello id (``normalize_id``) or it is a
``RecordError`` and nothing is sent. ``get`` reads a card of another board as ``deleted`` (it left
the pair); writes that read the card first (``set_link``, a description change) refuse a card of
another board (``RecordError``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from leadsync.connectors import trello_desc
from leadsync.connectors.base import Schema
from leadsync.connectors.deadline import Deadline
from leadsync.connectors.http import Transport, about_record, path
from leadsync.connectors.ratelimit import Limit, shared_limiter
from leadsync.core import ids
from leadsync.core.models import FetchResult, Fields, Record, Value
from leadsync.core.rules import label_tag
from leadsync.errors import ConfigError, NotFound, RecordError

log = logging.getLogger("leadsync.connectors.trello")

DEFAULT_BASE_URL = "https://api.trello.com/1"
CARD_FIELDS = "id,name,desc,idList,idBoard,closed,dateLastActivity"
LABEL_FIELDS = ",labels"  # read with the cards when a sync rule tests a label
LABEL_ACTIONS = ",addLabelToCard,removeLabelFromCard"
CARD_ACTIONS = "createCard,updateCard,deleteCard,copyCard,moveCardToBoard,moveCardFromBoard,convertToCardFromCheckItem"
ACTIONS_PAGE = 1000  # Trello's maximum `limit` for actions
GONE_ACTIONS = frozenset({"deleteCard", "moveCardFromBoard"})
DESC_PREFIX = "desc:"

_cache_lock = threading.Lock()
_lists_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}


def trello_transport(
    api_key: str,
    token: str,
    *,
    base_url: str = DEFAULT_BASE_URL,
    deadline: Deadline | None = None,
    limit: Limit | None = None,
    **options: Any,
) -> Transport:
    """A transport for one Trello key+token, on that token's shared rate limiter."""
    return Transport(
        "trello",
        base_url,
        auth_headers={"Authorization": f'OAuth oauth_consumer_key="{api_key}", oauth_token="{token}"'},
        rate_limiter=shared_limiter("trello", token, limit=limit),
        deadline=deadline,
        **options,
    )


def clear_caches() -> None:
    """Forget the cached board lists (tests)."""
    with _cache_lock:
        _lists_cache.clear()


NAME_LIMIT = 16384  # Trello's maximum card name length
TEXT_LIMIT = 12000  # the user's part of the description; the rest of Trello's 16384 is for the block
LINE_LIMIT = 1000  # one managed description line


def _cut(first: Callable[[Value], Value] | None, limit: int) -> Callable[[Value], Value]:
    """Apply ``first`` (if any), then cut to ``limit`` characters (deterministically)."""

    def normalize(value: Value) -> Value:
        value = first(value) if first is not None else value
        return value[:limit] if value is not None and len(value) > limit else value

    return normalize


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _label_tags(card: Mapping[str, Any]) -> frozenset[str]:
    """A card's labels as rule tags: each by id and by name (``leadsync.core.rules.label_tag``)."""
    tags: set[str] = set()
    for label in card.get("labels") or []:
        if isinstance(label, Mapping):
            if label.get("id"):
                tags.add(label_tag(str(label["id"])))
            if label.get("name"):
                tags.add(f"label-name:{str(label['name']).strip().casefold()}")
    for label_id in card.get("idLabels") or []:
        tags.add(label_tag(str(label_id)))
    return frozenset(tags)


def check_fields(fields: Sequence[str], link_label: str) -> list[str]:
    """Problems with these native field names (empty when they are all valid)."""
    problems = []
    try:
        trello_desc.check_label(link_label)
    except ValueError as exc:
        problems.append(f"Trello link_label: {exc}")
    for name in fields:
        if name in ("name", "desc", "list"):
            continue
        if not name.startswith(DESC_PREFIX):
            problems.append(f"Trello field {name!r}: use name, list, desc or desc:<Label>")
            continue
        label = name[len(DESC_PREFIX) :]
        try:
            trello_desc.check_label(label)
        except ValueError as exc:
            problems.append(f"Trello field {name!r}: {exc}")
        if label == link_label:
            problems.append(f"Trello field {name!r} uses the link label {link_label!r}")
    return problems


class TrelloConnector:
    """Reads and writes the cards of one Trello board.

    ``fields``: native field names to read (every record carries exactly these keys).
    ``link_label``: the label of the link-marker line in the description block.
    ``full_fetch_threshold``: above this many changed cards an incremental read lists the whole
    board (one request) instead of fetching each card. ``read_labels``: read each card's labels
    with it (no extra request) into ``Record.tags``, and take label changes as card changes.
    ``label_new_cards``: a label (name or id) every card created gets, so a card made for a lead
    is inside the pair's label rule.
    """

    system = "trello"

    def __init__(
        self,
        transport: Transport,
        *,
        board_id: str,
        fields: Sequence[str],
        link_label: str = "leadsync-id",
        full_fetch_threshold: int = 25,
        read_labels: bool = False,
    ) -> None:
        problems = check_fields(fields, link_label)
        if problems:
            raise ConfigError(problems)
        self.transport = transport
        self.board_id = board_id
        self.fields = list(fields)
        self.link_label = link_label
        self.full_fetch_threshold = full_fetch_threshold
        self.read_labels = read_labels
        self.label_new_cards: str | None = None  # a label rule's label, put on the cards created
        self._labels: list[dict[str, str]] | None = None

    @property
    def _card_fields(self) -> str:
        return CARD_FIELDS + (LABEL_FIELDS if self.read_labels else "")

    @property
    def _card_actions(self) -> str:
        return CARD_ACTIONS + (LABEL_ACTIONS if self.read_labels else "")

    # -- lists -----------------------------------------------------------------------------

    def _lists(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        key = (self.transport.base_url, self.board_id)
        with _cache_lock:
            cached = None if refresh else _lists_cache.get(key)
        if cached is None:
            answer = self.transport.request(
                "GET", path("/boards/{}/lists", self.board_id), params={"filter": "all", "fields": "id,name,closed,pos"}
            )
            cached = list(answer or [])
            with _cache_lock:
                _lists_cache[key] = cached
        return cached

    def _list_name(self, list_id: str | None) -> str | None:
        if not list_id:
            return None
        for refresh in (False, True):
            for lst in self._lists(refresh=refresh):
                if lst["id"] == list_id:
                    return str(lst["name"])
        return None

    def _list_id(self, name: str | None, record: str) -> str:
        if not name:
            raise RecordError(record, "a Trello card needs a list: the 'list' field is empty")
        for refresh in (False, True):
            lists = self._lists(refresh=refresh)
            for lst in lists:
                if lst["name"] == name and not lst.get("closed"):
                    return str(lst["id"])
        names = ", ".join(repr(lst["name"]) for lst in lists if not lst.get("closed"))
        raise RecordError(record, f"Trello board {self.board_id} has no open list {name!r}; its lists: {names}")

    def normalizer(self, native_field: str) -> Callable[[Value], Value] | None:
        """How Trello stores a value: description lines are flattened; text is cut at Trello's limits.

        The engine compares both sides through this, so a value Trello had to reshape is not
        mistaken for an edit and never ping-pongs.
        """
        if native_field.startswith(DESC_PREFIX):
            return _cut(trello_desc.flatten, LINE_LIMIT)
        if native_field == "name":
            return _cut(None, NAME_LIMIT)
        if native_field == "desc":
            return _cut(None, TEXT_LIMIT)
        return None

    def describe(self) -> Schema:
        """The native fields and the board's open list names (the options of ``list``)."""
        lists = self._lists(refresh=True)
        fields = {"name": "text", "desc": "text", "list": "list"}
        fields.update({name: "text" for name in self.fields if name.startswith(DESC_PREFIX)})
        return Schema(fields=fields, options={"list": [str(x["name"]) for x in lists if not x.get("closed")]})

    # -- reading ---------------------------------------------------------------------------

    def _record(self, card: Mapping[str, Any]) -> Record:
        parsed = trello_desc.parse(card.get("desc"), self.link_label)
        fields: Fields = {}
        for name in self.fields:
            if name == "name":
                fields[name] = card.get("name") or None
            elif name == "list":
                fields[name] = self._list_name(card.get("idList"))
            elif name == "desc":
                fields[name] = parsed.text or None
            else:
                fields[name] = parsed.values.get(name[len(DESC_PREFIX) :])
        moved_away = bool(card.get("idBoard")) and card.get("idBoard") != self.board_id
        return Record(
            id=str(card["id"]),
            fields=fields,
            updated_at=_parse_time(card.get("dateLastActivity")),
            deleted=bool(card.get("closed")) or moved_away,
            link=parsed.link,
            tags=_label_tags(card) if self.read_labels else None,
        )

    def _cards(self, which: str) -> list[dict[str, Any]]:
        return list(
            self.transport.request(
                "GET", path("/boards/{}/cards/{}", self.board_id, which), params={"fields": self._card_fields}
            )
            or []
        )

    def board_labels(self) -> list[dict[str, str]]:
        """The board's labels (``id``, ``name``, ``color``): what a label rule may name."""
        labels = self.transport.request(
            "GET", path("/boards/{}/labels", self.board_id), params={"fields": "id,name,color", "limit": 1000}
        )
        return [{k: str(label.get(k) or "") for k in ("id", "name", "color")} for label in labels or []]

    # -- ids -------------------------------------------------------------------------------

    def normalize_id(self, raw: str) -> str | None:
        """A Trello card id (24 hex, any case) in lowercase; ``None`` when ``raw`` is not one."""
        return ids.trello_id(raw)

    def _card_id(self, record_id: str) -> str:
        """The canonical card id, or a ``RecordError`` before anything is sent."""
        card_id = ids.trello_id(record_id)
        if card_id is None:
            raise RecordError(ids.shown(record_id), "not a Trello card id (24 hex characters): nothing was sent")
        return card_id

    def _card(self, card_id: str) -> dict[str, Any]:
        card_id = self._card_id(card_id)
        return dict(self.transport.request("GET", path("/cards/{}", card_id), params={"fields": self._card_fields}))

    def _own_card(self, card_id: str) -> dict[str, Any]:
        """The card, read to be written: one on another board is a ``RecordError``."""
        card = self._card(card_id)
        if card.get("idBoard") and card.get("idBoard") != self.board_id:
            raise RecordError(
                card_id,
                f"Trello card {card_id} is on board {card.get('idBoard')}, not {self.board_id} of this pair "
                "(refused foreign link): nothing was written",
            )
        return card

    def _newest_action_id(self) -> str | None:
        actions = self.transport.request(
            "GET",
            path("/boards/{}/actions", self.board_id),
            params={"limit": 1, "fields": "id", "memberCreator": "false"},
        )
        return str(actions[0]["id"]) if actions else None

    def _changed_cards(self, cursor: str) -> tuple[dict[str, str], str]:
        """Card id -> type of its newest action since ``cursor``, and the newest action id."""
        changed: dict[str, str] = {}
        newest = cursor
        before: str | None = None
        while True:
            params: dict[str, Any] = {
                "since": cursor,
                "limit": ACTIONS_PAGE,
                "filter": self._card_actions,
                "fields": "id,type,data",
                "memberCreator": "false",
            }
            if before is not None:
                params["before"] = before
            actions = self.transport.request("GET", path("/boards/{}/actions", self.board_id), params=params) or []
            if before is None and actions:
                newest = str(actions[0]["id"])
            for action in actions:  # newest first: the first action seen per card is its newest
                card = (action.get("data") or {}).get("card") or {}
                if card.get("id"):
                    changed.setdefault(str(card["id"]), str(action.get("type")))
            if len(actions) < ACTIONS_PAGE:
                return changed, newest
            before = str(actions[-1]["id"])

    def fetch_changed(self, cursor: str | None) -> FetchResult:
        """Cards changed since ``cursor`` (the newest board action id seen).

        ``None``: the newest action id is read first, then every open card (``complete``), so
        nothing done during the listing is missed next time. Otherwise the board's card
        actions since the cursor name the changed cards: none -> no records, one request;
        up to ``full_fetch_threshold`` -> each card is read (deleted or gone -> a ``deleted``
        record with no fields); more -> one listing of all the board's cards.
        """
        if cursor is None:
            newest = self._newest_action_id()
            return FetchResult([self._record(c) for c in self._cards("open")], newest, True)
        changed, newest = self._changed_cards(cursor)
        if not changed:
            return FetchResult([], newest, False)
        records: list[Record] = []
        if len(changed) <= self.full_fetch_threshold:
            for card_id, action_type in changed.items():
                record = None if action_type == "deleteCard" else self.get(card_id)
                records.append(record or Record(card_id, {}, deleted=True))
        else:
            by_id = {str(c["id"]): c for c in self._cards("all")}
            for card_id in changed:
                card = by_id.get(card_id)
                records.append(self._record(card) if card else Record(card_id, {}, deleted=True))
        return FetchResult(records, newest, False)

    def fetch_all(self) -> FetchResult:
        """Every open card (``complete``). No cursor: use ``fetch_changed(None)`` to start one."""
        return FetchResult([self._record(c) for c in self._cards("open")], None, True)

    def get(self, record_id: str) -> Record | None:
        """The card (``deleted`` when archived), ``None`` when gone or not on this board: a card of
        another board is not this pair's (its values are never read), whether it was moved there or
        a marker names it.

        A malformed id is a ``RecordError`` and nothing is sent."""
        self._card_id(record_id)
        try:
            card = self._card(record_id)
        except NotFound:
            return None
        if card.get("idBoard") and card.get("idBoard") != self.board_id:
            log.warning("refused foreign link: card %s is on another board", record_id)
            return None
        return self._record(card)

    def find_by_link(self, link: str) -> Record | None:
        """The card whose marker is ``link``, preferring an open one.

        Cost: one request, but it lists every card of the board, archived ones included (the
        marker is inside the description, which Trello cannot search exactly). ``link`` outside
        ``[A-Za-z0-9-]{1,64}`` is a ``RecordError``.
        """
        if not ids.safe_link(link):
            raise RecordError(
                ids.shown(link), f"not a link value leadsync writes ({self.link_label!r}): nothing was sent"
            )
        matches = [
            self._record(c)
            for c in self._cards("all")
            if trello_desc.parse(c.get("desc"), self.link_label).link == link
        ]
        matches.sort(key=lambda r: r.deleted)
        return matches[0] if matches else None

    # -- writing ---------------------------------------------------------------------------

    def _desc_changes(self, fields: Fields) -> dict[str, str | None]:
        return {k[len(DESC_PREFIX) :]: v for k, v in fields.items() if k.startswith(DESC_PREFIX)}

    def _check_writable(self, fields: Fields, record: str) -> None:
        problems = check_fields(list(fields), self.link_label)
        if problems:
            raise RecordError(record, "; ".join(problems))

    def _about(self, record: str) -> AbstractContextManager[None]:
        return about_record(f"card {record}")

    def create(self, fields: Fields, link: str | None) -> Record:
        """A card in the list named by ``fields["list"]`` (required), carrying the link marker."""
        label = f"(new, linked to {link})" if link else "(new)"
        self._check_writable(fields, label)
        body = {
            "idList": self._list_id(fields.get("list"), label),
            "name": fields.get("name") or "",
            "desc": trello_desc.render(fields.get("desc"), self._desc_changes(fields), link, self.link_label),
        }
        if self.label_new_cards:
            body["idLabels"] = self._label_id(self.label_new_cards, label)
        with self._about(label):
            card = self.transport.request("POST", "/cards", json=body)
        return self._record(card)

    def _label_id(self, label: str, record: str) -> str:
        """The id of the board label named ``label`` (without case) or with that id (read once)."""
        if self._labels is None:
            self._labels = self.board_labels()
        wanted = label_tag(label)
        for item in self._labels:
            if wanted in (label_tag(item["id"]), f"label-name:{item['name'].strip().casefold()}"):
                return item["id"]
        names = ", ".join(repr(i["name"]) for i in self._labels if i["name"]) or "none"
        raise RecordError(record, f"rules.card.label {label!r} is not a label of the board (labels: {names})")

    def update(self, record_id: str, fields: Fields) -> Record:
        """Change only the given fields: one PUT of the attributes that differ.

        The card is read first only when a description field changes (the description is
        re-rendered from its current text, so the user's free text and other lines are kept).
        """
        self._check_writable(fields, record_id)
        card_id = self._card_id(record_id)
        current: dict[str, Any] | None = None
        body: dict[str, Any] = {}
        desc_values = self._desc_changes(fields)
        with self._about(record_id):
            if "desc" in fields or desc_values:
                current = self._own_card(card_id)
                desc = trello_desc.apply(
                    current.get("desc"),
                    self.link_label,
                    text=fields.get("desc"),
                    set_text="desc" in fields,
                    values=desc_values,
                )
                if desc != current.get("desc"):
                    body["desc"] = desc
            if "name" in fields:
                name = fields["name"] or ""
                if current is None or name != current.get("name"):
                    body["name"] = name
            if "list" in fields:
                list_id = self._list_id(fields["list"], record_id)
                if current is None or list_id != current.get("idList"):
                    body["idList"] = list_id
            if body:
                return self._record(self.transport.request("PUT", path("/cards/{}", card_id), json=body))
            return self._record(current if current is not None else self._card(card_id))

    def set_link(self, record_id: str, link: str | None) -> None:
        """Rewrite (or remove) the link line of the description block; the rest is kept."""
        card_id = self._card_id(record_id)
        with self._about(record_id):
            current = self._own_card(card_id)
            desc = trello_desc.apply(current.get("desc"), self.link_label, link=link, set_link=True)
            if desc != current.get("desc"):
                self.transport.request("PUT", path("/cards/{}", card_id), json={"desc": desc})

    def archive(self, record_id: str) -> None:
        """Close (archive) the card. A card already gone counts as archived."""
        card_id = self._card_id(record_id)
        with self._about(record_id):
            try:
                self.transport.request("PUT", path("/cards/{}", card_id), json={"closed": True})
            except NotFound:
                log.info("Trello card %s to archive no longer exists", record_id)
