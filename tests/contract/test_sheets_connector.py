"""Google Sheets over HTTP against the sandbox: the shared connector contract, then Sheets' own
behaviour (header by name, ids filled in, row hashes and acknowledge, rows that move under a write,
RAW values, archive in the state column, the service-account token exchange through google-auth)."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from leadsync.connectors import sheets
from leadsync.connectors.ratelimit import Limit
from leadsync.connectors.sheets_rows import ARCHIVED, column_letters, new_lead_id, row_hash
from leadsync.core.models import Fields, Record
from leadsync.errors import ConfigError, NotFound, RecordError
from sandbox import Sandbox
from sandbox.sheets import make_service_account
from tests.contract.connector_fixtures import Harness
from tests.contract.test_connectors import (  # noqa: F401 - the shared contract, run here on Sheets
    UNICODE,
    test_429_with_retry_after_is_retried_and_succeeds,
    test_a_malformed_id_is_a_record_error_and_sends_nothing,
    test_a_record_archived_by_the_user_reads_as_deleted,
    test_a_value_the_system_cannot_hold_is_a_record_error_or_api_error,
    test_archive_reads_as_deleted_and_leaves_listings,
    test_credentials_never_appear_in_urls_or_logs,
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

TAB = "Leads"
HEADER = ["Name", "Email", "Status", "Source", "Notes", "Lead ID", "Trello Card", "leadsync"]
FIELDS = ["Name", "Email", "Status", "Source", "Notes"]
SAMPLE: Fields = {"Name": "Ada Lovelace", "Email": "ada@example.com", "Status": "New", "Source": "Web", "Notes": None}
SA_EMAIL = "leadsync-contract@leadsync-sandbox.iam.gserviceaccount.com"


def lid(name: str) -> str:
    """A lead id in the format leadsync mints (``L-`` + 10 of A-Z, 2-7), readable in a test:
    ``lid("Ada")`` -> ``L-ADA2222222``."""
    return "L-" + (name.upper() + "2" * 10)[:10]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox.start(only=("sheets",)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def account(sb: Sandbox) -> dict[str, str]:
    return make_service_account(sb, SA_EMAIL)


class Recorder:
    """Captures every request the connector sent: method, decoded path, query, JSON body, URL, auth."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.urls: list[str] = []
        self.auth: list[str] = []
        self.session = requests.Session()
        self.session.hooks["response"].append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        parts = urlsplit(str(request.url))
        body = json.loads(request.body) if request.body else None
        self.sent.append((str(request.method), unquote(parts.path), parse_qs(parts.query), body))
        self.urls.append(str(request.url))
        self.auth.append(str(request.headers.get("Authorization", "")))

    def writes(self) -> list[tuple[str, str, dict[str, list[str]], Any]]:
        return [s for s in self.sent if s[0] != "GET"]


class World:
    """A fresh spreadsheet in the sandbox, connectors on it, and a person editing it."""

    def __init__(self, sb: Sandbox, account: dict[str, str], header: list[str] | None = None) -> None:
        self.sb = sb
        self.emulator = sb.sheets
        self.account = account
        self.spreadsheet_id = sb.sheets.create_spreadsheet("Leads", {TAB: [list(header or HEADER)]})
        self.recorder = Recorder()

    def connector(self, **kw: Any) -> sheets.SheetsConnector:
        return sheets.SheetsConnector.from_service_account(
            self.account,
            spreadsheet_id=self.spreadsheet_id,
            sheet=kw.pop("sheet", TAB),
            fields=kw.pop("fields", FIELDS),
            base_url=self.sb.sheets.url,
            token_uri=self.sb.sheets.token_uri,
            limit=kw.pop("limit", Limit(500.0, 500.0)),
            session=self.recorder.session,
            timeout=5.0,
            rng=random.Random(7),
            **kw,
        )

    # -- the person ------------------------------------------------------------------------

    def rows(self) -> list[list[str]]:
        return self.emulator.values(self.spreadsheet_id, TAB)

    def header(self) -> list[str]:
        return self.rows()[0]

    def row_of(self, record_id: str) -> int:
        column = self.header().index("Lead ID")
        numbers = [n for n, cells in enumerate(self.rows(), 1) if column < len(cells) and cells[column] == record_id]
        assert len(numbers) == 1, f"{record_id} is on rows {numbers}"
        return numbers[0]

    def cells(self, record_id: str) -> dict[str, str]:
        header, row = self.header(), self.rows()[self.row_of(record_id) - 1]
        return {name: (row[i] if i < len(row) else "") for i, name in enumerate(header)}

    def type_row(self, values: dict[str, str | None], *, at: int | None = None) -> None:
        """A person types a row: inserted at row ``at``, or under the last row."""
        header = self.header()
        row = [""] * len(header)
        for name, value in values.items():
            row[header.index(name)] = value or ""
        if at is None:
            number = len(self.rows()) + 1
            self.emulator.user_set_values(self.spreadsheet_id, f"'{TAB}'!A{number}", [row])
        else:
            self.emulator.user_insert_row(self.spreadsheet_id, TAB, at, row)

    def type_cell(self, record_id: str, column: str, value: str) -> None:
        letter = column_letters(self.header().index(column))
        self.emulator.user_set_values(self.spreadsheet_id, f"'{TAB}'!{letter}{self.row_of(record_id)}", [[value]])

    def set_header(self, header: list[str]) -> None:
        self.emulator.user_set_values(self.spreadsheet_id, f"'{TAB}'!A1", [header])


@pytest.fixture
def world(sb: Sandbox, account: dict[str, str]) -> World:
    sb.sheets.faults.clear()
    sb.sheets.clear_requests()
    sb.sheets.rate_limit(enabled=False)
    return World(sb, account)


# -- the shared contract ------------------------------------------------------------------------


class SheetsUser:
    """A person editing the tab in the Sheets UI; typed rows carry an id the person copied in."""

    def __init__(self, world: World) -> None:
        self.world = world

    def create(self, fields: Fields) -> str:
        record_id = new_lead_id()
        self.world.type_row({**fields, "Lead ID": record_id})
        return record_id

    def edit(self, record_id: str, fields: Fields) -> None:
        for name, value in fields.items():
            self.world.type_cell(record_id, name, value or "")

    def archive(self, record_id: str) -> None:
        self.world.type_cell(record_id, "leadsync", ARCHIVED)

    def hard_delete(self, record_id: str) -> None:
        self.world.emulator.user_delete_row(self.world.spreadsheet_id, TAB, self.world.row_of(record_id))

    def values(self, record_id: str) -> Fields | None:
        cells = self.world.cells(record_id)
        return {name: cells[name] or None for name in FIELDS}


@pytest.fixture
def harness(world: World, caplog: pytest.LogCaptureFixture) -> Harness:
    """The contract's view of a Sheets connector (its token fetched, so faults hit the Sheets API)."""
    caplog.set_level(logging.DEBUG, logger="leadsync")
    connector = world.connector()
    token = connector.auth.headers()["Authorization"].split()[1]  # type: ignore[union-attr]
    return Harness(
        name="sheets",
        connector=connector,
        user=SheetsUser(world),
        emulator=world.emulator,
        sandbox=world.sb,
        secrets=[token, world.account["private_key"].splitlines()[1]],
        sample=dict(SAMPLE),
        edit={"Status": "Contacted", "Notes": "Called on Monday"},
        text_field="Notes",
        long_text_length=9000,
        invalid_update={},
        missing_id=new_lead_id(),
        settle=lambda: None,
        exact_incremental=False,  # rows never acknowledged stay "changed"; exactness is tested below
        urls=world.recorder.urls,
    )


def test_create_then_get_round_trips_values_and_link_without_a_timestamp(harness: Harness) -> None:
    created = harness.connector.create(harness.sample, "card-123")
    got = harness.connector.get(created.id)
    assert got is not None
    assert (got.fields, got.link, got.deleted) == (harness.sample, "card-123", False)
    assert got.updated_at is None, "Sheets has no timestamps: conflicts go to the tie breaker"
    assert harness.user.values(created.id) == harness.sample


# -- ids ----------------------------------------------------------------------------------------


def test_rows_without_an_id_get_one_in_a_single_raw_write_and_blank_rows_are_skipped(world: World) -> None:
    rows = [
        ["Ada", "ada@example.com"],
        [],  # a blank row in the middle
        ["Grace"],  # ragged: nothing after Name
        ["Alan", "", "", "", "", "L-TYPEDBYHAN"],  # typed by a person, in leadsync's format: kept
        ["", "", "", "", "", "L-ONLYANID", "card-x"],  # no mapped value: not a lead
    ]
    world.emulator.user_set_values(world.spreadsheet_id, f"'{TAB}'!A2", rows)

    records = world.connector().fetch_changed(None).records

    assert [r.fields["Name"] for r in records] == ["Ada", "Grace", "Alan"]
    assert records[2].id == "L-TYPEDBYHAN"
    assert all(r.id.startswith("L-") and len(r.id) == 12 for r in records[:2])
    assert world.rows()[2] == [], "the blank row stays blank"
    assert [world.cells(r.id)["Name"] for r in records] == ["Ada", "Grace", "Alan"]
    writes = world.recorder.writes()
    assert len(writes) == 1
    method, path, _, body = writes[0]
    assert (method, path.rsplit("/", 1)[-1], body["valueInputOption"]) == ("POST", "values:batchUpdate", "RAW")
    assert len(body["data"]) == 2
    assert records[3:] == []


def test_a_copied_row_gets_a_fresh_id_no_link_and_a_warning(world: World, caplog: pytest.LogCaptureFixture) -> None:
    c = world.connector()
    original = c.create(SAMPLE, "card-1")
    copy = {**SAMPLE, "Lead ID": original.id, "Trello Card": "card-1", "leadsync": world.cells(original.id)["leadsync"]}
    world.type_row(copy)

    records = {r.id: r for r in c.fetch_changed("sheet").records}

    assert original.id not in records, "the original row stays acknowledged"
    (new,) = records.values()
    assert new.fields == SAMPLE
    assert new.link is None
    assert world.cells(original.id)["Trello Card"] == "card-1"
    assert world.cells(new.id)["Trello Card"] == ""
    assert f"repeats lead id {original.id}" in caplog.text


@pytest.mark.parametrize("typed", ["L-A", "l-adaaaaaaaa", "L-ADA2222228", "../../x", "L-ADA 222222", "x" * 300])
def test_a_row_whose_id_is_not_one_leadsync_makes_becomes_a_new_lead(
    world: World, caplog: pytest.LogCaptureFixture, typed: str
) -> None:
    """An id cell typed or pasted by a person that leadsync would refuse as a marker is replaced
    (with its link and state: it cannot have been linked by leadsync), so every lead id handed
    out can be checked by ``normalize_id`` on the other side."""
    c = world.connector()
    world.type_row({"Lead ID": typed, "Name": "Ada", "Trello Card": "5f0000000000000000000001", "leadsync": "x"})

    (record,) = c.fetch_changed(None).records

    assert record.id != typed
    assert c.normalize_id(record.id) == record.id
    assert (record.fields["Name"], record.link) == ("Ada", None)
    cells = world.cells(record.id)
    assert (cells["Trello Card"], cells["leadsync"]) == ("", "")
    assert "is not one leadsync makes" in caplog.text
    assert c.get(record.id) is not None


def test_normalize_id_accepts_exactly_the_ids_leadsync_mints(world: World) -> None:
    c = world.connector()
    minted = new_lead_id()
    assert c.normalize_id(minted) == minted
    assert c.normalize_id("L-ABCDEFGHIJ") == "L-ABCDEFGHIJ"
    for bad in BAD_LEAD_IDS:
        assert c.normalize_id(bad) is None, bad
    assert world.recorder.sent == [], "normalize_id sends nothing"


BAD_LEAD_IDS = [
    "",
    "hello",
    "../../x",
    "L-ABCDEFGHI",  # 9 characters
    "L-ABCDEFGHIJK",  # 11
    "L-abcdefghij",  # lower case
    "L-ABCDEFGH18",  # 1 and 8 are not base32
    " L-ABCDEFGHIJ",
    "L-ABCDEFGHIJ\n",
    "L-ABC/EFGHIJ",
    "L-ABC?EFGHIJ",
    "L-ABC#EFGHIJ",
    "L-%2e%2eEFGH",
    "L-ABCDEFGHIJ" * 20,
]


@pytest.mark.parametrize("bad", BAD_LEAD_IDS)
def test_a_malformed_id_is_a_record_error_and_nothing_is_sent(world: World, bad: str) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("Ada"), "Name": "Ada"})
    world.recorder.sent.clear()

    for call in (
        lambda: c.get(bad),
        lambda: c.update(bad, {"Status": "Contacted"}),
        lambda: c.set_link(bad, "5f0000000000000000000001"),
        lambda: c.archive(bad),
    ):
        with pytest.raises(RecordError):
            call()
    failed = c.set_links([(bad, "5f0000000000000000000001")])

    assert list(failed) == [bad]
    assert isinstance(failed[bad], RecordError)
    assert world.recorder.sent == [], "no request for a malformed id"


def test_set_links_writes_the_valid_ids_and_reports_a_malformed_one(world: World) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("Ada"), "Name": "Ada"})

    failed = c.set_links([("../../x", "card-x"), (lid("Ada"), "card-a")])

    assert list(failed) == ["../../x"]
    assert isinstance(failed["../../x"], RecordError)
    assert world.cells(lid("Ada"))["Trello Card"] == "card-a"


@pytest.mark.parametrize("link", ["", "a b", "x'y", "../../x", "a" * 65])
def test_find_by_link_refuses_a_link_that_is_not_an_id_and_sends_nothing(world: World, link: str) -> None:
    c = world.connector()
    world.recorder.sent.clear()
    with pytest.raises(RecordError):
        c.find_by_link(link)
    assert world.recorder.sent == []


# -- change detection ---------------------------------------------------------------------------


def test_after_acknowledge_an_incremental_read_is_one_get_and_returns_only_edited_rows(world: World) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("A"), "Name": "Ada"})
    world.type_row({"Lead ID": lid("B"), "Name": "Bob"})
    first = c.fetch_changed(None)
    c.acknowledge([r.id for r in first.records])
    world.recorder.sent.clear()

    assert c.fetch_changed(first.cursor).records == []
    world.type_cell(lid("B"), "Status", "Contacted")
    changed = c.fetch_changed(first.cursor)

    assert [(r.id, r.fields["Status"]) for r in changed.records] == [(lid("B"), "Contacted")]
    assert (changed.cursor, changed.complete) == ("sheet", False)
    assert [(m, p.split("/values/")[-1]) for m, p, _, _ in world.recorder.sent] == [("GET", "'Leads'")] * 2
    assert world.recorder.sent[0][2]["valueRenderOption"] == ["FORMATTED_VALUE"]


def test_acknowledge_writes_every_due_hash_in_one_request_and_nothing_when_none_is_due(world: World) -> None:
    c = world.connector()
    for name in ("Ada", "Bob", "Cy"):
        world.type_row({"Lead ID": lid(name), "Name": name})
    ids = [r.id for r in c.fetch_changed(None).records]
    world.recorder.sent.clear()

    c.acknowledge(ids)
    writes = world.recorder.writes()
    c.acknowledge(ids)

    assert len(writes) == 1
    assert [d["range"] for d in writes[0][3]["data"]] == [f"'Leads'!H{n}" for n in (2, 3, 4)]
    assert world.cells(lid("Ada"))["leadsync"] == row_hash(lid("Ada"), {**dict.fromkeys(FIELDS), "Name": "Ada"}, None)
    assert len(world.recorder.writes()) == 1, "a second acknowledge has nothing to write"


def test_a_row_edited_after_it_was_read_stays_changed_after_acknowledge(world: World) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("A"), "Name": "Ada"})
    c.fetch_changed(None)
    world.type_cell(lid("A"), "Name", "Ada Lovelace")  # after the read, before the cycle commits

    c.acknowledge([lid("A")])

    assert [r.fields["Name"] for r in c.fetch_changed("sheet").records] == ["Ada Lovelace"]


def test_acknowledge_finds_rows_that_moved_since_the_read(world: World) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("A"), "Name": "Ada"})
    world.type_row({"Lead ID": lid("B"), "Name": "Bob"})
    c.fetch_changed(None)
    world.type_row({"Name": "Someone new"}, at=2)
    world.emulator.user_delete_row(world.spreadsheet_id, TAB, world.row_of(lid("A")))

    c.acknowledge([lid("A"), lid("B")])

    assert world.cells(lid("B"))["leadsync"] == row_hash(lid("B"), {**dict.fromkeys(FIELDS), "Name": "Bob"}, None)
    assert world.rows()[1][HEADER.index("leadsync") :] == [], "the new row's state cell is untouched"


def test_update_keeps_a_synced_row_acknowledged_and_an_unsynced_one_reported(world: World) -> None:
    c = world.connector()
    clean = c.create(SAMPLE, "card-1")
    world.type_row({"Lead ID": lid("DIRTY"), "Name": "Bob"})
    c.fetch_changed(None)

    c.update(clean.id, {"Status": "Qualified"})
    c.update(lid("DIRTY"), {"Status": "Qualified"})

    assert [r.id for r in c.fetch_changed("sheet").records] == [lid("DIRTY")]


def test_created_rows_are_acknowledged_and_appended_with_insert_rows_raw(world: World) -> None:
    c = world.connector()
    created = c.create(SAMPLE, "card-1")
    _, path, query, body = world.recorder.writes()[0]
    assert path.endswith("values/'Leads':append")
    assert (query["valueInputOption"], query["insertDataOption"]) == (["RAW"], ["INSERT_ROWS"])
    assert body["values"][0][HEADER.index("Lead ID")] == created.id
    assert c.fetch_changed("sheet").records == []
    assert [r.id for r in c.fetch_changed(None).records] == [created.id]


# -- rows that move between the read and the write ----------------------------------------------


@pytest.mark.parametrize("move", ["insert above", "delete above", "sort"])
def test_a_write_lands_on_the_row_holding_the_id_after_rows_moved(world: World, move: str) -> None:
    c = world.connector()
    for name in ("Ada", "Bob", "Cy"):
        world.type_row({"Lead ID": lid(name), "Name": name, "Status": "New"})
    c.fetch_changed(None)
    if move == "insert above":
        world.type_row({"Lead ID": lid("NEW"), "Name": "New"}, at=2)
    elif move == "delete above":
        world.emulator.user_delete_row(world.spreadsheet_id, TAB, 2)
    else:  # a person sorts by name, descending
        rows = world.rows()[1:]
        rows.sort(key=lambda r: r[0], reverse=True)
        world.emulator.user_set_values(world.spreadsheet_id, f"'{TAB}'!A2", rows)

    c.update(lid("Bob"), {"Status": "Qualified"})
    c.set_link(lid("Cy"), "card-cy")

    assert (world.cells(lid("Bob"))["Name"], world.cells(lid("Bob"))["Status"]) == ("Bob", "Qualified")
    assert (world.cells(lid("Cy"))["Name"], world.cells(lid("Cy"))["Trello Card"]) == ("Cy", "card-cy")
    statuses = [r[HEADER.index("Status")] for r in world.rows()[1:] if r[HEADER.index("Name")] != "Bob"]
    assert "Qualified" not in statuses


def test_a_write_to_a_row_that_did_not_move_costs_one_batch_get_and_one_write(world: World) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("A"), "Name": "Ada"})
    c.fetch_changed(None)
    world.recorder.sent.clear()

    c.update(lid("A"), {"Status": "Contacted"})

    sent = [(m, p.rsplit("/", 1)[-1]) for m, p, _, _ in world.recorder.sent]
    assert sent == [("GET", "values:batchGet"), ("POST", "values:batchUpdate")]
    assert world.recorder.sent[0][2]["ranges"] == ["'Leads'!1:1", "'Leads'!2:2"]


def test_a_row_deleted_by_a_person_cannot_be_updated_and_nothing_is_written(world: World) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("A"), "Name": "Ada"})
    world.type_row({"Lead ID": lid("B"), "Name": "Bob"})
    c.fetch_changed(None)
    world.emulator.user_delete_row(world.spreadsheet_id, TAB, 2)
    world.recorder.sent.clear()

    with pytest.raises(NotFound, match=lid("A")):
        c.update(lid("A"), {"Status": "Contacted"})
    c.archive(lid("A"))  # already gone: nothing to do

    assert world.recorder.writes() == []
    assert c.get(lid("A")) is None
    assert [r.id for r in c.fetch_all().records] == [lid("B")]


def test_reordered_columns_are_read_and_written_by_header_name(world: World) -> None:
    world.type_row({"Lead ID": lid("A"), "Name": "Ada", "Email": "ada@example.com"})
    c = world.connector()
    c.fetch_changed(None)
    reordered = ["leadsync", "Trello Card", "Email", "Lead ID", "Notes", "Name", "Source", "Status"]
    old = world.cells(lid("A"))
    world.emulator.user_set_values(world.spreadsheet_id, f"'{TAB}'!A1", [reordered, [old[h] for h in reordered]])

    got = c.get(lid("A"))
    c.update(lid("A"), {"Status": "Qualified"})

    assert got is not None
    assert (got.fields["Name"], got.fields["Email"]) == ("Ada", "ada@example.com")
    assert world.cells(lid("A"))["Status"] == "Qualified"
    assert world.cells(lid("A"))["Name"] == "Ada"


# -- the header ---------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["Email", "Lead ID", "Trello Card", "leadsync"])
def test_a_column_missing_from_the_header_is_a_config_error_and_nothing_is_written(world: World, column: str) -> None:
    world.type_row({"Name": "No id yet"})
    world.set_header([("Renamed" if h == column else h) for h in HEADER])
    world.sb.sheets.clear_requests()
    c = world.connector()

    with pytest.raises(ConfigError, match=f"sheet 'Leads' has no column '{column}'"):
        c.fetch_changed(None)
    with pytest.raises(ConfigError, match=f"'{column}'"):
        c.create(SAMPLE, "card-1")

    assert [m for m, p in world.sb.sheets.requests if p != "/token"] == ["GET", "GET"]


def test_a_header_renamed_mid_life_stops_writes_with_a_config_error(world: World) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("A"), "Name": "Ada"})
    c.fetch_changed(None)
    world.set_header([("E-mail" if h == "Email" else h) for h in HEADER])
    world.sb.sheets.clear_requests()

    with pytest.raises(ConfigError, match="no column 'Email'"):
        c.update(lid("A"), {"Status": "Contacted"})
    with pytest.raises(ConfigError, match="no column 'Email'"):
        c.acknowledge([lid("A")])

    assert world.sb.sheets.request_count("POST") == 0


def test_a_header_naming_a_column_twice_is_a_config_error(world: World) -> None:
    world.set_header([*HEADER, "Status"])
    with pytest.raises(ConfigError, match=r"column 'Status' appears 2 times in the header \(C, I\)"):
        world.connector().fetch_all()


def test_an_unknown_tab_or_spreadsheet_is_a_config_error(world: World) -> None:
    with pytest.raises(ConfigError, match="no tab named 'Prospects'"):
        world.connector(sheet="Prospects").fetch_all()
    world.spreadsheet_id = "x" * 44
    with pytest.raises(ConfigError, match="not found"):
        world.connector().fetch_all()


def test_describe_lists_the_header_as_text_columns(world: World) -> None:
    schema = world.connector().describe()
    assert schema.fields == dict.fromkeys(HEADER, "text")
    assert schema.options == {}


# -- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["00123", "+44 20 7946 0958", "=1+1", "TRUE", "1/2", "'quoted", " padded "])
def test_values_are_written_raw_and_read_back_as_the_same_text(world: World, text: str) -> None:
    c = world.connector()
    created = c.create({**SAMPLE, "Notes": text}, None)
    updated = c.update(created.id, {"Source": text})
    got = c.get(created.id)
    assert got is not None
    assert (got.fields["Notes"], got.fields["Source"]) == (text, text)
    assert updated.fields["Source"] == text


def test_none_clears_the_cell(world: World) -> None:
    c = world.connector()
    created = c.create(SAMPLE, None)
    c.update(created.id, {"Email": None})
    assert world.cells(created.id)["Email"] == ""
    assert c.get(created.id).fields["Email"] is None  # type: ignore[union-attr]


def test_unicode_headers_and_values_round_trip(sb: Sandbox, account: dict[str, str]) -> None:
    header = ["Nom 🚀", "Lead ID", "Trello Card", "leadsync"]
    world = World(sb, account, header)
    c = world.connector(fields=["Nom 🚀"])
    created = c.create({"Nom 🚀": UNICODE}, "card-ü")
    assert c.get(created.id).fields == {"Nom 🚀": UNICODE}  # type: ignore[union-attr]


def test_a_value_longer_than_a_cell_holds_is_a_record_error_and_nothing_is_sent(world: World) -> None:
    c = world.connector()
    created = c.create(SAMPLE, None)
    world.recorder.sent.clear()
    with pytest.raises(RecordError, match="column 'Notes'"):
        c.update(created.id, {"Notes": "x" * 50_001})
    assert world.recorder.sent == []


# -- archive ------------------------------------------------------------------------------------


def test_archive_writes_archived_into_the_state_cell_and_clearing_it_brings_the_lead_back(world: World) -> None:
    c = world.connector()
    created = c.create(SAMPLE, "card-1")
    c.archive(created.id)

    assert world.cells(created.id)["leadsync"] == ARCHIVED
    assert world.cells(created.id)["Name"] == SAMPLE["Name"], "the row is kept"
    assert c.get(created.id).deleted  # type: ignore[union-attr]
    assert c.fetch_changed("sheet").records == []
    world.type_cell(created.id, "leadsync", "")
    assert [r.id for r in c.fetch_changed("sheet").records] == [created.id]


# -- quotas, retries, auth ----------------------------------------------------------------------


def test_a_real_quota_429_resource_exhausted_is_retried(world: World) -> None:
    world.emulator.rate_limit(enabled=True, time_scale=60.0, read_per_minute_per_user=2)
    c = world.connector()
    for _ in range(7):  # two reads per 1 s window: 7 reads go over unless they spread over 4 windows
        c.fetch_all()
    world.emulator.rate_limit(enabled=False)
    assert c.transport.stats.throttled >= 1
    assert c.transport.stats.errors == 0


def test_connectors_of_one_service_account_share_one_rate_limiter(world: World) -> None:
    a, b = world.connector(), world.connector(sheet="Other")
    assert a.transport.rate_limiter is b.transport.rate_limiter


def test_a_retried_append_that_landed_twice_leaves_one_lead(world: World, caplog: pytest.LogCaptureFixture) -> None:
    c = world.connector()
    world.emulator.faults.next("lost_response", methods=["POST"], paths=[f"/v4/spreadsheets/{world.spreadsheet_id}"])

    created = c.create(SAMPLE, "card-1")

    assert "left 1 extra copies" in caplog.text
    assert [r.id for r in c.fetch_all().records] == [created.id]
    assert world.cells(created.id)["Trello Card"] == "card-1"


def test_the_token_comes_from_a_real_service_account_jwt_exchange_and_is_reused(world: World) -> None:
    sheets.clear_caches()
    world.connector().fetch_all()
    world.connector().fetch_all()  # another cycle, same process: same token
    assert world.emulator.requests[0] == ("POST", "/token")
    assert world.emulator.request_count(path_prefix="/token") == 1
    bearer = {a for a in world.recorder.auth if a.startswith("Bearer ")}
    assert len(bearer) == 1
    assert next(iter(bearer)).startswith("Bearer ya29.")


def test_a_revoked_token_is_replaced_once_and_the_call_succeeds(world: World) -> None:
    c = world.connector()
    c.fetch_all()
    world.emulator.require_token("only-tokens-google-issued")
    world.emulator.issuer.clear_tokens()  # the access token is no longer valid
    try:
        assert c.fetch_all().complete
    finally:
        world.emulator.require_token()
    assert len({a for a in world.recorder.auth if a.startswith("Bearer ")}) == 2
    assert c.transport.stats.errors == 1, "the 401, answered by fetching a new token"


def test_a_key_google_does_not_know_is_a_config_error_naming_the_account(sb: Sandbox) -> None:
    unknown = {**make_service_account(sb, "other@x.iam.gserviceaccount.com")}
    unknown["client_email"] = "stranger@x.iam.gserviceaccount.com"
    world = World(sb, unknown)
    with pytest.raises(ConfigError, match=r"stranger@x\.iam\.gserviceaccount\.com was refused an access token"):
        world.connector().fetch_all()


def test_a_json_that_is_not_a_service_account_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a service-account JSON key"):
        sheets.SheetsConnector.from_service_account(
            {"type": "authorized_user", "client_id": "x"}, spreadsheet_id="s" * 44, fields=["Name"]
        )


def test_set_links_finds_the_rows_where_they_are_now_and_writes_them_in_one_request(world: World) -> None:
    c = world.connector()
    for name in ("Ada", "Bob", "Cy"):
        world.type_row({"Lead ID": lid(name), "Name": name})
    c.fetch_changed(None)
    world.type_row({"Lead ID": lid("New"), "Name": "Someone typed above"}, at=2)  # every row moves down
    world.emulator.user_delete_row(world.spreadsheet_id, TAB, world.row_of(lid("Cy")))
    world.recorder.sent.clear()

    missing = c.set_links([(lid("Ada"), "card-a"), (lid("Bob"), "card-b"), (lid("Cy"), "card-c")])

    assert list(missing) == [lid("Cy")]
    assert lid("Cy") in str(missing[lid("Cy")])
    assert (world.cells(lid("Ada"))["Trello Card"], world.cells(lid("Bob"))["Trello Card"]) == ("card-a", "card-b")
    assert world.cells(lid("New"))["Trello Card"] == ""
    assert [m for m, *_ in world.recorder.sent] == ["GET", "POST"], "one read of the tab, one batch write"
    assert c.set_links([(lid("Ada"), "card-a")]) == {}
    assert len(world.recorder.writes()) == 1, "a marker already in place is not written again"


# -- direct reads of many rows ------------------------------------------------------------------


def test_get_many_reads_the_sheet_once_for_every_id_and_answers_each_as_get_would(world: World) -> None:
    c = world.connector()
    world.type_row({"Lead ID": lid("A"), "Name": "Ada", "Status": "New"})
    world.type_row({"Lead ID": lid("B"), "Name": "Bob", "Status": "New"})
    world.type_row({"Lead ID": lid("C"), "Name": "Cy", "Status": "New"})
    world.type_cell(lid("B"), "leadsync", ARCHIVED)
    world.emulator.user_delete_row(world.spreadsheet_id, TAB, world.row_of(lid("C")))
    world.sb.sheets.clear_requests()

    got = c.get_many([lid("A"), lid("B"), lid("C"), "L-../../x", lid("Z")])

    assert [m for m, p in world.sb.sheets.requests if p != "/token"] == ["GET"], "one read for five ids"
    ada, bob = got[lid("A")], got[lid("B")]
    assert isinstance(ada, Record)
    assert ada.fields["Name"] == "Ada"
    assert not ada.deleted
    assert isinstance(bob, Record)
    assert bob.deleted, "archived in the state column: deleted, as get says"
    assert got[lid("C")] is None, "a row deleted: not there"
    assert got[lid("Z")] is None, "never there"
    assert isinstance(got["L-../../x"], RecordError), "a malformed id is refused, the others still read"
    for record_id in (lid("A"), lid("B"), lid("C")):
        single = c.get(record_id)
        many = got[record_id]
        assert (single.deleted if single else None) == (many.deleted if isinstance(many, Record) else None)


def test_get_many_of_malformed_ids_only_sends_nothing(world: World) -> None:
    c = world.connector()
    world.sb.sheets.clear_requests()
    got = c.get_many(["nope", "L-short"])
    assert all(isinstance(answer, RecordError) for answer in got.values())
    assert [m for m, p in world.sb.sheets.requests if p != "/token"] == []
