"""A small Airtable formula language: parser and evaluator for `filterByFormula`.

Covers what pyairtable.formulas emits and what a sync engine needs: string literals in '…' or "…"
with backslash escapes, numbers, `{Field Name}` references (with `\\}` escapes) and bare one-word
field names, operators `= != < > <= >= & + - * /`, and the functions in `FUNCTIONS`.
`parse()` raises `FormulaSyntaxError` (→ 422 INVALID_FILTER_BY_FORMULA); a runtime problem while
evaluating one record raises `FormulaRuntimeError`, which the caller treats as `#ERROR!` (the record
is not included), as Airtable does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

__all__ = [
    "FUNCTIONS",
    "FormulaContext",
    "FormulaRuntimeError",
    "FormulaSyntaxError",
    "Node",
    "evaluate",
    "field_refs",
    "is_truthy",
    "parse",
    "parse_datetime",
]


class FormulaSyntaxError(ValueError):
    """The formula text is not valid (unbalanced, unknown function, unknown field...)."""


class FormulaRuntimeError(ValueError):
    """Evaluation failed for one record (Airtable's #ERROR!)."""


class FormulaContext(Protocol):
    """What the evaluator needs from a record."""

    def field_value(self, name: str) -> Any:
        """Formula value of the field named `name` (None when empty)."""

    def last_modified(self, names: list[str]) -> datetime:
        """Last modification of the record (or of the given fields)."""

    def created(self) -> datetime:
        """Creation time of the record."""

    def record_id(self) -> str:
        """The record's id."""

    def now(self) -> datetime:
        """Current time."""


# ---------------------------------------------------------------------------------------------- AST
@dataclass(frozen=True)
class Node:
    """One formula node: kind is 'lit', 'field', 'call', 'binop' or 'neg'."""

    kind: str
    value: Any = None
    args: tuple[Node, ...] = ()


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<op><=|>=|!=|<>|=|<|>|&|\+|-|\*|/|\(|\)|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i, value = _read_string(text, i)
            tokens.append(("str", value))
            continue
        if ch == "{":
            i, value = _read_field(text, i)
            tokens.append(("field", value))
            continue
        match = _TOKEN.match(text, i)
        if not match:
            raise FormulaSyntaxError(f"unexpected character {ch!r} at position {i}")
        kind = match.lastgroup or ""
        if kind == "num":
            tokens.append(("num", float(match.group())))
        elif kind == "op":
            tokens.append(("op", "!=" if match.group() == "<>" else match.group()))
        elif kind == "name":
            tokens.append(("name", match.group()))
        i = match.end()
    tokens.append(("end", None))
    return tokens


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def _read_string(text: str, start: int) -> tuple[int, str]:
    quote, i, out = text[start], start + 1, []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        if ch == quote:
            return i + 1, "".join(out)
        out.append(ch)
        i += 1
    raise FormulaSyntaxError("unterminated string literal")


def _read_field(text: str, start: int) -> tuple[int, str]:
    i, out = start + 1, []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == "}":
            out.append("}")
            i += 2
            continue
        if ch == "}":
            return i + 1, "".join(out)
        out.append(ch)
        i += 1
    raise FormulaSyntaxError("unterminated field reference")


_PRECEDENCE = {"=": 1, "!=": 1, "<": 1, ">": 1, "<=": 1, ">=": 1, "&": 2, "+": 3, "-": 3, "*": 4, "/": 4}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, Any]:
        return self.tokens[self.pos]

    def take(self) -> tuple[str, Any]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, op: str) -> None:
        kind, value = self.take()
        if kind != "op" or value != op:
            raise FormulaSyntaxError(f"expected {op!r}, got {value!r}")

    def expression(self, min_prec: int = 1) -> Node:
        left = self.unary()
        while True:
            kind, op = self.peek()
            if kind != "op" or op not in _PRECEDENCE or _PRECEDENCE[op] < min_prec:
                return left
            self.take()
            right = self.expression(_PRECEDENCE[op] + 1)
            left = Node("binop", op, (left, right))

    def unary(self) -> Node:
        kind, value = self.peek()
        if kind == "op" and value in "-+":
            self.take()
            operand = self.unary()
            return Node("neg", None, (operand,)) if value == "-" else operand
        return self.primary()

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return Node("lit", int(value) if value.is_integer() else value)
        if kind == "str":
            return Node("lit", value)
        if kind == "field":
            return Node("field", value)
        if kind == "op" and value == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if kind == "name":
            if self.peek() == ("op", "("):
                return self.call(value.upper())
            return Node("field", value)
        raise FormulaSyntaxError(f"unexpected token {value!r}")

    def call(self, name: str) -> Node:
        self.expect("(")
        args: list[Node] = []
        if self.peek() != ("op", ")"):
            args.append(self.expression())
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.expression())
        self.expect(")")
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise FormulaSyntaxError(f"unknown function {name}")
        low, high, _ = spec
        if len(args) < low or (high is not None and len(args) > high):
            raise FormulaSyntaxError(f"wrong number of arguments to {name}")
        return Node("call", name, tuple(args))


def parse(text: str) -> Node:
    """Parse formula text into a tree; raises FormulaSyntaxError."""
    if not text.strip():
        raise FormulaSyntaxError("empty formula")
    parser = _Parser(text)
    node = parser.expression()
    if parser.peek()[0] != "end":
        raise FormulaSyntaxError(f"unexpected trailing token {parser.peek()[1]!r}")
    return node


def field_refs(node: Node) -> set[str]:
    """Names of every field the formula references."""
    found = {node.value} if node.kind == "field" else set()
    for arg in node.args:
        found |= field_refs(arg)
    return found


# ---------------------------------------------------------------------------------------- evaluation
def evaluate(node: Node, ctx: FormulaContext) -> Any:
    """Value of `node` for the record behind `ctx`; raises FormulaRuntimeError."""
    if node.kind == "lit":
        return node.value
    if node.kind == "field":
        return ctx.field_value(node.value)
    if node.kind == "neg":
        return -_number(evaluate(node.args[0], ctx))
    if node.kind == "binop":
        return _binop(node.value, evaluate(node.args[0], ctx), evaluate(node.args[1], ctx))
    _, _, impl = FUNCTIONS[node.value]
    return impl(node.args, ctx)


def is_truthy(value: Any) -> bool:
    """Airtable's filter rule: not 0, false, "", NaN, [] or blank."""
    if value is None or value is False or value == "" or value == []:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, int | float) and value == 0)


def parse_datetime(value: Any) -> datetime:
    """An aware UTC datetime from an ISO string / date / datetime; raises FormulaRuntimeError."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise FormulaRuntimeError(f"cannot parse date {value!r}") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise FormulaRuntimeError(f"not a date: {value!r}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _number(value: Any) -> float | int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError as exc:
            raise FormulaRuntimeError(f"not a number: {value!r}") from exc
    raise FormulaRuntimeError(f"not a number: {value!r}")


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Coerce two operands to one comparable type, as Airtable does for = < > etc."""
    if isinstance(left, datetime) or isinstance(right, datetime):
        if left is None or right is None or left == "" or right == "":
            return _text(left), _text(right)
        return parse_datetime(left), parse_datetime(right)
    numeric = (int, float, bool)
    if isinstance(left, numeric) or isinstance(right, numeric):
        other = right if isinstance(left, numeric) else left
        if other is None or isinstance(other, numeric):
            return _number(left), _number(right)
        try:
            return _number(left), _number(right)
        except FormulaRuntimeError:
            return _text(left), _text(right)
    return _text(left), _text(right)


def _binop(op: str, left: Any, right: Any) -> Any:
    if op == "&":
        return _text(left) + _text(right)
    if op in "+-*/":
        a, b = _number(left), _number(right)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            raise FormulaRuntimeError("#DIV/0!")
        return a / b
    a, b = _comparable(left, right)
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    try:
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    except TypeError as exc:
        raise FormulaRuntimeError(str(exc)) from exc


# ----------------------------------------------------------------------------------------- functions
Impl = Callable[[tuple[Node, ...], FormulaContext], Any]


def _values(impl: Callable[..., Any]) -> Impl:
    """Adapt a function of evaluated arguments."""
    return lambda args, ctx: impl(*(evaluate(a, ctx) for a in args))


def _if(args: tuple[Node, ...], ctx: FormulaContext) -> Any:
    if is_truthy(evaluate(args[0], ctx)):
        return evaluate(args[1], ctx)
    return evaluate(args[2], ctx) if len(args) > 2 else None


def _field_names(args: tuple[Node, ...]) -> list[str]:
    names = []
    for arg in args:
        if arg.kind != "field":
            raise FormulaRuntimeError("LAST_MODIFIED_TIME() takes field references")
        names.append(arg.value)
    return names


_UNITS = {
    "milliseconds": "ms",
    "ms": "ms",
    "seconds": "s",
    "s": "s",
    "minutes": "m",
    "m": "m",
    "hours": "h",
    "h": "h",
    "days": "d",
    "d": "d",
    "weeks": "w",
    "w": "w",
    "months": "M",
    "M": "M",
    "years": "y",
    "y": "y",
}


def _truncate(value: datetime, unit: str) -> Any:
    code = _UNITS.get(unit, _UNITS.get(unit.lower()))
    if code is None:
        raise FormulaRuntimeError(f"unknown unit {unit!r}")
    if code == "ms":
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if code == "s":
        return value.replace(microsecond=0)
    if code == "m":
        return value.replace(second=0, microsecond=0)
    if code == "h":
        return value.replace(minute=0, second=0, microsecond=0)
    if code == "d":
        return value.date()
    if code == "w":
        return value.date() - timedelta(days=(value.weekday() + 1) % 7)
    if code == "M":
        return (value.year, value.month)
    return value.year


def _is_same(a: Any, b: Any, unit: Any = None) -> bool:
    left, right = parse_datetime(a), parse_datetime(b)
    if unit is None:
        return left == right
    return _truncate(left, str(unit)) == _truncate(right, str(unit))


def _find(needle: Any, haystack: Any, start: Any = None) -> int:
    offset = max(0, int(_number(start)) - 1) if start is not None else 0
    return _text(haystack).find(_text(needle), offset) + 1


def _search(needle: Any, haystack: Any, start: Any = None) -> int | None:
    found = _find(_text(needle).lower(), _text(haystack).lower(), start)
    return found or None


def _datetime_parse(value: Any, _fmt: Any = None, _locale: Any = None) -> datetime:
    return parse_datetime(value)


def _datetime_format(value: Any, _fmt: Any = None) -> str:
    return _text(parse_datetime(value))


def _dateadd(value: Any, count: Any, unit: Any) -> datetime:
    base = parse_datetime(value)
    code = _UNITS.get(str(unit), _UNITS.get(str(unit).lower()))
    seconds = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if code not in seconds:
        raise FormulaRuntimeError(f"unsupported unit {unit!r}")
    return base + timedelta(seconds=_number(count) * seconds[code])


FUNCTIONS: dict[str, tuple[int, int | None, Impl]] = {
    "AND": (1, None, lambda args, ctx: all(is_truthy(evaluate(a, ctx)) for a in args)),
    "OR": (1, None, lambda args, ctx: any(is_truthy(evaluate(a, ctx)) for a in args)),
    "XOR": (1, None, lambda args, ctx: sum(is_truthy(evaluate(a, ctx)) for a in args) % 2 == 1),
    "NOT": (1, 1, lambda args, ctx: not is_truthy(evaluate(args[0], ctx))),
    "IF": (2, 3, _if),
    "TRUE": (0, 0, lambda args, ctx: True),
    "FALSE": (0, 0, lambda args, ctx: False),
    "BLANK": (0, 0, lambda args, ctx: None),
    "RECORD_ID": (0, 0, lambda args, ctx: ctx.record_id()),
    "CREATED_TIME": (0, 0, lambda args, ctx: ctx.created()),
    "LAST_MODIFIED_TIME": (0, None, lambda args, ctx: ctx.last_modified(_field_names(args))),
    "NOW": (0, 0, lambda args, ctx: ctx.now()),
    "TODAY": (0, 0, lambda args, ctx: ctx.now().date()),
    "IS_AFTER": (2, 2, _values(lambda a, b: parse_datetime(a) > parse_datetime(b))),
    "IS_BEFORE": (2, 2, _values(lambda a, b: parse_datetime(a) < parse_datetime(b))),
    "IS_SAME": (2, 3, _values(_is_same)),
    "DATETIME_PARSE": (1, 3, _values(_datetime_parse)),
    "DATETIME_FORMAT": (1, 2, _values(_datetime_format)),
    "DATEADD": (3, 3, _values(_dateadd)),
    "LOWER": (1, 1, _values(lambda s: _text(s).lower())),
    "UPPER": (1, 1, _values(lambda s: _text(s).upper())),
    "TRIM": (1, 1, _values(lambda s: _text(s).strip())),
    "LEN": (1, 1, _values(lambda s: len(_text(s)))),
    "FIND": (2, 3, _values(_find)),
    "SEARCH": (2, 3, _values(_search)),
    "LEFT": (2, 2, _values(lambda s, n: _text(s)[: int(_number(n))])),
    "RIGHT": (2, 2, _values(lambda s, n: _text(s)[-int(_number(n)) :] if int(_number(n)) else "")),
    "MID": (
        3,
        3,
        _values(lambda s, i, n: _text(s)[int(_number(i)) - 1 : int(_number(i)) - 1 + int(_number(n))]),
    ),
    "SUBSTITUTE": (3, 3, _values(lambda s, old, new: _text(s).replace(_text(old), _text(new)))),
    "CONCATENATE": (1, None, _values(lambda *parts: "".join(_text(p) for p in parts))),
    "T": (1, 1, _values(lambda s: s if isinstance(s, str) else "")),
    "VALUE": (1, 1, _values(_number)),
    "ISERROR": (1, 1, lambda args, ctx: _is_error(args[0], ctx)),
}


def _is_error(node: Node, ctx: FormulaContext) -> bool:
    try:
        evaluate(node, ctx)
    except FormulaRuntimeError:
        return True
    return False
