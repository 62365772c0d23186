"""1-minute candles from ticks, by event time, one builder per instrument.

A tick at ``ts`` belongs to the bar that closes at the first whole minute at or after ``ts``: the
bar ``(close - 1 min, close]`` (a candle's ``ts_event`` is its close, as in the lake). A bar closes
when the first tick of a later minute arrives, or — so a quiet instrument still closes its bar —
when the market clock passes its close by ``timeout`` (:meth:`CandleBuilder.close_due`).

Volume is Kite's cumulative day volume (``volume_traded``): a bar's volume is the cumulative volume
at its last tick minus the cumulative volume at the end of the previous bar (the first bar seen
starts from its first tick's volume minus that tick's own quantity). Ticks that cannot be placed
— older than the instrument's latest tick by more than ``tolerance``, or in a bar already closed —
or in a bar before the one open — are refused with
:data:`~data_contracts.enums.DeadLetterReason.OUT_OF_ORDER`; nothing refused
reaches a candle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from data_contracts.enums import DeadLetterReason
from data_contracts.feed import DeadLetter
from data_contracts.ids import InstrumentToken
from data_contracts.market import Candle, Tick

__all__ = ["ONE_MINUTE", "CandleBuilder", "bar_close"]

ONE_MINUTE: Final = timedelta(minutes=1)
_US_PER_MINUTE: Final = 60_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def bar_close(ts: datetime) -> datetime:
    """The close of the 1-minute bar ``ts`` falls in: ``ts`` itself on a whole minute, else the
    next whole minute (UTC; IST is a whole-minute offset, so the bars are IST minutes too)."""
    micros = (ts - _EPOCH) // timedelta(microseconds=1)
    minutes = -(-micros // _US_PER_MINUTE)  # ceiling
    return _EPOCH + timedelta(microseconds=minutes * _US_PER_MINUTE)


@dataclass(slots=True)
class _Bar:
    close_at: datetime
    open: float
    high: float
    low: float
    close: float
    last_ts: datetime
    volume_before: int  # cumulative volume at the end of the previous bar
    volume: int  # cumulative volume at the latest tick
    oi: int | None


def _fold(bar: _Bar, tick: Tick, ts: datetime) -> None:
    """Fold a tick of the open bar in."""
    price = tick.last_price
    if price > bar.high:
        bar.high = price
    if price < bar.low:
        bar.low = price
    if ts >= bar.last_ts:
        bar.close = price
        bar.last_ts = ts
    if tick.volume > bar.volume:
        bar.volume = tick.volume
    if tick.oi is not None:
        bar.oi = tick.oi


class CandleBuilder:
    """Builds one instrument's 1-minute candles from its ticks (see the module docstring).

    Plain state (picklable), so the streaming worker can snapshot and restore it.
    """

    __slots__ = (
        "_bar",
        "_closed_until",
        "_last_ts",
        "_open_at",
        "_source",
        "_token",
        "_tolerance",
        "_volume_after_close",
    )

    def __init__(
        self, instrument_token: int, *, tolerance: timedelta = timedelta(seconds=2), source: str
    ) -> None:
        self._token = InstrumentToken(instrument_token)
        self._tolerance = tolerance
        self._source = source
        self._bar: _Bar | None = None
        self._open_at = _EPOCH  # the open bar's open (exclusive), while there is one
        self._last_ts: datetime | None = None
        self._closed_until: datetime | None = None  # close of the last bar emitted
        self._volume_after_close = 0  # cumulative volume at the end of that bar

    @property
    def instrument_token(self) -> int:
        return self._token

    @property
    def last_tick_at(self) -> datetime | None:
        return self._last_ts

    def add(self, tick: Tick) -> tuple[Candle | None, DeadLetter | None]:
        """Fold ``tick`` in: the bar it closed (if it starts a later minute) or the dead letter
        that refused it."""
        ts = tick.ts_event
        bar = self._bar
        # Most ticks fall in the open bar, in order: nothing to refuse (the bar is after the
        # last one closed, and the tick not before the latest) and no bar to close.
        if bar is not None and self._open_at < ts <= bar.close_at:
            last_ts = self._last_ts
            if last_ts is None or ts >= last_ts:
                _fold(bar, tick, ts)
                if last_ts is None or ts > last_ts:
                    self._last_ts = ts
                return None, None
            close_at = bar.close_at
        else:
            close_at = bar_close(ts)
        refused = self._refusal(tick, close_at)
        if refused is not None:
            return None, refused
        closed: Candle | None = None
        if bar is not None and close_at > bar.close_at:
            closed = self._emit(bar, tick.ts_init)
            bar = None
        price = tick.last_price
        if bar is None:
            before = (
                self._volume_after_close
                if self._closed_until is not None
                else tick.volume - tick.last_quantity
            )
            self._bar = _Bar(
                close_at, price, price, price, price, ts, max(before, 0), tick.volume, tick.oi
            )
            self._open_at = close_at - ONE_MINUTE
        else:
            _fold(bar, tick, ts)
        if self._last_ts is None or ts > self._last_ts:
            self._last_ts = ts
        return closed, None

    def close_due(self, now: datetime, timeout: timedelta) -> Candle | None:
        """The open bar, closed, when ``now`` is at least ``timeout`` past its close."""
        bar = self._bar
        if bar is None or now < bar.close_at + timeout:
            return None
        return self._emit(bar, now)

    def _refusal(self, tick: Tick, close_at: datetime) -> DeadLetter | None:
        detail = ""
        if self._closed_until is not None and close_at <= self._closed_until:
            detail = f"its bar (closing {close_at.isoformat()}) is already closed"
        elif self._bar is not None and close_at < self._bar.close_at:
            detail = (
                f"its bar (closing {close_at.isoformat()}) is before the open one "
                f"(closing {self._bar.close_at.isoformat()})"
            )
        elif self._last_ts is not None and tick.ts_event < self._last_ts - self._tolerance:
            detail = (
                f"{tick.ts_event.isoformat()} is more than {self._tolerance.total_seconds():g} s "
                f"before the latest tick {self._last_ts.isoformat()}"
            )
        if not detail:
            return None
        return DeadLetter(
            source=self._source,
            reason=DeadLetterReason.OUT_OF_ORDER,
            ts_init=tick.ts_init,
            payload=repr(tick),
            detail=detail,
            instrument_token=self._token,
            ts_event=tick.ts_event,
        )

    def _emit(self, bar: _Bar, ts_init: datetime) -> Candle:
        self._bar = None
        self._closed_until = bar.close_at
        self._volume_after_close = bar.volume
        return Candle(
            instrument_token=self._token,
            ts_event=bar.close_at,
            ts_init=ts_init,
            interval=ONE_MINUTE,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=max(bar.volume - bar.volume_before, 0),
            oi=bar.oi,
        )
