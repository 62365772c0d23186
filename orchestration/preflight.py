"""``kitepilot preflight``: the pre-trading checklist, automated.

Asks the broker (the paper exchange in paper mode, Kite with the ``kitepilot login`` session in
live mode), the operational store, the MLflow registry and the lake, and turns each answer into one
row ``(name, ok, detail)`` with the pure checks of ``execution.console.preflight``:

| check | passes when |
|---|---|
| mode | always: states PAPER or LIVE and where orders go |
| broker | the broker answers and accepts the session (live: the saved session is valid first) |
| margin | available margin >= capital x (1 - risk.margin_buffer_pct / 100) |
| risk limits | shown; the config's cross-field rules hold |
| kill switch | armed (engaged: fails with who, when and why) |
| orders | our stored orders agree with the broker's order book (read-only reconciliation) |
| model champion | a ``champion`` exists, its version created within 14 days |
| data | the lake's latest ``candles_1m`` day is the previous trading session or later |

Nothing is repaired and no order is sent or cancelled (paper mode opens a session on the paper
exchange, as every command does; a missing store is created empty). Exit code 1 when any check
fails. Heavy imports are deferred so ``kitepilot --help`` stays
fast.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich.console import Console
from rich.table import Table

from data_contracts.config import ConfigError, KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.timeutil import to_ist
from orchestration.settings import resolve_config

if TYPE_CHECKING:
    from data_contracts.nse_calendar import NseCalendar
    from data_contracts.ports import Clock
    from execution.console.preflight import Check, PreflightReport
    from execution.kite.broker import KiteBroker
    from execution.store.oms import OmsStore

__all__ = ["print_report", "register", "report_json", "run_preflight", "venue"]

_TIMEOUT_SECONDS: Final = 5.0  # each broker request; an unreachable broker fails fast
_UNASKED: Final = "the broker could not be asked"

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Your YAML config (default: ./kitepilot.yaml or $KITEPILOT_CONFIG)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")]


def venue(config: KitepilotConfig) -> str:
    """Where orders go in ``config``'s mode."""
    if config.mode is TradingMode.LIVE:
        return f"Kite ({config.kite.root})"
    paper = config.paper_exchange
    return f"the paper exchange at http://{paper.host}:{paper.port}"


def run_preflight(config: KitepilotConfig, *, clock: Clock | None = None) -> PreflightReport:
    """Every check, in the order of the checklist (see the module's table)."""
    from sqlalchemy.exc import SQLAlchemyError

    from data_contracts.clock import SystemClock
    from data_contracts.errors import ContractError
    from data_contracts.nse_calendar import NseCalendar
    from execution.console.preflight import (
        KILL_SWITCH,
        ORDERS,
        PreflightReport,
        kill_switch_check,
        mode_check,
        not_checked,
        risk_limits_check,
    )
    from execution.store import OmsStore, SqlStore

    clock = clock or SystemClock()
    now = clock.now()
    where = venue(config)
    checks = [mode_check(config, where)]
    broker_row, broker = _broker(config, clock, where)
    checks += [broker_row, _margin(config, broker), risk_limits_check(config)]
    try:
        store = SqlStore.open(config.storage.database_url)
    except (SQLAlchemyError, ContractError, OSError) as error:
        why = f"the store could not be opened ({type(error).__name__}: {error})"
        checks += [not_checked(KILL_SWITCH, why), not_checked(ORDERS, why)]
    else:
        with store:
            oms = OmsStore.of(store)
            checks += [kill_switch_check(oms.kill_switch()), _orders(config, oms, broker, now)]
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    checks += [_champion(config, clock), _data(config, calendar, now)]
    return PreflightReport(tuple(checks))


def _redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _broker(config: KitepilotConfig, clock: Clock, where: str) -> tuple[Check, KiteBroker | None]:
    """The broker row and, when the broker accepts the session, a broker to ask further."""
    from execution.console.preflight import BROKER_FAILURES, broker_check
    from execution.kite.broker import kite_broker
    from execution.kite.session import SessionFile
    from orchestration.broker_login import paper_session
    from orchestration.session_cli import session_info

    token = ""
    saved: str | None = None
    root: str | None = None
    try:
        if config.mode is TradingMode.LIVE:
            status = session_info(config, clock.now())
            stored = SessionFile(config.kite.session_file).load() if status.valid else None
            if stored is None:
                return broker_check(where, saved_session=status.reason, saved_valid=False), None
            api_key, token, saved = stored.api_key, stored.access_token, status.reason
        else:
            session = paper_session(config)
            api_key, token, root = session.api_key, session.access_token, session.rest_root
        broker = kite_broker(api_key, token, clock=clock, root=root, timeout=_TIMEOUT_SECONDS)
        accepted = broker.profile_ok()  # GET /user/profile: False when the token is refused
    except BROKER_FAILURES as error:
        secret = config.paper_exchange.api_secret
        reason = _redact(
            f"{type(error).__name__}: {error}",
            token,
            secret.get_secret_value() if secret is not None else "",
        )
        return broker_check(where, error=reason), None
    return broker_check(where, saved_session=saved, accepted=accepted), broker if accepted else None


def _margin(config: KitepilotConfig, broker: KiteBroker | None) -> Check:
    from data_contracts.errors import ContractError
    from execution.console.preflight import MARGIN, margin_check, not_checked
    from execution.kite.broker import BrokerError

    if broker is None:
        return not_checked(MARGIN, _UNASKED)
    try:
        available = broker.available_margin()
    except (BrokerError, ContractError) as error:
        return not_checked(MARGIN, str(error))
    return margin_check(available, config.capital, config.risk.margin_buffer_pct)


def _orders(
    config: KitepilotConfig, oms: OmsStore, broker: KiteBroker | None, now: datetime
) -> Check:
    from data_contracts.errors import ContractError
    from execution.console.preflight import ORDERS, not_checked, orders_check
    from execution.kite.broker import BrokerError
    from execution.orders.context import ExecutorSettings

    if broker is None:
        return not_checked(ORDERS, _UNASKED)
    ours = oms.orders()
    try:
        theirs = broker.orders()
    except (BrokerError, ContractError) as error:
        return not_checked(ORDERS, str(error))
    grace = ExecutorSettings.from_config(config).in_flight_grace
    return orders_check(ours, theirs, now, grace)


def _champion(config: KitepilotConfig, clock: Clock) -> Check:
    """The champion from the MLflow registry, and when its version was created (MLflow's own
    ``creation_timestamp``; the registry wrapper does not expose it)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from data_contracts.errors import ContractError
    from execution.console.preflight import CHAMPION, champion_check, not_checked
    from models.registry import MlflowRegistry

    storage, name = config.storage, config.training.model_name
    uri = storage.mlflow_tracking_uri
    try:
        registry = MlflowRegistry(uri, Path(storage.mlflow_artifacts_dir), name, clock=clock)
        champion = registry.champion()
        created = None
        if champion is not None:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            stamp = client.get_model_version(name, champion.version).creation_timestamp
            if stamp is not None:
                created = datetime.fromtimestamp(int(stamp) / 1000, tz=UTC)
    except (MlflowException, ContractError, OSError) as error:
        return not_checked(CHAMPION, f"the MLflow registry could not be asked: {error}")
    return champion_check(name, champion, created, clock.now())


def _data(config: KitepilotConfig, calendar: NseCalendar, now: datetime) -> Check:
    from data_contracts.errors import ContractError
    from execution.console.preflight import DATA, data_freshness_check, not_checked
    from models.lake import Lake

    try:
        days = Lake(Path(config.storage.lake_dir)).days("candles_1m")
    except (ContractError, OSError) as error:
        return not_checked(DATA, f"the lake could not be read: {error}")
    latest = days[-1] if days else None
    return data_freshness_check(latest, to_ist(now).date(), calendar)


def report_json(config: KitepilotConfig, report: PreflightReport, at: datetime) -> str:
    """The report as one JSON object: ``ok``, ``mode``, ``checked_at`` (UTC) and the checks."""
    return json.dumps(
        {
            "ok": report.ok,
            "mode": config.mode.value,
            "checked_at": at.astimezone(UTC).isoformat(),
            "checks": [
                {"name": check.name, "ok": check.ok, "detail": check.detail}
                for check in report.checks
            ],
        }
    )


def print_report(
    console: Console, config: KitepilotConfig, report: PreflightReport, at: datetime
) -> None:
    """The checks as a table, then one line with the verdict."""
    console.print(
        f"kitepilot preflight — {config.mode.value.upper()} mode, "
        f"{to_ist(at):%Y-%m-%d %H:%M:%S} IST",
        highlight=False,
    )
    table = Table("check", "result", "detail", show_lines=False)
    for check in report.checks:
        result = "[green]PASS[/green]" if check.ok else "[red bold]FAIL[/red bold]"
        table.add_row(check.name, result, check.detail.replace("[", r"\["))
    console.print(table)
    if report.ok:
        console.print(f"[green]preflight passed[/green]: all {len(report.checks)} checks")
        return
    names = ", ".join(check.name for check in report.failed)
    console.print(
        f"[red bold]preflight FAILED[/red bold]: {len(report.failed)} of "
        f"{len(report.checks)} checks ({names})",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the ``preflight`` command to ``app``."""

    @app.command()
    def preflight(config_file: ConfigOption = None, as_json: JsonOption = False) -> None:
        """Pre-trading checks: broker and session, margin, risk limits, kill switch, stuck
        orders, mode, model champion (created within 14 days), fresh data. Exit 1 on any
        failure."""
        from data_contracts.clock import SystemClock

        console = Console()
        try:
            config = resolve_config(config_file).config
        except ConfigError as error:
            # Stage 2 of the config (cross-field rules, the risk limits' sanity) fails here.
            Console(stderr=True).print(str(error), style="bold red", markup=False)
            raise typer.Exit(2) from None
        clock = SystemClock()
        at = clock.now()
        with Console(stderr=True).status("Running the pre-flight checks…"):
            report = run_preflight(config, clock=clock)
        if as_json:
            typer.echo(report_json(config, report, at))
        else:
            print_report(console, config, report, at)
        if not report.ok:
            raise typer.Exit(1)
