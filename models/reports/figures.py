"""The report figures, one builder per chart. Inputs are polars frames; values go in as plain lists.

Plain lists (not numpy arrays) keep the numbers readable in the HTML: plotly encodes numpy arrays as
base64. Timestamps are shown as IST wall-clock time (plotly.js does not handle UTC offsets), and
the axis says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import plotly.graph_objects as go
import polars as pl

from models.reports._html import require_columns

__all__ = [
    "FOLD_SCORE_COLUMNS",
    "calibration_figure",
    "comparison_figure",
    "equity_figure",
    "exit_reason_figure",
    "fold_pnl_figure",
    "fold_scores_figure",
    "importance_figure",
    "shap_figure",
    "trade_pnl_figure",
]

FOLD_SCORE_COLUMNS: Final = ("auc", "brier", "log_loss", "ece", "precision", "recall", "base_rate")
"""Per-fold columns drawn on the fold-scores chart (those present); all columns go in the table."""

_TEMPLATE: Final = "plotly_white"
_IST_NAME: Final = "Asia/Kolkata"


def _layout(figure: go.Figure, title: str, x: str, y: str) -> go.Figure:
    figure.update_layout(
        title=title, xaxis_title=x, yaxis_title=y, template=_TEMPLATE, legend_title_text=""
    )
    return figure


def _ist_wall_clock(column: pl.Series) -> list[object]:
    """A UTC (or any aware) datetime column as naive IST datetimes for plotly."""
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        column = column.dt.convert_time_zone(_IST_NAME).dt.replace_time_zone(None)
    return column.to_list()


def calibration_figure(calibration: pl.DataFrame) -> go.Figure:
    """Reliability diagram: observed win rate against mean predicted p_win per bin."""
    require_columns("calibration_figure", "calibration", calibration, _CALIBRATION_COLUMNS)
    frame = calibration.filter(pl.col("rows") > 0).sort("mean_predicted")
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[0.0, 1.0], y=[0.0, 1.0], mode="lines", name="perfectly calibrated",
            line={"dash": "dash", "color": "#9aa5b1"},
        )
    )  # fmt: skip
    figure.add_trace(
        go.Scatter(
            x=frame["mean_predicted"].to_list(),
            y=frame["observed_rate"].to_list(),
            customdata=frame.select("bin", "rows").rows(),
            mode="lines+markers",
            name="model",
            hovertemplate="bin %{customdata[0]}: predicted %{x:.3f}, observed %{y:.3f}, "
            "%{customdata[1]} rows<extra></extra>",
        )
    )
    figure.update_xaxes(range=[0, 1])
    figure.update_yaxes(range=[0, 1])
    return _layout(
        figure, "Calibration (out of sample)", "mean predicted p_win", "observed win rate"
    )


_CALIBRATION_COLUMNS: Final = ("bin", "mean_predicted", "observed_rate", "rows")


def equity_figure(equity: pl.DataFrame, *, title: str = "Equity") -> go.Figure:
    """Equity over time; one line per ``strategy`` when that column is present."""
    require_columns("equity_figure", "equity", equity, ("ts", "equity"))
    figure = go.Figure()
    if "strategy" in equity.columns:
        strategies = equity["strategy"].unique(maintain_order=True).to_list()
        groups = [(str(s), equity.filter(pl.col("strategy") == s)) for s in strategies]
    else:
        groups = [("equity", equity)]
    for name, group in groups:
        ordered = group.sort("ts")
        figure.add_trace(
            go.Scatter(
                x=_ist_wall_clock(ordered["ts"]),
                y=ordered["equity"].to_list(),
                mode="lines",
                line={"shape": "hv"},
                name=name,
            )
        )
    return _layout(figure, title, "time (IST)", "equity (₹)")


def _bar_by_name(
    frame: pl.DataFrame, *, owner: str, name: str, value: str, top: int, title: str, axis: str
) -> go.Figure:
    require_columns(owner, "frame", frame, (name, value))
    ordered = frame.sort(value, descending=True, nulls_last=True).head(top).reverse()
    figure = go.Figure(
        go.Bar(
            x=ordered[value].to_list(), y=ordered[name].cast(pl.String).to_list(), orientation="h"
        )
    )
    figure.update_layout(height=max(300, 24 * ordered.height + 120))
    return _layout(figure, title, axis, name)


def importance_figure(importance: pl.DataFrame, *, top: int = 20) -> go.Figure:
    """The ``top`` features by gain (``feature, gain``), largest at the top."""
    return _bar_by_name(
        importance, owner="importance_figure", name="feature", value="gain", top=top,
        title=f"Feature importance (gain, top {top})", axis="gain",
    )  # fmt: skip


def shap_figure(shap: pl.DataFrame, *, top: int = 20) -> go.Figure:
    """The ``top`` features by mean |SHAP| (``feature, mean_abs_shap``), largest at the top."""
    return _bar_by_name(
        shap, owner="shap_figure", name="feature", value="mean_abs_shap", top=top,
        title=f"Mean |SHAP| of p_win (top {top})", axis="mean |SHAP value|",
    )  # fmt: skip


def fold_scores_figure(folds: pl.DataFrame) -> go.Figure | None:
    """Out-of-sample scores per fold (the :data:`FOLD_SCORE_COLUMNS` present), or None."""
    require_columns("fold_scores_figure", "folds", folds, ("fold",))
    present = [c for c in FOLD_SCORE_COLUMNS if c in folds.columns]
    if not present:
        return None
    ordered = folds.sort("fold")
    figure = go.Figure()
    for column in present:
        figure.add_trace(
            go.Scatter(
                x=ordered["fold"].to_list(),
                y=ordered[column].to_list(),
                mode="lines+markers",
                name=column,
            )
        )
    figure.update_xaxes(tickmode="array", tickvals=ordered["fold"].to_list())
    return _layout(figure, "Out-of-sample scores per fold", "fold", "score")


def fold_pnl_figure(folds: pl.DataFrame) -> go.Figure | None:
    """Net P&L per fold when ``folds`` has a ``net_pnl`` column, else None."""
    require_columns("fold_pnl_figure", "folds", folds, ("fold",))
    if "net_pnl" not in folds.columns:
        return None
    ordered = folds.sort("fold")
    figure = go.Figure(go.Bar(x=ordered["fold"].to_list(), y=ordered["net_pnl"].to_list()))
    figure.update_xaxes(tickmode="array", tickvals=ordered["fold"].to_list())
    return _layout(figure, "Net P&L per fold (after charges)", "fold", "net P&L (₹)")


def comparison_figure(
    comparison: pl.DataFrame, metrics: Sequence[str] = ("net_pnl", "sharpe")
) -> go.Figure | None:
    """One bar per strategy for each of ``metrics`` present, side by side, or None."""
    require_columns("comparison_figure", "comparison", comparison, ("strategy",))
    present = [m for m in metrics if m in comparison.columns]
    if not present:
        return None
    figure = go.Figure()
    strategies = comparison["strategy"].cast(pl.String).to_list()
    for index, metric in enumerate(present):
        axis = "y" if index == 0 else f"y{index + 1}"
        figure.add_trace(
            go.Bar(
                x=strategies,
                y=comparison[metric].to_list(),
                name=metric,
                yaxis=axis,
                offsetgroup=str(index),
            )
        )
    layout: dict[str, object] = {"yaxis": {"title": {"text": present[0]}}}
    if len(present) > 1:
        layout["yaxis2"] = {"title": {"text": present[1]}, "overlaying": "y", "side": "right"}
    figure.update_layout(barmode="group", **layout)
    figure.update_layout(title="Strategies compared (after charges)", template=_TEMPLATE)
    return figure


def trade_pnl_figure(trades: pl.DataFrame) -> go.Figure:
    """Histogram of per-trade net P&L."""
    require_columns("trade_pnl_figure", "trades", trades, ("net_pnl",))
    figure = go.Figure(go.Histogram(x=trades["net_pnl"].to_list(), name="trades"))
    return _layout(figure, "Net P&L per trade (after charges)", "net P&L (₹)", "trades")


def exit_reason_figure(trades: pl.DataFrame) -> go.Figure:
    """Trades per exit reason."""
    require_columns("exit_reason_figure", "trades", trades, ("exit_reason",))
    counts = trades.group_by("exit_reason").len().sort("len", descending=True)
    figure = go.Figure(
        go.Bar(x=counts["exit_reason"].cast(pl.String).to_list(), y=counts["len"].to_list())
    )
    return _layout(figure, "Exits by reason", "exit reason", "trades")
