"""``kitepilot paper-exchange``: the local Kite-compatible venue, from the configuration.

Resolves the replayed day, the market source, the credentials (generated once and kept in
``<var_dir>/paper_exchange/credentials.json``, mode 0600, when the config has none), the fault plan
and the command-line overrides, then serves until Ctrl-C.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from data_contracts.config import KitepilotConfig, PaperSource
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from execution.paper.app import ExchangeSettings, PaperExchange, build_exchange, open_market
from execution.paper.faults import FaultPlan
from orchestration.paper_credentials import credentials

__all__ = [
    "PaperOverrides",
    "build_paper_exchange",
    "replay_day",
    "serve",
]


@dataclass(frozen=True, slots=True)
class PaperOverrides:
    """Command-line values that replace the configured ones (None: keep the config's)."""

    port: int | None = None
    speed: float | None = None
    day: date | None = None
    source: PaperSource | None = None
    faults_file: Path | None = None


def replay_day(configured: date | None, today: date, calendar: NseCalendar) -> date:
    """The configured day, else the latest NSE session before ``today``."""
    if configured is not None:
        if calendar.session(configured) is None:
            raise ContractError(
                "paper_exchange", "replay_day", configured, "must be an NSE session"
            )
        return configured
    return calendar.previous_session(today).date


def build_paper_exchange(
    config: KitepilotConfig, overrides: PaperOverrides, today: date
) -> tuple[PaperExchange, Path]:
    """The exchange the configuration describes (with the overrides applied) and the path of its
    credentials file."""
    settings = config.paper_exchange
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    day = replay_day(overrides.day or settings.replay_day, today, calendar)
    source = overrides.source or settings.source
    market = open_market(
        source.value,
        day,
        seed=settings.seed,
        lake_root=config.storage.lake_dir,
        calendar=calendar,
    )
    _make_sqlite_folder(settings.database)
    faults_file = overrides.faults_file or settings.faults_file
    plan = FaultPlan.load(faults_file) if faults_file is not None else None
    secret, path = credentials(config)
    exchange = build_exchange(
        market,
        ExchangeSettings(
            api_key=settings.api_key,
            api_secret=secret.api_secret,
            user_id=settings.user_id,
            redirect_url=settings.redirect_url,
            admin_token=secret.admin_token,
            host=settings.host,
            port=overrides.port if overrides.port is not None else settings.port,
            heartbeat_seconds=settings.heartbeat_seconds,
        ),
        database=settings.database,
        starting_cash=settings.starting_cash,
        speed=overrides.speed if overrides.speed is not None else settings.speed,
        faults=plan,
        calendar=calendar,
    )
    return exchange, path


def _make_sqlite_folder(url: str) -> None:
    """SQLite creates the database file but not its folder (``sqlite:///var/x.db``)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and len(url) > len(prefix):
        Path(url.removeprefix(prefix)).parent.mkdir(parents=True, exist_ok=True)


async def _serve_forever(exchange: PaperExchange) -> None:
    await exchange.start()
    try:
        await asyncio.Event().wait()  # until cancelled (Ctrl-C)
    finally:
        await exchange.stop()


def serve(exchange: PaperExchange) -> None:
    """Serve until interrupted (Ctrl-C stops it cleanly)."""
    try:
        asyncio.run(_serve_forever(exchange))
    except KeyboardInterrupt:
        return
