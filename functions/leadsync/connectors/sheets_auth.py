"""Google service-account access tokens through google-auth, cached per process.

``google.oauth2.service_account.Credentials`` signs the JWT assertion and exchanges it at the
token endpoint (``token_uri``: Google's, or the sandbox's); the access token is kept for its
lifetime (about an hour) across warm Lambda invocations and refreshed when google-auth says it
is stale. The key and the tokens never appear in logs, reprs or URLs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
from google.oauth2 import service_account

from leadsync.connectors.deadline import Deadline
from leadsync.connectors.http import shared_session
from leadsync.connectors.ratelimit import credential_key
from leadsync.errors import ConfigError, DeadlineExceeded, RetryableError

SCOPES = ("https://www.googleapis.com/auth/spreadsheets",)
TOKEN_TIMEOUT_SECONDS = 20.0
REQUIRED_KEYS = ("type", "client_email", "private_key", "token_uri")

_cache_lock = threading.Lock()
_cache: dict[tuple[str, str, str], ServiceAccountAuth] = {}


class _BoundedRequest(google.auth.transport.requests.Request):
    """google-auth's requests adapter with a timeout no longer than the cycle has left."""

    def __init__(self, timeout: float) -> None:
        super().__init__(session=shared_session())
        self._timeout = timeout

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = self._timeout
        return super().__call__(*args, **kwargs)


class ServiceAccountAuth:
    """Bearer headers for one service account, refreshed when due. Thread-safe."""

    def __init__(self, info: Mapping[str, Any], *, token_uri: str | None = None) -> None:
        missing = [key for key in REQUIRED_KEYS if not info.get(key)]
        if missing or info.get("type") != "service_account":
            raise ConfigError(
                [
                    "google_service_account is not a service-account JSON key "
                    f"(missing or wrong: {', '.join(missing) or 'type'}); download a key for the service account "
                    "in the Google Cloud console (IAM > Service accounts > Keys > Add key > JSON)"
                ]
            )
        self.client_email = str(info["client_email"])
        try:
            credentials = service_account.Credentials.from_service_account_info(dict(info), scopes=list(SCOPES))
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                [f"google_service_account {self.client_email}: the private key cannot be loaded ({type(exc).__name__})"]
            ) from None
        self._credentials = credentials.with_token_uri(token_uri) if token_uri else credentials
        self._lock = threading.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"ServiceAccountAuth({self.client_email!r})"

    @property
    def token_uri(self) -> str:
        return str(self._credentials._token_uri)

    def headers(self, deadline: Deadline | None = None) -> dict[str, str]:
        """``Authorization: Bearer <access token>``, fetching a token first when needed."""
        with self._lock:
            if not self._credentials.valid:
                self._refresh(deadline or Deadline.never())
            return {"Authorization": f"Bearer {self._credentials.token}"}

    def invalidate(self) -> None:
        """Forget the access token (the API said 401): the next call fetches a new one."""
        with self._lock:
            self._credentials.token = None

    def _refresh(self, deadline: Deadline) -> None:
        remaining = deadline.remaining()
        if remaining < 0.5:
            raise DeadlineExceeded("no time left to fetch a Google access token")
        request = _BoundedRequest(min(TOKEN_TIMEOUT_SECONDS, remaining))
        try:
            self._credentials.refresh(request)
        except google.auth.exceptions.RefreshError as exc:
            reason = _reason(exc)
            if getattr(exc, "retryable", False):
                raise RetryableError(f"Google token endpoint failed for {self.client_email}: {reason}") from None
            raise ConfigError(
                [
                    f"google_service_account {self.client_email} was refused an access token ({reason}): "
                    "is the key current and the service account enabled?"
                ]
            ) from None
        except google.auth.exceptions.TransportError as exc:
            raise RetryableError(
                f"cannot reach the Google token endpoint for {self.client_email}: {type(exc).__name__}"
            ) from None
        except (TypeError, ValueError, KeyError) as exc:  # google-auth parsing a malformed or truncated answer
            raise RetryableError(
                f"the Google token endpoint gave {self.client_email} an unreadable answer ({type(exc).__name__})"
            ) from None
        self.refreshes += 1


def _reason(exc: google.auth.exceptions.RefreshError) -> str:
    """The token endpoint's own words (``invalid_grant: Invalid JWT Signature.``), nothing secret."""
    first = exc.args[0] if exc.args else ""
    return str(first)[:300]


def service_account_auth(info: Mapping[str, Any], *, token_uri: str | None = None) -> ServiceAccountAuth:
    """The process-wide auth of this service account key (one token fetch per hour, not per cycle)."""
    key = (str(info.get("client_email", "")), credential_key(str(info.get("private_key", ""))), token_uri or "")
    with _cache_lock:
        auth = _cache.get(key)
        if auth is None:
            auth = _cache[key] = ServiceAccountAuth(info, token_uri=token_uri)
        return auth


def clear_cache() -> None:
    """Forget every cached service account (tests)."""
    with _cache_lock:
        _cache.clear()
