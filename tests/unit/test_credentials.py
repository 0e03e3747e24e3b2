"""Credentials: where they come from, what a missing one says, and that they never show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadsync.credentials import Credentials
from leadsync.errors import ConfigError


def test_repr_never_shows_a_secret() -> None:
    creds = Credentials(notion_token="ntn_very_secret", trello_token="ATTAsecret", google_service_account={"k": "v"})
    assert "secret" not in repr(creds)
    assert "ntn_" not in repr(creds)


def test_a_missing_credential_names_the_secret_key_and_the_environment_variable() -> None:
    with pytest.raises(ConfigError) as err:
        Credentials().require("trello_token", "pair 'acme' card side")
    message = str(err.value)
    assert "'trello_token'" in message
    assert "TRELLO_TOKEN" in message
    assert "pair 'acme' card side" in message


def test_environment_variables_map_to_credentials() -> None:
    creds = Credentials.from_env(
        {"NOTION_TOKEN": "n", "TRELLO_API_KEY": "k", "TRELLO_TOKEN": "t", "AIRTABLE_TOKEN": "a"}
    )
    assert (creds.notion_token, creds.trello_key, creds.trello_token, creds.airtable_token) == ("n", "k", "t", "a")


def test_the_google_key_file_is_read_only_when_a_pair_needs_it(tmp_path: Path) -> None:
    missing = Credentials.from_env({"GOOGLE_SERVICE_ACCOUNT_FILE": str(tmp_path / "nope.json"), "NOTION_TOKEN": "n"})
    assert missing.require("notion_token", "a Notion pair") == "n", "pairs that need no Google key still run"
    with pytest.raises(ConfigError, match=r"nope\.json"):
        missing.require("google_service_account", "pair 'sheet' lead side")
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"client_email": "sa@example.iam.gserviceaccount.com"}))
    found = Credentials.from_env({"GOOGLE_SERVICE_ACCOUNT_FILE": str(key)})
    assert found.require("google_service_account", "x")["client_email"].startswith("sa@")


def test_the_secret_document_rejects_unknown_keys_and_accepts_the_google_key_as_text() -> None:
    with pytest.raises(ConfigError, match="notion_tokn"):
        Credentials.from_mapping({"notion_tokn": "typo"}, "credentials secret")
    creds = Credentials.from_mapping({"google_service_account": json.dumps({"type": "service_account"})}, "s")
    assert creds.google_service_account == {"type": "service_account"}


@pytest.mark.parametrize("bad", ["c2VjcmV0", {"achAAAAAAAAAAAAAA": 1}, ["x"]])
def test_airtable_webhook_secrets_must_map_webhook_ids_to_strings(bad: object) -> None:
    from leadsync.credentials import Credentials
    from leadsync.errors import ConfigError

    good = Credentials.from_mapping({"airtable_webhook_secrets": {"achAAAAAAAAAAAAAA": "c2VjcmV0"}}, "secret")
    assert good.airtable_webhook_secrets == {"achAAAAAAAAAAAAAA": "c2VjcmV0"}
    assert "c2VjcmV0" not in repr(good)
    with pytest.raises(ConfigError, match="airtable_webhook_secrets"):
        Credentials.from_mapping({"airtable_webhook_secrets": bad}, "secret")


def test_airtable_webhook_secrets_from_the_environment_are_json() -> None:
    from leadsync.credentials import Credentials
    from leadsync.errors import ConfigError

    creds = Credentials.from_env(
        {"AIRTABLE_WEBHOOK_SECRETS": '{"achAAAAAAAAAAAAAA": "c2VjcmV0"}', "AIRTABLE_TOKEN": "pat.x"}
    )
    assert creds.airtable_webhook_secrets == {"achAAAAAAAAAAAAAA": "c2VjcmV0"}
    assert creds.airtable_token == "pat.x"
    with pytest.raises(ConfigError, match="AIRTABLE_WEBHOOK_SECRETS"):
        Credentials.from_env({"AIRTABLE_WEBHOOK_SECRETS": "{nope"})
    with pytest.raises(ConfigError, match="airtable_webhook_secrets"):
        Credentials.from_env({"AIRTABLE_WEBHOOK_SECRETS": '["x"]'})
