"""Direct HTTP checks of the Notion emulator: error bodies, minute rounding, pagination, filters, limits."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.notion import NotionEmulator

HEADERS = {"Authorization": "Bearer ntn_test", "Notion-Version": "2025-09-03"}


def call(notion: NotionEmulator, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
    headers = kwargs.pop("headers", HEADERS)
    return requests.request(method, notion.url + path, json=body, headers=headers, timeout=5, **kwargs)


@pytest.fixture
def ds_id(notion: NotionEmulator) -> str:
    return notion.create_database(
        properties={"Name": "title", "Email": "email", "Status": "status", "Source": "select", "Notes": "rich_text"},
        status_options=["New", "Contacted", "Lost"],
        select_options={"Source": ["Web", "Referral"]},
    )[1]


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status
    assert body["object"] == "error"
    assert body["status"] == status
    assert body["code"] == code
    assert body["message"]
    assert body["request_id"]
    return body


def test_missing_version_header_is_400_missing_version(notion: NotionEmulator, ds_id: str) -> None:
    response = call(notion, "GET", f"/v1/data_sources/{ds_id}", headers={"Authorization": "Bearer t"})
    assert_error(response, 400, "missing_version")


def test_missing_or_unregistered_token_is_401_unauthorized(notion: NotionEmulator, ds_id: str) -> None:
    assert_error(
        call(notion, "GET", f"/v1/data_sources/{ds_id}", headers={"Notion-Version": "2025-09-03"}), 401, "unauthorized"
    )
    notion.require_token("ntn_other")
    assert_error(call(notion, "GET", f"/v1/data_sources/{ds_id}"), 401, "unauthorized")


def test_a_refused_token_or_scheme_is_401_unauthorized(notion: NotionEmulator, ds_id: str) -> None:
    notion.require_token("ntn_good")
    path = f"/v1/data_sources/{ds_id}"
    for auth in ("Bearer ntn_bad", "ntn_good", "Basic ntn_good"):
        response = call(notion, "GET", path, headers={"Authorization": auth, "Notion-Version": "2025-09-03"})
        assert assert_error(response, 401, "unauthorized")["message"] == "API token is invalid."
    assert call(notion, "GET", path, headers={"Authorization": "Bearer ntn_good"}).status_code == 400  # no version
    good = call(notion, "GET", path, headers={"Authorization": "Bearer ntn_good", "Notion-Version": "2025-09-03"})
    assert good.status_code == 200


def test_unknown_page_is_404_and_malformed_id_is_400(notion: NotionEmulator) -> None:
    assert_error(call(notion, "GET", "/v1/pages/" + "a" * 32), 404, "object_not_found")
    assert_error(call(notion, "GET", "/v1/pages/not-a-uuid"), 400, "validation_error")


def test_invalid_json_body_is_400_invalid_json(notion: NotionEmulator, ds_id: str) -> None:
    response = requests.post(f"{notion.url}/v1/data_sources/{ds_id}/query", data=b"{nope", headers=HEADERS, timeout=5)
    assert_error(response, 400, "invalid_json")


def test_last_edited_time_is_rounded_down_to_the_minute(notion: NotionEmulator, ds_id: str) -> None:
    now = notion.clock.time()
    notion.clock.advance(59 - now % 60)  # second 59 of the current minute
    page_id = notion.user_create_page(ds_id, {"Name": "Ada"})
    page = call(notion, "GET", f"/v1/pages/{page_id}").json()
    minute_start = notion.clock.now().replace(second=0, microsecond=0)
    assert page["last_edited_time"] == minute_start.strftime("%Y-%m-%dT%H:%M:00.000Z")
    exact = notion.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    after_exact = {"filter": {"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": exact}}}
    assert call(notion, "POST", f"/v1/data_sources/{ds_id}/query", after_exact).json()["results"] == []


def test_page_size_above_100_is_a_validation_error(notion: NotionEmulator, ds_id: str) -> None:
    body = assert_error(
        call(notion, "POST", f"/v1/data_sources/{ds_id}/query", {"page_size": 101}), 400, "validation_error"
    )
    assert "100" in body["message"]


def test_cursor_pagination_returns_each_page_once(notion: NotionEmulator, ds_id: str) -> None:
    ids = [notion.user_create_page(ds_id, {"Name": f"P{i}"}) for i in range(5)]
    seen, cursor, calls = [], None, 0
    while True:
        body = {"page_size": 2} | ({"start_cursor": cursor} if cursor else {})
        result = call(notion, "POST", f"/v1/data_sources/{ds_id}/query", body).json()
        calls += 1
        seen += [r["id"] for r in result["results"]]
        if not result["has_more"]:
            assert result["next_cursor"] is None
            break
        cursor = result["next_cursor"]
    assert seen == ids
    assert calls == 3


def test_result_cap_stops_pagination_with_request_status_incomplete(
    notion: NotionEmulator, ds_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notion, "result_cap", 5)
    for i in range(8):
        notion.user_create_page(ds_id, {"Name": f"P{i}"})
    first = call(notion, "POST", f"/v1/data_sources/{ds_id}/query", {"page_size": 3}).json()
    assert "request_status" not in first
    second = call(
        notion, "POST", f"/v1/data_sources/{ds_id}/query", {"page_size": 3, "start_cursor": first["next_cursor"]}
    ).json()
    assert len(second["results"]) == 2
    assert second["has_more"] is False
    assert second["request_status"] == {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}


def test_rich_text_over_2000_chars_is_rejected(notion: NotionEmulator, ds_id: str) -> None:
    body = {
        "parent": {"type": "data_source_id", "data_source_id": ds_id},
        "properties": {"Notes": {"rich_text": [{"text": {"content": "x" * 2001}}]}},
    }
    error = assert_error(call(notion, "POST", "/v1/pages", body), 400, "validation_error")
    assert "2000" in error["message"]
    assert notion.pages(ds_id) == []


def test_unknown_property_and_unknown_status_are_rejected(notion: NotionEmulator, ds_id: str) -> None:
    parent = {"type": "data_source_id", "data_source_id": ds_id}
    error = assert_error(
        call(notion, "POST", "/v1/pages", {"parent": parent, "properties": {"Nope": {"email": None}}}),
        400,
        "validation_error",
    )
    assert error["message"] == "Nope is not a property that exists."
    bad_status = {"parent": parent, "properties": {"Status": {"status": {"name": "Won"}}}}
    assert_error(call(notion, "POST", "/v1/pages", bad_status), 400, "validation_error")


def test_unknown_select_option_is_created(notion: NotionEmulator, ds_id: str) -> None:
    parent = {"type": "data_source_id", "data_source_id": ds_id}
    page = call(
        notion, "POST", "/v1/pages", {"parent": parent, "properties": {"Source": {"select": {"name": "Ads"}}}}
    ).json()
    assert page["properties"]["Source"]["select"]["name"] == "Ads"
    schema = call(notion, "GET", f"/v1/data_sources/{ds_id}").json()
    assert [o["name"] for o in schema["properties"]["Source"]["select"]["options"]] == ["Web", "Referral", "Ads"]


def test_database_parent_works_only_with_a_single_data_source(notion: NotionEmulator) -> None:
    db_id, _ = notion.create_database(properties={"Name": "title"})
    body = {
        "parent": {"database_id": db_id.replace("-", "")},
        "properties": {"Name": {"title": [{"text": {"content": "A"}}]}},
    }
    assert call(notion, "POST", "/v1/pages", body).status_code == 200
    notion.add_data_source(db_id, "Second", {"Title": "title"})
    assert_error(call(notion, "POST", "/v1/pages", body), 400, "validation_error")


def test_patch_is_partial_and_archived_is_an_alias_of_in_trash(notion: NotionEmulator, ds_id: str) -> None:
    page_id = notion.user_create_page(ds_id, {"Name": "Ada", "Email": "ada@example.com", "Status": "New"})
    call(notion, "PATCH", f"/v1/pages/{page_id}", {"properties": {"Status": {"status": {"name": "Lost"}}}})
    assert notion.page_values(page_id) | {"_in_trash": False} == {
        "Name": "Ada",
        "Email": "ada@example.com",
        "Status": "Lost",
        "Source": None,
        "Notes": None,
        "_in_trash": False,
    }
    trashed = call(notion, "PATCH", f"/v1/pages/{page_id}", {"archived": True}).json()
    assert trashed["in_trash"] is True
    edit = call(notion, "PATCH", f"/v1/pages/{page_id}", {"properties": {"Email": {"email": None}}})
    assert_error(edit, 400, "validation_error")


def test_api_writes_are_attributed_to_the_bot_and_ui_edits_to_a_person(notion: NotionEmulator, ds_id: str) -> None:
    page_id = notion.user_create_page(ds_id, {"Name": "Ada"})
    by_person = call(notion, "GET", f"/v1/pages/{page_id}").json()["last_edited_by"]["id"]
    by_bot = call(notion, "PATCH", f"/v1/pages/{page_id}", {"properties": {"Name": {"title": []}}}).json()
    assert by_bot["last_edited_by"]["id"] != by_person


@pytest.mark.parametrize(
    ("query_filter", "expected"),
    [
        ({"property": "Email", "email": {"equals": "ada@example.com"}}, ["Ada"]),
        ({"property": "Name", "title": {"contains": "RACE"}}, ["Grace"]),
        ({"property": "Notes", "rich_text": {"is_empty": True}}, ["Ada", "Grace"]),
        ({"property": "Status", "status": {"does_not_equal": "Lost"}}, ["Ada", "Linus"]),
        ({"property": "Source", "select": {"equals": "Web"}}, ["Grace"]),
        (
            {
                "or": [
                    {"property": "Status", "status": {"equals": "Lost"}},
                    {"property": "Name", "title": {"starts_with": "li"}},
                ]
            },
            ["Grace", "Linus"],
        ),
        ({"timestamp": "created_time", "created_time": {"after": "2000-01-01"}}, ["Ada", "Grace", "Linus"]),
    ],
)
def test_filters_select_the_matching_pages(
    notion: NotionEmulator, ds_id: str, query_filter: Any, expected: list[str]
) -> None:
    notion.user_create_page(ds_id, {"Name": "Ada", "Email": "ada@example.com", "Status": "New"})
    notion.user_create_page(ds_id, {"Name": "Grace", "Status": "Lost", "Source": "Web"})
    notion.user_create_page(ds_id, {"Name": "Linus", "Notes": "likes kernels"})
    result = call(notion, "POST", f"/v1/data_sources/{ds_id}/query", {"filter": query_filter}).json()
    assert [r["properties"]["Name"]["title"][0]["plain_text"] for r in result["results"]] == expected


def test_filter_on_unknown_property_is_a_validation_error(notion: NotionEmulator, ds_id: str) -> None:
    query = {"filter": {"property": "Phone", "phone_number": {"equals": "1"}}}
    assert_error(call(notion, "POST", f"/v1/data_sources/{ds_id}/query", query), 400, "validation_error")


def test_sorts_by_property_descending(notion: NotionEmulator, ds_id: str) -> None:
    for name in ("b", "C", "a"):
        notion.user_create_page(ds_id, {"Name": name})
    query = {"sorts": [{"property": "Name", "direction": "descending"}]}
    result = call(notion, "POST", f"/v1/data_sources/{ds_id}/query", query).json()
    assert [r["properties"]["Name"]["title"][0]["plain_text"] for r in result["results"]] == ["C", "b", "a"]


def test_filter_properties_trims_returned_properties(notion: NotionEmulator, ds_id: str) -> None:
    page_id = notion.user_create_page(ds_id, {"Name": "Ada"})
    page = call(notion, "GET", f"/v1/pages/{page_id}", params={"filter_properties": "title"}).json()
    assert list(page["properties"]) == ["Name"]


def test_rate_limit_answers_429_rate_limited_with_integer_retry_after(notion: NotionEmulator, ds_id: str) -> None:
    notion.rate_limit(rps=0.5, burst=2)
    statuses = [call(notion, "GET", f"/v1/data_sources/{ds_id}").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = call(notion, "GET", f"/v1/data_sources/{ds_id}")
    assert_error(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"] == "2"
    notion.clock.advance(2)
    assert call(notion, "GET", f"/v1/data_sources/{ds_id}").status_code == 200
