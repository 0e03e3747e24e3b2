"""The shell of ``leadsync webhooks``: settings and credentials in, Trello calls, lines out."""

from __future__ import annotations

import os

from leadsync.config import Settings
from leadsync.connectors.trello import trello_transport
from leadsync.credentials import load_credentials
from leadsync.errors import ConfigError
from leadsync.webhooks import registry
from leadsync.webhooks.service import WebhookSettings
from leadsync.wiring import load_sync_config


def run(action: str, url: str | None) -> int:
    """``register`` (idempotent), ``list`` or ``remove`` the Trello webhooks of every pair."""
    settings = Settings.from_env()
    env = {**os.environ, "LEADSYNC_WEBHOOK_BASE_URL": url} if url else os.environ
    base = WebhookSettings.from_env(env).base_url  # validated like the receiver's own setting
    if not base:
        raise ConfigError(["webhooks: give --url or set LEADSYNC_WEBHOOK_BASE_URL (the stack's WebhookEndpoint)"])
    config = load_sync_config(settings)
    creds = load_credentials(settings.secret_arn)
    transport = trello_transport(
        creds.require("trello_key", "leadsync webhooks"),
        creds.require("trello_token", "leadsync webhooks"),
        base_url=settings.trello_base_url,
    )
    existing = registry.list_trello(transport)
    wanted = registry.wanted_trello(config.pairs, base) if action == "register" else []
    plan = registry.plan_trello(wanted, existing, base)
    if action == "list":
        for hook in plan.keep + plan.delete:
            state = "active" if hook.active else "inactive (Trello disabled it after failed deliveries)"
            print(f"trello: webhook {hook.id} board {hook.model_id} -> {hook.callback_url} [{state}]")
        return 0
    lines = registry.apply_trello(transport, plan)
    for hook in plan.keep:
        print(f"trello: webhook {hook.id} for board {hook.model_id} already registered")
    for line in lines:
        print(line)
    return 0
