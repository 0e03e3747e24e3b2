"""One exception hierarchy for the whole product."""

from __future__ import annotations


class LeadsyncError(Exception):
    """Base class of every error leadsync raises on purpose."""


class ConfigError(LeadsyncError):
    """The configuration or settings are invalid. Each message names the setting at fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


# system -> the credential it refused: the secret's keys and the local environment variables
_CREDENTIALS = {
    "notion": "'notion_token' in the secret (NOTION_TOKEN locally)",
    "trello": "'trello_key' and 'trello_token' in the secret (TRELLO_API_KEY, TRELLO_TOKEN locally)",
    "airtable": "'airtable_token' in the secret (AIRTABLE_TOKEN locally)",
    "sheets": "'google_service_account' in the secret (GOOGLE_SERVICE_ACCOUNT_FILE locally)",
}
_ACCESS = {
    "notion": "and that the database is shared with the integration (database ••• menu, Connections)",
    "airtable": "and that the token has the scopes and the base it needs",
    "sheets": "and that the spreadsheet is shared with the service account's email",
}


def credential_hint(system: str, status: int) -> str:
    """What to check when ``system`` answers 401 (credential refused) or 403 (no access); else ''."""
    where = _CREDENTIALS.get(system)
    if where is None or status not in (401, 403):
        return ""
    if status == 401:
        return f"{system} refused the credential: check {where}"
    return f"no access: check {where} " + _ACCESS.get(system, "and the token's rights on the board")


class ApiError(LeadsyncError):
    """A SaaS API answered with an error that retrying will not fix (401/403 say which credential to check)."""

    def __init__(self, system: str, status: int, message: str, *, method: str = "", path: str = "") -> None:
        self.system = system
        self.status = status
        self.method = method
        self.path = path
        hint = credential_hint(system, status)
        text = f"{system} {method} {path} -> {status}: {message}".replace("  ", " ")
        super().__init__(f"{text} ({hint})" if hint else text)


class NotFound(ApiError):
    """The record does not exist (404) on the remote system."""


class RetryableError(LeadsyncError):
    """A transient failure (429, 5xx, connection error) that outlived its retry budget."""


class RateLimited(RetryableError):
    """The API kept answering 429 until the deadline."""


class DeadlineExceeded(LeadsyncError):
    """The cycle's time budget is spent; stop and commit what was applied."""


class LeaseHeld(LeadsyncError):
    """Another invocation holds the pair's lease."""


class StaleState(LeadsyncError):
    """The pair's state changed under us (optimistic version check failed)."""


class SideMoved(LeadsyncError):
    """The configuration points a side of a pair at another container than its state belongs to."""


class DeletionsHeld(LeadsyncError):
    """A cycle would archive or delete more records than the pair's limit allows: none were."""


class RecordError(LeadsyncError):
    """One record cannot be synced (bad value); the rest of the cycle goes on."""

    def __init__(self, record_id: str, message: str) -> None:
        self.record_id = record_id
        super().__init__(f"record {record_id}: {message}")


class BudgetBusy(DeadlineExceeded):
    """The shared budget has no token due within the wait asked for, but may in ``retry_in`` seconds
    (its queue is that much too long, or other workers won the conditional update)."""

    def __init__(self, message: str, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = max(0.0, retry_in)
