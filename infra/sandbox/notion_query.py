"""Filter and sort evaluation for the Notion emulator's data-source query (pure functions).

A page is seen here as `PageView`: its timestamps (epoch seconds, already rounded down to the minute)
and its property values keyed by property name, as plain Python values (text, option name, number...).
Invalid filters raise `QueryError` with the message the emulator puts in a 400 validation_error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

TEXT_TYPES = frozenset({"title", "rich_text", "email", "url", "phone_number"})
DATE_TYPES = frozenset({"date", "created_time", "last_edited_time"})
TEXT_OPS = frozenset(
    {
        "equals",
        "does_not_equal",
        "contains",
        "does_not_contain",
        "starts_with",
        "ends_with",
        "is_empty",
        "is_not_empty",
    }
)
DATE_OPS = frozenset(
    {
        "equals",
        "before",
        "after",
        "on_or_before",
        "on_or_after",
        "is_empty",
        "is_not_empty",
        "past_week",
        "past_month",
        "past_year",
        "next_week",
        "next_month",
        "next_year",
        "this_week",
    }
)


class QueryError(ValueError):
    """The filter or sorts failed validation."""


@dataclass(frozen=True)
class PageView:
    """What filters and sorts look at."""

    created: float
    edited: float
    values: dict[str, Any]  # property name -> plain value (str, float, bool, None, list[str])
    seq: int  # creation order, the final tie-breaker


Schema = dict[str, dict[str, Any]]  # property name -> {"id", "type", ...}


def resolve_property(schema: Schema, key: Any) -> str:
    """Property name for a name or id; QueryError when neither matches."""
    if isinstance(key, str):
        if key in schema:
            return key
        for name, prop in schema.items():
            if prop["id"] == key:
                return name
    raise QueryError(f"Could not find property with name or id: {key}")


def compile_filter(spec: Any, schema: Schema, now: float) -> Callable[[PageView], bool]:
    """A predicate for a Notion filter object (compound, timestamp or property filter)."""
    if not isinstance(spec, dict):
        raise QueryError("body failed validation: body.filter should be an object.")
    if "and" in spec or "or" in spec:
        key = "and" if "and" in spec else "or"
        parts = spec[key]
        if not isinstance(parts, list):
            raise QueryError(f"body failed validation: body.filter.{key} should be an array.")
        predicates = [compile_filter(part, schema, now) for part in parts]
        if key == "and":
            return lambda page: all(p(page) for p in predicates)
        return lambda page: any(p(page) for p in predicates)
    if "timestamp" in spec:
        field = spec["timestamp"]
        if field not in ("created_time", "last_edited_time"):
            raise QueryError(
                "body failed validation: body.filter.timestamp should be "
                f'`"created_time"` or `"last_edited_time"`, instead was `{field!r}`.'
            )
        condition = spec.get(field)
        test = _date_test(condition, now, f"body.filter.{field}")
        return lambda page: test(page.created if field == "created_time" else page.edited)
    if "property" in spec:
        name = resolve_property(schema, spec["property"])
        ptype = schema[name]["type"]
        condition = _condition_for(spec, ptype, name)
        test = _property_test(ptype, condition, now)
        if ptype == "created_time":
            return lambda page: test(page.created)
        if ptype == "last_edited_time":
            return lambda page: test(page.edited)
        return lambda page: test(page.values.get(name))
    raise QueryError("body failed validation: body.filter should define `property`, `timestamp`, `or` or `and`.")


def _condition_for(spec: dict[str, Any], ptype: str, name: str) -> dict[str, Any]:
    keys = [k for k in spec if k not in ("property", "type")]
    if keys != [ptype] and not (ptype in TEXT_TYPES and keys and keys[0] in ("rich_text", "title")):
        raise QueryError(
            f"body failed validation: body.filter.{keys[0] if keys else '?'} does not match the type "
            f"of property {name!r}, which is {ptype}."
        )
    condition = spec[keys[0]]
    if not isinstance(condition, dict) or len(condition) != 1:
        raise QueryError(f"body failed validation: body.filter.{keys[0]} should have exactly one condition.")
    return condition


def _property_test(ptype: str, condition: dict[str, Any], now: float) -> Callable[[Any], bool]:
    op, value = next(iter(condition.items()))
    if ptype in TEXT_TYPES:
        return _text_test(op, value)
    if ptype in ("select", "status"):
        return _option_test(op, value)
    if ptype in DATE_TYPES:
        return _date_test(condition, now, f"body.filter.{ptype}")
    if ptype == "number":
        return _number_test(op, value)
    if ptype == "checkbox":
        if op not in ("equals", "does_not_equal") or not isinstance(value, bool):
            raise QueryError("body failed validation: body.filter.checkbox should be `equals` or `does_not_equal`.")
        return lambda v: (bool(v) == value) == (op == "equals")
    if ptype == "multi_select":
        return _multi_test(op, value)
    raise QueryError(f"Filtering on {ptype} properties is not supported by the sandbox.")


def _text_test(op: str, value: Any) -> Callable[[Any], bool]:
    if op not in TEXT_OPS:
        raise QueryError(f"body failed validation: text filter operator `{op}` is not valid.")
    if op in ("is_empty", "is_not_empty"):
        if value is not True:
            raise QueryError(f"body failed validation: `{op}` should be `true`.")
        return (lambda v: not v) if op == "is_empty" else (lambda v: bool(v))
    if not isinstance(value, str):
        raise QueryError(f"body failed validation: `{op}` should be a string.")
    needle = value.lower()
    tests: dict[str, Callable[[str], bool]] = {
        "equals": lambda v: v == value,
        "does_not_equal": lambda v: v != value,
        "contains": lambda v: needle in v.lower(),
        "does_not_contain": lambda v: needle not in v.lower(),
        "starts_with": lambda v: v.lower().startswith(needle),
        "ends_with": lambda v: v.lower().endswith(needle),
    }
    test = tests[op]
    return lambda v: test(v or "")


def _option_test(op: str, value: Any) -> Callable[[Any], bool]:
    if op == "is_empty":
        return lambda v: v is None
    if op == "is_not_empty":
        return lambda v: v is not None
    if op not in ("equals", "does_not_equal"):
        raise QueryError(f"body failed validation: select/status filter operator `{op}` is not valid.")
    names = set(value) if isinstance(value, list) else {value}
    if not all(isinstance(n, str) for n in names):
        raise QueryError(f"body failed validation: `{op}` should be a string.")
    if op == "equals":
        return lambda v: v in names
    return lambda v: v not in names


def _number_test(op: str, value: Any) -> Callable[[Any], bool]:
    if op == "is_empty":
        return lambda v: v is None
    if op == "is_not_empty":
        return lambda v: v is not None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise QueryError(f"body failed validation: number filter `{op}` should be a number.")
    tests: dict[str, Callable[[float], bool]] = {
        "equals": lambda v: v == value,
        "does_not_equal": lambda v: v != value,
        "greater_than": lambda v: v > value,
        "less_than": lambda v: v < value,
        "greater_than_or_equal_to": lambda v: v >= value,
        "less_than_or_equal_to": lambda v: v <= value,
    }
    if op not in tests:
        raise QueryError(f"body failed validation: number filter operator `{op}` is not valid.")
    test = tests[op]
    return lambda v: v is not None and test(v)


def _multi_test(op: str, value: Any) -> Callable[[Any], bool]:
    if op == "is_empty":
        return lambda v: not v
    if op == "is_not_empty":
        return lambda v: bool(v)
    if op == "contains":
        return lambda v: value in (v or [])
    if op == "does_not_contain":
        return lambda v: value not in (v or [])
    raise QueryError(f"body failed validation: multi_select filter operator `{op}` is not valid.")


def parse_date(value: Any, where: str) -> tuple[float, float]:
    """[start, end) epoch seconds: a whole UTC day for a date, one instant (end=start) for a datetime."""
    if not isinstance(value, str):
        raise QueryError(f"body failed validation: {where} should be an ISO 8601 date string.")
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
            return start, start + 86400
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise QueryError(f"body failed validation: {where} should be an ISO 8601 date, instead was `{value}`.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    instant = parsed.timestamp()
    return instant, instant


def _date_test(condition: Any, now: float, where: str) -> Callable[[Any], bool]:
    if not isinstance(condition, dict) or len(condition) != 1:
        raise QueryError(f"body failed validation: {where} should have exactly one condition.")
    op, value = next(iter(condition.items()))
    if op not in DATE_OPS:
        raise QueryError(f"body failed validation: date filter operator `{op}` is not valid.")
    if op == "is_empty":
        return lambda v: v is None
    if op == "is_not_empty":
        return lambda v: v is not None
    relative = {
        "past_week": (now - 7 * 86400, now),
        "past_month": (now - 30 * 86400, now),
        "past_year": (now - 365 * 86400, now),
        "next_week": (now, now + 7 * 86400),
        "next_month": (now, now + 30 * 86400),
        "next_year": (now, now + 365 * 86400),
        "this_week": _this_week(now),
    }
    if op in relative:
        low, high = relative[op]
        return lambda v: v is not None and low <= _instant(v) <= high
    start, end = parse_date(value, f"{where}.{op}")
    whole_day = end > start
    tests: dict[str, Callable[[float], bool]] = {
        "equals": (lambda t: start <= t < end) if whole_day else (lambda t: t == start),
        "before": lambda t: t < start,
        "after": (lambda t: t >= end) if whole_day else (lambda t: t > start),
        "on_or_before": (lambda t: t < end) if whole_day else (lambda t: t <= start),
        "on_or_after": lambda t: t >= start,
    }
    test = tests[op]
    return lambda v: v is not None and test(_instant(v))


def _this_week(now: float) -> tuple[float, float]:
    today = datetime.fromtimestamp(now, tz=UTC).date()
    monday = today - timedelta(days=today.weekday())
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC).timestamp()
    return start, start + 7 * 86400


def _instant(value: Any) -> float:
    """Epoch seconds of a stored value: a float already, or a date property's start string."""
    if isinstance(value, int | float):
        return float(value)
    return parse_date(value, "date")[0]


def sort_key_function(sorts: Any, schema: Schema) -> Callable[[PageView], Any]:
    """A key for `sorted` implementing Notion sorts (a list of property or timestamp sorts)."""
    if sorts is None:
        sorts = []
    if not isinstance(sorts, list):
        raise QueryError("body failed validation: body.sorts should be an array.")
    keys: list[tuple[Callable[[PageView], Any], bool]] = []
    for index, sort in enumerate(sorts):
        if not isinstance(sort, dict):
            raise QueryError(f"body failed validation: body.sorts[{index}] should be an object.")
        direction = sort.get("direction", "ascending")
        if direction not in ("ascending", "descending"):
            raise QueryError(
                f'body failed validation: body.sorts[{index}].direction should be `"ascending"` or '
                f'`"descending"`, instead was `"{direction}"`.'
            )
        if "timestamp" in sort:
            field = sort["timestamp"]
            if field not in ("created_time", "last_edited_time"):
                raise QueryError(f"body failed validation: body.sorts[{index}].timestamp is not valid.")
            getter: Callable[[PageView], Any] = (
                (lambda p: p.created) if field == "created_time" else (lambda p: p.edited)
            )
        elif "property" in sort:
            getter = _property_sort_getter(schema, resolve_property(schema, sort["property"]))
        else:
            raise QueryError(f"body failed validation: body.sorts[{index}] should define property or timestamp.")
        keys.append((getter, direction == "descending"))
    return lambda page: (*(_Directed(g(page), desc) for g, desc in keys), page.seq)


def _property_sort_getter(schema: Schema, name: str) -> Callable[[PageView], Any]:
    prop = schema[name]
    ptype = prop["type"]
    if ptype == "created_time":
        return lambda p: p.created
    if ptype == "last_edited_time":
        return lambda p: p.edited
    if ptype in ("select", "status"):
        order = {o["name"]: i for i, o in enumerate(prop[ptype]["options"])}
        return lambda p: order.get(p.values.get(name)) if p.values.get(name) is not None else None
    if ptype in TEXT_TYPES:
        return lambda p: (p.values.get(name) or "").lower() or None
    return lambda p: p.values.get(name)


class _Directed:
    """Sort wrapper: empty values last in either direction, otherwise natural or reversed order."""

    __slots__ = ("desc", "value")

    def __init__(self, value: Any, desc: bool) -> None:
        self.value = value
        self.desc = desc

    def __lt__(self, other: _Directed) -> bool:
        if self.value is None or other.value is None:
            return self.value is not None and other.value is None
        if self.value == other.value:
            return False
        return (self.value > other.value) if self.desc else (self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Directed) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]


def apply_query(pages: Sequence[PageView], predicate: Callable[[PageView], bool] | None, key: Any) -> list[int]:
    """Indexes of `pages` that match, in sorted order."""
    order = [i for i, p in enumerate(pages) if predicate is None or predicate(p)]
    return sorted(order, key=lambda i: key(pages[i]))
