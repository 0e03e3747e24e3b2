"""The official notion-client works against the Notion emulator for every call leadsync makes."""

from __future__ import annotations

import pytest
from notion_client import APIResponseError, Client
from notion_client.helpers import collect_paginated_api

from sandbox.notion import NotionEmulator

TOKEN = "ntn_sandbox_token"


@pytest.fixture
def client(notion: NotionEmulator) -> Client:
    return Client(auth=TOKEN, base_url=notion.url, timeout_ms=5000)


@pytest.fixture
def leads(notion: NotionEmulator) -> tuple[str, str]:
    return notion.create_database(
        title="Leads",
        properties={
            "Name": "title",
            "Email": "email",
            "Status": "status",
            "Source": "select",
            "Trello Card": "rich_text",
        },
        status_options=["New", "Contacted", "Qualified", "Lost"],
    )


def test_database_retrieve_lists_its_data_source(client: Client, leads: tuple[str, str]) -> None:
    db_id, ds_id = leads
    database = client.databases.retrieve(database_id=db_id)
    assert database["object"] == "database"
    assert database["data_sources"] == [{"id": ds_id, "name": "Leads"}]


def test_data_source_retrieve_has_status_options_with_ids_and_colors(client: Client, leads: tuple[str, str]) -> None:
    _, ds_id = leads
    schema = client.data_sources.retrieve(data_source_id=ds_id)
    status = schema["properties"]["Status"]
    assert status["type"] == "status"
    assert [o["name"] for o in status["status"]["options"]] == ["New", "Contacted", "Qualified", "Lost"]
    assert all(o["id"] and o["color"] for o in status["status"]["options"])
    assert schema["properties"]["Name"]["id"] == "title"


def test_page_create_retrieve_update_round_trip(client: Client, notion: NotionEmulator, leads: tuple[str, str]) -> None:
    _, ds_id = leads
    created = client.pages.create(
        parent={"type": "data_source_id", "data_source_id": ds_id},
        properties={
            "Name": {"title": [{"text": {"content": "Ada Lovelace"}}]},
            "Email": {"email": "ada@example.com"},
            "Status": {"status": {"name": "New"}},
        },
    )
    assert created["parent"] == {"type": "data_source_id", "data_source_id": ds_id, "database_id": leads[0]}
    updated = client.pages.update(page_id=created["id"], properties={"Status": {"status": {"name": "Contacted"}}})
    assert updated["properties"]["Status"]["status"]["name"] == "Contacted"
    fetched = client.pages.retrieve(page_id=created["id"].replace("-", ""))
    assert fetched["properties"]["Name"]["title"][0]["plain_text"] == "Ada Lovelace"
    assert fetched["properties"]["Email"]["email"] == "ada@example.com"
    assert notion.page_values(created["id"])["Status"] == "Contacted"


def test_trash_hides_page_from_query_but_retrieve_still_shows_it(
    client: Client, notion: NotionEmulator, leads: tuple[str, str]
) -> None:
    _, ds_id = leads
    page_id = notion.user_create_page(ds_id, {"Name": "Grace"})
    trashed = client.pages.update(page_id=page_id, in_trash=True)
    assert trashed["in_trash"] is True
    assert client.data_sources.query(data_source_id=ds_id)["results"] == []
    assert client.pages.retrieve(page_id=page_id)["in_trash"] is True
    client.pages.update(page_id=page_id, in_trash=False)
    assert len(client.data_sources.query(data_source_id=ds_id)["results"]) == 1


def test_query_with_filter_sorts_and_pagination_collects_every_match(
    client: Client, notion: NotionEmulator, leads: tuple[str, str]
) -> None:
    _, ds_id = leads
    for i in range(7):
        notion.user_create_page(ds_id, {"Name": f"Lead {i}", "Status": "New" if i % 2 == 0 else "Lost"})
        notion.clock.advance(60)
    results = collect_paginated_api(
        client.data_sources.query,
        data_source_id=ds_id,
        filter={
            "and": [
                {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": "2000-01-01T00:00:00Z"}},
                {"property": "Status", "status": {"does_not_equal": "Lost"}},
            ]
        },
        sorts=[{"timestamp": "last_edited_time", "direction": "descending"}],
        page_size=2,
    )
    names = [r["properties"]["Name"]["title"][0]["plain_text"] for r in results]
    assert names == ["Lead 6", "Lead 4", "Lead 2", "Lead 0"]
    assert notion.request_count("POST", "/v1/data_sources/") == 2


def test_validation_error_surfaces_as_api_response_error(client: Client, leads: tuple[str, str]) -> None:
    _, ds_id = leads
    with pytest.raises(APIResponseError) as info:
        client.pages.create(
            parent={"type": "data_source_id", "data_source_id": ds_id},
            properties={"Status": {"status": {"name": "Nonexistent"}}},
        )
    assert info.value.status == 400
    assert info.value.code == "validation_error"


def test_missing_page_raises_object_not_found(client: Client, leads: tuple[str, str]) -> None:
    with pytest.raises(APIResponseError) as info:
        client.pages.retrieve(page_id="00000000-0000-4000-8000-000000000000")
    assert info.value.code == "object_not_found"
