"""Keeping Airtable webhooks alive: they expire 7 days after creation or their last refresh.

After a pair's cycle (the minute schedule or a hint), :func:`refresh_airtable` looks at the webhooks of
the pair's base at most once an hour per container. It refreshes those that are ours (their id is a key of
``airtable_webhook_secrets``) and expire within :data:`REFRESH_WITHIN`, so each is refreshed about once a
day: one ``GET`` an hour per base, one ``POST`` a day per webhook. It never raises: if a webhook lapses,
that only costs speed, because the schedule keeps syncing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from leadsync.config import AirtableSide, PairConfig, Settings
from leadsync.connectors.airtable import airtable_transport
from leadsync.connectors.deadline import Deadline
from leadsync.connectors.http import path
from leadsync.credentials import Credentials
from leadsync.observability import logger
from leadsync.webhooks.receiver import AIRTABLE_WEBHOOK_ID

CHECK_EVERY_SECONDS = 3600.0
REFRESH_WITHIN = timedelta(days=6)  # a 7-day webhook is refreshed once it is a day old
_next_check: dict[tuple[str, str], float] = {}


def due_for_refresh(listed: Any, ours: Iterable[str], now: datetime) -> list[str]:
    """Ids of our webhooks in a ``GET /v0/bases/{b}/webhooks`` answer that expire within REFRESH_WITHIN
    (an unreadable expiry counts as due; entries that are not webhooks are skipped)."""
    mine = set(ours)
    hooks = listed.get("webhooks") if isinstance(listed, Mapping) else None
    due = []
    for hook in hooks if isinstance(hooks, list) else []:
        hook_id = hook.get("id") if isinstance(hook, Mapping) else None
        if not isinstance(hook_id, str) or hook_id not in mine or not AIRTABLE_WEBHOOK_ID.fullmatch(hook_id):
            continue
        try:
            expires = datetime.fromisoformat(str(hook.get("expirationTime")).replace("Z", "+00:00"))
        except ValueError:
            expires = now
        if expires - now < REFRESH_WITHIN:
            due.append(hook_id)
    return due


def refresh_airtable(
    pair: PairConfig,
    settings: Settings,
    creds: Credentials,
    deadline: Deadline,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
) -> list[str]:
    """Refresh the pair's base's webhooks that are due; the ids refreshed. Never raises."""
    side = next((s for s in (pair.lead, pair.card) if isinstance(s, AirtableSide)), None)
    if side is None or not creds.airtable_webhook_secrets or not creds.airtable_token:
        return []
    key = (settings.airtable_base_url, side.base_id)
    if clock() < _next_check.get(key, 0.0):
        return []
    _next_check[key] = clock() + CHECK_EVERY_SECONDS
    try:
        transport = airtable_transport(
            creds.airtable_token, side.base_id, base_url=settings.airtable_base_url, deadline=deadline
        )
        listed = transport.request("GET", path("/v0/bases/{}/webhooks", side.base_id))
        refreshed = []
        for hook_id in due_for_refresh(listed, creds.airtable_webhook_secrets, now):
            transport.request("POST", path("/v0/bases/{}/webhooks/{}/refresh", side.base_id, hook_id))
            refreshed.append(hook_id)
    except Exception as exc:  # a lapsed webhook costs speed, never a cycle
        _next_check[key] = clock() + 60.0  # try again next minute
        logger.warning("airtable webhook refresh failed", extra={"base": side.base_id, "error": type(exc).__name__})
        return []
    if refreshed:
        logger.info("airtable webhooks refreshed", extra={"base": side.base_id, "webhooks": refreshed})
    return refreshed


def clear_caches() -> None:
    """Forget when each base was last checked (tests)."""
    _next_check.clear()
