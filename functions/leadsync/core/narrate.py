"""A cycle told in plain words (pure): what changed on each side, and each conflict in the records' own words.

The demo prints these; they read what the cycle stored (``leadsync.core.history``) and plain
snapshots of both sides, nothing else. A conflict line names the values as each system shows
them (the Trello *list*, not the canonical status) and says why the winner won: the pair's
``conflict_policy``, or the ``tie_breaker`` when the policy could not decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from leadsync.core.history import REDACTED, Activity
from leadsync.core.mapping import FieldMapping
from leadsync.core.models import Side, Value

SYSTEM_NAMES = {"notion": "Notion", "airtable": "Airtable", "sheets": "Google Sheets", "trello": "Trello"}
NOTICED = ("conflict", "skipped", "held", "failed", "error")  # what a snapshot diff cannot show

Snapshot = Mapping[str, Mapping[str, str]]  # "card Ada Lovelace" -> {"list": "Done", ...}

_WHY = re.compile(
    r"^conflict_policy (?P<policy>\w+)"
    r"(?:, (?P<tie_reason>[^:]+): tie_breaker (?P<tie>lead|card)|: (?P<last>lead|card) edited last)?$"
)


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per record that appeared, went, or changed; a changed one shows only its changed fields."""
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if old is None:
            lines.append(f"  + {key}: " + ", ".join(f"{k}={v}" for k, v in (new or {}).items()))
        elif new is None:
            lines.append(f"  - {key}")
        else:
            changed = [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]
            lines.append(f"  ~ {key}: " + ", ".join(f"{k} {old.get(k, '-')} -> {new.get(k, '-')}" for k in changed))
    return lines


def counts(values: Mapping[str, int]) -> str:
    """``create_card 3, update_lead 1`` (by name; ``nothing`` when empty), as the CLI prints a cycle's counts."""
    return ", ".join(f"{k} {v}" for k, v in sorted(values.items())) or "nothing"


def conflict(item: Activity, mapping: FieldMapping, systems: Mapping[Side, str]) -> str:
    """A conflict activity in the records' own words, e.g. ``Alan Turing: card moved to Done in Trello and
    Status set to Contacted in Notion at the same time — Notion wins (policy newest, edits too close to
    order: tie-breaker Notion)``."""
    names = {side: SYSTEM_NAMES.get(systems[side], systems[side]) for side in Side}
    field = item.field or "?"
    try:
        spec = mapping.spec(field)
        lead_field, card_field = spec.lead, spec.card
        card_value = item.card_value if item.card_value == REDACTED else spec.card_value(item.card_value)
    except KeyError:  # a field no longer mapped: canonical words are all there is
        lead_field, card_field, card_value = field, field, item.card_value
    card_edit = _edit(systems[Side.CARD], card_field, card_value)
    lead_edit = _edit(systems[Side.LEAD], lead_field, item.lead_value)
    who = item.label or " / ".join(
        f"{side} {rid}" for side, rid in (("lead", item.lead_id), ("card", item.card_id)) if rid
    )
    winner = names[Side(item.winner)] if item.winner in ("lead", "card") else "?"
    return (
        f"{who or 'a record'}: {card_edit} in {names[Side.CARD]} and {lead_edit} in {names[Side.LEAD]} "
        f"at the same time — {winner} wins ({why(item.policy, names)})"
    )


def why(policy: str | None, names: Mapping[Side, str]) -> str:
    """The reason a conflict's winner won, from ``merge.why_won``'s words, with the systems' names."""
    if not policy:
        return "reason not recorded"
    match = _WHY.match(policy)
    if match is None:
        return policy
    name = match.group("policy")
    if match.group("tie"):
        return f"policy {name}, {match.group('tie_reason')}: tie-breaker {names[Side(match.group('tie'))]}"
    if match.group("last"):
        return f"policy: {name} — {names[Side(match.group('last'))]} was edited last"
    if name in ("lead", "card"):
        return f"policy: {names[Side(name)]} always wins"
    return f"policy: {name}"


def noticed(
    items: Iterable[Activity], mapping: FieldMapping, systems: Mapping[Side, str], kinds: Iterable[str] = NOTICED
) -> list[str]:
    """The lines of what a snapshot diff does not show: conflicts, then skipped, held and failed records."""
    wanted = tuple(kinds)
    lines = []
    for item in sorted((i for i in items if i.kind in wanted), key=lambda i: (wanted.index(i.kind), i.at)):
        if item.kind == "conflict":
            lines.append(f"  ! conflict: {conflict(item, mapping, systems)}")
        else:
            lines.append(f"  ! {item.kind}: {item.message}")
    return lines


def _edit(system: str, field: str, value: Value) -> str:
    """An edit as the system's user made it: a Trello card is moved or renamed, a column is set."""
    if system != "trello":
        return f"{field} set to {_word(value)}"
    if field == "list":
        return f"card moved to {_word(value)}"
    if field == "name":
        return f"card renamed to {_word(value)}"
    label = field.split(":", 1)[1] if field.startswith("desc:") else field
    return f"card's {label} set to {_word(value)}"


def _word(value: Value) -> str:
    return "(empty)" if value is None or value == "" else str(value)
