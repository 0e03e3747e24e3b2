"""Pair configuration: every mistake rejected with a message naming the setting; valid ones parse."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest

from leadsync.config import PairConfig, Settings, load_config_file, parse_config
from leadsync.core.mapping import Direction
from leadsync.core.merge import ConflictPolicy
from leadsync.core.models import Side
from leadsync.core.planner import CardDeleted, LeadDeleted
from leadsync.errors import ConfigError

NOTION_DB = "1f2e3d4c5b6a49788766554433221100"

FULL_EXAMPLE: dict[str, Any] = {
    "id": "acme-leads",
    "lead": {"system": "notion", "database_id": NOTION_DB, "link_field": "Trello Card"},
    "card": {"system": "trello", "board_id": "5f1a2b3c4d5e6f7a8b9c0d1e"},
    "fields": {
        "name": {"lead": "Name", "card": "name"},
        "status": {
            "lead": "Status",
            "card": "list",
            "values": {"New": "To Do", "Contacted": "In Progress", "Qualified": "Done", "Won": "Done", "Lost": "Lost"},
            "reverse_values": {"To Do": "New", "In Progress": "Contacted", "Done": "Won", "Lost": "Lost"},
        },
        "email": {"lead": "Email", "card": "desc:Email", "direction": "lead_to_card"},
        "owner": {"lead": "Owner", "card": "desc:Owner", "direction": "card_to_lead"},
        "notes": {"lead": "Notes", "card": "desc"},
    },
    "status_field": "status",
    "skip_statuses": ["Lost"],
    "conflict_policy": "card",
    "tie_breaker": "card",
    "create_leads_from_cards": True,
    "on_lead_deleted": "detach",
    "on_card_deleted": "archive_lead",
    "match_on": ["email"],
    "full_sweep_minutes": 30,
}


def example(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(FULL_EXAMPLE)
    doc.update(changes)
    return doc


def problems_of(document: Any) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(document)
    return err.value.problems


def rejected(document: Any, *fragments: str) -> str:
    """Parse must fail; one problem line must contain every fragment. Returns that line."""
    problems = problems_of(document)
    for line in problems:
        if all(f in line for f in fragments):
            return line
    raise AssertionError(f"no problem mentions {fragments}: {problems}")


# -- valid documents ----------------------------------------------------------------------------


def test_full_example_parses_with_every_setting() -> None:
    pair = parse_config(FULL_EXAMPLE).pairs[0]
    assert pair.id == "acme-leads"
    assert pair.fields["email"].direction is Direction.LEAD_TO_CARD
    assert pair.conflict_policy is ConflictPolicy.CARD
    assert pair.tie_breaker is Side.CARD
    assert pair.on_lead_deleted is LeadDeleted.DETACH
    assert pair.on_card_deleted is CardDeleted.ARCHIVE_LEAD


def test_single_pair_and_pairs_list_and_json_text_parse_alike() -> None:
    single = parse_config(FULL_EXAMPLE)
    listed = parse_config({"pairs": [FULL_EXAMPLE]})
    text = parse_config(json.dumps({"pairs": [FULL_EXAMPLE]}))
    assert single == listed == text


def test_minimal_pair_gets_safe_defaults() -> None:
    pair = parse_config(
        {
            "id": "p1",
            "lead": {"system": "airtable", "base_id": "appABCDEFGHIJKLMN", "table": "Leads"},
            "card": {"system": "trello", "board_id": "5f1a2b3c4d5e6f7a8b9c0d1e"},
            "fields": {
                "name": {"lead": "Name", "card": "name"},
                "status": {"lead": "Status", "card": "list", "values": {"New": "To Do", "Lost": "Lost"}},
            },
        }
    ).pairs[0]
    assert pair.conflict_policy is ConflictPolicy.NEWEST
    assert pair.tie_breaker is Side.LEAD
    assert pair.skip_statuses == ["Lost"]
    assert pair.create_leads_from_cards is False
    assert pair.on_lead_deleted is LeadDeleted.ARCHIVE_CARD
    assert pair.on_card_deleted is CardDeleted.DETACH
    assert pair.match_on == []


def test_plan_config_carries_the_pair_settings() -> None:
    cfg = PairConfig.model_validate(FULL_EXAMPLE).plan_config()
    assert [s.name for s in cfg.mapping.fields] == ["name", "status", "email", "owner", "notes"]
    status = cfg.mapping.spec("status")
    assert (status.lead, status.card) == ("Status", "list")
    assert status.to_card == FULL_EXAMPLE["fields"]["status"]["values"]
    assert status.to_lead == FULL_EXAMPLE["fields"]["status"]["reverse_values"]
    assert cfg.mapping.spec("owner").direction is Direction.CARD_TO_LEAD
    assert cfg.policy is ConflictPolicy.CARD
    assert cfg.tie is Side.CARD
    assert cfg.skip == {"status": frozenset({"Lost"})}
    assert cfg.create_leads is True
    assert cfg.match_on == ("email",)
    assert (cfg.on_lead_deleted, cfg.on_card_deleted) == (LeadDeleted.DETACH, CardDeleted.ARCHIVE_LEAD)


def test_notion_side_has_minute_granularity_and_trello_none() -> None:
    cfg = PairConfig.model_validate(FULL_EXAMPLE).plan_config()
    assert cfg.granularity[Side.LEAD] == timedelta(minutes=1)
    assert cfg.granularity[Side.CARD] == timedelta(0)


def test_no_status_field_means_no_skip_filter() -> None:
    doc = example(status_field=None, skip_statuses=["Lost"])
    cfg = parse_config(doc).pairs[0].plan_config()
    assert cfg.skip == {}


# -- invalid documents --------------------------------------------------------------------------


def test_invalid_json_is_rejected_with_its_source() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('{"id": "p1",', source="pairs.json")
    assert err.value.problems[0].startswith("pairs.json: not valid JSON")


def test_many_to_one_values_without_reverse_values_are_rejected() -> None:
    doc = example()
    del doc["fields"]["status"]["reverse_values"]
    line = rejected(doc, "fields.status", "reverse_values")
    assert "'Done'" in line


def test_reverse_values_that_do_not_map_back_are_rejected() -> None:
    doc = example()
    doc["fields"]["status"]["reverse_values"]["Done"] = "Contacted"  # Contacted -> In Progress, not Done
    rejected(doc, "fields.status", "reverse_values['Done']")


def test_reverse_values_missing_a_card_value_are_rejected() -> None:
    doc = example()
    del doc["fields"]["status"]["reverse_values"]["Lost"]
    rejected(doc, "fields.status", "'Lost'")


def test_reverse_values_without_values_are_rejected() -> None:
    doc = example()
    doc["fields"]["name"]["reverse_values"] = {"a": "b"}
    rejected(doc, "fields.name", "reverse_values")


def test_unknown_status_field_is_rejected() -> None:
    rejected(example(status_field="stage"), "status_field", "'stage'")


def test_match_on_an_unmapped_field_is_rejected() -> None:
    rejected(example(match_on=["phone"]), "match_on", "'phone'")


def test_required_field_that_is_not_mapped_is_rejected() -> None:
    rejected(example(required_fields=["phone"]), "required_fields", "'phone'")


def test_name_is_required_by_default_when_mapped() -> None:
    assert PairConfig.model_validate(FULL_EXAMPLE).plan_config().required == ("name",)
    assert PairConfig.model_validate(example(required_fields=[])).plan_config().required == ()
    fields = {"title": {"lead": "Name", "card": "name"}, "status": FULL_EXAMPLE["fields"]["status"]}
    assert PairConfig.model_validate(example(fields=fields, match_on=[])).plan_config().required == ()


def test_skip_status_that_is_not_a_status_is_rejected() -> None:
    rejected(example(skip_statuses=["Lost", "Dead"]), "skip_statuses", "Dead")


@pytest.mark.parametrize("side", ["lead", "card"])
def test_a_native_field_mapped_twice_is_rejected(side: str) -> None:
    doc = example()
    doc["fields"]["nickname"] = {"lead": "Nick", "card": "desc:Nick"}
    doc["fields"]["nickname"][side] = doc["fields"]["name"][side]
    rejected(doc, f"{side}-side", repr(doc["fields"]["name"][side]))


@pytest.mark.parametrize("card_field", ["title", "labels", "Desc", "due"])
def test_trello_card_field_must_be_name_list_desc_or_a_desc_label(card_field: str) -> None:
    doc = example()
    doc["fields"]["notes"]["card"] = card_field
    rejected(doc, "fields.notes.card", repr(card_field))


def test_non_trello_card_side_may_use_any_field_name() -> None:
    doc = example()
    doc["card"] = {"system": "airtable", "base_id": "appABCDEFGHIJKLMN", "table": "Tasks"}
    doc["fields"]["notes"]["card"] = "Task notes"
    assert parse_config(doc).pairs[0].fields["notes"].card == "Task notes"


@pytest.mark.parametrize(
    ("path", "bad", "named"),
    [
        (("id",), "has spaces", "id"),
        (("id",), "", "id"),
        (("lead", "database_id"), "short", "lead.database_id"),
        (("card", "board_id"), "abc", "card.board_id"),
    ],
)
def test_bad_ids_are_rejected(path: tuple[str, ...], bad: str, named: str) -> None:
    doc = example()
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = bad
    rejected({"pairs": [doc]}, f"pairs[0].{named}")


def test_bad_airtable_base_id_is_rejected() -> None:
    doc = example(lead={"system": "airtable", "base_id": "tblABCDEFGHIJKLMN", "table": "Leads"})
    rejected(doc, "lead.base_id")


@pytest.mark.parametrize(
    ("where", "typo"),
    [((), "conflict_polcy"), (("lead",), "databse_id"), (("card",), "boardId"), (("fields", "name"), "directon")],
)
def test_unknown_keys_are_rejected_by_name(where: tuple[str, ...], typo: str) -> None:
    doc = example()
    target = doc
    for part in where:
        target = target[part]
    target[typo] = "x"
    rejected(doc, typo)


def test_unknown_system_is_rejected() -> None:
    rejected(example(card={"system": "jira", "board_id": "5f1a2b3c4d5e6f7a8b9c0d1e"}), "card")


@pytest.mark.parametrize(
    ("key", "value"),
    [("conflict_policy", "random"), ("tie_breaker", "both"), ("on_card_deleted", "delete_lead")],
)
def test_unknown_choice_is_rejected(key: str, value: str) -> None:
    rejected(example(**{key: value}), key)


def test_bad_direction_is_rejected() -> None:
    doc = example()
    doc["fields"]["name"]["direction"] = "sideways"
    rejected(doc, "fields.name.direction")


def test_no_fields_is_rejected() -> None:
    rejected(example(fields={}, status_field=None, match_on=[]), "fields", "at least one")


def test_duplicate_pair_ids_are_rejected() -> None:
    rejected({"pairs": [FULL_EXAMPLE, FULL_EXAMPLE]}, "acme-leads", "unique")


def test_empty_pairs_list_is_rejected() -> None:
    rejected({"pairs": []}, "pairs")


def test_every_problem_is_reported_at_once() -> None:
    doc = example(status_field="stage", match_on=["phone"])
    doc["fields"]["notes"]["card"] = "title"
    problems = problems_of(doc)
    assert any("status_field" in p for p in problems)
    assert any("match_on" in p for p in problems)
    assert any("fields.notes.card" in p for p in problems)


def test_config_file_is_read_and_a_missing_one_named(tmp_path) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(FULL_EXAMPLE), encoding="utf-8")
    assert load_config_file(path).pairs[0].id == "acme-leads"
    with pytest.raises(ConfigError) as err:
        load_config_file(tmp_path / "missing.json")
    assert "missing.json" in str(err.value)


# -- runtime settings ---------------------------------------------------------------------------


def test_settings_come_from_leadsync_prefixed_environment() -> None:
    settings = Settings.from_env({"LEADSYNC_TABLE": "t", "LEADSYNC_DRY_RUN": "true", "OTHER": "x"})
    assert settings.table == "t"
    assert settings.dry_run is True


def test_bad_setting_is_named_by_its_environment_variable() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"LEADSYNC_SAFETY_MARGIN_SECONDS": "soon"})
    assert "LEADSYNC_SAFETY_MARGIN_SECONDS" in str(err.value)


def test_history_settings_default_to_30_days_and_nothing_redacted() -> None:
    pair = parse_config(example()).pairs[0]
    assert (pair.history_days, pair.redact_fields) == (30, [])
    set_ = parse_config(example(history_days=7, redact_fields=["email"])).pairs[0]
    assert (set_.history_days, set_.redact_fields) == (7, ["email"])


def test_redact_fields_must_name_mapped_fields() -> None:
    rejected(example(redact_fields=["phone"]), "redact_fields names 'phone', which is not a mapped field")


@pytest.mark.parametrize("days", [0, -1, True, "30", 1.5])
def test_history_days_is_a_whole_positive_number(days: Any) -> None:
    rejected(example(history_days=days), "history_days")


def test_a_mistyped_setting_is_named_with_the_closest_real_one() -> None:
    rejected(example(conflict_polcy="newest"), "pairs[0].conflict_polcy", "unknown setting", "'conflict_policy'")
    doc = example()
    doc["lead"] = {**doc["lead"], "databse_id": NOTION_DB}
    rejected(doc, "pairs[0].lead.databse_id", "did you mean 'database_id'?")
    assert "did you mean" not in rejected(example(zzz=1), "pairs[0].zzz", "unknown setting")


def test_a_pasted_url_or_short_link_is_not_an_id_and_the_error_says_where_the_id_is() -> None:
    doc = example()
    doc["lead"] = {**doc["lead"], "database_id": f"https://www.notion.so/acme/Leads-{NOTION_DB}?v={'ab' * 16}"}
    rejected(doc, "pairs[0].lead.database_id", "is not a Notion id", f"use {NOTION_DB!r}")
    doc = example()
    doc["card"] = {**doc["card"], "board_id": "aBcD1234"}
    rejected(doc, "pairs[0].card.board_id", "'aBcD1234' is not a Trello board id", "'.json' added")
