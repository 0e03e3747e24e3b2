"""A local stand-in for API Gateway's HTTP API: real HTTP in, a payload 2.0 event to a Lambda handler,
its response back out. The sandbox's webhook calls reach the receiver this way in tests and the demo,
exercising the same event shape the deployed function gets (see infra/events/webhook-trello.json).

    with LocalHttpApi(handler) as api:   # api.url = http://127.0.0.1:<free port>
        ...
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.server import ServerThread


class _Context:
    """The Lambda context the handler gets (names, request id, remaining time)."""

    function_name = "leadsync-WebhookFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:leadsync-WebhookFunction"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + 10.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def event_of(request: Request, host: str) -> dict[str, Any]:
    """The HTTP API (payload 2.0) event API Gateway would hand the function for ``request``."""
    raw = request.get_data(cache=True)
    try:
        body, encoded = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(raw).decode("ascii"), True
    now = time.time()
    request_id = uuid.uuid4().hex[:16]
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": {k.lower(): v for k, v in request.headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": body,
        "isBase64Encoded": encoded,
    }


class LocalHttpApi:
    """Serves ``handler`` on 127.0.0.1 (a free port); ``calls`` counts the requests it answered."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]], port: int = 0) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str, int]] = []
        self._server = ServerThread(self._app, "127.0.0.1", port)
        self.url = f"http://127.0.0.1:{self._server.port}"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        answer = self.handler(event_of(request, f"127.0.0.1:{self._server.port}"), _Context())
        status = int(answer.get("statusCode", 200))
        self.calls.append((request.method, request.path, status))
        response = Response(answer.get("body") or "", status=status, headers=answer.get("headers") or {})
        return response(environ, start_response)

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> LocalHttpApi:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
