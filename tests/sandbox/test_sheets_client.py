"""Fidelity: gspread with real service-account credentials (JWT exchanged at the sandbox) works unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gspread
import pytest
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.service_account import Credentials

from sandbox.sheets import SheetsEmulator, make_service_account

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
HEADER = ["Name", "Email", "Status", "Source", "Lead ID", "Trello Card"]


class SandboxSession(AuthorizedSession):
    """An authorized session that sends gspread's hard-coded Google URLs to the emulator."""

    def __init__(self, credentials: Credentials, base_url: str) -> None:
        super().__init__(credentials)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        url = url.replace("https://sheets.googleapis.com", self.base_url)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="module")
def _server() -> Iterator[SheetsEmulator]:
    emulator = SheetsEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def credentials(_server: SheetsEmulator) -> Credentials:
    return Credentials.from_service_account_info(make_service_account(_server), scopes=SCOPES)


@pytest.fixture
def sheets(_server: SheetsEmulator) -> SheetsEmulator:
    _server.reset()
    _server.clock.reset()
    return _server


@pytest.fixture
def worksheet(sheets: SheetsEmulator, credentials: Credentials) -> gspread.Worksheet:
    book = sheets.create_spreadsheet("Leads", {"Leads": [HEADER, ["Ada", "ada@x.io", "New", "web", "L1"]]})
    client = gspread.Client(auth=credentials, session=SandboxSession(credentials, sheets.url))
    return client.open_by_key(book).worksheet("Leads")


def test_credentials_exchange_a_jwt_at_the_sandbox_token_endpoint(
    sheets: SheetsEmulator, worksheet: gspread.Worksheet, credentials: Credentials
) -> None:
    assert credentials.token is not None
    assert credentials.token.startswith("ya29.sandbox-")
    assert worksheet.id == 0
    assert worksheet.row_count == 1000


def test_get_all_values_and_get_range(worksheet: gspread.Worksheet) -> None:
    assert worksheet.get_all_values() == [HEADER, ["Ada", "ada@x.io", "New", "web", "L1", ""]]
    assert worksheet.get("B2:C2") == [["ada@x.io", "New"]]
    assert worksheet.get("A5:B6") == [[]]  # gspread pads a range without values


def test_update_and_append_row(sheets: SheetsEmulator, worksheet: gspread.Worksheet) -> None:
    worksheet.update([["Contacted"]], "C2")
    worksheet.append_row(["Bo", "bo@x.io", "New", "ads", "L2"])
    values = sheets.values(worksheet.spreadsheet_id, "Leads")
    assert values[1][2] == "Contacted"
    assert values[2] == ["Bo", "bo@x.io", "New", "ads", "L2"]


def test_user_entered_versus_raw_through_gspread(worksheet: gspread.Worksheet) -> None:
    worksheet.update([["00123"]], "E2", raw=False)
    worksheet.update([["00123"]], "E3")
    assert worksheet.get("E2:E3") == [["123"], ["00123"]]


def test_batch_update_writes_several_ranges(worksheet: gspread.Worksheet) -> None:
    worksheet.batch_update([{"range": "F2", "values": [["card1"]]}, {"range": "A3:B3", "values": [["Cy", "cy@x"]]}])
    assert worksheet.get("F2") == [["card1"]]
    assert worksheet.row_values(3) == ["Cy", "cy@x"]


def test_insert_row_and_delete_rows_shift_data(sheets: SheetsEmulator, worksheet: gspread.Worksheet) -> None:
    worksheet.insert_row(["Zed", "z@x.io", "Lost"], 2)
    assert [row[0] for row in worksheet.get_all_values()] == ["Name", "Zed", "Ada"]
    worksheet.delete_rows(2)
    assert [row[0] for row in sheets.values(worksheet.spreadsheet_id, "Leads")] == ["Name", "Ada"]


def test_missing_worksheet_raises_worksheet_not_found(worksheet: gspread.Worksheet) -> None:
    with pytest.raises(gspread.WorksheetNotFound):
        worksheet.spreadsheet.worksheet("Nope")


def test_api_errors_surface_as_gspread_api_error(worksheet: gspread.Worksheet) -> None:
    with pytest.raises(gspread.exceptions.APIError) as excinfo:
        worksheet.spreadsheet.values_get("Nope!A1")
    assert excinfo.value.code == 400
    assert "Unable to parse range" in str(excinfo.value)


def test_sandbox_starts_sheets_with_token_uri_in_env() -> None:
    from sandbox import Sandbox

    with Sandbox.start(only=("sheets",)) as sb:
        env = sb.env()
        assert env["LEADSYNC_GOOGLE_TOKEN_URI"] == sb.sheets.token_uri == sb.sheets.url + "/token"
        assert make_service_account(sb)["token_uri"] == sb.sheets.token_uri


def test_google_auth_on_real_time_keeps_working_after_the_sandbox_clock_moves_hours_on(
    sheets: SheetsEmulator, worksheet: gspread.Worksheet, credentials: Credentials
) -> None:
    """The known failure: ``invalid_grant: Token must be a short-lived token`` once the sandbox clock
    was more than five minutes from real time. Now the old token expires by the sandbox clock (401),
    google-auth's session refreshes with an assertion stamped by real time, and the call succeeds."""
    old = credentials.token
    sheets.clock.advance(2 * 3600)
    assert worksheet.acell("A2").value == "Ada"
    assert credentials.token != old
    assert sheets.request_count("POST", "/token") == 1
