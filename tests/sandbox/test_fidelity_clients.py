"""Fidelity: each operation the product sends, sent by the service's official client.

`test_fidelity_coverage.FIDELITY` names, for every (method, path, notable parameter) the product
sends, the test below whose client call sends it; the autouse fixture checks that each test really
sent what the table says (so the table cannot claim a check that does not happen). Responses are
asserted against the documented shapes (../shared/api-notes.md), not against the sandbox's own code.
Where a client has no call for an operation, the test says so and sends it through the client's
own transport (py-trello's `fetch_json`, gspread's `values_*`), with the client's auth and parsing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import gspread
import pytest
import requests
from google.oauth2.service_account import Credentials
from notion_client import APIResponseError, Client
from pyairtable import Api
from pyairtable import formulas as F  # noqa: N812 (the library's documented alias)
from trello import TrelloClient

from sandbox.airtable import AirtableEmulator
from sandbox.common import Emulator
from sandbox.notion import NotionEmulator
from sandbox.sheets import SheetsEmulator, make_service_account
from sandbox.trello import TrelloEmulator
from tests.sandbox.test_fidelity_coverage import FIDELITY, expected_keys
from tests.sandbox.test_sheets_client import SandboxSession
from tests.sandbox.test_trello_client import KEY, TOKEN, Redirect

CARD_FIELDS = "id,name,desc,idList,idBoard,closed,dateLastActivity"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture(scope="module")
def _sheets_server() -> Iterator[SheetsEmulator]:
    emulator = SheetsEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def sheets(_sheets_server: SheetsEmulator) -> SheetsEmulator:
    _sheets_server.reset()
    _sheets_server.clock.reset()
    return _sheets_server


EMULATOR_FIXTURES = {"notion": "notion", "trello": "trello", "airtable": "airtable", "sheets": "sheets"}


@pytest.fixture(autouse=True)
def _sends_what_the_table_says(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test: every operation FIDELITY credits to it was received by the emulator."""
    name = request.node.originalname
    systems = {row.system for row in FIDELITY if row.test == name}
    emulators: dict[str, Emulator] = {s: request.getfixturevalue(EMULATOR_FIXTURES[s]) for s in systems}
    yield
    for system, emulator in emulators.items():
        seen = {key for op in emulator.operations for key in op.coverage_keys()}
        missing = expected_keys(system, name) - seen
        assert not missing, f"{name} is credited in FIDELITY with operations it did not send: {sorted(missing)}"


# ---------------------------------------------------------------------------------------------- Trello
@pytest.fixture
def trello_client(trello: TrelloEmulator) -> TrelloClient:
    """py-trello with the OAuth1-signed header (`token=`), as close as it gets to the product's OAuth header."""
    return TrelloClient(api_key=KEY, api_secret="app-secret", token=TOKEN, http_service=Redirect(trello.url))


@pytest.fixture
def board_id(trello: TrelloEmulator) -> str:
    return trello.create_board("Leads", ["To Do", "In Progress", "Done", "Lost"])


def test_trello_lists_with_filter_and_fields(trello_client: TrelloClient, board_id: str) -> None:
    lists = trello_client.fetch_json(
        f"/boards/{board_id}/lists", query_params={"filter": "all", "fields": "id,name,closed,pos"}
    )
    assert [lst["name"] for lst in lists] == ["To Do", "In Progress", "Done", "Lost"]
    assert all(set(lst) == {"id", "name", "closed", "pos"} and OBJECT_ID.match(lst["id"]) for lst in lists)
    assert [lst.name for lst in trello_client.get_board(board_id).get_lists("all")] == [x["name"] for x in lists]


def test_trello_board_cards_open_and_all_with_fields(
    trello_client: TrelloClient, trello: TrelloEmulator, board_id: str
) -> None:
    todo = trello.list_id(board_id, "To Do")
    live, gone = trello.user_create_card(todo, "Ada"), trello.user_create_card(todo, "Bo")
    trello.user_archive_card(gone)
    board = trello_client.get_board(board_id)
    assert [c.id for c in board.open_cards()] == [live]  # py-trello's Card objects need every field:
    assert {c.id for c in board.all_cards()} == {live, gone}  # `fields=` goes through fetch_json
    opened = trello_client.fetch_json(f"/boards/{board_id}/cards/open", query_params={"fields": CARD_FIELDS})
    everything = trello_client.fetch_json(f"/boards/{board_id}/cards/all", query_params={"fields": CARD_FIELDS})
    assert [c["id"] for c in opened] == [live]
    assert {c["id"]: c["closed"] for c in everything} == {live: False, gone: True}
    assert all(set(card) == set(CARD_FIELDS.split(",")) for card in everything)
    assert all(ISO_MS.match(card["dateLastActivity"]) for card in everything)


def test_trello_get_card_with_fields(trello_client: TrelloClient, trello: TrelloEmulator, board_id: str) -> None:
    card_id = trello.user_create_card(trello.list_id(board_id, "To Do"), "Ada", "hello")
    card = trello_client.fetch_json(f"/cards/{card_id}", query_params={"fields": CARD_FIELDS})
    assert set(card) == set(CARD_FIELDS.split(","))
    assert (card["name"], card["desc"], card["idBoard"], card["closed"]) == ("Ada", "hello", board_id, False)
    assert trello_client.get_card(card_id).name == "Ada"


def test_trello_create_card_with_list_name_and_desc(
    trello_client: TrelloClient, trello: TrelloEmulator, board_id: str
) -> None:
    todo = trello_client.get_board(board_id).get_list(trello.list_id(board_id, "To Do"))
    card = todo.add_card("Ada Lovelace", desc="Email: ada@example.com")
    assert (card.name, card.desc, card.idList) == ("Ada Lovelace", "Email: ada@example.com", todo.id)
    assert OBJECT_ID.match(card.id)


def test_trello_put_card_one_field_several_fields_and_closed(
    trello_client: TrelloClient, trello: TrelloEmulator, board_id: str
) -> None:
    """py-trello's setters use `PUT /cards/{id}/{field}`; the product's `PUT /cards/{id}` with one or
    several fields (and `closed`) has no setter, so it goes through py-trello's own `fetch_json`."""
    card_id = trello.user_create_card(trello.list_id(board_id, "To Do"), "Ada")
    done = trello.list_id(board_id, "Done")
    one = trello_client.fetch_json(f"/cards/{card_id}", http_method="PUT", post_args={"desc": "new"})
    assert one["desc"] == "new"
    several = trello_client.fetch_json(
        f"/cards/{card_id}", http_method="PUT", post_args={"name": "Ada L.", "desc": "newer", "idList": done}
    )
    assert (several["name"], several["desc"], several["idList"]) == ("Ada L.", "newer", done)
    closed = trello_client.fetch_json(f"/cards/{card_id}", http_method="PUT", post_args={"closed": True})
    assert closed["closed"] is True
    assert {"id", "name", "desc", "closed", "idList", "idBoard", "dateLastActivity", "shortLink"} <= set(closed)


# The keys of a recorded real `updateCard` (a list move, fiatjaf/trello-webhooks `card-list.json`)
RECORDED_MOVE_DATA_KEYS = {"listAfter", "listBefore", "board", "card", "old"}
RECORDED_MOVE_CARD_KEYS = {"shortLink", "idShort", "name", "id", "idList"}


def test_trello_board_actions_since_before_limit_filter_fields(
    trello_client: TrelloClient, trello: TrelloEmulator, board_id: str
) -> None:
    todo, done = trello.list_id(board_id, "To Do"), trello.list_id(board_id, "Done")
    card_id = trello.user_create_card(todo, "Ada")
    newest = trello_client.fetch_json(
        f"/boards/{board_id}/actions", query_params={"limit": 1, "fields": "id", "memberCreator": "false"}
    )
    assert len(newest) == 1
    assert set(newest[0]) == {"id"}
    cursor = newest[0]["id"]
    trello.user_move_card(card_id, done)
    trello.user_update_card(card_id, name="Ada L.")
    params = {
        "since": cursor,
        "limit": 1000,
        "filter": "createCard,updateCard,deleteCard",
        "fields": "id,type,data",
        "memberCreator": "false",
    }
    actions = trello_client.fetch_json(f"/boards/{board_id}/actions", query_params=params)
    assert [a["type"] for a in actions] == ["updateCard", "updateCard"]
    assert all(set(a) == {"id", "type", "data"} for a in actions)
    move = actions[1]["data"]
    assert set(move) >= RECORDED_MOVE_DATA_KEYS
    assert set(move["card"]) >= RECORDED_MOVE_CARD_KEYS
    assert move["old"] == {"idList": todo}
    older = trello_client.fetch_json(f"/boards/{board_id}/actions", query_params={**params, "before": actions[0]["id"]})
    assert [a["id"] for a in older] == [actions[1]["id"]]
    typed = trello_client.get_board(board_id).fetch_actions("updateCard", action_limit=5, since=cursor)
    assert [a["id"] for a in typed] == [a["id"] for a in actions]


def test_trello_board_labels_card_labels_and_label_actions(
    trello_client: TrelloClient, trello: TrelloEmulator, board_id: str
) -> None:
    """A label rule: the board's labels, a card created with one, cards read with theirs, and the
    addLabelToCard / removeLabelFromCard actions (api-notes §2.3 Label, §2.4, §2.5)."""
    board = trello_client.get_board(board_id)
    sync = board.add_label("Sync", "green")
    assert OBJECT_ID.match(sync.id)
    assert [(lb.id, lb.name, lb.color) for lb in board.get_labels()] == [(sync.id, "Sync", "green")]
    query = {"fields": "id,name,color", "limit": 1000}
    listed = trello_client.fetch_json(f"/boards/{board_id}/labels", query_params=query)
    assert listed == [{"id": sync.id, "name": "Sync", "color": "green"}]
    cursor = trello_client.fetch_json(f"/boards/{board_id}/actions", query_params={"limit": 1, "fields": "id"})[0]["id"]
    todo = board.get_list(trello.list_id(board_id, "To Do"))
    card = todo.add_card("Ada", desc="", labels=[sync])  # POST /1/cards with idLabels
    assert [lb.id for lb in trello_client.get_card(card.id).labels] == [sync.id]
    fields = CARD_FIELDS + ",labels"
    opened = trello_client.fetch_json(f"/boards/{board_id}/cards/open", query_params={"fields": fields})
    assert opened[0]["labels"] == [{"id": sync.id, "idBoard": board_id, "name": "Sync", "color": "green"}]
    card.remove_label(sync)
    assert trello_client.fetch_json(f"/cards/{card.id}", query_params={"fields": fields})["labels"] == []
    card.add_label(sync)
    actions = board.fetch_actions("addLabelToCard,removeLabelFromCard", action_limit=10, since=cursor)
    assert [a["type"] for a in actions] == ["addLabelToCard", "removeLabelFromCard"]
    assert actions[0]["data"]["card"]["id"] == card.id
    assert actions[0]["data"]["label"] == {"id": sync.id, "name": "Sync", "color": "green"}


# ---------------------------------------------------------------------------------------------- Notion
NOTION_PROPERTIES = {
    "Name": "title",
    "Email": "email",
    "Status": "status",
    "Source": "select",
    "Notes": "rich_text",
    "Score": "number",
    "Done": "checkbox",
    "Due": "date",
    "Site": "url",
    "Phone": "phone_number",
    "Tags": "multi_select",
    "Trello Card": "rich_text",
}


@pytest.fixture
def notion_client(notion: NotionEmulator) -> Client:
    return Client(auth="ntn_sandbox_token", base_url=notion.url, timeout_ms=5000)


@pytest.fixture
def leads(notion: NotionEmulator) -> tuple[str, str]:
    return notion.create_database(
        "Leads", NOTION_PROPERTIES, status_options=["New", "Won"], select_options={"Source": ["web"]}
    )


def test_notion_database_and_data_source_retrieve(notion_client: Client, leads: tuple[str, str]) -> None:
    db_id, ds_id = leads
    assert notion_client.databases.retrieve(database_id=db_id)["data_sources"] == [{"id": ds_id, "name": "Leads"}]
    schema = notion_client.data_sources.retrieve(data_source_id=ds_id)
    assert {name: prop["type"] for name, prop in schema["properties"].items()} == NOTION_PROPERTIES


def test_notion_create_and_update_every_writable_property_type(
    notion_client: Client, notion: NotionEmulator, leads: tuple[str, str]
) -> None:
    _, ds_id = leads
    long_text = "x" * 2000 + "y" * 500  # split into two rich-text items, as the product does
    properties = {
        "Name": {"title": [{"type": "text", "text": {"content": "Ada"}}]},
        "Email": {"email": "ada@example.com"},
        "Status": {"status": {"name": "New"}},
        "Source": {"select": {"name": "web"}},
        "Notes": {
            "rich_text": [{"type": "text", "text": {"content": c}} for c in (long_text[:2000], long_text[2000:])]
        },
        "Score": {"number": 42.5},
        "Done": {"checkbox": True},
        "Due": {"date": {"start": "2025-05-01"}},
        "Site": {"url": "https://example.com"},
        "Phone": {"phone_number": "+44 20 7946 0000"},
        "Tags": {"multi_select": [{"name": "vip"}, {"name": "eu"}]},
    }
    page = notion_client.pages.create(parent={"type": "data_source_id", "data_source_id": ds_id}, properties=properties)
    props = page["properties"]
    assert "".join(item["plain_text"] for item in props["Notes"]["rich_text"]) == long_text
    assert (props["Score"]["number"], props["Done"]["checkbox"], props["Due"]["date"]["start"]) == (
        42.5,
        True,
        "2025-05-01",
    )
    assert (props["Site"]["url"], props["Phone"]["phone_number"]) == ("https://example.com", "+44 20 7946 0000")
    assert [o["name"] for o in props["Tags"]["multi_select"]] == ["vip", "eu"]
    assert all({"id", "name", "color"} <= set(o) for o in props["Tags"]["multi_select"])
    assert props["Due"]["date"].keys() >= {"start", "end", "time_zone"}
    cleared = {
        "Email": {"email": None},
        "Status": {"status": {"name": "Won"}},
        "Source": {"select": None},
        "Notes": {"rich_text": [{"type": "text", "text": {"content": "short"}}]},
        "Score": {"number": None},
        "Done": {"checkbox": False},
        "Due": {"date": None},
        "Site": {"url": None},
        "Phone": {"phone_number": None},
        "Tags": {"multi_select": []},
        "Name": {"title": [{"type": "text", "text": {"content": "Ada L."}}]},
    }
    updated = notion_client.pages.update(page_id=page["id"], properties=cleared)["properties"]
    assert (updated["Email"]["email"], updated["Source"]["select"]) == (None, None)
    assert (updated["Score"]["number"], updated["Done"]["checkbox"], updated["Due"]["date"]) == (None, False, None)
    assert updated["Tags"]["multi_select"] == []
    assert updated["Status"]["status"]["name"] == "Won"
    trashed = notion_client.pages.update(page_id=page["id"], in_trash=True)
    assert trashed["in_trash"] is True
    assert notion_client.pages.retrieve(page_id=page["id"])["in_trash"] is True


def test_notion_query_sorts_timestamp_windows_and_rich_text_equals(
    notion_client: Client, notion: NotionEmulator, leads: tuple[str, str]
) -> None:
    _, ds_id = leads
    ids = []
    for name in ("A", "B", "C"):
        ids.append(notion.user_create_page(ds_id, {"Name": name, "Trello Card": f"card-{name}"}))
        notion.clock.advance(60)
    notion.user_update_page(ids[0], {"Email": "a@x.io"})  # A is now the last edited
    by_edit = notion_client.data_sources.query(
        data_source_id=ds_id,
        sorts=[{"timestamp": "last_edited_time", "direction": "ascending"}],
        filter={"timestamp": "last_edited_time", "last_edited_time": {"on_or_after": "2000-01-01T00:00:00.000Z"}},
        page_size=100,
    )
    assert [p["id"] for p in by_edit["results"]] == [ids[1], ids[2], ids[0]]
    assert (by_edit["object"], by_edit["has_more"], by_edit["next_cursor"]) == ("list", False, None)
    second = notion_client.pages.retrieve(page_id=ids[1])["created_time"]
    window = notion_client.data_sources.query(
        data_source_id=ds_id,
        sorts=[{"timestamp": "created_time", "direction": "ascending"}],
        filter={"timestamp": "created_time", "created_time": {"on_or_after": second}},
        page_size=2,
    )
    assert [p["id"] for p in window["results"]] == [ids[1], ids[2]]
    assert window["has_more"] is False
    paged = notion_client.data_sources.query(
        data_source_id=ds_id, sorts=[{"timestamp": "created_time", "direction": "ascending"}], page_size=2
    )
    assert paged["has_more"] is True
    assert paged["next_cursor"]
    rest = notion_client.data_sources.query(
        data_source_id=ds_id,
        sorts=[{"timestamp": "created_time", "direction": "ascending"}],
        page_size=2,
        start_cursor=paged["next_cursor"],
    )
    assert [p["id"] for p in paged["results"] + rest["results"]] == ids
    found = notion_client.data_sources.query(
        data_source_id=ds_id, filter={"property": "Trello Card", "rich_text": {"equals": "card-B"}}, page_size=100
    )
    assert [p["id"] for p in found["results"]] == [ids[1]]


def test_notion_query_stops_at_the_result_cap_with_request_status(
    notion_client: Client, notion: NotionEmulator, leads: tuple[str, str]
) -> None:
    """The 10,000-result cap cannot be reached with a client in a test: the cap is lowered, and the
    answer checked against the documented shape (api-notes §1.6 `request_status`)."""
    _, ds_id = leads
    for name in ("A", "B", "C"):
        notion.user_create_page(ds_id, {"Name": name})
    notion.result_cap = 2
    try:
        answer = notion_client.data_sources.query(
            data_source_id=ds_id, sorts=[{"timestamp": "created_time", "direction": "ascending"}], page_size=100
        )
    finally:
        notion.result_cap = 10_000
    assert len(answer["results"]) == 2
    assert answer["has_more"] is False
    assert answer["request_status"] == {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}


def test_notion_query_with_a_rule_filter_and_filter_properties(
    notion_client: Client, notion: NotionEmulator, leads: tuple[str, str]
) -> None:
    """A filter rule's membership read: the user's filter (status/select equals, rich_text contains,
    checkbox, and/or compounds) with only the title property returned; a filter of the wrong type
    is Notion's 400 validation_error."""
    _, ds_id = leads
    ada = notion.user_create_page(ds_id, {"Name": "Ada", "Status": "Won", "Notes": "met on the web", "Done": True})
    notion.user_create_page(ds_id, {"Name": "Bob", "Status": "New", "Notes": "fair", "Source": "web"})
    cy = notion.user_create_page(ds_id, {"Name": "Cy", "Status": "New", "Notes": "web form", "Done": True})
    title = notion_client.data_sources.retrieve(data_source_id=ds_id)["properties"]["Name"]["id"]
    rule = {
        "and": [
            {
                "or": [
                    {"property": "Status", "status": {"equals": "Won"}},
                    {"property": "Done", "checkbox": {"equals": True}},
                ]
            },
            {"property": "Notes", "rich_text": {"contains": "WEB"}},
        ]
    }
    answer = notion_client.data_sources.query(data_source_id=ds_id, filter=rule, filter_properties=[title])
    assert [p["id"] for p in answer["results"]] == [ada, cy]
    assert all(set(p["properties"]) == {"Name"} for p in answer["results"])
    by_select = notion_client.data_sources.query(
        data_source_id=ds_id, filter={"property": "Source", "select": {"equals": "web"}}, page_size=1
    )
    assert len(by_select["results"]) == 1
    wrong_type = {"property": "Status", "select": {"equals": "Won"}}
    with pytest.raises(APIResponseError) as refused:
        notion_client.data_sources.query(data_source_id=ds_id, filter=wrong_type)
    assert (refused.value.status, refused.value.code) == (400, "validation_error")


# -------------------------------------------------------------------------------------------- Airtable
@pytest.fixture
def table(airtable: AirtableEmulator, airtable_base: str) -> Any:
    return Api("patSANDBOX", endpoint_url=airtable.url).table(airtable_base, "Leads")


def test_airtable_schema(table: Any) -> None:
    schema = table.schema()
    types = {f.name: f.type for f in schema.fields}
    assert {"Name": "singleLineText", "Last Modified": "lastModifiedTime"}.items() <= types.items()
    assert schema.id.startswith("tbl")
    assert all(f.id.startswith("fld") for f in schema.fields)


def test_airtable_list_with_fields_sort_page_size_and_last_modified_field_formula(
    airtable: AirtableEmulator, table: Any
) -> None:
    """The product's changed-since formula: a window on the table's "Last modified time" FIELD."""
    early = table.create({"Name": "early"})
    airtable.clock.advance(120)
    since = airtable.clock.now()
    airtable.clock.advance(1)
    late = table.create({"Name": "late"})
    table.update(early["id"], {"Status": "Won"})
    stamp = F.DATETIME_PARSE(since.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    formula = F.AND(F.NOT(F.IS_BEFORE(F.Field("Last Modified"), stamp)), F.Field("Last Modified"))
    pages = list(
        table.iterate(formula=formula, sort=["Last Modified"], fields=["Name", "Status", "Last Modified"], page_size=1)
    )
    found = [r for page in pages for r in page]
    assert [r["id"] for r in found] == [late["id"], early["id"]]
    assert len(pages) == 2  # pageSize + offset
    assert all(set(r) >= {"id", "createdTime", "fields"} for r in found)
    assert all(set(r["fields"]) <= {"Name", "Status", "Last Modified"} for r in found)
    modified = datetime.fromisoformat(found[-1]["fields"]["Last Modified"].replace("Z", "+00:00"))
    assert modified > since.astimezone(UTC)


def test_airtable_list_records_by_post(airtable: AirtableEmulator, table: Any) -> None:
    """pyairtable switches to `POST …/listRecords` for a URL over 16,000 characters; the limit is
    lowered so an ordinary query takes that path."""
    table.batch_create([{"Name": "Ada"}, {"Name": "Bo"}])
    table.api.MAX_URL_LENGTH = 10
    found = table.all(formula=F.EQ(F.Field("Name"), "Bo"), fields=["Name"], sort=["Name"], page_size=100)
    assert [r["fields"] for r in found] == [{"Name": "Bo"}]
    assert airtable.request_count("POST", f"/v0/{table.base.id}/Leads/listRecords") == 1


def test_airtable_batch_create_update_and_single_patch_with_typecast(airtable: AirtableEmulator, table: Any) -> None:
    created = table.batch_create([{"Name": "Ada", "Status": "New"}, {"Name": "Bo"}], typecast=False)
    assert [r["fields"]["Name"] for r in created] == ["Ada", "Bo"]
    assert all(re.fullmatch(r"rec[A-Za-z0-9]{14}", r["id"]) for r in created)
    updated = table.batch_update([{"id": created[0]["id"], "fields": {"Status": "Won"}}], typecast=False)
    assert updated[0]["fields"]["Status"] == "Won"
    one = table.update(created[1]["id"], {"Status": "New"}, typecast=False)
    assert one["fields"] == {**one["fields"], "Name": "Bo", "Status": "New"}
    assert set(one) >= {"id", "createdTime", "fields"}
    assert table.delete(created[1]["id"]) == {"id": created[1]["id"], "deleted": True}


def test_airtable_get_record(table: Any) -> None:
    record = table.create({"Name": "Ada"})
    got = table.get(record["id"])
    assert got["id"] == record["id"]
    assert got["fields"]["Name"] == "Ada"


def test_airtable_list_a_view_with_one_field(airtable: AirtableEmulator, airtable_base: str, table: Any) -> None:
    """A view rule's membership read: the records of a view (by name or id) with one small field;
    an unknown view is a 422."""
    won = table.create({"Name": "Ada", "Status": "Won"})
    table.create({"Name": "Bob", "Status": "New"})
    view_id = airtable.create_view(airtable_base, "Leads", "Won leads", "{Status}='Won'")
    views = {v.name: v.id for v in table.schema().views}
    assert views == {"Grid view": views["Grid view"], "Won leads": view_id}
    found = table.all(view="Won leads", fields=["Last Modified"], page_size=100)
    assert [r["id"] for r in found] == [won["id"]]
    assert set(found[0]["fields"]) <= {"Last Modified"}
    assert [r["id"] for r in table.all(view=view_id)] == [won["id"]]
    with pytest.raises(requests.HTTPError) as refused:
        table.all(view="No such view")
    assert refused.value.response.status_code == 422


def test_airtable_webhook_list_and_payloads_from_a_cursor(airtable: AirtableEmulator, airtable_base: str) -> None:
    """The cycle's payload read (leadsync/cycle/payloads.py): find our webhook in the base's list, then
    read its payloads from a stored cursor. pyairtable parses each one as a `WebhookPayload`."""
    from pyairtable.models.webhook import WebhookPayload

    api = Api("patSANDBOX", endpoint_url=airtable.url)
    base, table = api.base(airtable_base), api.table(airtable_base, "Leads")
    airtable.deliverer.configure(drop=1.0)  # no receiver here: the pings are not the point
    spec = {"options": {"filters": {"dataTypes": ["tableData"]}}}
    made = base.add_webhook("https://receiver.example/webhooks/airtable/p1", spec)
    (listed,) = base.webhooks()
    assert (listed.id, listed.notification_url, listed.cursor_for_next_payload) == (
        made.id,
        "https://receiver.example/webhooks/airtable/p1",
        1,
    )

    ada = table.create({"Name": "Ada"})
    table.update(ada["id"], {"Status": "Won"})
    table.delete(ada["id"])
    payloads = list(base.webhook(made.id).payloads(cursor=1))
    assert all(isinstance(p, WebhookPayload) for p in payloads)
    assert [p.cursor for p in payloads] == [1, 2, 3]
    assert [p.base_transaction_number for p in payloads] == sorted({p.base_transaction_number for p in payloads})
    assert {p.action_metadata.source for p in payloads if p.action_metadata} == {"publicApi"}
    (table_id,) = payloads[0].changed_tables_by_id
    assert table_id == table.schema().id
    created, changed, destroyed = (p.changed_tables_by_id[table_id] for p in payloads)
    assert list(created.created_records_by_id) == [ada["id"]]
    assert list(changed.changed_records_by_id) == [ada["id"]]
    assert destroyed.destroyed_record_ids == [ada["id"]]

    later = list(base.webhook(made.id).payloads(cursor=3))  # from a stored cursor: that payload and after
    assert [(p.cursor, p.changed_tables_by_id[table_id].destroyed_record_ids) for p in later] == [(3, [ada["id"]])]
    assert list(base.webhook(made.id).payloads(cursor=4)) == []
    assert base.webhooks()[0].cursor_for_next_payload == 4


# ---------------------------------------------------------------------------------------------- Sheets
SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
HEADER = ["Name", "Email", "Status", "Lead ID", "Trello Card", "leadsync"]


@pytest.fixture
def spreadsheet(sheets: SheetsEmulator) -> gspread.Spreadsheet:
    book = sheets.create_spreadsheet("Leads", {"Leads": [HEADER, ["Ada", "ada@x.io", "New", "L-1"]]})
    credentials = Credentials.from_service_account_info(make_service_account(sheets), scopes=SCOPES)
    client = gspread.Client(auth=credentials, session=SandboxSession(credentials, sheets.url))
    return client.open_by_key(book)


READ = {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"}


def test_sheets_token_exchange_and_values_get(spreadsheet: gspread.Spreadsheet) -> None:
    answer = spreadsheet.values_get("'Leads'!A1:Z", params=READ)
    assert answer["range"] == "Leads!A1:Z1000"
    assert answer["majorDimension"] == "ROWS"
    assert answer["values"] == [HEADER, ["Ada", "ada@x.io", "New", "L-1"]]  # trailing empty cells dropped


def test_sheets_values_batch_get(spreadsheet: gspread.Spreadsheet) -> None:
    answer = spreadsheet.values_batch_get(["'Leads'!1:1", "'Leads'!A2:Z2"], params=READ)
    assert answer["spreadsheetId"] == spreadsheet.id
    assert [v["range"] for v in answer["valueRanges"]] == ["Leads!A1:Z1", "Leads!A2:Z2"]
    assert answer["valueRanges"][1]["values"] == [["Ada", "ada@x.io", "New", "L-1"]]


def test_sheets_values_batch_update_raw(spreadsheet: gspread.Spreadsheet, sheets: SheetsEmulator) -> None:
    body = {
        "valueInputOption": "RAW",
        "data": [
            {"range": "'Leads'!E2", "majorDimension": "ROWS", "values": [["0000123"]]},
            {"range": "'Leads'!F2", "majorDimension": "ROWS", "values": [["=1+1"]]},
        ],
    }
    answer = spreadsheet.values_batch_update(body)
    assert answer["spreadsheetId"] == spreadsheet.id
    assert answer["totalUpdatedCells"] == 2
    assert [r["updatedRange"] for r in answer["responses"]] == ["Leads!E2", "Leads!F2"]
    assert sheets.values(spreadsheet.id, "Leads")[1][4:] == ["0000123", "=1+1"]


def test_sheets_values_append_insert_rows_raw(spreadsheet: gspread.Spreadsheet, sheets: SheetsEmulator) -> None:
    answer = spreadsheet.values_append(
        "'Leads'!A1:Z",
        params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
        body={"majorDimension": "ROWS", "values": [["Bo", "bo@x.io", "New", "L-2"]]},
    )
    assert answer["spreadsheetId"] == spreadsheet.id
    assert answer["tableRange"] == "Leads!A1:F2"  # the header's six columns
    assert answer["updates"]["updatedRange"] == "Leads!A3:D3"
    assert answer["updates"]["updatedRows"] == 1
    assert sheets.values(spreadsheet.id, "Leads")[2] == ["Bo", "bo@x.io", "New", "L-2"]
