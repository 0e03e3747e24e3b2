"""`Sandbox`: start every emulator on its own port around one shared clock."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType, TracebackType
from typing import Any

from sandbox.clock import Clock
from sandbox.common import Emulator

EMULATORS: dict[str, tuple[str, str]] = {
    "notion": ("sandbox.notion", "NotionEmulator"),
    "trello": ("sandbox.trello", "TrelloEmulator"),
    "airtable": ("sandbox.airtable", "AirtableEmulator"),
    "sheets": ("sandbox.sheets", "SheetsEmulator"),
}
"""name -> (module, class). Modules that do not exist yet are skipped."""


def _load(module_name: str, class_name: str) -> type[Emulator] | None:
    try:
        module: ModuleType = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    found = getattr(module, class_name, None)
    if isinstance(found, type) and issubclass(found, Emulator):
        return found
    candidates = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Emulator)
        and obj is not Emulator
        and obj.__module__ == module.__name__
    ]
    return candidates[0] if len(candidates) == 1 else None


class Sandbox:
    """All emulators, started together: `with Sandbox.start() as sb: sb.notion.url ...`."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.emulators: dict[str, Emulator] = {}

    @classmethod
    def start(
        cls,
        host: str = "127.0.0.1",
        port_base: int | None = None,
        only: tuple[str, ...] | None = None,
    ) -> Sandbox:
        """Start the emulators (all available, or `only` these names) on free ports or port_base+i."""
        sandbox = cls()
        try:
            for index, (name, (module_name, class_name)) in enumerate(EMULATORS.items()):
                if only is not None and name not in only:
                    continue
                emulator_cls = _load(module_name, class_name)
                if emulator_cls is None:
                    continue
                emulator = emulator_cls(clock=sandbox.clock)
                emulator.start(host, 0 if port_base is None else port_base + index)
                sandbox.emulators[name] = emulator
        except BaseException:
            sandbox.stop()
            raise
        return sandbox

    def __getattr__(self, name: str) -> Any:
        emulators = self.__dict__.get("emulators", {})
        if name in emulators:
            return emulators[name]
        raise AttributeError(f"sandbox has no emulator or attribute {name!r}")

    def env(self) -> dict[str, str]:
        """LEADSYNC_*_BASE_URL (and LEADSYNC_GOOGLE_TOKEN_URI) for every running emulator."""
        env: dict[str, str] = {}
        for emulator in self.emulators.values():
            env.update(emulator.env())
        return env

    def latency(self, enabled: bool = True, seed: int | None = None, **settings: Any) -> None:
        """Every emulator answers with latency (`LatencyInjector.set`: each system's defaults unless
        `read` / `write` models are given; emulator i draws from `seed + i` when seeded)."""
        for index, emulator in enumerate(self.emulators.values()):
            emulator.latency.set(enabled, seed=None if seed is None else seed + index, **settings)

    def reset(self) -> None:
        """Clear data, faults, rate limiters and request logs of every emulator; clock back to real time."""
        for emulator in self.emulators.values():
            emulator.reset()
        self.clock.reset()

    def stop(self) -> None:
        """Stop every emulator."""
        for emulator in self.emulators.values():
            emulator.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
