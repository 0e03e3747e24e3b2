"""Rules: only the records a pair's ``rules`` admit are planned (see ``leadsync.core.rules``).

A view or filter rule (``MemberRule``) needs its members: they are read here, in one listing of
ids (Airtable: the view with one small field; Notion: the filter with only the title property),
and only on a cycle that has records of that side to decide on (a sweep, or records that changed),
so a cycle with no change costs no extra request. The fetch itself never uses the view or filter:
a record outside it is not taken for deleted, it only leaves the rule. On a sweep, a record
outside the rule that was skipped as unchanged is taken again, so a view whose definition changed
detaches its former members.
"""

from __future__ import annotations

from dataclasses import replace

from leadsync.core import rules
from leadsync.core.models import Link, Side
from leadsync.cycle import fetch
from leadsync.cycle.working import Cycle
from leadsync.errors import ApiError, LeadsyncError


def select(cycle: Cycle, links: list[Link]) -> rules.Selection:
    """What the planner gets; links of records that left their rule come back as detaching units."""
    side_rules = cycle.pair.config.sync_rules()
    for side, side_rule in list(side_rules.items()):
        if isinstance(side_rule, rules.MemberRule):
            side_rules[side] = _with_members(cycle, side, side_rule)
    leads, cards = cycle.records[Side.LEAD], cycle.records[Side.CARD]
    if not side_rules:
        return rules.Selection(links, dict(leads), dict(cards), [], {Side.LEAD: [], Side.CARD: []})
    return rules.select(side_rules, links, leads, cards)


def _with_members(cycle: Cycle, side: Side, rule: rules.MemberRule) -> rules.MemberRule:
    """The rule with its members read, when this cycle has records of ``side`` to decide on."""
    fetched = cycle.fetched.get(side)
    swept = fetched is not None and fetched.complete
    if not cycle.records[side] and not swept:
        return rule  # nothing to decide on: no membership read (a no-change cycle costs nothing more)
    members = read_members(cycle, side)
    if members is None:
        return rule
    found = replace(rule, members=members)
    if swept and fetched is not None:  # unchanged records outside the rule: taken again to be detached
        for record in fetched.records:
            if record.id not in cycle.records[side] and not found.admits(record):
                fetch.take(cycle, side, record, force=True)
    return found


def read_members(cycle: Cycle, side: Side) -> frozenset[str] | None:
    """The ids a side's view or filter holds now (one listing; counted in ``report.read``).

    A refusal (a view that does not exist, a filter Notion rejects) or a capped listing fails the
    cycle with the setting's path: guessing the members would detach, or create, the wrong records.
    """
    cfg = cycle.pair.config.rule_config(side)
    connector = cycle.pair.connector(side)
    if cfg is None or cfg.kind not in ("view", "filter"):
        return None
    where = f"rules.{side.value}.{cfg.kind}"
    try:
        if cfg.view is not None:
            members: frozenset[str] | None = connector.view_members(cfg.view)  # type: ignore[attr-defined]
        else:
            members = connector.filter_members(cfg.filter or {})  # type: ignore[attr-defined]
    except ApiError as exc:
        raise LeadsyncError(f"{where}: {connector.system} refused the read of who is in it: {exc}") from exc
    if members is None:
        raise LeadsyncError(f"{where}: Notion capped the listing of the filter's pages; make the filter narrower")
    cycle.report.read[f"{side.value}_rule"] = len(members)
    return members
