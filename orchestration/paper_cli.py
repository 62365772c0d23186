"""``kitepilot paper-exchange``: the local Kite-compatible venue, from the configuration.

Resolves the replayed day, the market source, the credentials (generated once and kept in
``<var_dir>/paper_exchange/credentials.json``, mode 0600, when the config has none), the fault plan
and the command-line overrides, then serves until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

from data_contracts.config import KitepilotConfig, PaperSource
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from execution.paper.app import ExchangeSettings, PaperExchange, build_exchange, open_market
from execution.paper.faults import FaultPlan

__all__ = [
    "CREDENTIALS_FILE",
    "Credentials",
    "PaperOverrides",
    "build_paper_exchange",
    "credentials",
    "replay_day",
    "serve",
]

CREDENTIALS_FILE: Final = Path("paper_exchange") / "credentials.json"
_PRIVATE: Final = 0o600
_PRIVATE_FOLDER: Final = 0o700


@dataclass(frozen=True, slots=True)
class Credentials:
    """The paper app's secret and the admin token (never printed)."""

    api_secret: str
    admin_token: str

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"


@dataclass(frozen=True, slots=True)
class PaperOverrides:
    """Command-line values that replace the configured ones (None: keep the config's)."""

    port: int | None = None
    speed: float | None = None
    day: date | None = None
    source: PaperSource | None = None
    faults_file: Path | None = None


def credentials(config: KitepilotConfig) -> tuple[Credentials, Path]:
    """The configured secrets, else those stored in the credentials file, else new random ones
    written there with mode 0600. Returns them and the file's path."""
    path = config.storage.var_dir / CREDENTIALS_FILE
    stored: dict[str, str] = {}
    if path.is_file():
        loaded = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(loaded, dict):
            raise ContractError("paper_exchange", "credentials", str(path), "must hold an object")
        stored = {k: v for k, v in loaded.items() if isinstance(v, str) and v}
    exchange = config.paper_exchange
    fresh = {
        "api_secret": stored.get("api_secret") or secrets.token_urlsafe(24),
        "admin_token": stored.get("admin_token") or secrets.token_urlsafe(24),
    }
    path.parent.mkdir(mode=_PRIVATE_FOLDER, parents=True, exist_ok=True)
    path.parent.chmod(_PRIVATE_FOLDER)  # no one else's to list (nor a folder an older version made)
    if fresh != stored:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(fresh, handle)
        path.chmod(_PRIVATE)
    secret = exchange.api_secret.get_secret_value() if exchange.api_secret else None
    admin = exchange.admin_token.get_secret_value() if exchange.admin_token else None
    return Credentials(secret or fresh["api_secret"], admin or fresh["admin_token"]), path


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
