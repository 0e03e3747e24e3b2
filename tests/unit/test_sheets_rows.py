"""The Sheets connector's pure helpers: A1 ranges, the header, rows, hashes, ids."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsync.connectors.sheets_rows import (
    Columns,
    cell_range,
    column_letters,
    column_range,
    first_row_of,
    new_lead_id,
    parse_table,
    quote_sheet,
    read_row,
    row_hash,
    row_range,
)
from leadsync.errors import ConfigError

HEADER = ["Name", "Email", "Lead ID", "Trello Card", "leadsync"]


def columns(header: list[str] = HEADER, fields: tuple[str, ...] = ("Name", "Email")) -> Columns:
    return Columns.from_header(
        header, sheet="Leads", fields=fields, id_column="Lead ID", link_field="Trello Card", state_column="leadsync"
    )


@pytest.mark.parametrize(("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (701, "ZZ"), (702, "AAA")])
def test_column_letters_count_like_a_spreadsheet(index: int, letters: str) -> None:
    assert column_letters(index) == letters


def test_sheet_names_are_always_quoted_with_quotes_doubled() -> None:
    assert quote_sheet("Leads") == "'Leads'"
    assert quote_sheet("Bob's leads") == "'Bob''s leads'"
    assert row_range("My Leads", 1) == "'My Leads'!1:1"
    assert column_range("Leads", 27) == "'Leads'!AB:AB"
    assert cell_range("Leads", 12, 2) == "'Leads'!C12"


@pytest.mark.parametrize(
    ("echoed", "row"), [("Leads!A12:G12", 12), ("'My Leads'!B7", 7), ("'A1'!$A$3:$C$3", 3), ("'x!y'!C9:C9", 9)]
)
def test_the_first_row_of_an_echoed_range(echoed: str, row: int) -> None:
    assert first_row_of(echoed) == row


def test_columns_are_found_by_name_wherever_they_are() -> None:
    found = columns([" leadsync", "Trello Card", "Email ", "Notes", "Lead ID", "Name"])
    assert (found.fields, found.id, found.link, found.state, found.width) == ({"Name": 5, "Email": 2}, 4, 1, 0, 6)


def test_every_missing_column_is_named_with_the_sheet_and_the_header_shown() -> None:
    with pytest.raises(ConfigError) as info:
        columns(["Name", "Lead ID"])
    assert info.value.problems == [
        "sheet 'Leads' has no column 'Email' in its header row",
        "sheet 'Leads' has no column 'Trello Card' in its header row",
        "sheet 'Leads' has no column 'leadsync' in its header row (add it; it may be hidden)",
        "sheet 'Leads' header row: 'Name', 'Lead ID'",
    ]


def test_a_mapped_field_may_not_be_a_bookkeeping_column() -> None:
    with pytest.raises(ConfigError, match="'Lead ID' is both a mapped field and the id_column"):
        columns(fields=("Name", "Lead ID"))


def test_an_empty_tab_has_no_columns() -> None:
    with pytest.raises(ConfigError, match=r"header row: \(empty\)"):
        columns([])


def test_a_row_without_any_mapped_value_is_not_a_lead() -> None:
    cols = columns()
    assert read_row(5, ["", "  ", "L-1", "card", "abc"], cols) is None
    assert read_row(5, [], cols) is None


def test_ragged_rows_read_missing_cells_as_none_and_ids_are_trimmed() -> None:
    row = read_row(3, ["Ada", "", " L-1 "], columns())
    assert row is not None
    assert (row.number, row.id, row.fields, row.link, row.state) == (3, "L-1", {"Name": "Ada", "Email": None}, None, "")
    assert not row.acknowledged


def test_a_row_is_acknowledged_when_its_state_cell_holds_its_hash() -> None:
    digest = row_hash("L-1", {"Name": "Ada", "Email": None}, "card")
    row = read_row(2, ["Ada", "", "L-1", "card", digest], columns())
    assert row is not None
    assert row.acknowledged
    assert not row.archived


def test_archived_is_read_whatever_its_case() -> None:
    row = read_row(2, ["Ada", "", "L-1", "", " Archived "], columns())
    assert row is not None
    assert row.archived


def test_the_first_copy_of_an_id_keeps_it_and_rows_without_ids_are_listed() -> None:
    values = [HEADER, ["Ada", "", "L-1"], [], ["Copy of Ada", "", "L-1"], ["Bob"], ["", "", "L-2"]]
    table = parse_table(values, columns())
    assert {k: r.number for k, r in table.rows.items()} == {"L-1": 2}
    assert [r.number for r in table.duplicates] == [4]
    assert [r.number for r in table.without_id] == [5]


def test_the_hash_is_stable_short_and_hex() -> None:
    digest = row_hash("L-1", {"Name": "Ada", "Email": None}, None)
    assert re.fullmatch(r"[0-9a-f]{12}", digest)
    assert digest == row_hash("L-1", {"Email": None, "Name": "Ada"}, None), "field order does not matter"


@given(
    st.text(max_size=8),
    st.dictionaries(st.sampled_from(["Name", "Email"]), st.none() | st.text(max_size=8), min_size=2),
    st.none() | st.text(max_size=8),
)
def test_the_hash_changes_with_the_id_any_value_or_the_link(record_id: str, fields: dict, link: str | None) -> None:
    digest = row_hash(record_id, fields, link)
    assert row_hash(record_id + "x", fields, link) != digest
    assert row_hash(record_id, {**fields, "Name": (fields["Name"] or "") + "x"}, link) != digest
    assert row_hash(record_id, fields, (link or "") + "x") != digest
    if fields["Email"] is not None:
        assert row_hash(record_id, {**fields, "Email": None}, link) != digest, "empty differs from any text"


def test_new_ids_are_short_base32_and_distinct() -> None:
    ids = {new_lead_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"L-[A-Z2-7]{10}", i) for i in ids)
