"""Backtest mode through the whole system, scored: the metrics of a replay's trade log and how it
differs from the vectorized backtest of the same days and model.

The metrics are :mod:`models.backtest.metrics`' own (one definition): the replay's closed trades
become a trades table, the equity curve is capital plus realised net P&L after each exit, and
Sharpe uses daily net P&L over every replayed session. The comparison matches entries by decision
— (instrument, bar close) — which the streaming worker and the backtest share by construction
(``tests/integration/test_stream_replay.py``), so what differs is what happened after the
decision: the approval, the risk engine, the fill and the exit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.validation import positive
from models.backtest.metrics import equity_curve, summarise
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
    "REPLAY",
    "VECTORIZED",
    "WHY_THEY_DIFFER",
    "Comparison",
    "ReplayMetrics",
    "compare_with_backtest",
    "replay_metrics",
    "write_replay_report",
]

REPLAY: Final = "replay (paper exchange)"
VECTORIZED: Final = "vectorized backtest"
_KEYS: Final = ("instrument_token", "ts_decision")
_EPOCH: Final = date(1970, 1, 1)

WHY_THEY_DIFFER: Final = (
    "Fill timing: the replay's LIMIT order rests on the paper exchange and fills against the "
    "replayed quotes and book after the approval; the backtest fills on the next bar by its fill "
    "model.",
    "Risk vetoes: the executor's risk engine re-checks every approval against the paper account "
    "at that moment (price drift, margin, exposure, concurrency, daily loss); the backtest's "
    "portfolio only limits concurrency and cash.",
    "TTL: a proposal not approved and sent before it expires is never traded (the approver, the "
    "executor's loop and the replay speed all spend market time).",
    "Exits: the exit monitor decides take-profit, stop-loss and time exits on streamed bars and "
    "the exit order fills on the venue; the backtest exits on the bar path, and a replay that "
    "stops early flattens what is open at the end.",
    "Approvals: proposals the approver rejected, and decisions only one side makes (the options "
    "strategy is not part of the equity backtest).",
)


@dataclass(frozen=True, slots=True)
class ReplayMetrics:
    """The backtest metrics of a trades table, and its equity curve (``ts, equity``)."""

    metrics: dict[str, float]
    equity: pl.DataFrame


def _session_bars(days: Sequence[date], calendar: NseCalendar) -> tuple[np.ndarray, np.ndarray]:
    """Every 1-minute bar close of the sessions of ``days`` (µs, UTC) and its IST day number."""
    times: list[int] = []
    day_numbers: list[int] = []
    for day in sorted(set(days)):
        session = calendar.session(day)
        if session is None:
            raise ContractError("replay_metrics", "days", day, "must be NSE sessions")
        minutes = int((session.close - session.open).total_seconds() // 60)
        opening = int(session.open.timestamp() * 1_000_000)
        times += [opening + (m + 1) * 60_000_000 for m in range(minutes)]
        day_numbers += [(day - _EPOCH).days] * minutes
    return np.asarray(times, dtype=np.int64), np.asarray(day_numbers, dtype=np.int64)


def replay_metrics(
    trades: pl.DataFrame, *, capital: float, days: Sequence[date], calendar: NseCalendar
) -> ReplayMetrics:
    """The metrics (``models.backtest.METRIC_NAMES``) of the closed trades of a replay's trade
    log over the sessions of ``days`` — the same function the backtest engine reports with."""
    positive("replay_metrics", "capital", capital)
    require_columns(
        "replay_metrics",
        "trades",
        trades,
        ("ts_entry", "ts_exit", "entry_price", "exit_price", "quantity", "net_pnl", "gross_pnl"),
    )
    closed = trades.filter(pl.col("ts_exit").is_not_null())
    bar_times, bar_days = _session_bars(days, calendar)
    start = int(bar_times[0]) if len(bar_times) else 0
    exits = closed["ts_exit"].cast(pl.Int64).to_numpy()
    equity = equity_curve(capital, start, exits, closed["net_pnl"].to_numpy())
    metrics = summarise(closed, equity, capital, bar_times, bar_days)
    return ReplayMetrics(metrics, equity)


@dataclass(frozen=True, slots=True)
class Comparison:
    """The replay against the backtest, entry by entry and in total.

    ``entries``: one row per decision either side traded — ``instrument_token, ts_decision,
    where`` (``both``, ``replay only``, ``backtest only``), ``replay_net_pnl``,
    ``backtest_net_pnl``, ``replay_outcome`` (what became of the replay's proposal, with the
    reason). ``summary``: the counts and the P&L difference (replay minus backtest).
    """

    entries: pl.DataFrame
    summary: dict[str, float]

    def table(self) -> pl.DataFrame:
        """The summary as a two-column frame (what the CLI and the report show)."""
        return pl.DataFrame(
            {"measure": list(self.summary), "value": [float(v) for v in self.summary.values()]}
        )


def compare_with_backtest(
    replay_trades: pl.DataFrame,
    backtest_trades: pl.DataFrame,
    outcomes: pl.DataFrame | None = None,
) -> Comparison:
    """Match the replay's trades and the backtest's by decision (instrument, bar close).

    ``outcomes`` (``instrument_token, ts_decision, status, detail``: every replay proposal's latest
    status) explains a backtest trade the replay did not make: vetoed and why, rejected, expired,
    or never proposed.
    """
    owner = "compare_with_backtest"
    require_columns(owner, "replay_trades", replay_trades, (*_KEYS, "net_pnl"))
    require_columns(owner, "backtest_trades", backtest_trades, (*_KEYS, "net_pnl"))
    replay = (
        replay_trades.filter(pl.col("ts_decision").is_not_null())
        .group_by(_KEYS)
        .agg(pl.col("net_pnl").sum().alias("replay_net_pnl"))
    )
    backtest = backtest_trades.group_by(_KEYS).agg(
        pl.col("net_pnl").sum().alias("backtest_net_pnl")
    )
    replay = replay.with_columns(pl.col("instrument_token").cast(pl.Int64))
    backtest = backtest.with_columns(pl.col("instrument_token").cast(pl.Int64))
    joined = replay.join(backtest, on=_KEYS, how="full", coalesce=True)
    joined = joined.with_columns(
        pl.when(pl.col("replay_net_pnl").is_not_null() & pl.col("backtest_net_pnl").is_not_null())
        .then(pl.lit("both"))
        .when(pl.col("replay_net_pnl").is_not_null())
        .then(pl.lit("replay only"))
        .otherwise(pl.lit("backtest only"))
        .alias("where")
    )
    if outcomes is not None and outcomes.height:
        require_columns(owner, "outcomes", outcomes, (*_KEYS, "status", "detail"))
        why = outcomes.select(
            pl.col("instrument_token").cast(pl.Int64),
            "ts_decision",
            pl.concat_str(
                [pl.col("status"), pl.col("detail")], separator=": ", ignore_nulls=True
            ).alias("replay_outcome"),
        ).unique(_KEYS, keep="last")
        joined = joined.join(why, on=_KEYS, how="left")
    else:
        joined = joined.with_columns(pl.lit(None, dtype=pl.String).alias("replay_outcome"))
    joined = joined.with_columns(
        pl.col("replay_outcome").fill_null(
            pl.when(pl.col("where") == "backtest only")
            .then(pl.lit("not proposed"))
            .otherwise(pl.lit(""))
        )
    )
    entries = joined.select(
        "instrument_token",
        "ts_decision",
        "where",
        "replay_net_pnl",
        "backtest_net_pnl",
        "replay_outcome",
    ).sort("ts_decision", "instrument_token")
    replay_pnl = float(replay_trades["net_pnl"].sum())
    backtest_pnl = float(backtest_trades["net_pnl"].sum())
    both = entries.filter(pl.col("where") == "both")
    summary = {
        "trades in the replay": float(replay_trades.height),
        "trades in the backtest": float(backtest_trades.height),
        "in both": float(both.height),
        "replay only": float(entries.filter(pl.col("where") == "replay only").height),
        "backtest only": float(entries.filter(pl.col("where") == "backtest only").height),
        "replay net P&L": replay_pnl,
        "backtest net P&L": backtest_pnl,
        "P&L difference (replay - backtest)": replay_pnl - backtest_pnl,
        "P&L difference on trades in both": float(
            (both["replay_net_pnl"] - both["backtest_net_pnl"]).sum()
        ),
    }
    return Comparison(entries, summary)


def write_replay_report(
    path: Path,
    *,
    title: str,
    summary: Mapping[str, float | str],
    replay: ReplayMetrics,
    backtest_metrics: Mapping[str, float],
    backtest_equity: pl.DataFrame,
    trades: pl.DataFrame,
    comparison: Comparison,
    sessions: pl.DataFrame,
    data_source: str | None = None,
    plotlyjs: PlotlyJs = "embed",
) -> Path:
    """The replay on one page: the run, the replay against the backtest (metrics side by side,
    the comparison table and why they differ), both equity curves, each session, the trade log
    and the entries traded by only one side."""
    owner = "write_replay_report"
    require_columns(owner, "backtest_equity", backtest_equity, ("ts", "equity"))
    require_columns(owner, "trades", trades, ("net_pnl",))
    names = [n for n in replay.metrics if n in backtest_metrics]
    side_by_side = pl.DataFrame(
        {
            "strategy": [REPLAY, VECTORIZED],
            **{n: [float(replay.metrics[n]), float(backtest_metrics[n])] for n in names},
        }
    )
    equity = pl.concat(
        [
            replay.equity.select("ts", "equity").with_columns(pl.lit(REPLAY).alias("strategy")),
            backtest_equity.select("ts", "equity").with_columns(
                pl.lit(VECTORIZED).alias("strategy")
            ),
        ]
    )
    compared = [table_html(side_by_side), table_html(comparison.table())]
    bars = figures.comparison_figure(side_by_side)
    if bars is not None:
        compared.append(figure_html("comparison", bars))
    reasons = "".join(f"<li>{line}</li>" for line in WHY_THEY_DIFFER)
    compared.append(f"<p>Why they can differ:</p><ul>{reasons}</ul>")
    differing = comparison.entries.filter(pl.col("where") != "both")
    trade_parts = [table_html(trades, max_rows=1000)]
    if trades.height:
        trade_parts.insert(0, figure_html("trade-pnl", figures.trade_pnl_figure(trades)))
    sections = [
        Section("Run", mapping_table(dict(summary))),
        Section("Replay against the vectorized backtest", *compared),
        Section(
            "Equity",
            figure_html("equity", figures.equity_figure(equity, title="Equity, after charges")),
        ),
        Section("Sessions", table_html(sessions)),
        Section(f"Trade log ({trades.height})", *trade_parts),
        Section(
            f"Entries traded by one side only ({differing.height})",
            table_html(differing, max_rows=1000),
        ),
    ]
    return render_page(
        path, title=title, sections=sections, data_source=data_source, plotlyjs=plotlyjs
    )
