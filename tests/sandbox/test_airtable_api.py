"""Direct HTTP checks of the Airtable emulator: auth, params, errors, writes, pagination, rate limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from sandbox.airtable import AirtableEmulator

HEADERS = {"Authorization": "Bearer patSANDBOX.token"}


@pytest.fixture
def base(airtable_base: str) -> str:
    return airtable_base


def call(airtable: AirtableEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**HEADERS, **kwargs.pop("headers", {})}
    return requests.request(method, airtable.url + path, headers=headers, timeout=5, **kwargs)


def error_type(response: requests.Response) -> str:
    return response.json()["error"]["type"]


def test_missing_token_is_401_authentication_required(airtable: AirtableEmulator, base: str) -> None:
    response = requests.get(f"{airtable.url}/v0/{base}/Leads", timeout=5)
    assert response.status_code == 401
    assert error_type(response) == "AUTHENTICATION_REQUIRED"


def test_registered_tokens_refuse_others(airtable: AirtableEmulator, base: str) -> None:
    airtable.require_token("patGOOD")
    assert call(airtable, "GET", f"/v0/{base}/Leads").status_code == 401
    good = call(airtable, "GET", f"/v0/{base}/Leads", headers={"Authorization": "Bearer patGOOD"})
    assert good.status_code == 200


def test_missing_or_invalid_token_has_airtables_exact_body(airtable: AirtableEmulator, base: str) -> None:
    airtable.require_token("patGOOD")
    expected = {"error": {"type": "AUTHENTICATION_REQUIRED", "message": "Authentication required"}}
    for headers in ({}, {"Authorization": "Bearer patWRONG"}, {"Authorization": "Basic cGF0R09PRA=="}):
        response = requests.get(f"{airtable.url}/v0/{base}/Leads", headers=headers, timeout=5)
        assert (response.status_code, response.json()) == (401, expected)


def test_ids_and_timestamps_have_real_formats(airtable: AirtableEmulator, base: str) -> None:
    created = call(airtable, "POST", f"/v0/{base}/Leads", json={"fields": {"Name": "Ada"}}).json()
    assert re.fullmatch(r"rec[A-Za-z0-9]{14}", created["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", created["createdTime"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["fields"]["Last Modified"])
    assert re.fullmatch(r"app[A-Za-z0-9]{14}", base)


def test_empty_values_are_omitted_from_fields(airtable: AirtableEmulator, base: str) -> None:
    rec = call(airtable, "POST", f"/v0/{base}/Leads", json={"fields": {"Name": "Ada", "Email": ""}}).json()
    assert "Email" not in rec["fields"]
    assert "Status" not in rec["fields"]


def test_bare_fields_param_is_invalid_request_unknown(airtable: AirtableEmulator, base: str) -> None:
    response = call(airtable, "GET", f"/v0/{base}/Leads", params={"fields": "Name"})
    assert (response.status_code, error_type(response)) == (422, "INVALID_REQUEST_UNKNOWN")
    ok = call(airtable, "GET", f"/v0/{base}/Leads", params={"fields[]": "Name"})
    assert ok.status_code == 200


def test_fields_param_limits_returned_fields(airtable: AirtableEmulator, base: str) -> None:
    airtable.user_create_record(base, "Leads", {"Name": "Ada", "Email": "ada@x.io"})
    records = call(airtable, "GET", f"/v0/{base}/Leads", params={"fields[]": ["Email"]}).json()["records"]
    assert records[0]["fields"] == {"Email": "ada@x.io"}


def test_invalid_formula_is_422_invalid_filter_by_formula(airtable: AirtableEmulator, base: str) -> None:
    for formula in ("AND({Name}=", "{Nope} = 1"):
        response = call(airtable, "GET", f"/v0/{base}/Leads", params={"filterByFormula": formula})
        assert (response.status_code, error_type(response)) == (422, "INVALID_FILTER_BY_FORMULA")


def test_unknown_field_on_write_is_422_unknown_field_name(airtable: AirtableEmulator, base: str) -> None:
    response = call(airtable, "POST", f"/v0/{base}/Leads", json={"fields": {"Phone": "1"}})
    assert (response.status_code, error_type(response)) == (422, "UNKNOWN_FIELD_NAME")
    assert airtable.records(base, "Leads") == []


def test_new_select_option_needs_typecast(airtable: AirtableEmulator, base: str) -> None:
    strict = call(airtable, "POST", f"/v0/{base}/Leads", json={"fields": {"Status": "Lost"}})
    assert (strict.status_code, error_type(strict)) == (422, "INVALID_MULTIPLE_CHOICE_OPTIONS")
    loose = call(airtable, "POST", f"/v0/{base}/Leads", json={"fields": {"Status": "Lost"}, "typecast": True})
    assert loose.json()["fields"]["Status"] == "Lost"
    schema = call(airtable, "GET", f"/v0/meta/bases/{base}/tables").json()
    status = next(f for f in schema["tables"][0]["fields"] if f["name"] == "Status")
    assert [c["name"] for c in status["options"]["choices"]] == ["New", "Won", "Lost"]


def test_more_than_ten_records_per_write_is_rejected(airtable: AirtableEmulator, base: str) -> None:
    records = [{"fields": {"Name": str(i)}} for i in range(11)]
    response = call(airtable, "POST", f"/v0/{base}/Leads", json={"records": records})
    assert response.status_code == 422
    assert airtable.records(base, "Leads") == []


def test_batch_create_is_all_or_nothing(airtable: AirtableEmulator, base: str) -> None:
    records = [{"fields": {"Name": "ok"}}, {"fields": {"Score": "not a number"}}]
    response = call(airtable, "POST", f"/v0/{base}/Leads", json={"records": records})
    assert (response.status_code, error_type(response)) == (422, "INVALID_VALUE_FOR_COLUMN")
    assert airtable.records(base, "Leads") == []


def test_put_clears_omitted_fields_and_patch_keeps_them(airtable: AirtableEmulator, base: str) -> None:
    rec = airtable.user_create_record(base, "Leads", {"Name": "Ada", "Email": "ada@x.io"})
    patched = call(airtable, "PATCH", f"/v0/{base}/Leads/{rec}", json={"fields": {"Name": "Ada L"}}).json()
    assert patched["fields"]["Email"] == "ada@x.io"
    body = {"records": [{"id": rec, "fields": {"Name": "Ada"}}]}
    replaced = call(airtable, "PUT", f"/v0/{base}/Leads", json=body).json()["records"][0]
    assert "Email" not in replaced["fields"]


def test_last_modified_moves_only_on_real_changes(airtable: AirtableEmulator, base: str) -> None:
    rec = airtable.user_create_record(base, "Leads", {"Name": "Ada"})
    first = airtable.record(base, "Leads", rec)["fields"]["Last Modified"]
    airtable.clock.advance(5)
    same = call(airtable, "PATCH", f"/v0/{base}/Leads/{rec}", json={"fields": {"Name": "Ada"}}).json()
    assert same["fields"]["Last Modified"] == first
    changed = call(airtable, "PATCH", f"/v0/{base}/Leads/{rec}", json={"fields": {"Name": "Bo"}}).json()
    assert changed["fields"]["Last Modified"] > first


def test_changed_since_formula_selects_recent_edits(airtable: AirtableEmulator, base: str) -> None:
    old = airtable.user_create_record(base, "Leads", {"Name": "old"})
    airtable.clock.advance(60)
    cutoff = airtable.record(base, "Leads", old)["fields"]["Last Modified"]
    airtable.clock.advance(1)
    new = airtable.user_create_record(base, "Leads", {"Name": "new"})
    formula = f"IS_AFTER(LAST_MODIFIED_TIME(), DATETIME_PARSE('{cutoff}'))"
    params = {"filterByFormula": formula, "sort[0][field]": "Last Modified", "sort[0][direction]": "asc"}
    records = call(airtable, "GET", f"/v0/{base}/Leads", params=params).json()["records"]
    assert [r["id"] for r in records] == [new]


def test_pagination_freezes_order_but_shows_live_values(airtable: AirtableEmulator, base: str) -> None:
    ids = [airtable.user_create_record(base, "Leads", {"Name": f"n{i:02d}"}) for i in range(5)]
    params = {"pageSize": 2, "sort[0][field]": "Name"}
    first = call(airtable, "GET", f"/v0/{base}/Leads", params=params).json()
    assert re.fullmatch(r"itr[A-Za-z0-9]{14}/rec[A-Za-z0-9]{14}", first["offset"])
    airtable.user_update_record(base, "Leads", ids[3], {"Name": "a-first-now"})
    airtable.user_delete_record(base, "Leads", ids[2])
    second = call(airtable, "GET", f"/v0/{base}/Leads", params={**params, "offset": first["offset"]}).json()
    assert [r["id"] for r in second["records"]] == [ids[3], ids[4]]
    assert second["records"][0]["fields"]["Name"] == "a-first-now"
    assert "offset" not in second


def test_unknown_offset_is_iterator_not_available(airtable: AirtableEmulator, base: str) -> None:
    response = call(airtable, "GET", f"/v0/{base}/Leads", params={"offset": "itrNOPE/recNOPE"})
    assert (response.status_code, error_type(response)) == (422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE")


def test_post_list_records_accepts_options_in_body(airtable: AirtableEmulator, base: str) -> None:
    for name in ("b", "a", "c"):
        airtable.user_create_record(base, "Leads", {"Name": name})
    body = {"sort": [{"field": "Name", "direction": "desc"}], "maxRecords": 2, "fields": ["Name"]}
    records = call(airtable, "POST", f"/v0/{base}/Leads/listRecords", json=body).json()["records"]
    assert [r["fields"]["Name"] for r in records] == ["c", "b"]


def test_return_fields_by_field_id(airtable: AirtableEmulator, base: str) -> None:
    airtable.user_create_record(base, "Leads", {"Name": "Ada"})
    record = call(airtable, "GET", f"/v0/{base}/Leads", params={"returnFieldsByFieldId": 1}).json()["records"][0]
    assert all(key.startswith("fld") for key in record["fields"])


def test_upsert_creates_and_updates_by_merge_field(airtable: AirtableEmulator, base: str) -> None:
    existing = airtable.user_create_record(base, "Leads", {"Name": "Ada", "Email": "ada@x.io"})
    body = {
        "performUpsert": {"fieldsToMergeOn": ["Email"]},
        "records": [
            {"fields": {"Email": "ada@x.io", "Name": "Ada L"}},
            {"fields": {"Email": "bo@x.io", "Name": "Bo"}},
        ],
    }
    result = call(airtable, "PATCH", f"/v0/{base}/Leads", json=body).json()
    assert result["updatedRecords"] == [existing]
    assert len(result["createdRecords"]) == 1
    assert airtable.record(base, "Leads", existing)["fields"]["Name"] == "Ada L"


def test_delete_single_and_batch(airtable: AirtableEmulator, base: str) -> None:
    a, b, c = (airtable.user_create_record(base, "Leads", {"Name": n}) for n in "abc")
    assert call(airtable, "DELETE", f"/v0/{base}/Leads/{a}").json() == {"id": a, "deleted": True}
    batch = call(airtable, "DELETE", f"/v0/{base}/Leads", params={"records[]": [b, c]}).json()
    assert batch == {"records": [{"id": b, "deleted": True}, {"id": c, "deleted": True}]}
    missing = call(airtable, "GET", f"/v0/{base}/Leads/{a}")
    assert (missing.status_code, error_type(missing)) == (404, "NOT_FOUND")


def test_unknown_base_or_table_is_403_model_not_found(airtable: AirtableEmulator, base: str) -> None:
    for path in ("/v0/appXXXXXXXXXXXXXX/Leads", f"/v0/{base}/Nope"):
        response = call(airtable, "GET", path)
        assert (response.status_code, error_type(response)) == (403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND")


def test_table_addressed_by_id_and_schema_lists_field_ids(airtable: AirtableEmulator, base: str) -> None:
    airtable.user_create_record(base, "Leads", {"Name": "Ada"})
    table = call(airtable, "GET", f"/v0/meta/bases/{base}/tables").json()["tables"][0]
    assert table["id"].startswith("tbl")
    assert len(call(airtable, "GET", f"/v0/{base}/{table['id']}").json()["records"]) == 1
    assert table["primaryFieldId"] == table["fields"][0]["id"]
    last_modified = next(f for f in table["fields"] if f["type"] == "lastModifiedTime")
    assert len(last_modified["options"]["referencedFieldIds"]) == 4


def test_rate_limit_429_then_30s_penalty_for_the_base(airtable: AirtableEmulator, base: str) -> None:
    airtable.rate_limit(True)
    statuses = [call(airtable, "GET", f"/v0/{base}/Leads").status_code for _ in range(12)]
    assert 429 in statuses
    assert statuses.index(429) >= 5
    limited = call(airtable, "GET", f"/v0/{base}/Leads")
    assert (limited.status_code, error_type(limited)) == (429, "RATE_LIMIT_REACHED")
    airtable.clock.advance(20)
    assert call(airtable, "GET", f"/v0/{base}/Leads").status_code == 429
    airtable.clock.advance(11)
    assert call(airtable, "GET", f"/v0/{base}/Leads").status_code == 200


def test_lost_response_fault_applies_the_write_but_drops_the_answer(airtable: AirtableEmulator, base: str) -> None:
    airtable.faults.next("lost_response")
    with pytest.raises(requests.ConnectionError):
        call(airtable, "POST", f"/v0/{base}/Leads", json={"fields": {"Name": "Ada"}})
    assert [r["fields"]["Name"] for r in airtable.records(base, "Leads")] == ["Ada"]


def test_injected_server_error_uses_airtable_error_body(airtable: AirtableEmulator, base: str) -> None:
    airtable.faults.next("503")
    response = call(airtable, "GET", f"/v0/{base}/Leads")
    assert response.status_code == 503
    assert set(response.json()["error"]) == {"type", "message"}
