"""`python -m sandbox` refuses credentials other than the ones it prints, as the real services do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from sandbox import Sandbox
from sandbox.__main__ import DEMO_CREDENTIALS, require_demo_credentials

NOTION = {"Notion-Version": "2025-09-03"}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox.start(only=("notion", "trello", "airtable")) as sandbox:
        require_demo_credentials(sandbox)
        yield sandbox


def _notion(sb: Sandbox, token: str) -> int:
    database_id, _ = sb.notion.create_database()
    headers = {**NOTION, "Authorization": f"Bearer {token}"}
    return requests.get(f"{sb.notion.url}/v1/databases/{database_id}", headers=headers).status_code


def _trello(sb: Sandbox, key: str, token: str) -> requests.Response:
    return requests.get(f"{sb.trello.url}/members/me/boards", params={"key": key, "token": token})


def _airtable(sb: Sandbox, token: str) -> int:
    base_id, tables = sb.airtable.create_base({"Leads": {"Name": "singleLineText"}})
    url = f"{sb.airtable.url}/v0/{base_id}/{tables['Leads']}"
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}).status_code


def test_the_printed_credentials_are_accepted(sb: Sandbox) -> None:
    assert _notion(sb, DEMO_CREDENTIALS["NOTION_TOKEN"]) == 200
    assert _trello(sb, DEMO_CREDENTIALS["TRELLO_API_KEY"], DEMO_CREDENTIALS["TRELLO_TOKEN"]).status_code == 200
    assert _airtable(sb, DEMO_CREDENTIALS["AIRTABLE_TOKEN"]) == 200


def test_any_other_credential_is_refused_with_the_services_401(sb: Sandbox) -> None:
    assert _notion(sb, "ntn_wrong") == 401
    wrong_token = _trello(sb, DEMO_CREDENTIALS["TRELLO_API_KEY"], "ATTAwrong")
    assert (wrong_token.status_code, wrong_token.text) == (401, "invalid token")
    wrong_key = _trello(sb, "0" * 32, DEMO_CREDENTIALS["TRELLO_TOKEN"])
    assert (wrong_key.status_code, wrong_key.text) == (401, "invalid key")
    assert _airtable(sb, "patWrong.0000") == 401
