"""The receiver's shell: an API Gateway HTTP API (payload 2.0) or Function URL event in, a response out.

It reads the pair config and the secrets, asks :func:`leadsync.webhooks.receiver.decide`, claims the
event key against replays, enqueues the hints and answers; it never syncs. Nothing of the body and
no secret reaches a log line: only the system, the pairs, the status and the decision's reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadsync import engine
from leadsync.config import Settings
from leadsync.credentials import load_credentials
from leadsync.errors import ConfigError, LeadsyncError
from leadsync.observability import COUNT, logger, metrics
from leadsync.webhooks import hints as hint_io
from leadsync.webhooks.receiver import Outcome, Request, WebhookSecrets, decide
from leadsync.wiring import load_sync_config


class WebhookSettings(BaseModel):
    """``LEADSYNC_WEBHOOK_*``: the public base URL (when a custom domain or proxy stands in front:
    Trello signs the URL it called) and the Notion handshake's secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    handshake_secret_arn: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> WebhookSettings:
        values = {
            n: environ[f"LEADSYNC_WEBHOOK_{n.upper()}"]
            for n in cls.model_fields
            if environ.get(f"LEADSYNC_WEBHOOK_{n.upper()}")
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(
                [
                    f"environment: LEADSYNC_WEBHOOK_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                    for e in exc.errors()
                ]
            ) from exc


def request_from_event(event: Mapping[str, Any], base_url: str | None = None) -> Request:
    """The request in an HTTP API / Function URL event (payload 2.0); ValueError when it is not one."""
    http = event.get("requestContext", {}).get("http") if isinstance(event.get("requestContext"), dict) else None
    path = event.get("rawPath")
    if not isinstance(http, dict) or not isinstance(http.get("method"), str) or not isinstance(path, str):
        raise ValueError("not an HTTP API (payload 2.0) or Function URL event")
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        raise ValueError("body is not a string")
    try:
        body = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise ValueError("body is not base64") from exc
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    query = event.get("rawQueryString") or ""
    root = (base_url or f"https://{event['requestContext'].get('domainName', '')}").rstrip("/")
    url = f"{root}{path}" + (f"?{query}" if query else "")
    return Request(method=http["method"], path=path, headers=headers, body=body, url=url)


def response(status: int, reason: str = "") -> dict[str, Any]:
    """An HTTP API response; success has an empty body (Airtable wants 200/204 with none), a refusal a
    JSON ``{"error": reason}`` (the reason never holds the body or a secret)."""
    if status < 300:
        return {"statusCode": status, "headers": {"content-type": "text/plain; charset=utf-8"}, "body": ""}
    body = json.dumps({"error": reason, "status": status}, separators=(",", ":"))
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": body}


@dataclass
class Receiver:
    """What the receiver talks to, built once per container (see :func:`build_receiver`)."""

    settings: Settings
    hooks: WebhookSettings
    sqs: Any
    replays: hint_io.ReplayGuard
    handshake: hint_io.HandshakeStore
    gate: hint_io.HintGate = hint_io.LOCAL_GATE
    now: Callable[[], datetime] | None = None  # default: engine.utcnow, looked up per call (tests move it)

    def _now(self) -> datetime:
        return (self.now or engine.utcnow)()

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            request = request_from_event(event, self.hooks.base_url)
        except ValueError as exc:
            return self._answer(Outcome(400, str(exc)))
        try:
            config = load_sync_config(self.settings)
            creds = load_credentials(self.settings.secret_arn)
            secrets = WebhookSecrets(
                trello_app_secret=creds.trello_app_secret,
                notion_verification_token=self.handshake.token()
                if request.path.rstrip("/").endswith("/notion")
                else None,
                airtable=dict(creds.airtable_webhook_secrets or {}),
            )
        except LeadsyncError as exc:
            logger.error("webhook receiver is not configured", extra={"error": str(exc)[:300]})
            return self._answer(Outcome(503, "receiver not configured"))
        outcome = decide(request, config.pairs, secrets)
        if outcome.handshake_token is not None:
            return self._handshake(outcome)
        if outcome.status != 200 or outcome.event_key is None:
            return self._answer(outcome)
        if not self.replays.claim(outcome.event_key, self._now()):
            # A replay (or the sender's own retry after a lost answer: the same signed bytes) is refused
            # with 409 and changes nothing. Never 410: Trello deletes a webhook answered 410. A 409 makes
            # the sender retry a few times (each one refused the same way) and counts one failed delivery,
            # which the next accepted event resets: a webhook is disabled only by failures in a row.
            return self._answer(Outcome(409, "duplicate: event already received, nothing enqueued", outcome.system))
        if outcome.hints:
            return self._enqueue(outcome, outcome.event_key)
        return self._answer(outcome)

    def _enqueue(self, outcome: Outcome, event_key: str) -> dict[str, Any]:
        """Hint the pairs that have no hint pending (the others' pending cycle covers this event)."""
        if not self.settings.queue_url:
            self.replays.release(event_key)
            return self._answer(Outcome(503, "LEADSYNC_QUEUE_URL is not set", outcome.system))
        now = self._now()
        opened = [hint for hint in outcome.hints if self.gate.open(hint.pair, now)]
        try:
            if opened:
                hint_io.send_hints(self.sqs, self.settings.queue_url, opened, now, event_key)
        except Exception as exc:  # any failure: forget the event so the sender's retry counts
            for hint in opened:
                self.gate.close(hint.pair)
            self.replays.release(event_key)
            logger.error("hint not enqueued", extra={"system": outcome.system, "error": type(exc).__name__})
            return self._answer(Outcome(503, "could not enqueue", outcome.system))
        if len(opened) < len(outcome.hints):
            covered = sorted({h.pair for h in outcome.hints} - {h.pair for h in opened})
            logger.info("hint already pending: its cycle covers this event", extra={"pairs": covered})
        return self._answer(Outcome(200, outcome.reason, outcome.system, tuple(opened), event_key))

    def _handshake(self, outcome: Outcome) -> dict[str, Any]:
        token = outcome.handshake_token or ""
        fingerprint = hashlib.sha256(token.encode()).hexdigest()[:8]
        if not self.handshake.store_if_empty(token):
            return self._answer(Outcome(409, "a Notion verification token is already stored", "notion"), fingerprint)
        return self._answer(Outcome(200, "notion verification token stored", "notion"), fingerprint)

    def _answer(self, outcome: Outcome, fingerprint: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"system": outcome.system, "status": outcome.status, "reason": outcome.reason}
        if outcome.hints:
            extra["pairs"] = sorted({h.pair for h in outcome.hints})
        if outcome.event_key:
            extra["event"] = outcome.event_key
        if fingerprint:
            extra["token_sha256_prefix"] = fingerprint  # enough to tell two tokens apart, useless to forge
        if outcome.reason.startswith("duplicate"):
            logger.warning("webhook duplicate ignored", extra=extra)
            metrics.add_metric(name="WebhookDuplicates", unit=COUNT, value=1)
        elif outcome.status < 400:
            logger.info("webhook accepted", extra=extra)
            metrics.add_metric(name="WebhookHints", unit=COUNT, value=len(outcome.hints))
        else:
            logger.warning("webhook refused", extra=extra)
            metrics.add_metric(name="WebhookRefused", unit=COUNT, value=1)
        return response(outcome.status, outcome.reason)


def build_receiver(environ: Mapping[str, str] | None = None) -> Receiver:
    """The receiver of this environment: DynamoDB replay guard and Secrets Manager handshake in the
    cloud (``LEADSYNC_TABLE``, ``LEADSYNC_WEBHOOK_HANDSHAKE_SECRET_ARN``), in memory otherwise."""
    import os

    import boto3

    env = os.environ if environ is None else environ
    settings = Settings.from_env(env)
    hooks = WebhookSettings.from_env(env)
    dynamodb = boto3.client("dynamodb") if settings.table else None
    replays = hint_io.replay_guard_for(settings.table, dynamodb)
    handshake: hint_io.HandshakeStore = (
        hint_io.SecretsHandshakeStore(boto3.client("secretsmanager"), hooks.handshake_secret_arn)
        if hooks.handshake_secret_arn
        else hint_io.MemoryHandshakeStore()
    )
    gate = hint_io.gate_for(settings.table, dynamodb)
    return Receiver(settings, hooks, boto3.client("sqs"), replays, handshake, gate)
