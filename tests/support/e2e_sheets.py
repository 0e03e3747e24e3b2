"""End-to-end world for Google Sheets: a spreadsheet whose "Leads" tab a person edits.

Plugged into tests/e2e by `tests/e2e/conftest.py` (it imports `Leads` from here), so every
scenario of `tests/e2e/test_sync_scenarios.py` runs against Sheets too.

The person adds new leads at the TOP of the list (a row inserted under the header), so every
scenario also moves the rows leadsync read earlier. They type the lead's id themselves, so a
scenario can name the lead before the first cycle; leadsync filling in missing ids is covered
by tests/contract/test_sheets_connector.py.
"""

from __future__ import annotations

import json
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any

from leadsync.connectors.ratelimit import Limit, shared_limiter
from leadsync.connectors.sheets_rows import ARCHIVED, column_letters, new_lead_id, quote_sheet
from sandbox.sheets import make_service_account

TAB = "Leads"
HEADER = ["Lead ID", "Name", "Email", "Status", "Source", "Trello Card", "leadsync"]
FIELDS = {"name": "Name", "email": "Email", "status": "Status", "source": "Source"}
# Scenarios advance the sandbox clock a minute per cycle, but the client-side limiter counts real
# seconds: run Sheets' per-minute quota per second instead (like the sandbox's time_scale).
SCALED_LIMIT = Limit(55.0, 5.0)


class Leads:
    """A Google Sheet of leads, used like a person would (canonical field names)."""

    system = "sheets"

    def __init__(self, sb: Any) -> None:
        self.sb = sb
        self.spreadsheet_id = sb.sheets.create_spreadsheet("Leads", {TAB: [list(HEADER)]})
        fd, name = tempfile.mkstemp(prefix="leadsync-e2e-sa-", suffix=".json")
        account = make_service_account(sb)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(account, handle)
        self.key_file = Path(name)
        weakref.finalize(self, self.key_file.unlink, missing_ok=True)
        os.environ["GOOGLE_SERVICE_ACCOUNT_FILE"] = str(self.key_file)
        shared_limiter("sheets", account["client_email"], limit=SCALED_LIMIT)

    def side_config(self) -> dict[str, Any]:
        return {"system": "sheets", "spreadsheet_id": self.spreadsheet_id, "sheet": TAB}

    def native(self) -> dict[str, str]:
        return dict(FIELDS)

    # -- the person ------------------------------------------------------------------------

    def _rows(self) -> list[list[str]]:
        return self.sb.sheets.values(self.spreadsheet_id, TAB)

    def _header(self) -> list[str]:
        return self.sb.sheets.values(self.spreadsheet_id, TAB, rows=1)[0]

    def _row_number(self, lead_id: str) -> int | None:
        column = self._header().index("Lead ID")
        for number, cells in enumerate(self._rows(), start=1):
            if number > 1 and column < len(cells) and cells[column] == lead_id:
                return number
        return None

    def add(self, **values: str | None) -> str:
        """Insert a row under the header with the values and an id the person types."""
        lead_id = new_lead_id()
        header = self._header()
        row = [""] * len(header)
        row[header.index("Lead ID")] = lead_id
        for key, value in values.items():
            row[header.index(FIELDS[key])] = value or ""
        self.sb.sheets.user_insert_row(self.spreadsheet_id, TAB, 2, row)
        return lead_id

    def edit(self, lead_id: str, **values: str | None) -> None:
        number = self._row_number(lead_id)
        assert number is not None, f"no row holds lead {lead_id}"
        header = self._header()
        for key, value in values.items():
            cell = f"{quote_sheet(TAB)}!{column_letters(header.index(FIELDS[key]))}{number}"
            self.sb.sheets.user_set_values(self.spreadsheet_id, cell, [[value or ""]])

    def delete(self, lead_id: str) -> None:
        """The person deletes the lead's row (rows below move up)."""
        number = self._row_number(lead_id)
        assert number is not None, f"no row holds lead {lead_id}"
        self.sb.sheets.user_delete_row(self.spreadsheet_id, TAB, number)

    # -- what the sheet shows --------------------------------------------------------------

    def get(self, lead_id: str) -> dict[str, Any] | None:
        return next((lead for lead in self.all() if lead["id"] == lead_id), None)

    def all(self) -> list[dict[str, Any]]:
        rows = self._rows()
        header = rows[0]

        def cell(cells: list[str], name: str) -> str | None:
            index = header.index(name)
            return (cells[index] if index < len(cells) else "") or None

        return [
            {
                **{key: cell(cells, name) for key, name in FIELDS.items()},
                "id": cell(cells, "Lead ID"),
                "card": cell(cells, "Trello Card"),
                "deleted": cell(cells, "leadsync") == ARCHIVED,
            }
            for cells in rows[1:]
            if cell(cells, "Lead ID")
        ]
