"""Direct HTTP checks of the Sheets emulator: auth, token endpoint, ranges, writes, batchUpdate, quotas."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from google.auth import crypt, jwt

from sandbox.sheets import SheetsEmulator, make_service_account

NEVER_ISSUED = {"Authorization": "Bearer ya29.a-token-google-never-issued"}
ROWS = [["Name", "Email", "Status"], ["Ada", "ada@x.io", "New"], ["Bo", "", "Won"]]


@pytest.fixture(scope="module")
def _server() -> Iterator[SheetsEmulator]:
    emulator = SheetsEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def account(_server: SheetsEmulator) -> dict[str, str]:
    return make_service_account(_server)


@pytest.fixture
def sheets(_server: SheetsEmulator) -> SheetsEmulator:
    _server.reset()
    _server.clock.reset()
    return _server


@pytest.fixture
def book(sheets: SheetsEmulator) -> str:
    return sheets.create_spreadsheet("Leads", {"Leads": ROWS, "My Sheet": []})


def call(sheets: SheetsEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {sheets.issue_token()}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{sheets.url}/v4/spreadsheets/{path}", headers=headers, timeout=5, **kwargs)


def values_path(book: str, a1: str, suffix: str = "") -> str:
    return f"{book}/values/{quote(a1)}{suffix}"


def google_status(response: requests.Response) -> tuple[int, str]:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    return response.status_code, error["status"]


def assertion(account: dict[str, str], **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": account["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "scope": "https://www.googleapis.com/auth/spreadsheets",
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }
    signer = crypt.RSASigner.from_service_account_info(account)
    return jwt.encode(signer, claims).decode()


def exchange(sheets: SheetsEmulator, jwt_text: str) -> requests.Response:
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": jwt_text}
    return requests.post(sheets.token_uri, data=form, timeout=5)


# ------------------------------------------------------------------------------------------ auth
def test_missing_token_is_401_unauthenticated(sheets: SheetsEmulator, book: str) -> None:
    response = requests.get(f"{sheets.url}/v4/spreadsheets/{book}", timeout=5)
    assert google_status(response) == (401, "UNAUTHENTICATED")


def test_token_exchange_issues_a_bearer_token_the_api_accepts(
    sheets: SheetsEmulator, book: str, account: dict[str, str]
) -> None:
    sheets.require_token("only-this-one")
    body = exchange(sheets, assertion(account)).json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert body["access_token"].startswith("ya29.")
    ok = call(sheets, "GET", book, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert ok.status_code == 200
    assert call(sheets, "GET", book, headers={"Authorization": "Bearer only-this-one"}).status_code == 200
    assert google_status(call(sheets, "GET", book, headers=NEVER_ISSUED)) == (401, "UNAUTHENTICATED")


def test_a_bearer_token_google_never_issued_is_401_unauthenticated(sheets: SheetsEmulator, book: str) -> None:
    response = call(sheets, "GET", book, headers=NEVER_ISSUED)
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": 401,
            "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
            "cookie or other valid authentication credential. "
            "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "status": "UNAUTHENTICATED",
        }
    }
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    write = call(
        sheets,
        "PUT",
        values_path(book, "Leads!A1"),
        params={"valueInputOption": "RAW"},
        json={"values": [["x"]]},
        headers=NEVER_ISSUED,
    )
    assert google_status(write) == (401, "UNAUTHENTICATED")
    assert sheets.values(book, "Leads")[0][0] == "Name"


def test_accept_unissued_tokens_is_the_old_lenient_setting(sheets: SheetsEmulator, book: str) -> None:
    sheets.accept_unissued_tokens = True
    try:
        assert call(sheets, "GET", book, headers=NEVER_ISSUED).status_code == 200
        sheets.reset()  # a setting, not data: kept across reset
        assert sheets.accept_unissued_tokens
    finally:
        sheets.accept_unissued_tokens = False
    assert google_status(call(sheets, "GET", "x", headers=NEVER_ISSUED)) == (401, "UNAUTHENTICATED")


def test_issued_token_expires_with_the_clock(sheets: SheetsEmulator, book: str, account: dict[str, str]) -> None:
    token = exchange(sheets, assertion(account)).json()["access_token"]
    sheets.clock.advance(3600)
    response = call(sheets, "GET", book, headers={"Authorization": f"Bearer {token}"})
    assert google_status(response) == (401, "UNAUTHENTICATED")


def test_readonly_scope_cannot_write(sheets: SheetsEmulator, book: str, account: dict[str, str]) -> None:
    scope = "https://www.googleapis.com/auth/spreadsheets.readonly"
    token = exchange(sheets, assertion(account, scope=scope)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert call(sheets, "GET", book, headers=headers).status_code == 200
    response = call(
        sheets,
        "PUT",
        values_path(book, "Leads!A1"),
        params={"valueInputOption": "RAW"},
        json={"values": [["x"]]},
        headers=headers,
    )
    assert google_status(response) == (403, "PERMISSION_DENIED")


def test_token_endpoint_rejects_forged_wrong_audience_and_unknown_accounts(
    sheets: SheetsEmulator, account: dict[str, str]
) -> None:
    good = assertion(account)
    head, claims, signature = good.split(".")
    forged = f"{head}.{claims}.{signature[:-4]}AAAA"
    cases = {
        forged: "Invalid JWT Signature.",
        assertion(account, aud="https://evil.example/token"): "Invalid JWT: Failed audience check.",
        assertion(account, iss="stranger@x.iam.gserviceaccount.com"): "Invalid grant: account not found",
    }
    for jwt_text, description in cases.items():
        response = exchange(sheets, jwt_text)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_grant", "error_description": description}
    long_lived = exchange(sheets, assertion(account, exp=int(time.time()) + 7200))
    assert long_lived.json()["error"] == "invalid_grant"
    stale = exchange(sheets, assertion(account, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600))
    assert stale.json()["error"] == "invalid_grant"
    wrong_grant = requests.post(sheets.token_uri, data={"grant_type": "password"}, timeout=5)
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("offset", [-7200, 400, 7200, 86400 * 3])
def test_token_endpoint_judges_iat_exp_by_real_time_whatever_the_sandbox_clock_says(
    sheets: SheetsEmulator, account: dict[str, str], offset: int
) -> None:
    """A client on real time (google-auth by default) keeps getting tokens after a test moves the
    sandbox clock more than five minutes; one whose clock follows the sandbox's does too."""
    sheets.clock.advance(offset)
    real = exchange(sheets, assertion(account))
    assert real.status_code == 200, real.json()
    now = int(sheets.clock.time())
    virtual = exchange(sheets, assertion(account, iat=now, exp=now + 3600))
    assert virtual.status_code == 200, virtual.json()
    token = real.json()["access_token"]
    book = sheets.create_spreadsheet("Leads", {"Leads": ROWS})
    assert call(sheets, "GET", book, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    neither = exchange(sheets, assertion(account, iat=now - 2 * abs(offset) - 7200, exp=now - 2 * abs(offset) - 3600))
    assert neither.json()["error"] == "invalid_grant"


# ------------------------------------------------------------------------------------------ reads
def test_metadata_lists_sheets_with_ids_and_grid(sheets: SheetsEmulator, book: str) -> None:
    meta = call(sheets, "GET", book).json()
    props = [s["properties"] for s in meta["sheets"]]
    assert [(p["title"], p["index"]) for p in props] == [("Leads", 0), ("My Sheet", 1)]
    assert props[0]["sheetId"] == 0
    assert props[0]["gridProperties"] == {"rowCount": 1000, "columnCount": 26}
    assert meta["properties"]["title"] == "Leads"


def test_unknown_spreadsheet_is_404(sheets: SheetsEmulator) -> None:
    assert google_status(call(sheets, "GET", "nope")) == (404, "NOT_FOUND")


def test_values_get_drops_trailing_empty_cells_and_rows(sheets: SheetsEmulator, book: str) -> None:
    body = call(sheets, "GET", values_path(book, "Leads!A1:Z50")).json()
    assert body["range"] == "Leads!A1:Z50"
    assert body["majorDimension"] == "ROWS"
    assert body["values"] == [["Name", "Email", "Status"], ["Ada", "ada@x.io", "New"], ["Bo", "", "Won"]]
    sheets.user_set_values(book, "Leads!C3", [[""]])
    assert call(sheets, "GET", values_path(book, "Leads!A3:C3")).json()["values"] == [["Bo"]]


def test_empty_range_has_no_values_key(sheets: SheetsEmulator, book: str) -> None:
    body = call(sheets, "GET", values_path(book, "'My Sheet'!A1:B2")).json()
    assert body == {"range": "'My Sheet'!A1:B2", "majorDimension": "ROWS"}


@pytest.mark.parametrize(
    ("a1", "expected_range", "expected"),
    [
        ("Leads!B:B", "Leads!B1:B1000", [["Email"], ["ada@x.io"]]),
        ("Leads!A2:A", "Leads!A2:A1000", [["Ada"], ["Bo"]]),
        ("Leads", "Leads!A1:Z1000", ROWS),
        ("A1:B1", "Leads!A1:B1", [["Name", "Email"]]),
        ("Leads!2:2", "Leads!A2:Z2", [["Ada", "ada@x.io", "New"]]),
    ],
)
def test_a1_forms_select_the_right_cells(
    sheets: SheetsEmulator, book: str, a1: str, expected_range: str, expected: list[list[str]]
) -> None:
    body = call(sheets, "GET", values_path(book, a1)).json()
    assert (body["range"], body["values"]) == (expected_range, expected)


def test_major_dimension_columns_transposes(sheets: SheetsEmulator, book: str) -> None:
    body = call(sheets, "GET", values_path(book, "Leads!A1:B3"), params={"majorDimension": "COLUMNS"}).json()
    assert body["values"] == [["Name", "Ada", "Bo"], ["Email", "ada@x.io"]]


@pytest.mark.parametrize("a1", ["Nope!A1", "Leads!A1:B2:C3", "Leads!1A", "'Leads"])
def test_bad_ranges_are_400_unable_to_parse(sheets: SheetsEmulator, book: str, a1: str) -> None:
    response = call(sheets, "GET", values_path(book, a1))
    assert google_status(response) == (400, "INVALID_ARGUMENT")
    assert response.json()["error"]["message"] == f"Unable to parse range: {a1}"


def test_batch_get_returns_one_value_range_per_range(sheets: SheetsEmulator, book: str) -> None:
    params = {"ranges": ["Leads!A1", "Leads!C2:C3"]}
    body = call(sheets, "GET", f"{book}/values:batchGet", params=params).json()
    assert [vr["values"] for vr in body["valueRanges"]] == [[["Name"]], [["New"], ["Won"]]]


# ------------------------------------------------------------------------------------------ writes
def test_update_requires_value_input_option(sheets: SheetsEmulator, book: str) -> None:
    response = call(sheets, "PUT", values_path(book, "Leads!A1"), json={"values": [["x"]]})
    assert google_status(response) == (400, "INVALID_ARGUMENT")


def test_user_entered_parses_numbers_booleans_formulas_and_raw_keeps_text(sheets: SheetsEmulator, book: str) -> None:
    row = [["00123", "TRUE", "=A1&B1", "'007", "1,234.5"]]
    for option, a1 in (("USER_ENTERED", "Leads!A5:E5"), ("RAW", "Leads!A6:E6")):
        response = call(sheets, "PUT", values_path(book, a1), params={"valueInputOption": option}, json={"values": row})
        assert response.json()["updatedCells"] == 5
    unformatted = call(
        sheets, "GET", values_path(book, "Leads!A5:E6"), params={"valueRenderOption": "UNFORMATTED_VALUE"}
    ).json()["values"]
    assert unformatted == [[123, True, "=A1&B1", "007", 1234.5], row[0]]
    formatted = call(sheets, "GET", values_path(book, "Leads!A5:E5")).json()["values"]
    assert formatted == [["123", "TRUE", "=A1&B1", "007", "1234.5"]]


def test_update_response_and_writing_outside_the_range_fails(sheets: SheetsEmulator, book: str) -> None:
    ok = call(
        sheets,
        "PUT",
        values_path(book, "Leads!D1"),
        params={"valueInputOption": "RAW"},
        json={"values": [["Lead ID", "Card"], ["L1"]]},
    ).json()
    assert ok["updatedRange"] == "Leads!D1:E2"
    assert (ok["updatedRows"], ok["updatedColumns"], ok["updatedCells"]) == (2, 2, 3)
    too_wide = call(
        sheets,
        "PUT",
        values_path(book, "Leads!A1:B1"),
        params={"valueInputOption": "RAW"},
        json={"values": [["a", "b", "c"]]},
    )
    assert google_status(too_wide) == (400, "INVALID_ARGUMENT")
    assert "tried writing to column [C]" in too_wide.json()["error"]["message"]


def test_null_skips_a_cell_and_empty_string_clears_it(sheets: SheetsEmulator, book: str) -> None:
    call(
        sheets,
        "PUT",
        values_path(book, "Leads!A2:C2"),
        params={"valueInputOption": "RAW"},
        json={"values": [[None, "", "Lost"]]},
    )
    assert sheets.values(book, "Leads")[1] == ["Ada", "", "Lost"]


def test_append_goes_after_the_table_and_reports_table_range(sheets: SheetsEmulator, book: str) -> None:
    body = call(
        sheets,
        "POST",
        values_path(book, "Leads!A1", ":append"),
        params={"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
        json={"values": [["Cy", "cy@x.io", "New"]]},
    ).json()
    assert body["tableRange"] == "Leads!A1:C3"
    assert body["updates"]["updatedRange"] == "Leads!A4:C4"
    assert sheets.values(book, "Leads")[-1] == ["Cy", "cy@x.io", "New"]
    assert call(sheets, "GET", book).json()["sheets"][0]["properties"]["gridProperties"]["rowCount"] == 1001


def test_clear_empties_a_range(sheets: SheetsEmulator, book: str) -> None:
    body = call(sheets, "POST", values_path(book, "Leads!A2:C2", ":clear")).json()
    assert body["clearedRange"] == "Leads!A2:C2"
    assert sheets.values(book, "Leads") == [ROWS[0], [], ROWS[2]]


def test_values_batch_update_is_atomic(sheets: SheetsEmulator, book: str) -> None:
    data = [{"range": "Leads!A2", "values": [["changed"]]}, {"range": "Nope!A1", "values": [["x"]]}]
    bad = call(sheets, "POST", f"{book}/values:batchUpdate", json={"valueInputOption": "RAW", "data": data})
    assert bad.status_code == 400
    assert sheets.values(book, "Leads") == ROWS
    data[1]["range"] = "Leads!B2"
    good = call(sheets, "POST", f"{book}/values:batchUpdate", json={"valueInputOption": "RAW", "data": data}).json()
    assert good["totalUpdatedCells"] == 2
    assert sheets.values(book, "Leads")[1][:2] == ["changed", "x"]


# ------------------------------------------------------------------------------------------ batchUpdate
def test_batch_update_is_atomic_when_one_request_is_invalid(sheets: SheetsEmulator, book: str) -> None:
    requests_ = [
        {"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}},
        {"deleteDimension": {"range": {"sheetId": 999, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}},
    ]
    response = call(sheets, "POST", f"{book}:batchUpdate", json={"requests": requests_})
    assert google_status(response) == (400, "INVALID_ARGUMENT")
    assert "No grid with id: 999" in response.json()["error"]["message"]
    assert sheets.values(book, "Leads") == ROWS


def test_insert_and_delete_dimension_shift_rows(sheets: SheetsEmulator, book: str) -> None:
    insert = {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}}
    delete = {"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}}}
    body = call(sheets, "POST", f"{book}:batchUpdate", json={"requests": [insert, delete]}).json()
    assert body["replies"] == [{}, {}]
    assert sheets.values(book, "Leads") == [ROWS[0], [], ROWS[2]]


def test_add_sheet_and_rename(sheets: SheetsEmulator, book: str) -> None:
    body = call(
        sheets, "POST", f"{book}:batchUpdate", json={"requests": [{"addSheet": {"properties": {"title": "Log"}}}]}
    )
    new_id = body.json()["replies"][0]["addSheet"]["properties"]["sheetId"]
    rename = {"updateSheetProperties": {"properties": {"sheetId": new_id, "title": "Audit"}, "fields": "title"}}
    call(sheets, "POST", f"{book}:batchUpdate", json={"requests": [rename]})
    titles = [s["properties"]["title"] for s in call(sheets, "GET", book).json()["sheets"]]
    assert titles == ["Leads", "My Sheet", "Audit"]
    duplicate = call(
        sheets, "POST", f"{book}:batchUpdate", json={"requests": [{"addSheet": {"properties": {"title": "Leads"}}}]}
    )
    assert duplicate.status_code == 400


# ------------------------------------------------------------------------------------------ quotas
def test_read_quota_per_user_gives_429_resource_exhausted_until_the_minute_passes(
    sheets: SheetsEmulator, book: str
) -> None:
    sheets.rate_limit(True, read_per_minute_per_user=3)
    statuses = [call(sheets, "GET", book).status_code for _ in range(8)]
    assert statuses.count(200) in (3, 6)  # 6 only if the burst straddled a minute boundary
    assert statuses[-1] == 429
    limited = call(sheets, "GET", book)
    error = limited.json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert error["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert error["details"][0]["metadata"]["quota_limit"] == "ReadRequestsPerMinutePerUser"
    other_user = call(
        sheets,
        "GET",
        book,
        headers={"Authorization": f"Bearer {sheets.issue_token('someone@else.iam.gserviceaccount.com')}"},
    )
    assert other_user.status_code == 200
    writes = call(sheets, "POST", values_path(book, "Leads!A1", ":clear"))
    assert writes.status_code == 200
    sheets.clock.advance(60)
    assert call(sheets, "GET", book).status_code == 200
