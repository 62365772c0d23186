"""Market data: ticks, order-book levels and candles.

Every datum carries ``ts_event`` (when it happened at the exchange) and ``ts_init`` (when this
system made the object), both tz-aware and normalised to UTC. A candle's ``ts_event`` is its close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.timeutil import require_aware
from data_contracts.validation import integer, positive

__all__ = ["Candle", "Tick"]

_NO_TIME = timedelta(0)


def _is_utc(value: object) -> bool:
    return type(value) is datetime and value.tzinfo is UTC


@dataclass(frozen=True, slots=True)
class Tick:
    """A trade/quote update for one instrument, as the exchange reported it.

    ``volume`` is the day's cumulative traded volume (Kite's ``volume_traded``). A crossed book
    (best bid above best ask) is impossible and rejected.
    """

    instrument_token: InstrumentToken
    ts_event: datetime
    ts_init: datetime
    last_price: float
    last_quantity: int = 0
    volume: int = 0
    bid: float | None = None
    ask: float | None = None
    bid_quantity: int = 0
    ask_quantity: int = 0
    oi: int | None = None

    def __post_init__(self) -> None:
        owner = "Tick"
        subject = f"token {self.instrument_token}"
        integer(owner, "instrument_token", self.instrument_token, minimum=1)
        object.__setattr__(self, "ts_event", require_aware(owner, "ts_event", self.ts_event))
        object.__setattr__(self, "ts_init", require_aware(owner, "ts_init", self.ts_init))
        positive(owner, "last_price", self.last_price, subject)
        integer(owner, "last_quantity", self.last_quantity, minimum=0, subject=subject)
        integer(owner, "volume", self.volume, minimum=0, subject=subject)
        integer(owner, "bid_quantity", self.bid_quantity, minimum=0, subject=subject)
        integer(owner, "ask_quantity", self.ask_quantity, minimum=0, subject=subject)
        if self.bid is not None:
            positive(owner, "bid", self.bid, subject)
        if self.ask is not None:
            positive(owner, "ask", self.ask, subject)
        if self.bid is not None and self.ask is not None and self.bid > self.ask:
            raise ContractError(
                owner, "bid", self.bid, f"must be <= ask {self.ask} (crossed book)", subject
            )
        if self.oi is not None:
            integer(owner, "oi", self.oi, minimum=0, subject=subject)

    @property
    def mid(self) -> float:
        """Mid of the best bid/ask, or the last price when one side of the book is missing."""
        if self.bid is None or self.ask is None:
            return self.last_price
        return (self.bid + self.ask) / 2.0

    @property
    def spread(self) -> float | None:
        if self.bid is None or self.ask is None:
            return None
        return self.ask - self.bid


@dataclass(frozen=True, slots=True)
class Candle:
    """An OHLCV bar; ``ts_event`` is its close and it covers ``(ts_event - interval, ts_event]``."""

    instrument_token: InstrumentToken
    ts_event: datetime
    ts_init: datetime
    interval: timedelta
    open: float
    high: float
    low: float
    close: float
    volume: int = 0
    oi: int | None = None

    def __post_init__(self) -> None:
        if self._plainly_valid():
            return
        owner = "Candle"
        subject = f"token {self.instrument_token}"
        integer(owner, "instrument_token", self.instrument_token, minimum=1)
        object.__setattr__(self, "ts_event", require_aware(owner, "ts_event", self.ts_event))
        object.__setattr__(self, "ts_init", require_aware(owner, "ts_init", self.ts_init))
        if not isinstance(self.interval, timedelta) or self.interval <= timedelta(0):
            raise ContractError(owner, "interval", self.interval, "must be a positive timedelta")
        for name in ("open", "high", "low", "close"):
            positive(owner, name, getattr(self, name), subject)
        if self.high < max(self.open, self.close, self.low):
            raise ContractError(owner, "high", self.high, "must be >= open, close and low", subject)
        if self.low > min(self.open, self.close):
            raise ContractError(owner, "low", self.low, "must be <= open and close", subject)
        integer(owner, "volume", self.volume, minimum=0, subject=subject)
        if self.oi is not None:
            integer(owner, "oi", self.oi, minimum=0, subject=subject)

    def _plainly_valid(self) -> bool:
        """True when every field is of its plain type (int, float, UTC ``datetime``, ``timedelta``)
        and passes every check below; then those checks have nothing to refuse or convert (a UTC
        datetime's ``astimezone(UTC)`` is itself), so the candles the live flow builds skip them.
        Anything else (an int price, another zone, a subclass, a bad value) takes the full checks,
        which accept, convert and refuse exactly as always."""
        o, h, low, c = self.open, self.high, self.low, self.close
        token, volume, oi = self.instrument_token, self.volume, self.oi
        return (
            type(token) is int
            and token >= 1
            and _is_utc(self.ts_event)
            and _is_utc(self.ts_init)
            and type(self.interval) is timedelta
            and self.interval > _NO_TIME
            and type(o) is float
            and type(h) is float
            and type(low) is float
            and type(c) is float
            and 0.0 < low <= o <= h < math.inf
            and low <= c <= h
            and type(volume) is int
            and volume >= 0
            and (oi is None or (type(oi) is int and oi >= 0))
        )

    @property
    def ts_open(self) -> datetime:
        """When the bar opened (exclusive lower bound of the interval)."""
        return self.ts_event - self.interval
