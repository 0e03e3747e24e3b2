"""What the hostile soak found in the product, pinned as minimal tests (tests/soak/hostile.py).

A lead whose link field names a card of ANOTHER board: the Trello connector's direct read returns
that card as ``deleted`` ("moved off the board") instead of "not found for this pair", so the
planner adopts it as an archived card: a tombstone link to the foreign card is stored, no problem
is reported, and the lead never gets a card. Issue 15 asks for a foreign record to be "not found"
for the pair and logged as a refused foreign link (the marker ignored, as for a card naming a page
of another Notion database). The soak leaves foreign card ids out of its garbled link fields until
this is fixed (``strict``: the test turns red when it starts passing, to remove the xfail).
"""

from __future__ import annotations

import pytest

from tests.soak.env import SoakEnvironment
from tests.soak.hostile import set_link_field
from tests.soak.model import PAIR
from tests.support.e2e import Board


@pytest.mark.xfail(strict=True, reason="product bug: a lead naming another board's card is never given a card")
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
