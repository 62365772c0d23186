"""The paper exchange's shared vocabulary: a quote with its book, and a Kite API error.

A :class:`Quote` is the whole market state of one instrument at one moment, as the exchange knows
it: what the REST quote endpoints return, what the ticker encodes into its binary packets and what
the matching engine fills against. Prices are rupees (the ticker converts to paise).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from data_contracts.timeutil import require_aware

__all__ = ["DEPTH_LEVELS", "DepthLevel", "KiteApiError", "Quote"]

# Kite shows five price levels a side.
DEPTH_LEVELS: Final = 5


@dataclass(frozen=True, slots=True)
class DepthLevel:
    """One price level of the book: price, quantity resting there and how many orders."""

    price: float
    quantity: int
    orders: int


@dataclass(frozen=True, slots=True)
class Quote:
    """One instrument's market state. ``ts_event`` is the exchange timestamp (UTC);
    ``open/high/low`` are today's, ``close`` is the previous session's close (Kite's meaning).
    ``bids``/``asks`` are best first, at most five each, empty for an index (not tradable)."""

    instrument_token: int
    ts_event: datetime
    last_price: float
    last_quantity: int = 0
    last_trade_time: datetime | None = None
    average_price: float = 0.0
    volume: int = 0
    buy_quantity: int = 0
    sell_quantity: int = 0
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0
    oi: int = 0
    oi_day_high: int = 0
    oi_day_low: int = 0
    bids: tuple[DepthLevel, ...] = ()
    asks: tuple[DepthLevel, ...] = ()
    tradable: bool = True

    def __post_init__(self) -> None:
        require_aware("Quote", "ts_event", self.ts_event)
        if self.last_trade_time is not None:
            require_aware("Quote", "last_trade_time", self.last_trade_time)

    @property
    def best_bid(self) -> float | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0].price if self.asks else None


class KiteApiError(Exception):
    """An error the way Kite reports it: ``error_type`` names the pykiteconnect exception class
    (``InputException``, ``TokenException``, ...) and ``http_status`` the HTTP code. The REST
    layer renders it as ``{"status": "error", "message": ..., "error_type": ...}``."""

    def __init__(
        self, error_type: str, message: str, http_status: int = 400, data: object = None
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.http_status = http_status
        self.data = data

    def __str__(self) -> str:
        return f"{self.error_type} ({self.http_status}): {self.message}"
