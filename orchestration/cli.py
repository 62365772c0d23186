"""The ``kitepilot`` command line: the composition root for interactive use.

Each command loads the configuration, builds what it needs and calls into the core; no trading
logic lives here.
"""

from __future__ import annotations

import json
import signal
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from data_contracts.charges import ChargesModel
from data_contracts.clock import SystemClock
from data_contracts.config import ConfigError, KitepilotConfig, PaperSource
from data_contracts.enums import ChargeSegment, InstrumentType, Side
from data_contracts.errors import ContractError
from data_contracts.freeze import load_freeze_quantities
from data_contracts.nse_calendar import (
    Holiday,
    NseCalendar,
    Session,
    SessionKind,
    UnpublishedHolidaysWarning,
)
from data_contracts.pricegrid import round_for_side, slice_quantity
from data_contracts.symbols import DerivativeSymbol
from data_contracts.timeutil import IST, to_ist
from orchestration.config_docs import register as register_config_docs
from orchestration.demo import demo_account, demo_batch, demo_model, demo_session
from orchestration.demo_cache import DemoCache
from orchestration.execution_commands import register as register_execution_commands
from orchestration.mcp_cli import register as register_mcp
from orchestration.preflight import register as register_preflight
from orchestration.replay_cli import register as register_replay
from orchestration.settings import ResolvedConfig, resolve_config
from orchestration.training_view import print_training
from orchestration.up import register as register_up

app = typer.Typer(
    name="kitepilot",
    help="Semi-automated trading co-pilot for Zerodha Kite. Paper trading by default.",
    no_args_is_help=True,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
data_app = typer.Typer(help="Market data: simulate, import, validate.", no_args_is_help=True)
app.add_typer(data_app, name="data")
register_execution_commands(app)
register_config_docs(app)  # after the `config` group exists: it adds `config docs` to it
register_preflight(app)
register_up(app)
register_replay(app)
register_mcp(app)

console = Console()
errors = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Your YAML config (default: ./kitepilot.yaml or $KITEPILOT_CONFIG)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")]


def main() -> None:
    # A supervisor (`kitepilot up`, docker, systemd) stops a process with SIGTERM. Treat it as
    # Ctrl-C, so that long-running commands take the path they take on Ctrl-C — stop the loop,
    # finish the write in hand, close the store — instead of dying where they stand.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    app()


def _resolve(config_file: Path | None) -> ResolvedConfig:
    try:
        return resolve_config(config_file)
    except ConfigError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None


def _print_error(error: Exception) -> None:
    # Plain text, not markup: a bad value such as "[/x]" must not break the message about it.
    errors.print(str(error), style="bold red", markup=False, highlight=False, soft_wrap=True)


def _load(config_file: Path | None) -> KitepilotConfig:
    return _resolve(config_file).config


def _today() -> date:
    return to_ist(SystemClock().now()).date()


def _parse_time(value: str | None, option: str) -> dt_time | None:
    if value is None:
        return None
    try:
        return dt_time.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"must be a time as HH:MM, was {value!r}", param_hint=option
        ) from None


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        rule = f"must be a date as YYYY-MM-DD, was {value!r}"
        raise typer.BadParameter(rule, param_hint=option) from None


def _required_date(value: str, option: str) -> date:
    parsed = _parse_date(value, option)
    if parsed is None:
        raise typer.BadParameter("is required", param_hint=option)
    return parsed


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@config_app.command("show")
def config_show(config_file: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show the effective configuration and where each value came from (secrets masked)."""
    resolved = _resolve(config_file)
    values = resolved.config.model_dump(mode="json")  # SecretStr dumps as '**********'
    if as_json:
        typer.echo(json.dumps(values, indent=2, sort_keys=True))
        return
    table = Table(title=f"kitepilot config — mode {resolved.config.mode.value.upper()}")
    table.add_column("key", style="cyan")
    table.add_column("value")
    table.add_column("set in", style="dim")
    for key, value in _flatten(values).items():
        shown = "(not set)" if value is None else str(value)
        table.add_row(key, shown, resolved.sources.get(key, "defaults.yaml"))
    console.print(table)


class SegmentChoice(StrEnum):
    delivery = ChargeSegment.DELIVERY.value
    intraday = ChargeSegment.INTRADAY.value
    futures = ChargeSegment.FUTURES.value
    options = ChargeSegment.OPTIONS.value


@app.command()
def charges(
    segment: Annotated[SegmentChoice, typer.Option(help="How Zerodha prices the trade.")],
    buy: Annotated[float, typer.Option(help="Buy price (premium for options), rupees.")],
    sell: Annotated[float, typer.Option(help="Sell price (premium for options), rupees.")],
    qty: Annotated[int, typer.Option(help="Quantity (units, not lots).")],
    on: Annotated[
        str | None, typer.Option("--date", help="Trade date YYYY-MM-DD (default: today, IST).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Zerodha charges for a round trip (buy then sell), itemised, in rupees."""
    trade_date = _parse_date(on, "--date") or _today()
    try:
        breakdown = ChargesModel.default().round_trip(
            ChargeSegment(segment.value), buy, sell, qty, trade_date
        )
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None
    items = breakdown.as_dict()
    if as_json:
        typer.echo(json.dumps(items))
        return
    console.print(
        f"[bold]{segment.value}[/] round trip: buy {qty} @ ₹{buy:g}, sell @ ₹{sell:g}, "
        f"rates of {trade_date}"
    )
    table = Table()
    table.add_column("charge")
    table.add_column("₹", justify="right")
    for name, amount in items.items():
        style = "bold" if name == "total" else ""
        table.add_row(name, f"{amount:,.2f}", style=style)
    gross = (sell - buy) * qty
    console.print(table)
    console.print(
        f"gross P&L {_rupees(gross)} → net after charges {_rupees(gross - items['total'])}"
    )


def _rupees(amount: float) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}₹{abs(amount):,.2f}"


@contextmanager
def _shown_calendar_warnings() -> Iterator[None]:
    """Show the calendar's unpublished-year warnings to the user instead of Python's format."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnpublishedHolidaysWarning)
        yield
    for warning in caught:
        errors.print(f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True)


@app.command()
def calendar(
    start: Annotated[
        str | None, typer.Option("--from", help="First day YYYY-MM-DD (default: today, IST).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day YYYY-MM-DD (default: two weeks on).")
    ] = None,
    config_file: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """NSE sessions, holidays and NIFTY option expiries in a date range (times in IST)."""
    first = _parse_date(start, "--from") or _today()
    last = _parse_date(end, "--to") or first + timedelta(days=14)
    if last < first:
        raise typer.BadParameter(
            f"must not be before --from ({first}), was {last}", param_hint="--to"
        )
    holidays_file = _load(config_file).calendar.holidays_file
    with _shown_calendar_warnings():
        nse = NseCalendar.default(override=holidays_file)
        sessions = nse.sessions(first, last)
        holidays = nse.holidays(first, last)
        expiries = [
            (d, "monthly" if nse.is_monthly_expiry(d) else "weekly")
            for d in nse.nifty_expiries(first, last)
        ]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "sessions": [
                        {
                            "date": s.date.isoformat(),
                            "kind": s.kind.value,
                            "open": s.open_ist.isoformat(),
                            "close": s.close_ist.isoformat(),
                            "mis_square_off_equity": _iso(
                                nse.mis_square_off(s.date, derivatives=False)
                            ),
                            "mis_square_off_fno": _iso(
                                nse.mis_square_off(s.date, derivatives=True)
                            ),
                        }
                        for s in sessions
                    ],
                    "holidays": [
                        {
                            "date": h.date.isoformat(),
                            "description": h.description,
                            "published": h.published,
                        }
                        for h in holidays
                    ],
                    "nifty_expiries": [{"date": d.isoformat(), "kind": k} for d, k in expiries],
                }
            )
        )
        return
    _print_calendar(nse, sessions, holidays, expiries, first, last)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else to_ist(value).isoformat()


def _print_calendar(
    nse: NseCalendar,
    sessions: list[Session],
    holidays: list[Holiday],
    expiries: list[tuple[date, str]],
    first: date,
    last: date,
) -> None:
    expiry_kind = dict(expiries)
    table = Table(title=f"NSE sessions {first} → {last} (IST)")
    for column in ("date", "day", "session", "MIS square-off (eq / F&O)", "NIFTY expiry"):
        table.add_column(column)
    for session in sessions:
        equity = nse.mis_square_off(session.date, derivatives=False)
        fno = nse.mis_square_off(session.date, derivatives=True)
        square_off = (
            "—"
            if equity is None or fno is None
            else (f"{equity.astimezone(IST):%H:%M} / {fno.astimezone(IST):%H:%M}")
        )
        kind = "" if session.kind is SessionKind.REGULAR else f" [magenta]{session.kind.value}[/]"
        table.add_row(
            session.date.isoformat(),
            f"{session.date:%a}",
            f"{session.open_ist:%H:%M}-{session.close_ist:%H:%M}{kind}",
            square_off,
            expiry_kind.get(session.date, ""),
        )
    console.print(table)
    if holidays:
        listed = Table(title="Holidays")
        listed.add_column("date")
        listed.add_column("day")
        listed.add_column("holiday")
        for holiday in holidays:
            note = "" if holiday.published else " [yellow](assumed: NSE list not published)[/]"
            listed.add_row(
                holiday.date.isoformat(), f"{holiday.date:%a}", holiday.description + note
            )
        console.print(listed)
    else:
        console.print("No NSE holidays in this range.")


_DEMO_NIFTY_SPOT = 24_400
_DEMO_NIFTY_LOT = 65
_DEMO_PREMIUM = 100.0


@app.command()
def demo(config_file: ConfigOption = None) -> None:
    """The main job, in minutes: simulated data through every Dagster asset and check,
    walk-forward training and gated promotion in MLflow, then a simulated morning through the
    paper exchange, the streaming worker, a labelled demo approver, the risk engine and the
    executor. A second run reuses the lake and the model when nothing that made them changed."""
    yours = _load(config_file)
    config = demo_account(yours)
    today = _today()
    console.rule("[bold]kitepilot demo[/]")
    console.print(
        f"[bold green]{config.mode.value.upper()}[/] mode · config valid "
        f"({len(_flatten(yours.model_dump()))} settings)"
    )
    console.print(
        f"[bold]demo world (this run only)[/]: your limits scaled to a ₹{config.capital:,.0f} "
        f"paper account (yours ₹{yours.capital:,.0f}): per-trade risk "
        f"₹{config.risk.per_trade_risk:,.0f}, ≤ ₹{config.risk.max_symbol_exposure:,.0f} a symbol, "
        f"daily loss limit ₹{config.risk.daily_loss_limit:,.0f}; a simulated market with a "
        f"planted 15-minute momentum of {config.data.simulator_momentum_15m:g} (yours "
        f"{yours.data.simulator_momentum_15m:g}); proposals from p_win ≥ "
        f"{config.strategy.min_confidence:.2f} (yours {yours.strategy.min_confidence:.2f})",
        highlight=False,
    )
    with _shown_calendar_warnings():
        nse = NseCalendar.default(override=config.calendar.holidays_file)
        upcoming = nse.next_session(today)
        expiries = nse.nifty_expiries(today, today + timedelta(days=35))
    console.rule("NSE calendar")
    console.print(
        f"today {today} (IST) is {'a trading day' if nse.is_trading_day(today) else 'closed'}; "
        f"next session {upcoming.date} {upcoming.open_ist:%H:%M}-{upcoming.close_ist:%H:%M} IST"
    )
    weekly = next((d for d in expiries if not nse.is_monthly_expiry(d)), None)
    monthly = next((d for d in expiries if nse.is_monthly_expiry(d)), None)
    console.print("NIFTY expiries in the next 5 weeks: " + ", ".join(map(str, expiries)))

    console.rule("Instruments")
    for expiry, is_monthly in ((weekly, False), (monthly, True)):
        if expiry is None:
            continue
        symbol = DerivativeSymbol.of(
            "NIFTY", expiry, _DEMO_NIFTY_SPOT, InstrumentType.CE, monthly=is_monthly
        )
        kind = "monthly" if is_monthly else "weekly"
        console.print(f"{kind} {expiry}: NIFTY {_DEMO_NIFTY_SPOT} CE trades as [cyan]{symbol}[/]")
    freeze = (
        load_freeze_quantities()
        .with_overrides(config.instruments.freeze_quantity_overrides, "config")
        .get("NIFTY")
    )
    if freeze is not None:
        slices = slice_quantity(40 * _DEMO_NIFTY_LOT, _DEMO_NIFTY_LOT, freeze)
        console.print(
            f"40 lots of NIFTY ({40 * _DEMO_NIFTY_LOT}) with freeze quantity {freeze} go out as "
            f"{len(slices)} orders: {', '.join(map(str, slices))}"
        )
    limit = round_for_side(_DEMO_PREMIUM * 1.0013, 0.05, Side.BUY)
    console.print(f"a BUY limit of ₹{_DEMO_PREMIUM * 1.0013:.4f} goes on the 0.05 grid as ₹{limit}")

    console.rule("Zerodha charges: one NIFTY lot, long option")
    _demo_exits(config, today)

    console.rule("Batch side: simulator → Dagster assets → checks → features → labels")
    cache = DemoCache.under(config.storage.var_dir)
    try:
        lake = demo_batch(config, console, cache)
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None

    console.rule("Model: walk-forward XGBoost → MLflow registry → gated promotion → backtest")
    demo_model(config, console, cache, lake)

    console.rule(
        "Paper session: the last simulated morning through the paper exchange, the streaming "
        "worker, a demo approver, the risk engine and the executor"
    )
    demo_session(config, console)
    console.print(
        "Any order above went to the local paper exchange through the real kiteconnect client; "
        "nothing reached a broker. Simulated data is not market evidence."
    )


def _demo_exits(config: KitepilotConfig, today: date) -> None:
    model = ChargesModel.default()
    strategy = config.strategy
    table = Table()
    for column in ("exit", "premium", "gross ₹", "charges ₹", "net ₹"):
        table.add_column(column, justify="right")
    exits = (
        (f"take-profit +{strategy.option_take_profit_pct:g}%", strategy.option_take_profit_pct),
        (f"stop-loss -{strategy.option_stop_loss_pct:g}%", -strategy.option_stop_loss_pct),
    )
    for name, move_pct in exits:
        sell = round(_DEMO_PREMIUM * (1 + move_pct / 100), 2)
        items = model.round_trip(
            ChargeSegment.OPTIONS, _DEMO_PREMIUM, sell, _DEMO_NIFTY_LOT, today
        ).as_dict()
        gross = (sell - _DEMO_PREMIUM) * _DEMO_NIFTY_LOT
        table.add_row(
            name,
            f"{_DEMO_PREMIUM:g} → {sell:g}",
            f"{gross:,.2f}",
            f"{items['total']:,.2f}",
            f"{gross - items['total']:,.2f}",
        )
    console.print(table)
    console.print(
        f"min expected net profit to propose a trade: ₹{strategy.min_expected_net_profit:g}; "
        f"min confidence {strategy.min_confidence:.2f}"
    )


@data_app.command("simulate")
def data_simulate(
    start: Annotated[
        str | None, typer.Option("--from", help="First day (default: data.simulator_start).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day (default: data.simulator_end).")
    ] = None,
    config_file: ConfigOption = None,
) -> None:
    """Simulate trading days and materialize every batch asset and check (as in `dagster dev`)."""
    from orchestration.data_cli import simulate_days  # lazy: keeps `kitepilot --help` fast

    config = _load(config_file)
    first = _parse_date(start, "--from") or config.data.simulator_start
    last = _parse_date(end, "--to") or config.data.simulator_end
    try:
        failed = simulate_days(config, first, last)
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None
    console.print(f"lake: {config.storage.lake_dir} · reports: {config.storage.reports_dir}")
    if failed:
        console.print("[yellow]checks that did not pass:[/]\n  " + "\n  ".join(failed))
        raise typer.Exit(code=1)
    console.print("[green]all assets materialized and every check passed[/]")


@data_app.command("import")
def data_import(
    path: Annotated[Path, typer.Argument(help="A candle file (CSV/Parquet) or a folder of them.")],
    preset: Annotated[
        str | None, typer.Option(help="Import preset (default: detect from the file).")
    ] = None,
    config_file: ConfigOption = None,
) -> None:
    """Import candle files into the lake and report every defect they contain."""
    from models.data_quality import format_report  # lazy: every command starts faster
    from orchestration.data_cli import import_files  # lazy: keeps `kitepilot --help` fast

    config = _load(config_file)
    try:
        reports = import_files(config, path, preset)
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None
    for report in reports:
        console.print(format_report(report), markup=False, highlight=False)
    blocked = [r.source for r in reports if not r.passed]
    console.print(
        f"imported {len(reports)} file(s) into {config.storage.lake_dir}; "
        f"{len(blocked)} with blocking defects"
    )


@data_app.command("validate")
def data_validate(
    table: Annotated[str, typer.Option(help="Lake table to check.")] = "candles_1m",
    start: Annotated[str | None, typer.Option("--from", help="First day.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day.")] = None,
    config_file: ConfigOption = None,
) -> None:
    """Run the data-quality checks over the lake and write the Data Docs report."""
    from models.data_quality import format_report  # lazy: every command starts faster
    from orchestration.data_cli import validate_table  # lazy: keeps `kitepilot --help` fast

    config = _load(config_file)
    try:
        report = validate_table(
            config, table, _parse_date(start, "--from"), _parse_date(end, "--to")
        )
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None
    console.print(format_report(report), markup=False, highlight=False)
    if not report.passed:
        raise typer.Exit(code=1)


@app.command()
def train(config_file: ConfigOption = None) -> None:
    """Walk-forward train, register in MLflow, promote to champion only if it beats the current
    one (the same Dagster job the weekly schedule runs)."""
    from orchestration.model_cli import train as run_training  # lazy: heavy imports

    config = _load(config_file)
    try:
        outcome = run_training(config)
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None
    print_training(console, outcome)
    if not outcome.succeeded:
        raise typer.Exit(code=1)


@app.command()
def backtest(
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")],
    strategy: Annotated[
        str,
        typer.Option(
            help="model, rules_macd_rsi, always_trade, never_trade (equity intraday), "
            "options_rules_macd_rsi or options_always_trade (long NIFTY options), "
            "swing_model or swing_always_trade (equity swing, CNC delivery)."
        ),
    ] = "model",
    config_file: ConfigOption = None,
) -> None:
    """Backtest a strategy over lake days: prints the metrics and writes an HTML report."""
    from orchestration.model_cli import backtest as run_backtest  # lazy: heavy imports

    config = _load(config_file)
    first, last = _required_date(start, "--from"), _required_date(end, "--to")
    try:
        run = run_backtest(config, first, last, strategy)
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None
    table = Table(title=f"Backtest {run.strategy} {run.first} → {run.last}, after all charges")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in run.result.metrics.items():
        table.add_row(name, f"{value:,.4f}")
    console.print(table)
    if run.model_version is not None:
        console.print(f"scored by champion v{run.model_version}; days it trained on are in-sample")
    console.print(f"report: {run.report}", soft_wrap=True)


class PaperSourceChoice(StrEnum):
    sim = PaperSource.SIM.value
    lake = PaperSource.LAKE.value


@app.command()
def stream(
    paper: Annotated[
        bool,
        typer.Option(
            "--paper/--live",
            help="Ticks from the local paper exchange (default) or from Kite (needs mode: live).",
        ),
    ] = True,
    processes: Annotated[
        int, typer.Option("--processes", "-p", min=1, max=64, help="Worker processes.")
    ] = 1,
    replay_from: Annotated[
        str | None,
        typer.Option("--from", help="Replay the lake from this day (YYYY-MM-DD) instead."),
    ] = None,
    replay_to: Annotated[
        str | None, typer.Option("--to", help="... up to this day (default: --from).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Replay each day only up to this IST time (HH:MM).")
    ] = None,
    config_file: ConfigOption = None,
) -> None:
    """The streaming worker: ticks → candles → features → champion scores → proposals in the
    store, with exits for open trades. Ctrl-C stops a live stream."""
    from orchestration.stream_cli import run_stream, stream_spec  # lazy: heavy imports

    config = _load(config_file)
    first = _parse_date(replay_from, "--from")
    last = _parse_date(replay_to, "--to") or first
    if last is not None and first is None:
        raise typer.BadParameter("needs --from as well", param_hint="--to")
    replay = None if first is None or last is None else (first, last)
    try:
        with _shown_calendar_warnings():
            spec = stream_spec(
                config,
                live=not paper,
                replay=replay,
                processes=processes,
                until=_parse_time(until, "--until"),
            )
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None
    if replay is not None:
        where = f"replaying {spec.days[0]}..{spec.days[-1]} from the lake"
    elif paper:
        where = "the paper exchange"
    else:
        where = "[bold red]LIVE Kite[/]"
    console.print(
        f"[bold]streaming worker[/] · {where} · {processes} process(es) · model "
        f"{config.training.model_name}@champion · store {config.storage.database_url}",
        highlight=False,
    )
    with console.status("streaming (Ctrl-C stops)…"):
        summary = run_stream(config, spec, processes=processes)
    console.print(
        f"proposals stored: {summary.proposals} · exits: {summary.exits} · dead letters: "
        f"{sum(summary.dead_letters.values())} {dict(summary.dead_letters) or ''}",
        highlight=False,
    )
    for worker, values in sorted(summary.metrics.items()):
        console.print(
            f"  {worker}: {values.get('ticks', 0):,.0f} ticks · {values.get('scored', 0):,.0f} "
            f"scored bars · tick→proposal p50 {values.get('tick_to_proposal_p50_us', 0) / 1000:.2f}"
            f" ms, p99 {values.get('tick_to_proposal_p99_us', 0) / 1000:.2f} ms",
            highlight=False,
        )


@app.command("paper-exchange")
def paper_exchange(
    port: Annotated[int | None, typer.Option(help="Port (default: paper_exchange.port).")] = None,
    speed: Annotated[
        float | None,
        typer.Option(help="Market seconds per wall second (1 real time, 60 a minute a second)."),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--from", help="The session to replay, YYYY-MM-DD (default: the last one)."),
    ] = None,
    source: Annotated[
        PaperSourceChoice | None, typer.Option(help="Market data: sim (simulator) or lake.")
    ] = None,
    faults: Annotated[
        Path | None, typer.Option(help="A fault-injection plan (YAML) for reliability tests.")
    ] = None,
    config_file: ConfigOption = None,
) -> None:
    """The local Kite-compatible paper exchange: REST and the WebSocket ticker on one port,
    replaying a market session. Ctrl-C stops it."""
    from orchestration.paper_cli import (  # lazy: keeps `kitepilot --help` fast
        PaperOverrides,
        build_paper_exchange,
        serve,
    )

    config = _load(config_file)
    if port is not None and not 0 <= port <= 65535:
        raise typer.BadParameter(f"must be within 0..65535, was {port}", param_hint="--port")
    if speed is not None and speed < 0:
        raise typer.BadParameter(f"must be >= 0, was {speed}", param_hint="--speed")
    overrides = PaperOverrides(
        port=port,
        speed=speed,
        day=_parse_date(start, "--from"),
        source=None if source is None else PaperSource(source.value),
        faults_file=faults,
    )
    try:
        with _shown_calendar_warnings():
            exchange, credentials_file = build_paper_exchange(config, overrides, _today())
    except ContractError as error:
        _print_error(error)
        raise typer.Exit(code=2) from None
    settings = exchange.settings
    host = settings.host
    shown_port = settings.port
    console.print(
        f"[bold]paper exchange[/] replaying {exchange.market.day} "
        f"({(source or config.paper_exchange.source).value}) at speed {exchange.clock.speed:g}"
    )
    console.print(
        f"REST   http://{host}:{shown_port}  ·  ticker ws://{host}:{shown_port}\n"
        f"api_key {settings.api_key} · user {settings.user_id} · api_secret and admin token "
        f"(header X-Paper-Admin) in {credentials_file}",
        soft_wrap=True,
        highlight=False,
    )
    console.print("Ctrl-C stops it.")
    serve(exchange)
