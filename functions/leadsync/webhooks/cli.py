"""The shell of ``leadsync webhooks``: settings and credentials in, Trello and Airtable calls, lines out.

Airtable shows a webhook's MAC secret only when it creates it, so ``register`` stores each new one at
once under ``airtable_webhook_secrets``: in the credentials secret when ``LEADSYNC_SECRET_ARN`` is set
(the receiver reads it from there), else in ``.leadsync/airtable-webhook-secrets.json`` (mode 0600) for
``AIRTABLE_WEBHOOK_SECRETS`` in local runs. An Airtable webhook of ours whose secret is not known is
replaced.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from leadsync.config import AirtableSide, Settings, TrelloSide
from leadsync.connectors.airtable import airtable_transport
from leadsync.connectors.trello import trello_transport
from leadsync.credentials import Credentials, load_credentials
from leadsync.errors import ConfigError
from leadsync.webhooks import registry
from leadsync.webhooks.service import WebhookSettings
from leadsync.wiring import load_sync_config

LOCAL_SECRETS_FILE = Path(".leadsync/airtable-webhook-secrets.json")


def run(action: str, url: str | None) -> int:
    """``register`` (idempotent), ``list`` or ``remove`` the webhooks of every pair."""
    settings = Settings.from_env()
    env = {**os.environ, "LEADSYNC_WEBHOOK_BASE_URL": url} if url else os.environ
    base = WebhookSettings.from_env(env).base_url  # validated like the receiver's own setting
    if not base:
        raise ConfigError(["webhooks: give --url or set LEADSYNC_WEBHOOK_BASE_URL (the stack's WebhookEndpoint)"])
    config = load_sync_config(settings)
    creds = load_credentials(settings.secret_arn)
    sides = [side for pair in config.pairs for side in (pair.lead, pair.card)]
    if any(isinstance(side, TrelloSide) for side in sides):
        _trello(action, base, config.pairs, settings, creds)
    if any(isinstance(side, AirtableSide) for side in sides):
        _airtable(action, base, config.pairs, settings, creds)
    return 0


def _trello(action: str, base: str, pairs: Any, settings: Settings, creds: Credentials) -> None:
    transport = trello_transport(
        creds.require("trello_key", "leadsync webhooks"),
        creds.require("trello_token", "leadsync webhooks"),
        base_url=settings.trello_base_url,
    )
    existing = registry.list_trello(transport)
    wanted = registry.wanted_trello(pairs, base) if action == "register" else []
    plan = registry.plan_trello(wanted, existing, base)
    if action == "list":
        for hook in plan.keep + plan.delete:
            state = "active" if hook.active else "inactive (Trello disabled it after failed deliveries)"
            print(f"trello: webhook {hook.id} board {hook.model_id} -> {hook.callback_url} [{state}]")
        return
    for hook in plan.keep:
        print(f"trello: webhook {hook.id} for board {hook.model_id} already registered")
    for line in registry.apply_trello(transport, plan):
        print(line)


def _airtable(action: str, base: str, pairs: Any, settings: Settings, creds: Credentials) -> None:
    wanted = registry.wanted_airtable(pairs, base)
    bases = [hook.model_id for hook in wanted]
    token = creds.require("airtable_token", "leadsync webhooks")
    transport = airtable_transport(token, bases[0], base_url=settings.airtable_base_url)
    known = dict(creds.airtable_webhook_secrets or {})
    # ours without a known secret cannot be verified: replaced like a disabled Trello webhook
    existing = [h if h.id in known else replace(h, active=False) for h in registry.list_airtable(transport, bases)]
    plan = registry.plan_trello(wanted if action == "register" else [], existing, base, registry.AIRTABLE_ROUTE)
    if action == "list":
        for hook in plan.keep + plan.delete:
            state = "secret stored" if hook.id in known else "secret unknown: register replaces it"
            print(f"airtable: webhook {hook.id} base {hook.model_id} -> {hook.callback_url} [{state}]")
        return
    for hook in plan.keep:
        print(f"airtable: webhook {hook.id} for base {hook.model_id} already registered")
    lines, added, deleted = registry.apply_airtable(transport, plan)
    if added or deleted:
        where = _store_airtable_secrets(settings, added, deleted)
        lines.append(f"airtable: {len(added)} webhook secret(s) stored in {where}")
    for line in lines:
        print(line)


def _merge(current: dict[str, Any], added: dict[str, str], deleted: list[str]) -> dict[str, Any]:
    hooks = dict(current.get("airtable_webhook_secrets") or {})
    hooks.update(added)
    for hook_id in deleted:
        hooks.pop(hook_id, None)
    return {**current, "airtable_webhook_secrets": hooks}


def _store_airtable_secrets(settings: Settings, added: dict[str, str], deleted: list[str]) -> str:
    """Merge the new MAC secrets into where the receiver reads them; where that is."""
    if settings.secret_arn:
        import boto3

        client = boto3.client("secretsmanager")
        current = json.loads(client.get_secret_value(SecretId=settings.secret_arn)["SecretString"])
        client.put_secret_value(SecretId=settings.secret_arn, SecretString=json.dumps(_merge(current, added, deleted)))
        return "the credentials secret (airtable_webhook_secrets)"
    current = json.loads(LOCAL_SECRETS_FILE.read_text()) if LOCAL_SECRETS_FILE.exists() else {}
    merged = _merge({"airtable_webhook_secrets": current}, added, deleted)["airtable_webhook_secrets"]
    LOCAL_SECRETS_FILE.parent.mkdir(parents=True, exist_ok=True)
    LOCAL_SECRETS_FILE.touch(mode=0o600, exist_ok=True)
    LOCAL_SECRETS_FILE.write_text(json.dumps(merged))
    return f'{LOCAL_SECRETS_FILE} (export AIRTABLE_WEBHOOK_SECRETS="$(cat {LOCAL_SECRETS_FILE})")'
