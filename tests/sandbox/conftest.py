"""Shared fixtures: one emulator server per test session, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
