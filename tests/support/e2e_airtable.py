"""End-to-end world for Airtable: a base with a Leads table, edited like a person would in the grid."""

from __future__ import annotations

from typing import Any

from tests.support.e2e import STATUSES

TABLE = "Leads"
FIELD_TYPES = {
    "Name": "singleLineText",
    "Email": "email",
    "Status": "singleSelect",
    "Source": "singleLineText",
    "Trello Card": "singleLineText",
    "Last Modified": "lastModifiedTime",
}


class Leads:
    """An Airtable table Name/Email/Status/Source/Trello Card/Last Modified (canonical names outside)."""

    system = "airtable"

    def __init__(self, sb: Any) -> None:
        self.sb = sb
        self.fields = {"name": "Name", "email": "Email", "status": "Status", "source": "Source"}
        self.base_id, tables = sb.airtable.create_base(
            tables={TABLE: dict(FIELD_TYPES)}, select_options={TABLE: {"Status": list(STATUSES)}}
        )
        self.table_id = tables[TABLE]

    def side_config(self) -> dict[str, Any]:
        return {"system": "airtable", "base_id": self.base_id, "table": self.table_id}

    def native(self) -> dict[str, str]:
        return dict(self.fields)

    def _plain(self, values: dict[str, str | None]) -> dict[str, str | None]:
        return {self.fields[k]: v for k, v in values.items()}

    def add(self, **values: str | None) -> str:
        return str(self.sb.airtable.user_create_record(self.base_id, TABLE, self._plain(values)))

    def edit(self, lead_id: str, **values: str | None) -> None:
        self.sb.airtable.user_update_record(self.base_id, TABLE, lead_id, self._plain(values))

    def delete(self, lead_id: str) -> None:
        """Delete the row (Airtable deletes are for good)."""
        self.sb.airtable.user_delete_record(self.base_id, TABLE, lead_id)

    def get(self, lead_id: str) -> dict[str, Any] | None:
        for record in self.sb.airtable.records(self.base_id, TABLE):
            if record["id"] == lead_id:
                return self._canonical(record)
        return None

    def all(self) -> list[dict[str, Any]]:
        return [self._canonical(r) for r in self.sb.airtable.records(self.base_id, TABLE)]

    def _canonical(self, record: dict[str, Any]) -> dict[str, Any]:
        cells = record["fields"]
        out = {k: cells.get(v) for k, v in self.fields.items()}
        return {**out, "id": record["id"], "card": cells.get("Trello Card"), "deleted": False}
