"""Which container each side of a pair points at, as stored in the pair's state.

Links, cursors and base snapshots belong to one Notion database, Airtable table, spreadsheet tab
or Trello board. If the configuration starts pointing a pair somewhere else, the stored links name
records that are not there: the next full sweep would take every one of them for a deletion and
archive (or delete) its counterpart. So the state remembers each side's container, and a cycle
whose configuration disagrees stops before reading anything (see ``docs/reliability.md``).
"""

from __future__ import annotations

from leadsync.config import PairConfig
from leadsync.core.models import PairMeta, Side
from leadsync.errors import SideMoved


def _compact(notion_id: str) -> str:
    return notion_id.replace("-", "").lower()


def container(side: object) -> str:
    """A stable name for the container a side config points at (formatting differences ignored)."""
    system = getattr(side, "system", "")
    if system == "notion":
        name = f"notion:{_compact(side.database_id)}"  # type: ignore[attr-defined]
        source = getattr(side, "data_source_id", None)
        return f"{name}/{_compact(source)}" if source else name
    if system == "trello":
        return f"trello:{side.board_id}"  # type: ignore[attr-defined]
    if system == "airtable":
        return f"airtable:{side.base_id}/{side.table}"  # type: ignore[attr-defined]
    if system == "sheets":
        return f"sheets:{side.spreadsheet_id}/{side.sheet}"  # type: ignore[attr-defined]
    raise ValueError(f"unknown system {system!r}")


def containers(pair: PairConfig) -> dict[str, str]:
    """Both sides' containers, keyed like ``PairMeta.sides``."""
    return {Side.LEAD.value: container(pair.lead), Side.CARD.value: container(pair.card)}


def check_containers(pair: PairConfig, meta: PairMeta) -> None:
    """Raise ``SideMoved`` when the configuration points a side somewhere its state does not belong.

    A pair whose state names no container yet (a first run, or state written before containers
    were stored) takes the configured ones; the caller stores them with its commit.
    """
    expected = containers(pair)
    moved = [
        f"{side} side: the state belongs to {meta.sides[side]}, the configuration now points at {now}"
        for side, now in expected.items()
        if meta.sides.get(side) not in (None, now)
    ]
    if moved:
        raise SideMoved(
            f"pair {pair.id}: " + "; ".join(moved) + ". Nothing was synced, archived or deleted. If the pair "
            "was re-pointed on purpose, run `python -m leadsync repoint "
            f"{pair.id}`: it forgets the old links, and the next cycle adopts the new place's records by their "
            "link markers (and match_on) before creating anything. If not, restore the configuration."
        )
    meta.sides = {**meta.sides, **expected}
