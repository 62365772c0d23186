"""The streaming worker's decision, over a history: which swing entries the live strategy would
have proposed, for the backtest of the swing strategy (``kitepilot backtest --strategy
swing_model``).

No second definition of the decision: each entry's bar is decided by
:meth:`~models.live.strategy.LiveStrategy.swing_rows` — the same rule, pricing, sizing, score and
filters as a live bar — and the entries whose points passed are kept, with the lots the decision
chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.ids import InstrumentToken
from data_contracts.market import Candle
from data_contracts.ports import Scorer
from models.live.strategy import LiveStrategy

__all__ = ["DecisionItem", "decision_items", "swing_decided_entries"]

_KEYS = ["instrument_token", "ts_event"]
_BAR = ["open", "high", "low", "close", "volume"]

DecisionItem = tuple[Candle, npt.NDArray[np.float64], Scorer, datetime]
"""A closed bar as :meth:`LiveStrategy.equity_rows` takes it: the candle, its feature row, the
scorer and the decision's ``ts_init``."""


def decision_items(
    rows: pl.DataFrame, columns: Sequence[str], scorer: Scorer
) -> list[DecisionItem]:
    """Each row of ``rows`` (``instrument_token, ts_event``, the bar's OHLCV and the feature
    ``columns``) as the closed one-minute bar it is, decided at its own close by ``scorer``."""
    matrix = rows.select(columns).to_numpy().astype(np.float64)
    return [
        (
            Candle(
                instrument_token=InstrumentToken(row["instrument_token"]),
                ts_event=row["ts_event"],
                ts_init=row["ts_event"],
                interval=timedelta(minutes=1),
                open=row["open"],
                high=row["high"],
                low=row["low"],
                close=row["close"],
                volume=int(row["volume"]),
            ),
            matrix[n],
            scorer,
            row["ts_event"],
        )
        for n, row in enumerate(rows.select(*_KEYS, *_BAR).iter_rows(named=True))
    ]


def swing_decided_entries(
    entries: pl.DataFrame,
    features: pl.DataFrame,
    candles: pl.DataFrame,
    strategy: LiveStrategy,
    scorer: Scorer,
) -> pl.DataFrame:
    """The ``entries`` (:func:`models.strategies.equity_swing_entries`) whose decision bar the
    live strategy, scoring with ``scorer``, turns into a proposal; ``lots`` set to its size.

    ``features`` and ``candles`` hold each entry's feature row and bar (``instrument_token,
    ts_event``); an entry without them is not decided.
    """
    columns = list(strategy.settings.feature_set.columns)
    rows = (
        entries.select(pl.col("instrument_token"), pl.col("ts_decision").alias("ts_event"))
        .join(features.select(*_KEYS, *columns), on=_KEYS, how="inner")
        .join(candles.select(*_KEYS, *_BAR), on=_KEYS, how="inner")
    )
    if rows.is_empty():
        return entries.clear()
    items = decision_items(rows, columns, scorer)
    decided = strategy.swing_rows(items, feature_version=scorer.feature_version)
    taken = [
        (c.point.instrument_token, c.point.ts_event, c.point.lots)
        for c in decided
        if c is not None and c.proposal is not None
    ]
    chosen = pl.DataFrame(
        {
            "instrument_token": [t for t, _, _ in taken],
            "ts_decision": [ts for _, ts, _ in taken],
            "decided_lots": [lots for _, _, lots in taken],
        },
        schema={
            "instrument_token": entries.schema["instrument_token"],
            "ts_decision": entries.schema["ts_decision"],
            "decided_lots": pl.Int64,
        },
    )
    return (
        entries.join(chosen, on=["instrument_token", "ts_decision"], how="inner")
        .with_columns(pl.col("decided_lots").alias("lots"))
        .drop("decided_lots")
        .sort("ts_decision", "instrument_token")
    )
