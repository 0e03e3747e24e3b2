"""The Airtable formula parser/evaluator behind filterByFormula."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pyairtable import formulas as F  # noqa: N812 (the library's documented alias)

from sandbox.airtable_formula import FormulaSyntaxError, evaluate, field_refs, is_truthy, parse

CREATED = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
MODIFIED = datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)


class Row:
    """A record stand-in for the evaluator."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def field_value(self, name: str) -> Any:
        return self.values.get(name)

    def last_modified(self, names: list[str]) -> datetime:
        return MODIFIED

    def created(self) -> datetime:
        return CREATED

    def record_id(self) -> str:
        return "rec00000000000001"

    def now(self) -> datetime:
        return MODIFIED


def run(text: str, **values: Any) -> Any:
    return evaluate(parse(text), Row(**values))


def test_pyairtable_quoted_string_with_quotes_backslash_and_brace_round_trips() -> None:
    tricky = 'O\'Brien "x" } back\\slash'
    formula = str(F.EQ(F.Field("Name"), tricky))
    assert run(formula, Name=tricky) is True
    assert run(formula, Name="O'Brien") is False


def test_double_quoted_literals_and_escapes() -> None:
    assert run('{A} = "say \\"hi\\""', A='say "hi"') is True


def test_field_reference_with_escaped_closing_brace() -> None:
    tree = parse(str(F.EQ(F.Field("odd}name"), 1)))
    assert field_refs(tree) == {"odd}name"}


def test_last_modified_time_is_after_a_datetime_parse() -> None:
    since = datetime(2024, 5, 1, 9, 59, 59, tzinfo=UTC)
    formula = str(F.IS_AFTER(F.LAST_MODIFIED_TIME(), since))
    assert "DATETIME_PARSE('2024-05-01T09:59:59.000Z')" in formula
    assert run(formula) is True
    assert run("IS_BEFORE(LAST_MODIFIED_TIME(), '2024-05-01T10:00:00.000Z')") is False
    assert run("IS_SAME(LAST_MODIFIED_TIME(), '2024-05-01T10:00:00Z', 'seconds')") is True


def test_match_builds_and_of_equalities() -> None:
    formula = str(F.match({"Status": "New", "Score": 3}))
    assert run(formula, Status="New", Score=3) is True
    assert run(formula, Status="New", Score=4) is False


def test_blank_equals_empty_string_and_zero() -> None:
    assert run("{Email} = BLANK()") is True
    assert run("{Email} = ''") is True
    assert run("{Email} = ''", Email="a@b.c") is False


def test_text_functions_and_concatenation() -> None:
    assert run("LOWER(TRIM({N})) & '!' = 'ada!'", N="  ADA ") is True
    assert run("FIND('b', 'abc')") == 2
    assert run("LEN(UPPER('abc'))") == 3


def test_if_not_or_and_record_id() -> None:
    assert run("IF(NOT({Done}), 'open', 'closed')", Done=False) == "open"
    assert run("OR(RECORD_ID() = 'rec00000000000001', FALSE())") is True
    assert run("AND(1, 0)") is False


def test_arithmetic_precedence() -> None:
    assert run("1 + 2 * 3 = 7") is True
    assert run("-{N} < 0", N=5) is True


@pytest.mark.parametrize("value", [0, "", None, False, [], float("nan")])
def test_falsy_results_exclude_a_record(value: Any) -> None:
    assert is_truthy(value) is False


@pytest.mark.parametrize("text", ["{Name} = ", "AND(", "'unterminated", "NOPE(1)", "{Name", "1 2", "", "NOT(1, 2)"])
def test_invalid_formulas_raise_syntax_error(text: str) -> None:
    with pytest.raises(FormulaSyntaxError):
        parse(text)
