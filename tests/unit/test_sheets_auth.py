"""Service-account auth for Sheets: key validation, per-attempt bearer headers, token errors mapped."""

from __future__ import annotations

from typing import Any

import google.auth.exceptions
import pytest
import requests

from leadsync.connectors import sheets_auth
from leadsync.connectors.http import Transport
from leadsync.errors import ConfigError, RetryableError
from sandbox.google_token import generate_service_account

TOKEN_URI = "http://127.0.0.1:9/token"


@pytest.fixture(scope="module")
def info() -> dict[str, str]:
    return generate_service_account(
        "unit@leadsync-sandbox.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token"
    )[0]


def test_a_key_missing_its_private_key_is_a_config_error_that_says_where_to_get_one(info: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"missing or wrong: private_key.*Keys > Add key > JSON"):
        sheets_auth.ServiceAccountAuth({**info, "private_key": ""})


def test_an_unreadable_private_key_is_a_config_error_without_the_key(info: dict[str, str]) -> None:
    broken = {**info, "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"}
    with pytest.raises(ConfigError) as err:
        sheets_auth.ServiceAccountAuth(broken)
    assert "cannot be loaded" in str(err.value)
    assert "not a key" not in str(err.value)


def test_the_token_uri_override_replaces_the_keys_own(info: dict[str, str]) -> None:
    assert sheets_auth.ServiceAccountAuth(info, token_uri=TOKEN_URI).token_uri == TOKEN_URI
    assert sheets_auth.ServiceAccountAuth(info).token_uri == info["token_uri"]


def test_one_auth_per_key_and_token_uri_per_process(info: dict[str, str]) -> None:
    sheets_auth.clear_cache()
    first = sheets_auth.service_account_auth(info, token_uri=TOKEN_URI)
    assert sheets_auth.service_account_auth(dict(info), token_uri=TOKEN_URI) is first
    assert sheets_auth.service_account_auth(info) is not first
    assert "PRIVATE" not in repr(first)


def _failing_refresh(error: Exception) -> Any:
    def refresh(self: Any, request: Any) -> None:
        raise error

    return refresh


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (google.auth.exceptions.RefreshError("invalid_grant: Invalid JWT Signature.", retryable=False), ConfigError),
        (google.auth.exceptions.RefreshError("internal_failure", retryable=True), RetryableError),
        (google.auth.exceptions.TransportError("connection refused"), RetryableError),
    ],
)
def test_token_endpoint_failures_become_config_or_retryable_errors(
    info: dict[str, str], monkeypatch: pytest.MonkeyPatch, error: Exception, expected: type[Exception]
) -> None:
    auth = sheets_auth.ServiceAccountAuth(info, token_uri=TOKEN_URI)
    monkeypatch.setattr(type(auth._credentials), "refresh", _failing_refresh(error))
    with pytest.raises(expected, match="unit@leadsync-sandbox"):
        auth.headers()


class _Session(requests.Session):
    """Answers 503 then 200, recording the Authorization header of each attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.seen.append(kwargs["headers"]["Authorization"])
        response = requests.Response()
        response.status_code = 503 if len(self.seen) == 1 else 200
        response._content = b"{}"
        return response


def test_the_transport_asks_for_auth_headers_before_every_attempt() -> None:
    tokens = iter(["Bearer first", "Bearer second"])
    session = _Session()
    transport = Transport(
        "sheets",
        "http://sheets.invalid",
        auth_headers={"Authorization": "Bearer static"},
        auth=lambda: {"Authorization": next(tokens)},
        session=session,
        sleep=lambda _: None,
    )
    transport.request("GET", "/v4/spreadsheets/x/values/A1")
    assert session.seen == ["Bearer first", "Bearer second"]
