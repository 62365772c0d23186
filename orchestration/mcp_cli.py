"""``kitepilot mcp`` and ``kitepilot analyze``: composition of the MCP tool server and the
analysis agent from the config.

``kitepilot mcp`` serves the tools over stdio (for Claude Desktop, VS Code and other local
clients; nothing but the protocol is written to stdout) or streamable HTTP on ``mcp.host``
(loopback) behind a bearer token: ``mcp.auth_token`` (``KITEPILOT_MCP__AUTH_TOKEN`` in ``.env``),
else one generated on the first start and kept in ``<storage.var_dir>/mcp/auth_token`` (0600).
The command prints where the token is, never the token.

``kitepilot analyze SYMBOL`` runs the deterministic analysis agent against the same tools, over
the SDK's in-memory transport, and prints the analysis; ``--propose`` lets it add its trade idea
to the approval queue; with ``analysis.llm.enabled`` an OpenAI-compatible model adds a summary.

The broker is reached through a read-only view (``execution.kite.readonly``) built on first use:
paper mode logs in to the local paper exchange, live mode uses the day's ``kitepilot login``
session. Nothing composed here can place an order, decide, switch mode, change limits or touch
the kill switch (docs/mcp.md).

Run without the ``kitepilot`` entry point: ``python -m orchestration.mcp_cli mcp``.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich.console import Console

from data_contracts.config import ConfigError, KitepilotConfig, NewsSource
from data_contracts.enums import TradingMode
from data_contracts.errors import ContractError
from data_contracts.ports import Clock
from orchestration.local_token import local_token
from orchestration.settings import resolve_config

if TYPE_CHECKING:  # the heavy modules are imported when a command runs
    from agents.agent import AnalysisReport
    from agents.context import MarketAccess, ModelRegistryView, ToolContext
    from agents.news import NewsProvider
    from execution.store import SqlStore

__all__ = [
    "McpRuntime",
    "build_context",
    "mcp_token",
    "open_runtime",
    "register",
    "run_analysis",
    "token_file",
]

NEWSAPI_KEY_VARIABLE: Final = "NEWSAPI_KEY"
_errors = Console(stderr=True)
_console = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Your YAML config (default: ./kitepilot.yaml or $KITEPILOT_CONFIG)."
    ),
]


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


def token_file(config: KitepilotConfig) -> Path:
    return config.storage.var_dir / "mcp" / "auth_token"


def mcp_token(config: KitepilotConfig) -> tuple[str, Path | None]:
    """The HTTP bearer token and the file it is kept in (None when it comes from the config)."""
    return local_token(config.mcp.auth_token, token_file(config))


def _market_factory(
    config: KitepilotConfig, clock: Clock
) -> tuple[str, Callable[[], MarketAccess]]:
    """Where the broker is (for provenance) and the read-only view's factory."""
    from agents.errors import ErrorCode, ToolFailure
    from execution.kite.historical import KiteSourceSettings
    from execution.kite.readonly import KiteReadOnly
    from orchestration.broker_login import broker_session

    live = config.mode is TradingMode.LIVE
    paper = config.paper_exchange
    source = "Kite (live)" if live else f"paper exchange http://{paper.host}:{paper.port}"

    def connect() -> MarketAccess:
        try:
            login = broker_session(config)
        except ContractError as error:
            if live:
                raise ToolFailure(
                    ErrorCode.SESSION_EXPIRED, str(error), "run `kitepilot login`"
                ) from None
            raise ToolFailure(
                ErrorCode.UNAVAILABLE, str(error), "start `kitepilot paper-exchange`"
            ) from None
        if login.expires_at is not None and login.expires_at <= clock.now():
            raise ToolFailure(
                ErrorCode.SESSION_EXPIRED,
                f"the Kite session expired at {login.expires_at.isoformat()}",
                "run `kitepilot login`",
            )
        endpoints = login.endpoints
        return KiteReadOnly.connect(
            endpoints.api_key,
            endpoints.access_token,
            root=endpoints.rest_root,
            clock=clock,
            settings=KiteSourceSettings(cache_dir=config.storage.var_dir / "kite"),
        )

    return source, connect


def _news(config: KitepilotConfig) -> NewsProvider | None:
    from agents.news import FileNewsProvider, NewsApiProvider

    news = config.mcp.news
    if news.provider is NewsSource.FILE and news.file is not None:
        return FileNewsProvider(news.file)
    if news.provider is NewsSource.NEWSAPI:
        key = news.api_key.get_secret_value() if news.api_key is not None else ""
        key = key.strip() or os.environ.get(NEWSAPI_KEY_VARIABLE, "").strip()
        if not key:
            rule = (
                "is required when mcp.news.provider is newsapi (set KITEPILOT_MCP__NEWS__API_KEY "
                f"in .env, or {NEWSAPI_KEY_VARIABLE} in the environment)"
            )
            raise ContractError("mcp", "news.api_key", None, rule)
        return NewsApiProvider(key, api_root=news.api_root, timeout=news.timeout_seconds)
    return None


def build_context(
    config: KitepilotConfig,
    store: SqlStore,
    *,
    clock: Clock | None = None,
    market: MarketAccess | None = None,
    actor: str = "mcp",
) -> ToolContext:
    """The tools' context over ``store``: the broker (``market``, by default the config's
    read-only view built on first use), the lake, the model registry, the audit log, news."""
    from agents.context import MarketLink, RegistryLink, ToolContext
    from data_contracts.charges import ChargesModel
    from data_contracts.clock import SystemClock
    from data_contracts.nse_calendar import NseCalendar
    from execution.audit import AuditLog
    from models.lake import Lake
    from orchestration.execution_cli import audit_directory

    clock = clock or SystemClock()
    if market is None:
        source, factory = _market_factory(config, clock)
    else:
        given = market
        source = "the given broker view"

        def factory() -> MarketAccess:
            return given

    def registry() -> ModelRegistryView:
        from models.registry import MlflowRegistry

        storage = config.storage
        return MlflowRegistry(
            storage.mlflow_tracking_uri,
            Path(storage.mlflow_artifacts_dir),
            config.training.model_name,
            clock=SystemClock(),
        )

    return ToolContext(
        config=config,
        clock=clock,
        calendar=NseCalendar.default(override=config.calendar.holidays_file),
        store=store,
        lake=Lake(Path(config.storage.lake_dir)),
        market=MarketLink(
            factory,
            source=source,
            retry_seconds=config.mcp.broker_retry_seconds,
        ),
        models=RegistryLink(registry),
        charges=ChargesModel.default(),
        audit_dir=audit_directory(config),
        # The audit log stamps entries with the wall clock, like every other writer of it.
        audit=AuditLog(audit_directory(config), SystemClock()),
        news=_news(config),
        actor=actor,
    )


@dataclass
class McpRuntime:
    """An open store and the tools' context over it (close it when done)."""

    store: SqlStore
    context: ToolContext

    def close(self) -> None:
        self.store.close()


def open_runtime(config: KitepilotConfig, *, actor: str = "mcp") -> McpRuntime:
    from execution.store import SqlStore

    store = SqlStore.open(config.storage.database_url)
    try:
        return McpRuntime(store, build_context(config, store, actor=actor))
    except BaseException:
        store.close()
        raise


def run_analysis(
    context: ToolContext,
    symbol: str,
    *,
    first: date | None,
    last: date | None,
    propose: bool,
) -> AnalysisReport:
    """The analysis agent against a server over ``context``, through the SDK's in-memory
    transport (the MCP protocol's JSON-RPC over memory streams)."""
    import anyio
    from mcp import Client

    from agents.agent import analyze
    from agents.server import build_server

    server = build_server(context)

    async def run() -> AnalysisReport:
        async with Client(server, mode="legacy") as client:
            return await analyze(client, symbol, from_date=first, to_date=last, propose=propose)

    return anyio.run(run)


def _load(config_file: Path | None) -> KitepilotConfig:
    try:
        return resolve_config(config_file).config
    except ConfigError as error:
        _errors.print(str(error), style="bold red", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        rule = f"must be a date as YYYY-MM-DD, was {value!r}"
        raise typer.BadParameter(rule, param_hint=option) from None


def _serve(config: KitepilotConfig, transport: Transport, port: int | None) -> None:
    from agents.http import HttpServer, http_app
    from agents.server import build_server

    try:
        runtime = open_runtime(config, actor="mcp-client")
    except ContractError as error:
        _errors.print(str(error), style="bold red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    try:
        server = build_server(runtime.context)
        if transport is Transport.stdio:
            # stdout is the protocol: every word for people goes to stderr.
            _errors.print(f"kitepilot mcp on stdio ({config.mode.value} mode)", highlight=False)
            try:
                server.run("stdio")
            except KeyboardInterrupt:
                pass
            return
        token, path = mcp_token(config)
        host = config.mcp.host
        http = HttpServer(http_app(server, token, host=host), host, port or config.mcp.port)
        where = "mcp.auth_token (configured)" if path is None else f"{path} (mode 0600)"
        _errors.print(
            f"kitepilot mcp on http://{host}:{port or config.mcp.port}/mcp "
            f"({config.mode.value} mode); requests need `Authorization: Bearer <token>` with "
            f"the token kept in {where}",
            highlight=False,
            soft_wrap=True,
        )
        try:
            http.serve_forever()
        except KeyboardInterrupt:
            pass
    finally:
        runtime.close()


def _analyze(
    config: KitepilotConfig,
    symbol: str,
    first: date | None,
    last: date | None,
    propose: bool,
    as_json: bool,
) -> None:
    import json

    from agents.llm import LlmError, OpenAICompatibleChat, summarise

    try:
        runtime = open_runtime(config, actor=f"analyze:{getpass.getuser()}")
    except ContractError as error:
        _errors.print(str(error), style="bold red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    try:
        report = run_analysis(runtime.context, symbol, first=first, last=last, propose=propose)
    finally:
        runtime.close()
    summary = None
    llm = config.analysis.llm
    if llm.enabled and llm.base_url and llm.model:
        chat = OpenAICompatibleChat(
            llm.base_url,
            llm.model,
            api_key=None if llm.api_key is None else llm.api_key.get_secret_value(),
            timeout=llm.timeout_seconds,
            completion_limit=llm.completion_limit,
        )
        try:
            summary = summarise(chat, report.as_dict())
        except LlmError as error:
            summary = f"(LLM summary unavailable: {error})"
    if as_json:
        typer.echo(json.dumps(report.as_dict() | {"llm_summary": summary}, default=str))
        return
    typer.echo(report.markdown)
    if summary is not None:
        typer.echo(f"## Summary ({llm.model}, an LLM: read the analysis above)\n\n{summary}")


def register(app: typer.Typer) -> None:
    """Add ``kitepilot mcp`` and ``kitepilot analyze`` to ``app``."""

    @app.command("mcp")
    def mcp_command(
        transport: Annotated[
            Transport, typer.Option(help="stdio (local clients) or http (streamable HTTP).")
        ] = Transport.stdio,
        port: Annotated[
            int | None, typer.Option(min=1, max=65535, help="HTTP port (default mcp.port).")
        ] = None,
        config_file: ConfigOption = None,
    ) -> None:
        """The MCP tool server for LLM clients: read market, account and trade data, and
        propose trades into the approval queue. It can never place an order, approve, switch
        paper/live, change limits or touch the kill switch."""
        _serve(_load(config_file), transport, port)

    @app.command("analyze")
    def analyze_command(
        symbol: Annotated[str, typer.Argument(help="NSE:INFY, INFY or NIFTY.")],
        propose: Annotated[
            bool, typer.Option("--propose", help="Add the trade idea to the approval queue.")
        ] = False,
        start: Annotated[str | None, typer.Option("--from", help="First lake day.")] = None,
        end: Annotated[str | None, typer.Option("--to", help="Last lake day.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        config_file: ConfigOption = None,
    ) -> None:
        """A written analysis of SYMBOL (trend, momentum, volatility, options positioning,
        model view, risk) by a deterministic agent using the MCP tools; --propose puts its
        trade idea in the approval queue for a person to decide."""
        first, last = _date(start, "--from"), _date(end, "--to")
        _analyze(_load(config_file), symbol, first, last, propose, as_json)


if __name__ == "__main__":
    _app = typer.Typer(add_completion=False, no_args_is_help=True)
    register(_app)
    _app()
