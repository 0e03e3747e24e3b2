"""Airtable webhooks for the Airtable emulator (api-notes §3.6): the ping + pull model.

- ``POST /v0/bases/{base}/webhooks`` (``notificationUrl``, ``specification.options.filters``:
  ``dataTypes`` must hold ``tableData``; ``recordChangeScope`` a table id, optional) →
  ``{"id": "ach…", "macSecretBase64", "expirationTime"}``; the secret is shown this once. At most 10
  webhooks per base (``TOO_MANY_WEBHOOKS``).
- ``GET /v0/bases/{base}/webhooks`` (no secrets), ``DELETE …/{id}``, ``POST …/{id}/refresh`` (expiry =
  now + 7 days), ``GET …/{id}/payloads?cursor=&limit=`` (≤ 50; also extends the expiry) →
  ``{"payloads", "cursor", "mightHaveMore"}``. The cursor numbers the webhook's payloads from 1 (the
  ``cursorForNextPayload`` of the listing); payloads are deleted a week after they were made, and a
  cursor pointing at deleted ones gets the payloads that are left.
- Every record created, changed or deleted (by a person: ``source: "client"``, or through the API:
  ``"publicApi"``) becomes one payload (``changedTablesById`` with ``createdRecordsById``,
  ``changedRecordsById`` or ``destroyedRecordIds``, cell values by field id) on each live webhook of the
  base, and a ping ``{"base": {"id"}, "webhook": {"id"}, "timestamp"}`` POSTed to its notificationUrl
  with ``X-Airtable-Content-MAC: hmac-sha256=<hex HMAC-SHA256(b64decode(macSecretBase64), body)>``.
  An expired webhook gets neither. Deliveries use the shared sender and its switch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sandbox.common import Request, Response, Rule, json_response
from sandbox.webhook_delivery import Deliverer, Delivery

LIFETIME = timedelta(days=7)
PAYLOADS_KEPT = timedelta(days=7)  # payloads are deleted a week after they were made
MAX_PER_BASE = 10
MAX_PAYLOADS_PER_PAGE = 50


def airtable_mac(body: bytes, mac_secret_base64: str) -> str:
    """What Airtable puts in ``X-Airtable-Content-MAC``."""
    return "hmac-sha256=" + hmac.new(base64.b64decode(mac_secret_base64), body, hashlib.sha256).hexdigest()


def _iso(moment: Any) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class AirtableWebhooks:
    """Mixed into the Airtable emulator: webhook routes, payload logs and pings."""

    # provided by the emulator
    lock: Any
    bases: dict[str, Any]

    def webhook_routes(self) -> list[Rule]:
        return [
            Rule("/v0/bases/<base_id>/webhooks", endpoint="webhooks_collection", methods=["GET", "POST"]),
            Rule("/v0/bases/<base_id>/webhooks/<hook_id>", endpoint="delete_webhook", methods=["DELETE"]),
            Rule("/v0/bases/<base_id>/webhooks/<hook_id>/refresh", endpoint="refresh_webhook", methods=["POST"]),
            Rule("/v0/bases/<base_id>/webhooks/<hook_id>/payloads", endpoint="list_payloads", methods=["GET"]),
        ]

    def reset_webhooks(self) -> None:
        self.webhooks: dict[str, dict[str, Any]] = {}
        self._change_source = "publicApi"
        self._transaction = 0
        if not hasattr(self, "deliverer"):
            self.deliverer = Deliverer()
        self.deliverer.configure()

    @contextmanager
    def as_person(self) -> Iterator[None]:
        """Changes made inside come from the UI (``source: "client"``)."""
        self._change_source = "client"
        try:
            yield
        finally:
            self._change_source = "publicApi"

    # ------------------------------------------------------------------ REST
    def _hook(self, base_id: str, hook_id: str) -> dict[str, Any]:
        self._base(base_id)  # type: ignore[attr-defined]
        hook = self.webhooks.get(hook_id)
        if hook is None or hook["base"] != base_id:
            raise self._not_found()
        return hook

    def _not_found(self) -> Any:
        from sandbox.airtable import error

        return error(404, "NOT_FOUND", "Could not find what you are looking for")

    def _public(self, hook: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": hook["id"],
            "notificationUrl": hook["notificationUrl"],
            "cursorForNextPayload": hook["next_cursor"],
            "areNotificationsEnabled": True,
            "isHookEnabled": True,
            "expirationTime": _iso(hook["expires"]),
            "lastSuccessfulNotificationTime": hook["lastSuccess"],
            "specification": hook["specification"],
        }

    def webhooks_collection(self, request: Request, base_id: str) -> Response:
        from sandbox.airtable import _body, error

        self._base(base_id)  # type: ignore[attr-defined]
        if request.method == "GET":
            mine = [self._public(h) for h in self.webhooks.values() if h["base"] == base_id]
            return json_response({"webhooks": mine})
        body = _body(request)
        url, spec = body.get("notificationUrl"), body.get("specification")
        filters = spec.get("options", {}).get("filters", {}) if isinstance(spec, dict) else {}
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise error(422, "INVALID_REQUEST_UNKNOWN", "Invalid request: notificationUrl")
        if not isinstance(filters, dict) or "tableData" not in (filters.get("dataTypes") or []):
            raise error(422, "INVALID_FILTERS", "Invalid filters: dataTypes must include tableData")
        if sum(1 for h in self.webhooks.values() if h["base"] == base_id) >= MAX_PER_BASE:
            raise error(422, "TOO_MANY_WEBHOOKS", "A base may have at most 10 webhooks")
        hook_id = self._id("ach")  # type: ignore[attr-defined]
        secret = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        now = self._now()  # type: ignore[attr-defined]
        self.webhooks[hook_id] = {
            "id": hook_id,
            "base": base_id,
            "notificationUrl": url,
            "specification": spec,
            "scope": filters.get("recordChangeScope"),
            "secret": secret,
            "expires": now + LIFETIME,
            "payloads": [],  # (cursor, payload), oldest first; the cursor numbers this webhook's payloads
            "next_cursor": 1,
            "lastSuccess": None,
        }
        return json_response({"id": hook_id, "macSecretBase64": secret, "expirationTime": _iso(now + LIFETIME)})

    def delete_webhook(self, request: Request, base_id: str, hook_id: str) -> Response:
        self._hook(base_id, hook_id)
        del self.webhooks[hook_id]
        return json_response({})

    def refresh_webhook(self, request: Request, base_id: str, hook_id: str) -> Response:
        hook = self._hook(base_id, hook_id)
        hook["expires"] = self._now() + LIFETIME  # type: ignore[attr-defined]
        return json_response({"expirationTime": _iso(hook["expires"])})

    def list_payloads(self, request: Request, base_id: str, hook_id: str) -> Response:
        from sandbox.airtable import error

        hook = self._hook(base_id, hook_id)
        try:
            cursor = int(request.args.get("cursor", "1"))
            limit = int(request.args.get("limit", str(MAX_PAYLOADS_PER_PAGE)))
        except ValueError as exc:
            raise error(422, "INVALID_REQUEST_UNKNOWN", "cursor and limit must be integers") from exc
        if cursor < 1 or not 1 <= limit <= MAX_PAYLOADS_PER_PAGE:
            raise error(422, "INVALID_REQUEST_UNKNOWN", "cursor >= 1, 1 <= limit <= 50")
        now = self._now()  # type: ignore[attr-defined]
        hook["expires"] = now + LIFETIME
        self._forget_old_payloads(hook, now)
        later = [(number, payload) for number, payload in hook["payloads"] if number >= cursor]
        page = later[:limit]
        # the cursor to ask for next: past the last payload returned (payloads deleted after a week are
        # skipped), and never back before the caller's own cursor
        after = page[-1][0] + 1 if page else max(cursor, hook["next_cursor"])
        more = len(later) > len(page)
        return json_response({"payloads": [p for _, p in page], "cursor": after, "mightHaveMore": more})

    @staticmethod
    def _forget_old_payloads(hook: dict[str, Any], now: Any) -> None:
        cutoff = _iso(now - PAYLOADS_KEPT)
        hook["payloads"] = [(n, p) for n, p in hook["payloads"] if p["timestamp"] >= cutoff]

    # ------------------------------------------------------------------ changes -> payloads and pings
    def record_event(self, table: Any, kind: str, record: Any, changed: set[str] | None = None) -> None:
        """A record was created, changed or destroyed (called under the lock, by the emulator)."""
        base_id = next((b.id for b in self.bases.values() if table in b.tables), None)
        if base_id is None:
            return
        now = self._now()  # type: ignore[attr-defined]
        self._transaction += 1
        if kind == "created":
            body = {
                "createdRecordsById": {
                    record.id: {"createdTime": _iso(record.created), "cellValuesByFieldId": dict(record.values)}
                }
            }
        elif kind == "changed":
            cells = {fid: record.values.get(fid) for fid in sorted(changed or set())}
            body = {"changedRecordsById": {record.id: {"current": {"cellValuesByFieldId": cells}}}}
        else:
            body = {"destroyedRecordIds": [record]}
        payload = {
            "timestamp": _iso(now),
            "baseTransactionNumber": self._transaction,
            "payloadFormat": "v0",
            "actionMetadata": {"source": self._change_source, "sourceMetadata": {}},
            "changedTablesById": {table.id: body},
        }
        for hook in self.webhooks.values():
            if hook["base"] != base_id or hook["expires"] <= now or hook["scope"] not in (None, table.id):
                continue
            hook["payloads"].append((hook["next_cursor"], payload))
            hook["next_cursor"] += 1
            ping = json.dumps({"base": {"id": base_id}, "webhook": {"id": hook["id"]}, "timestamp": _iso(now)})
            headers = {
                "Content-Type": "application/json",
                "X-Airtable-Content-MAC": airtable_mac(ping.encode(), hook["secret"]),
            }
            self.deliverer.submit(
                Delivery(hook["notificationUrl"], ping.encode(), headers, self._ping_result(hook["id"]))
            )

    def _ping_result(self, hook_id: str) -> Any:
        def done(status: int | None) -> None:
            with self.lock:
                hook = self.webhooks.get(hook_id)
                if hook is not None and status is not None and 200 <= status < 300:
                    hook["lastSuccess"] = _iso(self._now())  # type: ignore[attr-defined]

        return done
