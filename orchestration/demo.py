"""The heavy half of ``kitepilot demo``: the batch side, the model side and the paper session, each
reusing what an earlier demo run left when nothing that made it has changed
(:mod:`orchestration.demo_cache`)."""

from __future__ import annotations

from datetime import time as dt_time
from typing import Final

from rich.console import Console

from data_contracts.config import DataSource, KitepilotConfig
from data_contracts.errors import ContractError
from orchestration.demo_cache import (
    CachedModel,
    DemoCache,
    lake_fingerprint,
    model_fingerprint,
)

__all__ = ["demo_account", "demo_batch", "demo_model", "demo_session"]

# Enough for the default walk-forward (20 training days + 5-day test windows): two folds.
DEMO_TRADING_DAYS: Final = 30
_STREAM_UNTIL: Final = dt_time(10, 30)
_SPEED: Final = 120.0  # market seconds per wall second: the morning in well under a minute
# The demo's world (see demo_account): stated on screen, never written to your config.
DEMO_SCALE: Final = 100.0
DEMO_MOMENTUM: Final = 0.45
DEMO_MIN_CONFIDENCE: Final = 0.55
_REUSED_MODEL: Final = "reused: trained by an earlier demo run on the same lake, config and code"


def demo_account(config: KitepilotConfig) -> KitepilotConfig:
    """The demo's world, for the whole run, said on screen: your limits scaled to a ₹10,00,000
    paper account (the shipped ₹10,000 one caps a position at ₹6,000, where an intraday equity
    trade cannot clear ₹150 after charges), a simulated market with a planted 15-minute momentum
    (:data:`DEMO_MOMENTUM`) so there is an edge to learn, and proposals from a calibrated
    ``p_win`` of :data:`DEMO_MIN_CONFIDENCE` — a model trained on 30 simulated days is rarely
    more confident, and at your threshold it would (rightly) propose nothing."""
    risk = config.risk.model_copy(
        update={
            "daily_loss_limit": config.risk.daily_loss_limit * DEMO_SCALE,
            "per_trade_risk": config.risk.per_trade_risk * DEMO_SCALE,
            "max_symbol_exposure": config.risk.max_symbol_exposure * DEMO_SCALE,
            "max_total_exposure": config.risk.max_total_exposure * DEMO_SCALE,
        }
    )
    capital = config.capital * DEMO_SCALE
    paper = config.paper_exchange.model_copy(
        update={"starting_cash": max(config.paper_exchange.starting_cash, capital)}
    )
    data = config.data.model_copy(update={"simulator_momentum_15m": DEMO_MOMENTUM})
    strategy = config.strategy.model_copy(update={"min_confidence": DEMO_MIN_CONFIDENCE})
    return config.model_copy(
        update={
            "capital": capital,
            "risk": risk,
            "paper_exchange": paper,
            "data": data,
            "strategy": strategy,
        }
    )


def demo_batch(config: KitepilotConfig, console: Console, cache: DemoCache) -> str | None:
    """The lake the demo trains on and replays: with ``data.source: simulator``, the last trading
    days of the simulator's range through every Dagster asset (or the lake an earlier run made of
    them); with ``kite`` or ``files``, the lake you ingested. Returns the lake's fingerprint (None
    for your own lake, which the demo does not fingerprint: its model is always trained anew)."""
    from orchestration.data_cli import demo_range, lake_summary, simulate_days  # lazy: heavy

    if config.data.source is not DataSource.SIMULATOR:
        _your_lake(config, console)
        return None
    first, last = demo_range(config, DEMO_TRADING_DAYS)
    fingerprint = lake_fingerprint(config, first, last)
    summary = lake_summary(config)
    days_in_lake = min(days for days, _ in summary.values())
    if cache.lake_matches(fingerprint) and days_in_lake >= DEMO_TRADING_DAYS:
        console.print(
            f"[green]reusing the lake[/] of an earlier demo run ({first} → {last}: same simulator "
            "seed and range, config and code; every asset's checks passed then) — delete "
            f"{cache.path} to rebuild it"
        )
        failed: list[str] = []
    else:
        failed = simulate_days(config, first, last)
        summary = lake_summary(config)
    for table, (days, rows) in summary.items():
        console.print(f"{table:<24} {days:>3} days {rows:>10,} rows")
    if failed:
        console.print("[yellow]checks that did not pass:[/] " + ", ".join(failed))
        cache.forget()
    else:
        console.print(f"[green]all asset checks passed[/] for {first} → {last}")
        cache.record_lake(fingerprint)
    console.print(
        f"Data Docs: {config.storage.reports_dir / 'data_docs'} · open the asset graph with "
        "`DAGSTER_HOME=$PWD .venv/bin/dagster dev` (http://127.0.0.1:3000)"
    )
    return fingerprint


def _your_lake(config: KitepilotConfig, console: Console) -> None:
    """Use the lake ``kitepilot data …`` filled from Kite or your files, if it holds enough days
    for the walk-forward (one training window and one test window)."""
    from orchestration.data_cli import lake_summary  # lazy: heavy

    summary = lake_summary(config)
    needed = config.training.train_days + config.training.test_days
    days, rows = summary["training_set"]
    if days < needed:
        rule = (
            f"must hold at least {needed} days of training data for the demo (training.train_days "
            f"+ training.test_days), has {days}: ingest more with `kitepilot data …`, or set "
            "data.source: simulator"
        )
        raise ContractError("data", "source", config.data.source.value, rule)
    console.print(
        f"using [bold]your lake[/] (data.source: {config.data.source.value}) at "
        f"{config.storage.lake_dir}: {days} days, {rows:,} training rows — nothing is simulated"
    )
    for table, (table_days, table_rows) in summary.items():
        console.print(f"{table:<24} {table_days:>3} days {table_rows:>10,} rows")


def demo_model(
    config: KitepilotConfig, console: Console, cache: DemoCache, lake: str | None
) -> None:
    """Walk-forward train, register and gate the promotion — or show the champion an earlier run
    trained on the same lake with the same config and code."""
    from orchestration.model_cli import champion_run, study_file, train  # lazy: heavy imports
    from orchestration.training_view import print_training

    fingerprint = None if lake is None else model_fingerprint(config, lake)
    cached = None if fingerprint is None else cache.model(fingerprint)
    outcome = None
    if cached is not None and CachedModel.study_digest(study_file(config)) == cached.study:
        outcome = champion_run(config, cached.version, _REUSED_MODEL)
    if outcome is None:
        outcome = train(config)
        digest = CachedModel.study_digest(study_file(config))
        version = outcome.version
        if fingerprint and outcome.promoted and version is not None and digest is not None:
            cache.record_model(fingerprint, CachedModel(version, digest))
    print_training(console, outcome)
    console.print(
        "MLflow UI: `.venv/bin/mlflow ui --backend-store-uri "
        f"{config.storage.mlflow_tracking_uri}`",
        soft_wrap=True,
    )


def demo_session(config: KitepilotConfig, console: Console) -> None:
    """The last simulated morning through the paper exchange, the streaming worker, the demo
    approver, the risk engine and the executor."""
    from execution.console.demo_approver import DemoApprover  # lazy: heavy imports
    from models.lake import Lake
    from orchestration.data_cli import demo_range
    from orchestration.replay_cli import replay

    if config.data.source is DataSource.SIMULATOR:
        _, day = demo_range(config, 1)
    else:
        day = Lake(config.storage.lake_dir).days("candles_1m")[-1]
    approver = DemoApprover(config.strategy.min_confidence)
    console.print(
        f"approvals by [bold]{approver.decided_by}[/] through the same decision desk a person "
        "uses — the risk engine still checks every order",
        highlight=False,
    )
    run = replay(
        config, day, day, speed=_SPEED, until=_STREAM_UNTIL, approve_above=approver.threshold
    )
    (result,) = run.sessions
    activity = result.activity
    latency = result.latency_ms
    console.print(
        f"{result.ticks:,} ticks → {result.scored_bars:,} scored bars → {result.proposals} "
        f"proposals (p_win ≥ {config.strategy.min_confidence:.2f}, expected net profit ≥ "
        f"₹{config.strategy.min_expected_net_profit:,.0f} after charges) → {result.approvals} "
        f"approved, {result.rejections} rejected, {len(activity.vetoes)} vetoed by the risk "
        f"engine → orders {dict(activity.orders_by_status) or 'none'}, {activity.fills} fills, "
        f"{activity.trades.height} trades · net P&L after charges ₹{result.net_pnl:,.2f} "
        f"(charges ₹{result.charges:,.2f}) · tick→proposal p50/p99 "
        f"{latency.get('tick_to_proposal_p50_us', 0.0):,.1f}/"
        f"{latency.get('tick_to_proposal_p99_us', 0.0):,.1f} ms · "
        f"{result.wall_seconds:,.0f} s",
        highlight=False,
    )
    for proposal_id, reasons in activity.vetoes[:5]:
        console.print(f"  vetoed {proposal_id}: {reasons}", highlight=False)
    if not result.proposals:
        console.print(
            "No proposal cleared the thresholds this morning: the model trained on these "
            "simulated days is rarely that confident (see its calibration in the walk-forward "
            "report). `kitepilot replay --from D --to D` runs whole days the same way.",
            highlight=False,
        )
    compared = run.comparison.summary
    console.print(
        f"vs the vectorized backtest of the same morning: {compared['trades in the backtest']:.0f}"
        f" backtest trades, {compared['in both']:.0f} in both, P&L difference "
        f"₹{compared['P&L difference (replay - backtest)']:,.2f} (why they differ: docs/replay.md)",
        highlight=False,
    )
    console.print(f"paper-session report: {run.report}", highlight=False)
    console.print(
        "The same live: `kitepilot up` (paper exchange, Dagster, MLflow, worker, executor, "
        "dashboard at http://127.0.0.1:8050); see docs/OPERATIONS.md.",
        highlight=False,
    )
