"""The Dash app: one page (header with the kill switch and the operator token, five tabs) over
the services the composition root (``orchestration.dashboard_cli``) builds.

``create_app(services)`` returns the app; ``serve(app, host, port)`` runs it on werkzeug in one
thread, so callbacks (and the executor the actions build) never run concurrently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from dash import Dash
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from dashboard.callbacks import register_callbacks
from dashboard.layout import page
from dashboard.services import DashboardServices

__all__ = ["create_app", "make_dashboard_server"]

ASSETS: Final = Path(__file__).parent / "assets"


def create_app(services: DashboardServices) -> Dash:
    """The dashboard for ``services`` (nothing is read until the page asks)."""
    app = Dash(
        __name__,
        title="kitepilot",
        assets_folder=str(ASSETS),
        update_title="",  # no "Updating..." flicker in the tab title on every refresh
        serve_locally=True,  # the JavaScript comes from the installed package, not a CDN
        suppress_callback_exceptions=True,  # cards and rows are rendered by callbacks
    )
    app.layout = page(mode=services.config.mode.value.upper(), refresh_ms=services.refresh_ms)
    register_callbacks(app, services)
    return app


def make_dashboard_server(app: Dash, host: str, port: int) -> BaseWSGIServer:
    """A single-threaded WSGI server for ``app`` on ``host:port`` (port 0: a free one);
    ``serve_forever()`` runs it, ``shutdown()`` stops it."""
    return make_server(host, port, app.server, threaded=False, request_handler=_QuietHandler)


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: the page polls every refresh interval."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None
