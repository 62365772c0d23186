"""The report writers: the walk-forward report, the backtest report, and one-figure pages.

Every writer takes the destination ``path`` first, writes one HTML file (creating parent
directories) and returns ``path``. ``plotlyjs`` chooses how plotly.js travels with the file (see
:mod:`models.reports._html`); ``data_source="simulator"`` puts the banner "Simulated data is not
market evidence" at the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.validation import integer
from models.reports import figures
from models.reports._html import (
    PlotlyJs,
    Section,
    figure_html,
    mapping_table,
    render_page,
    require_columns,
    table_html,
)

__all__ = [
    "write_backtest_report",
    "write_calibration_plot",
    "write_equity_plot",
    "write_importance_plot",
    "write_shap_plot",
    "write_walk_forward_report",
]


def write_walk_forward_report(
    path: Path,
    *,
    folds: pl.DataFrame,
    calibration: pl.DataFrame,
    equity: pl.DataFrame,
    comparison: pl.DataFrame,
    importance: pl.DataFrame,
    shap: pl.DataFrame,
    summary: Mapping[str, float | str],
    title: str = "Walk-forward evaluation",
    top_features: int = 20,
    plotlyjs: PlotlyJs = "embed",
) -> Path:
    """The model's out-of-sample story on one page.

    - ``summary``: name → value, shown first; ``summary["data_source"] == "simulator"`` adds the
      simulated-data banner.
    - ``comparison``: ``strategy`` + backtest metrics (a table, and bars of ``net_pnl``/``sharpe``).
    - ``equity``: ``ts, strategy, equity`` (one line per strategy).
    - ``folds``: one row per fold, ``fold`` + anything else (dates, rows, metrics; all in the
      table; :data:`figures.FOLD_SCORE_COLUMNS` and ``net_pnl`` are also drawn).
    - ``calibration``: ``bin, mean_predicted, observed_rate, rows``.
    - ``importance``: ``feature, gain``; ``shap``: ``feature, mean_abs_shap``.
    """
    owner = "write_walk_forward_report"
    _check_summary(owner, summary)
    require_columns(owner, "folds", folds, ("fold",))
    require_columns(owner, "equity", equity, ("ts", "strategy", "equity"))
    require_columns(owner, "comparison", comparison, ("strategy",))
    integer(owner, "top_features", top_features, minimum=1)
    data_source = summary.get("data_source")

    comparison_parts = [table_html(comparison)]
    bars = figures.comparison_figure(comparison)
    if bars is not None:
        comparison_parts.append(figure_html("comparison", bars))

    fold_parts = [table_html(folds)]
    for figure_id, figure in (
        ("fold-scores", figures.fold_scores_figure(folds)),
        ("fold-pnl", figures.fold_pnl_figure(folds)),
    ):
        if figure is not None:
            fold_parts.append(figure_html(figure_id, figure))

    sections = [
        Section("Summary", mapping_table(summary)),
        Section("Strategies compared", *comparison_parts),
        Section(
            "Equity by strategy",
            figure_html("equity", figures.equity_figure(equity, title="Equity by strategy")),
        ),
        Section("Walk-forward folds", *fold_parts),
        Section(
            "Calibration",
            figure_html("calibration", figures.calibration_figure(calibration)),
            table_html(calibration),
        ),
        Section(
            "Feature importance",
            figure_html("importance", figures.importance_figure(importance, top=top_features)),
            figure_html("shap", figures.shap_figure(shap, top=top_features)),
        ),
    ]
    return render_page(
        path,
        title=title,
        sections=sections,
        data_source=data_source if isinstance(data_source, str) else None,
        plotlyjs=plotlyjs,
    )


def write_backtest_report(
    path: Path,
    *,
    title: str,
    metrics: Mapping[str, float],
    equity: pl.DataFrame,
    trades: pl.DataFrame,
    data_source: str | None = None,
    max_trade_rows: int = 1000,
    plotlyjs: PlotlyJs = "embed",
) -> Path:
    """One backtest: metrics table, equity curve (``ts, equity``[, ``strategy``]), trades.

    Trades need ``net_pnl`` (histogram) and show a bar of ``exit_reason`` counts when that column
    is there; the table lists the first ``max_trade_rows`` trades.
    """
    owner = "write_backtest_report"
    require_columns(owner, "equity", equity, ("ts", "equity"))
    require_columns(owner, "trades", trades, ("net_pnl",))
    integer(owner, "max_trade_rows", max_trade_rows, minimum=1)
    trade_parts = [figure_html("trade-pnl", figures.trade_pnl_figure(trades))]
    if "exit_reason" in trades.columns:
        trade_parts.append(figure_html("exit-reasons", figures.exit_reason_figure(trades)))
    trade_parts.append(table_html(trades, max_rows=max_trade_rows))
    sections = [
        Section("Metrics", mapping_table(metrics, key="metric")),
        Section("Equity", figure_html("equity", figures.equity_figure(equity))),
        Section(f"Trades ({trades.height})", *trade_parts),
    ]
    return render_page(
        path, title=title, sections=sections, data_source=data_source, plotlyjs=plotlyjs
    )


def write_calibration_plot(
    path: Path,
    calibration: pl.DataFrame,
    *,
    data_source: str | None = None,
    plotlyjs: PlotlyJs = "embed",
) -> Path:
    """The reliability diagram alone (``bin, mean_predicted, observed_rate, rows``)."""
    figure = figures.calibration_figure(calibration)
    return _single(path, "Calibration", "calibration", figure, data_source, plotlyjs)


def write_equity_plot(
    path: Path,
    equity: pl.DataFrame,
    *,
    title: str = "Equity",
    data_source: str | None = None,
    plotlyjs: PlotlyJs = "embed",
) -> Path:
    """The equity curve alone (``ts, equity``, optionally ``strategy``)."""
    figure = figures.equity_figure(equity, title=title)
    return _single(path, title, "equity", figure, data_source, plotlyjs)


def write_importance_plot(
    path: Path,
    importance: pl.DataFrame,
    *,
    top: int = 20,
    data_source: str | None = None,
    plotlyjs: PlotlyJs = "embed",
) -> Path:
    """Feature importance by gain alone (``feature, gain``)."""
    integer("write_importance_plot", "top", top, minimum=1)
    figure = figures.importance_figure(importance, top=top)
    return _single(path, "Feature importance", "importance", figure, data_source, plotlyjs)


def write_shap_plot(
    path: Path,
    shap: pl.DataFrame,
    *,
    top: int = 20,
    data_source: str | None = None,
    plotlyjs: PlotlyJs = "embed",
) -> Path:
    """Mean |SHAP| per feature alone (``feature, mean_abs_shap``)."""
    integer("write_shap_plot", "top", top, minimum=1)
    figure = figures.shap_figure(shap, top=top)
    return _single(path, "Mean |SHAP|", "shap", figure, data_source, plotlyjs)


def _single(
    path: Path,
    title: str,
    figure_id: str,
    figure: object,
    data_source: str | None,
    plotlyjs: PlotlyJs,
) -> Path:
    return render_page(
        path,
        title=title,
        sections=[Section(title, figure_html(figure_id, figure))],
        data_source=data_source,
        plotlyjs=plotlyjs,
    )


def _check_summary(owner: str, summary: Mapping[str, float | str]) -> None:
    for key, value in summary.items():
        if not isinstance(key, str) or isinstance(value, bool):
            raise ContractError(owner, f"summary[{key!r}]", value, "must be a float or str")
        if not isinstance(value, int | float | str):
            raise ContractError(owner, f"summary[{key!r}]", value, "must be a float or str")
