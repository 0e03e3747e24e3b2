"""What the hostile soak found in the product, pinned as a minimal test (tests/soak/hostile.py).

A lead whose link field names a card of ANOTHER board: the Trello connector's direct read used to
return that card as ``deleted`` ("moved off the board"), so the planner stored a tombstone link to
the foreign card and the lead never got a card. Now a card of another board is "not found" for the
pair: the marker is ignored and reported, and the lead gets its own card.
"""

from __future__ import annotations

from tests.soak.env import SoakEnvironment
from tests.soak.hostile import set_link_field
from tests.soak.model import PAIR
from tests.support.e2e import Board


def test_a_lead_naming_a_card_of_another_board_ignores_the_marker_and_gets_its_own_card(
    soak_env: SoakEnvironment,
) -> None:
    h = soak_env.harness("notion")
    try:
        other = Board(h.sb)
        foreign_card = other.add_card("Someone else's card", "To Do")
        before = h.sb.trello.card(foreign_card)
        lead = h.leads.add(name="Typed A Card Id", email="t@example.com", status="New", source="Web")
        set_link_field(h, lead, foreign_card)

        first = h.cycle()
        h.cycle()

        assert h.sb.trello.card(foreign_card) == before, "the foreign card is untouched"
        assert all(link.card_id != foreign_card for link in soak_env.state_store().all_links(PAIR))
        assert first["problems"] >= 1, "the refused foreign link is reported"
        assert h.board.card_for(lead)["name"] == "Typed A Card Id"
    finally:
        soak_env.cleanup()
