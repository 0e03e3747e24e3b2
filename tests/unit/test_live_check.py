"""validate --live, the pure half: a pair's settings against the schemas the systems describe."""

from __future__ import annotations

from typing import Any

from leadsync.config import parse_config
from leadsync.connectors.base import Schema
from leadsync.core.models import Side
from leadsync.live_check import rule_problems, schema_problems

NOTION = Schema(
    fields={"Name": "title", "Email": "email", "Status": "status", "Trello Card": "rich_text"},
    options={"Status": ["New", "Contacted", "Qualified", "Lost"]},
)
TRELLO = Schema(
    fields={"name": "text", "desc": "text", "list": "list", "desc:Email": "text"},
    options={"list": ["To Do", "In Progress", "Done", "Lost"]},
)
STATUS = {"New": "To Do", "Contacted": "In Progress", "Qualified": "Done", "Lost": "Lost"}


def pair(**fields: Any) -> Any:
    doc = {
        "id": "p",
        "lead": {"system": "notion", "database_id": "0" * 32},
        "card": {"system": "trello", "board_id": "b" * 24},
        "fields": {
            "name": {"lead": "Name", "card": "name"},
            "email": {"lead": "Email", "card": "desc:Email"},
            "status": {"lead": "Status", "card": "list", "values": STATUS},
            **fields,
        },
    }
    return parse_config(doc).pairs[0]


def test_a_pair_that_matches_the_live_schemas_has_no_problem() -> None:
    config = pair()
    assert schema_problems(config, "pairs[0]", Side.LEAD, NOTION) == []
    assert schema_problems(config, "pairs[0]", Side.CARD, TRELLO) == []


def test_a_property_typo_is_named_with_its_path_and_the_likely_one() -> None:
    (problem,) = schema_problems(pair(email={"lead": "Emial", "card": "desc:Email"}), "pairs[0]", Side.LEAD, NOTION)
    assert problem.startswith("pairs[0].fields.email.lead = 'Emial': the Notion database 0000")
    assert "has no such field (it has: 'Email', 'Name', 'Status', 'Trello Card'); did you mean 'Email'?" in problem


def test_a_status_value_that_is_not_an_option_or_a_list_is_named() -> None:
    values = {**STATUS, "Won": "Won"}
    config = pair(status={"lead": "Status", "card": "list", "values": values})
    (lead,) = schema_problems(config, "pairs[0]", Side.LEAD, NOTION)
    (card,) = schema_problems(config, "pairs[0]", Side.CARD, TRELLO)
    assert lead.startswith("pairs[0].fields.status.values: 'Won' is not an option of 'Status' in the Notion database")
    assert card.startswith("pairs[0].fields.status.values: 'Won' is not a list of 'list' in the Trello board bbbb")
    assert "(it has: 'To Do', 'In Progress', 'Done', 'Lost')" in card


def test_option_names_compare_without_case_and_unrestricted_fields_take_anything() -> None:
    lower = Schema(fields=NOTION.fields, options={"Status": ["new", "contacted", "qualified", "lost"]})
    assert schema_problems(pair(), "pairs[0]", Side.LEAD, lower) == []
    free = Schema(fields=NOTION.fields)  # e.g. a sheet: any text goes
    assert schema_problems(pair(), "pairs[0]", Side.LEAD, free) == []


def test_the_sides_own_fields_must_exist_too() -> None:
    without_link = Schema(fields={k: v for k, v in NOTION.fields.items() if k != "Trello Card"}, options=NOTION.options)
    (problem,) = schema_problems(pair(), "pairs[3]", Side.LEAD, without_link)
    assert problem.startswith("pairs[3].lead.link_field = 'Trello Card': the Notion database")


def ruled(rules: dict[str, Any], lead: dict[str, Any] | None = None) -> Any:
    doc = {
        "id": "p",
        "lead": lead or {"system": "notion", "database_id": "0" * 32},
        "card": {"system": "trello", "board_id": "b" * 24},
        "fields": {"name": {"lead": "Name", "card": "name"}},
        "status_field": None,
        "rules": rules,
    }
    return parse_config(doc).pairs[0]


def test_a_label_rule_is_checked_against_the_boards_labels_by_name_or_id() -> None:
    labels = [("5f0c1a2b3c4d5e6f7a8b9c0d", "Sync"), ("5f0c1a2b3c4d5e6f7a8b9c0e", "")]
    assert rule_problems(ruled({"card": {"label": "sync"}}), "pairs[0]", Side.CARD, TRELLO, labels) == []
    by_id = ruled({"card": {"label": "5F0C1A2B3C4D5E6F7A8B9C0E"}})
    assert rule_problems(by_id, "pairs[0]", Side.CARD, TRELLO, labels) == []
    assert rule_problems(ruled({"card": {"label": "Synk"}}), "pairs[0]", Side.CARD, TRELLO, labels) == [
        f"pairs[0].rules.card.label = 'Synk': the Trello board {'b' * 24} has no such label (it has: 'Sync')"
        "; did you mean 'Sync'?"
    ]


def test_a_view_rule_is_checked_against_the_tables_views() -> None:
    airtable = {"system": "airtable", "base_id": "app" + "A" * 14, "table": "Leads"}
    views = [("viwAAAAAAAAAAAAAA", "Grid view"), ("viwBBBBBBBBBBBBBB", "Hot leads")]
    schema = Schema(fields={"Name": "singleLineText"})
    for named in ("Hot leads", "viwBBBBBBBBBBBBBB"):
        assert rule_problems(ruled({"lead": {"view": named}}, airtable), "pairs[0]", Side.LEAD, schema, views) == []
    (problem,) = rule_problems(ruled({"lead": {"view": "hot leads"}}, airtable), "pairs[0]", Side.LEAD, schema, views)
    assert problem.startswith("pairs[0].rules.lead.view = 'hot leads': the Airtable table 'Leads' has no such view")


def test_a_filter_rule_names_properties_the_data_source_has() -> None:
    config = ruled(
        {"lead": {"filter": {"or": [{"property": "Status", "status": {"equals": "New"}},
                                    {"property": "Emial", "email": {"contains": "@"}}]}}}
    )  # fmt: skip
    assert rule_problems(config, "pairs[0]", Side.LEAD, NOTION) == [
        "pairs[0].rules.lead.filter: the filter names property 'Emial'; the Notion database "
        f"{'0' * 32} has no such property (it has: 'Email', 'Name', 'Status', 'Trello Card'); did you mean 'Email'?"
    ]
    assert rule_problems(config, "pairs[0]", Side.CARD, TRELLO) == [], "no rule on that side"
