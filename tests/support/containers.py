"""Worker threads as Lambda containers: each thread keeps its own shared rate limiters.

``leadsync.connectors.ratelimit`` keeps one bucket per credential in a process-wide registry. In
Lambda each concurrent worker is its own process, so each holds its own buckets (and their
unspent budget grants). :class:`PerThread` makes that registry one dict per thread, so threads
standing in for concurrent workers (the fan-out benchmark, contention tests) meet only through
the shared budget items in DynamoDB, as separate containers do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping
from typing import Any


class PerThread(MutableMapping[Any, Any]):
    """A dict per thread; ``clear`` empties every thread's."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[dict[Any, Any]] = []
        self._named: dict[object, dict[Any, Any]] = {}
        self._lock = threading.Lock()

    def bind(self, name: object) -> None:
        """This thread is container ``name`` from now on: it gets that container's dict (kept warm)."""
        with self._lock:
            mine = self._named.get(name)
            if mine is None:
                mine = self._named[name] = {}
                self._all.append(mine)
        self._local.d = mine

    def _mine(self) -> dict[Any, Any]:
        mine: dict[Any, Any] | None = getattr(self._local, "d", None)
        if mine is None:
            mine = self._local.d = {}
            with self._lock:
                self._all.append(mine)
        return mine

    def __getitem__(self, key: Any) -> Any:
        return self._mine()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._mine()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._mine()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._mine())

    def __len__(self) -> int:
        return len(self._mine())

    def clear(self) -> None:
        with self._lock:
            for each in self._all:
                each.clear()

    def every(self) -> list[Any]:
        """The values of every thread's dict (each container's buckets)."""
        with self._lock:
            return [value for each in self._all for value in list(each.values())]


def per_container_limiters() -> PerThread:
    """The registry to install as ``ratelimit._REGISTRY`` (raises if the module no longer has one)."""
    from leadsync.connectors import ratelimit

    if not isinstance(getattr(ratelimit, "_REGISTRY", None), dict | PerThread):
        raise RuntimeError("leadsync.connectors.ratelimit has no _REGISTRY dict; update tests/support/containers.py")
    return PerThread()
