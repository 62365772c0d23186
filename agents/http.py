"""Streamable HTTP for the MCP server: the SDK's Starlette app behind a bearer token, served by
uvicorn on a loopback address.

Every HTTP request must carry ``Authorization: Bearer <token>`` (compared in constant time);
anything else gets ``401`` with ``WWW-Authenticate: Bearer`` and reaches nothing. The SDK's own
DNS-rebinding protection (Host and Origin must be loopback) stays on. The token is the
``mcp.auth_token`` setting or a generated one kept 0600 (``orchestration.mcp_cli``).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import uvicorn
from mcp.server.mcpserver import MCPServer

__all__ = ["MCP_PATH", "BearerTokenGate", "HttpServer", "http_app"]

MCP_PATH: Final = "/mcp"
_START_TIMEOUT: Final = 15.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class BearerTokenGate:
    """ASGI middleware: HTTP (and WebSocket) requests without the bearer token get 401."""

    def __init__(self, app: Asgi, token: str) -> None:
        if len(token) < 16:
            raise ValueError("the MCP token must be at least 16 characters")
        self._app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._authorised(scope):
            await self._app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(
            {"error": "unauthorized", "error_description": "Authorization: Bearer <token> needed"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="kitepilot-mcp"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                scheme, _, presented = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    presented.strip(), self._expected
                )
        return False


def http_app(server: MCPServer, token: str, *, host: str) -> Asgi:
    """The server's streamable HTTP app at :data:`MCP_PATH`, behind the token."""
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    return BearerTokenGate(app, token)


class HttpServer:
    """uvicorn serving ``app`` on ``host:port`` (0: a free port) in a thread, or in the caller's
    thread with :meth:`serve_forever` (Ctrl-C stops it)."""

    def __init__(self, app: Asgi, host: str, port: int) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.host = host

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        sockets = self._server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{MCP_PATH}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._server.run, name="mcp-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the MCP HTTP server did not start on {self.host}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT)

    def serve_forever(self) -> None:
        self._server.run()
