"""Trello webhooks for the Trello emulator (api-notes §2.7): the REST routes and the deliveries.

- ``POST /1/webhooks`` (``callbackURL``, ``idModel``, ``description``, ``active``): Trello first sends
  ``HEAD <callbackURL>`` and creates nothing unless it answers 200; the same token, callback and model
  twice is refused ("A webhook with that callback, model, and token already exists").
- ``GET|PUT|DELETE /1/webhooks/{id}`` (only with the token that created it),
  ``GET /1/tokens/{token}/webhooks`` and ``GET /1/members/me/tokens?webhooks=true``.
- Every action on a watched model (a board, or a card) is POSTed as ``{"action", "model"}`` with
  ``X-Trello-Webhook = base64(HMAC-SHA1(app secret, body + callbackURL))``, the string taken as
  "binary" like Trello's Node signer (each UTF-16 code unit cut to 8 bits). A failed call is retried
  3 times; ``disable_after`` failed deliveries in a row turn the webhook inactive (Trello's exact
  policy is undocumented); an answer of 410 deletes the webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import requests

from sandbox.common import HttpError, Request, Response, Rule, json_response, text_response
from sandbox.webhook_delivery import Deliverer, Delivery

_OAUTH_TOKEN = re.compile(r'oauth_token="([^"]*)"')
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


def trello_signature(body: bytes, callback_url: str, app_secret: str) -> str:
    """What Trello puts in ``X-Trello-Webhook`` for ``body`` sent to ``callback_url``."""
    text = body.decode("utf-8") + callback_url
    message = text.encode("utf-16-le", errors="surrogatepass")[0::2]
    return base64.b64encode(hmac.new(app_secret.encode("utf-8"), message, hashlib.sha1).digest()).decode("ascii")


class TrelloWebhooks:
    """Mixed into the Trello emulator: webhook routes, storage and delivery of actions."""

    app_secret = "sandbox-trello-app-secret-0123456789abcdef"  # the OAuth secret of every sandbox key
    disable_after = 3  # failed deliveries in a row before a webhook goes inactive

    # provided by the emulator
    lock: Any
    clock: Any
    boards: dict[str, Any]
    _cards: dict[str, Any]

    def webhook_routes(self) -> list[Rule]:
        return [
            Rule("/1/webhooks", endpoint="create_webhook", methods=["POST"]),
            Rule("/1/webhooks/", endpoint="create_webhook", methods=["POST"]),
            Rule("/1/webhooks/<webhook_id>", endpoint="get_webhook", methods=["GET"]),
            Rule("/1/webhooks/<webhook_id>", endpoint="update_webhook", methods=["PUT"]),
            Rule("/1/webhooks/<webhook_id>", endpoint="delete_webhook", methods=["DELETE"]),
            Rule("/1/tokens/<token>/webhooks", endpoint="list_token_webhooks", methods=["GET"]),
            Rule("/1/members/me/tokens", endpoint="list_my_tokens", methods=["GET"]),
        ]

    def reset_webhooks(self) -> None:
        self.webhooks: dict[str, dict[str, Any]] = {}
        self._webhook_tokens: dict[str, str] = {}
        if not hasattr(self, "deliverer"):
            self.deliverer = Deliverer()
        self.deliverer.configure()

    # ------------------------------------------------------------------ REST
    def _token(self, request: Request) -> str:
        found = _OAUTH_TOKEN.search(request.headers.get("Authorization", ""))
        return unquote(found.group(1)) if found else str(self.params(request).get("token", ""))  # type: ignore[attr-defined]

    def _own_webhook(self, request: Request, webhook_id: str) -> dict[str, Any]:
        hook = self.webhooks.get(webhook_id)
        if hook is None:
            raise HttpError(text_response("The requested resource was not found.", 404))
        if self._webhook_tokens[webhook_id] != self._token(request):
            raise HttpError(text_response("webhook does not belong to token", 401))
        return hook

    def create_webhook(self, request: Request) -> Response:
        params = self.params(request)  # type: ignore[attr-defined]
        url, model = params.get("callbackURL"), params.get("idModel")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return text_response("invalid value for callbackURL", 400)
        if not isinstance(model, str) or not _OBJECT_ID.match(model) or not self._model_json(model):
            return text_response("invalid value for idModel", 400)
        token = self._token(request)
        for hook_id, hook in self.webhooks.items():
            if self._webhook_tokens[hook_id] == token and hook["callbackURL"] == url and hook["idModel"] == model:
                return text_response("A webhook with that callback, model, and token already exists", 400)
        try:
            status = requests.head(url, timeout=10).status_code
        except requests.RequestException:
            status = None
        if status != 200:
            return text_response(f"URL ({url}) did not return 200 status code, got {status}", 400)
        hook = {
            "id": self.new_id(),  # type: ignore[attr-defined]
            "description": str(params.get("description", ""))[:16384],
            "idModel": model,
            "callbackURL": url,
            "active": str(params.get("active", "true")).lower() != "false",
            "consecutiveFailures": 0,
            "firstConsecutiveFailDate": None,
        }
        self.webhooks[hook["id"]] = hook
        self._webhook_tokens[hook["id"]] = token
        return json_response(hook)

    def get_webhook(self, request: Request, webhook_id: str) -> Response:
        return json_response(self._own_webhook(request, webhook_id))

    def update_webhook(self, request: Request, webhook_id: str) -> Response:
        hook = self._own_webhook(request, webhook_id)
        params = self.params(request)  # type: ignore[attr-defined]
        if "active" in params:
            hook["active"] = str(params["active"]).lower() == "true"
            if hook["active"]:
                hook["consecutiveFailures"], hook["firstConsecutiveFailDate"] = 0, None
        if "description" in params:
            hook["description"] = str(params["description"])[:16384]
        return json_response(hook)

    def delete_webhook(self, request: Request, webhook_id: str) -> Response:
        self._own_webhook(request, webhook_id)
        del self.webhooks[webhook_id], self._webhook_tokens[webhook_id]
        return json_response({"_value": None})

    def list_token_webhooks(self, request: Request, token: str) -> Response:
        if token != self._token(request):
            return text_response("invalid token", 401)
        return json_response([h for i, h in self.webhooks.items() if self._webhook_tokens[i] == token])

    def list_my_tokens(self, request: Request) -> Response:
        """The member's tokens (here: the caller's), each with its webhooks when ``webhooks=true``."""
        token = self._token(request)
        entry: dict[str, Any] = {
            "id": hashlib.sha256(token.encode()).hexdigest()[:24],  # a token object's id, not the token
            "identifier": "leadsync",
            "idMember": self.api_member["id"],  # type: ignore[attr-defined]
            "permissions": [{"idModel": "*", "modelType": "Board", "read": True, "write": True}],
        }
        if str(self.params(request).get("webhooks", "false")).lower() == "true":  # type: ignore[attr-defined]
            entry["webhooks"] = [h for i, h in self.webhooks.items() if self._webhook_tokens[i] == token]
        return json_response([entry])

    # ------------------------------------------------------------------ delivery
    def _model_json(self, model_id: str) -> dict[str, Any] | None:
        if model_id in self.boards:
            return self.board_json(self.boards[model_id])  # type: ignore[attr-defined]
        if model_id in self._cards:
            return self.card_json(self._cards[model_id])  # type: ignore[attr-defined]
        return None

    def notify_webhooks(self, action: Any) -> None:
        """Send ``action`` to every active webhook on its board or card (called under the lock)."""
        card = action.data.get("card") if isinstance(action.data.get("card"), dict) else {}
        watched = {action.board_id, card.get("id")}
        for hook in list(self.webhooks.values()):
            if not hook["active"] or hook["idModel"] not in watched:
                continue
            model = self._model_json(hook["idModel"]) or {"id": hook["idModel"]}
            payload = {"action": self.action_json(action), "model": model}  # type: ignore[attr-defined]
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Trello",
                "X-Trello-Webhook": trello_signature(body, hook["callbackURL"], self.app_secret),
            }
            self.deliverer.submit(Delivery(hook["callbackURL"], body, headers, self._result_of(hook["id"])))

    def _result_of(self, webhook_id: str) -> Any:
        def done(status: int | None) -> None:
            with self.lock:
                hook = self.webhooks.get(webhook_id)
                if hook is None:
                    return
                if status == 410:
                    del self.webhooks[webhook_id], self._webhook_tokens[webhook_id]
                elif status is not None and 200 <= status < 300:
                    hook["consecutiveFailures"], hook["firstConsecutiveFailDate"] = 0, None
                else:
                    hook["consecutiveFailures"] += 1
                    if hook["firstConsecutiveFailDate"] is None:
                        moment = datetime.fromtimestamp(self.clock.time(), UTC)
                        hook["firstConsecutiveFailDate"] = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                    if hook["consecutiveFailures"] >= self.disable_after:
                        hook["active"] = False

        return done
