"""The per-instrument streaming feature state and its feature row (parity with the batch build)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.market import Candle
from models.features import FeatureSet
from models.live import CandleWindow
from tests.factories import T0, candle, session_bars

TOKEN = 408065
FEATURES = FeatureSet()
SIZE = FEATURES.warmup_bars + 1


def _candles(frame: pl.DataFrame) -> list[Candle]:
    return [
        candle(
            instrument_token=InstrumentToken(row["instrument_token"]),
            ts_event=row["ts_event"],
            ts_init=row["ts_event"],
            open=row["open"],
            high=row["high"],
            low=row["low"],
            close=row["close"],
            volume=row["volume"],
        )
        for row in frame.iter_rows(named=True)
    ]


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    frame: pl.DataFrame = session_bars(TOKEN, T0 + timedelta(minutes=80), SIZE + 80)
    return frame


def test_window_folds_in_candles_in_time_order(history: pl.DataFrame) -> None:
    window = CandleWindow(TOKEN, FEATURES)

    added = [window.append(item) for item in _candles(history.head(12))]

    assert added == [True] * 12
    assert len(window) == 12
    assert not window.ready
    assert window.last_close_at == history["ts_event"][11]


@pytest.mark.parametrize("offset", [timedelta(0), -timedelta(minutes=1)])
def test_window_append_refuses_a_candle_not_after_the_last(
    history: pl.DataFrame, offset: timedelta
) -> None:
    window = CandleWindow(TOKEN, FEATURES)
    last = _candles(history.head(3))
    for item in last:
        window.append(item)

    added = window.append(candle(instrument_token=TOKEN, ts_event=last[-1].ts_event + offset))

    assert added is False
    assert (len(window), window.last_close_at) == (3, last[-1].ts_event)


def test_window_prefill_takes_its_instruments_bars_in_time_order(history: pl.DataFrame) -> None:
    other = history.with_columns(pl.lit(738561, dtype=pl.Int64).alias("instrument_token"))
    mixed = pl.concat([history.reverse(), other.with_columns(pl.col("close") * 2)])
    window = CandleWindow(TOKEN, FEATURES)

    taken = window.prefill(mixed)

    batch = FEATURES.build(history).select(FEATURES.columns).row(-1)
    row = window.latest_features()
    assert (taken, len(window), window.last_close_at) == (
        history.height,
        history.height,
        history["ts_event"][-1],
    )
    assert row is not None
    assert tuple(row.tolist()) == batch  # the same bars folded in: the same bits


def test_window_prefill_after_a_candle_raises(history: pl.DataFrame) -> None:
    window = CandleWindow(TOKEN, FEATURES)
    window.append(_candles(history.head(1))[0])

    with pytest.raises(ContractError, match="prefill"):
        window.prefill(history)


def test_window_latest_features_is_none_while_shorter_than_the_warmup(
    history: pl.DataFrame,
) -> None:
    window = CandleWindow(TOKEN, FEATURES)
    window.prefill(history.head(FEATURES.warmup_bars))

    assert window.latest_features() is None
    assert not window.ready


@pytest.mark.parametrize("extra", [0, 1, 25])
def test_window_latest_features_equal_the_batch_row_on_the_full_history(
    history: pl.DataFrame, extra: int
) -> None:
    """The window saw only the last ``warmup_bars + 1`` bars; the batch build sees them all."""
    upto = history.head(SIZE + 40 + extra)
    window = CandleWindow(TOKEN, FEATURES)
    window.prefill(upto.head(SIZE + 40 - 1).tail(SIZE - 1))
    for item in _candles(upto.tail(1 + extra)):
        window.append(item)

    row = window.latest_features()
    batch = FEATURES.build(history).filter(pl.col("ts_event") == upto["ts_event"][-1])

    assert row is not None
    assert window.last_close_at == batch["ts_event"][0]
    for k, column in enumerate(FEATURES.columns):
        assert row[k] == pytest.approx(batch[column][0], rel=1e-9, abs=1e-12), column
