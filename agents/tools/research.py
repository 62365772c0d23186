"""Models and research tools, read-only: the champion's model card, its view of a symbol now,
the latest walk-forward study and the backtest results it holds, and the backtest reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import polars as pl

from agents.context import ToolContext
from agents.errors import ErrorCode, ToolFailure
from agents.tools.common import (
    CANDLES_TABLE,
    Result,
    candles_with_history,
    day_range,
    parse_time,
    resolve,
)
from execution.console.research import WALK_FORWARD_REPORT
from execution.console.words import contribution_words
from models.features import CANDLE_FEATURES
from models.live.champion import top_contributions
from models.research import SavedStudy, load_study

__all__ = ["backtests", "champion", "model_view", "walk_forward"]

_REGISTRY: Final = "the MLflow model registry (champion alias)"
_STUDY_FILE: Final = "study.json"
_NO_STUDY: Final = "run `kitepilot train` (it writes the study under storage.reports_dir/models)"


def champion(ctx: ToolContext) -> Result:
    model = ctx.models.champion()
    metrics = ctx.models.registry().version_metrics(model.version)
    return Result(
        _REGISTRY,
        {
            "name": model.name,
            "version": model.version,
            "feature_version": model.feature_version,
            "promoted_at": model.promoted_at,
            "out_of_sample_metrics": metrics,
            "feature_columns": CANDLE_FEATURES.columns
            if model.feature_version == CANDLE_FEATURES.version
            else None,
            "promotion_rules": {
                "primary_metric": ctx.config.promotion.primary_metric.value,
                "min_auc": ctx.config.promotion.min_auc,
                "max_calibration_error": ctx.config.promotion.max_calibration_error,
                "min_net_pnl": ctx.config.promotion.min_net_pnl,
            },
        },
    )


def model_view(ctx: ToolContext, symbol: str, at: str | None) -> Result:
    """The champion's score of the symbol's latest complete feature row (at or before ``at``)."""
    _, instrument = resolve(ctx, symbol)
    model = ctx.models.champion()
    if model.feature_version != CANDLE_FEATURES.version:
        raise ToolFailure(
            ErrorCode.UNAVAILABLE,
            f"the champion was trained on features {model.feature_version}, this code computes "
            f"{CANDLE_FEATURES.version}",
            "train a new champion",
        )
    cutoff = parse_time(at, "at")
    cutoff_day = None if cutoff is None else cutoff.date()
    first, last = day_range(ctx, CANDLES_TABLE, cutoff_day, cutoff_day)
    bars = candles_with_history(ctx, int(instrument.instrument_token), first, last, warmup=True)
    if cutoff is not None:
        bars = bars.filter(pl.col("ts_event") <= cutoff.astimezone(UTC))
    built = CANDLE_FEATURES.drop_warmup(CANDLE_FEATURES.build(bars)) if bars.height else bars
    if built.is_empty():
        raise ToolFailure(
            ErrorCode.NOT_FOUND,
            f"no complete feature row of {instrument.tradingsymbol} up to {last}",
            f"the features need {CANDLE_FEATURES.warmup_bars} bars of history in the lake",
        )
    row = built.tail(1)
    scorer = ctx.models.scorer(model)
    scores = scorer.score(row)
    p_win, expected = float(scores.p_win[0]), float(scores.expected_return[0])
    reasons = top_contributions(scorer, row, CANDLE_FEATURES.columns, 3)
    strategy = ctx.config.strategy
    return Result(
        f"{_REGISTRY} scoring the lake's candles",
        {
            "symbol": f"{instrument.exchange.value}:{instrument.tradingsymbol}",
            "model": f"{model.name} v{model.version}",
            "bar_close": row["ts_event"][0],
            "p_win": p_win,
            "expected_return_pct": expected,
            "min_confidence": strategy.min_confidence,
            "clears_min_confidence": p_win >= strategy.min_confidence,
            "top_reasons": [contribution_words(c) for c in reasons],
            "features": row.select(CANDLE_FEATURES.columns).to_dicts()[0],
            "note": "p_win: calibrated probability of a net win of the strategy's trade at this "
            "bar; expected_return_pct: its expected net return after charges",
        },
    )


@dataclass(frozen=True)
class _Study:
    directory: Path
    made_at: datetime
    saved: SavedStudy

    @property
    def data_source(self) -> str | None:
        source = self.saved.lineage.get("data_source")
        return None if source is None else str(source)


def _latest_study(reports_dir: Path) -> _Study | None:
    """The newest study ``models.research.save_study`` wrote in ``reports_dir`` or up to two
    folders below it (where ``kitepilot train`` puts it: ``<reports_dir>/models``)."""
    candidates = [
        path
        for pattern in (_STUDY_FILE, f"*/{_STUDY_FILE}", f"*/*/{_STUDY_FILE}")
        for path in reports_dir.glob(pattern)
        if path.is_file()
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda path: (path.stat().st_mtime_ns, str(path)))
    made_at = datetime.fromtimestamp(newest.stat().st_mtime, tz=UTC)
    return _Study(newest.parent, made_at, load_study(newest.parent))


def _equity_curves(equity: pl.DataFrame) -> list[dict[str, object]]:
    if "strategy" not in equity.columns:
        equity = equity.with_columns(pl.lit("model").alias("strategy"))
    curves = []
    for strategy in equity["strategy"].unique(maintain_order=True).to_list():
        values = equity.filter(pl.col("strategy") == strategy).sort("ts")["equity"]
        curves.append(
            {
                "strategy": strategy,
                "points": values.len(),
                "start": values.first(),
                "end": values.last(),
                "low": values.min(),
                "high": values.max(),
            }
        )
    return curves


def walk_forward(ctx: ToolContext) -> Result:
    study = _latest_study(Path(ctx.config.storage.reports_dir))
    if study is None:
        raise ToolFailure(ErrorCode.NOT_FOUND, "no walk-forward study has been saved", _NO_STUDY)
    frames = study.saved.frames
    report = study.directory / WALK_FORWARD_REPORT
    simulated = study.data_source == "simulator"
    return Result(
        "the latest walk-forward study (models.research, out of sample)",
        {
            "made_at": study.made_at,
            "data_source": study.data_source,
            "simulated": simulated,
            "metrics": study.saved.metrics,
            "folds": frames["folds"].head(ctx.max_rows),
            "calibration": frames["calibration"].sort("bin"),
            "equity_curves": _equity_curves(frames["equity"]),
            "lineage": study.saved.lineage,
            "report": report if report.is_file() else None,
            "note": "simulated data is not market evidence" if simulated else "",
        },
    )


def backtests(ctx: ToolContext) -> Result:
    """The backtests of the latest walk-forward study (the model against the MACD/RSI rules,
    always-trade and never-trade, after all charges) and the HTML backtest reports on disk."""
    reports_dir = Path(ctx.config.storage.reports_dir)
    study = _latest_study(reports_dir)
    reports = sorted(
        (
            p
            for p in reports_dir.glob("**/*.html")
            if "backtest" in p.name or "backtests" in p.parts
        ),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    files = [
        {"path": p, "written_at": datetime.fromtimestamp(p.stat().st_mtime, tz=UTC)}
        for p in reports[:50]
    ]
    if study is None and not files:
        raise ToolFailure(ErrorCode.NOT_FOUND, "no backtest results have been saved", _NO_STUDY)
    return Result(
        "the latest walk-forward study's backtests and the reports directory",
        {
            "study_made_at": None if study is None else study.made_at,
            "data_source": None if study is None else study.data_source,
            "comparison": None if study is None else study.saved.frames["comparison"],
            "trades_by_strategy": None if study is None else _trade_summaries(study.saved),
            "report_files": files,
            "note": "every result is after all Zerodha charges; the study is out of sample",
        },
    )


def _trade_summaries(saved: SavedStudy) -> list[dict[str, object]]:
    summaries = []
    for strategy, trades in saved.trades.items():
        pnl = trades["net_pnl"] if "net_pnl" in trades.columns else pl.Series([], dtype=pl.Float64)
        summaries.append(
            {
                "strategy": strategy,
                "trades": trades.height,
                "net_pnl": float(pnl.sum()) if pnl.len() else 0.0,
                "wins": int((pnl > 0).sum()) if pnl.len() else 0,
            }
        )
    return summaries
