"""Notion-specific behaviour over HTTP: data sources, status options, the overlap, the result cap."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from leadsync.connectors import notion
from leadsync.connectors.deadline import Deadline
from leadsync.connectors.ratelimit import Limit
from leadsync.errors import ApiError, ConfigError, RecordError
from sandbox import Sandbox

FIELDS = ["Name", "Status", "Score", "Hot", "Notes"]
PROPS = {
    "Name": "title",
    "Status": "status",
    "Score": "number",
    "Hot": "checkbox",
    "Notes": "rich_text",
    "Trello Card": "rich_text",
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox.start(only=("notion",)) as sandbox:
        yield sandbox


@pytest.fixture
def db(sb: Sandbox) -> tuple[str, str]:
    sb.notion.faults.clear()
    sb.notion.clear_requests()
    _, ds_id = sb.notion.create_database(properties=PROPS, status_options=["New", "Won"])
    return sb.notion.data_sources[ds_id].database_id, ds_id


def connector(sb: Sandbox, database_id: str, **kw: Any) -> notion.NotionConnector:
    transport = notion.notion_transport(
        uuid.uuid4().hex, base_url=sb.notion.url, limit=Limit(500, 500), session=requests.Session()
    )
    return notion.NotionConnector(transport, database_id=database_id, fields=kw.pop("fields", FIELDS), **kw)


def test_numbers_checkboxes_and_status_round_trip(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    record = c.create({"Name": "Ada", "Status": "Won", "Score": "42.5", "Hot": "true", "Notes": None}, None)
    assert record.fields == {"Name": "Ada", "Status": "Won", "Score": "42.5", "Hot": "true", "Notes": None}
    updated = c.update(record.id, {"Score": "7", "Hot": "false", "Status": None})
    assert updated.fields["Score"] == "7"
    assert updated.fields["Hot"] == "false"
    assert updated.fields["Status"] is None


def test_an_unknown_status_is_a_record_error_listing_the_options(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    record = c.create({"Name": "Ada"}, None)
    with pytest.raises(RecordError, match=r"'Lost' is not an option.*New, Won") as info:
        c.update(record.id, {"Status": "Lost"})
    assert info.value.record_id == record.id


def test_a_status_option_added_in_notion_is_found_after_a_schema_refresh(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    record = c.create({"Name": "Ada", "Status": "New"}, None)  # schema now cached
    prop = sb.notion.data_sources[db[1]].properties["Status"]
    prop["status"]["options"].append({"id": "x1", "name": "Lost", "color": "red", "description": None})
    assert c.update(record.id, {"Status": "Lost"}).fields["Status"] == "Lost"


def test_text_beyond_notions_limits_is_a_record_error_naming_the_property(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    record = c.create({"Name": "Ada"}, None)
    with pytest.raises(RecordError, match="property 'Notes'"):
        c.update(record.id, {"Notes": "x" * 200_001})
    assert sb.notion.request_count("PATCH") == 0


def test_a_bad_number_is_a_record_error(sb: Sandbox, db: tuple[str, str]) -> None:
    with pytest.raises(RecordError, match="not a number"):
        connector(sb, db[0]).create({"Name": "Ada", "Score": "lots"}, "lead-1")


def test_an_unknown_property_is_a_config_error(sb: Sandbox, db: tuple[str, str]) -> None:
    with pytest.raises(ConfigError, match="no property 'Phone'"):
        connector(sb, db[0], fields=["Name", "Phone"]).create({"Phone": "1"}, None)


def test_a_mapped_property_the_data_source_lacks_is_left_out_of_records_not_read_as_empty(
    sb: Sandbox, db: tuple[str, str]
) -> None:
    connector(sb, db[0]).create({"Name": "Ada", "Notes": None}, None)
    c = connector(sb, db[0], fields=["Name", "Phone", "Notes"])
    [record] = c.fetch_all().records
    assert record.fields == {"Name": "Ada", "Notes": None}  # Notes is empty; Phone does not exist


def test_a_database_with_two_data_sources_needs_data_source_id(sb: Sandbox, db: tuple[str, str]) -> None:
    second = sb.notion.add_data_source(db[0], "Archive", PROPS, ["New"])
    with pytest.raises(ConfigError, match="2 data sources"):
        connector(sb, db[0]).fetch_changed(None)
    chosen = connector(sb, db[0], data_source_id=second)
    assert chosen.create({"Name": "Old lead"}, None).id in sb.notion.data_sources[second].page_ids


def test_the_data_source_is_resolved_once_per_process(sb: Sandbox, db: tuple[str, str]) -> None:
    connector(sb, db[0]).fetch_changed(None)
    connector(sb, db[0]).fetch_changed(None)
    assert sb.notion.request_count("GET", "/v1/databases/") == 1


def test_steady_state_incremental_read_is_one_request(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    sb.notion.user_create_page(db[1], {"Name": "Ada"})
    cursor = c.fetch_changed(None).cursor
    sb.notion.clear_requests()
    c.fetch_changed(cursor)
    assert sb.notion.requests == [("POST", f"/v1/data_sources/{db[1]}/query")]


def test_records_older_than_the_overlap_are_not_read_again(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0], overlap_seconds=120)
    old = sb.notion.user_create_page(db[1], {"Name": "Old"})
    sb.notion.clock.advance(600)
    recent = sb.notion.user_create_page(db[1], {"Name": "Recent"})
    first = c.fetch_changed(None)
    assert {r.id for r in first.records} == {old, recent}
    again = c.fetch_changed(first.cursor)
    assert {r.id for r in again.records} == {recent}  # inside the overlap: repeated, harmless


def test_a_quiet_database_is_not_read_again_once_the_overlap_has_passed(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0], overlap_seconds=120)
    page = sb.notion.user_create_page(db[1], {"Name": "Ada"})
    first = c.fetch_changed(None)
    sb.notion.clock.advance(300)
    second = c.fetch_changed(first.cursor)
    assert [r.id for r in second.records] == [page]  # edited inside the overlap of the first cursor
    assert second.cursor is not None
    assert second.cursor > first.cursor  # type: ignore[operator]  # the server's time of the query
    sb.notion.clock.advance(60)
    assert c.fetch_changed(second.cursor).records == []  # nothing edited since: nothing read
    sb.notion.user_update_page(page, {"Name": "Ada L."})
    third = c.fetch_changed(second.cursor)
    assert [(r.id, r.fields["Name"]) for r in third.records] == [(page, "Ada L.")]


def test_the_cursor_never_runs_ahead_of_a_capped_query(
    sb: Sandbox, db: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sb.notion, "result_cap", 2)
    c = connector(sb, db[0], page_size=1)
    for name in ("A", "B", "C"):
        sb.notion.user_create_page(db[1], {"Name": name})
    first = c.fetch_changed(None)
    assert not first.complete
    sb.notion.clock.advance(600)
    capped = c.fetch_changed(first.cursor)
    assert len(capped.records) == 2
    assert capped.cursor == first.cursor  # the newest edit read, not the server's time: C is still unread


def test_the_result_cap_returns_an_incomplete_page_and_a_cursor_to_resume(
    sb: Sandbox, db: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sb.notion, "result_cap", 3)
    ids = []
    for i in range(5):
        ids.append(sb.notion.user_create_page(db[1], {"Name": f"L{i}"}))
        sb.notion.clock.advance(300)
    c = connector(sb, db[0], page_size=2, overlap_seconds=0)
    first = c.fetch_changed(None)
    assert not first.complete
    assert [r.id for r in first.records] == ids[:3]
    second = c.fetch_changed(first.cursor)
    assert [r.id for r in second.records] == ids[2:]


def test_fetch_all_windows_past_the_result_cap(
    sb: Sandbox, db: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sb.notion, "result_cap", 3)
    ids = []
    for i in range(7):
        ids.append(sb.notion.user_create_page(db[1], {"Name": f"L{i}"}))
        sb.notion.clock.advance(60)
    result = connector(sb, db[0]).fetch_all()
    assert result.complete
    assert sorted(r.id for r in result.records) == sorted(ids)


def test_user_trashed_page_is_deleted_on_get_and_absent_from_queries(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    page = sb.notion.user_create_page(db[1], {"Name": "Ada"})
    sb.notion.user_trash_page(page)
    assert c.get(page).deleted  # type: ignore[union-attr]
    assert page not in {r.id for r in c.fetch_changed(None).records}


def test_long_text_is_split_into_items_of_at_most_2000_utf16_units() -> None:
    chunks = notion.split_text("a" * 1999 + "🚀" + "b" * 10)
    assert [len(c) for c in chunks] == [1999, 11]
    assert "".join(chunks) == "a" * 1999 + "🚀" + "b" * 10


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "number", "number": 3.0}, "3"),
        ({"type": "number", "number": 2.5}, "2.5"),
        ({"type": "checkbox", "checkbox": False}, "false"),
        ({"type": "multi_select", "multi_select": [{"name": "a"}, {"name": "b"}]}, "a, b"),
        ({"type": "date", "date": {"start": "2025-01-02", "end": None}}, "2025-01-02"),
        ({"type": "formula", "formula": {"type": "number", "number": 4}}, "4"),
        ({"type": "unique_id", "unique_id": {"prefix": "LD", "number": 12}}, "LD-12"),
        ({"type": "rich_text", "rich_text": []}, None),
        ({"type": "people", "people": []}, None),
    ],
)
def test_property_values_read_as_plain_strings(prop: dict[str, Any], expected: str | None) -> None:
    assert notion.read_value(prop) == expected


# -- pages outside the pair ----------------------------------------------------------------------


def _foreign_page(sb: Sandbox) -> str:
    """A page of ANOTHER database (another data source) the same integration can see."""
    _, other_ds = sb.notion.create_database(title="Someone else's", properties=PROPS, status_options=["New"])
    return str(sb.notion.user_create_page(other_ds, {"Name": "Not ours", "Notes": "their text"}))


@pytest.mark.parametrize("form", ["dashed", "compact upper case"])
def test_a_page_of_another_data_source_is_not_returned_by_get(
    sb: Sandbox, db: tuple[str, str], caplog: pytest.LogCaptureFixture, form: str
) -> None:
    c = connector(sb, db[0])
    foreign = _foreign_page(sb)
    asked = foreign if form == "dashed" else foreign.replace("-", "").upper()

    assert c.get(asked) is None
    assert c.find_by_link("lead-1") is None
    (refusal,) = [r for r in caplog.records if r.getMessage() == "refused foreign link"]
    assert refusal.levelname == "WARNING"
    assert refusal.record_id == foreign  # type: ignore[attr-defined]


def test_a_page_of_another_data_source_cannot_be_updated_linked_or_archived(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    c.create({"Name": "Ada"}, None)  # the connector has read pages of its own data source
    foreign = _foreign_page(sb)
    before = sb.notion.get_page_json(foreign)
    sb.notion.clear_requests()

    with pytest.raises(RecordError, match="refused foreign link"):
        c.update(foreign, {"Notes": "overwritten"})
    with pytest.raises(RecordError, match="refused foreign link"):
        c.set_link(foreign, "lead-1")
    with pytest.raises(RecordError, match="refused foreign link"):
        c.archive(foreign)
    with pytest.raises(RecordError):
        c.update(foreign, {})

    assert sb.notion.request_count("PATCH") == 0
    assert sb.notion.get_page_json(foreign) == before


def test_a_page_is_checked_once_before_its_first_write_and_pages_already_read_cost_nothing_more(
    sb: Sandbox, db: tuple[str, str]
) -> None:
    unread = sb.notion.user_create_page(db[1], {"Name": "Ada"})
    c = connector(sb, db[0])
    c.describe()  # data source and schema resolved (and cached) beforehand
    sb.notion.clear_requests()

    c.set_link(unread, "lead-1")  # never read by this connector: read once to check its parent
    c.update(unread, {"Notes": "called"})
    assert [m for m, _ in sb.notion.requests] == ["GET", "PATCH", "PATCH"]
    assert sb.notion.page_values(unread)["Trello Card"] == "lead-1"

    mine = c.create({"Name": "Grace"}, None)
    listed = sb.notion.user_create_page(db[1], {"Name": "Alan"})
    c.fetch_changed(None)
    sb.notion.clear_requests()
    c.update(mine.id, {"Notes": "called"})
    c.set_link(listed, "lead-2")
    c.archive(mine.id)
    assert [m for m, _ in sb.notion.requests] == ["PATCH"] * 3, "pages read from the data source: no extra read"


def test_a_legacy_database_parent_counts_only_for_the_configured_database(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    assert c._owns({"parent": {"type": "database_id", "database_id": db[0].replace("-", "")}})
    assert not c._owns({"parent": {"type": "database_id", "database_id": str(uuid.uuid4())}})
    assert not c._owns({"parent": {"type": "data_source_id", "data_source_id": str(uuid.uuid4())}})
    assert not c._owns({"parent": {"type": "page_id", "page_id": db[0]}})
    assert not c._owns({})


def test_filter_members_are_the_pages_the_filter_keeps_with_only_the_title(sb: Sandbox, db: tuple[str, str]) -> None:
    c = connector(sb, db[0])
    ada = c.create({"Name": "Ada", "Status": "Won"}, None)
    hot = c.create({"Name": "Bob", "Status": "New", "Hot": "true"}, None)
    c.create({"Name": "Cy", "Status": "New"}, None)
    won = {"property": "Status", "status": {"equals": "Won"}}
    rule = {"or": [won, {"property": "Hot", "checkbox": {"equals": True}}]}
    sb.notion.clear_requests()
    assert c.filter_members(rule) == {ada.id, hot.id}
    (url,) = sb.notion.request_urls
    assert "filter_properties=" in url, "ids only: the answer carries just the title property"
    sb.notion.result_cap = 1
    try:
        assert c.filter_members(rule) is None, "capped: the members are unknown, never a partial list"
    finally:
        sb.notion.result_cap = 10_000
    with pytest.raises(ApiError, match="validation_error"):
        c.check_filter({"property": "Status", "select": {"equals": "Won"}})


# -- a listing of everything in parts (Resuming): one part per cycle when it does not fit in one ------------------


def _parts(c: notion.NotionConnector, *, edit: Any = None) -> list[Any]:
    """Carry a listing in parts to its end; ``edit(n)`` runs between part n and part n + 1."""
    parts = [c.fetch_part(None, None, keep=1e9)]  # 1e9 s to keep: every part stops after one request
    while parts[-1].resume is not None:
        if edit is not None:
            edit(len(parts))
        parts.append(c.fetch_part(None, parts[-1].resume, keep=1e9))
        assert len(parts) < 50, "the listing does not end"
    return parts


def _short_invocation(c: notion.NotionConnector) -> notion.NotionConnector:
    c.transport.deadline = Deadline(time.monotonic() + 60)
    return c


def test_a_listing_in_parts_reads_every_page_once_and_ends_with_the_cursor_of_its_start(
    sb: Sandbox, db: tuple[str, str]
) -> None:
    created = [sb.notion.user_create_page(db[1], {"Name": f"L{i}"}) for i in range(7)]
    c = _short_invocation(connector(sb, db[0], page_size=2))
    started = sb.notion.clock.now()

    parts = _parts(c)

    assert [len(p.records) for p in parts] == [2, 2, 2, 1]
    assert [r.id for p in parts for r in p.records] == created  # oldest first, none twice, none skipped
    assert all(p.cursor is None and not p.complete for p in parts[:-1])
    assert not parts[-1].complete, "no one part held every page: absence from it means nothing"
    assert parts[-1].resume is None
    last = notion._parse_time(parts[-1].cursor)
    assert last is not None
    assert abs((last - started).total_seconds()) < 2  # from the first part's time: later edits are read again


def test_one_part_that_reads_everything_is_a_complete_listing(sb: Sandbox, db: tuple[str, str]) -> None:
    for i in range(5):
        sb.notion.user_create_page(db[1], {"Name": f"L{i}"})
    whole = connector(sb, db[0], page_size=2).fetch_part(None, None, keep=0)
    assert (len(whole.records), whole.complete, whole.resume) == (5, True, None)
    assert whole.cursor is not None


def test_edits_and_new_pages_between_parts_skip_nothing(sb: Sandbox, db: tuple[str, str]) -> None:
    """Listed by creation time: an edit does not move a page (by last edit it would jump past the
    cursor, or behind it), and a page created meanwhile comes at the end."""
    created = [sb.notion.user_create_page(db[1], {"Name": f"L{i}"}) for i in range(6)]
    c = _short_invocation(connector(sb, db[0], page_size=2))
    late: list[str] = []

    def edit(n: int) -> None:
        sb.notion.clock.advance(60)
        sb.notion.user_update_page(created[0], {"Name": f"read, then edited {n}"})
        sb.notion.user_update_page(created[-1], {"Name": f"not read yet, edited {n}"})
        if n == 1:
            late.append(sb.notion.user_create_page(db[1], {"Name": "created meanwhile"}))

    ids = [r.id for p in _parts(c, edit=edit) for r in p.records]
    assert ids == [*created, *late]


def test_a_token_notion_refuses_or_that_is_not_ours_starts_the_listing_again(sb: Sandbox, db: tuple[str, str]) -> None:
    created = [sb.notion.user_create_page(db[1], {"Name": f"L{i}"}) for i in range(3)]
    c = _short_invocation(connector(sb, db[0], page_size=2))
    first = c.fetch_part(None, None, keep=1e9)
    assert first.resume is not None
    state = json.loads(first.resume)
    refused = json.dumps({**state, "start": "4b1c2f2a-0000-4000-8000-000000000000"})  # Notion: 400, invalid
    for token in (refused, "not json", json.dumps({"as_of": 7}), json.dumps(["a"])):
        again = c.fetch_part(None, token, keep=0)
        assert [r.id for r in again.records] == created, token
        assert (again.complete, again.resume) == (True, None), token


def test_an_incremental_read_is_not_cut_into_parts(sb: Sandbox, db: tuple[str, str]) -> None:
    c = _short_invocation(connector(sb, db[0], page_size=1))
    cursor = c.fetch_part(None, None, keep=0).cursor
    for i in range(3):
        sb.notion.user_create_page(db[1], {"Name": f"L{i}"})
    changed = c.fetch_part(cursor, None, keep=1e9)
    assert (len(changed.records), changed.resume) == (3, None)
