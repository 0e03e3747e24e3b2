"""Coverage of the fidelity suite: every operation the product sends has an official-client check.

`FIDELITY` is the table (mirrored in docs/sandbox.md, "Fidelity: operations and the client calls
that check them"): each row is an operation — (system, method, route template, notable params) as
the emulators classify requests (`Emulator.operations`) — with the official-client call that sends
it and the test in `test_fidelity_clients.py` that makes that call and checks the documented answer
(that test's autouse fixture fails if it does not send what its rows say).

`test_every_operation_the_product_sends_has_a_fidelity_check` runs the product (the real handler
over a scripted e2e-like scenario per lead tracker, see `product_run.py`) and fails on any
(method, path, param) it sent that no row covers, so coverage cannot drift when a connector
starts sending something new.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest


class Check(NamedTuple):
    system: str
    method: str
    path: str
    params: tuple[str, ...]
    client_call: str
    test: str


def _rows() -> list[Check]:
    trello, notion, airtable, sheets = "trello", "notion", "airtable", "sheets"
    t, n, a, s = (
        "test_trello_",
        "test_notion_",
        "test_airtable_",
        "test_sheets_",
    )
    return [
        # ---- Trello (py-trello 0.20; `fetch_json` is py-trello's own transport with its OAuth1 signing)
        Check(trello, "GET", "/1/boards/{board_id}/lists", ("filter", "fields"),
              "TrelloClient.fetch_json('/boards/{id}/lists', query_params={filter, fields}); Board.get_lists",
              t + "lists_with_filter_and_fields"),
        Check(trello, "GET", "/1/boards/{board_id}/cards/open", ("fields",),
              "TrelloClient.fetch_json('/boards/{id}/cards/open', query_params={fields}); Board.open_cards",
              t + "board_cards_open_and_all_with_fields"),
        Check(trello, "GET", "/1/boards/{board_id}/cards/all", ("fields",),
              "TrelloClient.fetch_json('/boards/{id}/cards/all', query_params={fields}); Board.all_cards",
              t + "board_cards_open_and_all_with_fields"),
        Check(trello, "GET", "/1/cards/{card_id}", ("fields",),
              "TrelloClient.fetch_json('/cards/{id}', query_params={fields}); TrelloClient.get_card",
              t + "get_card_with_fields"),
        Check(trello, "POST", "/1/cards", ("idList", "name", "desc"), "List.add_card(name, desc)",
              t + "create_card_with_list_name_and_desc"),
        Check(trello, "PUT", "/1/cards/{card_id}", ("desc", "name", "idList", "closed", "(several fields)"),
              "TrelloClient.fetch_json('/cards/{id}', 'PUT', post_args=…) (py-trello's setters use "
              "/cards/{id}/{field}; it has no multi-field update)",
              t + "put_card_one_field_several_fields_and_closed"),
        Check(trello, "GET", "/1/boards/{board_id}/actions",
              ("since", "before", "limit", "filter", "fields", "memberCreator"),
              "TrelloClient.fetch_json('/boards/{id}/actions', query_params=…); Board.fetch_actions(since=…); "
              "data shape checked against a recorded real updateCard",
              t + "board_actions_since_before_limit_filter_fields"),
        Check(trello, "GET", "/1/boards/{board_id}/labels", ("fields", "limit"),
              "Board.get_labels(); TrelloClient.fetch_json('/boards/{id}/labels', query_params={fields, limit})",
              t + "board_labels_card_labels_and_label_actions"),
        Check(trello, "POST", "/1/cards", ("idList", "name", "desc", "idLabels"),
              "List.add_card(name, desc, labels=[label])", t + "board_labels_card_labels_and_label_actions"),
        Check(trello, "GET", "/1/boards/{board_id}/cards/open", ("fields",),
              "TrelloClient.fetch_json('/boards/{id}/cards/open', query_params={fields: …,labels})",
              t + "board_labels_card_labels_and_label_actions"),
        Check(trello, "GET", "/1/boards/{board_id}/actions", ("since", "limit", "filter"),
              "Board.fetch_actions('addLabelToCard,removeLabelFromCard', since=…)",
              t + "board_labels_card_labels_and_label_actions"),
        # ---- Notion (notion-client 3.x, Notion-Version 2025-09-03)
        Check(notion, "GET", "/v1/databases/{db_id}", (), "databases.retrieve",
              n + "database_and_data_source_retrieve"),
        Check(notion, "GET", "/v1/data_sources/{ds_id}", (), "data_sources.retrieve",
              n + "database_and_data_source_retrieve"),
        Check(notion, "POST", "/v1/pages",
              ("parent.data_source_id", "properties.title", "properties.email", "properties.status",
               "properties.select", "properties.rich_text", "properties.rich_text.split", "properties.number",
               "properties.checkbox", "properties.date", "properties.url", "properties.phone_number",
               "properties.multi_select"),
              "pages.create(parent={data_source_id}, properties=<every writable type>)",
              n + "create_and_update_every_writable_property_type"),
        Check(notion, "PATCH", "/v1/pages/{page_id}",
              ("properties.title", "properties.email", "properties.status", "properties.select",
               "properties.rich_text", "properties.number", "properties.checkbox", "properties.date",
               "properties.url", "properties.phone_number", "properties.multi_select", "in_trash"),
              "pages.update(properties=…); pages.update(in_trash=True)",
              n + "create_and_update_every_writable_property_type"),
        Check(notion, "GET", "/v1/pages/{page_id}", (), "pages.retrieve",
              n + "create_and_update_every_writable_property_type"),
        Check(notion, "POST", "/v1/data_sources/{ds_id}/query",
              ("sorts.timestamp:last_edited_time", "sorts.timestamp:created_time",
               "filter.timestamp:last_edited_time.on_or_after", "filter.timestamp:created_time.on_or_after",
               "filter.property:rich_text.equals", "page_size", "start_cursor"),
              "data_sources.query(sorts=…, filter=…, page_size=…, start_cursor=…)",
              n + "query_sorts_timestamp_windows_and_rich_text_equals"),
        Check(notion, "POST", "/v1/data_sources/{ds_id}/query",
              ("filter.and", "filter.or", "filter.property:status.equals", "filter.property:checkbox.equals",
               "filter.property:rich_text.contains", "filter.property:select.equals", "filter_properties",
               "page_size"),
              "data_sources.query(filter=<a rule's filter>, filter_properties=[title id]); page_size=1",
              n + "query_with_a_rule_filter_and_filter_properties"),
        Check(notion, "POST", "/v1/data_sources/{ds_id}/query", ("sorts.timestamp:created_time", "page_size"),
              "data_sources.query at the result cap (request_status incomplete)",
              n + "query_stops_at_the_result_cap_with_request_status"),
        # ---- Airtable (pyairtable 3.x)
        Check(airtable, "GET", "/v0/meta/bases/{base_id}/tables", (), "Table.schema()", a + "schema"),
        Check(airtable, "GET", "/v0/{base_id}/{table_key}",
              ("fields[]", "sort", "pageSize", "offset", "filterByFormula", "filterByFormula:NOT",
               "filterByFormula:IS_BEFORE", "filterByFormula:DATETIME_PARSE", "filterByFormula:AND",
               "filterByFormula:{field}"),
              "Table.iterate(formula=<window on the Last-modified field>, sort=…, fields=…, page_size=…)",
              a + "list_with_fields_sort_page_size_and_last_modified_field_formula"),
        Check(airtable, "GET", "/v0/{base_id}/{table_key}", ("view", "fields[]", "pageSize"),
              "Table.all(view=…, fields=[one field], page_size=100); Table.schema().views",
              a + "list_a_view_with_one_field"),
        Check(airtable, "POST", "/v0/{base_id}/{table_key}/listRecords",
              ("filterByFormula", "fields", "sort", "pageSize"),
              "Table.all(…) past Api.MAX_URL_LENGTH (pyairtable's POST fallback)", a + "list_records_by_post"),
        Check(airtable, "POST", "/v0/{base_id}/{table_key}", ("records", "typecast"),
              "Table.batch_create(…, typecast=False)", a + "batch_create_update_and_single_patch_with_typecast"),
        Check(airtable, "PATCH", "/v0/{base_id}/{table_key}", ("records", "typecast"),
              "Table.batch_update(…, typecast=False)", a + "batch_create_update_and_single_patch_with_typecast"),
        Check(airtable, "PATCH", "/v0/{base_id}/{table_key}/{record_id}", ("fields", "typecast"),
              "Table.update(id, fields, typecast=False)", a + "batch_create_update_and_single_patch_with_typecast"),
        Check(airtable, "DELETE", "/v0/{base_id}/{table_key}/{record_id}", (), "Table.delete(id)",
              a + "batch_create_update_and_single_patch_with_typecast"),
        Check(airtable, "GET", "/v0/{base_id}/{table_key}/{record_id}", (), "Table.get(id)", a + "get_record"),
        Check(airtable, "GET", "/v0/bases/{base_id}/webhooks", (), "Base.webhooks()",
              a + "webhook_list_and_payloads_from_a_cursor"),
        Check(airtable, "GET", "/v0/bases/{base_id}/webhooks/{hook_id}/payloads", ("cursor",),
              "Webhook.payloads(cursor=…)", a + "webhook_list_and_payloads_from_a_cursor"),
        # ---- Google Sheets (gspread 6 + google-auth service-account credentials)
        Check(sheets, "POST", "/token", ("grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer",),
              "google.oauth2.service_account.Credentials.refresh (JWT bearer grant)",
              s + "token_exchange_and_values_get"),
        Check(sheets, "GET", "/v4/spreadsheets/{spreadsheetId}/values/{range}",
              ("valueRenderOption=FORMATTED_VALUE", "majorDimension=ROWS"),
              "Spreadsheet.values_get(range, params=…)", s + "token_exchange_and_values_get"),
        Check(sheets, "GET", "/v4/spreadsheets/{spreadsheetId}/values:batchGet",
              ("ranges", "valueRenderOption=FORMATTED_VALUE", "majorDimension=ROWS"),
              "Spreadsheet.values_batch_get(ranges, params=…)", s + "values_batch_get"),
        Check(sheets, "POST", "/v4/spreadsheets/{spreadsheetId}/values:batchUpdate", ("valueInputOption=RAW", "data"),
              "Spreadsheet.values_batch_update(body)", s + "values_batch_update_raw"),
        Check(sheets, "POST", "/v4/spreadsheets/{spreadsheetId}/values/{range}:append",
              ("valueInputOption=RAW", "insertDataOption=INSERT_ROWS", "majorDimension=ROWS", "values"),
              "Spreadsheet.values_append(range, params=…, body=…)", s + "values_append_insert_rows_raw"),
    ]  # fmt: skip


FIDELITY: list[Check] = _rows()


def covered() -> set[tuple[str, str, str, str]]:
    """Every (system, method, path, param) some row checks, plus param "" for each route."""
    return {(r.system, r.method, r.path, p) for r in FIDELITY for p in (*r.params, "")}


def expected_keys(system: str, test: str) -> set[tuple[str, str, str, str]]:
    """What the rows crediting `test` say it sends to `system`."""
    return {
        (r.system, r.method, r.path, p)
        for r in FIDELITY
        if r.system == system and r.test == test
        for p in (*r.params, "")
    }


@pytest.fixture(scope="module")
def product_keys(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str, str, str]]:
    from tests.sandbox.product_run import product_operations

    return {key for op in product_operations(tmp_path_factory.mktemp("product")) for key in op.coverage_keys()}


def test_every_operation_the_product_sends_has_a_fidelity_check(product_keys: set[tuple[str, str, str, str]]) -> None:
    uncovered = sorted(product_keys - covered())
    assert not uncovered, (
        "the product sends operations no official-client check covers; add a test to test_fidelity_clients.py "
        f"and a row to FIDELITY (and docs/sandbox.md): {uncovered}"
    )


def test_the_product_run_reaches_every_system_and_its_core_routes(product_keys: set[tuple[str, str, str, str]]) -> None:
    """Guard against a run that silently does nothing (and so covers everything)."""
    routes = {(system, method, path) for system, method, path, _ in product_keys}
    assert {
        ("notion", "POST", "/v1/data_sources/{ds_id}/query"),
        ("notion", "PATCH", "/v1/pages/{page_id}"),
        ("trello", "POST", "/1/cards"),
        ("trello", "PUT", "/1/cards/{card_id}"),
        ("trello", "GET", "/1/boards/{board_id}/actions"),
        ("airtable", "GET", "/v0/{base_id}/{table_key}"),
        ("sheets", "POST", "/token"),
        ("sheets", "POST", "/v4/spreadsheets/{spreadsheetId}/values:batchUpdate"),
    } <= routes
    assert ("trello", "PUT", "/1/cards/{card_id}", "(several fields)") in product_keys


def test_every_row_names_a_real_client_test() -> None:
    from tests.sandbox import test_fidelity_clients

    missing = sorted({r.test for r in FIDELITY if not callable(getattr(test_fidelity_clients, r.test, None))})
    assert not missing


def test_docs_mirror_the_table() -> None:
    """docs/sandbox.md lists each row: route, params and client call."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text()
    section = doc.split("## Fidelity: operations and the client calls that check them", 1)[-1]
    documented = {
        tuple(cell.strip().strip("`") for cell in line.strip().strip("|").split("|")[:3])
        for line in section.splitlines()
        if line.startswith("| ") and re.match(r"\| \w+ \| `", line)
    }
    expected = {(r.system, f"{r.method} {r.path}", ", ".join(r.params) or "—") for r in FIDELITY}
    assert expected <= {(d[0], d[1], d[2].replace("`", "")) for d in documented if len(d) == 3}, sorted(
        expected - {(d[0], d[1], d[2].replace("`", "")) for d in documented if len(d) == 3}
    )
