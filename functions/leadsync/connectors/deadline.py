"""The cycle's time budget, shared by every retry and rate-limit wait of one invocation."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

from leadsync.errors import DeadlineExceeded

Clock = Callable[[], float]


class LambdaContextLike(Protocol):
    """The one method of AWS Lambda's context object the deadline needs."""

    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    """A point in (monotonic) time after which no new work may start.

    Waits (backoff, ``Retry-After``, rate limiting) never sleep past it: the transport raises
    instead, so the engine keeps its margin to commit state.
    """

    def __init__(self, at: float, *, clock: Clock = time.monotonic) -> None:
        self._at = at
        self._clock = clock

    @classmethod
    def in_seconds(cls, seconds: float, *, clock: Clock = time.monotonic) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(clock() + seconds, clock=clock)

    @classmethod
    def from_lambda_context(
        cls, context: LambdaContextLike, *, margin_seconds: float = 10.0, clock: Clock = time.monotonic
    ) -> Deadline:
        """The Lambda's remaining time minus ``margin_seconds`` (kept to commit state)."""
        remaining = context.get_remaining_time_in_millis() / 1000.0 - margin_seconds
        return cls(clock() + max(0.0, remaining), clock=clock)

    @classmethod
    def never(cls) -> Deadline:
        """No time limit (local runs, tests)."""
        return cls(math.inf)

    def remaining(self) -> float:
        """Seconds left, never negative (``inf`` for :meth:`never`)."""
        return max(0.0, self._at - self._clock())

    @property
    def expired(self) -> bool:
        return self._clock() >= self._at

    def check(self, what: str = "work") -> None:
        """Raise ``DeadlineExceeded`` if the budget is spent."""
        if self.expired:
            raise DeadlineExceeded(f"deadline reached before {what}")

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s)"
