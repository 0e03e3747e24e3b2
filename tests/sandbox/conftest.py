"""Shared fixtures: one emulator server per test session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.airtable import AirtableEmulator
from sandbox.notion import NotionEmulator
from sandbox.trello import TrelloEmulator


@pytest.fixture(scope="session")
def _notion_server() -> Iterator[NotionEmulator]:
    emulator = NotionEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def notion(_notion_server: NotionEmulator) -> NotionEmulator:
    """A running Notion emulator with no data, faults or limits."""
    _notion_server.reset()
    _notion_server.clock.reset()
    return _notion_server


@pytest.fixture(scope="session")
def _trello_server() -> Iterator[TrelloEmulator]:
    emulator = TrelloEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def trello(_trello_server: TrelloEmulator) -> TrelloEmulator:
    """A running Trello emulator with no data, faults or limits."""
    _trello_server.reset()
    _trello_server.clock.reset()
    return _trello_server


AIRTABLE_FIELDS = {
    "Name": "singleLineText",
    "Email": "email",
    "Status": "singleSelect",
    "Score": "number",
    "Last Modified": "lastModifiedTime",
}


@pytest.fixture(scope="session")
def _airtable_server() -> Iterator[AirtableEmulator]:
    emulator = AirtableEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def airtable(_airtable_server: AirtableEmulator) -> AirtableEmulator:
    _airtable_server.reset()
    _airtable_server.clock.reset()
    return _airtable_server


@pytest.fixture
def airtable_base(airtable: AirtableEmulator) -> str:
    """A base with a Leads table of AIRTABLE_FIELDS (Status options New and Won)."""
    base_id, _ = airtable.create_base({"Leads": AIRTABLE_FIELDS}, select_options={"Leads": {"Status": ["New", "Won"]}})
    return base_id
