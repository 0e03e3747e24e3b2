"""Fidelity: the official-ish pyairtable client works unchanged against the Airtable emulator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyairtable import Api
from pyairtable import formulas as F  # noqa: N812 (the library's documented alias)
from pyairtable.api.table import Table
from requests import HTTPError

from sandbox.airtable import AirtableEmulator


@pytest.fixture
def table(airtable: AirtableEmulator, airtable_base: str) -> Table:
    return Api("patSANDBOX", endpoint_url=airtable.url).table(airtable_base, "Leads")


def test_batch_create_chunks_to_ten_and_all_reads_every_page(airtable: AirtableEmulator, table: Table) -> None:
    created = table.batch_create([{"Name": f"lead {i}", "Status": "New"} for i in range(23)])
    assert len(created) == 23
    assert airtable.request_count("POST") == 3
    pages = list(table.iterate(page_size=10))
    assert [len(p) for p in pages] == [10, 10, 3]
    assert {r["id"] for r in table.all()} == {r["id"] for r in created}


def test_formula_with_quotes_and_brace_matches_exactly(table: Table) -> None:
    tricky = 'O\'Brien "x" }'
    table.batch_create([{"Name": tricky}, {"Name": "O'Brien"}, {"Name": 'x" }'}])
    found = table.all(formula=F.match({"Name": tricky}))
    assert [r["fields"]["Name"] for r in found] == [tricky]
    assert table.first(formula=F.EQ(F.Field("Name"), "nobody")) is None


def test_last_modified_time_formula_returns_only_later_edits(airtable: AirtableEmulator, table: Table) -> None:
    early = table.create({"Name": "early"})
    airtable.clock.advance(120)
    since = airtable.clock.now().replace(tzinfo=None)
    airtable.clock.advance(1)
    late = table.create({"Name": "late"})
    table.update(early["id"], {"Status": "Won"})
    formula = F.IS_AFTER(F.LAST_MODIFIED_TIME(), since)
    found = table.all(formula=formula, sort=["Last Modified"])
    assert [r["id"] for r in found] == [late["id"], early["id"]]
    stamp = datetime.fromisoformat(found[-1]["fields"]["Last Modified"].replace("Z", "+00:00"))
    assert stamp > since.replace(tzinfo=UTC)


def test_get_update_and_delete(table: Table) -> None:
    record = table.create({"Name": "Ada", "Email": "ada@x.io"})
    assert table.get(record["id"])["fields"]["Email"] == "ada@x.io"
    updated = table.batch_update([{"id": record["id"], "fields": {"Status": "Won"}}])
    assert updated[0]["fields"]["Status"] == "Won"
    assert table.delete(record["id"]) == {"id": record["id"], "deleted": True}
    with pytest.raises(HTTPError) as excinfo:
        table.get(record["id"])
    assert excinfo.value.response.status_code == 404


def test_batch_delete_chunks_and_removes_everything(airtable: AirtableEmulator, table: Table) -> None:
    ids = [r["id"] for r in table.batch_create([{"Name": str(i)} for i in range(12)])]
    deleted = table.batch_delete(ids)
    assert [d["id"] for d in deleted] == ids
    assert table.all() == []


def test_batch_upsert_reports_created_and_updated(table: Table) -> None:
    existing = table.create({"Name": "Ada", "Email": "ada@x.io"})
    result = table.batch_upsert(
        [{"fields": {"Email": "ada@x.io", "Name": "Ada L"}}, {"fields": {"Email": "bo@x.io", "Name": "Bo"}}],
        key_fields=["Email"],
    )
    assert result["updatedRecords"] == [existing["id"]]
    assert len(result["createdRecords"]) == 1


def test_schema_exposes_field_types_and_select_choices(table: Table) -> None:
    schema = table.schema()
    assert schema.name == "Leads"
    assert schema.field("Last Modified").type == "lastModifiedTime"
    status = schema.field("Status")
    assert [c.name for c in status.options.choices] == ["New", "Won"]


def test_invalid_select_option_surfaces_as_http_422(table: Table) -> None:
    with pytest.raises(HTTPError) as excinfo:
        table.create({"Status": "Lost"})
    assert excinfo.value.response.status_code == 422
    assert table.create({"Status": "Lost"}, typecast=True)["fields"]["Status"] == "Lost"
