"""The shared emulator framework: fault kinds, seeding, filters, control endpoints, limiter, Sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
import requests

from sandbox import Clock, Emulator, RateLimiter, Sandbox, json_response
from sandbox.common import Request, Response, Rule


class Counter(Emulator):
    """A tiny emulator: POST /v1/hit increments a counter and returns it."""

    name = "counter"

    def routes(self) -> list[Rule]:
        return [Rule("/v1/hit", endpoint="hit", methods=["GET", "POST"])]

    def reset_data(self) -> None:
        self.hits = 0

    def hit(self, request: Request) -> Response:
        self.hits += 1
        return json_response({"hits": self.hits, "padding": "x" * 64})


@pytest.fixture(scope="module")
def _server() -> Iterator[Counter]:
    emulator = Counter().start()
    yield emulator
    emulator.stop()


@pytest.fixture
def emu(_server: Counter) -> Counter:
    _server.reset()
    return _server


def post(emu: Counter, timeout: float = 5) -> requests.Response:
    return requests.post(emu.url + "/v1/hit", timeout=timeout)


def test_answers_are_dated_by_the_sandbox_clock(emu: Counter) -> None:
    emu.clock.advance(3 * 3600)
    try:
        dated = parsedate_to_datetime(post(emu).headers["Date"])
    finally:
        emu.clock.advance(-3 * 3600)
    assert abs(dated.timestamp() - (time.time() + 3 * 3600)) < 5
    assert "," not in post(emu).headers["Date"][5:]  # one Date header, not the server's as well


@pytest.mark.parametrize(("kind", "applied"), [("drop", 0), ("lost_response", 1)])
def test_dropped_connections_apply_the_write_only_for_lost_response(emu: Counter, kind: str, applied: int) -> None:
    emu.faults.next(kind)
    with pytest.raises(requests.ConnectionError):
        post(emu)
    assert emu.hits == applied
    assert emu.faults.counts[kind] == 1


def test_truncated_response_is_applied_but_cut_short(emu: Counter) -> None:
    emu.faults.next("truncated")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post(emu)
    assert emu.hits == 1


def test_malformed_response_is_200_with_a_body_that_is_not_json(emu: Counter) -> None:
    emu.faults.next("malformed")
    response = post(emu)
    assert response.status_code == 200
    with pytest.raises(ValueError, match="Expecting"):
        response.json()
    assert emu.hits == 1


@pytest.mark.parametrize("kind", ["429", "500", "502", "503"])
def test_error_faults_answer_the_status_without_applying(emu: Counter, kind: str) -> None:
    emu.faults.next(kind)
    assert post(emu).status_code == int(kind)
    assert emu.hits == 0
    assert post(emu).status_code == 200


def test_timeout_fault_sleeps_then_applies(emu: Counter) -> None:
    emu.faults.set(rate=1.0, kinds=("timeout",), timeout_sleep=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(emu, timeout=0.1)
    emu.faults.clear()
    time.sleep(0.4)  # the server finishes the slow request after the client gave up
    assert emu.hits == 1


def test_same_seed_gives_the_same_fault_sequence(emu: Counter) -> None:
    def sequence() -> list[int]:
        emu.faults.set(rate=0.5, kinds=("500", "503"), seed=42)
        return [requests.get(emu.url + "/v1/hit", timeout=5).status_code for _ in range(12)]

    first, second = sequence(), sequence()
    assert first == second
    assert {500, 503, 200} <= set(first) | {200}
    assert any(s != 200 for s in first)


def test_method_and_path_filters_limit_where_faults_apply(emu: Counter) -> None:
    emu.faults.set(rate=1.0, kinds=("500",), methods=["POST"])
    assert requests.get(emu.url + "/v1/hit", timeout=5).status_code == 200
    assert post(emu).status_code == 500
    emu.faults.set(rate=1.0, kinds=("500",), paths=["/v2/*"])
    assert post(emu).status_code == 200


def test_unknown_fault_kind_is_rejected(emu: Counter) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        emu.faults.set(rate=0.1, kinds=("explode",))


def test_control_endpoints_drive_faults_stats_clock_and_reset(emu: Counter) -> None:
    control = emu.root_url + "/_sandbox"
    assert requests.post(control + "/faults", json={"next": [{"kind": "503", "n": 2}]}, timeout=5).ok
    assert [post(emu).status_code for _ in range(3)] == [503, 503, 200]
    stats = requests.get(control + "/stats", timeout=5).json()
    assert stats["requests"] == 3
    assert stats["responses_by_status"] == {"200": 1, "503": 2}
    assert stats["faults"]["counts"] == {"503": 2}
    before = emu.clock.time()
    requests.post(control + "/clock", json={"advance": 120}, timeout=5)
    assert emu.clock.time() - before >= 120
    requests.post(control + "/reset", timeout=5)
    assert emu.hits == 0
    assert emu.request_count() == 0
    assert requests.post(control + "/nope", timeout=5).status_code == 404


def test_request_log_counts_by_method_and_prefix(emu: Counter) -> None:
    post(emu)
    requests.get(emu.url + "/v1/hit", timeout=5)
    requests.get(emu.url + "/other", timeout=5)
    assert emu.requests == [("POST", "/v1/hit"), ("GET", "/v1/hit"), ("GET", "/other")]
    assert emu.request_count("GET") == 2
    assert emu.request_count(path_prefix="/v1/") == 2
    assert emu.request_count("POST", "/v1/") == 1


def test_token_bucket_refills_with_the_clock() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert [limiter.token_bucket("k", rate=1.0, burst=2).allowed for _ in range(3)] == [True, True, False]
    clock.advance(1)
    assert limiter.token_bucket("k", rate=1.0, burst=2).allowed


def test_window_retry_after_is_divided_by_time_scale() -> None:
    clock = Clock()
    limiter = RateLimiter(clock, per_window=1)
    limiter.configure(time_scale=10)
    limiter.window("k", limit=1, seconds=10)
    denied = limiter.window("k", limit=1, seconds=10)
    assert not denied.allowed
    assert 0 < denied.retry_after <= 1.0


def test_unknown_rate_limit_parameter_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown rate-limit"):
        RateLimiter(Clock(), rps=3).configure(rsp=3)


def test_sandbox_starts_emulators_sharing_one_clock_and_exports_env() -> None:
    with Sandbox.start(only=("notion", "trello")) as sb:
        assert sb.notion.clock is sb.trello.clock is sb.clock
        assert sb.trello.url.endswith("/1")
        env = sb.env()
        assert env["LEADSYNC_NOTION_BASE_URL"] == sb.notion.url
        assert env["LEADSYNC_TRELLO_BASE_URL"] == sb.trello.url
        sb.clock.advance(60)
        sb.trello.create_board()
        sb.reset()
        assert sb.clock.offset == 0
        assert sb.trello.stats()["data"]["boards"] == 0
        url = sb.notion.url
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/v1/pages/x", timeout=2)
