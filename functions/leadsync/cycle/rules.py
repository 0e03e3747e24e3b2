"""Rules: only the records a pair's ``rules`` admit are planned (see ``leadsync.core.rules``)."""

from __future__ import annotations

from leadsync.core import rules
from leadsync.core.models import Link, Side
from leadsync.cycle.working import Cycle


def select(cycle: Cycle, links: list[Link]) -> rules.Selection:
    """What the planner gets; links of records that left their rule come back as detaching units."""
    leads, cards = cycle.records[Side.LEAD], cycle.records[Side.CARD]
    side_rules = cycle.pair.config.sync_rules()
    if not side_rules:
        return rules.Selection(links, dict(leads), dict(cards), [], {Side.LEAD: [], Side.CARD: []})
    return rules.select(side_rules, links, leads, cards)
