"""The fill model: what price an entry, a stop, a take-profit and a market exit get.

Every function takes and returns float64 arrays, one element per trade, and uses only the bar it
is given (the decision bar for entries, the exit bar for exits). Rules: ``docs/backtest.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from data_contracts.errors import ContractError
from data_contracts.validation import non_negative

__all__ = ["FillModel", "round_down", "round_up"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_OWNER: Final = "FillModel"
_BPS: Final = 1e-4
# A price within this many ticks of a grid point is on it (float division noise, e.g. 100.05/0.05).
_GRID_TOLERANCE: Final = 1e-9
# Grid prices are written back with this many decimals, so 2001 x 0.05 is 100.05, not 100.05000001.
_PRICE_DECIMALS: Final = 8


@dataclass(frozen=True, slots=True)
class FillModel:
    """How fills are priced when the data has only bars (``docs/backtest.md``).

    ``spread_bps``: the full quoted spread assumed when a bar has no bid/ask; ``slippage_bps``: an
    adverse move on every market and stop fill; ``limit_buffer_bps``: an entry is a marketable
    LIMIT this far through the decision close, and a fill beyond it does not happen.
    """

    spread_bps: float = 2.0
    slippage_bps: float = 2.0
    limit_buffer_bps: float = 10.0

    def __post_init__(self) -> None:
        for name in ("spread_bps", "slippage_bps", "limit_buffer_bps"):
            value = non_negative(_OWNER, name, getattr(self, name))
            if value >= 10_000:
                raise ContractError(_OWNER, name, value, "must be < 10000 (100 %)")

    @property
    def half_spread(self) -> float:
        return self.spread_bps * _BPS / 2

    @property
    def slippage(self) -> float:
        return self.slippage_bps * _BPS

    def entry_prices(
        self, long: Bools, close: Floats, bid: Floats, ask: Floats, tick: Floats
    ) -> tuple[Floats, Floats]:
        """(fill, limit) of a marketable LIMIT entry at the decision bar.

        The fill is the ask (long) or bid (short), or close +/- half the assumed spread when the
        bar has none (NaN), plus slippage, rounded to the tick against us. The limit is the
        reference +/- the buffer, rounded to the tick in our favour (a BUY limit rounds down); the
        reference is the close when the bar has no quote. When it has one (option bars), the order
        is priced through the quote, as a trader would: the reference is the ask (BUY) or bid
        (SELL), and the limit is at least one tick beyond it. The caller skips the entry when the
        fill is beyond the limit.
        """
        fill = self._market(long, close, bid, ask, tick, buying=long)
        buffer = self.limit_buffer_bps * _BPS
        touch = np.where(long, ask, bid)
        quoted = ~np.isnan(touch)
        reference = np.where(quoted, touch, close)
        limit = np.where(
            long,
            round_down(reference * (1 + buffer), tick),
            round_up(reference * (1 - buffer), tick),
        )
        through_quote = np.where(
            long,
            round_up(reference, tick) + tick,
            np.maximum(round_down(reference, tick) - tick, 0),
        )
        limit = np.where(
            quoted,
            np.where(long, np.maximum(limit, through_quote), np.minimum(limit, through_quote)),
            limit,
        )
        return fill, limit

    def market_exits(
        self, long: Bools, close: Floats, bid: Floats, ask: Floats, tick: Floats
    ) -> Floats:
        """A market exit at a bar's close: a long sells at the bid, a short buys at the ask (or
        close -/+ half the assumed spread), plus slippage, rounded against us."""
        return self._market(long, close, bid, ask, tick, buying=~long)

    def stop_fills(self, long: Bools, open_: Floats, stop: Floats, tick: Floats) -> Floats:
        """A stop hit in a bar fills at the stop or, when the bar opened through it (a gap), at
        the open; then slippage, rounded against us. Never below one tick."""
        long_fill = round_down(np.minimum(open_, stop) * (1 - self.slippage), tick)
        short_fill = round_up(np.maximum(open_, stop) * (1 + self.slippage), tick)
        return np.maximum(np.where(long, long_fill, short_fill), tick)

    def _market(
        self, long: Bools, close: Floats, bid: Floats, ask: Floats, tick: Floats, buying: Bools
    ) -> Floats:
        quoted_ask = np.where(np.isnan(ask), close * (1 + self.half_spread), ask)
        quoted_bid = np.where(np.isnan(bid), close * (1 - self.half_spread), bid)
        buy = round_up(quoted_ask * (1 + self.slippage), tick)
        sell = round_down(quoted_bid * (1 - self.slippage), tick)
        return np.maximum(np.where(buying, buy, sell), tick)


def take_profit_levels(long: Bools, take_profit: Floats, tick: Floats) -> Floats:
    """The take-profit LIMIT on the grid, never better than asked: a long's SELL limit rounds up,
    a short's BUY limit rounds down."""
    return np.where(long, round_up(take_profit, tick), round_down(take_profit, tick))


def take_profit_fills(long: Bools, open_: Floats, level: Floats) -> Floats:
    """A take-profit LIMIT fills at its level, or at the open when the bar opened through it."""
    return np.where(long, np.maximum(open_, level), np.minimum(open_, level))


def round_up(price: Floats, tick: Floats) -> Floats:
    """The grid point at or above ``price`` (infinities stay infinite)."""
    steps = np.ceil(price / tick - _GRID_TOLERANCE)
    return np.round(steps * tick, _PRICE_DECIMALS)


def round_down(price: Floats, tick: Floats) -> Floats:
    """The grid point at or below ``price`` (infinities stay infinite)."""
    steps = np.floor(price / tick + _GRID_TOLERANCE)
    return np.round(steps * tick, _PRICE_DECIMALS)
