"""The benchmark's stand-in for one Lambda container: a separate process running the real handler.

``infra/bench.py`` starts it with the Lambda's environment and talks to it in JSON lines
(commands on stdin, answers on the original stdout; everything the handler prints goes to
/dev/null, as its logs would go to CloudWatch). Running the product in its own process keeps
its CPU time and peak RSS apart from the emulators and moto, which live in the bench process.

Clocks (rate-limited runs). The product's waits must line up with the sandbox's rate-limit
windows, and a run of 10,000 leads must not take hours. Two modes, chosen per ``limits`` command:

- ``virtual`` (default): waits are skipped. Every rate-limit bucket the product creates, its
  retry backoff, the Lambda context and the invocation's ``Deadline`` run on
  ``time.monotonic() + skipped``; a wait adds its length to ``skipped`` and moves the sandbox's
  shared clock forward by the same amount (``POST /_sandbox/clock``), so the emulators' windows
  see that time pass. Simulated time = real compute and I/O time + skipped waits.
- ``scaled``: the sandbox runs its windows ``scale`` times faster (its ``time_scale``) and the
  product's buckets, context and deadline run on ``time.monotonic() * scale``, sleeping
  ``1 / scale`` of each bucket wait. Compute is sped up too in simulated terms (x ``scale``).

The product code is not changed; only those clocks are swapped (google-auth's included), and the
DynamoDB client's read timeout is lifted for moto (``_lift_dynamodb_read_timeout``).

Commands::

    {"cmd": "limits", "clock": "virtual", "scale": 1, "enabled": true}
    {"cmd": "invoke", "offset": 120.0, "timeout": 55, "trace": false}
    {"cmd": "exit"}
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "infra"), str(ROOT)]

UNLIMITED_RATE = 1e9


class SimClock:
    """The product's notion of time in this process (see the module docstring)."""

    def __init__(self, clock_url: str | None) -> None:
        self.mode = "virtual"
        self.scale = 1.0
        self.skipped = 0.0  # seconds of waits skipped so far (virtual mode)
        self._clock_url = clock_url
        self._session = requests.Session()
        self._lock = threading.Lock()

    def now(self) -> float:
        """Simulated seconds (monotonic)."""
        return time.monotonic() * self.scale + self.skipped

    def sleep(self, seconds: float) -> None:
        """A wait of ``seconds`` simulated seconds.

        Virtual: the clock moves to the end of this wait unless another thread's wait already took
        it there: waits that overlap (the concurrent apply's threads waiting on one rate-limit bucket,
        each for its own token) move the clock once, to the latest end, not by their sum.
        """
        if seconds <= 0:
            return
        if self.mode == "scaled":
            time.sleep(seconds / self.scale)
            return
        end = self.now() + seconds
        with self._lock:
            advance = end - self.now()
            if advance <= 0:
                return
            self.skipped += advance
            if self._clock_url:
                self._session.post(self._clock_url, json={"advance": advance}, timeout=10).raise_for_status()


CLOCK = SimClock(os.environ.get("BENCH_SANDBOX_CLOCK_URL"))
_dynamo: Counter[str] = Counter()
_offset_base = 0.0  # sandbox clock offset minus the waits skipped before this invocation


def clock() -> float:
    return CLOCK.now()


def sleep(seconds: float) -> None:
    CLOCK.sleep(seconds)


class SimContext:
    """Lambda's context whose countdown runs in simulated seconds."""

    function_name = "leadsync-bench-SyncFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:leadsync-bench-SyncFunction"

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._timeout = timeout_seconds
        self._started = clock()

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._timeout - (clock() - self._started)) * 1000))


def _patch_clocks() -> None:
    """Deadlines from the Lambda context, new rate-limit buckets and transport retries use CLOCK."""
    from leadsync.connectors import http, ratelimit
    from leadsync.connectors.deadline import Deadline

    def from_lambda_context(cls: type[Deadline], context: Any, *, margin_seconds: float = 10.0, clock: Any = None):
        remaining = context.get_remaining_time_in_millis() / 1000.0 - margin_seconds
        return cls(CLOCK.now() + max(0.0, remaining), clock=globals()["clock"])

    Deadline.from_lambda_context = classmethod(from_lambda_context)  # type: ignore[method-assign,assignment]
    for function, names in ((ratelimit.shared_limiter, ("clock", "sleep")), (http.Transport.__init__, ("sleep",))):
        defaults = function.__kwdefaults__
        if defaults is None or any(name not in defaults for name in names):
            raise RuntimeError(f"{function.__qualname__} no longer takes {names}; the bench cannot steer its clock")
        defaults.update({name: globals()[name] for name in names})


def _lift_dynamodb_read_timeout() -> None:
    """moto answers a 1 MB Query page (about 5,000 links) in ~6.5 s here, DynamoDB in well under a
    second: close to the product's 10 s read timeout, so on a busy machine a sweep's page timed out
    and was sent again (a 10,000-lead sweep took 50 s instead of 19, or failed). 60 s for moto."""
    from botocore.config import Config

    from leadsync.state import dynamodb

    if getattr(dynamodb, "Config", None) is not Config:
        raise RuntimeError("leadsync.state.dynamodb no longer builds its client Config; update the bench")

    def lifted(**options: Any) -> Config:
        return Config(**{**options, "read_timeout": 60})

    setattr(dynamodb, "Config", lifted)  # noqa: B010 - a module attribute swapped on purpose


def _count_dynamodb() -> None:
    """Count every DynamoDB API call the process makes, by operation (whatever code makes it)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counting(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            _dynamo[operation_name] += 1
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counting  # type: ignore[method-assign]


_ORIGINAL_LIMITS: dict[str, Any] = {}


def configure_limits(mode: str, scale: float, enabled: bool) -> dict[str, Any]:
    """Forget every bucket; new ones get the documented limits (or none) on the chosen clock."""
    from leadsync.connectors import ratelimit

    if mode not in ("virtual", "scaled"):
        raise ValueError(f"unknown clock mode {mode!r}")
    if not _ORIGINAL_LIMITS:
        _ORIGINAL_LIMITS.update(ratelimit.DEFAULT_LIMITS)
    # keep simulated time continuous across the switch
    now = CLOCK.now()
    CLOCK.mode, CLOCK.scale = mode, float(scale) if mode == "scaled" else 1.0
    CLOCK.skipped += now - CLOCK.now()
    for system, limit in _ORIGINAL_LIMITS.items():
        ratelimit.DEFAULT_LIMITS[system] = limit if enabled else ratelimit.Limit(UNLIMITED_RATE, UNLIMITED_RATE)
    ratelimit.reset_shared_limiters()
    return {
        "clock": mode,
        "scale": CLOCK.scale,
        "limits": {k: [v.rate, v.burst] for k, v in ratelimit.DEFAULT_LIMITS.items()},
    }


def _reset_peak_rss() -> bool:
    """Start a new RSS high-water mark (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_kb() -> int:
    """This process's RSS high-water mark (``VmHWM``). Not ``ru_maxrss``: after fork + exec that
    also holds the parent's size at the fork (Linux keeps the old memory map's peak on exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def invoke(handler: Any, event: dict[str, Any], timeout: float, trace: bool) -> dict[str, Any]:
    """One scheduled invocation, measured: wall, simulated time, CPU, DynamoDB calls, memory."""
    _dynamo.clear()
    per_cycle = _reset_peak_rss()
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    context = SimContext(timeout)
    skipped0, sim0 = CLOCK.skipped, CLOCK.now()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    error = None
    try:
        result = handler(event, context)
    except Exception as exc:  # reported; the bench decides what to do
        result, error = {}, f"{type(exc).__name__}: {exc}"
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "result": result,
        "error": error,
        "wall": wall,
        "simulated": CLOCK.now() - sim0,
        "skipped": CLOCK.skipped - skipped0,
        "cpu": cpu,
        "dynamodb": dict(_dynamo),
        "maxrss_kb": _peak_rss_kb(),
        "rss_per_cycle": per_cycle,
        "traced_peak": peak,
        "clock_ok": _buckets_on_clock(),
    }


def _buckets_on_clock() -> bool:
    from leadsync.connectors import ratelimit

    return all(b._clock is clock for b in ratelimit._REGISTRY.values())


def main() -> int:
    global _offset_base
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    _count_dynamodb()
    _patch_clocks()
    _lift_dynamodb_read_timeout()
    import google.auth._helpers as google_helpers

    import leadsync.engine
    from handlers.scheduled_sync import handler

    # The engine's "now" is the sandbox's clock: its offset at the start of the invocation plus
    # the waits skipped since (each of which moved the sandbox clock too).
    leadsync.engine.utcnow = lambda: datetime.now(UTC) + timedelta(seconds=_offset_base + CLOCK.skipped)
    # google-auth dates its token requests and judges its tokens' expiry by its own clock: the
    # sandbox's too, or a run hours ahead in simulated time would sign assertions from the past.
    google_helpers.utcnow = lambda: leadsync.engine.utcnow().replace(tzinfo=None)
    event = json.loads((ROOT / "infra/events/scheduled.json").read_text())
    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "exit":
            break
        if command["cmd"] == "limits":
            answer = configure_limits(command.get("clock", "virtual"), command.get("scale", 1.0), command["enabled"])
        elif command["cmd"] == "invoke":
            offset = float(command.get("offset", 0.0))
            if CLOCK.mode == "virtual":
                # One clock for every worker of a run: the sandbox's (every skipped wait moved it too, and
                # so did the minutes between ticks). A fresh worker would otherwise start behind the last
                # one, and a rate budget it shares through DynamoDB would look hundreds of seconds ahead.
                CLOCK.skipped = max(CLOCK.skipped, offset)
            _offset_base = offset - CLOCK.skipped
            answer = invoke(handler, event, float(command.get("timeout", 55.0)), bool(command.get("trace")))
        else:
            answer = {"error": f"unknown command {command['cmd']!r}"}
        protocol.write(json.dumps(answer, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
