"""``validate --live``: the configuration against the live systems' schemas.

Offline validation cannot know that a Notion database has no ``Emial`` property, that a status
option is spelled differently, or that a board has no ``Done`` list: a pair with such a mistake
syncs without the field (cards created without the email) or fails value by value. Here each
side's ``describe()`` is compared with every mapped field, every mapped value of a field whose
values the system restricts (status and select options, Trello lists) and the side's own fields
(link, last-modified, archived), naming the setting's path and what exists instead. A sync rule
is checked too: its Airtable view and its Trello label must exist, and its Notion filter must name
existing properties and be accepted by Notion (one query of one page).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from leadsync.config import AirtableSide, NotionSide, PairConfig, Settings, SheetsSide, SideConfig
from leadsync.connectors.base import Schema
from leadsync.core.models import Side
from leadsync.core.rules import label_tag


def schema_problems(pair: PairConfig, where: str, side: Side, schema: Schema) -> list[str]:
    """Every setting of ``pair`` that names something ``schema`` does not have (pure); each problem
    starts with the setting's path under ``where`` (e.g. ``pairs[0]``)."""
    config = pair.lead if side is Side.LEAD else pair.card
    what = _container(config)
    problems = []
    for name, f in pair.fields.items():
        native = f.lead if side is Side.LEAD else f.card
        path = f"{where}.fields.{name}.{side.value} = {native!r}"
        if native not in schema.fields:
            problems.append(f"{path}: {what} has no such field{_instead(native, schema.fields)}")
            continue
        options = schema.options.get(native)
        if options is None:
            continue
        if f.values is not None:
            wanted = list(f.values) if side is Side.LEAD else list(dict.fromkeys(f.values.values()))
        else:
            wanted = list(pair.skip_statuses) if name == pair.status_field and side is Side.LEAD else []
        known = {o.casefold() for o in options}
        missing = [v for v in wanted if v.casefold() not in known]
        if missing:
            source = f"{where}.fields.{name}.values" if f.values is not None else f"{where}.skip_statuses"
            problems.append(
                f"{source}: {', '.join(map(repr, missing))} {'is' if len(missing) == 1 else 'are'} not "
                f"{'a list' if native == 'list' else 'an option'} of {native!r} in {what} (it has: {_list(options)})"
            )
    for setting, own in _own_fields(config):
        if own is not None and own not in schema.fields:
            path = f"{where}.{side.value}.{setting} = {own!r}"
            problems.append(f"{path}: {what} has no such field{_instead(own, schema.fields)}")
    return problems


def rule_problems(
    pair: PairConfig, where: str, side: Side, schema: Schema, existing: list[tuple[str, str]] | None = None
) -> list[str]:
    """The side's view, label or filter rule against what the system has (pure): ``existing`` are
    the (id, name) of the table's views or the board's labels; a filter's properties are checked
    against ``schema``."""
    cfg = pair.rule_config(side)
    if cfg is None or cfg.kind == "field":
        return []
    what = _container(pair.lead if side is Side.LEAD else pair.card)
    path = f"{where}.rules.{side.value}.{cfg.kind}"
    if cfg.filter is not None:
        return [
            f"{path}: the filter names property {name!r}; {what} has no such property{_instead(name, schema.fields)}"
            for name in _filter_properties(cfg.filter)
            if name not in schema.fields
        ]
    named = cfg.view if cfg.view is not None else cfg.label or ""
    if cfg.label is not None:
        found = any(label_tag(named) in (label_tag(i), f"label-name:{n.strip().casefold()}") for i, n in existing or [])
    else:
        found = any(named in (i, n) for i, n in existing or [])
    if found:
        return []
    kind = "view" if cfg.view is not None else "label"
    names = [n for _, n in existing or [] if n]
    return [f"{path} = {named!r}: {what} has no such {kind}{_instead(named, names)}"]


def _filter_properties(query_filter: Any) -> list[str]:
    """The property names a Notion filter tests (compounds walked)."""
    if not isinstance(query_filter, dict):
        return []
    names = [str(query_filter["property"])] if isinstance(query_filter.get("property"), str) else []
    for key in ("and", "or"):
        for part in query_filter.get(key) or []:
            names += _filter_properties(part)
    return names


def _own_fields(config: SideConfig) -> list[tuple[str, str | None]]:
    """The side's settings that name a field of its system."""
    if isinstance(config, NotionSide):
        return [("link_field", config.link_field)]
    if isinstance(config, AirtableSide):
        return [
            ("link_field", config.link_field),
            ("last_modified_field", config.last_modified_field),
            ("archived_field", config.archived_field),
        ]
    if isinstance(config, SheetsSide):
        return [
            ("id_column", config.id_column),
            ("link_field", config.link_field),
            ("state_column", config.state_column),
        ]
    return []


def _container(config: SideConfig) -> str:
    if isinstance(config, NotionSide):
        return f"the Notion database {config.database_id}"
    if isinstance(config, AirtableSide):
        return f"the Airtable table {config.table!r}"
    if isinstance(config, SheetsSide):
        return f"the sheet {config.sheet!r}"
    return f"the Trello board {config.board_id}"


def _instead(native: str, existing: Iterable[str]) -> str:
    names = sorted(existing)
    close = difflib.get_close_matches(native, names, n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return f" (it has: {_list(names)}){hint}"


def _list(names: Iterable[str], limit: int = 20) -> str:
    shown = [repr(n) for n in names]
    return ", ".join(shown[:limit]) + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def check_live(config: list[PairConfig], settings: Settings) -> list[str]:
    """Ask each side of every pair for its schema; every problem found (an unreachable side is one)."""
    from leadsync.connectors.deadline import Deadline
    from leadsync.credentials import load_credentials
    from leadsync.errors import ConfigError, LeadsyncError
    from leadsync.wiring import build_runtime

    creds = load_credentials(settings.secret_arn)
    problems: list[str] = []
    for index, pair in enumerate(config):
        try:
            runtime = build_runtime(pair, settings, creds, Deadline.in_seconds(60))
        except ConfigError as exc:
            problems += [f"pairs[{index}] ({pair.id}): {p}" for p in exc.problems]
            continue
        for side in (Side.LEAD, Side.CARD):
            connector = runtime.connector(side)
            try:
                schema = connector.describe()
            except LeadsyncError as exc:
                problems.append(f"pairs[{index}].{side.value}: could not read the {connector.system} schema: {exc}")
                continue
            problems += schema_problems(pair, f"pairs[{index}]", side, schema)
            problems += _live_rule_problems(pair, f"pairs[{index}]", side, schema, connector)
    return problems


def _live_rule_problems(pair: PairConfig, where: str, side: Side, schema: Schema, connector: object) -> list[str]:
    """Read what the side's rule names (the table's views, the board's labels), or let Notion
    validate the filter, and check the rule against it."""
    from leadsync.errors import LeadsyncError

    cfg = pair.rule_config(side)
    if cfg is None or cfg.kind == "field":
        return []
    try:
        existing: list[tuple[str, str]] | None = None
        if cfg.view is not None:
            existing = connector.views()  # type: ignore[attr-defined]
        elif cfg.label is not None:
            existing = [(i["id"], i["name"]) for i in connector.board_labels()]  # type: ignore[attr-defined]
        problems = rule_problems(pair, where, side, schema, existing)
        if cfg.filter is not None and not problems:
            connector.check_filter(cfg.filter)  # type: ignore[attr-defined]
    except LeadsyncError as exc:
        return [f"{where}.rules.{side.value}.{cfg.kind}: refused by {getattr(connector, 'system', '?')}: {exc}"]
    return problems
