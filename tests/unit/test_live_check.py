"""validate --live, the pure half: a pair's settings against the schemas the systems describe."""

from __future__ import annotations

from typing import Any

from leadsync.config import parse_config
from leadsync.connectors.base import Schema
from leadsync.core.models import Side
from leadsync.live_check import schema_problems

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
