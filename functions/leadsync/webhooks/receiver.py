"""What one webhook request means: a pure decision over the raw request, the pairs and the secrets.

Order (each step answers before the next runs): the route and method, the body's size, the
signature over the raw bytes (constant time), the JSON, the ids in it (each checked against
:mod:`leadsync.core.ids` and the pair's config). The outcome names the pairs to hint and the event
key the shell uses against replays; it never carries the body or a secret, so logging it is safe.

Routes: ``/webhooks/trello/{pair}`` (a Trello webhook per board, model = the board; ``HEAD`` answered
200 for Trello's creation check), ``/webhooks/airtable/{pair}`` (a ping per base webhook), and
``/webhooks/notion`` (Notion has one subscription per integration, so one URL: the event's parent
database or data source names the pairs; an event about anything else is acknowledged and ignored).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadsync.config import AirtableSide, NotionSide, PairConfig, TrelloSide
from leadsync.core import ids
from leadsync.webhooks import verify

MAX_BODY_BYTES = 256 * 1024  # Trello's model is the board's own fields, Notion and Airtable send ids only
PAIR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # the config's pair id rule
AIRTABLE_WEBHOOK_ID = re.compile(r"ach[A-Za-z0-9]{14}")
AIRTABLE_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
TRELLO_HEADER = "x-trello-webhook"
NOTION_HEADER = "x-notion-signature"
AIRTABLE_HEADER = "x-airtable-content-mac"


@dataclass(frozen=True)
class Request:
    """An HTTP request as received: header names lowercase, the body's raw bytes, and the URL the
    sender called (Trello signs it)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    url: str


@dataclass(frozen=True)
class WebhookSecrets:
    """The keys of the signature checks (never in a repr). ``airtable``: webhook id -> macSecretBase64."""

    trello_app_secret: str | None = field(default=None, repr=False)
    notion_verification_token: str | None = field(default=None, repr=False)
    airtable: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Hint:
    """Pair ``pair`` has changes on its ``side`` (``lead`` or ``card``) in ``system``."""

    pair: str
    side: str
    system: str


@dataclass(frozen=True)
class Outcome:
    """The answer to one request: the status, a reason for the log (no secrets, no body), the pairs
    to hint, the event's replay key, and a Notion handshake's token to store (the one secret here)."""

    status: int
    reason: str
    system: str = "-"
    hints: tuple[Hint, ...] = ()
    event_key: str | None = None
    handshake_token: str | None = field(default=None, repr=False)


def decide(request: Request, pairs: Sequence[PairConfig], secrets: WebhookSecrets) -> Outcome:
    """The outcome of ``request`` (see the module docstring for the order of the checks)."""
    parts = request.path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "webhooks" or parts[1] not in ("trello", "notion", "airtable"):
        return Outcome(404, "no such webhook route")
    system = parts[1]
    pair_id = parts[2] if len(parts) == 3 else None
    if (system == "notion") != (pair_id is None) or (pair_id is not None and not PAIR_ID.fullmatch(pair_id)):
        return Outcome(404, "no such webhook route", system)
    method = request.method.upper()
    if method == "HEAD" and system == "trello":  # Trello's check before it creates a webhook
        pair = _pair(pairs, pair_id)
        if pair is None or _side(pair, TrelloSide) is None:
            return Outcome(404, f"no pair {pair_id!r} with a Trello board", system)  # so no webhook is made
        return Outcome(200, "trello callback check", system)
    if method != "POST":
        return Outcome(405, f"method {ids.shown(method, 10)} not allowed", system)
    if len(request.body) > MAX_BODY_BYTES:
        return Outcome(413, f"body of {len(request.body)} bytes is over {MAX_BODY_BYTES}", system)
    if system == "trello":
        return _trello(request, _pair(pairs, pair_id), pair_id or "", secrets)
    if system == "airtable":
        return _airtable(request, _pair(pairs, pair_id), pair_id or "", secrets)
    return _notion(request, pairs, secrets)


def _pair(pairs: Sequence[PairConfig], pair_id: str | None) -> PairConfig | None:
    return next((p for p in pairs if p.id == pair_id), None)


def _signed_json(
    request: Request,
    system: str,
    header: str,
    verifier: Callable[[str], bool] | None,
    unconfigured: str,
    mismatch: str,
) -> dict[str, Any] | Outcome:
    """The prologue of every signed route, in order: the signature header (401), a key to check it
    with (``verifier`` is None without one: 503, the sender retries), the signature over the raw
    body (403), then the body as a JSON object (400). The body is parsed only once it is verified."""
    signature = request.headers.get(header)
    if not signature:
        return Outcome(401, f"no {header} header", system)
    if verifier is None:
        return Outcome(503, unconfigured, system)
    if not verifier(signature):
        return Outcome(403, mismatch, system)
    return _json_object(request.body, system)


def _json_object(body: bytes, system: str) -> dict[str, Any] | Outcome:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Outcome(400, "body is not JSON", system)
    if not isinstance(data, dict):
        return Outcome(400, "body is not a JSON object", system)
    return data


def _object(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _side(pair: PairConfig, kind: type[Any]) -> tuple[str, Any] | None:
    for name in ("lead", "card"):
        side = getattr(pair, name)
        if isinstance(side, kind):
            return name, side
    return None


def _trello(request: Request, pair: PairConfig | None, pair_id: str, secrets: WebhookSecrets) -> Outcome:
    system = "trello"
    secret = secrets.trello_app_secret
    data = _signed_json(
        request,
        system,
        TRELLO_HEADER,
        (lambda signature: verify.verify_trello(request.body, signature, request.url, secret)) if secret else None,
        "trello_app_secret is not configured",
        "signature does not match body and callback URL",
    )
    if isinstance(data, Outcome):
        return data
    side = _side(pair, TrelloSide) if pair else None
    if pair is None or side is None:
        return Outcome(404, f"no pair {pair_id!r} with a Trello board", system)
    action_id = ids.trello_id(_object(data, "action").get("id"))
    model_id = ids.trello_id(_object(data, "model").get("id"))
    if action_id is None or model_id is None:
        return Outcome(422, "action.id or model.id is not a Trello id", system)
    if model_id != ids.trello_id(side[1].board_id):
        return Outcome(422, f"model {model_id} is not the board of pair {pair.id}", system)
    return Outcome(200, "hint", system, (Hint(pair.id, side[0], system),), f"trello:{action_id}")


def _airtable(request: Request, pair: PairConfig | None, pair_id: str, secrets: WebhookSecrets) -> Outcome:
    system = "airtable"
    macs = list(secrets.airtable.values())
    data = _signed_json(
        request,
        system,
        AIRTABLE_HEADER,
        (lambda signature: verify.verify_airtable(request.body, signature, macs)) if macs else None,
        "airtable_webhook_secrets is not configured",
        "MAC does not match the body under any webhook secret",
    )
    if isinstance(data, Outcome):
        return data
    side = _side(pair, AirtableSide) if pair else None
    if pair is None or side is None:
        return Outcome(404, f"no pair {pair_id!r} with an Airtable table", system)
    webhook_id = _object(data, "webhook").get("id")
    base_id = _object(data, "base").get("id")
    stamp = data.get("timestamp")
    if not isinstance(webhook_id, str) or not AIRTABLE_WEBHOOK_ID.fullmatch(webhook_id):
        return Outcome(422, "webhook.id is not an Airtable webhook id", system)
    if not isinstance(stamp, str) or not AIRTABLE_TIMESTAMP.fullmatch(stamp):
        return Outcome(422, "timestamp is not an ISO time", system)
    if webhook_id not in secrets.airtable or not verify.verify_airtable(
        request.body, request.headers[AIRTABLE_HEADER], [secrets.airtable[webhook_id]]
    ):
        return Outcome(403, f"webhook {webhook_id} did not sign this ping", system)
    if base_id != side[1].base_id:
        return Outcome(422, f"base {ids.shown(base_id, 20)} is not the base of pair {pair.id}", system)
    key = f"airtable:{webhook_id}:{stamp}"
    return Outcome(200, "hint", system, (Hint(pair.id, side[0], system),), key)


def _notion(request: Request, pairs: Sequence[PairConfig], secrets: WebhookSecrets) -> Outcome:
    system = "notion"
    if not request.headers.get(NOTION_HEADER):
        return _notion_handshake(request.body)
    token = secrets.notion_verification_token
    data = _signed_json(
        request,
        system,
        NOTION_HEADER,
        (lambda signature: verify.verify_notion(request.body, signature, token)) if token else None,
        "no Notion verification token is stored yet",
        "signature does not match the body",
    )
    if isinstance(data, Outcome):
        return data
    event_id = ids.notion_id(data.get("id"))
    entity_id = ids.notion_id(_object(data, "entity").get("id"))
    if event_id is None or entity_id is None:
        return Outcome(422, "id or entity.id is not a Notion id", system)
    parent = _object(_object(data, "data"), "parent")
    named = {ids.notion_id(parent.get("id")), ids.notion_id(parent.get("data_source_id")), entity_id} - {None}
    hints = []
    for pair in pairs:
        side = _side(pair, NotionSide)
        if side is not None and named & {ids.notion_id(side[1].database_id), ids.notion_id(side[1].data_source_id)}:
            hints.append(Hint(pair.id, side[0], system))
    if not hints:
        return Outcome(200, "event about no synced database: ignored", system, (), f"notion:{event_id}")
    return Outcome(200, "hint", system, tuple(hints), f"notion:{event_id}")


def _notion_handshake(body: bytes) -> Outcome:
    """Notion's one unsigned request: ``{"verification_token": "secret_..."}`` and nothing else."""
    system = "notion"
    data = _json_object(body, system)
    if isinstance(data, Outcome):
        return Outcome(401, f"no {NOTION_HEADER} header", system)
    token = data.get("verification_token")
    if set(data) != {"verification_token"} or not isinstance(token, str):
        return Outcome(401, f"no {NOTION_HEADER} header", system)
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,200}", token):
        return Outcome(422, "verification_token is not a token", system)
    return Outcome(200, "notion verification token received", system, handshake_token=token)
