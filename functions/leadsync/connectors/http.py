"""The one HTTP transport every connector uses: shared session, rate limiting, retries, errors.

Retries (via ``tenacity``): 429, 500, 502, 503, 504, 529, connection errors and timeouts are
retried with exponential backoff and full jitter, honouring ``Retry-After``; a malformed JSON
body is retried only for idempotent requests. No wait ever sleeps past the deadline: the
transport raises ``RateLimited`` (still throttled), ``RetryableError`` (still failing) or
``DeadlineExceeded`` (no time left to even try) instead.

Non-idempotent writes (``POST`` creating a record) are retried only when the server certainly
did not act on them: 429, 503 and 529 answers, and a connection that could not even be opened.
Any other failure (a dropped connection, a read timeout, a truncated or malformed answer, a 500,
502 or 504) may come after the write was applied, so a retry could create a **second record**:
the transport raises ``RetryableError`` instead, and the engine's intent for that creation makes
the next cycle look the record up by its link marker before creating anything again.

Paths: every dynamic segment (an id, a table, an A1 range) goes through ``path``, which
percent-encodes it whole (``/``, ``?``, ``#``, ``%`` and dot segments included), so a value read from
a record can never climb out of its segment (``../../appOTHER/tbl/rec…``) or add a query; the
transport also refuses a path holding a raw ``.``/``..`` segment, which HTTP clients would resolve.

Secrets: credentials travel only in headers (``auth_headers``); URLs and logs never hold them.
Logs (``leadsync.http``, DEBUG) give system, method, path without query, status and duration.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from leadsync.connectors.deadline import Deadline
from leadsync.connectors.ratelimit import TokenBucket
from leadsync.errors import ApiError, DeadlineExceeded, NotFound, RateLimited, RetryableError

log = logging.getLogger("leadsync.http")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
# Answers that mean the request was refused before it was acted on: safe to retry even a POST.
NOT_APPLIED_STATUSES = frozenset({429, 503, 529})
# Below this many seconds left, a request is not worth starting.
MIN_REQUEST_SECONDS = 0.05
# The connection was never made, so the request was not sent: safe to retry even a POST.
_NOT_SENT_ERRORS = (requests.exceptions.ConnectTimeout,)
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
# Trello's rate-limit headers, per token and per key.
_QUOTA_HEADERS = ("x-rate-limit-api-token", "x-rate-limit-api-key")
QUOTA_WINDOW_SLACK = 1.0  # seconds: a request sent just before a window opened may be counted in it

_session: requests.Session | None = None
_session_lock = threading.Lock()


def shared_session() -> requests.Session:
    """The process-wide ``requests.Session`` (connection pooling across warm invocations)."""
    global _session
    with _session_lock:
        if _session is None:
            _session = requests.Session()
        return _session


@dataclass
class TransportStats:
    """Counters for metrics, per transport (one transport per system and credential).

    ``requests``: HTTP attempts sent; ``throttled``: 429 answers received; ``retries``:
    attempts repeated after a transient failure; ``errors``: calls that finally raised
    (404 excluded: it is an answer); ``waited_seconds``: time slept in backoff and rate limiting.
    """

    requests: int = 0
    throttled: int = 0
    retries: int = 0
    errors: int = 0
    waited_seconds: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class _Transient(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def api_error_message(body: str) -> str:
    """The service's own error message, from any of the four APIs' error body shapes.

    Notion ``{"object":"error","code","message"}``; Airtable ``{"error":{"type","message"}}`` or
    ``{"error":"NOT_FOUND"}``; Google ``{"error":{"code","message","status"}}``; Trello plain text
    (``invalid id``) or ``{"message","error"}``. Anything else: the text itself, shortened.
    """
    text = body.strip()
    try:
        data = jsonlib.loads(text) if text[:1] in "{[" and text else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            kind = err.get("type") or err.get("status") or ""
            message = str(err.get("message") or "")
            return f"{kind}: {message}".strip(": ") or text[:500]
        code = data.get("code") if data.get("object") == "error" else err
        message = str(data.get("message") or "")
        if code or message:
            return f"{code or ''}: {message}".strip(": ")
    return text[:500] or "(empty body)"


def segment(value: str) -> str:
    """One path segment, percent-encoded whole: ``a/b?c`` -> ``a%2Fb%3Fc``; ``..`` -> ``%2E%2E``.

    An empty segment would change which endpoint is called (``/v1/pages/`` is the create route),
    so it is refused (``ValueError``), as is anything but a string.
    """
    if not isinstance(value, str) or not value:
        raise ValueError(f"an empty or non-text path segment: {value!r}")
    encoded = quote(value, safe="")
    return "%2E" * len(encoded) if set(encoded) == {"."} else encoded


def path(template: str, *segments: str) -> str:
    """``template`` with each ``{}`` replaced by the matching segment, percent-encoded (``segment``).

    ``path("/v0/{}/{}/{}", base, table, record)``; the template's own text is kept as written
    (``/values:batchGet``). The number of ``{}`` must match the segments.
    """
    parts = template.split("{}")
    if len(parts) != len(segments) + 1:
        raise ValueError(f"path template {template!r} has {len(parts) - 1} slots for {len(segments)} segments")
    out = [parts[0]]
    for value, rest in zip(segments, parts[1:], strict=True):
        out += [segment(value), rest]
    return "".join(out)


def _dot_segment(path: str) -> bool:
    """Whether ``path`` (query excluded) holds a ``.`` or ``..`` segment an HTTP client would resolve."""
    return any(part in (".", "..") for part in path.split("?", 1)[0].split("/"))


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as an aware UTC datetime (``None`` when absent or unreadable)."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (integer seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = parse_http_date(value)
    if when is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@contextmanager
def about_record(label: str) -> Iterator[None]:
    """Name the record in any API error raised inside (a 404 stays a plain NotFound)."""
    try:
        yield
    except NotFound:
        raise
    except ApiError as exc:
        raise with_record_context(exc, label) from exc


def with_record_context(err: ApiError, context: str) -> ApiError:
    """The same API error, its message prefixed with the record (and property) it concerns."""
    message = str(err).split(f"-> {err.status}: ", 1)[-1]
    new = type(err)(err.system, err.status, f"{context}: {message}", method=err.method, path=err.path)
    new.__cause__ = err
    return new


class _CallState:
    """What the retry loop needs to know about the attempts of one call."""

    def __init__(self) -> None:
        self.stopped_by_deadline = False
        self.last: _Transient | None = None


class Transport:
    """HTTP to one system with one credential.

    ``auth_headers`` hold the credential (and fixed headers such as ``Notion-Version``).
    ``auth``, when given, is called before every attempt for headers that change over time (an
    OAuth access token refreshed when it expires); they are added to ``auth_headers``.
    ``rate_limiter`` is the shared bucket of that credential (``ratelimit.shared_limiter``).
    ``deadline`` bounds every wait; it may be replaced between cycles (``transport.deadline = ...``).
    ``max_attempts`` counts the first attempt. ``timeout`` is per attempt (capped by the deadline).
    """

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        auth_headers: Mapping[str, str],
        auth: Callable[[], Mapping[str, str]] | None = None,
        rate_limiter: TokenBucket | None = None,
        deadline: Deadline | None = None,
        max_attempts: int = 5,
        timeout: float = 20.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        low_quota: int = 10,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.system = system
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **auth_headers}
        self.auth = auth
        self.rate_limiter = rate_limiter
        self.deadline = deadline or Deadline.never()
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._session = session
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.low_quota = low_quota
        self.stats = TransportStats()
        self.server_time: datetime | None = None  # ``Date`` of the last successful answer

    @property
    def session(self) -> requests.Session:
        return self._session or shared_session()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one call, retrying transient failures; return the parsed JSON (or text, or None).

        ``path`` is relative to the base URL; build any path holding an id or a name with ``path()``
        so each segment is percent-encoded (a path with a raw ``.``/``..`` segment is a ``ValueError``).
        ``idempotent`` defaults from the method (POST is not); pass ``True`` for read-only POSTs
        such as a Notion query so a malformed answer is retried.
        """
        method = method.upper()
        if _dot_segment(path):
            raise ValueError(f"{self.system} {method}: refusing a path with a dot segment: {path.split('?', 1)[0]!r}")
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        log_path = path.split("?", 1)[0]
        state = _CallState()
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            wait=self._wait,
            stop=lambda rs: self._stop(rs, state),
            sleep=self._sleep,
            before_sleep=lambda rs: self._before_sleep(rs, method, log_path),
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, path, params, json, idempotent, state)
        except _Transient as exc:
            self.stats.errors += 1
            raise self._give_up(exc, state, method, log_path) from exc
        except RateLimited:
            self.stats.errors += 1
            raise
        except NotFound:
            raise
        except (ApiError, RetryableError):
            self.stats.errors += 1
            raise

    # -- one attempt ----------------------------------------------------------------------

    def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        idempotent: bool,
        state: _CallState,
    ) -> Any:
        log_path = path.split("?", 1)[0]
        self._before_send(method, log_path, state)
        headers = {**self._headers, **self.auth()} if self.auth is not None else self._headers
        timeout = min(self.timeout, self.deadline.remaining())
        started = time.monotonic()
        self.stats.requests += 1
        try:
            response = self.session.request(
                method,
                f"{self.base_url}/{path.lstrip('/')}",
                params=params,
                json=body,
                headers=headers,
                timeout=timeout,
            )
        except _NETWORK_ERRORS as exc:
            elapsed_ms = (time.monotonic() - started) * 1000
            log.debug("%s %s %s -> %s %.0fms", self.system, method, log_path, type(exc).__name__, elapsed_ms)
            if not idempotent and not isinstance(exc, _NOT_SENT_ERRORS):
                raise self._maybe_applied(method, log_path, type(exc).__name__) from None
            state.last = _Transient(f"{type(exc).__name__}")
            raise state.last from None
        elapsed_ms = (time.monotonic() - started) * 1000
        status = response.status_code
        log.debug("%s %s %s -> %s %.0fms", self.system, method, log_path, status, elapsed_ms)
        self._read_quota_headers(response.headers)
        if status in RETRY_STATUSES and not idempotent and status not in NOT_APPLIED_STATUSES:
            raise self._maybe_applied(method, log_path, f"{status} {api_error_message(response.text)}")
        if status in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status == 429:
                self.stats.throttled += 1
                if retry_after and self.rate_limiter is not None:
                    self.rate_limiter.pause(retry_after)
            state.last = _Transient(
                f"{status} {api_error_message(response.text)}", status=status, retry_after=retry_after
            )
            raise state.last
        if status == 404:
            raise NotFound(self.system, status, api_error_message(response.text), method=method, path=log_path)
        if status >= 400:
            raise ApiError(self.system, status, api_error_message(response.text), method=method, path=log_path)
        parsed = self._parse_body(response, method, log_path, idempotent, state)
        self.server_time = parse_http_date(response.headers.get("Date"))
        return parsed

    def _maybe_applied(self, method: str, log_path: str, reason: str) -> RetryableError:
        """A non-idempotent request failed in a way that may come after the server applied it."""
        self.stats.errors += 1
        return RetryableError(
            f"{self.system} {method} {log_path}: {reason} (not retried: the write may have been applied; "
            "the next cycle checks before writing again)"
        )

    def _before_send(self, method: str, log_path: str, state: _CallState) -> None:
        if self.deadline.remaining() < MIN_REQUEST_SECONDS:
            raise DeadlineExceeded(f"{self.system} {method} {log_path}: deadline reached before the request")
        if self.rate_limiter is None:
            return
        try:
            self.stats.waited_seconds += self.rate_limiter.acquire(self.deadline)
        except DeadlineExceeded as exc:
            if state.last is not None and state.last.status == 429:
                raise RateLimited(
                    f"{self.system} {method} {log_path}: throttled, and the rate limiter's wait passes the deadline"
                ) from exc
            raise
        if self.deadline.remaining() < MIN_REQUEST_SECONDS:  # the wait for a token used up the time left
            raise DeadlineExceeded(f"{self.system} {method} {log_path}: deadline reached waiting for a token")

    def _parse_body(
        self, response: requests.Response, method: str, log_path: str, idempotent: bool, state: _CallState
    ) -> Any:
        text = response.text
        if not text.strip():
            return None
        looks_json = "json" in response.headers.get("Content-Type", "") or text.lstrip()[:1] in "{["
        if not looks_json:
            return text
        try:
            return jsonlib.loads(text)
        except ValueError:
            reason = f"malformed JSON body ({len(text)} chars)"
            if idempotent:
                state.last = _Transient(reason, status=response.status_code)
                raise state.last from None
            raise RetryableError(
                f"{self.system} {method} {log_path}: {reason} in answer to a non-idempotent request "
                "(not retried: the write may have been applied)"
            ) from None

    def _read_quota_headers(self, headers: Mapping[str, str]) -> None:
        """Slow down before the server says no, when it reports a low remaining quota (Trello)
        that others are using too.

        The shared bucket already keeps this process under the documented limit, so a window
        the server fills with this process's own requests needs no pause (pausing there would
        cost a tenth of a large first sync). Requests the server counts beyond ours (another
        deployment or tool with the same token or key) do: then what is left is spread over a
        whole window, as the window's start cannot be seen.
        """
        if self.rate_limiter is None:
            return
        pause = 0.0
        for prefix in _QUOTA_HEADERS:
            try:
                left = int(headers[f"{prefix}-remaining"])
                interval = float(headers[f"{prefix}-interval-ms"]) / 1000.0
                most = int(headers[f"{prefix}-max"]) if f"{prefix}-max" in headers else None
            except (KeyError, ValueError):
                continue
            if left > self.low_quota:
                continue
            if most is not None and most - left <= self.rate_limiter.taken_within(interval + QUOTA_WINDOW_SLACK):
                continue  # every request counted is ours: the bucket already paces them
            pause = max(pause, interval / (left + 1))
        if pause:
            self.rate_limiter.pause(pause)

    # -- retry policy ---------------------------------------------------------------------

    def _wait(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return exc.retry_after
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (rs.attempt_number - 1))
        return self._rng.uniform(0, ceiling)

    def _stop(self, rs: RetryCallState, state: _CallState) -> bool:
        if rs.attempt_number >= self.max_attempts:
            return True
        if rs.upcoming_sleep + MIN_REQUEST_SECONDS > self.deadline.remaining():
            state.stopped_by_deadline = True
            return True
        return False

    def _before_sleep(self, rs: RetryCallState, method: str, log_path: str) -> None:
        self.stats.retries += 1
        self.stats.waited_seconds += rs.upcoming_sleep
        exc = rs.outcome.exception() if rs.outcome else None
        log.info(
            "%s %s %s failed (%s); retry %d/%d in %.2fs",
            self.system,
            method,
            log_path,
            exc,
            rs.attempt_number,
            self.max_attempts - 1,
            rs.upcoming_sleep,
        )

    def _give_up(self, exc: _Transient, state: _CallState, method: str, log_path: str) -> RetryableError:
        why = "the next wait passes the deadline" if state.stopped_by_deadline else "no attempts left"
        message = f"{self.system} {method} {log_path}: {exc.reason} ({why})"
        log.warning("%s", message)
        if exc.status == 429:
            return RateLimited(message)
        return RetryableError(message)
