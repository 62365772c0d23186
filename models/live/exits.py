"""The exit monitor's rules for an open trade, evaluated on each closed candle of its instrument.

In order: the stop (a long's low at or below it, a short's high at or above it), then the target,
then the time exit (the proposal's ``time_exit``: the hold limit, the MIS square-off or the
pre-expiry exit, whichever it was). The stop wins a bar that reached both, as in the backtest.
The exit is a protected LIMIT through the price that triggered it (the fill model's marketable
limit), on the tick grid; it needs no approval but still passes the risk engine.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from data_contracts.enums import ExitReason, Product
from data_contracts.market import Candle
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import IST
from data_contracts.trading import ExitProposal, OpenTrade
from models.backtest import FillModel

__all__ = ["exit_for"]


def exit_for(
    trade: OpenTrade,
    candle: Candle,
    *,
    now: datetime,
    fills: FillModel,
    calendar: NseCalendar,
) -> ExitProposal | None:
    """The exit ``candle`` triggers for ``trade``, or None."""
    if candle.instrument_token != trade.instrument_token or candle.ts_event <= trade.opened_at:
        return None
    reason, reference = _trigger(trade, candle, calendar)
    if reason is None:
        return None
    buying = not trade.is_long  # the exit's side
    nan = np.array([np.nan])
    _, limit = fills.entry_prices(
        np.array([buying]), np.array([reference]), nan, nan, np.array([trade.tick_size])
    )
    return ExitProposal.closing(
        trade,
        ts_event=candle.ts_event,
        ts_init=max(now, candle.ts_event),
        reason=reason,
        reference_price=reference,
        limit_price=max(float(limit[0]), trade.tick_size),
    )


def _trigger(
    trade: OpenTrade, candle: Candle, calendar: NseCalendar
) -> tuple[ExitReason | None, float]:
    if trade.is_long:
        if candle.low <= trade.stop_loss:
            return ExitReason.STOP_LOSS, trade.stop_loss
        if candle.high >= trade.take_profit:
            return ExitReason.TAKE_PROFIT, trade.take_profit
    else:
        if candle.high >= trade.stop_loss:
            return ExitReason.STOP_LOSS, trade.stop_loss
        if candle.low <= trade.take_profit:
            return ExitReason.TAKE_PROFIT, trade.take_profit
    if candle.ts_event >= trade.time_exit:
        # only an intraday (MIS) trade is squared off; a delivery trade's exit is its hold limit
        square_off = (
            calendar.mis_square_off(
                candle.ts_event.astimezone(IST).date(), derivatives=trade.exchange.value == "NFO"
            )
            if trade.product is Product.MIS
            else None
        )
        at_square_off = square_off is not None and trade.time_exit >= square_off
        return (ExitReason.SQUARE_OFF if at_square_off else ExitReason.TIME), candle.close
    return None, 0.0
