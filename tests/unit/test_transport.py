"""The shared HTTP transport against a scripted local HTTP server (no internet)."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from leadsync.connectors.deadline import Deadline
from leadsync.connectors.http import (
    Transport,
    api_error_message,
    parse_http_date,
    parse_retry_after,
    path,
    segment,
    shared_session,
    with_record_context,
)
from leadsync.connectors.ratelimit import Limit, TokenBucket
from leadsync.errors import ApiError, DeadlineExceeded, NotFound, RateLimited, RetryableError

SECRET = "sekret-token-123"


@dataclass
class Reply:
    status: int = 200
    body: str | bytes = '{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    action: str = ""  # "drop": close without answering; "sleep:<s>": answer late


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Answers each request with the next scripted reply (the last one repeats)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                reply = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                if reply.action == "drop":
                    self.close_connection = True
                    return
                if reply.action.startswith("sleep:"):
                    time.sleep(float(reply.action.split(":")[1]))
                data = reply.body.encode() if isinstance(reply.body, str) else reply.body
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.stop()


@pytest.fixture
def srv(server: ScriptedServer) -> ScriptedServer:
    server.script = [Reply()]
    server.seen = []
    return server


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def make(srv: ScriptedServer, fake: FakeTime, **kw: object) -> Transport:
    options: dict[str, object] = {
        "auth_headers": {"Authorization": f"Bearer {SECRET}"},
        "sleep": fake.sleep,
        "rng": random.Random(7),
        "session": requests.Session(),
        "timeout": 2.0,
    }
    options.update(kw)
    return Transport("notion", srv.url, **options)  # type: ignore[arg-type]


def notion_error(status: int, code: str, message: str) -> str:
    return json.dumps({"object": "error", "status": status, "code": code, "message": message})


# -- success path -------------------------------------------------------------------------------


def test_returns_parsed_json_and_sends_credentials_only_in_headers(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(body='{"results": [1, 2]}')]
    t = make(srv, fake)
    assert t.request("GET", "/v1/pages/abc", params={"x": "1"}) == {"results": [1, 2]}
    (seen,) = srv.seen
    assert seen.path == "/v1/pages/abc?x=1"
    assert SECRET not in seen.path
    assert seen.headers["Authorization"] == f"Bearer {SECRET}"
    assert t.stats.requests == 1
    assert t.stats.retries == 0


def test_sends_json_body_as_utf8(srv: ScriptedServer, fake: FakeTime) -> None:
    make(srv, fake).request("POST", "/v1/pages", json={"name": "Zoë 🚀 שלום"})
    assert json.loads(srv.seen[0].body) == {"name": "Zoë 🚀 שלום"}


def test_plain_text_body_is_returned_as_text_and_empty_as_none(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(body="ok", headers={"Content-Type": "text/plain"}), Reply(body="")]
    t = make(srv, fake)
    assert t.request("GET", "/a") == "ok"
    assert t.request("GET", "/b") is None


# -- retries ------------------------------------------------------------------------------------


def test_429_waits_exactly_retry_after_then_succeeds(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [
        Reply(429, notion_error(429, "rate_limited", "slow down"), {"Retry-After": "2"}),
        Reply(body='{"done": 1}'),
    ]
    t = make(srv, fake)
    assert t.request("GET", "/v1/x") == {"done": 1}
    assert fake.slept == [2.0]
    assert (t.stats.requests, t.stats.throttled, t.stats.retries, t.stats.errors) == (2, 1, 1, 0)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
def test_server_errors_are_retried(srv: ScriptedServer, fake: FakeTime, status: int) -> None:
    srv.script = [Reply(status, "oops", {"Content-Type": "text/plain"}), Reply()]
    t = make(srv, fake)
    assert t.request("GET", "/x") == {"ok": True}
    assert len(srv.seen) == 2
    assert t.stats.throttled == 0
    assert t.stats.retries == 1


def test_non_idempotent_post_is_retried_on_503(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(503, "busy"), Reply(body='{"id": "p1"}')]
    assert make(srv, fake).request("POST", "/v1/pages", json={}) == {"id": "p1"}
    assert [s.method for s in srv.seen] == ["POST", "POST"]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_create_answered_with_an_ambiguous_5xx_is_not_retried(
    srv: ScriptedServer, fake: FakeTime, status: int
) -> None:
    srv.script = [Reply(status, "proxy error", {"Content-Type": "text/plain"}), Reply(body='{"id": "dup"}')]
    with pytest.raises(RetryableError, match="may have been applied"):
        make(srv, fake).request("POST", "/1/cards", json={"name": "Ada"})
    assert len(srv.seen) == 1, "a second POST could create a second card"


@pytest.mark.parametrize("action", ["drop", "sleep:0.6"])
def test_a_create_whose_answer_is_lost_is_not_retried(srv: ScriptedServer, fake: FakeTime, action: str) -> None:
    srv.script = [Reply(action=action), Reply(body='{"id": "dup"}')]
    with pytest.raises(RetryableError, match="may have been applied"):
        make(srv, fake, timeout=0.2).request("POST", "/1/cards", json={"name": "Ada"})
    assert len(srv.seen) == 1


def test_a_throttled_create_is_retried_because_it_was_refused(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(429, '{"error":"API_TOKEN_LIMIT_EXCEEDED"}', {"Retry-After": "1"}), Reply(body='{"id": "c1"}')]
    assert make(srv, fake).request("POST", "/1/cards", json={"name": "Ada"}) == {"id": "c1"}
    assert len(srv.seen) == 2


def test_backoff_is_full_jitter_below_an_exponential_ceiling(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(500, "x")] * 5 + [Reply()]
    t = make(srv, fake, max_attempts=6, backoff_base=0.5, backoff_cap=3.0)
    t.request("GET", "/x")
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]
    assert len(fake.slept) == 5
    assert all(0 <= s <= c for s, c in zip(fake.slept, ceilings, strict=True))
    assert len(set(fake.slept)) == 5  # jittered, not constant


def test_exhausted_attempts_raise_retryable_error(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(503, notion_error(503, "service_unavailable", "down"))]
    t = make(srv, fake, max_attempts=3)
    with pytest.raises(RetryableError, match="no attempts left") as info:
        t.request("GET", "/v1/x")
    assert not isinstance(info.value, RateLimited)
    assert len(srv.seen) == 3
    assert t.stats.errors == 1
    assert t.stats.retries == 2


def test_persistent_429_raises_rate_limited(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(429, notion_error(429, "rate_limited", "slow"), {"Retry-After": "1"})]
    t = make(srv, fake, max_attempts=3)
    with pytest.raises(RateLimited):
        t.request("GET", "/v1/x")
    assert t.stats.throttled == 3


def test_retry_after_past_the_deadline_raises_without_sleeping(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(429, '{"error":{"type":"RATE","message":"wait"}}', {"Retry-After": "30"})]
    t = make(srv, fake, deadline=Deadline.in_seconds(10, clock=fake.clock))
    with pytest.raises(RateLimited, match="deadline"):
        t.request("GET", "/v0/app/tbl")
    assert fake.slept == []
    assert len(srv.seen) == 1


def test_backoff_never_sleeps_past_the_deadline(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(500, "x")]
    t = make(srv, fake, deadline=Deadline.in_seconds(3, clock=fake.clock), max_attempts=50, backoff_cap=2.0)
    with pytest.raises(RetryableError, match="deadline"):
        t.request("GET", "/x")
    assert sum(fake.slept) <= 3.0


def test_expired_deadline_sends_nothing(srv: ScriptedServer, fake: FakeTime) -> None:
    t = make(srv, fake, deadline=Deadline.in_seconds(0, clock=fake.clock))
    with pytest.raises(DeadlineExceeded):
        t.request("GET", "/x")
    assert srv.seen == []


def test_a_token_wait_that_uses_up_the_deadline_sends_nothing(srv: ScriptedServer, fake: FakeTime) -> None:
    """A wait for a (shared) token may end at the deadline: no request with a zero timeout follows."""
    bucket = TokenBucket(Limit(1.0, 1.0), clock=fake.clock, sleep=fake.sleep)
    bucket.pause(2.0)
    t = make(srv, fake, deadline=Deadline.in_seconds(2.0, clock=fake.clock), rate_limiter=bucket)
    with pytest.raises(DeadlineExceeded, match="waiting for the rate limit"):
        t.request("GET", "/x")
    assert srv.seen == []


def test_dropped_connection_is_retried(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(action="drop"), Reply(body='{"n": 2}')]
    t = make(srv, fake)
    assert t.request("GET", "/x") == {"n": 2}
    assert t.stats.retries == 1


def test_a_service_that_cannot_be_reached_is_named_by_its_base_url(srv: ScriptedServer, fake: FakeTime) -> None:
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    t = make(srv, fake, max_attempts=2)
    t.base_url = url
    with pytest.raises(RetryableError, match=f"could not reach {url}: is it up, and is its base URL setting right"):
        t.request("GET", "/v1/databases/abc")


def test_read_timeout_is_retried(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(action="sleep:0.6"), Reply(body='{"n": 3}')]
    t = make(srv, fake, timeout=0.2)
    assert t.request("GET", "/x") == {"n": 3}
    assert t.stats.retries == 1


def test_malformed_json_is_retried_on_reads(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(body='{"results": [1, '), Reply(body='{"results": []}')]
    assert make(srv, fake).request("GET", "/x") == {"results": []}
    assert len(srv.seen) == 2


def test_malformed_json_is_retried_on_a_post_marked_idempotent(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(body="{oops"), Reply(body='{"results": []}')]
    assert make(srv, fake).request("POST", "/v1/q", json={}, idempotent=True) == {"results": []}


def test_malformed_json_after_a_create_is_not_retried(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(body='{"id": "p'), Reply(body='{"id": "p2"}')]
    with pytest.raises(RetryableError, match="non-idempotent"):
        make(srv, fake).request("POST", "/v1/pages", json={})
    assert len(srv.seen) == 1


# -- errors -------------------------------------------------------------------------------------


def test_404_raises_not_found_without_retry(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(404, notion_error(404, "object_not_found", "Could not find page"))]
    t = make(srv, fake)
    with pytest.raises(NotFound, match="object_not_found: Could not find page"):
        t.request("GET", "/v1/pages/abc")
    assert len(srv.seen) == 1
    assert t.stats.errors == 0


def test_4xx_raises_api_error_with_the_service_message(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(400, notion_error(400, "validation_error", "Status is not a valid option"))]
    t = make(srv, fake)
    with pytest.raises(ApiError) as info:
        t.request("PATCH", "/v1/pages/abc", json={})
    err = info.value
    assert (err.system, err.status, err.method, err.path) == ("notion", 400, "PATCH", "/v1/pages/abc")
    assert "validation_error: Status is not a valid option" in str(err)
    assert not isinstance(err, NotFound)
    assert len(srv.seen) == 1
    assert t.stats.errors == 1


def test_a_refused_credential_names_the_setting_to_check_and_never_the_secret(
    srv: ScriptedServer, fake: FakeTime
) -> None:
    srv.script = [Reply(401, notion_error(401, "unauthorized", "API token is invalid."))]
    with pytest.raises(ApiError) as info:
        make(srv, fake).request("GET", "/v1/databases/abc")
    message = str(info.value)
    assert "unauthorized: API token is invalid." in message
    assert "check 'notion_token' in the secret (NOTION_TOKEN locally)" in message
    assert SECRET not in message
    assert len(srv.seen) == 1


def test_no_access_names_the_setting_and_the_sharing_to_check(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(403, notion_error(403, "restricted_resource", "Insufficient permissions"))]
    with pytest.raises(ApiError, match=r"no access: check 'notion_token'.*shared with the integration"):
        make(srv, fake).request("GET", "/v1/databases/abc")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (notion_error(400, "validation_error", "bad"), "validation_error: bad"),
        ("invalid id", "invalid id"),
        ('{"message":"Invalid objectId","error":"ERROR"}', "ERROR: Invalid objectId"),
        (
            '{"error":{"type":"INVALID_REQUEST_UNKNOWN","message":"Invalid request"}}',
            "INVALID_REQUEST_UNKNOWN: Invalid request",
        ),
        ('{"error":"NOT_FOUND"}', "NOT_FOUND"),
        (
            '{"error":{"code":400,"message":"Unable to parse range","status":"INVALID_ARGUMENT"}}',
            "INVALID_ARGUMENT: Unable to parse range",
        ),
        ("", "(empty body)"),
    ],
)
def test_error_messages_are_parsed_from_every_api_shape(body: str, expected: str) -> None:
    assert api_error_message(body) == expected


def test_record_context_prefixes_the_message_and_keeps_the_type() -> None:
    err = NotFound("trello", 404, "card gone", method="GET", path="/cards/1")
    wrapped = with_record_context(err, "card 1")
    assert isinstance(wrapped, NotFound)
    assert str(wrapped) == "trello GET /cards/1 -> 404: card 1: card gone"


def test_the_server_time_of_the_last_successful_answer_is_kept(srv: ScriptedServer, fake: FakeTime) -> None:
    t = make(srv, fake)
    assert t.server_time is None
    before = datetime.now(UTC).replace(microsecond=0)
    t.request("GET", "/v1/pages/abc")
    assert t.server_time is not None
    assert before <= t.server_time <= datetime.now(UTC)
    seen = t.server_time
    srv.script = [Reply(status=404, body=notion_error(404, "object_not_found", "gone"))]
    with pytest.raises(NotFound):
        t.request("GET", "/v1/pages/gone")
    assert t.server_time == seen  # only answers that were read count


def test_http_dates_parse_to_utc_and_junk_to_none() -> None:
    assert parse_http_date("Wed, 01 Jan 2025 12:00:05 GMT") == datetime(2025, 1, 1, 12, 0, 5, tzinfo=UTC)
    assert parse_http_date("Wed, 01 Jan 2025 13:00:05 +0100") == datetime(2025, 1, 1, 12, 0, 5, tzinfo=UTC)
    assert parse_http_date("yesterday") is None
    assert parse_http_date(None) is None


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


# -- rate limiting and secrets -------------------------------------------------------------------


def _quota(remaining: int, most: int | None = 100) -> dict[str, str]:
    headers = {"x-rate-limit-api-token-remaining": str(remaining), "x-rate-limit-api-token-interval-ms": "10000"}
    if most is not None:
        headers["x-rate-limit-api-token-max"] = str(most)
    return headers


@pytest.mark.parametrize("most", [100, None], ids=["others-use-the-token", "no-max-header"])
def test_low_trello_quota_used_by_others_slows_the_next_request(
    srv: ScriptedServer, fake: FakeTime, most: int | None
) -> None:
    srv.script = [Reply(headers=_quota(1, most)), Reply()]  # 99 counted, 1 of them ours (or unknown)
    bucket = TokenBucket(Limit(100.0, 10.0), clock=fake.clock, sleep=fake.sleep)
    t = make(srv, fake, rate_limiter=bucket)
    t.request("GET", "/1/boards/b/actions")
    assert fake.slept == []
    t.request("GET", "/1/boards/b/actions")
    assert fake.slept == [pytest.approx(5.0)]  # 10 s window spread over the 1 request left + 1


def test_a_window_filled_by_our_own_requests_is_not_paused(srv: ScriptedServer, fake: FakeTime) -> None:
    """The bucket already paces our requests; a pause would only slow a first sync down."""
    srv.script = [Reply(headers=_quota(12 - n, most=12)) for n in range(1, 13)] + [Reply()]
    bucket = TokenBucket(Limit(100.0, 10.0), clock=fake.clock, sleep=fake.sleep)
    t = make(srv, fake, rate_limiter=bucket)
    for _ in range(13):
        t.request("GET", "/1/boards/b/actions")
    assert sum(fake.slept) < 0.2  # only the bucket's own pacing (100/s after a burst of 10)


def test_requests_counted_beyond_ours_in_the_window_slow_down(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(headers=_quota(12 - n, most=12)) for n in range(1, 6)] + [Reply(headers=_quota(3, 12)), Reply()]
    bucket = TokenBucket(Limit(100.0, 10.0), clock=fake.clock, sleep=fake.sleep)
    t = make(srv, fake, rate_limiter=bucket)
    for _ in range(6):  # the sixth answer counts 9 used, 6 of them ours
        t.request("GET", "/1/boards/b/actions")
    assert sum(fake.slept) < 0.2
    t.request("GET", "/1/boards/b/actions")
    assert fake.slept[-1] == pytest.approx(2.5)  # 10 s / (3 left + 1)


def test_plenty_of_quota_does_not_slow_down(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [
        Reply(headers={"x-rate-limit-api-token-remaining": "90", "x-rate-limit-api-token-interval-ms": "10000"})
    ]
    bucket = TokenBucket(Limit(100.0, 10.0), clock=fake.clock, sleep=fake.sleep)
    t = make(srv, fake, rate_limiter=bucket)
    for _ in range(3):
        t.request("GET", "/1/x")
    assert fake.slept == []


def test_retry_after_pauses_the_shared_bucket_for_other_callers(srv: ScriptedServer, fake: FakeTime) -> None:
    srv.script = [Reply(429, "{}", {"Retry-After": "30"})]
    bucket = TokenBucket(Limit(5.0, 5.0), clock=fake.clock, sleep=fake.sleep)
    t = make(srv, fake, rate_limiter=bucket, max_attempts=1)
    with pytest.raises(RateLimited):
        t.request("GET", "/v0/app/tbl")
    assert bucket.acquire() == pytest.approx(30.0)


def test_logs_name_method_path_status_but_never_the_secret_or_query(
    srv: ScriptedServer, fake: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    srv.script = [Reply(500, "x"), Reply()]
    caplog.set_level(logging.DEBUG, logger="leadsync.http")
    make(srv, fake).request("GET", "/1/cards/c1", params={"fields": "name", "q": "private"})
    text = caplog.text
    assert "GET /1/cards/c1 -> 500" in text
    assert "GET /1/cards/c1 -> 200" in text
    assert SECRET not in text
    assert "private" not in text


def test_the_session_is_shared_by_the_process() -> None:
    assert shared_session() is shared_session()
    t = Transport("trello", "http://127.0.0.1:1/1", auth_headers={})
    assert t.session is shared_session()


# -- path segments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("rec0123456789abcd", "rec0123456789abcd"),
        ("../../appOTHER/tbl/recX", "..%2F..%2FappOTHER%2Ftbl%2FrecX"),
        ("a?b=c#d", "a%3Fb%3Dc%23d"),
        ("%2e%2e", "%252e%252e"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("Leads 2024", "Leads%202024"),
        ("'Leads'!A1:C2", "%27Leads%27%21A1%3AC2"),
        ("é", "%C3%A9"),
    ],
)
def test_a_segment_is_percent_encoded_whole(value: str, encoded: str) -> None:
    assert segment(value) == encoded


@pytest.mark.parametrize("value", ["", None, 5])
def test_an_empty_or_non_text_segment_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="segment"):
        segment(value)  # type: ignore[arg-type]


def test_path_fills_each_slot_with_an_encoded_segment_and_keeps_the_template() -> None:
    assert path("/v0/{}/{}/{}", "appA", "tbl A", "../x") == "/v0/appA/tbl%20A/..%2Fx"
    assert path("/v4/spreadsheets/{}/values:batchGet", "s1") == "/v4/spreadsheets/s1/values:batchGet"
    with pytest.raises(ValueError, match="2 slots for 1"):
        path("/{}/{}", "a")


def test_an_encoded_traversal_reaches_the_server_as_one_segment(srv: ScriptedServer, fake: FakeTime) -> None:
    """The segment arrives encoded: ``requests`` does not resolve it into another base's path."""
    make(srv, fake).request("GET", path("/v0/{}/{}/{}", "appMINE", "tblMINE", "../../appOTHER/tblX/recX"))
    assert srv.seen[-1].path == "/v0/appMINE/tblMINE/..%2F..%2FappOTHER%2FtblX%2FrecX"


@pytest.mark.parametrize("raw", ["/v0/app/tbl/../../appOTHER/tbl/rec", "/v1/pages/./x", "/v1/pages/..?x=1"])
def test_a_path_with_a_raw_dot_segment_is_refused_before_sending(srv: ScriptedServer, fake: FakeTime, raw: str) -> None:
    transport = make(srv, fake)
    with pytest.raises(ValueError, match="dot segment"):
        transport.request("GET", raw)
    assert srv.seen == []
    assert transport.stats.requests == 0
