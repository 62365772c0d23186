"""The bounded per-instrument candle window and its feature row (parity with the batch build)."""

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
    frame: pl.DataFrame = session_bars(TOKEN, T0 + timedelta(minutes=40), SIZE + 40)
    return frame


@pytest.mark.parametrize("size", [0, -1])
def test_window_size_below_one_raises(size: int) -> None:
    with pytest.raises(ContractError, match="size"):
        CandleWindow(TOKEN, size)


def test_window_keeps_only_the_last_size_candles(history: pl.DataFrame) -> None:
    window = CandleWindow(TOKEN, 5)

    for item in _candles(history.head(12)):
        window.append(item)

    assert len(window) == 5
    assert window.full
    assert window.frame()["ts_event"].to_list() == history["ts_event"].head(12).tail(5).to_list()
    assert window.last_close_at == history["ts_event"][11]


@pytest.mark.parametrize("offset", [timedelta(0), -timedelta(minutes=1)])
def test_window_append_refuses_a_candle_not_after_the_last(
    history: pl.DataFrame, offset: timedelta
) -> None:
    window = CandleWindow(TOKEN, 5)
    last = _candles(history.head(3))
    for item in last:
        window.append(item)
    before = window.frame()

    added = window.append(candle(instrument_token=TOKEN, ts_event=last[-1].ts_event + offset))

    assert added is False
    assert window.frame().equals(before)


def test_window_prefill_takes_the_latest_bars_of_its_instrument_in_time_order(
    history: pl.DataFrame,
) -> None:
    other = history.with_columns(pl.lit(738561, dtype=pl.Int64).alias("instrument_token"))
    mixed = pl.concat([history.reverse(), other.with_columns(pl.col("close") * 2)])
    window = CandleWindow(TOKEN, 10)

    taken = window.prefill(mixed)

    assert taken == 10
    assert window.frame().equals(history.tail(10).select(window.frame().columns))


def test_window_prefill_after_a_candle_raises(history: pl.DataFrame) -> None:
    window = CandleWindow(TOKEN, 10)
    window.append(_candles(history.head(1))[0])

    with pytest.raises(ContractError, match="prefill"):
        window.prefill(history)


def test_window_prefill_of_a_short_history_takes_all_of_it(history: pl.DataFrame) -> None:
    window = CandleWindow(TOKEN, 10)

    taken = window.prefill(history.head(4))

    assert (taken, len(window), window.full) == (4, 4, False)


def test_window_latest_features_is_none_while_shorter_than_the_warmup(
    history: pl.DataFrame,
) -> None:
    window = CandleWindow(TOKEN, SIZE)
    window.prefill(history.head(FEATURES.warmup_bars))

    assert window.latest_features(FEATURES) is None


@pytest.mark.parametrize("extra", [0, 1, 25])
def test_window_latest_features_equal_the_batch_row_on_the_full_history(
    history: pl.DataFrame, extra: int
) -> None:
    """The window sees only the last ``warmup_bars + 1`` bars; the batch build sees them all."""
    upto = history.head(SIZE + extra)
    window = CandleWindow(TOKEN, SIZE)
    window.prefill(upto.head(SIZE - 1))
    for item in _candles(upto.tail(1 + extra)):
        window.append(item)

    row = window.latest_features(FEATURES)
    batch = FEATURES.build(history).filter(pl.col("ts_event") == upto["ts_event"][-1])

    assert row is not None
    assert row.height == 1
    assert row.select("instrument_token", "ts_event", "feature_version").equals(
        batch.select("instrument_token", "ts_event", "feature_version")
    )
    for column in FEATURES.columns:
        live, full = row[column][0], batch[column][0]
        assert live == pytest.approx(full, rel=1e-9, abs=1e-12), column
