"""API credentials: from AWS Secrets Manager in the cloud, from the environment locally.

The values never appear in reprs, logs or URLs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from leadsync.errors import ConfigError

# environment variable -> credential field (local runs)
ENV_NAMES = {
    "NOTION_TOKEN": "notion_token",
    "TRELLO_API_KEY": "trello_key",
    "TRELLO_TOKEN": "trello_token",
    "AIRTABLE_TOKEN": "airtable_token",
    "TRELLO_APP_SECRET": "trello_app_secret",  # webhooks: the key's OAuth secret Trello signs with
}


@dataclass(frozen=True)
class Credentials:
    """Every credential leadsync may need; each pair uses some of them."""

    notion_token: str | None = field(default=None, repr=False)
    trello_key: str | None = field(default=None, repr=False)
    trello_token: str | None = field(default=None, repr=False)
    airtable_token: str | None = field(default=None, repr=False)
    google_service_account: Mapping[str, Any] | None = field(default=None, repr=False)
    google_service_account_file: str | None = None  # read when a pair needs it (local runs)
    # webhooks (leadsync.webhooks): Trello's signing key, and each Airtable webhook's macSecretBase64 by webhook id
    trello_app_secret: str | None = field(default=None, repr=False)
    airtable_webhook_secrets: Mapping[str, str] | None = field(default=None, repr=False)

    def require(self, name: str, needed_by: str) -> Any:
        """The credential ``name``, or a ConfigError saying where to put it."""
        if (
            name == "google_service_account"
            and self.google_service_account is None
            and self.google_service_account_file
        ):
            return _read_key_file(self.google_service_account_file)
        value = getattr(self, name)
        if not value:
            env = {v: k for k, v in ENV_NAMES.items()}.get(name, "GOOGLE_SERVICE_ACCOUNT_FILE")
            raise ConfigError(
                [
                    f"credential {name!r} is missing (needed by {needed_by}): put it in the Secrets Manager "
                    f"secret as {name!r}, or set {env} for local runs"
                ]
            )
        return value

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> Credentials:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError([f"{source}: unknown credential key(s) {unknown}; expected some of {sorted(known)}"])
        values = dict(data)
        sa = values.get("google_service_account")
        if isinstance(sa, str):
            try:
                values["google_service_account"] = json.loads(sa)
            except json.JSONDecodeError as exc:
                raise ConfigError([f"{source}: google_service_account is not JSON: {exc.msg}"]) from exc
        hooks = values.get("airtable_webhook_secrets")
        if hooks is not None and (
            not isinstance(hooks, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in hooks.items())
        ):
            raise ConfigError([f"{source}: airtable_webhook_secrets must map webhook ids to macSecretBase64 strings"])
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {attr: env[name] for name, attr in ENV_NAMES.items() if env.get(name)}
        hooks = env.get("AIRTABLE_WEBHOOK_SECRETS")  # JSON: {"ach…": "<macSecretBase64>"}
        if hooks:
            try:
                values["airtable_webhook_secrets"] = json.loads(hooks)
            except json.JSONDecodeError as exc:
                raise ConfigError([f"AIRTABLE_WEBHOOK_SECRETS is not JSON: {exc.msg}"]) from exc
            return cls.from_mapping(values, "environment").with_key_file(env.get("GOOGLE_SERVICE_ACCOUNT_FILE"))
        return cls(**values, google_service_account_file=env.get("GOOGLE_SERVICE_ACCOUNT_FILE") or None)

    def with_key_file(self, path: str | None) -> Credentials:
        """These credentials with ``google_service_account_file`` set (local runs)."""
        from dataclasses import replace

        return replace(self, google_service_account_file=path or None)


def _read_key_file(path: str) -> Mapping[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError([f"GOOGLE_SERVICE_ACCOUNT_FILE={path}: cannot read a JSON key: {exc}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError([f"GOOGLE_SERVICE_ACCOUNT_FILE={path}: not a JSON object"])
    return data


def load_credentials(secret_arn: str | None) -> Credentials:
    """From the Secrets Manager secret (cached for 5 minutes) when given, else the environment."""
    if not secret_arn:
        return Credentials.from_env()
    from aws_lambda_powertools.utilities import parameters

    try:
        data = parameters.get_secret(secret_arn, transform="json", max_age=300)
    except parameters.exceptions.GetParameterError as exc:
        raise ConfigError([f"cannot read the credentials secret (LEADSYNC_SECRET_ARN): {exc}"]) from exc
    except parameters.exceptions.TransformParameterError as exc:
        raise ConfigError(["the credentials secret is not a JSON object"]) from exc
    if not isinstance(data, dict):
        raise ConfigError(["the credentials secret is not a JSON object"])
    return Credentials.from_mapping(data, "credentials secret")
