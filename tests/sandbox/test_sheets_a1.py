"""A1 notation parsing and formatting used by the Sheets emulator."""

from __future__ import annotations

import pytest

from sandbox.sheets_a1 import A1Error, A1Range, column_letters, column_number, format_range, parse_a1

TITLES = ["Leads", "My Sheet", "A1", "It's"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Leads!A1:B2", A1Range("Leads", 0, 2, 0, 2)),
        ("Leads!B2:A1", A1Range("Leads", 0, 2, 0, 2)),
        ("Leads!A:A", A1Range("Leads", None, None, 0, 1)),
        ("Leads!A5:A", A1Range("Leads", 4, None, 0, 1)),
        ("Leads!1:2", A1Range("Leads", 0, 2, None, None)),
        ("'My Sheet'!C3", A1Range("My Sheet", 2, 3, 2, 3)),
        ("'It''s'!A1:F", A1Range("It's", 0, None, 0, 6)),
        ("Leads", A1Range("Leads")),
        ("'A1'", A1Range("A1")),
        ("A1", A1Range(None, 0, 1, 0, 1)),
        ("AA10:AB", A1Range(None, 9, None, 26, 28)),
        ("Leads!B3:3", A1Range("Leads", 2, 3, 1, None)),
    ],
)
def test_parse_a1_forms(text: str, expected: A1Range) -> None:
    assert parse_a1(text, TITLES) == expected


@pytest.mark.parametrize("text", ["", "Leads!", "Leads!A1:B2:C3", "Leads!A0", "'Leads", "Leads!1:B", "Leads!1"])
def test_unparseable_ranges_raise(text: str) -> None:
    with pytest.raises(A1Error):
        parse_a1(text, TITLES)


def test_column_letters_round_trip() -> None:
    assert [column_letters(n) for n in (1, 26, 27, 702, 703)] == ["A", "Z", "AA", "ZZ", "AAA"]
    assert all(column_number(column_letters(n)) == n for n in range(1, 2000))


def test_format_range_quotes_only_when_needed() -> None:
    assert format_range("Leads", 0, 10, 0, 6) == "Leads!A1:F10"
    assert format_range("My Sheet", 4, 5, 1, 2) == "'My Sheet'!B5"
    assert format_range("It's", 0, 1, 0, 2) == "'It''s'!A1:B1"
