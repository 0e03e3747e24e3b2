"""Mistakes caught on load (issue 14) and hostile settings refused (issue 15), each named by its path."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from leadsync.config import VENDOR_HOSTS, PairConfig, Settings, parse_config
from leadsync.connectors import trello_desc
from leadsync.errors import ConfigError

NOTION = {"system": "notion", "database_id": "1f2e3d4c5b6a49788766554433221100"}
TRELLO = {"system": "trello", "board_id": "5f1a2b3c4d5e6f7a8b9c0d1e"}
AIRTABLE = {"system": "airtable", "base_id": "app" + "A" * 14, "table": "Leads"}

PAIR: dict[str, Any] = {
    "id": "p",
    "lead": NOTION,
    "card": TRELLO,
    "fields": {
        "name": {"lead": "Name", "card": "name"},
        "email": {"lead": "Email", "card": "desc:Email"},
        "status": {"lead": "Status", "card": "list", "values": {"New": "To Do", "Lost": "Lost"}},
    },
}


def pair(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PAIR)
    doc.update(copy.deepcopy(changes))
    return doc


def rejected(document: Any, *fragments: str) -> str:
    """Parsing must fail, with one problem line holding every fragment. Returns that line."""
    with pytest.raises(ConfigError) as err:
        parse_config(document)
    for line in err.value.problems:
        if all(f in line for f in fragments):
            return line
    raise AssertionError(f"no problem mentions {fragments}: {err.value.problems}")


# -- Trello field names: what the description parser can round-trip ---------------------------


@pytest.mark.parametrize(
    "card_field",
    ["desc:E\nmail", "desc:", "desc: Email", "desc:Email ", "desc:E:mail", "desc:E\tmail", "desc:E\x00mail"],
)
def test_a_desc_label_the_parser_cannot_read_back_is_rejected_with_its_path(card_field: str) -> None:
    line = rejected(
        pair(fields={**PAIR["fields"], "email": {"lead": "Email", "card": card_field}}), "fields.email.card"
    )
    assert line.startswith("config: pairs[0]: ")
    assert "label" in line


@pytest.mark.parametrize("label", ["Email", "E-mail address", "Téléphone", "Deal 💰", "a.b/c"])
def test_accepted_labels_round_trip_through_the_description(label: str) -> None:
    parse_config(pair(fields={**PAIR["fields"], "email": {"lead": "Email", "card": f"desc:{label}"}}))
    desc = trello_desc.render("free text", {label: "value"}, "lead-1", "leadsync-id")
    assert trello_desc.parse(desc, "leadsync-id").values == {label: "value"}


def test_a_desc_label_that_is_the_link_label_is_rejected() -> None:
    rejected(
        pair(fields={**PAIR["fields"], "email": {"lead": "Email", "card": "desc:leadsync-id"}}),
        "fields.email.card",
        "link_label",
    )


@pytest.mark.parametrize("link_label", ["", "lead id:", " leadsync-id", "lead\nid", "**leadsync**"])
def test_a_bad_link_label_is_rejected_with_its_path(link_label: str) -> None:
    rejected(pair(card={**TRELLO, "link_label": link_label}), "pairs[0].card.link_label")


def test_a_trello_lead_side_gets_the_trello_field_rule_on_its_lead_names() -> None:
    doc = pair(
        lead=TRELLO,
        card={**TRELLO, "board_id": "6f1a2b3c4d5e6f7a8b9c0d1e"},
        fields={
            "name": {"lead": "name", "card": "name"},
            "email": {"lead": "Email", "card": "desc:Email"},
            "status": {"lead": "Stage", "card": "list"},
        },
    )
    rejected(doc, "fields.email.lead = 'Email'", "Trello card field")
    rejected(doc, "fields.status.lead = 'Stage'")


def test_a_trello_lead_side_with_a_notion_card_side_checks_only_the_lead_names() -> None:
    ok = parse_config(
        pair(
            lead=TRELLO,
            card=NOTION,
            fields={"name": {"lead": "name", "card": "Name"}, "email": {"lead": "desc:Email", "card": "Email"}},
            status_field=None,
        )
    )
    assert ok.pairs[0].lead.system == "trello"
    rejected(
        pair(lead=TRELLO, card=NOTION, fields={"name": {"lead": "Name", "card": "Name"}}),
        "fields.name.lead = 'Name'",
    )
    rejected(
        pair(lead=TRELLO, card=NOTION, fields={"email": {"lead": "desc:E\nmail", "card": "Email"}}, status_field=None),
        "fields.email.lead",
    )


def test_a_trello_to_trello_pair_with_lead_side_names_is_rejected_on_both_sides() -> None:
    other_board = {**TRELLO, "board_id": "6a1a2b3c4d5e6f7a8b9c0d1e"}
    fields = {"name": {"lead": "Name", "card": "name"}, "status": {"lead": "Status", "card": "List"}}
    document = pair(lead=TRELLO, card=other_board, fields=fields)
    rejected(document, "pairs[0]", "fields.name.lead = 'Name'", "'name', 'list', 'desc' or 'desc:<Label>'")
    rejected(document, "pairs[0]", "fields.status.lead = 'Status'")
    rejected(document, "pairs[0]", "fields.status.card = 'List'")
    fine = {"name": {"lead": "name", "card": "name"}, "status": {"lead": "list", "card": "list"}}
    assert (
        parse_config(pair(lead=TRELLO, card=other_board, fields=fine, skip_statuses=[])).pairs[0].lead.system
        == "trello"
    )


# -- JSON types: no silent coercion -----------------------------------------------------------


@pytest.mark.parametrize("value", [True, False, "60", 60.0, 1.5])
def test_full_sweep_minutes_must_be_a_json_integer(value: Any) -> None:
    rejected(pair(full_sweep_minutes=value), "pairs[0].full_sweep_minutes", "integer")


@pytest.mark.parametrize("value", [True, "10", 10.0, -1])
def test_max_deletions_per_cycle_must_be_a_non_negative_json_integer(value: Any) -> None:
    rejected(pair(max_deletions_per_cycle=value), "pairs[0].max_deletions_per_cycle")


@pytest.mark.parametrize("value", ["true", 1, 0, "yes"])
def test_create_leads_from_cards_must_be_a_json_boolean(value: Any) -> None:
    rejected(pair(create_leads_from_cards=value), "pairs[0].create_leads_from_cards", "boolean")


def test_hard_delete_must_be_a_json_boolean() -> None:
    rejected(pair(lead={**AIRTABLE, "hard_delete": "true"}), "pairs[0].lead.hard_delete", "boolean")


def test_integers_and_booleans_given_as_json_still_parse() -> None:
    p = parse_config(pair(full_sweep_minutes=15, max_deletions_per_cycle=0, create_leads_from_cards=True)).pairs[0]
    assert (p.full_sweep_minutes, p.max_deletions_per_cycle, p.create_leads_from_cards) == (15, 0, True)


# -- the mass-deletion guard's limit ----------------------------------------------------------


@pytest.mark.parametrize(
    ("links", "limit"), [(0, 10), (1, 10), (100, 10), (101, 11), (110, 11), (30_000, 3_000), (30_001, 3_001)]
)
def test_deletion_limit_defaults_to_the_larger_of_10_and_10_percent_of_the_links(links: int, limit: int) -> None:
    assert PairConfig.model_validate(pair()).deletion_limit(links) == limit


@pytest.mark.parametrize("explicit", [0, 3, 500])
def test_an_explicit_max_deletions_per_cycle_is_the_limit_at_any_size(explicit: int) -> None:
    p = PairConfig.model_validate(pair(max_deletions_per_cycle=explicit))
    assert [p.deletion_limit(n) for n in (0, 50, 100_000)] == [explicit] * 3


# -- Airtable archiving is a DELETE unless archived_field is set -----------------------------


def test_archive_lead_on_an_airtable_lead_side_without_archived_field_is_refused() -> None:
    line = rejected(
        pair(lead=AIRTABLE, on_card_deleted="archive_lead"),
        "on_card_deleted = 'archive_lead'",
        "lead.archived_field",
        "lead.hard_delete: true",
    )
    assert line.startswith("config: pairs[0]: ")


def test_archive_card_on_an_airtable_card_side_without_archived_field_is_refused() -> None:
    doc = pair(card=AIRTABLE, fields={"name": {"lead": "Name", "card": "Name"}}, status_field=None)
    rejected(doc, "on_lead_deleted = 'archive_card'", "card.archived_field", "card.hard_delete: true")


@pytest.mark.parametrize("side_settings", [{"archived_field": "Archived"}, {"hard_delete": True}])
def test_an_airtable_side_that_archives_is_accepted_with_a_checkbox_or_hard_delete_by_name(
    side_settings: dict[str, Any],
) -> None:
    parse_config(pair(lead={**AIRTABLE, **side_settings}, on_card_deleted="archive_lead"))
    parse_config(
        pair(card={**AIRTABLE, **side_settings}, fields={"name": {"lead": "Name", "card": "Name"}}, status_field=None)
    )


def test_airtable_sides_that_never_archive_need_neither() -> None:
    parse_config(pair(lead=AIRTABLE))  # on_card_deleted: detach (the default)
    parse_config(
        pair(
            card=AIRTABLE,
            fields={"name": {"lead": "Name", "card": "Name"}},
            status_field=None,
            on_lead_deleted="detach",
        )
    )


def test_hard_delete_and_archived_field_together_are_refused() -> None:
    rejected(pair(lead={**AIRTABLE, "archived_field": "Archived", "hard_delete": True}), "pairs[0].lead", "keep one")


# -- base URLs --------------------------------------------------------------------------------

URL_SETTINGS = sorted(VENDOR_HOSTS)


def env(name: str, url: str, **extra: str) -> dict[str, str]:
    return {f"LEADSYNC_{name.upper()}": url, **extra}


def settings_problem(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as err:
        Settings.from_env(environ)
    assert len(err.value.problems) == 1, err.value.problems
    return err.value.problems[0]


def test_the_default_base_urls_are_https_to_the_vendor_hosts() -> None:
    settings = Settings.from_env({})
    for name in URL_SETTINGS:
        url = getattr(settings, name)
        assert url is None or url.startswith(f"https://{VENDOR_HOSTS[name]}")


@pytest.mark.parametrize("name", URL_SETTINGS)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8700",
        "http://127.3.4.5:1/1",
        "http://localhost:9",
        "http://[::1]:8703/token",
        "http://host.docker.internal:8701/1",
    ],
)
def test_plain_http_to_this_machine_is_allowed_locally(name: str, url: str) -> None:
    assert getattr(Settings.from_env(env(name, url)), name) == url


@pytest.mark.parametrize("name", URL_SETTINGS)
def test_plain_http_to_another_host_is_refused_naming_the_variable(name: str) -> None:
    problem = settings_problem(env(name, "http://api.example.net/v1"))
    assert f"LEADSYNC_{name.upper()}" in problem
    assert "LEADSYNC_ALLOW_INSECURE_BASE_URLS" in problem


def test_the_override_allows_plain_http_to_another_host() -> None:
    settings = Settings.from_env(env("notion_base_url", "http://10.0.0.5", LEADSYNC_ALLOW_INSECURE_BASE_URLS="true"))
    assert settings.allow_insecure_base_urls
    assert settings.notion_base_url == "http://10.0.0.5"


LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME": "leadsync-SyncFunction-abc"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:8700", "http://localhost", "http://host.docker.internal:8700"])
def test_in_the_cloud_plain_http_is_refused_even_to_this_machine(url: str) -> None:
    problem = settings_problem(env("trello_base_url", url, **LAMBDA))
    assert "LEADSYNC_TRELLO_BASE_URL" in problem
    assert "cloud" in problem


def test_in_the_cloud_the_override_still_allows_plain_http() -> None:
    settings = Settings.from_env(
        env("trello_base_url", "http://127.0.0.1:1", LEADSYNC_ALLOW_INSECURE_BASE_URLS="true", **LAMBDA)
    )
    assert settings.in_cloud


def test_sam_local_invoke_is_not_the_cloud() -> None:
    """`sam local invoke` sets Lambda's variables and AWS_SAM_LOCAL; infra/events/env.local.json works."""
    settings = Settings.from_env(
        env("notion_base_url", "http://host.docker.internal:8700", AWS_SAM_LOCAL="true", **LAMBDA)
    )
    assert not settings.in_cloud


def test_in_cloud_comes_from_lambda_variables_only() -> None:
    assert Settings.from_env(LAMBDA).in_cloud
    assert not Settings.from_env({"LEADSYNC_IN_CLOUD": "true"}).in_cloud


@pytest.mark.parametrize(
    "url", ["ftp://api.notion.com", "api.notion.com", "https://", "https://user:pw@api.notion.com", "http://h:port"]
)
def test_a_base_url_that_is_not_an_http_url_is_refused(url: str) -> None:
    problem = settings_problem(env("notion_base_url", url))
    assert "LEADSYNC_NOTION_BASE_URL" in problem
    assert "pw" not in problem


def test_a_host_that_is_not_the_vendors_is_warned_about_without_the_url(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        Settings.from_env(env("airtable_base_url", "https://proxy.example.com/airtable?key=s3cret"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "vendor" in r.getMessage()]
    assert warnings, caplog.records
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in warnings)
    assert "proxy.example.com" in text
    assert "LEADSYNC_AIRTABLE_BASE_URL" in text
    assert "s3cret" not in text


def test_vendor_and_local_hosts_are_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        Settings.from_env({})
        Settings.from_env(env("sheets_base_url", "http://127.0.0.1:8703"))
        Settings.from_env(env("google_token_uri", "https://oauth2.googleapis.com/token"))
    assert not [r for r in caplog.records if "vendor" in r.getMessage()]


def test_the_sam_local_environment_in_infra_events_is_accepted_by_sam_local_only() -> None:
    """infra/events/env.local.json points at host.docker.internal over http: fine under `sam local invoke`."""
    events = Path(__file__).resolve().parents[2] / "infra" / "events" / "env.local.json"
    environ = json.loads(events.read_text(encoding="utf-8"))["SyncFunction"]
    settings = Settings.from_env({**environ, **LAMBDA, "AWS_SAM_LOCAL": "true"})
    assert settings.trello_base_url.startswith("http://host.docker.internal:")
    with pytest.raises(ConfigError) as err:
        Settings.from_env({**environ, **LAMBDA})
    assert len(err.value.problems) == len(VENDOR_HOSTS)  # every base URL named, at once
