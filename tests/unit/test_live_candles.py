"""1-minute candles from ticks by event time: the bar a tick belongs to, closing, volume, open
interest, refusals, and recovery from a pickled builder."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.enums import DeadLetterReason
from data_contracts.feed import DeadLetter
from data_contracts.ids import InstrumentToken
from data_contracts.market import Candle, Tick
from execution.simulator.ticks import bar_ticks
from models.live import ONE_MINUTE, CandleBuilder, bar_close
from tests.factories import tick

TOKEN = 408065
TICK_SIZE = 0.05
PER_RUPEE = 20  # ticks of 0.05 in one rupee
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BAR_CLOSE = datetime(2026, 8, 18, 4, 31, tzinfo=UTC)  # 10:01 IST
TIMEOUT = timedelta(seconds=5)


def _builder(tolerance: timedelta = timedelta(seconds=2)) -> CandleBuilder:
    return CandleBuilder(TOKEN, tolerance=tolerance, source="test")


def _tick(at: datetime, price: float, **overrides: object) -> Tick:
    values: dict[str, object] = {
        "instrument_token": InstrumentToken(TOKEN),
        "ts_event": at,
        "ts_init": at,
        "last_price": price,
        "last_quantity": 0,
        "volume": 0,
        "bid": None,
        "ask": None,
        "oi": None,
    }
    return tick(**(values | overrides))


def _feed(builder: CandleBuilder, ticks: list[Tick]) -> tuple[list[Candle], list[DeadLetter]]:
    candles: list[Candle] = []
    letters: list[DeadLetter] = []
    for item in ticks:
        closed, refused = builder.add(item)
        if closed is not None:
            candles.append(closed)
        if refused is not None:
            letters.append(refused)
    return candles, letters


def _ohlcv(candle: Candle) -> tuple[datetime, float, float, float, float, int]:
    return (candle.ts_event, candle.open, candle.high, candle.low, candle.close, candle.volume)


# --- bar_close --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "closes"),
    [
        (BAR_CLOSE, BAR_CLOSE),
        (BAR_CLOSE - timedelta(microseconds=1), BAR_CLOSE),
        (BAR_CLOSE - timedelta(seconds=59, microseconds=999_999), BAR_CLOSE),
        (BAR_CLOSE - ONE_MINUTE, BAR_CLOSE - ONE_MINUTE),
        (BAR_CLOSE + timedelta(microseconds=1), BAR_CLOSE + ONE_MINUTE),
    ],
)
def test_bar_close_of_a_timestamp_is_the_first_whole_minute_at_or_after_it(
    at: datetime, closes: datetime
) -> None:
    assert bar_close(at) == closes


def test_builder_tick_exactly_on_the_minute_belongs_to_the_bar_closing_then() -> None:
    builder = _builder()
    ticks = [
        _tick(BAR_CLOSE - timedelta(seconds=30), 100.0),
        _tick(BAR_CLOSE, 101.0),  # on the minute: the last tick of the bar closing now
        _tick(BAR_CLOSE + timedelta(microseconds=1), 105.0),  # the next bar
    ]

    candles, letters = _feed(builder, ticks)

    assert letters == []
    assert [_ohlcv(c) for c in candles] == [(BAR_CLOSE, 100.0, 101.0, 100.0, 101.0, 0)]
    assert candles[0].ts_init == ticks[2].ts_init  # closed by the later tick's arrival


# --- bars -> ticks -> bars (hypothesis) ---------------------------------------------------------

_BAR = st.tuples(
    st.integers(1, 3),  # minutes after the previous bar's close
    st.integers(20_000, 20_100),  # low, in ticks
    st.integers(0, 40),  # high - low, in ticks
    st.floats(0, 1),  # open's place in [low, high]
    st.floats(0, 1),  # close's place in [low, high]
    st.integers(0, 5_000),  # volume
)


@settings(max_examples=60, deadline=None)
@given(
    bars=st.lists(_BAR, min_size=1, max_size=8),
    seed=st.integers(0, 2**32 - 1),
    volume_before=st.integers(0, 1_000_000),
    with_book=st.booleans(),
)
def test_builder_rebuilds_the_bars_the_ticks_were_drawn_in(
    bars: list[tuple[int, int, int, float, float, int]],
    seed: int,
    volume_before: int,
    with_book: bool,
) -> None:
    closes, opens, highs, lows, last, volumes = [], [], [], [], [], []
    at = BAR_CLOSE
    for gap, low, span, open_at, close_at, volume in bars:
        at += gap * ONE_MINUTE
        closes.append(at)
        lows.append(low)
        highs.append(low + span)
        opens.append(low + round(open_at * span))
        last.append(low + round(close_at * span))
        volumes.append(volume)
    made = bar_ticks(
        np.random.default_rng(seed),
        [(c - EPOCH) // timedelta(microseconds=1) for c in closes],
        np.array(opens) / PER_RUPEE,
        np.array(highs) / PER_RUPEE,
        np.array(lows) / PER_RUPEE,
        np.array(last) / PER_RUPEE,
        volumes,
        tick_size=TICK_SIZE,
        spread_ticks=[1] * len(bars) if with_book else None,
    )
    ticks = [
        Tick(
            instrument_token=InstrumentToken(TOKEN),
            ts_event=EPOCH + timedelta(microseconds=int(made.ts_us[n])),
            ts_init=EPOCH + timedelta(microseconds=int(made.ts_us[n])),
            last_price=float(made.price[n]),
            last_quantity=int(made.quantity[n]),
            # The day started before these bars: the cumulative volume does not start at 0.
            volume=volume_before + int(made.volume[n]),
            bid=None if made.bid is None else float(made.bid[n]),
            ask=None if made.ask is None else float(made.ask[n]),
        )
        for n in range(made.size)
    ]
    builder = _builder()

    candles, letters = _feed(builder, ticks)
    final = builder.close_due(closes[-1] + TIMEOUT, TIMEOUT)

    assert letters == []
    assert final is not None
    expected = [
        (c, o / PER_RUPEE, h / PER_RUPEE, lo / PER_RUPEE, cl / PER_RUPEE, v)
        for c, o, h, lo, cl, v in zip(closes, opens, highs, lows, last, volumes, strict=True)
    ]
    assert [_ohlcv(c) for c in [*candles, final]] == expected


# --- volume and open interest ----------------------------------------------------------------


def test_builder_first_bar_volume_starts_from_the_first_tick_minus_its_quantity() -> None:
    builder = _builder()
    start = BAR_CLOSE - timedelta(seconds=40)
    ticks = [
        _tick(start, 100.0, volume=50_000, last_quantity=30),
        _tick(start + timedelta(seconds=10), 100.5, volume=50_070, last_quantity=70),
        # the next bar: its volume counts from the first bar's last cumulative volume
        _tick(BAR_CLOSE + timedelta(seconds=5), 101.0, volume=50_100, last_quantity=30),
    ]

    candles, _ = _feed(builder, ticks)
    second = builder.close_due(BAR_CLOSE + ONE_MINUTE + TIMEOUT, TIMEOUT)

    assert [c.volume for c in candles] == [100]  # 50_070 - (50_000 - 30)
    assert second is not None
    assert second.volume == 30


def test_builder_open_interest_is_the_last_reported_in_the_bar() -> None:
    builder = _builder()
    start = BAR_CLOSE - timedelta(seconds=40)
    ticks = [
        _tick(start, 100.0, oi=100),
        _tick(start + timedelta(seconds=1), 100.0, oi=300),
        _tick(start + timedelta(seconds=2), 100.0, oi=200),
        _tick(start + timedelta(seconds=3), 100.0, oi=None),  # no OI in this packet
    ]
    _feed(builder, ticks)

    candle = builder.close_due(BAR_CLOSE + TIMEOUT, TIMEOUT)

    assert candle is not None
    assert candle.oi == 200


# --- refusals ---------------------------------------------------------------------------------


def test_builder_tick_older_than_the_tolerance_is_a_dead_letter_and_leaves_the_bar() -> None:
    builder = _builder(tolerance=timedelta(seconds=2))
    start = BAR_CLOSE - timedelta(seconds=50)
    _feed(
        builder,
        [_tick(start, 100.0), _tick(start + timedelta(seconds=10), 101.0)],
    )
    late = _tick(start + timedelta(seconds=7), 250.0)  # 3 s before the latest tick

    closed, refused = builder.add(late)
    candle = builder.close_due(BAR_CLOSE + TIMEOUT, TIMEOUT)

    assert closed is None
    assert refused is not None
    assert (refused.reason, refused.instrument_token, refused.ts_event, refused.source) == (
        DeadLetterReason.OUT_OF_ORDER,
        TOKEN,
        late.ts_event,
        "test",
    )
    assert candle is not None
    assert _ohlcv(candle) == (BAR_CLOSE, 100.0, 101.0, 100.0, 101.0, 0)


def test_builder_late_tick_within_the_tolerance_counts_but_does_not_move_the_close() -> None:
    builder = _builder(tolerance=timedelta(seconds=2))
    start = BAR_CLOSE - timedelta(seconds=50)
    ticks = [
        _tick(start, 100.0),
        _tick(start + timedelta(seconds=10), 101.0),
        _tick(start + timedelta(seconds=9), 99.0),  # 1 s late: accepted
    ]

    _, letters = _feed(builder, ticks)
    candle = builder.close_due(BAR_CLOSE + TIMEOUT, TIMEOUT)

    assert letters == []
    assert candle is not None
    assert _ohlcv(candle) == (BAR_CLOSE, 100.0, 101.0, 99.0, 101.0, 0)


def test_builder_tick_for_an_already_closed_bar_is_a_dead_letter_even_within_tolerance() -> None:
    builder = _builder(tolerance=timedelta(seconds=2))
    _feed(
        builder,
        [
            _tick(BAR_CLOSE - timedelta(seconds=1), 100.0),
            _tick(BAR_CLOSE + timedelta(milliseconds=500), 102.0),  # closes the first bar
        ],
    )
    late = _tick(BAR_CLOSE - timedelta(milliseconds=100), 250.0)  # 0.6 s late, bar closed

    closed, refused = builder.add(late)
    open_bar = builder.close_due(BAR_CLOSE + ONE_MINUTE + TIMEOUT, TIMEOUT)

    assert closed is None
    assert refused is not None
    assert refused.reason is DeadLetterReason.OUT_OF_ORDER
    assert "already closed" in refused.detail
    assert open_bar is not None
    assert _ohlcv(open_bar) == (BAR_CLOSE + ONE_MINUTE, 102.0, 102.0, 102.0, 102.0, 0)


def test_builder_late_tick_of_an_earlier_unopened_bar_never_enters_a_later_bar() -> None:
    builder = _builder(tolerance=timedelta(seconds=2))
    _feed(
        builder,
        [
            _tick(BAR_CLOSE - timedelta(seconds=30), 100.0),  # bar closing 10:01
            _tick(BAR_CLOSE + ONE_MINUTE + timedelta(milliseconds=500), 102.0),  # bar 10:03
        ],
    )
    # 1 s before the latest tick, in the bar closing 10:02 (which never had a tick).
    late = _tick(BAR_CLOSE + timedelta(seconds=59, milliseconds=500), 250.0)

    closed, refused = builder.add(late)
    later = builder.close_due(BAR_CLOSE + 2 * ONE_MINUTE + TIMEOUT, TIMEOUT)

    assert refused is not None or (
        closed is not None and closed.ts_event == bar_close(late.ts_event)
    )
    assert later is not None
    assert _ohlcv(later) == (BAR_CLOSE + 2 * ONE_MINUTE, 102.0, 102.0, 102.0, 102.0, 0)


# --- closing by the clock ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_close", "closes"),
    [
        (timedelta(seconds=0), False),
        (TIMEOUT - timedelta(microseconds=1), False),
        (TIMEOUT, True),
        (TIMEOUT + timedelta(minutes=3), True),
    ],
)
def test_close_due_closes_the_open_bar_once_the_clock_is_timeout_past_its_close(
    after_close: timedelta, closes: bool
) -> None:
    builder = _builder()
    builder.add(_tick(BAR_CLOSE - timedelta(seconds=20), 100.0))
    now = BAR_CLOSE + after_close

    candle = builder.close_due(now, TIMEOUT)

    assert (candle is not None) is closes
    if candle is not None:
        assert (candle.ts_event, candle.ts_init) == (BAR_CLOSE, now)


def test_close_due_emits_a_bar_once_and_nothing_without_ticks() -> None:
    builder = _builder()
    builder.add(_tick(BAR_CLOSE - timedelta(seconds=20), 100.0))

    first = builder.close_due(BAR_CLOSE + TIMEOUT, TIMEOUT)
    again = builder.close_due(BAR_CLOSE + 2 * TIMEOUT, TIMEOUT)

    assert first is not None
    assert again is None
    assert _builder().close_due(BAR_CLOSE + TIMEOUT, TIMEOUT) is None


def test_builder_after_close_due_refuses_a_tick_of_the_closed_bar() -> None:
    builder = _builder(tolerance=timedelta(seconds=30))
    builder.add(_tick(BAR_CLOSE - timedelta(seconds=20), 100.0))
    builder.close_due(BAR_CLOSE + TIMEOUT, TIMEOUT)

    _, refused = builder.add(_tick(BAR_CLOSE - timedelta(seconds=1), 100.0))

    assert refused is not None
    assert refused.reason is DeadLetterReason.OUT_OF_ORDER


# --- recovery ---------------------------------------------------------------------------------


def test_builder_pickled_mid_bar_behaves_as_the_original() -> None:
    builder = _builder()
    start = BAR_CLOSE - timedelta(seconds=50)
    _feed(
        builder,
        [
            _tick(start, 100.0, volume=1_000, last_quantity=10, oi=5),
            _tick(BAR_CLOSE + timedelta(seconds=1), 101.0, volume=1_050, last_quantity=50),
            _tick(BAR_CLOSE + timedelta(seconds=2), 103.0, volume=1_060, last_quantity=10, oi=7),
        ],
    )
    restored: CandleBuilder = pickle.loads(pickle.dumps(builder))  # noqa: S301 - our own bytes
    rest = [
        _tick(BAR_CLOSE - timedelta(seconds=10), 90.0),  # refused: its bar is closed
        _tick(BAR_CLOSE + timedelta(seconds=30), 99.0, volume=1_100, last_quantity=40),
        _tick(BAR_CLOSE + ONE_MINUTE + timedelta(seconds=1), 98.0, volume=1_120),
    ]
    now = BAR_CLOSE + 2 * ONE_MINUTE + TIMEOUT

    original = (_feed(builder, rest), builder.close_due(now, TIMEOUT))
    recovered = (_feed(restored, rest), restored.close_due(now, TIMEOUT))

    assert recovered == original
    assert [len(original[0][0]), len(original[0][1])] == [1, 1]
    assert (restored.instrument_token, restored.last_tick_at) == (
        builder.instrument_token,
        builder.last_tick_at,
    )
