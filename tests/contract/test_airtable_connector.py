"""Airtable over HTTP against the sandbox: the shared connector contract, then Airtable's own behaviour
(formula-filtered incremental reads, escaping, typecast off, hard deletes, batches, the 429 lockout)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from leadsync.connectors import airtable
from leadsync.connectors.ratelimit import Limit
from leadsync.core.models import Fields
from leadsync.errors import ApiError, ConfigError, RecordError
from sandbox import Sandbox
from tests.contract.connector_fixtures import Harness
from tests.contract.test_connectors import (  # noqa: F401 - the shared contract, run here on Airtable
    UNICODE,
    test_429_with_retry_after_is_retried_and_succeeds,
    test_a_malformed_id_is_a_record_error_and_sends_nothing,
    test_a_record_archived_by_the_user_reads_as_deleted,
    test_a_value_the_system_cannot_hold_is_a_record_error_or_api_error,
    test_archive_reads_as_deleted_and_leaves_listings,
    test_create_then_get_round_trips_values_and_link,
    test_credentials_never_appear_in_urls_or_logs,
    test_describe_reports_the_fields_and_their_options,
    test_find_by_link_finds_the_linked_record_only,
    test_find_by_link_refuses_a_link_that_is_not_id_like_and_sends_nothing,
    test_full_fetch_lists_every_live_record_and_gives_a_cursor,
    test_get_of_an_unknown_id_is_none,
    test_incremental_fetch_returns_a_user_edit,
    test_incremental_fetch_without_edits_returns_nothing_new,
    test_long_text_round_trips,
    test_normalize_id_accepts_the_systems_ids_and_refuses_anything_else,
    test_server_errors_are_retried,
    test_set_link_rewrites_and_clears_the_marker,
    test_unicode_emoji_and_rtl_values_round_trip,
    test_update_changes_only_the_given_fields,
    test_update_keeps_out_of_band_edits_to_other_fields,
    test_update_of_an_unknown_id_raises_not_found,
)

TABLE = "Leads"
FIELDS = ["Name", "Email", "Status", "Source", "Notes"]
TYPES: dict[str, Any] = {
    "Name": "singleLineText",
    "Email": "email",
    "Status": "singleSelect",
    "Source": "singleLineText",
    "Notes": "multilineText",
    "Score": "number",
    "Hot": "checkbox",
    "Tags": "multipleSelects",
    "Trello Card": "singleLineText",
    "Archived": "checkbox",
    "Last Modified": "lastModifiedTime",
}
OPTIONS = {TABLE: {"Status": ["New", "Contacted", "Qualified", "Lost"], "Tags": ["Hot", "Cold"]}}
SAMPLE: Fields = {"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", "Source": "Web", "Notes": None}
PENALTY = 1.0  # the sandbox's fault-injected 429 has no Retry-After either; keep the tests fast


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox.start(only=("airtable",)) as sandbox:
        yield sandbox


class Recorder:
    """Captures every request the connector sent (method, path, query, JSON body, full URL)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.urls: list[str] = []
        self.session = requests.Session()
        self.session.hooks["response"].append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        parts = urlsplit(str(request.url))
        body = json.loads(request.body) if request.body else None
        self.sent.append((str(request.method), parts.path, parse_qs(parts.query), body))
        self.urls.append(str(request.url))


class World:
    """A fresh base in the sandbox and connectors on it."""

    def __init__(self, sb: Sandbox, types: dict[str, Any] | None = None) -> None:
        self.sb = sb
        self.emulator = sb.airtable
        self.base_id, tables = sb.airtable.create_base(tables={TABLE: dict(types or TYPES)}, select_options=OPTIONS)
        self.table_id = tables[TABLE]
        self.token = f"pat{uuid.uuid4().hex}.{uuid.uuid4().hex}"
        self.recorder = Recorder()

    def connector(self, *, limit: Limit | None = None, **kw: Any) -> airtable.AirtableConnector:
        transport = airtable.airtable_transport(
            self.token,
            self.base_id,
            base_url=self.sb.airtable.url,
            limit=limit or Limit(500.0, 500.0),
            penalty_seconds=PENALTY,
            session=self.recorder.session,
            timeout=5.0,
        )
        return airtable.AirtableConnector(
            transport,
            base_id=self.base_id,
            table=kw.pop("table", self.table_id),
            fields=kw.pop("fields", FIELDS),
            penalty_seconds=PENALTY,
            **kw,
        )

    def user_create(self, fields: Fields) -> str:
        return str(self.emulator.user_create_record(self.base_id, TABLE, {k: v for k, v in fields.items() if v}))

    def cells(self, record_id: str) -> dict[str, Any]:
        return dict(self.emulator.record(self.base_id, TABLE, record_id)["fields"])


@pytest.fixture
def world(sb: Sandbox) -> World:
    sb.airtable.faults.clear()
    sb.airtable.clear_requests()
    sb.airtable.rate_limit(enabled=False)
    airtable.clear_caches()
    return World(sb)


# -- the shared contract ------------------------------------------------------------------------


class AirtableUser:
    """A person editing the table in Airtable's grid."""

    def __init__(self, world: World) -> None:
        self.world = world

    def create(self, fields: Fields) -> str:
        return self.world.user_create(fields)

    def edit(self, record_id: str, fields: Fields) -> None:
        self.world.emulator.user_update_record(self.world.base_id, TABLE, record_id, dict(fields))

    def archive(self, record_id: str) -> None:
        self.edit(record_id, {"Archived": True})  # type: ignore[dict-item]

    def hard_delete(self, record_id: str) -> None:
        self.world.emulator.user_delete_record(self.world.base_id, TABLE, record_id)

    def values(self, record_id: str) -> Fields | None:
        cells = self.world.cells(record_id)
        return {name: cells.get(name) or None for name in FIELDS}


@pytest.fixture
def harness(world: World, caplog: pytest.LogCaptureFixture) -> Harness:
    """The contract's view of an Airtable connector with an ``Archived`` checkbox."""
    caplog.set_level(logging.DEBUG, logger="leadsync")
    connector = world.connector(archived_field="Archived")
    return Harness(
        name="airtable",
        connector=connector,
        user=AirtableUser(world),
        emulator=world.emulator,
        sandbox=world.sb,
        secrets=[world.token],
        sample=dict(SAMPLE),
        edit={"Status": "Contacted", "Notes": "Called on Monday"},
        text_field="Notes",
        long_text_length=9000,
        invalid_update={"Status": "Won"},
        missing_id="rec" + "0" * 14,
        settle=lambda: world.sb.clock.advance(connector.overlap.total_seconds() + 1),
        exact_incremental=False,
        urls=world.recorder.urls,
    )


# -- reading ------------------------------------------------------------------------------------


def test_incremental_read_filters_on_the_last_modified_field_sorted_oldest_first(world: World) -> None:
    c = world.connector()
    world.user_create(SAMPLE)
    cursor = c.fetch_changed(None).cursor
    assert cursor is not None
    world.recorder.sent.clear()
    c.fetch_changed(cursor)
    [(method, path, query, _)] = world.recorder.sent
    assert (method, path) == ("GET", f"/v0/{world.base_id}/{world.table_id}")
    since = airtable.formula.iso_ms(airtable._parse_time(cursor) - c.overlap)  # type: ignore[operator]
    assert query["filterByFormula"] == [f"NOT(IS_BEFORE({{Last Modified}}, DATETIME_PARSE('{since}')))"]
    assert query["sort[0][field]"] == ["Last Modified"]
    assert query["sort[0][direction]"] == ["asc"]
    assert query["pageSize"] == ["100"]
    assert query["fields[]"] == [*FIELDS, "Trello Card", "Last Modified"]


def test_steady_state_incremental_read_is_one_request(world: World) -> None:
    c = world.connector()
    world.user_create(SAMPLE)
    cursor = c.fetch_changed(None).cursor
    world.emulator.clear_requests()
    c.fetch_changed(cursor)
    assert world.emulator.requests == [("GET", f"/v0/{world.base_id}/{world.table_id}")]


def test_records_older_than_the_overlap_are_not_read_again(world: World) -> None:
    c = world.connector(overlap_seconds=120)
    old = world.user_create({"Name": "Old"})
    world.sb.clock.advance(600)
    recent = world.user_create({"Name": "Recent"})
    first = c.fetch_changed(None)
    assert [r.id for r in first.records] == [old, recent]
    assert first.cursor is not None
    assert _at(first.cursor) >= _at(world.cells(recent)["Last Modified"]).replace(microsecond=0)
    again = c.fetch_changed(first.cursor)
    assert [r.id for r in again.records] == [recent]  # inside the overlap: repeated, harmless
    assert again.cursor is not None
    assert _at(again.cursor) >= _at(first.cursor)


def test_a_quiet_table_is_not_read_again_once_the_overlap_has_passed(world: World) -> None:
    c = world.connector(overlap_seconds=120)
    record = world.user_create({"Name": "Ada"})
    first = c.fetch_changed(None)
    world.sb.clock.advance(300)
    second = c.fetch_changed(first.cursor)
    assert [r.id for r in second.records] == [record]  # modified inside the overlap of the first cursor
    assert second.cursor is not None
    assert _at(second.cursor) - _at(world.cells(record)["Last Modified"]) >= timedelta(seconds=299)
    world.sb.clock.advance(60)
    assert c.fetch_changed(second.cursor).records == []  # nothing modified since: nothing read
    world.emulator.user_update_record(world.base_id, TABLE, record, {"Name": "Ada L."})
    third = c.fetch_changed(second.cursor)
    assert [(r.id, r.fields["Name"]) for r in third.records] == [(record, "Ada L.")]


def test_an_edit_made_during_a_long_listing_is_read_again_without_any_overlap(world: World) -> None:
    """Pages read live records: the cursor is the time of the first page, not the newest edit read."""
    c = world.connector(overlap_seconds=0, page_size=1)
    first_id = world.user_create({"Name": "Ada"})
    world.sb.clock.advance(5)
    second_id = world.user_create({"Name": "Grace"})
    pages = 0
    list_page = c._list_page

    def edit_after_the_first_page(options: Any) -> Any:
        nonlocal pages
        answer = list_page(options)
        pages += 1
        if pages == 1:  # Ada's page is read; she, then Grace, are edited before Grace's page is
            world.sb.clock.advance(5)
            world.emulator.user_update_record(world.base_id, TABLE, first_id, {"Name": "Ada L."})
            world.sb.clock.advance(5)
            world.emulator.user_update_record(world.base_id, TABLE, second_id, {"Name": "Grace H."})
        return answer

    c._list_page = edit_after_the_first_page  # type: ignore[method-assign]
    first = c.fetch_changed(None)
    assert [r.fields["Name"] for r in first.records] == ["Ada", "Grace H."]  # Grace's edit is the newest read
    again = c.fetch_changed(first.cursor)
    assert {(r.id, r.fields["Name"]) for r in again.records} >= {(first_id, "Ada L.")}


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_cells_airtable_omits_read_as_none_and_the_record_carries_its_last_modified_time(world: World) -> None:
    c = world.connector(fields=["Name", "Email", "Hot", "Score", "Tags"])
    record_id = world.user_create({"Name": "Ada"})
    got = c.get(record_id)
    assert got is not None
    assert got.fields == {"Name": "Ada", "Email": None, "Hot": "false", "Score": None, "Tags": None}
    assert got.link is None
    assert got.updated_at is not None
    assert airtable.formula.iso_ms(got.updated_at) == world.cells(record_id)["Last Modified"]


def test_numbers_checkboxes_and_multiple_selects_round_trip(world: World) -> None:
    c = world.connector(fields=["Name", "Score", "Hot", "Tags"])
    created = c.create({"Name": "Ada", "Score": "42.5", "Hot": "true", "Tags": "Hot, Cold"}, None)
    assert created.fields == {"Name": "Ada", "Score": "42.5", "Hot": "true", "Tags": "Hot, Cold"}
    updated = c.update(created.id, {"Score": "7", "Hot": "false", "Tags": None})
    assert updated.fields == {"Name": "Ada", "Score": "7", "Hot": "false", "Tags": None}
    cells = world.cells(created.id)
    del cells["Last Modified"]
    assert cells == {"Name": "Ada", "Score": 7}, "an unticked box and a cleared select are omitted"


def test_a_listing_longer_than_a_page_follows_the_offset(world: World) -> None:
    ids = [world.user_create({"Name": f"L{i}"}) for i in range(5)]
    result = world.connector(page_size=2).fetch_all()
    assert [r.id for r in result.records] == ids
    offsets = [query.get("offset") for _, _, query, _ in world.recorder.sent if query.get("pageSize")]
    assert len(offsets) == 3
    assert offsets[0] is None
    assert all(offsets[1:])


def test_an_expired_pagination_iterator_restarts_the_listing(world: World) -> None:
    ids = [world.user_create({"Name": f"L{i}"}) for i in range(3)]
    c = world.connector(page_size=2)
    c.check()
    expired = []

    def expire_once(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not expired and "offset" in response.text:
            expired.append(True)
            world.emulator._iterators.clear()

    world.recorder.session.hooks["response"].append(expire_once)
    result = c.fetch_all()
    assert [r.id for r in result.records] == ids
    assert world.emulator.request_count("GET", f"/v0/{world.base_id}/") == 4  # page, expired page, then 2 pages


def _linked_to(c: airtable.AirtableConnector, link: str) -> list[str]:
    """Ids of the records whose link field is exactly ``link``, through the connector's own formula
    listing (``find_by_link`` only takes id-like links; the quoting must still hold for any value)."""
    return [str(raw["id"]) for raw in c._list(airtable.formula.equals(c.link_field, link)).records]


def test_a_query_too_long_for_a_url_is_sent_as_post_list_records(world: World) -> None:
    c = world.connector()
    link = "lead-" + "é'}" * 6000
    mine = c.create(SAMPLE, link)
    c.create(SAMPLE, link[:-1])
    assert _linked_to(c, link) == [mine.id]
    posts = [body for method, path, _, body in world.recorder.sent if path.endswith("/listRecords")]
    assert len(posts) == 1
    assert posts[0]["filterByFormula"] == airtable.formula.equals("Trello Card", link)
    assert all(len(url) <= airtable.MAX_URL_LENGTH for url in world.recorder.urls)


HOSTILE_LINKS = ['O\'Brien "x"', "}{Name}", "a' OR '1'='1", "back\\slash\\", "x') , TRUE()) & ('", UNICODE]


@pytest.mark.parametrize("name", HOSTILE_LINKS)
def test_hostile_values_in_a_formula_find_exactly_their_record_over_http(world: World, name: str) -> None:
    c = world.connector()
    mine = c.create(SAMPLE, name)
    c.create(SAMPLE, "plain")
    c.create(SAMPLE, None)
    assert _linked_to(c, name) == [mine.id]
    assert _linked_to(c, name + "x") == []


@pytest.mark.parametrize("name", [*HOSTILE_LINKS, "../../appOTHER", "a b", "a" * 65])
def test_find_by_link_refuses_a_link_that_is_not_an_id_and_sends_nothing(world: World, name: str) -> None:
    c = world.connector()
    c.create(SAMPLE, name)
    world.recorder.sent.clear()
    with pytest.raises(RecordError):
        c.find_by_link(name)
    assert world.recorder.sent == []


def test_find_by_link_prefers_a_record_not_archived(world: World) -> None:
    c = world.connector(archived_field="Archived")
    old = c.create(SAMPLE, "lead-1")
    c.archive(old.id)
    live = c.create(SAMPLE, "lead-1")
    assert c.find_by_link("lead-1").id == live.id  # type: ignore[union-attr]


def test_an_archived_record_is_reported_deleted_by_an_incremental_read(world: World) -> None:
    c = world.connector(archived_field="Archived")
    record = c.create(SAMPLE, "lead-1")
    cursor = c.fetch_changed(None).cursor
    world.sb.clock.advance(300)
    AirtableUser(world).archive(record.id)
    changed = {r.id: r for r in c.fetch_changed(cursor).records}
    assert changed[record.id].deleted


def test_a_cursor_that_is_not_a_time_lists_the_whole_table(world: World) -> None:
    record_id = world.user_create(SAMPLE)
    result = world.connector().fetch_changed("5f0000000000000000000000")
    assert result.complete
    assert [r.id for r in result.records] == [record_id]


# -- deletions ----------------------------------------------------------------------------------


def test_without_an_archived_field_archive_deletes_the_record_for_good(world: World) -> None:
    c = world.connector()
    record = c.create(SAMPLE, "lead-1")
    c.archive(record.id)
    assert world.emulator.request_count("DELETE") == 1
    assert c.get(record.id) is None
    assert record.id not in {r.id for r in c.fetch_all().records}
    c.archive(record.id)  # already gone: harmless


def test_a_record_deleted_by_a_person_reads_as_none_and_leaves_the_full_listing(world: World) -> None:
    c = world.connector()
    record_id = world.user_create(SAMPLE)
    keep = world.user_create(SAMPLE)
    cursor = c.fetch_changed(None).cursor
    AirtableUser(world).hard_delete(record_id)
    assert c.get(record_id) is None
    assert [r.id for r in c.fetch_changed(None).records] == [keep]
    assert record_id not in {r.id for r in c.fetch_changed(cursor).records}  # the sweep finds it, not this


# -- writing ------------------------------------------------------------------------------------


def test_writes_send_typecast_false_and_patch_never_put(world: World) -> None:
    c = world.connector()
    record = c.create(SAMPLE, "lead-1")
    c.update(record.id, {"Status": "Contacted"})
    c.set_link(record.id, "lead-2")
    writes = [(m, body) for m, _, _, body in world.recorder.sent if m != "GET"]
    assert [m for m, _ in writes] == ["POST", "PATCH", "PATCH"]
    assert writes[0][1]["typecast"] is False
    assert writes[1][1] == {"fields": {"Status": "Contacted"}, "typecast": False}
    assert world.emulator.request_count("PUT") == 0


def test_an_unknown_select_option_fails_naming_the_record_and_field_and_creates_no_option(world: World) -> None:
    c = world.connector()
    record = c.create(SAMPLE, "lead-1")
    with pytest.raises(ApiError) as info:
        c.update(record.id, {"Status": "Won"})
    assert info.value.status == 422
    assert record.id in str(info.value)
    assert "field 'Status' has no option 'Won'" in str(info.value)
    assert c.transport.stats.retries == 0
    assert "Won" not in c.describe().options["Status"]
    with pytest.raises(ApiError, match=r"\(new, linked to lead-9\).*'Status'"):
        c.create({**SAMPLE, "Status": "Won"}, "lead-9")


def test_a_bad_number_is_a_record_error_and_nothing_is_sent(world: World) -> None:
    c = world.connector(fields=["Name", "Score"])
    c.check()
    world.emulator.clear_requests()
    with pytest.raises(RecordError, match=r"field 'Score'.*not a number"):
        c.create({"Name": "Ada", "Score": "lots"}, "lead-1")
    assert world.emulator.requests == []


def test_a_computed_field_cannot_be_written(world: World) -> None:
    c = world.connector()
    with pytest.raises(ConfigError, match="'Last Modified' is a lastModifiedTime field"):
        c.update("rec" + "0" * 14, {"Last Modified": "2024-01-01"})


def test_create_many_sends_at_most_ten_records_per_request_in_order(world: World) -> None:
    c = world.connector()
    items = [({**SAMPLE, "Name": f"Lead {i}"}, f"lead-{i}") for i in range(23)]
    created = c.create_many(items)
    assert [r.fields["Name"] for r in created] == [f"Lead {i}" for i in range(23)]
    assert [r.link for r in created] == [f"lead-{i}" for i in range(23)]
    posts = [body for m, _, _, body in world.recorder.sent if m == "POST"]
    assert [len(body["records"]) for body in posts] == [10, 10, 3]
    assert all(body["typecast"] is False for body in posts)


def test_update_many_patches_at_most_ten_records_per_request(world: World) -> None:
    c = world.connector()
    created = c.create_many([(SAMPLE, f"lead-{i}") for i in range(12)])
    updated = c.update_many([(r.id, {"Status": "Qualified", "Notes": f"n{i}"}) for i, r in enumerate(created)])
    assert [r.id for r in updated] == [r.id for r in created]
    assert all(r.fields == {**SAMPLE, "Status": "Qualified", "Notes": f"n{i}"} for i, r in enumerate(updated))
    patches = [(path, body) for m, path, _, body in world.recorder.sent if m == "PATCH"]
    assert [len(body["records"]) for _, body in patches] == [10, 2]
    assert all(path == f"/v0/{world.base_id}/{world.table_id}" for path, _ in patches)


def test_a_rejected_batch_names_its_records(world: World) -> None:
    c = world.connector()
    created = c.create_many([(SAMPLE, "lead-1"), (SAMPLE, "lead-2")])
    with pytest.raises(ApiError) as info:
        c.update_many([(created[0].id, {"Status": "Lost"}), (created[1].id, {"Status": "Won"})])
    assert created[0].id in str(info.value)
    assert created[1].id in str(info.value)
    assert world.cells(created[0].id)["Status"] == "New", "Airtable applies a batch all or nothing"


# -- schema and configuration ----------------------------------------------------------------------


def test_a_table_without_the_last_modified_field_is_a_config_error_saying_how_to_add_it(sb: Sandbox) -> None:
    world = World(sb, {k: v for k, v in TYPES.items() if k != "Last Modified"})
    with pytest.raises(ConfigError, match=r"no field 'Last Modified'.*\"Last modified time\"") as info:
        world.connector().fetch_changed(None)
    assert "last_modified_field" in str(info.value)


def test_a_last_modified_field_of_another_type_is_a_config_error(world: World) -> None:
    with pytest.raises(ConfigError, match=r"'Source'.*must be a \"Last modified time\" field"):
        world.connector(last_modified_field="Source").fetch_changed(None)


def test_an_archived_field_that_is_not_a_checkbox_is_a_config_error(world: World) -> None:
    with pytest.raises(ConfigError, match=r"archived_field 'Notes'.*checkbox"):
        world.connector(archived_field="Notes").fetch_all()


def test_unknown_fields_are_a_config_error_listing_the_tables_fields(world: World) -> None:
    with pytest.raises(ConfigError, match=r"no field 'Phone'; it has: Archived, Email"):
        world.connector(fields=["Name", "Phone"]).fetch_changed(None)


def test_an_unknown_table_is_a_config_error_listing_the_tables(world: World) -> None:
    with pytest.raises(ConfigError, match=rf"no table 'Deals'; its tables: 'Leads' \({world.table_id}\)"):
        world.connector(table="Deals").fetch_changed(None)


def test_the_table_may_be_named_instead_of_given_by_id(world: World) -> None:
    record_id = world.user_create(SAMPLE)
    assert [r.id for r in world.connector(table=TABLE).fetch_all().records] == [record_id]


def test_a_base_the_token_cannot_read_is_a_config_error_naming_the_scopes(world: World) -> None:
    c = world.connector()
    c.base_id = "app" + "9" * 14
    with pytest.raises(ConfigError, match=r"schema\.bases:read"):
        c.describe()


def test_describe_gives_field_types_and_select_options(world: World) -> None:
    schema = world.connector().describe()
    assert schema.fields["Last Modified"] == "lastModifiedTime"
    assert schema.fields["Status"] == "singleSelect"
    assert schema.options == {"Status": ["New", "Contacted", "Qualified", "Lost"], "Tags": ["Hot", "Cold"]}


def test_the_schema_is_read_once_per_process(world: World) -> None:
    world.user_create(SAMPLE)
    world.connector().fetch_changed(None)
    world.connector().fetch_changed(None)
    assert world.emulator.request_count("GET", "/v0/meta/") == 1


# -- rate limits --------------------------------------------------------------------------------


def test_the_lockout_after_a_429_is_waited_out_without_hammering(world: World) -> None:
    world.emulator.rate_limit(enabled=True, per_base_rps=5, penalty_s=PENALTY)
    c = world.connector(limit=Limit(100.0, 100.0))  # deliberately faster than Airtable allows
    record = c.create(SAMPLE, "lead-1")
    started = time.monotonic()
    for _ in range(12):
        assert c.get(record.id) is not None
    throttled = world.emulator._statuses[429]
    assert throttled >= 1
    assert c.transport.stats.throttled == throttled
    assert c.transport.stats.waited_seconds >= throttled * PENALTY, "every refusal is followed by the full lockout"
    assert time.monotonic() - started >= throttled * PENALTY


def test_set_links_writes_ten_records_per_request_and_names_one_that_is_gone(world: World) -> None:
    c = world.connector()
    ids = [world.user_create({"Name": f"Lead {n}"}) for n in range(12)]
    world.emulator.user_delete_record(world.base_id, TABLE, ids[3])
    world.recorder.sent.clear()

    failed = c.set_links([(record_id, f"card-{n}") for n, record_id in enumerate(ids)])

    assert list(failed) == [ids[3]]
    assert ids[3] in str(failed[ids[3]])
    for n, record_id in enumerate(ids):
        if n != 3:
            assert world.cells(record_id)["Trello Card"] == f"card-{n}"
    patches = [body for method, _, _, body in world.recorder.sent if method == "PATCH"]
    # the first ten in one request, refused for the deleted record, then one by one; the last two in one
    assert [len(body["records"]) if "records" in body else 1 for body in patches] == [10, *[1] * 10, 2]


# -- ids ----------------------------------------------------------------------------------------


def test_a_path_traversal_id_never_reads_or_writes_a_record_of_another_base(world: World) -> None:
    other = World(world.sb)
    theirs = other.user_create({"Name": "Not ours"})
    c = world.connector()
    c.create(SAMPLE, None)
    sent = len(world.recorder.sent)
    world.emulator.clear_requests()
    for hostile in (
        f"../../{other.base_id}/{other.table_id}/{theirs}",
        f"..%2F..%2F{other.base_id}%2F{other.table_id}%2F{theirs}",
        f"{theirs}/../../../{other.base_id}/{other.table_id}/{theirs}",
        f"{theirs}?x=1",
    ):
        with pytest.raises(RecordError, match="not an Airtable record id"):
            c.get(hostile)
        with pytest.raises(RecordError):
            c.update(hostile, {"Name": "Taken"})
        with pytest.raises(RecordError):
            c.archive(hostile)
        with pytest.raises(RecordError):
            c.update_many([(hostile, {"Name": "Taken"})])

    assert world.recorder.sent[sent:] == []
    assert not any(other.base_id in path for _, path in world.emulator.requests)
    # a well-formed id of another base's record is sent, but only inside the configured base and table
    assert c.get(theirs) is None
    assert all(path.startswith(f"/v0/{world.base_id}/") for _, path in world.emulator.requests)
    assert other.cells(theirs)["Name"] == "Not ours"


def test_set_links_writes_the_valid_ids_and_reports_a_malformed_one(world: World) -> None:
    c = world.connector()
    mine = c.create(SAMPLE, None)
    failed = c.set_links([("../../x", "5f0000000000000000000001"), (mine.id, "5f0000000000000000000002")])
    assert list(failed) == ["../../x"]
    assert isinstance(failed["../../x"], RecordError)
    assert world.cells(mine.id)["Trello Card"] == "5f0000000000000000000002"


def test_view_members_are_the_views_ids_read_a_hundred_at_a_time_with_one_field(sb: Sandbox) -> None:
    world = World(sb)
    hot = [world.user_create({"Name": f"Hot {i}", "Status": "Qualified"}) for i in range(130)]
    world.user_create({"Name": "Cold", "Status": "New"})
    view = world.emulator.create_view(world.base_id, TABLE, "Hot leads", "{Status}='Qualified'")
    conn = world.connector()
    assert conn.view_members("Hot leads") == frozenset(hot)
    listings = [(query, body) for method, path, query, body in world.recorder.sent if "view" in query]
    assert len(listings) == 2, "130 members: two pages of 100"
    assert all(query["fields[]"] == ["Last Modified"] and query["pageSize"] == ["100"] for query, _ in listings)
    assert conn.views() == [(conn.views()[0][0], "Grid view"), (view, "Hot leads")]
    with pytest.raises(ApiError, match="VIEW_NAME_NOT_FOUND"):
        conn.view_members("Warm leads")


# -- webhook payloads (leadsync/cycle/payloads.py) ----------------------------------------------


def test_webhook_payloads_are_read_from_a_cursor_and_a_malformed_webhook_id_sends_nothing(world: World) -> None:
    from leadsync.errors import NotFound

    made = requests.post(
        f"{world.sb.airtable.url}/v0/bases/{world.base_id}/webhooks",
        headers={"Authorization": f"Bearer {world.token}"},
        json={
            "notificationUrl": "https://hooks.example/webhooks/airtable/p1",
            "specification": {"options": {"filters": {"dataTypes": ["tableData"]}}},
        },
        timeout=5,
    ).json()
    world.emulator.deliverer.configure(drop=1.0)
    connector = world.connector(webhook_ids=[made["id"]])
    record = world.user_create(SAMPLE)
    world.emulator.user_delete_record(world.base_id, TABLE, record)

    assert connector.webhook_ids == {made["id"]}
    assert connector.table_id == world.table_id
    assert [h["id"] for h in connector.webhooks()["webhooks"]] == [made["id"]]
    page = connector.webhook_payloads(made["id"], 2)
    assert page["cursor"] == 3
    assert page["payloads"][0]["changedTablesById"][world.table_id]["destroyedRecordIds"] == [record]
    sent = len(world.recorder.sent)
    for bad_id, cursor in (("ach../../x", 1), ("achAAAAAAAAAAAAAA/..", 1), (made["id"], 0)):
        with pytest.raises(ValueError, match="nothing was sent"):
            connector.webhook_payloads(bad_id, cursor)
    assert len(world.recorder.sent) == sent
    with pytest.raises(NotFound):
        connector.webhook_payloads("achZZZZZZZZZZZZZZ", 1)
