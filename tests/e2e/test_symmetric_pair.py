"""The engine is symmetric: a Notion database synced with an Airtable table (no Trello at all)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox import Sandbox
from tests.e2e.conftest import fresh_environment
from tests.support.e2e import SCHEDULED_EVENT, STATUSES, NotionLeads
from tests.support.lambda_context import FakeLambdaContext

STAGES = {"New": "Inbox", "Contacted": "Working", "Qualified": "Won", "Lost": "Dropped"}


class Pipeline:
    """An Airtable table playing the work tracker: Deal, Email, Stage, Notion Page, Last Modified."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.base_id, tables = sb.airtable.create_base(
            tables={
                "Pipeline": {
                    "Deal": "singleLineText",
                    "Email": "email",
                    "Stage": "singleSelect",
                    "Notion Page": "singleLineText",
                    "Last Modified": "lastModifiedTime",
                    "Archived": "checkbox",
                }
            },
            select_options={"Pipeline": {"Stage": list(STAGES.values())}},
        )
        self.table_id = tables["Pipeline"]

    def records(self) -> list[dict[str, Any]]:
        return [r["fields"] | {"id": r["id"]} for r in self.sb.airtable.records(self.base_id, "Pipeline")]

    def for_lead(self, lead_id: str) -> dict[str, Any]:
        found = [r for r in self.records() if r.get("Notion Page") == lead_id]
        assert len(found) == 1, found
        return found[0]


@pytest.fixture
def pair(
    sandbox: Sandbox, aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[NotionLeads, Pipeline, Any]:
    config_path = fresh_environment(sandbox, aws, tmp_path, monkeypatch)
    leads, pipeline = NotionLeads(sandbox), Pipeline(sandbox)
    config = {
        "id": "notion-airtable",
        "lead": leads.side_config(),
        "card": {
            "system": "airtable",
            "base_id": pipeline.base_id,
            "table": "Pipeline",
            "link_field": "Notion Page",
            "archived_field": "Archived",
        },
        "fields": {
            "name": {"lead": "Name", "card": "Deal"},
            "email": {"lead": "Email", "card": "Email"},
            "status": {"lead": "Status", "card": "Stage", "values": STAGES},
        },
    }
    config_path.write_text(json.dumps(config))
    from handlers.scheduled_sync import handler

    def cycle() -> dict[str, Any]:
        result = handler(SCHEDULED_EVENT, FakeLambdaContext())["pairs"]["notion-airtable"]
        sandbox.clock.advance(61)
        return result

    return leads, pipeline, cycle


def test_notion_leads_become_airtable_records_and_stay_in_step_both_ways(pair: tuple[Any, Any, Any]) -> None:
    leads, pipeline, cycle = pair
    assert set(STAGES) == set(STATUSES)
    ada = leads.add(name="Ada", email="ada@example.com", status="New", source="Web")
    grace = leads.add(name="Grace", email="grace@example.com", status="Contacted", source="Web")

    assert cycle()["status"] == "synced"
    assert pipeline.for_lead(ada)["Stage"] == "Inbox"
    assert pipeline.for_lead(grace)["Stage"] == "Working"
    assert leads.get(ada)["card"] == pipeline.for_lead(ada)["id"]

    leads.edit(ada, status="Qualified")
    pipeline.sb.airtable.user_update_record(
        pipeline.base_id, "Pipeline", pipeline.for_lead(grace)["id"], {"Stage": "Dropped", "Email": "g@navy.example"}
    )
    cycle()

    assert pipeline.for_lead(ada)["Stage"] == "Won"
    assert (leads.get(grace)["status"], leads.get(grace)["email"]) == ("Lost", "g@navy.example")
    cycle()  # the echo of our own writes
    assert cycle()["applied"] == {}
    assert len(pipeline.records()) == 2
