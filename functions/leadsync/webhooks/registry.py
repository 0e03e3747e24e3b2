"""``leadsync webhooks register | list | remove``: one webhook per pair, on its Trello board and on its
Airtable base.

The plan is pure (:func:`plan_trello`, also used for Airtable): from the pairs, the receiver's base URL
and the webhooks that exist, which to create and which to delete. Ours are those whose callback URL
starts with ``<base>/webhooks/<system>/``. Running ``register`` twice creates nothing the second time,
and a pair removed from the config loses its webhook. Trello listing uses
``GET /1/members/me/tokens?webhooks=true`` rather than ``/1/tokens/{token}/webhooks``, so the token
never appears in a URL or a log line. An Airtable webhook's ``macSecretBase64`` is shown only when it is
created: the caller stores it (:mod:`leadsync.webhooks.cli`).

Notion subscriptions are made in the integration's settings (no API, api-notes §1.9): docs/deploy.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadsync.config import AirtableSide, PairConfig, TrelloSide
from leadsync.connectors.http import Transport, path
from leadsync.core import ids
from leadsync.webhooks.receiver import AIRTABLE_WEBHOOK_ID

TRELLO_ROUTE = "/webhooks/trello/"
AIRTABLE_ROUTE = "/webhooks/airtable/"


@dataclass(frozen=True)
class TrelloHook:
    """A Trello webhook: wanted (no id yet) or existing."""

    callback_url: str
    model_id: str
    pair: str = ""
    id: str = ""
    active: bool = True


@dataclass(frozen=True)
class TrelloPlan:
    create: tuple[TrelloHook, ...]
    delete: tuple[TrelloHook, ...]
    keep: tuple[TrelloHook, ...]


def wanted_trello(pairs: Sequence[PairConfig], base_url: str) -> list[TrelloHook]:
    """One webhook per pair with a Trello board: the board is the model."""
    base = base_url.rstrip("/")
    out = []
    for pair in pairs:
        for side in (pair.lead, pair.card):
            board = ids.trello_id(side.board_id) if isinstance(side, TrelloSide) else None
            if board is not None:
                out.append(TrelloHook(f"{base}{TRELLO_ROUTE}{pair.id}", board, pair.id))
    return out


def plan_trello(
    wanted: Sequence[TrelloHook], existing: Sequence[TrelloHook], base_url: str, route: str = TRELLO_ROUTE
) -> TrelloPlan:
    """What to create and delete so that each wanted (callback, model) has exactly one active webhook.
    ``route``: the receiver's path of the system (ours are the webhooks under it)."""
    ours = [h for h in existing if h.callback_url.startswith(base_url.rstrip("/") + route)]
    keep: dict[tuple[str, str], TrelloHook] = {}
    delete = []
    targets = {(w.callback_url, w.model_id) for w in wanted}
    for hook in ours:
        key = (hook.callback_url, hook.model_id)
        if key in targets and key not in keep and hook.active:
            keep[key] = hook
        else:
            delete.append(hook)  # not wanted, a duplicate, or disabled by Trello after failures
    create = tuple(w for w in wanted if (w.callback_url, w.model_id) not in keep)
    return TrelloPlan(create, tuple(delete), tuple(keep.values()))


def _hook_of(raw: Mapping[str, Any]) -> TrelloHook | None:
    hook_id, model = ids.trello_id(raw.get("id")), ids.trello_id(raw.get("idModel"))
    url = raw.get("callbackURL")
    if hook_id is None or model is None or not isinstance(url, str):
        return None
    return TrelloHook(url, model, id=hook_id, active=raw.get("active") is not False)


def list_trello(transport: Transport) -> list[TrelloHook]:
    """The token's webhooks (malformed entries skipped)."""
    tokens = transport.request("GET", "/members/me/tokens", params={"webhooks": "true"})
    hooks = []
    for token in tokens if isinstance(tokens, list) else []:
        for raw in token.get("webhooks", []) if isinstance(token, dict) else []:
            hook = _hook_of(raw) if isinstance(raw, dict) else None
            if hook is not None:
                hooks.append(hook)
    return hooks


def apply_trello(transport: Transport, plan: TrelloPlan) -> list[str]:
    """Delete, then create (Trello checks each new callback with a HEAD); one line per change."""
    lines = []
    for hook in plan.delete:
        transport.request("DELETE", path("/webhooks/{}", hook.id))
        lines.append(f"trello: removed webhook {hook.id} ({hook.callback_url})")
    for hook in plan.create:
        made = transport.request(
            "POST",
            "/webhooks",
            json={"callbackURL": hook.callback_url, "idModel": hook.model_id, "description": f"leadsync {hook.pair}"},
        )
        made_id = ids.trello_id(made.get("id")) if isinstance(made, dict) else None
        lines.append(f"trello: registered webhook {made_id} for pair {hook.pair} (board {hook.model_id})")
    return lines


# ---------------------------------------------------------------- Airtable (model = the base)


def wanted_airtable(pairs: Sequence[PairConfig], base_url: str) -> list[TrelloHook]:
    """One webhook per pair with an Airtable table: the base is the model."""
    base = base_url.rstrip("/")
    return [
        TrelloHook(f"{base}{AIRTABLE_ROUTE}{pair.id}", side.base_id, pair.id)
        for pair in pairs
        for side in (pair.lead, pair.card)
        if isinstance(side, AirtableSide)
    ]


def list_airtable(transport: Transport, base_ids: Sequence[str]) -> list[TrelloHook]:
    """The webhooks of these bases (malformed entries skipped)."""
    hooks = []
    for base_id in dict.fromkeys(base_ids):
        listed = transport.request("GET", path("/v0/bases/{}/webhooks", base_id))
        raw_hooks = listed.get("webhooks") if isinstance(listed, dict) else None
        for raw in raw_hooks if isinstance(raw_hooks, list) else []:
            hook_id = raw.get("id") if isinstance(raw, dict) else None
            url = raw.get("notificationUrl") if isinstance(raw, dict) else None
            if isinstance(hook_id, str) and AIRTABLE_WEBHOOK_ID.fullmatch(hook_id) and isinstance(url, str):
                hooks.append(TrelloHook(url, base_id, id=hook_id))
    return hooks


def apply_airtable(transport: Transport, plan: TrelloPlan) -> tuple[list[str], dict[str, str], list[str]]:
    """Delete, then create; (lines, new webhook id -> macSecretBase64, deleted ids)."""
    lines, secrets, deleted = [], {}, []
    for hook in plan.delete:
        transport.request("DELETE", path("/v0/bases/{}/webhooks/{}", hook.model_id, hook.id))
        deleted.append(hook.id)
        lines.append(f"airtable: removed webhook {hook.id} ({hook.callback_url})")
    for hook in plan.create:
        spec = {"options": {"filters": {"dataTypes": ["tableData"]}}}
        made = transport.request(
            "POST",
            path("/v0/bases/{}/webhooks", hook.model_id),
            json={"notificationUrl": hook.callback_url, "specification": spec},
        )
        hook_id = made.get("id") if isinstance(made, dict) else None
        secret = made.get("macSecretBase64") if isinstance(made, dict) else None
        if not isinstance(hook_id, str) or not AIRTABLE_WEBHOOK_ID.fullmatch(hook_id) or not isinstance(secret, str):
            raise ValueError(f"airtable: creating the webhook of pair {hook.pair} gave no id and secret")
        secrets[hook_id] = secret
        lines.append(f"airtable: registered webhook {hook_id} for pair {hook.pair} (base {hook.model_id})")
    return lines, secrets, deleted
