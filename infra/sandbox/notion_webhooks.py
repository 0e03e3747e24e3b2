"""Notion webhooks for the Notion emulator (api-notes §1.9): subscriptions, the handshake, signed events.

A subscription is made in Notion's UI (no API): `create_subscription(url)` plays that part. Notion then
POSTs ``{"verification_token": "secret_..."}`` once, unsigned; the operator copies the token into the UI
and presses Verify: `verify_subscription(id, token)`. From then on every change to a page (by a person or
by an integration: echoes included, told apart by ``authors[].type``) is POSTed as a thin event, ids
only, signed ``X-Notion-Signature: sha256=<hex HMAC-SHA256(token, body)>``:
``page.created``, ``page.properties_updated`` (with ``data.updated_properties``: property ids),
``page.deleted`` (to the trash) and ``page.undeleted``. Deliveries share the Trello emulator's sender
(`sandbox.webhook_delivery`) with its retries and drop/duplicate/reorder switch. Simplification: a retry
re-sends the same body (``attempt_number`` stays 1; Notion counts attempts and re-signs).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from sandbox.webhook_delivery import Deliverer, Delivery

WORKSPACE_ID = "0e2f6c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
INTEGRATION_ID = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"


def notion_signature(body: bytes, token: str) -> str:
    """What Notion puts in ``X-Notion-Signature``."""
    return "sha256=" + hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()


class NotionWebhooks:
    """Mixed into the Notion emulator: subscriptions and page events."""

    # provided by the emulator
    lock: Any
    clock: Any
    data_sources: dict[str, Any]

    def reset_webhooks(self) -> None:
        self.subscriptions: dict[str, dict[str, Any]] = {}
        if not hasattr(self, "deliverer"):
            self.deliverer = Deliverer()
        self.deliverer.configure()

    def create_subscription(self, url: str) -> str:
        """A subscription to ``url`` made in the integration's settings; sends the handshake."""
        with self.lock:
            sub_id = str(uuid.uuid4())
            token = "secret_" + secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")
            self.subscriptions[sub_id] = {"id": sub_id, "url": url, "token": token, "verified": False}
        body = json.dumps({"verification_token": token}).encode("utf-8")
        self.deliverer.submit(Delivery(url, body, {"Content-Type": "application/json", "User-Agent": "notion-api"}))
        return sub_id

    def verify_subscription(self, sub_id: str, token: str) -> bool:
        """The operator pastes the token and presses Verify: events flow only once it matches."""
        with self.lock:
            sub = self.subscriptions[sub_id]
            sub["verified"] = hmac.compare_digest(sub["token"], token)
            return bool(sub["verified"])

    def notify_page(self, page: Any, kind: str, author: str, bot: bool, properties: list[str] | None = None) -> None:
        """Send a ``page.<kind>`` event about ``page`` to every verified subscription (under the lock)."""
        ds = self.data_sources[page.data_source_id]
        data: dict[str, Any] = {"parent": {"id": ds.database_id, "type": "database", "data_source_id": ds.id}}
        if kind == "properties_updated":
            ids = {name: prop["id"] for name, prop in ds.properties.items()}
            data["updated_properties"] = sorted(ids.get(p, p) for p in properties or [])
        moment = datetime.fromtimestamp(self.clock.time(), UTC)
        for sub in self.subscriptions.values():
            if not sub["verified"]:
                continue
            event = {
                "id": str(uuid.uuid4()),
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
                "workspace_id": WORKSPACE_ID,
                "workspace_name": "Sandbox",
                "subscription_id": sub["id"],
                "integration_id": INTEGRATION_ID,
                "type": f"page.{kind}",
                "authors": [{"id": author, "type": "bot" if bot else "person"}],
                "attempt_number": 1,
                "api_version": "2025-09-03",
                "entity": {"id": page.id, "type": "page"},
                "data": data,
            }
            body = json.dumps(event).encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "notion-api",
                "X-Notion-Signature": notion_signature(body, sub["token"]),
            }
            self.deliverer.submit(Delivery(sub["url"], body, headers))
