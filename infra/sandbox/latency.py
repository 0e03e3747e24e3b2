"""Per-request latency: how long each emulator takes to answer, as the real service would.

A `LatencyModel` is fixed or lognormal (a median and a p95, the way service latency is usually
quoted), drawn from a seeded generator so a run can be repeated. Each system has a `Profile`
(reads, writes) with defaults from what the real APIs typically answer in (see docs/sandbox.md,
"Latency"). A `LatencyInjector` per emulator draws a delay per request and waits it out:

- ``real`` mode sleeps the delay (divided by the rate limiter's ``time_scale`` on a scaled run);
- ``virtual`` mode (the bench's virtual clock) sleeps ``delay / compression`` of real time, then moves
  the shared clock to ``start + delay``. Requests that overlap in real time overlap in virtual time:
  two concurrent 300 ms answers move the clock 300 ms, two in a row 600 ms.

Off by default: tests stay fast; the bench, the soak and ``python -m sandbox --latency`` turn it on.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.clock import Clock

Z95 = 1.6448536269514722  # standard normal quantile at 0.95
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MODES = ("real", "virtual")


@dataclass(frozen=True)
class LatencyModel:
    """Seconds one request takes: ``fixed`` (always ``median``) or ``lognormal`` (``median``, ``p95``)."""

    kind: str = "fixed"
    median: float = 0.0
    p95: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "lognormal"):
            raise ValueError(f"latency kind must be 'fixed' or 'lognormal', not {self.kind!r}")
        if not (math.isfinite(self.median) and self.median >= 0):
            raise ValueError(f"latency median must be a finite number >= 0 s, not {self.median!r}")
        if self.kind == "lognormal":
            if self.median <= 0:
                raise ValueError("a lognormal latency needs a median > 0 s")
            if self.p95 is None or not math.isfinite(self.p95) or self.p95 < self.median:
                raise ValueError(f"a lognormal latency needs a p95 >= its median ({self.median} s), not {self.p95!r}")

    @property
    def sigma(self) -> float:
        """Shape of the lognormal: ln(p95 / median) / z(0.95); 0 for a fixed model."""
        if self.kind == "fixed" or self.p95 is None:
            return 0.0
        return math.log(self.p95 / self.median) / Z95

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds."""
        if self.kind == "fixed" or self.sigma == 0.0:
            return self.median
        return rng.lognormvariate(math.log(self.median), self.sigma)

    @classmethod
    def parse(cls, spec: Any) -> LatencyModel:
        """From a number (fixed seconds), ``"fixed:0.3"``, ``"lognormal:0.3:0.8"`` or a dict of the fields."""
        if isinstance(spec, LatencyModel):
            return spec
        if isinstance(spec, bool):
            raise ValueError(f"not a latency: {spec!r}")
        if isinstance(spec, int | float):
            return cls("fixed", float(spec))
        if isinstance(spec, dict):
            return cls(**spec)
        if isinstance(spec, str):
            kind, _, rest = spec.partition(":")
            try:
                numbers = [float(x) for x in rest.split(":")] if rest else []
            except ValueError:
                raise ValueError(f"latency {spec!r}: expected fixed:SECONDS or lognormal:MEDIAN:P95") from None
            if kind == "fixed" and len(numbers) == 1:
                return cls("fixed", numbers[0])
            if kind == "lognormal" and len(numbers) == 2:
                return cls("lognormal", numbers[0], numbers[1])
            raise ValueError(f"latency {spec!r}: expected fixed:SECONDS or lognormal:MEDIAN:P95")
        raise ValueError(f"not a latency: {spec!r}")


@dataclass(frozen=True)
class Profile:
    """A system's latency for reads (GET) and writes (everything else)."""

    read: LatencyModel
    write: LatencyModel

    def model(self, method: str) -> LatencyModel:
        return self.read if method.upper() in READ_METHODS else self.write


def _ln(median_ms: float, p95_ms: float) -> LatencyModel:
    return LatencyModel("lognormal", median_ms / 1000, p95_ms / 1000)


DEFAULT_PROFILES: dict[str, Profile] = {
    # Reasoning and sources: docs/sandbox.md, "Latency".
    "notion": Profile(read=_ln(300, 800), write=_ln(450, 1200)),
    "trello": Profile(read=_ln(150, 400), write=_ln(300, 700)),
    "airtable": Profile(read=_ln(200, 500), write=_ln(300, 800)),
    "sheets": Profile(read=_ln(200, 500), write=_ln(350, 900)),
}
"""Realistic defaults per system (the `latency()` of an emulator with no model given)."""


class LatencyInjector:
    """Draws and waits out each request's latency for one emulator (off until `set`)."""

    def __init__(
        self,
        clock: Clock,
        system: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._system = system
        self._sleep = sleep
        self._lock = threading.Lock()
        self.clear()

    @property
    def enabled(self) -> bool:
        return self.profile is not None

    def set(
        self,
        enabled: bool = True,
        read: Any = None,
        write: Any = None,
        seed: int | None = None,
        mode: str = "real",
        compression: float = 100.0,
    ) -> None:
        """Switch latency on with this system's defaults, or `read` / `write` models (see `LatencyModel.parse`).

        ``mode="virtual"`` moves the shared clock instead of sleeping the whole delay (``compression``:
        how many times shorter the real sleep is; it is what lets concurrent requests overlap).
        """
        if mode not in MODES:
            raise ValueError(f"latency mode must be one of {MODES}, not {mode!r}")
        if not (math.isfinite(compression) and compression >= 1):
            raise ValueError(f"latency compression must be >= 1, not {compression!r}")
        if not enabled:
            self.clear()
            return
        default = DEFAULT_PROFILES.get(self._system, Profile(LatencyModel(), LatencyModel()))
        profile = Profile(
            read=LatencyModel.parse(read) if read is not None else default.read,
            write=LatencyModel.parse(write) if write is not None else default.write,
        )
        with self._lock:
            self.profile: Profile | None = profile
            self.seed = seed
            self._random = random.Random(seed)
            self.mode = mode
            self.compression = float(compression)

    def configure(self, settings: dict[str, Any]) -> None:
        """`set` from a JSON object (the body of POST /_sandbox/latency)."""
        self.set(**settings)

    def clear(self) -> None:
        """Latency off."""
        with self._lock:
            self.profile = None
            self.seed = None
            self._random = random.Random()
            self.mode = "real"
            self.compression = 100.0
            self.total = 0.0
            self.count = 0

    def draw(self, method: str) -> float:
        """The next delay for a request of `method` (0 when off); the seeded sequence is per emulator."""
        with self._lock:
            if self.profile is None:
                return 0.0
            delay = self.profile.model(method).sample(self._random)
            self.total += delay
            self.count += 1
            return delay

    def wait(self, method: str, time_scale: float = 1.0) -> float:
        """Wait out one request's latency; returns how far it moved the shared clock (virtual mode)."""
        delay = self.draw(method)
        if delay <= 0:
            return 0.0
        if self.mode == "real":
            self._sleep(delay / max(time_scale, 1e-9))
            return 0.0
        start = self._clock.time()
        self._sleep(delay / self.compression)
        return self._clock.advance_to(start + delay)

    def describe(self) -> dict[str, Any]:
        """JSON-able view of the settings and what was drawn so far."""
        with self._lock:
            profile = self.profile
            return {
                "enabled": profile is not None,
                "read": vars(profile.read) if profile else None,
                "write": vars(profile.write) if profile else None,
                "seed": self.seed,
                "mode": self.mode,
                "compression": self.compression,
                "requests": self.count,
                "total_s": round(self.total, 6),
            }


def latency_settings(spec: str | None, seed: int | None = None, **extra: Any) -> dict[str, Any] | None:
    """`Sandbox.latency` keyword arguments for a command line's latency value: ``realistic`` (each
    system's defaults), ``fixed:SECONDS`` or ``lognormal:MEDIAN:P95`` (both reads and writes);
    None, "" or "off": no latency. `extra` (e.g. ``mode="virtual"``) is passed along."""
    if spec is None or spec.strip().lower() in ("", "off", "none", "0"):
        return None
    if spec.strip().lower() == "realistic":
        return {"seed": seed, **extra}
    model = LatencyModel.parse(spec.strip())
    return {"seed": seed, "read": model, "write": model, **extra}
