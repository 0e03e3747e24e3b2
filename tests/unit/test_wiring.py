"""The composition function builds each system's connector the way its own module says to."""

from __future__ import annotations

from leadsync.config import Settings, parse_config
from leadsync.connectors.airtable import PenaltyAdapter
from leadsync.connectors.deadline import Deadline
from leadsync.credentials import Credentials
from leadsync.wiring import build_runtime

CREDS = Credentials(notion_token="ntn_x", trello_key="k" * 32, trello_token="ATTAx", airtable_token="patx")


def _pair(lead: dict[str, str], card: dict[str, str]) -> object:
    return parse_config(
        {
            "id": "p",
            "lead": lead,
            "card": card,
            "fields": {"name": {"lead": "Name", "card": "name" if card["system"] == "trello" else "Name"}},
            "status_field": None,
        }
    ).pairs[0]


def test_base_urls_come_from_the_settings_and_credentials_only_go_in_headers() -> None:
    settings = Settings(notion_base_url="http://127.0.0.1:1", trello_base_url="http://127.0.0.1:2/1")
    pair = _pair({"system": "notion", "database_id": "a" * 32}, {"system": "trello", "board_id": "b" * 24})
    runtime = build_runtime(pair, settings, CREDS, Deadline.never())  # type: ignore[arg-type]
    lead, card = runtime.lead.transport, runtime.card.transport  # type: ignore[attr-defined]
    assert (lead.base_url, card.base_url) == ("http://127.0.0.1:1", "http://127.0.0.1:2/1")
    assert lead._headers["Notion-Version"] == "2025-09-03"
    assert card._headers["Authorization"].startswith('OAuth oauth_consumer_key="kkkk')
    assert "ATTAx" not in card.base_url


def test_airtable_transports_wait_out_the_lockout_after_a_429() -> None:
    settings = Settings(airtable_base_url="http://127.0.0.1:3")
    pair = _pair(
        {"system": "airtable", "base_id": "app" + "A" * 14, "table": "Leads"},
        {"system": "airtable", "base_id": "app" + "B" * 14, "table": "Cards", "archived_field": "Archived"},
    )
    runtime = build_runtime(pair, settings, CREDS, Deadline.never())  # type: ignore[arg-type]
    transport = runtime.lead.transport  # type: ignore[attr-defined]
    assert isinstance(transport.session.adapters[transport.base_url + "/"], PenaltyAdapter)
