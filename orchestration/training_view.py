"""How a training run (walk-forward study, promotion verdict, reports) is shown on the console:
by ``kitepilot train`` and by the demo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the model side's imports are heavy; the CLI loads them only when training
    from orchestration.model_cli import TrainingRun

__all__ = ["print_training"]

_ML_SHOWN = ("auc", "brier", "log_loss", "ece", "precision", "recall", "predicted_positive")
# The full set (Sortino, exposure, turnover, ...) is in the walk-forward report.
_TRADING_SHOWN = ("net_pnl", "charges", "trades", "win_rate", "sharpe", "max_drawdown")


def print_training(console: Console, outcome: TrainingRun) -> None:
    study = outcome.study
    if study is None:
        console.print("[red]training did not produce a walk-forward study[/] (see the Dagster run)")
        return
    metrics = study.metrics
    console.print(
        "out of sample: "
        + " · ".join(f"{name} {metrics[name]:.4f}" for name in _ML_SHOWN if name in metrics)
    )
    table = Table(title="Out-of-sample trading, after all charges (walk-forward test windows)")
    table.add_column("strategy", no_wrap=True)
    for name in _TRADING_SHOWN:
        table.add_column(name, justify="right")
    for row in study.frames["comparison"].iter_rows(named=True):
        table.add_row(row["strategy"], *(f"{row[name]:,.2f}" for name in _TRADING_SHOWN))
    console.print(table)
    verdict = "[green]promoted to champion[/]" if outcome.promoted else "[yellow]challenger[/]"
    console.print(f"model version {outcome.version}: {verdict}")
    for reason in outcome.reasons:
        console.print(f"  · {reason}")
    # Paths are for copying: never wrapped.
    console.print(f"walk-forward report: {outcome.report}", soft_wrap=True)
    console.print(f"backtest report:     {outcome.backtest_report}", soft_wrap=True)
    if study.lineage.get("data_source") == "simulator":
        console.print("[dim]Simulated data is not market evidence.[/]")
