"""End-to-end worlds: a lead tracker and a Trello board in the sandbox, driven like a person would.

A *world* hides which lead tracker is in use behind canonical names (name, email, status,
source), so one scenario runs unchanged against Notion, Airtable and Google Sheets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from leadsync.connectors import trello_desc

ROOT = Path(__file__).resolve().parents[2]
SCHEDULED_EVENT = json.loads((ROOT / "infra/events/scheduled.json").read_text())
STATUSES = ["New", "Contacted", "Qualified", "Lost"]
LISTS = ["To Do", "In Progress", "Done", "Lost"]
STATUS_TO_LIST = dict(zip(STATUSES, LISTS, strict=True))
LINK_LABEL = "leadsync-id"


class LeadTracker(Protocol):
    """A lead tracker as a person uses it (canonical field names)."""

    system: str

    def side_config(self) -> dict[str, Any]: ...
    def native(self) -> dict[str, str]: ...  # canonical -> native field name
    def add(self, **values: str | None) -> str: ...
    def edit(self, lead_id: str, **values: str | None) -> None: ...
    def delete(self, lead_id: str) -> None: ...
    def get(self, lead_id: str) -> dict[str, Any] | None: ...
    def all(self) -> list[dict[str, Any]]: ...


@dataclass
class NotionLeads:
    """A Notion database with a Name/Email/Status/Source/Trello Card data source."""

    sb: Any
    system: str = "notion"
    database_id: str = ""
    ds_id: str = ""
    fields: dict[str, str] = field(
        default_factory=lambda: {"name": "Name", "email": "Email", "status": "Status", "source": "Source"}
    )

    def __post_init__(self) -> None:
        self.database_id, self.ds_id = self.sb.notion.create_database(
            "Leads",
            {"Name": "title", "Email": "email", "Status": "status", "Source": "rich_text", "Trello Card": "rich_text"},
            status_options=STATUSES,
        )

    def side_config(self) -> dict[str, Any]:
        return {"system": "notion", "database_id": self.database_id}

    def native(self) -> dict[str, str]:
        return dict(self.fields)

    def _plain(self, values: dict[str, str | None]) -> dict[str, str | None]:
        return {self.fields[k]: v for k, v in values.items()}

    def add(self, **values: str | None) -> str:
        return self.sb.notion.user_create_page(self.ds_id, self._plain(values))

    def edit(self, lead_id: str, **values: str | None) -> None:
        self.sb.notion.user_update_page(lead_id, self._plain(values))

    def delete(self, lead_id: str) -> None:
        self.sb.notion.user_trash_page(lead_id)

    def get(self, lead_id: str) -> dict[str, Any] | None:
        page = self.sb.notion.page_values(lead_id)
        return self._canonical(page, lead_id)

    def all(self) -> list[dict[str, Any]]:
        return [self._canonical(p, p["_id"]) for p in self.sb.notion.pages(self.ds_id)]

    def _canonical(self, page: dict[str, Any], lead_id: str) -> dict[str, Any]:
        out = {k: page.get(v) for k, v in self.fields.items()}
        return {**out, "id": lead_id, "card": page.get("Trello Card"), "deleted": bool(page.get("_in_trash"))}


@dataclass
class Board:
    """A Trello board with the four default lists, used like a person would."""

    sb: Any
    board_id: str = ""

    def __post_init__(self) -> None:
        self.board_id = self.sb.trello.create_board("Sales pipeline", lists=LISTS)

    def list_id(self, name: str) -> str:
        return self.sb.trello.list_id(self.board_id, name)

    def cards(self, include_closed: bool = False) -> list[dict[str, Any]]:
        names = {self.list_id(n): n for n in LISTS}
        out = []
        for card in self.sb.trello.cards(self.board_id, include_closed=include_closed):
            desc = trello_desc.parse(card["desc"], LINK_LABEL)
            out.append(
                {
                    "id": card["id"],
                    "name": card["name"],
                    "list": names.get(card["idList"], card["idList"]),
                    "email": desc.values.get("Email"),
                    "source": desc.values.get("Source"),
                    "lead": desc.link,
                    "closed": card["closed"],
                    "text": desc.text,
                }
            )
        return out

    def card_for(self, lead_id: str) -> dict[str, Any]:
        found = [c for c in self.cards(include_closed=True) if c["lead"] == lead_id]
        assert len(found) == 1, f"expected exactly one card for lead {lead_id}, found {found}"
        return found[0]

    def move(self, card_id: str, list_name: str) -> None:
        self.sb.trello.user_move_card(card_id, self.list_id(list_name))

    def rename(self, card_id: str, name: str) -> None:
        self.sb.trello.user_update_card(card_id, name=name)

    def set_line(self, card_id: str, label: str, value: str) -> None:
        """Edit one ``Label: value`` line of the card description, as a person would in the editor."""
        desc = self.sb.trello.card(card_id)["desc"]
        lines = [f"{label}: {value}" if ln.startswith(f"{label}: ") else ln for ln in desc.splitlines()]
        self.sb.trello.user_update_card(card_id, desc="\n".join(lines))

    def add_card(self, name: str, list_name: str = "To Do", desc: str = "") -> str:
        return self.sb.trello.user_create_card(self.list_id(list_name), name, desc)

    def archive(self, card_id: str) -> None:
        self.sb.trello.user_archive_card(card_id)

    def delete(self, card_id: str) -> None:
        self.sb.trello.user_delete_card(card_id)


def pair_config(leads: LeadTracker, board: Board, **overrides: Any) -> dict[str, Any]:
    """The standard pair: name and email both ways, source lead -> card, status <-> list."""
    native = leads.native()
    config: dict[str, Any] = {
        "id": "e2e",
        "lead": leads.side_config(),
        "card": {"system": "trello", "board_id": board.board_id, "link_label": LINK_LABEL},
        "fields": {
            "name": {"lead": native["name"], "card": "name"},
            "email": {"lead": native["email"], "card": "desc:Email"},
            "source": {"lead": native["source"], "card": "desc:Source", "direction": "lead_to_card"},
            "status": {"lead": native["status"], "card": "list", "values": STATUS_TO_LIST},
        },
    }
    config.update(overrides)
    return {"pairs": [config]}


@dataclass
class Harness:
    """Runs the real Lambda handler against the sandbox and moto, one scheduled event per cycle."""

    sb: Any
    leads: LeadTracker
    board: Board
    config_path: Path
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    context_factory: Callable[[], Any]

    def configure(self, **overrides: Any) -> None:
        self.config_path.write_text(json.dumps(pair_config(self.leads, self.board, **overrides)))
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()

    def cycle(self, *, advance: float = 61.0) -> dict[str, Any]:
        """One scheduled invocation; then time moves on (as between two EventBridge ticks)."""
        result = self.handler(SCHEDULED_EVENT, self.context_factory())
        self.sb.clock.advance(advance)
        return result["pairs"]["e2e"]

    def writes(self) -> int:
        """Write requests the systems received so far (reads sent as POST, like Notion's query, excluded)."""
        return sum(
            1
            for emulator in self.sb.emulators.values()
            for method, path in emulator.requests
            if method in ("POST", "PUT", "PATCH", "DELETE") and not path.endswith(("/query", "/listRecords"))
        )


def environment(config_path: Path, sandbox_env: dict[str, str], table: str) -> dict[str, str]:
    """The Lambda's environment for a local run against the sandbox and moto."""
    return {
        **sandbox_env,
        "LEADSYNC_CONFIG_FILE": str(config_path),
        "LEADSYNC_TABLE": table,
        "NOTION_TOKEN": "ntn_e2e_secret_token_value",
        "TRELLO_API_KEY": "e2e0123456789abcdef0123456789abcd",
        "TRELLO_TOKEN": "ATTAe2e-secret-trello-token",
        "AIRTABLE_TOKEN": "pate2e.secret-airtable-token",
        "POWERTOOLS_METRICS_NAMESPACE": "Leadsync",
        "POWERTOOLS_SERVICE_NAME": "leadsync",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **{k: v for k, v in os.environ.items() if k == "PATH"},
    }
