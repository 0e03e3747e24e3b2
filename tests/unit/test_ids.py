"""The id formats of each system (``leadsync.core.ids``): canonical forms, and everything refused."""

from __future__ import annotations

import re

import pytest

from leadsync.connectors.sheets_rows import ID_ALPHABET, ID_LENGTH, ID_PREFIX, new_lead_id
from leadsync.core import ids

UUID = "1b6c4f0e-7c2a-4b53-9d3f-0a1e2b3c4d5e"
TRELLO = "5f3a1b2c4d5e6f7a8b9c0d1e"
AIRTABLE = "recAbC123xyZ45678"
SHEETS = "L-ABCDEFG234"

# Refused by every system: not ids, or ids with something around or inside them.
HOSTILE = [
    "",
    " ",
    "hello",
    "../../x",
    "%2e%2e",
    "%2E%2E%2F",
    "a/b",
    "a?b",
    "a#b",
    "x" * 10_000,
]


def _around(valid: str) -> list[str]:
    return [
        f" {valid}",
        f"{valid} ",
        f"{valid}\n",
        f"\t{valid}",
        f"{valid}/",
        f"/{valid}",
        f"{valid}?x",
        f"{valid}#x",
        f"../{valid}",
        f"{valid}/../x",
        f"{valid}%2F",
        valid[:-1],
        valid + valid[-1],
    ]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (UUID, UUID),
        (UUID.upper(), UUID),
        (UUID.replace("-", ""), UUID),
        (UUID.replace("-", "").upper(), UUID),
    ],
)
def test_notion_ids_dashed_or_compact_any_case_become_lowercase_dashed(raw: str, canonical: str) -> None:
    assert ids.notion_id(raw) == canonical


@pytest.mark.parametrize(
    "bad",
    [
        *HOSTILE,
        *_around(UUID),
        *_around(UUID.replace("-", "")),
        UUID.replace("-", "", 1),  # dashes partly removed
        UUID.replace("1", "g", 1),
        "{" + UUID + "}",
        "urn:uuid:" + UUID,
        UUID.replace("-", "_"),
        "\uff11" + UUID[1:],  # a full-width digit one
    ],
)
def test_anything_else_is_not_a_notion_id(bad: str) -> None:
    assert ids.notion_id(bad) is None


def test_trello_ids_are_24_hex_in_lowercase() -> None:
    assert ids.trello_id(TRELLO) == TRELLO
    assert ids.trello_id(TRELLO.upper()) == TRELLO


@pytest.mark.parametrize("bad", [*HOSTILE, *_around(TRELLO), "g" * 24, "5f3a1b2c-4d5e6f7a8b9c0d1", "\u0665" * 24])
def test_anything_else_is_not_a_trello_id(bad: str) -> None:
    assert ids.trello_id(bad) is None


def test_airtable_record_ids_are_rec_and_14_alphanumerics_kept_as_they_are() -> None:
    assert ids.airtable_record_id(AIRTABLE) == AIRTABLE
    assert ids.airtable_record_id("rec" + "0" * 14) == "rec" + "0" * 14


@pytest.mark.parametrize(
    "bad",
    [
        *HOSTILE,
        *_around(AIRTABLE),
        "REC" + AIRTABLE[3:],
        "tbl" + AIRTABLE[3:],
        "app" + AIRTABLE[3:],
        "rec" + "é" * 14,
        "rec" + "_" * 14,
        "../../appOTHER000000000/tbl00000000000000/recX",
    ],
)
def test_anything_else_is_not_an_airtable_record_id(bad: str) -> None:
    assert ids.airtable_record_id(bad) is None


def test_sheets_lead_ids_are_exactly_what_the_connector_mints() -> None:
    pattern = re.escape(ID_PREFIX) + "[" + re.escape(ID_ALPHABET) + "]{" + str(ID_LENGTH) + "}"
    for _ in range(200):
        minted = new_lead_id()
        assert re.fullmatch(pattern, minted)
        assert ids.sheets_lead_id(minted) == minted
    assert ids.sheets_lead_id(SHEETS) == SHEETS


@pytest.mark.parametrize(
    "bad", [*HOSTILE, *_around(SHEETS), SHEETS.lower(), "L-ABCDEFG218", "l-ABCDEFG234", "L_ABCDEFG234", "L-A"]
)
def test_anything_else_is_not_a_sheets_lead_id(bad: str) -> None:
    assert ids.sheets_lead_id(bad) is None


@pytest.mark.parametrize("value", [None, 12, b"rec00000000000000", ["x"]])
def test_values_that_are_not_text_are_never_ids(value: object) -> None:
    assert ids.notion_id(value) is None
    assert ids.trello_id(value) is None
    assert ids.airtable_record_id(value) is None
    assert ids.sheets_lead_id(value) is None
    assert not ids.safe_link(value)


@pytest.mark.parametrize("link", [UUID, UUID.replace("-", ""), TRELLO, AIRTABLE, SHEETS, "lead-123", "a" * 64])
def test_safe_links_are_ids_of_any_system(link: str) -> None:
    assert ids.safe_link(link)


@pytest.mark.parametrize("link", ["", "a b", "x'y", 'x"y', "a/b", "a?b", "a#b", "{x}", "a" * 65, "lead\n", "é"])
def test_anything_else_is_not_a_safe_link(link: str) -> None:
    assert not ids.safe_link(link)


def test_a_refused_value_is_shown_short_and_without_control_characters() -> None:
    assert ids.shown("hello") == "hello"
    assert len(ids.shown("x" * 10_000)) == 80
    assert "\n" not in ids.shown("a\nforged log line")
