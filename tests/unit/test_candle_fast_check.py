"""``Candle``'s shortcut for plainly valid fields accepts, converts and refuses exactly as its full
checks do."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.market import Candle
from data_contracts.timeutil import IST


class _FullChecks(Candle):
    """The same candle with the shortcut off: every check runs (the behaviour before it)."""

    __slots__ = ()

    def _plainly_valid(self) -> bool:
        return False


def _outcome(kind: type[Candle], values: dict[str, Any]) -> str:
    try:
        candle = kind(**values)
    except ContractError as error:
        return f"error: {error}"
    fields = (
        candle.instrument_token,
        candle.ts_event,
        candle.ts_event.tzinfo,
        candle.ts_init,
        candle.ts_init.tzinfo,
        candle.interval,
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        candle.volume,
        candle.oi,
    )
    return repr(tuple((type(v).__name__, v) for v in fields))


T0 = datetime(2026, 5, 4, 4, 1, tzinfo=UTC)
prices = st.one_of(
    st.floats(min_value=0.05, max_value=1e5),
    st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e308, 5e-324, 100, True]),
)
times = st.one_of(
    st.just(T0),
    st.sampled_from(
        [
            T0.astimezone(IST),
            T0.astimezone(timezone(timedelta(hours=1))),
            T0.replace(tzinfo=None),
            "2026-05-04T04:01:00+00:00",
        ]
    ),
)


@settings(max_examples=2000)
@given(
    st.one_of(st.integers(-1, 10**6), st.sampled_from([True, 1.0, "7"])),
    times,
    times,
    st.sampled_from([timedelta(minutes=1), timedelta(0), timedelta(seconds=-1), 60]),
    prices,
    prices,
    prices,
    prices,
    st.one_of(st.integers(-1, 10**9), st.sampled_from([1.5, True])),
    st.one_of(st.none(), st.integers(-1, 10**9), st.sampled_from([2.0, False])),
)
@example(7, T0, T0, timedelta(minutes=1), 100.0, 101.0, 99.0, 100.5, 10, None)
@example(7, T0, T0, timedelta(minutes=1), 100.0, 99.0, 99.0, 100.5, 10, None)  # high < close
@example(7, T0, T0, timedelta(minutes=1), 100.0, 101.0, 100.5, 100.2, 10, 3)  # low > close
def test_the_shortcut_agrees_with_the_full_checks(
    token: int,
    ts_event: datetime,
    ts_init: datetime,
    interval: timedelta,
    open_: float,
    high: float,
    low: float,
    close: float,
    volume: int,
    oi: int | None,
) -> None:
    values = {
        "instrument_token": token,
        "ts_event": ts_event,
        "ts_init": ts_init,
        "interval": interval,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "oi": oi,
    }
    assert _outcome(Candle, values) == _outcome(_FullChecks, values)


@given(st.floats(min_value=0.05, max_value=1e5), st.floats(min_value=0.0, max_value=1.0))
def test_ordered_prices_build_the_same_candle(low: float, spread: float) -> None:
    """Valid bars (low <= open, close <= high) of every shape, the live flow's case."""
    high = low * (1 + spread)
    for open_, close in ((low, high), (high, low), (low, low), (high, high)):
        values = {
            "instrument_token": 256265,
            "ts_event": T0,
            "ts_init": T0,
            "interval": timedelta(minutes=1),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": 0,
            "oi": None,
        }
        assert _outcome(Candle, values) == _outcome(_FullChecks, values)
        assert not _outcome(Candle, values).startswith("error")
