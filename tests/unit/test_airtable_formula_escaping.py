"""Formula escaping: any value stays one string literal, checked with the sandbox's formula evaluator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.connectors import airtable_formula as formula
from sandbox.airtable_formula import Node, evaluate, is_truthy, parse

NASTY = [
    'O\'Brien "x"',
    "}",
    "{Name}",
    "a' OR '1'='1",
    "back\\slash",
    "ends with \\",
    "\\'",
    "line\nbreak",
    "tab\tand \\n literal",
    "') , TRUE()) & ('",
    "Zoë 🚀 שלום",
]


class Row:
    """A record as the evaluator sees it: field name -> value."""

    def __init__(self, record_id: str, values: dict[str, Any]) -> None:
        self.id = record_id
        self.values = values

    def field_value(self, name: str) -> Any:
        return self.values.get(name)

    def last_modified(self, names: list[str]) -> datetime:
        return self.values["Last Modified"]

    def created(self) -> datetime:
        return self.values["Last Modified"]

    def record_id(self) -> str:
        return self.id

    def now(self) -> datetime:
        return datetime.now(UTC)


def matches(text: str, rows: list[Row]) -> list[str]:
    tree = parse(text)
    return [row.id for row in rows if is_truthy(evaluate(tree, row))]


@settings(max_examples=300, deadline=None)
@given(target=st.text(min_size=1), others=st.lists(st.text(), max_size=5))
def test_equality_on_an_escaped_value_matches_exactly_that_record(target: str, others: list[str]) -> None:
    rows = [Row("target", {"Name": target})]
    rows += [Row(f"other{i}", {"Name": v or None}) for i, v in enumerate(others) if v != target]
    assert matches(formula.equals("Name", target), rows) == ["target"]


@settings(max_examples=300, deadline=None)
@given(value=st.text())
def test_an_escaped_value_parses_back_to_one_literal_holding_exactly_the_value(value: str) -> None:
    assert parse(formula.quote(value)) == Node("lit", value)
    assert parse(formula.equals("Trello Card", value)) == Node(
        "binop", "=", (Node("field", "Trello Card"), Node("lit", value))
    )


@pytest.mark.parametrize("value", NASTY)
def test_hostile_values_neither_break_nor_widen_the_query(value: str) -> None:
    rows = [Row("mine", {"Name": value}), Row("plain", {"Name": "plain"}), Row("empty", {})]
    assert matches(formula.equals("Name", value), rows) == ["mine"]


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1).filter(lambda n: n.strip() and "}" not in n and not n.endswith("\\")))
def test_any_field_name_without_a_closing_brace_is_referenced_exactly(name: str) -> None:
    assert parse(formula.field(name)) == Node("field", name)


@pytest.mark.parametrize("name", ["Trello}Card", "}", "Card\\", " ", ""])
def test_field_names_a_formula_cannot_reference_are_refused(name: str) -> None:
    assert formula.field_problem(name) is not None
    with pytest.raises(ValueError, match="field name"):
        formula.field(name)


def test_on_or_after_keeps_the_boundary_and_later_records() -> None:
    cut = datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)
    rows = [
        Row("before", {"Last Modified": cut - timedelta(milliseconds=1)}),
        Row("equal", {"Last Modified": cut}),
        Row("after", {"Last Modified": cut + timedelta(seconds=1)}),
    ]
    text = formula.on_or_after("Last Modified", cut)
    assert text == "NOT(IS_BEFORE({Last Modified}, DATETIME_PARSE('2024-05-01T10:00:00.123Z')))"
    assert matches(text, rows) == ["equal", "after"]


def test_iso_ms_converts_to_utc_at_millisecond_precision() -> None:
    moment = datetime(2024, 5, 1, 14, 0, 0, 987654, tzinfo=timezone(timedelta(hours=2)))
    assert formula.iso_ms(moment) == "2024-05-01T12:00:00.987Z"


def test_all_of_joins_conditions_with_and() -> None:
    assert formula.all_of() is None
    assert formula.all_of("A") == "A"
    assert formula.all_of("A", "B") == "AND(A, B)"


def test_unchecked_selects_records_whose_box_is_not_ticked() -> None:
    rows = [Row("ticked", {"Archived": True}), Row("unticked", {"Archived": False}), Row("empty", {})]
    assert matches(formula.unchecked("Archived"), rows) == ["unticked", "empty"]
