"""Fixtures for the connector contract suite: one harness per system, over HTTP to the sandbox.

A harness bundles a connector (on a fresh database/board), a "user" who edits the system
out of band through the sandbox's helpers, and the example values the shared test bodies use.
To add a system (Airtable, Sheets), write a `_<system>_harness` function and add its name to
`CONNECTORS`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
import requests

from leadsync.connectors import notion as notion_module
from leadsync.connectors import trello as trello_module
from leadsync.connectors import trello_desc
from leadsync.connectors.base import Connector
from leadsync.connectors.ratelimit import Limit
from leadsync.core.models import Fields
from sandbox import Sandbox

# Fast enough for tests, still exercising the limiter; each harness has its own credential.
TEST_LIMIT = Limit(500.0, 500.0)


class User(Protocol):
    """A person editing the system in its own UI (out of band for leadsync)."""

    def create(self, fields: Fields) -> str: ...
    def edit(self, record_id: str, fields: Fields) -> None: ...
    def archive(self, record_id: str) -> None: ...
    def hard_delete(self, record_id: str) -> None: ...
    def values(self, record_id: str) -> Fields | None: ...


@dataclass
class Harness:
    """Everything a contract test needs for one system."""

    name: str
    connector: Connector
    user: User
    emulator: Any
    sandbox: Sandbox
    secrets: list[str]
    sample: Fields  # valid values for every field
    edit: Fields  # different valid values for some fields
    text_field: str  # a free-text field for unicode and long values
    long_text_length: int
    invalid_update: Fields  # passes client-side checks, rejected by the server with a 4xx
    missing_id: str  # a well-formed id of no record
    settle: Callable[[], None]  # let time pass so earlier edits fall outside any overlap window
    exact_incremental: bool  # fetch_changed(cursor) returns exactly the changed records
    urls: list[str] = field(default_factory=list)  # every URL the connector's session requested

    @property
    def transport(self) -> Any:
        return self.connector.transport  # type: ignore[attr-defined]


def _session(urls: list[str]) -> requests.Session:
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: urls.append(response.request.url))
    return session


# -- Notion ------------------------------------------------------------------------------------


class NotionUser:
    def __init__(self, emulator: Any, data_source_id: str, fields: list[str]) -> None:
        self.emulator = emulator
        self.data_source_id = data_source_id
        self.fields = fields

    def create(self, fields: Fields) -> str:
        return str(self.emulator.user_create_page(self.data_source_id, dict(fields)))

    def edit(self, record_id: str, fields: Fields) -> None:
        self.emulator.user_update_page(record_id, dict(fields))

    def archive(self, record_id: str) -> None:
        self.emulator.user_trash_page(record_id)

    def hard_delete(self, record_id: str) -> None:
        pytest.skip("Notion pages cannot be deleted for good through the API or the sandbox")

    def values(self, record_id: str) -> Fields | None:
        values = self.emulator.page_values(record_id)
        return {name: (values.get(name) or None) for name in self.fields}


def _notion_harness(sb: Sandbox) -> Harness:
    emulator = sb.notion
    fields = ["Name", "Email", "Status", "Source", "Notes"]
    _, ds_id = emulator.create_database(
        title="Leads",
        properties={
            "Name": "title",
            "Email": "email",
            "Status": "status",
            "Source": "select",
            "Notes": "rich_text",
            "Trello Card": "rich_text",
        },
        status_options=["New", "Contacted", "Qualified", "Lost"],
    )
    database_id = emulator.data_sources[ds_id].database_id
    token = f"ntn_{uuid.uuid4().hex}"
    urls: list[str] = []
    transport = notion_module.notion_transport(
        token, base_url=sb.notion.url, limit=TEST_LIMIT, session=_session(urls), timeout=5.0
    )
    connector = notion_module.NotionConnector(transport, database_id=database_id, fields=fields)
    return Harness(
        name="notion",
        connector=connector,
        user=NotionUser(emulator, ds_id, fields),
        emulator=emulator,
        sandbox=sb,
        secrets=[token],
        sample={"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", "Source": "Web", "Notes": None},
        edit={"Status": "Contacted", "Notes": "Called on Monday"},
        text_field="Notes",
        long_text_length=4500,  # more than two rich-text items
        invalid_update={"Email": "x" * 190 + "@example.com"},  # Notion: email.length should be <= 200
        missing_id=str(uuid.uuid4()),
        settle=lambda: sb.clock.advance(connector.overlap.total_seconds() + 120),
        exact_incremental=False,
        urls=urls,
    )


# -- Trello ------------------------------------------------------------------------------------


class TrelloUser:
    def __init__(self, emulator: Any, board_id: str, fields: list[str], link_label: str) -> None:
        self.emulator = emulator
        self.board_id = board_id
        self.fields = fields
        self.link_label = link_label

    def _desc(self, current: str, fields: Fields) -> str:
        values = {k[5:]: v for k, v in fields.items() if k.startswith("desc:")}
        return trello_desc.apply(
            current, self.link_label, text=fields.get("desc"), set_text="desc" in fields, values=values
        )

    def create(self, fields: Fields) -> str:
        list_id = self.emulator.list_id(self.board_id, fields["list"])
        return str(self.emulator.user_create_card(list_id, fields.get("name") or "", self._desc("", fields)))

    def edit(self, record_id: str, fields: Fields) -> None:
        if "list" in fields:
            self.emulator.user_move_card(record_id, self.emulator.list_id(self.board_id, fields["list"]))
        card = self.emulator.card(record_id)
        desc = self._desc(card["desc"], fields)
        self.emulator.user_update_card(record_id, name=fields.get("name"), desc=desc if desc != card["desc"] else None)

    def archive(self, record_id: str) -> None:
        self.emulator.user_archive_card(record_id)

    def hard_delete(self, record_id: str) -> None:
        self.emulator.user_delete_card(record_id)

    def values(self, record_id: str) -> Fields | None:
        card = self.emulator.card(record_id)
        if card is None:
            return None
        parsed = trello_desc.parse(card["desc"], self.link_label)
        list_name = self.emulator.lists[card["idList"]].name
        out: Fields = {}
        for name in self.fields:
            if name == "name":
                out[name] = card["name"] or None
            elif name == "list":
                out[name] = list_name
            elif name == "desc":
                out[name] = parsed.text or None
            else:
                out[name] = parsed.values.get(name[5:])
        return out


def _trello_harness(sb: Sandbox) -> Harness:
    emulator = sb.trello
    fields = ["name", "list", "desc", "desc:Email", "desc:Source"]
    board_id = emulator.create_board("Leads", ["New", "Contacted", "Qualified", "Lost"])
    key, token = uuid.uuid4().hex, f"ATTA{uuid.uuid4().hex}{uuid.uuid4().hex}"
    urls: list[str] = []
    transport = trello_module.trello_transport(
        key, token, base_url=sb.trello.url, limit=TEST_LIMIT, session=_session(urls), timeout=5.0
    )
    connector = trello_module.TrelloConnector(transport, board_id=board_id, fields=fields)
    return Harness(
        name="trello",
        connector=connector,
        user=TrelloUser(emulator, board_id, fields, connector.link_label),
        emulator=emulator,
        sandbox=sb,
        secrets=[key, token],
        sample={
            "name": "Ada Lovelace",
            "list": "New",
            "desc": None,
            "desc:Email": "ada@example.com",
            "desc:Source": "Web",
        },
        edit={"list": "Contacted", "desc": "Called on Monday"},
        text_field="desc",
        long_text_length=9000,
        invalid_update={"name": "n" * 16385},  # Trello: invalid value for name (max 16384)
        missing_id="5f0000000000000000000000",
        settle=lambda: sb.clock.advance(1),
        exact_incremental=True,
        urls=urls,
    )


HARNESSES: dict[str, Callable[[Sandbox], Harness]] = {
    "notion": _notion_harness,
    "trello": _trello_harness,
}
CONNECTORS = list(HARNESSES)


@pytest.fixture(name="connector_sandbox", scope="module")
def connector_sandbox_fixture() -> Iterator[Sandbox]:
    with Sandbox.start(only=("notion", "trello")) as sb:
        yield sb


@pytest.fixture(name="harness", params=CONNECTORS)
def harness_fixture(
    request: pytest.FixtureRequest, connector_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> Harness:
    """A connector on a fresh database/board, its user, faults cleared, logs captured at DEBUG."""
    sb = connector_sandbox
    for emulator in sb.emulators.values():
        emulator.faults.clear()
        emulator.clear_requests()
    caplog.set_level(logging.DEBUG, logger="leadsync")
    return HARNESSES[request.param](sb)
