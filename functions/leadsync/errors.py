"""One exception hierarchy for the whole product."""

from __future__ import annotations


class LeadsyncError(Exception):
    """Base class of every error leadsync raises on purpose."""


class ConfigError(LeadsyncError):
    """The configuration or settings are invalid. Each message names the setting at fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class ApiError(LeadsyncError):
    """A SaaS API answered with an error that retrying will not fix."""

    def __init__(self, system: str, status: int, message: str, *, method: str = "", path: str = "") -> None:
        self.system = system
        self.status = status
        self.method = method
        self.path = path
        super().__init__(f"{system} {method} {path} -> {status}: {message}".replace("  ", " "))


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
