"""Pure helpers of the Google Sheets connector: A1 ranges, the header, rows, row hashes, new ids.

No I/O here. A tab is read as a list of rows of strings (``values.get`` with FORMATTED_VALUE,
trailing empty cells and rows dropped); this module turns it into rows keyed by lead id and
says which rows need an id (new rows, copied rows) before the connector writes anything.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from leadsync.core.models import Fields, Value
from leadsync.errors import ConfigError

ARCHIVED = "archived"  # the state cell of a row leadsync archived (Sheets has no archive)
ID_PREFIX = "L-"
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 base32
ID_LENGTH = 10  # 50 random bits
HASH_HEX = 12
_UPDATED_ROW = re.compile(r"!\$?[A-Za-z]*\$?(\d+)")


# -- A1 notation -------------------------------------------------------------------------------


def column_letters(index: int) -> str:
    """0-based column index -> letters (0 -> ``A``, 26 -> ``AA``)."""
    if index < 0:
        raise ValueError(f"column index must be >= 0, got {index}")
    number, out = index + 1, ""
    while number:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out


def quote_sheet(title: str) -> str:
    """The tab title as an A1 sheet reference: always quoted, ``'`` doubled."""
    return "'" + title.replace("'", "''") + "'"


def tab_range(sheet: str) -> str:
    """The whole tab."""
    return quote_sheet(sheet)


def row_range(sheet: str, row: int) -> str:
    """Every cell of one row (1-based row number)."""
    return f"{quote_sheet(sheet)}!{row}:{row}"


def column_range(sheet: str, col: int) -> str:
    """Every cell of one column (0-based index)."""
    letters = column_letters(col)
    return f"{quote_sheet(sheet)}!{letters}:{letters}"


def cell_range(sheet: str, row: int, col: int) -> str:
    """One cell (1-based row number, 0-based column index)."""
    return f"{quote_sheet(sheet)}!{column_letters(col)}{row}"


def first_row_of(updated_range: str) -> int:
    """The first row number of a range the API echoes (``Leads!A12:G12`` -> 12)."""
    match = _UPDATED_ROW.search(updated_range)
    if match is None:
        raise ValueError(f"no row number in range {updated_range!r}")
    return int(match.group(1))


# -- ids and hashes ----------------------------------------------------------------------------


def new_lead_id() -> str:
    """A short random lead id, e.g. ``L-K7Q2M4ZP3A`` (50 bits: collisions are not a concern)."""
    return ID_PREFIX + "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def row_hash(record_id: str, fields: Mapping[str, Value], link: Value) -> str:
    """A short digest of what leadsync syncs of a row: its id, mapped values and link.

    The id is part of it so a copied row (same values, new id) never passes for acknowledged.
    """
    payload = json.dumps([record_id, sorted(fields.items()), link], ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=8).hexdigest()[:HASH_HEX]


# -- the header --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Where each column leadsync uses sits in the tab, found by header name."""

    sheet: str
    header: tuple[str, ...]
    fields: dict[str, int]
    id: int
    link: int
    state: int

    @classmethod
    def from_header(
        cls,
        header: Sequence[str],
        *,
        sheet: str,
        fields: Sequence[str],
        id_column: str,
        link_field: str,
        state_column: str,
    ) -> Columns:
        """Locate every needed column; a ConfigError lists each one missing or ambiguous."""
        names = [str(h).strip() for h in header]
        positions: dict[str, list[int]] = {}
        for index, name in enumerate(names):
            if name:
                positions.setdefault(name, []).append(index)
        bookkeeping = {"id_column": id_column, "link_field": link_field, "state_column": state_column}
        problems: list[str] = []
        for name in fields:
            for role, column in bookkeeping.items():
                if name.strip() == column.strip():
                    problems.append(f"sheet {sheet!r}: column {name!r} is both a mapped field and the {role}")
        found: dict[str, int] = {}
        for name in [*fields, id_column, link_field, state_column]:
            where = positions.get(name.strip(), [])
            if not where:
                hint = " (add it; it may be hidden)" if name == state_column else ""
                problems.append(f"sheet {sheet!r} has no column {name!r} in its header row{hint}")
            elif len(where) > 1:
                cols = ", ".join(column_letters(i) for i in where)
                problems.append(f"sheet {sheet!r}: column {name!r} appears {len(where)} times in the header ({cols})")
            else:
                found[name] = where[0]
        if problems:
            shown = ", ".join(repr(n) for n in names if n) or "(empty)"
            raise ConfigError([*dict.fromkeys(problems), f"sheet {sheet!r} header row: {shown}"])
        return cls(
            sheet=sheet,
            header=tuple(names),
            fields={name: found[name] for name in fields},
            id=found[id_column],
            link=found[link_field],
            state=found[state_column],
        )

    @property
    def width(self) -> int:
        """How many cells a row needs to reach every used column."""
        return max([self.id, self.link, self.state, *self.fields.values()]) + 1


# -- rows --------------------------------------------------------------------------------------


def _text(cells: Sequence[object], index: int) -> str:
    if index >= len(cells):
        return ""
    value = cells[index]
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Row:
    """One lead row as read: its 1-based row number and the cells leadsync uses."""

    number: int
    id: str
    fields: Fields
    link: Value
    state: str

    @property
    def archived(self) -> bool:
        return self.state.strip().lower() == ARCHIVED

    @property
    def current_hash(self) -> str:
        return row_hash(self.id, self.fields, self.link)

    @property
    def acknowledged(self) -> bool:
        """Whether the state cell holds the hash of what the row holds now (nothing new)."""
        return self.state == self.current_hash


def read_row(number: int, cells: Sequence[object], columns: Columns) -> Row | None:
    """The row's lead values, or ``None`` for a row with no value in any mapped column.

    Values are what the person sees; an empty cell is ``None``. The id is stripped of
    surrounding spaces (a person may type one); field values are kept as they are.
    """
    fields: Fields = {name: (_text(cells, col) or None) for name, col in columns.fields.items()}
    if all(value is None or not value.strip() for value in fields.values()):
        return None
    return Row(
        number=number,
        id=_text(cells, columns.id).strip(),
        fields=fields,
        link=_text(cells, columns.link).strip() or None,
        state=_text(cells, columns.state).strip(),
    )


@dataclass
class Table:
    """A tab parsed: rows by id, and the rows that need an id before they can be synced."""

    columns: Columns
    rows: dict[str, Row] = field(default_factory=dict)  # id -> the row holding it (first copy)
    without_id: list[Row] = field(default_factory=list)
    duplicates: list[Row] = field(default_factory=list)  # later copies of an id already seen


def parse_table(values: Sequence[Sequence[object]], columns: Columns) -> Table:
    """Rows 2.. of ``values`` (row 1 is the header). The first row holding an id keeps it."""
    table = Table(columns)
    for offset, cells in enumerate(values[1:]):
        row = read_row(offset + 2, cells, columns)
        if row is None:
            continue
        if not row.id:
            table.without_id.append(row)
        elif row.id in table.rows:
            table.duplicates.append(row)
        else:
            table.rows[row.id] = row
    return table


def header_of(values: Sequence[Sequence[object]]) -> list[str]:
    """The header row's names (empty when the tab is empty)."""
    return [str(c).strip() for c in values[0]] if values else []
