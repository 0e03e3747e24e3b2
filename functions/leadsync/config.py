"""Pair configuration and runtime settings, validated once on load.

The pair configuration is one JSON document (a file locally, an SSM parameter in the cloud).
Every mistake is reported with the path of the setting at fault, all at once.
Settings come from the environment and are parsed here and nowhere else.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import unicodedata
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from leadsync.connectors import trello_desc
from leadsync.core import ids
from leadsync.core import rules as rules_core
from leadsync.core.mapping import Direction, FieldMapping, FieldSpec, Normalizer, normalize_text
from leadsync.core.merge import ConflictPolicy
from leadsync.core.models import Side
from leadsync.core.planner import CardDeleted, LeadDeleted, PlanConfig
from leadsync.errors import ConfigError

DEFAULT_STATUS_LISTS = {"New": "To Do", "Contacted": "In Progress", "Qualified": "Done", "Lost": "Lost"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotionSide(_Strict):
    """A Notion database (API version 2025-09-03: its first data source, or the one named)."""

    system: Literal["notion"]
    database_id: str = Field(min_length=32)
    data_source_id: str | None = None
    link_field: str = "Trello Card"

    @field_validator("database_id", "data_source_id")
    @classmethod
    def _notion_id(cls, value: str | None) -> str | None:
        if value is None or ids.notion_id(value) is not None:
            return value
        found = re.findall(r"[0-9a-fA-F]{32}", value.split("?", 1)[0].replace("-", ""))
        hint = f": use {found[-1]!r}" if found else ""
        raise ValueError(
            f"{value[:120]!r} is not a Notion id (32 hexadecimal characters, dashes allowed){hint}, "
            "the part of the database's URL just before '?v='"
        )


class TrelloSide(_Strict):
    """A Trello board. Fields: ``name``, ``list``, ``desc`` and ``desc:<Label>`` lines."""

    system: Literal["trello"]
    board_id: str = Field(min_length=8)
    link_label: str = "leadsync-id"

    @field_validator("board_id")
    @classmethod
    def _board_id(cls, value: str) -> str:
        if ids.trello_id(value) is None:
            raise ValueError(
                f"{value[:120]!r} is not a Trello board id (24 hexadecimal characters; the short link in "
                "the board's URL is not one): open the board's URL with '.json' added and copy its \"id\""
            )
        return value

    @field_validator("link_label")
    @classmethod
    def _label(cls, value: str) -> str:
        problem = desc_label_problem(value)
        if problem:
            raise ValueError(problem)
        return value


TRELLO_CARD_FIELDS = ("name", "list", "desc")
DESC_PREFIX = "desc:"


def desc_label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a ``Label: value`` line of a card description (None if it can).

    The description parser (:mod:`leadsync.connectors.trello_desc`) splits lines at line breaks
    and the label at the first ``:``, and strips spaces around it: a label that is empty, has a
    line break, a control character, a ``:`` or surrounding spaces would not read back as itself.
    """
    controls = sorted({repr(c) for c in label if unicodedata.category(c) == "Cc"})
    if controls:
        return f"invalid description label {label!r}: it contains the control character(s) {', '.join(controls)}"
    try:
        trello_desc.check_label(label)
    except ValueError as exc:
        return str(exc)
    return None


class AirtableSide(_Strict):
    """An Airtable table, with a "Last modified time" field for incremental reads.

    ``archived_field``: a checkbox ticked to archive a record; without one, archiving a record
    deletes it for good (Airtable has no archive), which a pair whose rules archive records on this
    side must ask for by name with ``hard_delete: true``.
    """

    system: Literal["airtable"]
    base_id: str = Field(pattern=r"^app[A-Za-z0-9]{14}$")
    table: str = Field(min_length=1)
    link_field: str = "Trello Card"
    last_modified_field: str = "Last Modified"
    archived_field: str | None = Field(default=None, min_length=1)
    hard_delete: StrictBool = False

    @model_validator(mode="after")
    def _one_way_to_archive(self) -> AirtableSide:
        if self.hard_delete and self.archived_field is not None:
            raise ValueError(
                "hard_delete: true and archived_field are both set: archiving either ticks "
                f"{self.archived_field!r} or deletes the record; keep one"
            )
        return self


class SheetsSide(_Strict):
    """A Google Sheet tab whose first row is the header.

    ``id_column`` holds the lead ids leadsync fills in; ``link_field`` the card id; ``state_column``
    the hash of each row as last synced (and ``archived``), which makes an unchanged row cheap.
    """

    system: Literal["sheets"]
    spreadsheet_id: str = Field(min_length=10)
    sheet: str = Field(default="Leads", min_length=1)
    id_column: str = Field(default="Lead ID", min_length=1)
    link_field: str = Field(default="Trello Card", min_length=1)
    state_column: str = Field(default="leadsync", min_length=1)

    @model_validator(mode="after")
    def _distinct_columns(self) -> SheetsSide:
        names = [self.id_column, self.link_field, self.state_column]
        if len({n.strip() for n in names}) < len(names):
            raise ValueError(f"id_column, link_field and state_column must be three different columns, got {names}")
        return self


SideConfig = Annotated[NotionSide | TrelloSide | AirtableSide | SheetsSide, Field(discriminator="system")]


class FieldConfig(_Strict):
    """One synced field: its name on each side, its direction, and an optional value map."""

    lead: str = Field(min_length=1)
    card: str = Field(min_length=1)
    direction: Direction = Direction.BOTH
    values: dict[str, str] | None = None  # lead value -> card value
    reverse_values: dict[str, str] | None = None  # card value -> lead value (needed if many-to-one)

    @model_validator(mode="after")
    def _round_trips(self) -> FieldConfig:
        if self.values is None:
            if self.reverse_values is not None:
                raise ValueError("reverse_values given without values")
            return self
        reverse = self.reverse_values
        if reverse is None:
            seen: dict[str, str] = {}
            for lead_value, card_value in self.values.items():
                if card_value in seen:
                    raise ValueError(
                        f"values maps both {seen[card_value]!r} and {lead_value!r} to {card_value!r}: "
                        "give reverse_values to say which one a card in that place means"
                    )
                seen[card_value] = lead_value
            return self
        for lead_value, card_value in self.values.items():
            back = reverse.get(card_value)
            if back is None:
                raise ValueError(f"reverse_values has no entry for {card_value!r} (from values[{lead_value!r}])")
            if self.values.get(back) != card_value:
                raise ValueError(
                    f"reverse_values[{card_value!r}] = {back!r} does not map back to {card_value!r}: "
                    "the mapping would keep rewriting itself"
                )
        return self


NOTION_FILTER_KEYS = ("property", "timestamp", "and", "or")


def notion_filter_problems(value: Any, where: str = "filter") -> list[str]:
    """Why ``value`` is not a Notion filter object (its shape only; Notion checks the rest)."""
    if not isinstance(value, dict):
        return [f"{where}: a Notion filter is a JSON object, got {type(value).__name__}"]
    keys = [k for k in NOTION_FILTER_KEYS if k in value]
    if len(keys) != 1:
        found = ", ".join(map(repr, value)) or "nothing"
        return [f"{where}: a Notion filter has exactly one of {', '.join(NOTION_FILTER_KEYS)}; found {found}"]
    key = keys[0]
    if key in ("and", "or"):
        parts = value[key]
        if not isinstance(parts, list) or not parts:
            return [f"{where}.{key}: a non-empty list of filters"]
        return [p for i, part in enumerate(parts) for p in notion_filter_problems(part, f"{where}.{key}[{i}]")]
    if not isinstance(value[key], str) or not value[key]:
        return [f"{where}.{key}: a non-empty name"]
    conditions = [k for k in value if k not in (key, "type")]
    if len(conditions) != 1 or not isinstance(value[conditions[0]], dict):
        return [f"{where}: a {key} filter has one condition object (e.g. {{'select': {{'equals': 'Hot'}}}})"]
    return []


class RuleConfig(_Strict):
    """Which records of one side sync; exactly one of:

    - ``field`` + ``in``: the canonical ``field`` holds one of ``in`` (in that side's own words);
    - ``view``: the record is in this Airtable view (by name or id);
    - ``filter``: the page matches this Notion filter (the API's filter JSON);
    - ``label``: the card carries this Trello label (by name, without case, or by its 24-hex id).
    """

    field: str | None = Field(default=None, min_length=1)
    in_: list[str] | None = Field(default=None, alias="in", min_length=1)
    view: str | None = None
    filter: dict[str, Any] | None = None
    label: str | None = None

    @field_validator("view", "label")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be a non-empty name")
        return value

    @field_validator("filter")
    @classmethod
    def _notion_filter(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problems = notion_filter_problems(value) if value is not None else []
        if problems:
            raise ValueError("\n".join(problems))
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> RuleConfig:
        if (self.field is None) != (self.in_ is None):
            raise ValueError("field and in go together: records sync while field holds one of in")
        kinds = [k for k in ("field", "view", "filter", "label") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a rule is one of field+in, view, filter or label; got {kinds or 'none'}")
        return self

    @property
    def kind(self) -> str:
        """``field``, ``view``, ``filter`` or ``label``."""
        if self.field is not None:
            return "field"
        return next(k for k in ("view", "filter", "label") if getattr(self, k) is not None)


class RulesConfig(_Strict):
    """Which records sync (see ``leadsync.core.rules``): a rule per side, either or both."""

    lead: RuleConfig | None = None
    card: RuleConfig | None = None


class PairConfig(_Strict):
    """One lead tracker synced with one work tracker."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    lead: SideConfig
    card: SideConfig
    fields: dict[str, FieldConfig]
    status_field: str | None = "status"
    skip_statuses: list[str] = Field(default_factory=lambda: ["Lost"])
    conflict_policy: ConflictPolicy = ConflictPolicy.NEWEST
    tie_breaker: Side = Side.LEAD
    create_leads_from_cards: StrictBool = False
    on_lead_deleted: LeadDeleted = LeadDeleted.ARCHIVE_CARD
    on_card_deleted: CardDeleted = CardDeleted.DETACH
    match_on: list[str] = Field(default_factory=list)
    required_fields: list[str] | None = None  # default: ["name"] when a "name" field is mapped
    full_sweep_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60, strict=True)
    max_deletions_per_cycle: int | None = Field(default=None, ge=0, strict=True)
    history_days: int = Field(default=30, ge=1, le=3650, strict=True)  # how long activity is kept
    redact_fields: list[str] = Field(default_factory=list)  # values kept out of history and logs
    rules: RulesConfig | None = None  # which records sync (default: all)

    @field_validator("fields")
    @classmethod
    def _has_fields(cls, value: dict[str, FieldConfig]) -> dict[str, FieldConfig]:
        if not value:
            raise ValueError("at least one field must be mapped")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PairConfig:
        problems: list[str] = []
        if self.status_field is not None and self.status_field not in self.fields:
            problems.append(f"status_field {self.status_field!r} is not one of the mapped fields")
        for name in self.match_on:
            if name not in self.fields:
                problems.append(f"match_on names {name!r}, which is not a mapped field")
        for name in self.required_fields or []:
            if name not in self.fields:
                problems.append(f"required_fields names {name!r}, which is not a mapped field")
        problems += self._rule_problems()
        for name in self.redact_fields:
            if name not in self.fields:
                problems.append(
                    f"redact_fields names {name!r}, which is not a mapped field (mapped: {', '.join(self.fields)})"
                )
        status = self.fields.get(self.status_field or "")
        if status is not None and status.values is not None:
            unknown = [s for s in self.skip_statuses if s not in status.values]
            if unknown:
                problems.append(f"skip_statuses {unknown} are not keys of fields.{self.status_field}.values")
        for side_name in ("lead", "card"):
            natives = [getattr(f, side_name) for f in self.fields.values()]
            dupes = sorted({n for n in natives if natives.count(n) > 1})
            if dupes:
                problems.append(f"{side_name}-side field(s) {dupes} are mapped more than once")
        for side_name, side in (("lead", self.lead), ("card", self.card)):
            if isinstance(side, TrelloSide):
                problems += self._trello_field_problems(side_name, side)
        problems += self._hard_delete_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _trello_field_problems(self, side_name: str, side: TrelloSide) -> list[str]:
        """The field names of a Trello side: card fields the description parser can round-trip."""
        problems = []
        for name, f in self.fields.items():
            native: str = getattr(f, side_name)
            where = f"fields.{name}.{side_name} = {native!r}"
            if native in TRELLO_CARD_FIELDS:
                continue
            if not native.startswith(DESC_PREFIX):
                problems.append(f"{where}: a Trello card field is 'name', 'list', 'desc' or 'desc:<Label>'")
                continue
            label = native[len(DESC_PREFIX) :]
            problem = desc_label_problem(label)
            if problem:
                problems.append(f"{where}: {problem}")
            elif label == side.link_label:
                problems.append(
                    f"{where}: {label!r} is the {side_name}.link_label (the line holding the link); use another label"
                )
        return problems

    def _hard_delete_problems(self) -> list[str]:
        """Archiving on an Airtable side without ``archived_field`` is a DELETE: only when asked by name."""
        problems = []
        rules = (
            ("lead", self.lead, "on_card_deleted", self.on_card_deleted is not CardDeleted.DETACH),
            ("card", self.card, "on_lead_deleted", self.on_lead_deleted is not LeadDeleted.DETACH),
        )
        for side_name, side, rule, archives in rules:
            if archives and isinstance(side, AirtableSide) and side.archived_field is None and not side.hard_delete:
                problems.append(
                    f"{rule} = {getattr(self, rule).value!r} would DELETE Airtable records of the {side_name} side "
                    f"for good (Airtable has no archive): set {side_name}.archived_field to a checkbox field, "
                    f"or {side_name}.hard_delete: true to delete for good"
                )
        return problems

    def _rule_configs(self) -> list[tuple[Side, RuleConfig]]:
        if self.rules is None:
            return []
        pairs = ((Side.LEAD, self.rules.lead), (Side.CARD, self.rules.card))
        return [(side, cfg) for side, cfg in pairs if cfg is not None]

    def _rule_problems(self) -> list[str]:
        """A field rule names a mapped field (on the card side of a value-mapped field, mapped card
        values); a view, filter or label rule is on an Airtable, Notion or Trello side."""
        problems: list[str] = []
        systems = {"view": "airtable", "filter": "notion", "label": "trello"}
        named = {"airtable": "an Airtable", "notion": "a Notion", "trello": "a Trello"}
        for side_of, cfg in self._rule_configs():
            side = side_of.value
            if cfg.kind != "field":
                system = (self.lead if side_of is Side.LEAD else self.card).system
                if system != systems[cfg.kind]:
                    problems.append(
                        f"rules.{side}.{cfg.kind}: a {cfg.kind} rule needs {named[systems[cfg.kind]]} {side} side; "
                        f"it is {system}"
                    )
                continue
            field_name = cfg.field or ""
            f = self.fields.get(field_name)
            if f is None:
                problems.append(
                    f"rules.{side}.field {field_name!r} is not a mapped field (mapped: {', '.join(self.fields)})"
                )
                continue
            known = (f.values.keys() if side == "lead" else f.values.values()) if f.values is not None else None
            unknown = [v for v in cfg.in_ or [] if known is not None and v not in known]
            if unknown:
                problems.append(
                    f"rules.{side}.in: {unknown} are not {side} values of fields.{field_name}.values "
                    f"(known: {sorted(set(known or []))})"
                )
        return problems

    def sync_rules(self) -> dict[Side, rules_core.AnyRule]:
        """The rules in canonical values (a card rule's values read back through the field's value map).

        A view or filter rule comes back with no members: the cycle reads them (``leadsync.cycle.rules``).
        """
        out: dict[Side, rules_core.AnyRule] = {}
        for side, cfg in self._rule_configs():
            if cfg.view is not None:
                out[side] = rules_core.MemberRule(f"view {cfg.view!r}")
            elif cfg.filter is not None:
                out[side] = rules_core.MemberRule("the Notion filter")
            elif cfg.label is not None:
                out[side] = rules_core.LabelRule(cfg.label)
            else:
                field_name, values = cfg.field or "", list(cfg.in_ or [])
                f = self.fields[field_name]
                if side is Side.CARD and f.values is not None:
                    reverse = f.reverse_values or {card: lead for lead, card in f.values.items()}
                    values = [reverse.get(v, v) for v in values]
                out[side] = rules_core.rule(field_name, values, cfg.in_ or [])
        return out

    def rule_config(self, side: Side) -> RuleConfig | None:
        """The configured rule of ``side`` (``None``: every record of that side syncs)."""
        return dict(self._rule_configs()).get(side)

    def approval_sides(self) -> frozenset[Side]:
        """The sides whose archives wait for the operator (``on_lead_deleted``/``on_card_deleted: approve``)."""
        sides = set()
        if self.on_lead_deleted is LeadDeleted.APPROVE:
            sides.add(Side.CARD)
        if self.on_card_deleted is CardDeleted.APPROVE:
            sides.add(Side.LEAD)
        return frozenset(sides)

    def deletion_limit(self, links: int) -> int:
        """The most records one cycle may archive or delete before the mass-deletion guard stops it.

        ``max_deletions_per_cycle`` if set, else the larger of 10 and 10 % of ``links`` (the pair's
        link count), rounded up.
        """
        if self.max_deletions_per_cycle is not None:
            return self.max_deletions_per_cycle
        return max(10, -(-links // 10))  # integer ceiling: 0.10 * 30 is 3.0000000000000004 in floats

    def plan_config(self, normalizers: Mapping[str, Normalizer] | None = None) -> PlanConfig:
        """The planner's view of this pair.

        ``normalizers`` (canonical field -> function) reshape values the way a system stores them
        (e.g. flattened or truncated); they are applied after the default text normalisation.
        """
        extra = normalizers or {}
        specs = tuple(
            FieldSpec(
                name=name,
                lead=f.lead,
                card=f.card,
                direction=f.direction,
                to_card=f.values,
                to_lead=f.reverse_values,
                normalize=_then(normalize_text, extra[name]) if name in extra else normalize_text,
            )
            for name, f in self.fields.items()
        )
        skip = {}
        if self.status_field is not None and self.skip_statuses:
            skip[self.status_field] = frozenset(self.skip_statuses)
        granularity = {
            side: timedelta(minutes=1) if cfg.system == "notion" else timedelta(0)
            for side, cfg in ((Side.LEAD, self.lead), (Side.CARD, self.card))
        }
        return PlanConfig(
            mapping=FieldMapping(specs),
            policy=self.conflict_policy,
            tie=self.tie_breaker,
            granularity=granularity,
            skip=skip,
            create_leads=self.create_leads_from_cards,
            # ``approve`` plans the archive; the cycle holds it for the operator (leadsync.cycle.approval)
            on_lead_deleted=LeadDeleted.ARCHIVE_CARD
            if self.on_lead_deleted is LeadDeleted.APPROVE
            else self.on_lead_deleted,
            on_card_deleted=CardDeleted.ARCHIVE_LEAD
            if self.on_card_deleted is CardDeleted.APPROVE
            else self.on_card_deleted,
            match_on=tuple(self.match_on),
            required=tuple(
                self.required_fields if self.required_fields is not None else [n for n in ("name",) if n in self.fields]
            ),
        )


def _then(first: Normalizer, second: Normalizer) -> Normalizer:
    def both(value: str | None) -> str | None:
        return second(first(value))

    return both


class SyncConfig(_Strict):
    """The whole configuration document: one or more pairs."""

    pairs: list[PairConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> SyncConfig:
        ids = [p.id for p in self.pairs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"pair ids must be unique; repeated: {dupes}")
        return self


def parse_config(document: str | Mapping[str, Any], source: str = "config") -> SyncConfig:
    """Validate a configuration document; raise ConfigError listing every problem with its path."""
    try:
        data = json.loads(document) if isinstance(document, str) else dict(document)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{source}: not valid JSON: {exc}"]) from exc
    if isinstance(data, dict) and "pairs" not in data and "id" in data:
        data = {"pairs": [data]}  # a single pair may be given on its own
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([line for err in exc.errors() for line in _describe(source, err)]) from exc


def _describe(source: str, err: Any) -> list[str]:
    path = ""
    for part in err["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("notion", "trello", "airtable", "sheets") and path.endswith(("lead", "card")):
            continue  # the discriminator tag pydantic adds to the path
        else:
            path += f".{part}" if path else str(part)
    message = str(err["msg"]).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        message = f"unknown setting{_did_you_mean(str(err['loc'][-1]))}"
    return [f"{source}: {path or '(top level)'}: {line}" for line in message.splitlines()]


def _did_you_mean(name: str) -> str:
    """`` (did you mean 'x'?)`` for a mistyped setting, from the names of every settings model; else ''."""
    import difflib

    known = {field for model in _models(_Strict) for field in model.model_fields}
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    return [root, *(m for sub in root.__subclasses__() for m in _models(sub))]


def load_config_file(path: str | Path) -> SyncConfig:
    """Read and validate a configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read config file {p}: {exc.strerror}"]) from exc
    return parse_config(text, source=str(p))


# The vendors' API hosts, per base-URL setting: the defaults point there; anything else is warned about.
VENDOR_HOSTS: dict[str, str] = {
    "notion_base_url": "api.notion.com",
    "trello_base_url": "api.trello.com",
    "airtable_base_url": "api.airtable.com",
    "sheets_base_url": "sheets.googleapis.com",
    "google_token_uri": "oauth2.googleapis.com",
}
# Not loopback, but this machine seen from a container: `sam local invoke` reaches the sandbox there.
DOCKER_HOST = "host.docker.internal"


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(_Strict):
    """Runtime settings, read from the environment once (see `Settings.from_env`).

    Base URLs (``*_base_url``, ``google_token_uri``) must be https, except to this machine
    (loopback or ``host.docker.internal``) outside the cloud; ``allow_insecure_base_urls`` lifts
    that. ``in_cloud`` is not a ``LEADSYNC_`` variable: `from_env` derives it from Lambda's own
    (``AWS_LAMBDA_FUNCTION_NAME`` set, ``AWS_SAM_LOCAL`` not ``true``).
    """

    config_file: str | None = None
    config_parameter: str | None = None
    table: str | None = None
    state_path: str = ".leadsync/state.db"
    secret_arn: str | None = None
    queue_url: str | None = None  # the pair queue the dispatcher fills (the fan-out)
    stale_message_seconds: float = Field(default=180.0, ge=60.0)  # older pair messages are superseded
    notion_base_url: str = "https://api.notion.com"
    trello_base_url: str = "https://api.trello.com/1"
    airtable_base_url: str = "https://api.airtable.com"
    sheets_base_url: str = "https://sheets.googleapis.com"
    google_token_uri: str | None = None
    allow_insecure_base_urls: bool = False
    safety_margin_seconds: float = Field(default=8.0, ge=1.0)
    write_concurrency: int | None = Field(default=None, ge=1, le=32)  # units applied at once; None: from the limits
    dry_run: bool = False
    in_cloud: bool = False

    @model_validator(mode="after")
    def _safe_base_urls(self) -> Settings:
        problems: list[str] = []
        for name in VENDOR_HOSTS:
            url = getattr(self, name)
            if url is not None:
                problems += self._base_url_problems(name, url)
        if problems:
            raise ConfigError(problems)
        return self

    def _base_url_problems(self, name: str, url: str) -> list[str]:
        variable = f"LEADSYNC_{name.upper()}"
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            return [f"environment: {variable}: not a valid URL ({exc})"]
        if parts.scheme not in ("http", "https") or not host:
            return [f"environment: {variable}: must be an https:// URL with a host"]
        if parts.username is not None or parts.password is not None:
            return [f"environment: {variable}: must not carry credentials (user:password@)"]
        local = is_loopback(host) or host == DOCKER_HOST
        where = f"{parts.scheme}://{host}"  # never the whole URL: nothing else of it is printed
        if parts.scheme == "http" and not self.allow_insecure_base_urls:
            if self.in_cloud:
                return [
                    f"environment: {variable}: {where} is plain http, refused in the cloud (credentials would "
                    "travel in clear text): use https, or set LEADSYNC_ALLOW_INSECURE_BASE_URLS=true"
                ]
            if not local:
                return [
                    f"environment: {variable}: {where} is plain http to a host that is not this machine "
                    "(credentials would travel in clear text): use https, or set "
                    "LEADSYNC_ALLOW_INSECURE_BASE_URLS=true"
                ]
        if host != VENDOR_HOSTS[name] and not local:
            from leadsync.observability import logger

            logger.warning(
                "base URL host is not the vendor's: credentials will be sent there",
                extra={"setting": variable, "host": host, "vendor_host": VENDOR_HOSTS[name]},
            )
        return []

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``LEADSYNC_<NAME>`` variables (and ``in_cloud`` from Lambda's own)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = env.get(f"LEADSYNC_{name.upper()}")
            if name != "in_cloud" and raw not in (None, ""):
                values[name] = raw
        sam_local = env.get("AWS_SAM_LOCAL", "").strip().lower() == "true"
        values["in_cloud"] = bool(env.get("AWS_LAMBDA_FUNCTION_NAME")) and not sam_local
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(
                [f"environment: LEADSYNC_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
            ) from exc
