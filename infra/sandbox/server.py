"""Threaded HTTP serving of a WSGI app on 127.0.0.1, quietly, in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from werkzeug.http import http_date
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the emulators keep their own request log), and no ``Date`` of
    the handler's own: the application's (``_with_date``) is the only one."""

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def log(self, type: str, message: str, *args: Any) -> None:
        return


def _with_date(app: Callable[..., Any]) -> Callable[..., Any]:
    """Give every answer a ``Date`` (real time) unless the application set one (an emulator sets
    its own from the sandbox clock, which tests may move forward)."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not any(name.lower() == "date" for name, _ in headers):
                headers = [*headers, ("Date", http_date())]
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wrapped


class ServerThread:
    """A werkzeug threaded server running `app` until `stop()`."""

    def __init__(self, app: Callable[..., Any], host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(
            host, port, _with_date(app), threaded=True, request_handler=_QuietHandler
        )
        self.host = host
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting requests and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
