"""Trello REST API emulator (base path /1): boards, lists, cards and the board actions feed.

Auth: `key`+`token` query/body params or `Authorization: OAuth oauth_consumer_key="..", oauth_token=".."`
(the full OAuth1-signed header py-trello sends works: other oauth_* params are ignored). Params are read
from the query string, a JSON body or a form body. Errors are plain text like the real service; 429s are
JSON and every authenticated response carries the x-rate-limit-* headers.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sandbox.common import Emulator, HttpError, Request, Response, Rule, json_response, text_response
from sandbox.trello_webhooks import TrelloWebhooks

MAX_TEXT = 16384
POS_STEP = 65536.0
NOT_FOUND = "The requested resource was not found."
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_CARD_FIELDS = frozenset(
    {"name", "desc", "closed", "idList", "idBoard", "pos", "due", "start", "dueComplete", "idLabels", "idMembers"}
)


def iso_ms(epoch: float) -> str:
    """Trello's timestamp format: 2024-05-01T10:03:07.123Z."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class _Board:
    id: str
    name: str
    short_link: str
    created: float
    closed: bool = False
    next_id_short: int = 1


@dataclass
class _Label:
    id: str
    board_id: str
    name: str
    color: str | None


@dataclass
class _List:
    id: str
    name: str
    board_id: str
    pos: float
    closed: bool = False


@dataclass
class _Card:
    id: str
    name: str
    desc: str
    board_id: str
    list_id: str
    pos: float
    id_short: int
    short_link: str
    last_activity: float
    closed: bool = False
    due: str | None = None
    start: str | None = None
    due_complete: bool = False
    label_ids: list[str] = field(default_factory=list)


@dataclass
class _Action:
    id: str
    type: str
    date: float
    board_id: str
    member_id: str
    data: dict[str, Any]
    translation_key: str


class TrelloEmulator(TrelloWebhooks, Emulator):
    """In-memory Trello behind the real REST shapes (cards, lists, boards, actions)."""

    name = "trello"
    base_path = "/1"
    env_var = "LEADSYNC_TRELLO_BASE_URL"
    rate_limit_defaults = {"token_max": 100, "key_max": 300, "interval_s": 10.0, "key_lockout_429s": 200}

    literal_path_values = ("card_filter", "attribute")
    multi_field_actions = "per_field"
    """How a PUT that changes several fields shows in the actions feed: "per_field" (one updateCard
    per field, each `data.old` holding one key) or "combined" (one updateCard whose `data.old`
    holds every changed field). Trello does not document which; see docs/sandbox.md."""
    credential_params = frozenset({"key", "token"})

    api_member = {"id": "5f0c1a2b3c4d5e6f7a8b9c0d", "username": "leadsyncbot", "fullName": "Leadsync Bot"}
    user_member = {"id": "5e1d2c3b4a5f6e7d8c9b0a1f", "username": "adauser", "fullName": "Ada User"}

    def routes(self) -> list[Rule]:
        rules = [
            Rule("/1/members/me", endpoint="get_me", methods=["GET"]),
            Rule("/1/members/me/boards", endpoint="get_my_boards", methods=["GET"]),
            Rule("/1/boards/<board_id>", endpoint="get_board", methods=["GET"]),
            Rule("/1/boards/<board_id>/lists", endpoint="get_board_lists", methods=["GET"]),
            Rule("/1/boards/<board_id>/cards", endpoint="get_board_cards", methods=["GET"]),
            Rule("/1/boards/<board_id>/cards/<card_filter>", endpoint="get_board_cards", methods=["GET"]),
            Rule("/1/boards/<board_id>/labels", endpoint="get_board_labels", methods=["GET"]),
            Rule("/1/boards/<board_id>/customFields", endpoint="get_board_custom_fields", methods=["GET"]),
            Rule("/1/boards/<board_id>/actions", endpoint="get_board_actions", methods=["GET"]),
            Rule("/1/labels", endpoint="create_label", methods=["POST"]),
            Rule("/1/lists", endpoint="create_list", methods=["POST"]),
            Rule("/1/lists/<list_id>", endpoint="get_list", methods=["GET"]),
            Rule("/1/lists/<list_id>/cards", endpoint="get_list_cards", methods=["GET"]),
            Rule("/1/cards", endpoint="create_card", methods=["POST"]),
        ]
        for prefix in ("/1/cards", "/1/card"):
            rules += [
                Rule(f"{prefix}/<card_id>", endpoint="get_card", methods=["GET"]),
                Rule(f"{prefix}/<card_id>", endpoint="update_card", methods=["PUT"]),
                Rule(f"{prefix}/<card_id>", endpoint="delete_card", methods=["DELETE"]),
                Rule(f"{prefix}/<card_id>/actions", endpoint="get_card_actions", methods=["GET"]),
                Rule(f"{prefix}/<card_id>/idLabels", endpoint="add_card_label", methods=["POST"]),
                Rule(f"{prefix}/<card_id>/idLabels/<label_id>", endpoint="remove_card_label", methods=["DELETE"]),
                Rule(f"{prefix}/<card_id>/<attribute>", endpoint="update_card_attribute", methods=["PUT"]),
            ]
        return rules + self.webhook_routes()

    def reset_data(self) -> None:
        self.boards: dict[str, _Board] = {}
        self.labels: dict[str, _Label] = {}
        self.lists: dict[str, _List] = {}
        self._cards: dict[str, _Card] = {}
        self._actions: list[_Action] = []
        self._random = random.Random(11)
        self._id_counter = itertools.count(self._random.randrange(1 << 20))
        self._id_machine = f"{self._random.getrandbits(40):010x}"
        self._last_id_time = 0
        self._keys: set[str] | None = getattr(self, "_keys", None)
        self.reset_webhooks()

    def reset(self) -> None:
        super().reset()
        self._keys = None

    def require_key(self, *keys: str) -> None:
        """Accept only these API keys from now on (none given: any non-empty key)."""
        self._keys = set(keys) if keys else None

    def notable_params(self, request: Request, path: str, values: dict[str, Any]) -> set[str]:
        """Parameter names from the query string and the body; a card PUT that changes more than
        one field also carries "(several fields)"."""
        names = {k for k in self.params(request) if k not in self.credential_params}
        if request.method == "PUT" and path.endswith("/cards/{card_id}") and len(names & _CARD_FIELDS) > 1:
            names.add("(several fields)")
        return names

    def stats_data(self) -> dict[str, Any]:
        return {
            "boards": len(self.boards),
            "lists": len(self.lists),
            "cards": len(self._cards),
            "closed_cards": sum(1 for c in self._cards.values() if c.closed),
            "actions": len(self._actions),
        }

    # ------------------------------------------------------------------ errors, auth, limits
    def error_response(self, status: int, request: Request) -> Response:
        if status == 404:
            return text_response("Cannot " + request.method + " " + request.path, 404)
        if status == 405:
            return text_response("Cannot " + request.method + " " + request.path, 404)
        if status == 503:
            return text_response("Service Unavailable", 503)
        return text_response("Internal Server Error", 500)

    def rate_limited_response(self, request: Request, retry_after: float, which: str = "TOKEN") -> Response:
        return json_response({"error": f"API_{which}_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}, 429)

    def params(self, request: Request) -> dict[str, Any]:
        """Query string, then form or JSON body (body wins), as Trello accepts both."""
        cached = request.environ.get("sandbox.params")
        if cached is not None:
            return cached
        merged: dict[str, Any] = dict(request.args.items())
        if request.mimetype == "application/x-www-form-urlencoded" or request.mimetype == "multipart/form-data":
            merged.update(request.form.items())
        else:
            raw = request.get_data(cache=True)
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError as exc:
                    raise HttpError(text_response("invalid json", 400)) from exc
                if isinstance(body, dict):
                    merged.update(body)
        request.environ["sandbox.params"] = merged
        return merged

    def authenticate(self, request: Request) -> Response | None:
        params = self.params(request)
        key, token = params.get("key"), params.get("token")
        header = request.headers.get("Authorization", "")
        if header.startswith("OAuth "):
            oauth = {k: unquote(v) for k, v in _OAUTH_PARAM.findall(header)}
            key = oauth.get("oauth_consumer_key", key)
            token = oauth.get("oauth_token", token)
        if not key or (self._keys is not None and key not in self._keys):
            return text_response("invalid key", 401)
        if not isinstance(token, str) or not self.token_ok(token):
            return text_response("invalid token", 401)
        interval = float(self.limiter.params["interval_s"])
        request.environ["sandbox.limits"] = (
            self.limiter.window(f"token:{token}", int(self.limiter.params["token_max"]), interval),
            self.limiter.window(f"key:{key}", int(self.limiter.params["key_max"]), interval),
            str(key),
        )
        return None

    def check_rate_limit(self, request: Request) -> Response | None:
        token_decision, key_decision, key = request.environ["sandbox.limits"]
        if self.limiter.penalty(f"lockout:{key}") > 0:
            return self.rate_limited_response(request, 0, "KEY")
        if token_decision.allowed and key_decision.allowed:
            return None
        interval = float(self.limiter.params["interval_s"])
        rejected = self.limiter.window(f"rejected:{key}", 1 << 30, interval)
        if rejected.limit - rejected.remaining > int(self.limiter.params["key_lockout_429s"]):
            window = self.limiter.peek_window(f"key:{key}", int(self.limiter.params["key_max"]), interval)
            self.limiter.penalize(f"lockout:{key}", window.retry_after * self.limiter.time_scale)
        return self.rate_limited_response(request, 0, "TOKEN" if not token_decision.allowed else "KEY")

    def decorate(self, request: Request, response: Response) -> None:
        limits = request.environ.get("sandbox.limits")
        if limits is not None:
            token_decision, key_decision, _ = limits
            for name, decision in (("token", token_decision), ("key", key_decision)):
                response.headers[f"x-rate-limit-api-{name}-interval-ms"] = str(decision.interval_ms)
                response.headers[f"x-rate-limit-api-{name}-max"] = str(decision.limit)
                response.headers[f"x-rate-limit-api-{name}-remaining"] = str(decision.remaining)
        if self.limiter.enabled and self.limiter.time_scale != 1.0:
            response.headers["x-sandbox-time-scale"] = str(self.limiter.time_scale)

    # ------------------------------------------------------------------ ids and lookups
    def new_id(self) -> str:
        """A 24-hex ObjectId: creation seconds, machine part, counter; strictly increasing."""
        seconds = max(int(self.clock.time()), self._last_id_time)
        self._last_id_time = seconds
        return f"{seconds:08x}{self._id_machine}{next(self._id_counter) & 0xFFFFFF:06x}"

    def _short_link(self) -> str:
        return "".join(self._random.choice(string.ascii_letters + string.digits) for _ in range(8))

    def _find(self, table: dict[str, Any], raw: str) -> Any:
        if raw in table:
            return table[raw]
        for item in table.values():
            if getattr(item, "short_link", None) == raw:
                return item
        if _OBJECT_ID.match(raw):
            raise HttpError(text_response(NOT_FOUND, 404))
        raise HttpError(text_response("invalid id", 400))

    def _board(self, raw: str) -> _Board:
        return self._find(self.boards, raw)

    def _list(self, raw: str) -> _List:
        return self._find(self.lists, raw)

    def _card(self, raw: str) -> _Card:
        return self._find(self._cards, raw)

    # ------------------------------------------------------------------ JSON shapes
    def board_json(self, board: _Board) -> dict[str, Any]:
        """GET /1/boards/{id}."""
        return {
            "id": board.id,
            "name": board.name,
            "desc": "",
            "descData": None,
            "closed": board.closed,
            "idOrganization": None,
            "idEnterprise": None,
            "pinned": False,
            "url": f"https://trello.com/b/{board.short_link}/{_slug(board.name)}",
            "shortUrl": f"https://trello.com/b/{board.short_link}",
            "shortLink": board.short_link,
            "prefs": {"permissionLevel": "private", "background": "blue", "cardAging": "regular"},
            "labelNames": {c: "" for c in ("green", "yellow", "orange", "red", "purple", "blue")},
            "dateLastActivity": iso_ms(board.created),
        }

    def list_json(self, lst: _List) -> dict[str, Any]:
        """A list object."""
        return {
            "id": lst.id,
            "name": lst.name,
            "closed": lst.closed,
            "pos": _num(lst.pos),
            "idBoard": lst.board_id,
            "subscribed": False,
            "softLimit": None,
            "limits": {},
        }

    def card_json(self, card: _Card, fields: str | None = None, custom_fields: bool = False) -> dict[str, Any]:
        """The card object, trimmed to `fields` (comma list or "all"); id is always present."""
        url_tail = f"{card.id_short}-{_slug(card.name)}".rstrip("-")
        full = {
            "id": card.id,
            "badges": {
                "attachmentsByType": {"trello": {"board": 0, "card": 0}},
                "location": False,
                "votes": 0,
                "viewingMemberVoted": False,
                "subscribed": False,
                "fogbugz": "",
                "checkItems": 0,
                "checkItemsChecked": 0,
                "checkItemsEarliestDue": None,
                "comments": 0,
                "attachments": 0,
                "description": bool(card.desc),
                "due": card.due,
                "dueComplete": card.due_complete,
                "start": card.start,
            },
            "checkItemStates": [],
            "closed": card.closed,
            "dueComplete": card.due_complete,
            "dateLastActivity": iso_ms(card.last_activity),
            "desc": card.desc,
            "descData": {"emoji": {}},
            "due": card.due,
            "dueReminder": None,
            "email": None,
            "idBoard": card.board_id,
            "idChecklists": [],
            "idList": card.list_id,
            "idMembers": [],
            "idMembersVoted": [],
            "idShort": card.id_short,
            "idAttachmentCover": None,
            "labels": [self.label_json(self.labels[i]) for i in card.label_ids if i in self.labels],
            "idLabels": list(card.label_ids),
            "manualCoverAttachment": False,
            "name": card.name,
            "pos": _num(card.pos),
            "shortLink": card.short_link,
            "shortUrl": f"https://trello.com/c/{card.short_link}",
            "start": card.start,
            "subscribed": False,
            "url": f"https://trello.com/c/{card.short_link}/{url_tail}",
            "cover": {"idAttachment": None, "color": None, "idUploadedBackground": None, "size": "normal"},
            "isTemplate": False,
            "cardRole": None,
        }
        if fields and fields != "all":
            wanted = {f.strip() for f in fields.split(",")} | {"id"}
            full = {k: v for k, v in full.items() if k in wanted}
        if custom_fields:
            full["customFieldItems"] = []
        return full

    def action_json(self, action: _Action, fields: str | None = None, member_creator: bool = True) -> dict[str, Any]:
        """An action as GET /1/boards/{id}/actions returns it."""
        full: dict[str, Any] = {
            "id": action.id,
            "idMemberCreator": action.member_id,
            "data": json.loads(json.dumps(action.data)),
            "appCreator": None,
            "type": action.type,
            "date": iso_ms(action.date),
            "limits": {},
            "display": {"translationKey": action.translation_key, "entities": {}},
        }
        if fields and fields != "all":
            wanted = {f.strip() for f in fields.split(",")} | {"id"}
            full = {k: v for k, v in full.items() if k in wanted}
        if member_creator:
            member = self.api_member if action.member_id == self.api_member["id"] else self.user_member
            full["memberCreator"] = {
                **member,
                "activityBlocked": False,
                "avatarHash": None,
                "avatarUrl": None,
                "initials": "".join(w[0] for w in member["fullName"].split()),
                "nonPublic": {},
                "nonPublicAvailable": True,
            }
        return full

    # ------------------------------------------------------------------ endpoints: members, boards, lists
    def get_me(self, request: Request) -> Response:
        return json_response({**self.api_member, "idBoards": list(self.boards)})

    def get_my_boards(self, request: Request) -> Response:
        state = self.params(request).get("filter", "all")
        boards = [b for b in self.boards.values() if state == "all" or b.closed == (state == "closed")]
        return json_response([self.board_json(b) for b in boards])

    def get_board(self, request: Request, board_id: str) -> Response:
        return json_response(self.board_json(self._board(board_id)))

    def get_board_lists(self, request: Request, board_id: str) -> Response:
        board = self._board(board_id)
        state = self.params(request).get("filter", "open")
        if state not in ("open", "closed", "all", "none"):
            raise HttpError(text_response("invalid value for filter", 400))
        lists = [
            lst
            for lst in sorted(self.lists.values(), key=lambda x: x.pos)
            if lst.board_id == board.id and state != "none" and (state == "all" or lst.closed == (state == "closed"))
        ]
        fields = self.params(request).get("fields")
        answers = [self.list_json(lst) for lst in lists]
        if fields and fields != "all":  # Trello answers only the named fields (and always the id)
            wanted = {"id", *str(fields).split(",")}
            answers = [{k: v for k, v in item.items() if k in wanted} for item in answers]
        return json_response(answers)

    def get_board_cards(self, request: Request, board_id: str, card_filter: str | None = None) -> Response:
        board = self._board(board_id)
        params = self.params(request)
        card_filter = card_filter or params.get("filter", "open")
        if card_filter not in ("open", "closed", "all", "visible", "none"):
            raise HttpError(text_response("invalid value for filter", 400))
        cards = [c for c in self._ordered_cards() if c.board_id == board.id and _card_matches(c, card_filter)]
        return self._cards_response(cards, params)

    def label_json(self, label: _Label, fields: str | None = None) -> dict[str, Any]:
        """A label object ``{id, idBoard, name, color}`` (trimmed to ``fields``)."""
        full = {"id": label.id, "idBoard": label.board_id, "name": label.name, "color": label.color}
        if fields and fields != "all":
            wanted = {f.strip() for f in fields.split(",")} | {"id"}
            full = {k: v for k, v in full.items() if k in wanted}
        return full

    def get_board_labels(self, request: Request, board_id: str) -> Response:
        board = self._board(board_id)
        params = self.params(request)
        try:
            limit = int(params.get("limit", 50))
        except (TypeError, ValueError):
            raise HttpError(text_response("invalid value for limit", 400)) from None
        if not 0 <= limit <= 1000:
            raise HttpError(text_response("invalid value for limit", 400))
        labels = [lb for lb in self.labels.values() if lb.board_id == board.id][:limit]
        return json_response([self.label_json(lb, params.get("fields")) for lb in labels])

    def create_label(self, request: Request) -> Response:
        params = self.params(request)
        board_id = params.get("idBoard")
        if not isinstance(board_id, str) or board_id not in self.boards:
            raise HttpError(text_response("invalid value for idBoard", 400))
        color = params.get("color")
        name = params.get("name")
        if not isinstance(name, str):
            raise HttpError(text_response("invalid value for name", 400))
        label = self._add_label(board_id, name, None if color in (None, "", "null") else str(color))
        return json_response(self.label_json(label))

    def add_card_label(self, request: Request, card_id: str) -> Response:
        card = self._card(card_id)
        label_id = self.params(request).get("value")
        label = self.labels.get(str(label_id)) if label_id else None
        if label is None or label.board_id != card.board_id:
            raise HttpError(text_response("invalid value for value", 400))
        if label.id in card.label_ids:
            raise HttpError(text_response("that label is already on the card", 400))
        self._set_labels(card, [*card.label_ids, label.id], self.api_member["id"])
        return json_response(list(card.label_ids))

    def remove_card_label(self, request: Request, card_id: str, label_id: str) -> Response:
        card = self._card(card_id)
        if label_id not in card.label_ids:
            raise HttpError(text_response("that label is not on the card", 400))
        self._set_labels(card, [i for i in card.label_ids if i != label_id], self.api_member["id"])
        return json_response([])

    def get_board_custom_fields(self, request: Request, board_id: str) -> Response:
        self._board(board_id)
        return json_response([])

    def create_list(self, request: Request) -> Response:
        params = self.params(request)
        name = params.get("name")
        if not isinstance(name, str) or not name or len(name) > MAX_TEXT:
            raise HttpError(text_response("invalid value for name", 400))
        board_id = params.get("idBoard")
        if not isinstance(board_id, str) or board_id not in self.boards:
            raise HttpError(text_response("invalid value for idBoard", 400))
        lst = self._add_list(board_id, name, params.get("pos", "bottom"), self.api_member["id"])
        return json_response(self.list_json(lst))

    def get_list(self, request: Request, list_id: str) -> Response:
        return json_response(self.list_json(self._list(list_id)))

    def get_list_cards(self, request: Request, list_id: str) -> Response:
        lst = self._list(list_id)
        params = self.params(request)
        card_filter = params.get("filter", "open")
        cards = [c for c in self._ordered_cards() if c.list_id == lst.id and _card_matches(c, card_filter)]
        return self._cards_response(cards, params)

    # ------------------------------------------------------------------ endpoints: cards
    def get_card(self, request: Request, card_id: str) -> Response:
        params = self.params(request)
        card = self._card(card_id)
        return json_response(
            self.card_json(card, params.get("fields"), str(params.get("customFieldItems")).lower() == "true")
        )

    def create_card(self, request: Request) -> Response:
        params = self.params(request)
        list_id = params.get("idList")
        if not isinstance(list_id, str) or list_id not in self.lists:
            raise HttpError(text_response("invalid value for idList", 400))
        name = _text(params.get("name"), "name")
        desc = _text(params.get("desc"), "desc")
        card = self._add_card(self.lists[list_id], name, desc, params.get("pos", "bottom"), self.api_member["id"])
        for key in ("due", "start"):
            value = params.get(key)
            if value not in (None, "", "null"):
                setattr(card, key, str(value))
        if params.get("idLabels"):
            card.label_ids = [x for x in str(params["idLabels"]).split(",") if x]
        return json_response(self.card_json(card))

    def update_card(self, request: Request, card_id: str) -> Response:
        card = self._card(card_id)
        params = self.params(request)
        changes = self._parse_changes(card, params)
        self._apply_changes(card, changes, self.api_member["id"])
        if "idLabels" in params:
            wanted = [x for x in str(params["idLabels"] or "").split(",") if x]
            if any(self.labels.get(i) is None or self.labels[i].board_id != card.board_id for i in wanted):
                raise HttpError(text_response("invalid value for idLabels", 400))
            self._set_labels(card, wanted, self.api_member["id"])
        return json_response(self.card_json(card))

    def update_card_attribute(self, request: Request, card_id: str, attribute: str) -> Response:
        card = self._card(card_id)
        if attribute not in ("name", "desc", "closed", "idList", "pos", "due", "start", "dueComplete"):
            raise HttpError(text_response(f"Cannot PUT {request.path}", 404))
        params = self.params(request)
        if "value" not in params:
            raise HttpError(text_response(f"invalid value for {attribute}", 400))
        changes = self._parse_changes(card, {attribute: params["value"]})
        self._apply_changes(card, changes, self.api_member["id"])
        return json_response(self.card_json(card))

    def delete_card(self, request: Request, card_id: str) -> Response:
        card = self._card(card_id)
        self._delete_card(card, self.api_member["id"])
        return json_response({"limits": {}})

    def get_card_actions(self, request: Request, card_id: str) -> Response:
        card = self._card(card_id)
        actions = [a for a in self._actions if a.data.get("card", {}).get("id") == card.id]
        return self._actions_response(actions, self.params(request), default_filter="commentCard,updateCard:idList")

    def get_board_actions(self, request: Request, board_id: str) -> Response:
        board = self._board(board_id)
        actions = [a for a in self._actions if a.board_id == board.id]
        return self._actions_response(actions, self.params(request), default_filter="all")

    # ------------------------------------------------------------------ shared request logic
    def _cards_response(self, cards: list[_Card], params: dict[str, Any]) -> Response:
        fields = params.get("fields")
        custom = str(params.get("customFieldItems")).lower() == "true"
        return json_response([self.card_json(c, fields, custom) for c in cards])

    def _actions_response(self, actions: list[_Action], params: dict[str, Any], default_filter: str) -> Response:
        types = str(params.get("filter") or default_filter)
        if types != "all":
            wanted = {t.split(":")[0] for t in types.split(",")}
            actions = [a for a in actions if a.type in wanted]
        limit = _int_param(params, "limit", 50, 0, 1000)
        page = _int_param(params, "page", 0, 0, 1000)
        for name, keep in (("since", lambda a, v: _after(a, v)), ("before", lambda a, v: not _after(a, v, True))):
            value = params.get(name)
            if value not in (None, "", "null"):
                bound = _bound(str(value), name)
                actions = [a for a in actions if keep(a, bound)]
        newest_first = sorted(actions, key=lambda a: a.id, reverse=True)
        chunk = newest_first[page * limit : page * limit + limit]
        member_creator = str(params.get("memberCreator", "true")).lower() != "false"
        return json_response([self.action_json(a, params.get("fields"), member_creator) for a in chunk])

    def _parse_changes(self, card: _Card, params: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for key in ("name", "desc"):
            if key in params and params[key] is not None:
                changes[key] = _text(params[key], key)
        if "closed" in params:
            changes["closed"] = _bool(params["closed"], "closed")
        if "dueComplete" in params:
            changes["dueComplete"] = _bool(params["dueComplete"], "dueComplete")
        for key in ("due", "start"):
            if key in params:
                value = params[key]
                changes[key] = None if value in (None, "", "null") else str(value)
        if "idList" in params:
            list_id = params["idList"]
            if not isinstance(list_id, str) or list_id not in self.lists:
                raise HttpError(text_response("invalid value for idList", 400))
            changes["idList"] = list_id
        if "pos" in params:
            target = self.lists[changes.get("idList", card.list_id)]
            changes["pos"] = self._position(target, params["pos"], exclude=card.id)
        elif "idList" in changes and changes["idList"] != card.list_id:
            changes["pos"] = self._position(self.lists[changes["idList"]], "bottom", exclude=card.id)
        return changes

    def _position(self, lst: _List, raw: Any, exclude: str | None = None) -> float:
        siblings = [c.pos for c in self._cards.values() if c.list_id == lst.id and c.id != exclude]
        if raw in ("bottom", None):
            return max(siblings, default=0.0) + POS_STEP
        if raw == "top":
            return min(siblings, default=POS_STEP) / 2
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise HttpError(text_response("invalid value for pos", 400)) from None
        if value <= 0:
            raise HttpError(text_response("invalid value for pos", 400))
        return value

    # ------------------------------------------------------------------ mutations (API and user helpers)
    def _record(self, kind: str, board: _Board, member_id: str, data: dict[str, Any], key: str) -> None:
        action_id = self.new_id()
        date = max(self.clock.time(), int(action_id[:8], 16))
        board_ref = {"id": board.id, "name": board.name, "shortLink": board.short_link}
        self._actions.append(_Action(action_id, kind, date, board.id, member_id, {**data, "board": board_ref}, key))
        self.notify_webhooks(self._actions[-1])

    def _card_ref(self, card: _Card, **extra: Any) -> dict[str, Any]:
        return {
            "id": card.id,
            "name": card.name,
            "idShort": card.id_short,
            "shortLink": card.short_link,
            "idList": card.list_id,
            "closed": card.closed,
            **extra,
        }

    def _add_list(self, board_id: str, name: str, pos: Any, member_id: str) -> _List:
        existing = [lst.pos for lst in self.lists.values() if lst.board_id == board_id]
        if pos == "top":
            value = min(existing, default=POS_STEP) / 2
        elif pos in ("bottom", None):
            value = max(existing, default=0.0) + POS_STEP
        else:
            try:
                value = float(pos)
            except (TypeError, ValueError):
                raise HttpError(text_response("invalid value for pos", 400)) from None
        lst = _List(self.new_id(), name, board_id, value)
        self.lists[lst.id] = lst
        self._record(
            "createList",
            self.boards[board_id],
            member_id,
            {"list": {"id": lst.id, "name": name}},
            "action_added_list_to_board",
        )
        return lst

    def _add_card(self, lst: _List, name: str, desc: str, pos: Any, member_id: str) -> _Card:
        board = self.boards[lst.board_id]
        card = _Card(
            id=self.new_id(),
            name=name,
            desc=desc,
            board_id=board.id,
            list_id=lst.id,
            pos=self._position(lst, pos),
            id_short=board.next_id_short,
            short_link=self._short_link(),
            last_activity=self.clock.time(),
        )
        board.next_id_short += 1
        self._cards[card.id] = card
        data = {
            "card": {"id": card.id, "name": name, "idShort": card.id_short, "shortLink": card.short_link},
            "list": {"id": lst.id, "name": lst.name},
        }
        self._record("createCard", board, member_id, data, "action_create_card")
        return card

    def _apply_changes(self, card: _Card, changes: dict[str, Any], member_id: str) -> None:
        """Apply field changes, recording updateCard actions: one per changed field, or one for
        all of them when `multi_field_actions == "combined"` (the real feed's choice is undocumented)."""
        attribute = {"name": "name", "desc": "desc", "closed": "closed", "pos": "pos", "due": "due", "start": "start"}
        attribute |= {"dueComplete": "due_complete", "idList": "list_id"}
        board = self.boards[card.board_id]
        changed: dict[str, tuple[Any, Any]] = {}
        for key in ("name", "desc", "idList", "pos", "closed", "due", "start", "dueComplete"):
            if key not in changes:
                continue
            old = getattr(card, attribute[key])
            new = changes[key]
            if old == new:
                continue
            setattr(card, attribute[key], new)
            changed[key] = (old, new)
        if not changed:
            return
        card.last_activity = self.clock.time()
        recorded = [k for k in changed if k != "pos"]  # pos: recorded with the move, or silently
        groups = [recorded] if self.multi_field_actions == "combined" and recorded else [[k] for k in recorded]
        for keys in groups:
            card_ref = self._card_ref(card)
            data: dict[str, Any] = {"card": card_ref, "old": {}}
            for key in keys:
                card_ref[key] = changed[key][1]
                data["old"][key] = changed[key][0]
            if "idList" in keys:
                before, after = self.lists[changed["idList"][0]], self.lists[changed["idList"][1]]
                data["listBefore"] = {"id": before.id, "name": before.name}
                data["listAfter"] = {"id": after.id, "name": after.name}
                translation = "action_move_card_from_list_to_list"
            else:
                lst = self.lists[card.list_id]
                data["list"] = {"id": lst.id, "name": lst.name}
                key = keys[0]
                translation = {
                    "name": "action_renamed_card",
                    "desc": "action_changed_description_of_card",
                    "closed": "action_archived_card" if changed[key][1] else "action_sent_card_to_board",
                }.get(key, "action_changed_a_due_date")
            self._record("updateCard", board, member_id, data, translation)

    def _add_label(self, board_id: str, name: str, color: str | None) -> _Label:
        label = _Label(self.new_id(), board_id, name, color)
        self.labels[label.id] = label
        return label

    def _set_labels(self, card: _Card, label_ids: list[str], member_id: str) -> None:
        """Give the card exactly these labels: an addLabelToCard / removeLabelFromCard action each."""
        board = self.boards[card.board_id]
        added = [i for i in label_ids if i not in card.label_ids]
        removed = [i for i in card.label_ids if i not in label_ids]
        card.label_ids = list(dict.fromkeys(label_ids))
        if added or removed:
            card.last_activity = self.clock.time()
        for kind, ids, key in (
            ("addLabelToCard", added, "action_add_label_to_card"),
            ("removeLabelFromCard", removed, "action_remove_label_from_card"),
        ):
            for label_id in ids:
                label = self.labels[label_id]
                data = {
                    "card": self._card_ref(card),
                    "label": {"id": label.id, "name": label.name, "color": label.color},
                    "text": label.name,
                }
                self._record(kind, board, member_id, data, key)

    def _delete_card(self, card: _Card, member_id: str) -> None:
        lst = self.lists[card.list_id]
        del self._cards[card.id]
        data = {
            "card": {"id": card.id, "idShort": card.id_short},
            "list": {"id": lst.id, "name": lst.name},
        }
        self._record("deleteCard", self.boards[card.board_id], member_id, data, "action_delete_card")

    def _ordered_cards(self) -> list[_Card]:
        list_pos = {lst.id: lst.pos for lst in self.lists.values()}
        return sorted(self._cards.values(), key=lambda c: (list_pos.get(c.list_id, 0), c.pos, c.id))

    # ------------------------------------------------------------------ user helpers (a person in the Trello UI)
    def create_board(self, name: str = "Leads", lists: list[str] | None = None) -> str:
        """A board with these lists (default To Do / Doing / Done); returns the board id."""
        with self.lock:
            board = _Board(self.new_id(), name, self._short_link(), self.clock.time())
            self.boards[board.id] = board
            self._record("createBoard", board, self.user_member["id"], {}, "action_create_board")
            for list_name in lists if lists is not None else ["To Do", "Doing", "Done"]:
                self._add_list(board.id, list_name, "bottom", self.user_member["id"])
            return board.id  # (real boards start with six unnamed colour labels; here: none)

    def user_create_label(self, board_id: str, name: str, color: str | None = "green") -> str:
        """A person adds a label to the board; returns its id."""
        with self.lock:
            return self._add_label(board_id, name, color).id

    def user_label_card(self, card_id: str, label_id: str, *, on: bool = True) -> None:
        """A person puts the label on the card (``on``) or takes it off."""
        with self.lock:
            card = self._cards[card_id]
            ids = [*card.label_ids, label_id] if on else [i for i in card.label_ids if i != label_id]
            self._set_labels(card, ids, self.user_member["id"])

    def list_id(self, board_id: str, name: str) -> str:
        """Id of the open list called `name` on the board."""
        with self.lock:
            for lst in self.lists.values():
                if lst.board_id == board_id and lst.name == name and not lst.closed:
                    return lst.id
        raise KeyError(f"no open list {name!r} on board {board_id}")

    def user_create_card(self, list_id: str, name: str, desc: str = "") -> str:
        """A person adds a card at the bottom of a list; returns the card id."""
        with self.lock:
            return self._add_card(self.lists[list_id], name, desc, "bottom", self.user_member["id"]).id

    def user_move_card(self, card_id: str, list_id: str) -> None:
        """A person drags the card to another list (to its bottom)."""
        with self.lock:
            card = self._cards[card_id]
            changes = self._parse_changes(card, {"idList": list_id})
            self._apply_changes(card, changes, self.user_member["id"])

    def user_update_card(self, card_id: str, name: str | None = None, desc: str | None = None) -> None:
        """A person edits the card's title and/or description."""
        with self.lock:
            changes = {k: v for k, v in (("name", name), ("desc", desc)) if v is not None}
            self._apply_changes(self._cards[card_id], changes, self.user_member["id"])

    def user_archive_card(self, card_id: str) -> None:
        """A person archives the card (closed=true)."""
        with self.lock:
            self._apply_changes(self._cards[card_id], {"closed": True}, self.user_member["id"])

    def user_unarchive_card(self, card_id: str) -> None:
        """A person sends the card back to the board."""
        with self.lock:
            self._apply_changes(self._cards[card_id], {"closed": False}, self.user_member["id"])

    def user_delete_card(self, card_id: str) -> None:
        """A person deletes the card for good (only a deleteCard action remains)."""
        with self.lock:
            self._delete_card(self._cards[card_id], self.user_member["id"])

    def cards(self, board_id: str, include_closed: bool = False) -> list[dict[str, Any]]:
        """Card JSON of the board's cards as the API returns them (open only unless asked)."""
        with self.lock:
            return [
                self.card_json(c)
                for c in self._ordered_cards()
                if c.board_id == board_id and (include_closed or not c.closed)
            ]

    def card(self, card_id: str) -> dict[str, Any] | None:
        """One card's JSON, or None once deleted."""
        with self.lock:
            card = self._cards.get(card_id)
            return self.card_json(card) if card else None

    def actions(self, board_id: str) -> list[dict[str, Any]]:
        """Every action on the board, newest first."""
        with self.lock:
            chosen = [a for a in self._actions if a.board_id == board_id]
            return [self.action_json(a) for a in sorted(chosen, key=lambda a: a.id, reverse=True)]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise HttpError(text_response(f"invalid value for {name}", 400))
    return value


def _bool(value: Any, name: str) -> bool:
    if value in (True, "true"):
        return True
    if value in (False, "false"):
        return False
    raise HttpError(text_response(f"invalid value for {name}", 400))


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise HttpError(text_response(f"invalid value for {name}", 400)) from None
    if not low <= value <= high:
        raise HttpError(text_response(f"invalid value for {name}", 400))
    return value


def _card_matches(card: _Card, card_filter: str) -> bool:
    if card_filter == "none":
        return False
    if card_filter in ("open", "visible"):
        return not card.closed
    if card_filter == "closed":
        return card.closed
    return True


def _bound(value: str, name: str) -> tuple[str, Any]:
    if _OBJECT_ID.match(value):
        return ("id", value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HttpError(text_response(f"invalid value for {name}", 400)) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return ("date", moment.timestamp())


def _after(action: _Action, bound: tuple[str, Any], or_equal: bool = False) -> bool:
    kind, value = bound
    if kind == "id":
        return action.id >= value if or_equal else action.id > value
    stamp = int(action.date * 1000) / 1000
    return stamp >= value if or_equal else stamp > value
