"""The dispatcher's message order: pairs interleaved over the rate budgets their lead trackers share."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from leadsync.config import PairConfig
from leadsync.fanout import dispatch_order, lead_budget
from tests.unit.test_config import NOTION_DB

BOARD = "5f1a2b3c4d5e6f7a8b9c0d1e"
FIELDS = {"name": {"lead": "Name", "card": "name"}}


def _pair(pair_id: str, lead: dict[str, Any]) -> PairConfig:
    return PairConfig.model_validate(
        {
            "id": pair_id,
            "lead": lead,
            "card": {"system": "trello", "board_id": BOARD},
            "fields": FIELDS,
            "status_field": None,
        }
    )


def notion(i: int) -> PairConfig:
    return _pair(f"n{i}", {"system": "notion", "database_id": NOTION_DB})


def airtable(i: int, base: str) -> PairConfig:
    return _pair(f"a{i}", {"system": "airtable", "base_id": base, "table": f"Leads {i}"})


def sheets(i: int) -> PairConfig:
    return _pair(f"s{i}", {"system": "sheets", "spreadsheet_id": f"sheet-{i:06d}"})


BASE_A, BASE_B = "appAAAAAAAAAAAAAA", "appBBBBBBBBBBBBBB"


def test_a_block_of_one_budget_is_spread_among_the_others() -> None:
    pairs = [notion(i) for i in range(4)] + [airtable(i, BASE_A) for i in range(2)] + [airtable(9, BASE_B), sheets(0)]
    order = [p.id for p in dispatch_order(pairs)]
    assert order == ["n0", "a0", "a9", "s0", "n1", "a1", "n2", "n3"]


def test_airtable_pairs_share_a_budget_per_base_and_the_others_per_system() -> None:
    assert lead_budget(airtable(1, BASE_A)) == lead_budget(airtable(2, BASE_A)) != lead_budget(airtable(3, BASE_B))
    assert lead_budget(notion(1)) == lead_budget(notion(2)) == ("notion",)
    assert lead_budget(sheets(1)) == lead_budget(sheets(2)) == ("sheets",)


def test_the_order_is_a_permutation_that_keeps_each_budgets_config_order() -> None:
    rng = random.Random(7)
    for _ in range(200):
        pairs = [
            rng.choice([notion, lambda i: airtable(i, rng.choice([BASE_A, BASE_B])), sheets])(i)
            for i in range(rng.randint(0, 30))
        ]
        order = dispatch_order(pairs)
        assert sorted(p.id for p in order) == sorted(p.id for p in pairs)
        for budget in {lead_budget(p) for p in pairs}:
            assert [p.id for p in order if lead_budget(p) == budget] == [
                p.id for p in pairs if lead_budget(p) == budget
            ]
        # no budget runs ahead: after any prefix, the budgets that still have pairs left have
        # each had the same number of turns, give or take one
        totals = Counter(lead_budget(p) for p in pairs)
        seen: Counter[tuple[str, ...]] = Counter()
        for pair in order:
            seen[lead_budget(pair)] += 1
            open_counts = [seen[b] for b in totals if seen[b] < totals[b]]
            assert not open_counts or max(open_counts) - min(open_counts) <= 1
