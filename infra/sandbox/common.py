"""The emulator framework: one base class every SaaS emulator subclasses.

How to add an emulator (e.g. `sandbox/airtable.py`):

1. Subclass `Emulator`; set the class attributes `name` ("airtable"), `base_path` (what `url` adds after
   host:port, "" for Airtable, "/1" for Trello), `env_var` ("LEADSYNC_AIRTABLE_BASE_URL") and
   `rate_limit_defaults` (the service's policy numbers, e.g. {"per_base_rps": 5, "penalty_s": 30}).
2. `routes()` returns werkzeug `Rule`s whose `endpoint` is the NAME of a method; the method is called as
   `handler(request, **url_values)` under `self.lock` and returns a werkzeug `Response`
   (use `json_response` / `text_response`). Raise `HttpError(response)` anywhere to answer early.
3. Override the service-specific hooks: `reset_data()` (clear in-memory data), `authenticate(request)`
   (return an error Response or None; use `self.token_ok(token)`), `check_rate_limit(request)` (use
   `self.limiter` primitives when `self.limiter.enabled`, return a 429 Response or None),
   `decorate(request, response)` (headers on every response), `error_response(status, request)` (the
   service's 404/500/503 bodies), `rate_limited_response(request, retry_after)` (its 429),
   `stats_data()` (counts for /_sandbox/stats), `env()` (extra env vars, e.g. a token URI).
4. Add user helpers (plain Python methods that mutate data under `self.lock`, stamping times with
   `self.clock`) so tests can act like a person editing in the SaaS UI.
5. Register it in `sandbox.suite.EMULATORS` (name -> (module, class)); `Sandbox.start()` imports it
   lazily and skips it while the module does not exist.

Everything else is shared: the request pipeline (request log -> fault -> auth -> rate limit -> handler
-> fault post-processing -> decorate), the `faults` switchboard, the `limiter`, `require_token`,
`request_count`, `start()/stop()/reset()` and the control endpoints, which live at the host root (not
under `base_path`): `POST /_sandbox/reset`, `GET|POST /_sandbox/faults` (JSON as `faults.set`, plus
`{"clear": true}` / `{"next": [{"kind": "500", "n": 2}]}`), `POST /_sandbox/rate_limit` (JSON as
`rate_limit`), `POST /_sandbox/latency` (JSON as `latency.set`), `POST /_sandbox/clock`
(`{"advance": 60}`), `POST /_sandbox/tokens` (`{"tokens": [...]}`), `GET /_sandbox/stats`.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.http import http_date
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.clock import Clock
from sandbox.faults import FaultSwitchboard
from sandbox.latency import LatencyInjector
from sandbox.ratelimit import RateLimiter
from sandbox.server import ServerThread

__all__ = [
    "Emulator",
    "HttpError",
    "Operation",
    "Request",
    "Response",
    "Rule",
    "json_response",
    "read_json",
    "text_response",
]

CONTROL_PREFIX = "/_sandbox/"
_RULE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class Operation:
    """What one request asked for, normalized: `path` is the route template (`/1/cards/{card_id}`),
    `params` the notable parameters it carried (names, or `name=value` for enum-like ones)."""

    system: str
    method: str
    path: str
    params: frozenset[str]

    def coverage_keys(self) -> set[tuple[str, str, str, str]]:
        """(system, method, path, param) for each param, plus one with param "" for the route."""
        return {(self.system, self.method, self.path, p) for p in (*self.params, "")}


class HttpError(Exception):
    """Raise with a ready Response to stop handling and answer it."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (compact, UTF-8)."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status=status, headers=headers, content_type="application/json; charset=utf-8")


def text_response(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A plain-text response, as Trello sends most errors."""
    return Response(text, status=status, headers=headers, content_type="text/plain; charset=utf-8")


def read_json(request: Request) -> Any:
    """The request's JSON body (None when empty); raises ValueError when it is not JSON."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    return json.loads(raw)


class Emulator:
    """Base of every emulator: a WSGI app with faults, rate limiter, request log and control endpoints."""

    name: ClassVar[str] = "emulator"
    base_path: ClassVar[str] = ""
    env_var: ClassVar[str | None] = None
    rate_limit_defaults: ClassVar[dict[str, Any]] = {}
    literal_path_values: ClassVar[tuple[str, ...]] = ()
    """Route variables kept as their value in `Operation.path` (e.g. Trello's card filter)."""
    credential_params: ClassVar[frozenset[str]] = frozenset()
    """Query/body names that carry credentials: never part of an `Operation`."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.faults = FaultSwitchboard()
        self.latency = LatencyInjector(self.clock, self.name)
        self.limiter = RateLimiter(self.clock, **self.rate_limit_defaults)
        self.lock = threading.RLock()
        self._log: list[tuple[str, str]] = []
        self._operations: list[Operation] = []
        self._urls: list[str] = []
        self._statuses: Counter[int] = Counter()
        self._log_lock = threading.Lock()
        self._tokens: set[str] | None = None
        self._url_map = Map(self.routes(), strict_slashes=False, merge_slashes=False)
        self._server: ServerThread | None = None
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.reset_data()

    # ------------------------------------------------------------------ hooks for subclasses
    def routes(self) -> list[Rule]:
        """werkzeug Rules; each endpoint is the name of a handler method."""
        return []

    def reset_data(self) -> None:
        """Forget all in-memory data."""

    def authenticate(self, request: Request) -> Response | None:
        """An error response when the request's credentials are missing or refused."""
        return None

    def check_rate_limit(self, request: Request) -> Response | None:
        """A 429 response when the service's limits are exceeded (only called when enabled)."""
        return None

    def decorate(self, request: Request, response: Response) -> None:
        """Add headers every response carries (e.g. Trello's x-rate-limit-*)."""

    def error_response(self, status: int, request: Request) -> Response:
        """The service's error body for `status` (404 unknown route, 405, 500/502/503 faults)."""
        texts = {404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}
        return text_response(texts.get(status, "Service Unavailable"), status)

    def rate_limited_response(self, request: Request, retry_after: float) -> Response:
        """The service's 429 answer."""
        return text_response("Too Many Requests", 429, {"Retry-After": str(max(1, round(retry_after)))})

    def stats_data(self) -> dict[str, Any]:
        """Emulator-specific numbers for /_sandbox/stats (e.g. how many records exist)."""
        return {}

    def route_template(self, request: Request) -> tuple[str, dict[str, Any]] | None:
        """The matched route as a template (`{name}` for variables) and its values; None: no route."""
        adapter = self._url_map.bind_to_environ(request.environ)
        try:
            rule, values = adapter.match(return_rule=True)
        except HTTPException:
            return None

        def name(match: re.Match[str]) -> str:
            key = match.group(1)
            return str(values[key]) if key in self.literal_path_values and key in values else "{" + key + "}"

        return _RULE_VARIABLE.sub(name, rule.rule), dict(values)

    def notable_params(self, request: Request, path: str, values: dict[str, Any]) -> set[str]:
        """The parameters that make this request a distinct operation (default: query names)."""
        return {k for k in request.args if k not in self.credential_params}

    def classify(self, request: Request) -> Operation | None:
        """The request as an `Operation` (None for an unknown route)."""
        route = self.route_template(request)
        if route is None:
            return None
        path, values = route
        try:
            params = self.notable_params(request, path, values)
        except Exception:  # a body the handler will refuse: still an operation
            params = {"<unreadable>"}
        return Operation(self.name, request.method, path, frozenset(params))

    def env(self) -> dict[str, str]:
        """Environment variables the product reads to reach this emulator."""
        return {self.env_var: self.url} if self.env_var else {}

    # ------------------------------------------------------------------ public API
    @property
    def root_url(self) -> str:
        """http://host:port (control endpoints live under root_url + '/_sandbox/')."""
        if self.port is None:
            raise RuntimeError(f"{self.name} emulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The base URL the product is configured with (root_url + base_path)."""
        return self.root_url + self.base_path

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        """Serve on host:port (0 = any free port) in a background thread."""
        if self._server is None:
            self._server = ServerThread(self, host, port)
            self.host, self.port = host, self._server.port
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Clear data, faults, rate limiter, registered tokens and the request log."""
        with self.lock:
            self.reset_data()
        self.faults.clear()
        self.latency.clear()
        self.limiter.reset()
        self._tokens = None
        self.clear_requests()

    def rate_limit(self, enabled: bool = True, time_scale: float = 1.0, **params: Any) -> None:
        """Enforce the real service's limits (`params` override `rate_limit_defaults`)."""
        self.limiter.configure(enabled=enabled, time_scale=time_scale, **params)

    def require_token(self, *tokens: str) -> None:
        """Accept only these tokens from now on (none given: any non-empty token again)."""
        self._tokens = set(tokens) if tokens else None

    def token_ok(self, token: str | None) -> bool:
        """Whether `token` is accepted."""
        return bool(token) and (self._tokens is None or token in self._tokens)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every API request received, in order (control endpoints excluded)."""
        with self._log_lock:
            return list(self._log)

    def request_count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        """How many requests matched the method and/or path prefix."""
        return sum(
            1
            for m, p in self.requests
            if (method is None or m == method.upper()) and (path_prefix is None or p.startswith(path_prefix))
        )

    @property
    def request_urls(self) -> list[str]:
        """The full URL (query string included) of every API request received, in order."""
        with self._log_lock:
            return list(self._urls)

    @property
    def operations(self) -> list[Operation]:
        """Every API request received, classified (unknown routes left out), in order."""
        with self._log_lock:
            return list(self._operations)

    def clear_requests(self) -> None:
        """Empty the request log."""
        with self._log_lock:
            self._log.clear()
            self._operations.clear()
            self._urls.clear()
            self._statuses.clear()

    def new_request_id(self) -> str:
        """A fresh request id (uuid4) for error bodies and headers."""
        return str(uuid.uuid4())

    # ------------------------------------------------------------------ WSGI pipeline
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)(environ, start_response)
        operation = self.classify(request)
        with self._log_lock:
            self._log.append((request.method, request.path))
            self._urls.append(request.url)
            if operation is not None:
                self._operations.append(operation)
        response = self._pipeline(request, environ)
        with self._log_lock:
            self._statuses[response.status_code] += 1
        return response(environ, start_response)

    def _pipeline(self, request: Request, environ: dict[str, Any]) -> Response:
        received = self.clock.time()  # the answer's Date: before the handler reads any data
        fault = self.faults.pick(request.method, request.path)
        if self.faults.latency:
            time.sleep(self.faults.latency)
        advanced = self.latency.wait(request.method, self.limiter.time_scale) if self.latency.enabled else 0.0
        if fault == "drop":
            _abort(environ)
        if fault == "429":
            response = self.rate_limited_response(request, float(self.faults.retry_after))
        elif fault in ("500", "503"):
            response = self.error_response(int(fault), request)
        elif fault == "502":
            response = Response(
                "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
                "</center></body></html>",
                status=502,
                content_type="text/html",
            )
        else:
            if fault == "timeout":
                time.sleep(self.faults.timeout_sleep)
            response = self._handle(request)
        response.headers.setdefault("Date", http_date(received))
        if advanced:  # a virtual-clock client (the bench) keeps its own time in step with the sandbox's
            response.headers["x-sandbox-clock-offset"] = repr(self.clock.offset)
        self.decorate(request, response)
        if fault == "lost_response":
            _abort(environ)
        if fault == "malformed":
            response.set_data(b'{"object":"list","results":[{"id": <!-- upstream -->')
            response.status_code = 200
            response.content_type = "application/json"
        if fault == "truncated":
            _send_truncated(environ, response)
        return response

    def _handle(self, request: Request) -> Response:
        try:
            denied = self.authenticate(request)
            if denied is not None:
                return denied
            if self.limiter.enabled:
                limited = self.check_rate_limit(request)
                if limited is not None:
                    return limited
            adapter = self._url_map.bind_to_environ(request.environ)
            try:
                endpoint, values = adapter.match()
            except MethodNotAllowed:
                return self.error_response(405, request)
            except (NotFound, HTTPException):
                return self.error_response(404, request)
            with self.lock:
                return getattr(self, str(endpoint))(request, **values)
        except HttpError as exc:
            return exc.response

    # ------------------------------------------------------------------ control endpoints
    def _control(self, request: Request) -> Response:
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        try:
            body = read_json(request) or {}
            if action == "reset" and request.method == "POST":
                self.reset()
            elif action == "faults" and request.method == "POST":
                self.faults.configure(body)
            elif action == "rate_limit" and request.method == "POST":
                self.rate_limit(**body)
            elif action == "latency" and request.method == "POST":
                self.latency.configure(body)
            elif action == "clock" and request.method == "POST":
                self.clock.advance(float(body.get("advance", 0)))
            elif action == "tokens" and request.method == "POST":
                self.require_token(*body.get("tokens", []))
            elif not (request.method == "GET" and action in ("stats", "faults")):
                unknown = f"unknown control endpoint {request.method} {request.path}"
                return json_response({"error": unknown}, 404)
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(self.stats())

    def stats(self) -> dict[str, Any]:
        """What GET /_sandbox/stats returns."""
        with self._log_lock:
            count, statuses = len(self._log), {str(k): v for k, v in sorted(self._statuses.items())}
        with self.lock:
            data = self.stats_data()
        return {
            "emulator": self.name,
            "url": self.url if self.port is not None else None,
            "requests": count,
            "responses_by_status": statuses,
            "faults": self.faults.describe(),
            "rate_limit": self.limiter.describe(),
            "latency": self.latency.describe(),
            "clock": {"now": self.clock.now().isoformat(), "offset_s": self.clock.offset},
            "data": data,
        }


def _socket(environ: dict[str, Any]) -> socket.socket | None:
    sock = environ.get("werkzeug.socket")
    return sock if isinstance(sock, socket.socket) else None


def _abort(environ: dict[str, Any]) -> None:
    """Close the client connection without any response (werkzeug treats it as a dropped connection)."""
    sock = _socket(environ)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionAbortedError("sandbox fault: connection dropped")


def _send_truncated(environ: dict[str, Any], response: Response) -> None:
    """Send the status line, headers (full Content-Length) and half the body, then close."""
    body = response.get_data() or b"{}"
    head = [f"HTTP/1.1 {response.status}"]
    head += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() != "content-length"]
    head += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    sock = _socket(environ)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.sendall("\r\n".join(head).encode("latin-1") + body[: len(body) // 2])
    _abort(environ)
