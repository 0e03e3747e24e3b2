"""The hostile part of a soak scenario: records outside the pair, and markers nobody should trust.

Each scenario with hostile edits on gets, next to its own lead tracker and board:

* a **foreign** tracker of the same kind (another Notion database, another Airtable base, another
  spreadsheet) holding a few leads, and a foreign board holding a card: hand-made cards of the
  pair's board name those leads in their markers. Nothing of them may ever be read through their
  container or written: their records are snapshotted at the start and compared at the end, and
  no request of the scenario may name their database, data source, base, table, spreadsheet or
  board (the emulators' request logs, ``infra/sandbox/common.py``);
* an **away** tracker, empty, of the same kind: the pair's configuration is switched to it for a
  few cycles (a mistaken edit of the config) and back. Nothing may be written to it.

``markers`` gives the malformed and foreign markers a person may type into a card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.support.e2e import STATUSES, Board

# Typed into a card's marker line or a lead's link field: none is an id of any system.
MALFORMED = (
    "hello",
    "../../x",
    "%2e%2e/%2e%2e/x",
    "%2E%2E%2F%2E%2E%2Fcards",
    "..%2f..%2fboards",
    "rec" + "A" * 300,  # overlong
    "0123456789abcdef" * 40,  # overlong hex
    "?fields=all&x=",
    "#fragment",
)


@dataclass
class Foreign:
    """The scenario's records outside the pair, and what they looked like at the start."""

    sb: Any
    system: str
    leads: Any  # the foreign tracker (same kind as the pair's)
    away: Any  # the empty tracker the configuration is pointed at for a while
    board: Board
    lead_ids: list[str] = field(default_factory=list)
    card_ids: list[str] = field(default_factory=list)
    before: str = ""
    away_before: str = ""

    @classmethod
    def create(cls, sb: Any, tracker_type: Any) -> Foreign:
        """Make the foreign and away trackers and the foreign board (before the first cycle: a Sheets
        tracker registers a new key for the shared service account, and the env names the newest)."""
        foreign_leads = tracker_type(sb)
        away = tracker_type(sb)
        board = Board(sb)
        world = cls(sb, foreign_leads.system, foreign_leads, away, board)
        for i, status in enumerate(STATUSES[:3]):
            world.lead_ids.append(
                foreign_leads.add(
                    name=f"Foreign {i}", email=f"foreign{i}@example.org", status=status, source="elsewhere"
                )
            )
        world.card_ids.append(board.add_card("Foreign card", "To Do", "**leadsync**\nEmail: fc@example.org"))
        world.before = world.snapshot()
        world.away_before = _tracker_snapshot(sb, away)
        return world

    def containers(self) -> list[str]:
        """Ids that name a foreign container (lowercase; Notion ids both dashed and compact)."""
        ids = [self.board.board_id]
        leads = self.leads
        if self.system == "notion":
            ids += [leads.database_id, leads.ds_id]
            ids += [i.replace("-", "") for i in (leads.database_id, leads.ds_id)]
        elif self.system == "airtable":
            ids += [leads.base_id, leads.table_id]
        else:
            ids.append(leads.spreadsheet_id)
        return [i.lower() for i in ids if i]

    def snapshot(self) -> str:
        """Every foreign record, as the emulators hold it (compared byte for byte)."""
        cards = self.sb.trello.cards(self.board.board_id, include_closed=True)
        return _tracker_snapshot(self.sb, self.leads) + json.dumps(cards, sort_keys=True)

    def markers(self) -> list[str]:
        """Foreign markers a hand-made card may carry: ids of the foreign tracker's leads, and for
        Airtable a path that would climb into the foreign base if it were ever put into a URL."""
        out = list(self.lead_ids)
        if self.system == "airtable":
            out += [f"../../{self.leads.base_id}/{self.leads.table_id}/{r}" for r in self.lead_ids[:1]]
        if self.system == "notion":
            out += [f"../databases/{self.leads.database_id}", self.lead_ids[0].replace("-", "").upper()]
        return out

    def violations(self) -> tuple[list[str], int]:
        """(what went wrong, how many foreign reads or writes): foreign records changed, the away
        tracker written, or a request naming a foreign container."""
        found: list[str] = []
        touched = 0
        if self.snapshot() != self.before:
            found.append("foreign: a record of the foreign tracker or board changed")
            touched += 1
        if _tracker_snapshot(self.sb, self.away) != self.away_before:
            found.append("foreign: the tracker the pair was pointed at by mistake was written to")
            touched += 1
        names = self.containers()
        for name, emulator in self.sb.emulators.items():
            for url in emulator.request_urls:
                lowered = url.lower()
                hit = next((n for n in names if n in lowered), None)
                if hit is not None:
                    touched += 1
                    if len(found) < 8:
                        found.append(f"foreign: a {name} request named foreign container {hit}: {url}")
        return found, touched


def _tracker_snapshot(sb: Any, leads: Any) -> str:
    if leads.system == "notion":
        pages = sb.notion.pages(leads.ds_id, include_trashed=True)
        return json.dumps([sb.notion.get_page_json(p["_id"]) for p in pages], sort_keys=True)
    if leads.system == "airtable":
        from tests.support.e2e_airtable import TABLE

        return json.dumps(sb.airtable.records(leads.base_id, TABLE), sort_keys=True)
    from tests.support.e2e_sheets import TAB

    return json.dumps(sb.sheets.values(leads.spreadsheet_id, TAB))


def set_link_field(h: Any, lead_id: str, value: str) -> None:
    """A person types into the lead's link field directly (as tests/e2e/test_hostile_input.py does)."""
    leads: Any = h.leads
    if leads.system == "notion":
        h.sb.notion.user_update_page(lead_id, {"Trello Card": value})
    elif leads.system == "airtable":
        from tests.support.e2e_airtable import TABLE

        h.sb.airtable.user_update_record(leads.base_id, TABLE, lead_id, {"Trello Card": value})
    else:
        from leadsync.connectors.sheets_rows import column_letters, quote_sheet
        from tests.support.e2e_sheets import TAB

        number = leads._row_number(lead_id)
        cell = f"{quote_sheet(TAB)}!{column_letters(leads._header().index('Trello Card'))}{number}"
        h.sb.sheets.user_set_values(leads.spreadsheet_id, cell, [[value]])
