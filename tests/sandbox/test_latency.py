"""Sandbox latency: the models' shapes, seeded repeatability, and virtual waits that overlap."""

from __future__ import annotations

import math
import random
import statistics
import threading
from collections.abc import Iterator

import pytest
import requests

from sandbox import Clock, Emulator, json_response
from sandbox.common import Request, Response, Rule
from sandbox.latency import DEFAULT_PROFILES, LatencyInjector, LatencyModel, latency_settings


class Echo(Emulator):
    name = "trello"  # takes Trello's default profile

    def routes(self) -> list[Rule]:
        return [Rule("/1/echo", endpoint="echo", methods=["GET", "POST"])]

    def echo(self, request: Request) -> Response:
        return json_response({"ok": True})


@pytest.fixture(scope="module")
def _server() -> Iterator[Echo]:
    emulator = Echo().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emu(_server: Echo) -> Echo:
    _server.reset()
    _server.clock.reset()
    return _server


def test_fixed_model_always_answers_its_value() -> None:
    model = LatencyModel.parse("fixed:0.25")
    rng = random.Random(1)
    assert {model.sample(rng) for _ in range(50)} == {0.25}


def test_lognormal_model_has_the_median_and_p95_it_was_given() -> None:
    model = LatencyModel.parse("lognormal:0.3:0.8")
    rng = random.Random(7)
    draws = sorted(model.sample(rng) for _ in range(20_000))
    assert statistics.median(draws) == pytest.approx(0.3, rel=0.05)
    assert draws[int(0.95 * len(draws))] == pytest.approx(0.8, rel=0.07)
    assert min(draws) > 0


def test_same_seed_same_delays_different_seed_different_delays() -> None:
    def draws(seed: int) -> list[float]:
        injector = LatencyInjector(Clock(), "notion")
        injector.set(seed=seed)
        return [injector.draw(m) for m in ("GET", "POST", "PATCH") * 20]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)


def test_reads_and_writes_use_the_system_defaults() -> None:
    injector = LatencyInjector(Clock(), "trello")
    injector.set(seed=1)
    reads = [injector.draw("GET") for _ in range(2000)]
    writes = [injector.draw("POST") for _ in range(2000)]
    assert statistics.median(reads) == pytest.approx(DEFAULT_PROFILES["trello"].read.median, rel=0.1)
    assert statistics.median(writes) == pytest.approx(DEFAULT_PROFILES["trello"].write.median, rel=0.1)


@pytest.mark.parametrize(
    "spec", ["lognormal:0.3", "lognormal:0.5:0.2", "fixed:-1", "fixed:x", "gamma:1:2", True, "fixed:nan"]
)
def test_bad_latency_settings_are_refused_with_the_value(spec: object) -> None:
    with pytest.raises(ValueError, match=r"latency|median|p95"):
        LatencyModel.parse(spec)


def test_off_by_default_and_cleared_by_reset(emu: Echo) -> None:
    assert not emu.latency.enabled
    assert emu.latency.draw("GET") == 0.0
    emu.latency.set(read="fixed:0.5")
    emu.reset()
    assert not emu.latency.enabled


def _barrier_sleep(parties: int) -> tuple[LatencyInjector, Clock]:
    """An injector whose 'sleep' returns only once `parties` waits have started: they truly overlap."""
    barrier = threading.Barrier(parties, timeout=10)
    clock = Clock()
    injector = LatencyInjector(clock, "trello", sleep=lambda _s: barrier.wait())
    injector.set(read="fixed:0.3", write="fixed:0.3", mode="virtual")
    return injector, clock


def test_concurrent_virtual_waits_overlap_instead_of_adding_up() -> None:
    injector, clock = _barrier_sleep(4)
    threads = [threading.Thread(target=injector.wait, args=("POST",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 0.29 <= clock.offset <= 0.31  # one 300 ms step, not four


def test_sequential_virtual_waits_add_up_and_report_the_step() -> None:
    clock = Clock()
    injector = LatencyInjector(clock, "trello", sleep=lambda _s: None)
    injector.set(read="fixed:0.3", write="fixed:0.3", mode="virtual")
    steps = [injector.wait("GET") for _ in range(5)]
    assert all(0.29 <= s <= 0.3 for s in steps)
    assert clock.offset == pytest.approx(1.5, abs=0.01)


def test_virtual_mode_sleeps_only_the_compressed_delay() -> None:
    slept: list[float] = []
    injector = LatencyInjector(Clock(), "trello", sleep=slept.append)
    injector.set(write="fixed:0.4", mode="virtual", compression=200)
    injector.wait("POST")
    assert slept == [pytest.approx(0.002)]
    injector.set(write="fixed:0.4", mode="real")
    injector.wait("POST", time_scale=4)
    assert slept[-1] == pytest.approx(0.1)


def test_virtual_latency_over_http_moves_the_clock_and_says_so(emu: Echo) -> None:
    emu.latency.set(read="fixed:2", write="fixed:2", mode="virtual", compression=1000)
    answer = requests.get(emu.url + "/1/echo", timeout=5)
    assert answer.ok
    offset = float(answer.headers["x-sandbox-clock-offset"])
    assert 1.99 <= offset <= 2.0
    assert offset == pytest.approx(emu.clock.offset)
    assert emu.stats()["latency"]["requests"] == 1


def test_latency_control_endpoint_switches_it_on_and_refuses_nonsense(emu: Echo) -> None:
    ok = requests.post(emu.root_url + "/_sandbox/latency", json={"seed": 5, "write": "fixed:0.01"}, timeout=5)
    assert ok.json()["latency"]["write"] == {"kind": "fixed", "median": 0.01, "p95": None}
    bad = requests.post(emu.root_url + "/_sandbox/latency", json={"mode": "warp"}, timeout=5)
    assert bad.status_code == 400
    assert "warp" in bad.json()["error"]


def test_cli_latency_spec() -> None:
    assert latency_settings(None) is None
    assert latency_settings("off") is None
    assert latency_settings("realistic", 2) == {"seed": 2}
    settings = latency_settings("lognormal:0.2:0.6")
    assert settings is not None
    assert settings["read"] == LatencyModel("lognormal", 0.2, 0.6)
    assert math.isclose(settings["write"].sigma, math.log(3) / 1.6448536269514722)
