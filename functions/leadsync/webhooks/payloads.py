"""Airtable webhook payloads, read by the cycle: pure decisions over the untrusted answers.

Airtable's ping carries no record data; the webhook's payloads (``GET …/webhooks/{id}/payloads?cursor=``,
api-notes §3.6) say what changed, and only they name records deleted for good (``destroyedRecordIds``),
which no incremental listing shows. :mod:`leadsync.cycle.payloads` reads them from the cursor kept in the
pair's ``META`` (committed with the cycle: a crash re-reads, never skips) and hands the deleted ids of
linked records to the same direct read as a sweep's deletions. Everything here checks what it is given:
a page that is not a page stops the read, an id that is not a record id is dropped and reported.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from leadsync.core import ids

ROUTE = "/webhooks/airtable/"  # the receiver's route of the pair (leadsync.webhooks.registry)
STATE_KEY = "airtable_webhook"  # META.cursors[<side>.airtable_webhook] = "<webhook id>:<cursor>"
MAX_PAGES = 10  # 500 payloads a cycle at most; the rest next cycle (the cursor is kept)


@dataclass(frozen=True)
class HookCursor:
    """Where the pair's reading of its webhook's payloads stands."""

    webhook_id: str
    cursor: int

    def encode(self) -> str:
        return f"{self.webhook_id}:{self.cursor}"

    @staticmethod
    def decode(raw: object) -> HookCursor | None:
        """The stored state, or ``None`` when there is none or it is not one (read afresh then)."""
        if not isinstance(raw, str) or raw.count(":") != 1:
            return None
        hook, number = raw.split(":")
        if ids.airtable_webhook_id(hook) is None or not number.isdigit() or int(number) < 1:
            return None
        return HookCursor(hook, int(number))


def state_key(side: str) -> str:
    return f"{side}.{STATE_KEY}"


def our_webhook(listed: Any, pair_id: str, ours: Collection[str]) -> str | None:
    """The id of the pair's webhook in a ``GET /v0/bases/{b}/webhooks`` answer: one whose id is ours (its
    secret is in the credentials) and whose notification URL is the pair's route; ``None`` if none is."""
    hooks = listed.get("webhooks") if isinstance(listed, Mapping) else None
    for hook in hooks if isinstance(hooks, list) else []:
        hook_id = ids.airtable_webhook_id(hook.get("id")) if isinstance(hook, Mapping) else None
        url = hook.get("notificationUrl") if isinstance(hook, Mapping) else None
        if hook_id is None or hook_id not in ours or not isinstance(url, str):
            continue
        if urlsplit(url).path.rstrip("/").endswith(f"{ROUTE}{pair_id}"):
            return hook_id
    return None


@dataclass(frozen=True)
class Page:
    """One page of payloads, as far as the pair's table goes: records deleted and changed (checked ids,
    first seen first), the cursor to ask for next, whether more may follow, and what was dropped."""

    destroyed: tuple[str, ...]
    changed: tuple[str, ...]
    cursor: int
    more: bool
    problems: tuple[str, ...] = ()


def read_page(answer: Any, table_id: str, cursor: int) -> Page:
    """The facts of one ``…/payloads`` answer for table ``table_id``, asked from ``cursor``.

    A ValueError when the answer is not a page, or its cursor goes backwards (the caller keeps its
    cursor and tries next cycle); a payload that is malformed or an error payload is reported and
    skipped, and so is an id that is not an Airtable record id.
    """
    if not isinstance(answer, Mapping):
        raise ValueError("the payloads answer is not a JSON object")
    payloads, after, more = answer.get("payloads"), answer.get("cursor"), answer.get("mightHaveMore")
    if not isinstance(payloads, list) or not isinstance(more, bool):
        raise ValueError("the payloads answer has no payloads list or mightHaveMore")
    if isinstance(after, bool) or not isinstance(after, int) or after < cursor:
        raise ValueError(f"the payloads answer's cursor {ids.shown(after, 20)} is not at or past {cursor}")
    destroyed: dict[str, None] = {}
    changed: dict[str, None] = {}
    problems: list[str] = []
    for payload in payloads:
        if not isinstance(payload, Mapping):
            problems.append("a payload that is not an object was skipped")
            continue
        if payload.get("error"):
            problems.append(f"an error payload ({ids.shown(payload.get('code'), 40)}) was skipped")
            continue
        tables = payload.get("changedTablesById")
        table = tables.get(table_id) if isinstance(tables, Mapping) else None
        if not isinstance(table, Mapping):
            continue
        gone = table.get("destroyedRecordIds")
        for raw in gone if isinstance(gone, list) else []:
            _take(raw, destroyed, problems)
        for key in ("changedRecordsById", "createdRecordsById"):
            named = table.get(key)
            for raw in named if isinstance(named, Mapping) else {}:
                _take(raw, changed, problems)
    return Page(tuple(destroyed), tuple(changed), after, more and after > cursor, tuple(problems))


def _take(raw: object, into: dict[str, None], problems: list[str]) -> None:
    record_id = ids.airtable_record_id(raw)
    if record_id is None:
        problems.append(f"a payload named {ids.shown(raw, 40)}, not an Airtable record id: ignored")
    else:
        into[record_id] = None
