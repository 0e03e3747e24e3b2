"""A1 notation for the Sheets emulator: parse `Sheet1!A1:B2`, `'My Sheet'!A:A`, `A5:A`, `1:2`, `Sheet1`.

Grid coordinates are 0-based; end indices are exclusive and None means "to the edge of the grid".
R1C1 notation and named ranges are not supported (they answer "Unable to parse range").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["A1Error", "A1Range", "column_letters", "column_number", "format_range", "parse_a1", "quote_sheet"]

_REF = re.compile(r"^(?P<col>[A-Za-z]{1,3})?(?P<row>[1-9][0-9]{0,6})?$")


class A1Error(ValueError):
    """The text is not a range the emulator understands."""


@dataclass(frozen=True)
class A1Range:
    """A parsed range: sheet title (None = first sheet) and grid bounds."""

    sheet: str | None
    start_row: int | None = None  # None: from row 1 (whole columns / whole sheet)
    end_row: int | None = None  # exclusive; None: to the last row
    start_col: int | None = None
    end_col: int | None = None  # exclusive; None: to the last column


def column_number(letters: str) -> int:
    """'A' -> 1, 'Z' -> 26, 'AA' -> 27."""
    number = 0
    for ch in letters.upper():
        number = number * 26 + (ord(ch) - 64)
    return number


def column_letters(number: int) -> str:
    """1 -> 'A', 27 -> 'AA'."""
    out = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out


def quote_sheet(title: str) -> str:
    """The sheet title as the API echoes it: quoted (with '' escapes) unless plain."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not _REF.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def _split_sheet(text: str) -> tuple[str | None, str | None, bool]:
    """(sheet title, cell part, whether the title was quoted)."""
    if text.startswith("'"):
        i, out = 1, []
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                rest = text[i + 1 :]
                if rest == "":
                    return "".join(out), None, True
                if rest.startswith("!"):
                    return "".join(out), rest[1:], True
                raise A1Error(text)
            out.append(text[i])
            i += 1
        raise A1Error(text)
    if "!" in text:
        sheet, cells = text.rsplit("!", 1)
        return sheet, cells, False
    return None, text, False


def _ref(text: str) -> tuple[int | None, int | None]:
    match = _REF.match(text)
    if not match or not text:
        raise A1Error(text)
    col = column_number(match["col"]) - 1 if match["col"] else None
    row = int(match["row"]) - 1 if match["row"] else None
    return col, row


def parse_a1(text: str, sheet_titles: list[str]) -> A1Range:
    """Parse A1 text; a bare word that is a sheet title means that whole sheet."""
    text = text.strip()
    if not text:
        raise A1Error(text)
    sheet, cells, quoted = _split_sheet(text)
    if cells is None:
        return A1Range(sheet)
    if sheet is None and not quoted and cells in sheet_titles and not _is_cells(cells):
        return A1Range(cells)
    if not cells:
        raise A1Error(text)
    if sheet == "":
        raise A1Error(text)
    parts = cells.split(":")
    if len(parts) > 2:
        raise A1Error(text)
    c1, r1 = _ref(parts[0])
    if len(parts) == 1:
        if c1 is None or r1 is None:
            if sheet is None and cells in sheet_titles:
                return A1Range(cells)
            raise A1Error(text)
        return A1Range(sheet, r1, r1 + 1, c1, c1 + 1)
    c2, r2 = _ref(parts[1])
    both_cols = c1 is not None and c2 is not None
    rows_only = c1 is None and c2 is None and r1 is not None and r2 is not None
    cell_to_row = c1 is not None and r1 is not None and c2 is None and r2 is not None  # A3:3
    if not (both_cols or rows_only or cell_to_row):
        raise A1Error(text)
    cols = _span(c1, c2)
    rows = _span(r1, r2)
    return A1Range(sheet, rows[0], rows[1], cols[0], cols[1])


def _span(first: int | None, second: int | None) -> tuple[int | None, int | None]:
    """(start, exclusive end) from two optional 0-based indices (open side = None)."""
    if first is None and second is None:
        return None, None
    if first is None:
        return 0, second + 1 if second is not None else None
    if second is None:
        return first, None
    low, high = min(first, second), max(first, second)
    return low, high + 1


def _is_cells(text: str) -> bool:
    try:
        parse_a1(text, [])
    except A1Error:
        return False
    return True


def format_range(title: str, start_row: int, end_row: int, start_col: int, end_col: int) -> str:
    """`Leads!A1:F10` from 0-based bounds (end exclusive); a 1-cell range prints as `Leads!A1`."""
    first = f"{column_letters(start_col + 1)}{start_row + 1}"
    last = f"{column_letters(end_col)}{end_row}"
    cells = first if first == last else f"{first}:{last}"
    return f"{quote_sheet(title)}!{cells}"
