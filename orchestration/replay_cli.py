"""``kitepilot replay --from D --to D``: backtest mode through the whole system.

Each lake day in the range is replayed by :func:`orchestration.session_run.run_paper_session` —
paper exchange, streaming worker, demo approver, risk engine, executor — for the whole session (or
up to ``--until``). Then every trade is logged, P&L after charges, Sharpe and max drawdown are
computed over the days with the backtest's own metric functions, and the replay is compared with
the vectorized backtest of the same days, model and settings (the champion scoring the lake's
``training_set`` rows, as ``kitepilot backtest --strategy model`` does): trades in both, in only
one, and the P&L difference, with why they can differ. An HTML report goes to
``<reports_dir>/replay/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from data_contracts.config import ConfigError, KitepilotConfig
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import IST, to_ist
from orchestration.settings import resolve_config

if TYPE_CHECKING:  # the heavy modules are imported when a replay runs
    from models.backtest import BacktestResult
    from models.replay_report import Comparison
    from orchestration.session_run import SessionResult

__all__ = ["ReplayRun", "register", "replay"]

_console = Console()
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Your YAML config (default: ./kitepilot.yaml or $KITEPILOT_CONFIG)."
    ),
]
_DEFAULT_SPEED = 120.0


@dataclass(frozen=True)
class ReplayRun:
    """What ``kitepilot replay`` did: the sessions, the trade log, the metrics, the comparison
    with the backtest and where the report is."""

    days: tuple[date, ...]
    sessions: tuple[SessionResult, ...]
    trades: pl.DataFrame
    metrics: dict[str, float]
    backtest_metrics: dict[str, float]
    comparison: Comparison
    report: Path


def _lake_days(config: KitepilotConfig, first: date, last: date) -> list[date]:
    from models.lake import Lake  # lazy: keeps `kitepilot --help` fast

    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    stored = set(Lake(config.storage.lake_dir).days("candles_1m"))
    days = [s.date for s in calendar.sessions(first, last) if s.date in stored]
    if not days:
        rule = f"must leave a lake session (candles_1m) up to {last}: run `kitepilot data simulate`"
        raise ContractError("replay", "--from", first, rule)
    return days


def _backtest(
    config: KitepilotConfig, days: Sequence[date], until: dt_time | None, tokens: Sequence[int]
) -> BacktestResult:
    """The vectorized backtest of the champion over ``days`` (entries decided up to ``until``)."""
    from assets.market_data import CANDLES_TABLE
    from assets.models import TRAINING_SET_TABLE
    from data_contracts.clock import SystemClock
    from data_contracts.schemas import ist_date
    from models.backtest import run_backtest
    from models.data_quality.quarantine import read_candles
    from models.lake import Lake
    from models.registry import MlflowRegistry
    from models.research import strategy_entries
    from orchestration.model_settings import model_pipeline

    lake = Lake(config.storage.lake_dir)
    wanted = pl.col("instrument_token").is_in(list(tokens)) if tokens else pl.lit(value=True)

    def read(table: str) -> pl.DataFrame:
        frame = lake.scan(table, days[0], days[-1]).filter(pl.col("date").is_in(list(days)))
        return frame.drop("date").filter(wanted).collect()

    rows = read(TRAINING_SET_TABLE)
    storage = config.storage
    registry = MlflowRegistry(
        storage.mlflow_tracking_uri,
        Path(storage.mlflow_artifacts_dir),
        config.training.model_name,
        clock=SystemClock(),
    )
    champion = registry.champion()
    if champion is None:
        raise ContractError("replay", "champion", None, "must exist: run `kitepilot train`")
    scores = registry.load(champion).score(rows)
    rows = rows.with_columns(
        pl.Series("p_win", scores.p_win, dtype=pl.Float64),
        pl.Series("expected_return", scores.expected_return, dtype=pl.Float64),
    )
    settings = model_pipeline(
        config, NseCalendar.default(override=config.calendar.holidays_file)
    ).research
    entries = strategy_entries(
        rows,
        "model",
        threshold=settings.threshold,
        min_expected_net_profit=settings.min_expected_net_profit,
    )
    if until is not None:
        ist = pl.col("ts_decision").dt.convert_time_zone("Asia/Kolkata")
        entries = entries.filter(ist.dt.time() <= until)
    bars = read_candles(lake, CANDLES_TABLE, days[0], days[-1], tokens=tokens or None)
    return run_backtest(
        bars.filter(ist_date().is_in(list(days))),
        entries,
        fills=settings.fills,
        portfolio=settings.portfolio,
    )


def replay(
    config: KitepilotConfig,
    first: date,
    last: date,
    *,
    speed: float,
    until: dt_time | None = None,
    approve_above: float | None = None,
    tokens: Sequence[int] = (),
) -> ReplayRun:
    """Replay the lake's sessions in ``[first, last]`` through the system and compare."""
    from execution.console.demo_approver import DemoApprover
    from models.replay_report import compare_with_backtest, replay_metrics, write_replay_report
    from orchestration.session_run import run_paper_session

    if first > last:
        raise ContractError("replay", "--from", first, f"must be on or before --to ({last})")
    days = _lake_days(config, first, last)
    calendar = NseCalendar.default(override=config.calendar.holidays_file)
    approver = DemoApprover(
        config.strategy.min_confidence if approve_above is None else approve_above
    )
    sessions: list[SessionResult] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[market]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=_console, transient=False) as bars:
        for day in days:
            session = calendar.session(day)
            if session is None:  # _lake_days keeps sessions only
                raise ContractError("replay", "day", day, "must be an NSE session")
            end = session.close
            if until is not None:
                end = min(end, datetime.combine(day, until, tzinfo=IST))
            minutes = max((end - session.open).total_seconds() / 60, 1.0)
            task = bars.add_task(f"replay {day}", total=minutes, market="09:15 IST")

            def advance(
                now: datetime, task: TaskID = task, opening: datetime = session.open
            ) -> None:
                done = (now - opening).total_seconds() / 60
                bars.update(task, completed=done, market=f"{to_ist(now):%H:%M} IST")

            sessions.append(
                run_paper_session(
                    config,
                    day,
                    until=until,
                    speed=speed,
                    approver=approver,
                    tokens=tokens,
                    progress=advance,
                )
            )
            bars.update(task, completed=minutes)
    trades = pl.concat([s.activity.trades for s in sessions])
    outcomes = pl.concat([s.activity.outcomes for s in sessions])
    closed = trades.filter(pl.col("status") == "closed")
    scored = replay_metrics(closed, capital=config.capital, days=days, calendar=calendar)
    with _spinner("vectorized backtest of the same days"):
        backtest = _backtest(config, days, until, tokens)
    comparison = compare_with_backtest(closed, backtest.trades, outcomes)
    report = write_replay_report(
        config.storage.reports_dir / "replay" / f"replay_{days[0]}_{days[-1]}.html",
        title=f"Replay {days[0]} → {days[-1]} through the whole system, after all charges",
        summary={
            "days": ", ".join(map(str, days)),
            "until": "session close" if until is None else f"{until:%H:%M} IST",
            "speed": speed,
            "approver": approver.decided_by,
            "model": f"{config.training.model_name}@champion",
            "data_source": config.data.source.value,
        },
        replay=scored,
        backtest_metrics=backtest.metrics,
        backtest_equity=backtest.equity,
        trades=trades,
        comparison=comparison,
        sessions=_session_table(sessions),
        data_source=config.data.source.value,
    )
    return ReplayRun(
        days=tuple(days),
        sessions=tuple(sessions),
        trades=trades,
        metrics=scored.metrics,
        backtest_metrics=dict(backtest.metrics),
        comparison=comparison,
        report=report,
    )


def _session_table(sessions: Sequence[SessionResult]) -> pl.DataFrame:
    """One row per replayed session (the CLI's table and the report's)."""
    rows = []
    for s in sessions:
        activity = s.activity
        rows.append(
            {
                "day": s.day.isoformat(),
                "proposals": activity.proposals,
                "approved": s.approvals,
                "rejected": s.rejections,
                "vetoed": len(activity.vetoes),
                "orders": ", ".join(f"{k} {v}" for k, v in activity.orders_by_status.items()),
                "fills": activity.fills,
                "trades": activity.trades.height,
                "net_pnl": s.net_pnl,
                "charges": s.charges,
                "tick_to_proposal_p50_ms": s.latency_ms.get("tick_to_proposal_p50_us", 0.0),
                "tick_to_proposal_p99_ms": s.latency_ms.get("tick_to_proposal_p99_us", 0.0),
                "left_open": ", ".join(s.left_open),
                "kill_switch": s.kill_switch or "",
                "wall_seconds": s.wall_seconds,
            }
        )
    return pl.DataFrame(rows)


def _spinner(text: str) -> Progress:
    progress = Progress(TextColumn(text), TimeElapsedColumn(), console=_console, transient=True)
    progress.add_task(text, total=None)
    return progress


def _load(config_file: Path | None) -> KitepilotConfig:
    try:
        return resolve_config(config_file).config
    except ConfigError as error:
        _console.print(str(error), style="bold red", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        rule = f"must be a date as YYYY-MM-DD, was {value!r}"
        raise typer.BadParameter(rule, param_hint=option) from None


def _time(value: str, option: str) -> dt_time:
    try:
        return dt_time.fromisoformat(value)
    except ValueError:
        rule = f"must be a time as HH:MM, was {value!r}"
        raise typer.BadParameter(rule, param_hint=option) from None


def _print(run: ReplayRun) -> None:
    sessions = _session_table(run.sessions)
    table = Table(title="Sessions (paper exchange → worker → demo approver → risk → executor)")
    for name in ("day", "proposals", "approved", "rejected", "vetoed", "orders", "fills"):
        table.add_column(name, justify="right")
    table.add_column("net ₹", justify="right")
    table.add_column("p50/p99 ms", justify="right")
    for row in sessions.iter_rows(named=True):
        table.add_row(
            *(str(row[n]) for n in ("day", "proposals", "approved", "rejected", "vetoed")),
            row["orders"],
            str(row["fills"]),
            f"{row['net_pnl']:,.2f}",
            f"{row['tick_to_proposal_p50_ms']:.2f}/{row['tick_to_proposal_p99_ms']:.2f}",
        )
    _console.print(table)
    for session in run.sessions:
        for pid, reasons in session.activity.vetoes:
            _console.print(f"[yellow]vetoed[/] {pid}: {reasons}", markup=True, highlight=False)
        if session.left_open:
            _console.print(f"[red]left open at the end of {session.day}:[/] {session.left_open}")
        if session.kill_switch:
            _console.print(f"[red]kill switch engaged on {session.day}:[/] {session.kill_switch}")
    log = Table(title=f"Trade log ({run.trades.height} trades)")
    shown = ("ts_entry", "tradingsymbol", "side", "quantity", "entry_price", "exit_price")
    for name in (*shown, "exit_reason", "net_pnl"):
        log.add_column(name, justify="right")
    for row in run.trades.iter_rows(named=True):
        log.add_row(
            f"{to_ist(row['ts_entry']):%Y-%m-%d %H:%M}",
            str(row["tradingsymbol"]),
            str(row["side"]),
            str(row["quantity"]),
            f"{row['entry_price']:,.2f}",
            "" if row["exit_price"] is None else f"{row['exit_price']:,.2f}",
            str(row["exit_reason"] or row["status"]),
            f"{row['net_pnl']:,.2f}",
        )
    _console.print(log)
    metrics = Table(title="Replay against the vectorized backtest, after all charges")
    metrics.add_column("metric")
    metrics.add_column("replay", justify="right")
    metrics.add_column("backtest", justify="right")
    for name in ("net_pnl", "charges", "trades", "win_rate", "sharpe", "max_drawdown"):
        metrics.add_row(
            name, f"{run.metrics[name]:,.4f}", f"{run.backtest_metrics.get(name, 0.0):,.4f}"
        )
    _console.print(metrics)
    compared = Table(title="Trades compared by decision (instrument, bar close)")
    compared.add_column("measure")
    compared.add_column("value", justify="right")
    for measure, value in run.comparison.summary.items():
        compared.add_row(measure, f"{value:,.2f}")
    _console.print(compared)
    from models.replay_report import WHY_THEY_DIFFER

    _console.print("Why they can differ:")
    for line in WHY_THEY_DIFFER:
        _console.print(f"  · {line}", highlight=False)
    _console.print(f"report: {run.report}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``kitepilot replay`` to ``app``."""

    @app.command("replay")
    def replay_command(
        start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
        end: Annotated[str | None, typer.Option("--to", help="Last day (default: --from).")] = None,
        speed: Annotated[
            float,
            typer.Option(min=0.1, help="Market seconds per wall second (120: a minute in 0.5 s)."),
        ] = _DEFAULT_SPEED,
        until: Annotated[
            str | None, typer.Option(help="Replay each day only up to this IST time (HH:MM).")
        ] = None,
        approve_above: Annotated[
            float | None,
            typer.Option(
                help="The demo approver approves p_win at or above this (default: the "
                "strategy's min_confidence, so it approves what the backtest would take)."
            ),
        ] = None,
        token: Annotated[
            list[int] | None,
            typer.Option(help="Replay only this instrument (and its derivatives); repeatable."),
        ] = None,
        config_file: ConfigOption = None,
    ) -> None:
        """Backtest mode through the whole system: replay lake days through the paper exchange,
        the streaming worker, a labelled demo approver, the risk engine and the executor; log
        every trade; report P&L after charges, Sharpe and max drawdown, and the difference from
        the vectorized backtest of the same days."""
        config = _load(config_file)
        first = _date(start, "--from")
        last = first if end is None else _date(end, "--to")
        stop = None if until is None else _time(until, "--until")
        _console.print(
            f"[bold]replay[/] {first} → {last} at speed {speed:g} · store "
            f"{config.storage.database_url} · paper account ₹"
            f"{config.paper_exchange.starting_cash:,.0f} per session",
            highlight=False,
            soft_wrap=True,
        )
        try:
            run = replay(
                config,
                first,
                last,
                speed=speed,
                until=stop,
                approve_above=approve_above,
                tokens=tuple(token or ()),
            )
        except ContractError as error:
            _console.print(str(error), style="bold red", markup=False, highlight=False)
            raise typer.Exit(2) from None
        _print(run)
