"""A shared, steerable clock: real time plus an offset that tests can advance."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time plus an adjustable offset, shared by every emulator of a sandbox.

    Emulators stamp records and run their rate-limit windows on this clock, so a test can
    `advance(60)` to cross a Notion minute boundary or empty a Trello rate-limit window at once.
    """

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch, offset applied."""
        with self._lock:
            return time.time() + self._offset

    def now(self) -> datetime:
        """Timezone-aware UTC datetime, offset applied."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or backward with a negative value)."""
        with self._lock:
            self._offset += seconds

    def advance_to(self, when: float) -> float:
        """Move the clock forward to `when` (epoch seconds) unless it is already past it; the step taken.

        Atomic: concurrent callers with the same target move the clock once, not once each.
        """
        with self._lock:
            step = max(0.0, when - (time.time() + self._offset))
            self._offset += step
            return step

    @property
    def offset(self) -> float:
        """Current offset from real time, in seconds."""
        with self._lock:
            return self._offset

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = 0.0
