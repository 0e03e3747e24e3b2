"""The registration plan: one active webhook per (callback, board), ours told apart by the base URL."""

from __future__ import annotations

from leadsync.config import parse_config
from leadsync.webhooks.registry import TrelloHook, plan_trello, wanted_trello

BASE = "https://abc.execute-api.eu-west-1.amazonaws.com"
BOARD_A, BOARD_B = "a" * 24, "b" * 24


def _pairs() -> list:
    fields = {"name": {"lead": "Name", "card": "name"}}
    notion = {"system": "notion", "database_id": "0" * 32}
    return parse_config(
        {
            "pairs": [
                {
                    "id": "one",
                    "lead": notion,
                    "card": {"system": "trello", "board_id": BOARD_A},
                    "fields": fields,
                    "status_field": None,
                },
                {
                    "id": "two",
                    "lead": notion,
                    "card": {"system": "trello", "board_id": BOARD_B.upper()},
                    "fields": fields,
                    "status_field": None,
                },
            ]
        }
    ).pairs


def test_each_pair_wants_one_webhook_on_its_board_at_its_route() -> None:
    wanted = wanted_trello(_pairs(), BASE + "/")
    assert [(w.callback_url, w.model_id, w.pair) for w in wanted] == [
        (f"{BASE}/webhooks/trello/one", BOARD_A, "one"),
        (f"{BASE}/webhooks/trello/two", BOARD_B, "two"),  # ids compared in canonical (lowercase) form
    ]


def test_a_second_register_changes_nothing() -> None:
    wanted = wanted_trello(_pairs(), BASE)
    existing = [TrelloHook(w.callback_url, w.model_id, id=str(i) * 24) for i, w in enumerate(wanted, 1)]
    plan = plan_trello(wanted, existing, BASE)
    assert (plan.create, plan.delete) == ((), ())
    assert len(plan.keep) == 2


def test_duplicates_disabled_and_stale_webhooks_are_replaced_and_foreign_ones_left_alone() -> None:
    wanted = wanted_trello(_pairs(), BASE)
    one = wanted[0]
    existing = [
        TrelloHook(one.callback_url, one.model_id, id="1" * 24),
        TrelloHook(one.callback_url, one.model_id, id="2" * 24),  # a duplicate
        TrelloHook(wanted[1].callback_url, wanted[1].model_id, id="3" * 24, active=False),  # disabled by Trello
        TrelloHook(f"{BASE}/webhooks/trello/gone", "c" * 24, id="4" * 24),  # a pair no longer configured
        TrelloHook("https://zapier.example/hook", BOARD_A, id="5" * 24),  # not ours
    ]
    plan = plan_trello(wanted, existing, BASE)
    assert [h.id for h in plan.keep] == ["1" * 24]
    assert sorted(h.id for h in plan.delete) == ["2" * 24, "3" * 24, "4" * 24]
    assert [h.pair for h in plan.create] == ["two"]


def test_remove_deletes_all_of_ours_only() -> None:
    existing = [
        TrelloHook(f"{BASE}/webhooks/trello/one", BOARD_A, id="1" * 24),
        TrelloHook("https://other.example/webhooks/trello/one", BOARD_A, id="2" * 24),
    ]
    plan = plan_trello([], existing, BASE)
    assert [h.id for h in plan.delete] == ["1" * 24]
    assert plan.create == ()
