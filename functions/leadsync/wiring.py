"""The one composition function: settings + config + credentials -> adapters ready to sync.

Only this module knows which class implements which system.

Rate budgets: when the state lives in DynamoDB (``settings.table``), every shared rate limiter
draws from a budget item per credential in that table (``leadsync.state.budget``), so the many
workers of a fan-out share one budget per Trello token, Notion token, Airtable base or Google
account. Local runs on SQLite (CLI, demo) keep the purely in-process limiters.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from leadsync.config import PairConfig, Settings, SideConfig, SyncConfig, load_config_file, parse_config
from leadsync.connectors import ratelimit
from leadsync.connectors.base import Connector
from leadsync.connectors.deadline import Deadline
from leadsync.core.models import Side
from leadsync.credentials import Credentials
from leadsync.engine import PairRuntime
from leadsync.errors import ConfigError
from leadsync.state.base import StateStore

if TYPE_CHECKING:
    from leadsync.state.budget import DynamoBudgets


def load_sync_config(settings: Settings) -> SyncConfig:
    """The pair configuration: a local file, or an SSM parameter (cached for a minute)."""
    if settings.config_file:
        return load_config_file(settings.config_file)
    if settings.config_parameter:
        from aws_lambda_powertools.utilities import parameters

        try:
            text = parameters.get_parameter(settings.config_parameter, max_age=60, decrypt=True)
        except parameters.exceptions.GetParameterError as exc:
            raise ConfigError([f"cannot read SSM parameter {settings.config_parameter!r}: {exc}"]) from exc
        return parse_config(str(text), source=f"ssm:{settings.config_parameter}")
    raise ConfigError(["no configuration: set LEADSYNC_CONFIG_FILE (local) or LEADSYNC_CONFIG_PARAMETER (cloud)"])


def build_store(settings: Settings) -> StateStore:
    """DynamoDB when a table is configured, else the embedded SQLite file."""
    if settings.table:
        return _dynamo_store(settings.table)
    from leadsync.state.sqlite import SqliteStateStore

    return SqliteStateStore(settings.state_path)


@lru_cache(maxsize=4)
def _dynamo_store(table: str) -> StateStore:
    from leadsync.state.dynamodb import DynamoStateStore

    return DynamoStateStore(table)


def configure_budgets(settings: Settings) -> DynamoBudgets | None:
    """Install the shared rate budgets ``settings`` call for; return their factory (or ``None``).

    With a state table: one ``DynamoBudgets`` per table and process (its ``calls`` count the
    budgets' DynamoDB requests), so warm invocations keep their grants. Without: in-process
    limiters (budgets this module installed earlier are taken down again).
    """
    if not settings.table:
        if ratelimit.grant_sources() in _INSTALLED:
            ratelimit.use_grant_sources(None)
        return None
    budgets = _dynamo_budgets(settings.table)
    _INSTALLED.add(budgets)
    ratelimit.use_grant_sources(budgets)
    return budgets


_INSTALLED: set[object] = set()


@lru_cache(maxsize=4)
def _dynamo_budgets(table: str) -> DynamoBudgets:
    from leadsync.state.budget import DynamoBudgets

    store = _dynamo_store(table)
    return DynamoBudgets(table, getattr(store, "client", None))


def build_runtime(pair: PairConfig, settings: Settings, creds: Credentials, deadline: Deadline) -> PairRuntime:
    """Both connectors of a pair, on transports bounded by ``deadline`` (and the shared budgets)."""
    configure_budgets(settings)
    lead_fields = [f.lead for f in pair.fields.values()]
    card_fields = [f.card for f in pair.fields.values()]
    lead = build_connector(pair.lead, lead_fields, settings, creds, deadline, f"pair {pair.id!r} lead side")
    card = build_connector(pair.card, card_fields, settings, creds, deadline, f"pair {pair.id!r} card side")
    from leadsync.connectors.trello import TrelloConnector

    for side, connector in ((Side.LEAD, lead), (Side.CARD, card)):
        rule = pair.rule_config(side)
        if rule is not None and rule.label is not None and isinstance(connector, TrelloConnector):
            connector.read_labels = True  # a label rule: the cards are read with their labels
            connector.label_new_cards = rule.label  # and the cards leadsync creates carry it
    return PairRuntime(pair, lead, card)


def build_connector(
    side: SideConfig,
    fields: list[str],
    settings: Settings,
    creds: Credentials,
    deadline: Deadline,
    where: str,
) -> Connector:
    """The connector for one side's system."""
    if side.system == "notion":
        from leadsync.connectors.notion import NotionConnector, notion_transport

        token = creds.require("notion_token", where)
        transport = notion_transport(token, base_url=settings.notion_base_url, deadline=deadline)
        return NotionConnector(
            transport,
            database_id=side.database_id,
            data_source_id=side.data_source_id,
            fields=fields,
            link_field=side.link_field,
        )
    if side.system == "trello":
        from leadsync.connectors.trello import TrelloConnector, trello_transport

        key = creds.require("trello_key", where)
        token = creds.require("trello_token", where)
        transport = trello_transport(key, token, base_url=settings.trello_base_url, deadline=deadline)
        return TrelloConnector(transport, board_id=side.board_id, fields=fields, link_label=side.link_label)
    if side.system == "airtable":
        from leadsync.connectors.airtable import AirtableConnector, airtable_transport

        token = creds.require("airtable_token", where)
        # airtable_transport also makes the transport wait out Airtable's 30 s lockout after a 429
        transport = airtable_transport(token, side.base_id, base_url=settings.airtable_base_url, deadline=deadline)
        return AirtableConnector(
            transport,
            base_id=side.base_id,
            table=side.table,
            fields=fields,
            link_field=side.link_field,
            last_modified_field=side.last_modified_field,
            archived_field=side.archived_field,
            webhook_ids=list(creds.airtable_webhook_secrets or {}),  # the cycle reads their payloads
        )
    try:
        from leadsync.connectors.sheets import SheetsConnector
    except ModuleNotFoundError as exc:  # the stack deployed without its Sheets layer (SheetsSupport=false)
        if not (exc.name or "").startswith(("google", "cryptography", "pyasn1")):
            raise
        raise ConfigError(
            [
                f"{where}: Google Sheets needs google-auth, which this deployment does not have ({exc.name} is"
                " missing): deploy the stack with SheetsSupport=true (the Sheets layer), or locally"
                " pip install -r functions/requirements.txt"
            ]
        ) from exc

    account = creds.require("google_service_account", where)
    return SheetsConnector.from_service_account(
        account,
        spreadsheet_id=side.spreadsheet_id,
        sheet=side.sheet,
        fields=fields,
        id_column=side.id_column,
        link_field=side.link_field,
        state_column=side.state_column,
        base_url=settings.sheets_base_url,
        token_uri=settings.google_token_uri,
        deadline=deadline,
    )
