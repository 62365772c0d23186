"""The exit monitor's rules for an open trade on a closed candle: stop, target, time exit and
square-off, the protected limit, the one exit id."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest

from data_contracts.enums import Exchange, ExitReason, Product, Side
from data_contracts.ids import InstrumentToken, ProposalId, StrategyId
from data_contracts.market import Candle
from data_contracts.nse_calendar import NseCalendar
from data_contracts.pricegrid import is_on_grid
from data_contracts.timeutil import IST
from data_contracts.trading import ExitProposal, OpenTrade
from models.backtest import FillModel
from models.live import exit_for
from tests.factories import T0, candle, open_trade

CALENDAR = NseCalendar.default()
FILLS = FillModel()
OPENED = T0 + timedelta(seconds=31)  # open_trade(): long NFO option, SL 60, TP 150
BAR = T0 + timedelta(minutes=5)
INFY = InstrumentToken(408065)


def _bar(low: float, high: float, close: float | None = None, at: datetime = BAR) -> Candle:
    close = (low + high) / 2 if close is None else close
    return candle(ts_event=at, ts_init=at, open=close, high=high, low=low, close=close)


def _short(**overrides: object) -> OpenTrade:
    """An equity MIS short of INFY at 1500: stop 1510 above, target 1480 below."""
    values: dict[str, object] = {
        "proposal_id": ProposalId("equity-intraday:408065:20260818T0400Z"),
        "strategy_id": StrategyId("equity-intraday"),
        "instrument_token": INFY,
        "exchange": Exchange.NSE,
        "tradingsymbol": "INFY",
        "product": Product.MIS,
        "side": Side.SELL,
        "quantity": 100,
        "lot_size": 1,
        "entry_price": 1500.0,
        "stop_loss": 1510.0,
        "take_profit": 1480.0,
    }
    return open_trade(**(values | overrides))


def _exit(trade: OpenTrade, bar: Candle) -> ExitProposal | None:
    return exit_for(trade, bar, now=bar.ts_event, fills=FILLS, calendar=CALENDAR)


def _ist(hour: int, minute: int) -> datetime:
    return datetime.combine(T0.astimezone(IST).date(), time(hour, minute), tzinfo=IST).astimezone(
        UTC
    )


@pytest.mark.parametrize(
    ("low", "high", "reason", "reference"),
    [
        (60.0, 100.0, ExitReason.STOP_LOSS, 60.0),  # touches the stop
        (55.0, 100.0, ExitReason.STOP_LOSS, 60.0),
        (90.0, 150.0, ExitReason.TAKE_PROFIT, 150.0),
        (90.0, 160.0, ExitReason.TAKE_PROFIT, 150.0),
        (55.0, 160.0, ExitReason.STOP_LOSS, 60.0),  # both in one bar: the stop wins
        (60.05, 149.95, None, None),
    ],
)
def test_exit_for_long_stop_target_and_stop_first(
    low: float, high: float, reason: ExitReason | None, reference: float | None
) -> None:
    found = _exit(open_trade(), _bar(low, high))

    assert (None if found is None else (found.reason, found.reference_price)) == (
        None if reason is None else (reason, reference)
    )


@pytest.mark.parametrize(
    ("low", "high", "reason", "reference"),
    [
        (1495.0, 1510.0, ExitReason.STOP_LOSS, 1510.0),
        (1479.0, 1500.0, ExitReason.TAKE_PROFIT, 1480.0),
        (1470.0, 1520.0, ExitReason.STOP_LOSS, 1510.0),
        (1480.05, 1509.95, None, None),
    ],
)
def test_exit_for_short_stop_above_target_below(
    low: float, high: float, reason: ExitReason | None, reference: float | None
) -> None:
    bar = candle(instrument_token=INFY, ts_event=BAR, open=low, high=high, low=low, close=low)

    found = _exit(_short(), bar)

    assert (None if found is None else (found.reason, found.reference_price)) == (
        None if reason is None else (reason, reference)
    )


@pytest.mark.parametrize(
    ("trade", "side"),
    [(open_trade(), Side.SELL), (_short(), Side.BUY)],
)
def test_exit_for_is_the_opposite_side_a_protected_limit_through_the_reference_on_the_grid(
    trade: OpenTrade, side: Side
) -> None:
    low, high = (50.0, 100.0) if trade.is_long else (1490.0, 1520.0)
    bar = candle(
        instrument_token=trade.instrument_token,
        ts_event=BAR,
        open=low,
        high=high,
        low=low,
        close=low,
    )

    found = _exit(trade, bar)

    assert found is not None
    buying = side is Side.BUY
    _, limit = FILLS.entry_prices(
        np.array([buying]),
        np.array([trade.stop_loss]),
        np.array([np.nan]),
        np.array([np.nan]),
        np.array([trade.tick_size]),
    )
    assert found.side is side
    assert found.limit_price == limit[0]
    assert is_on_grid(found.limit_price, trade.tick_size)
    through = found.limit_price > trade.stop_loss if buying else found.limit_price < trade.stop_loss
    assert through
    assert (found.quantity, found.lot_size, found.product, found.tradingsymbol) == (
        trade.quantity,
        trade.lot_size,
        trade.product,
        trade.tradingsymbol,
    )


def test_exit_for_id_is_derived_from_the_entry_proposal() -> None:
    trade = open_trade()

    found = _exit(trade, _bar(50.0, 100.0))

    assert found is not None
    assert found.exit_id == ExitProposal.id_for(trade.proposal_id)
    assert (found.entry_proposal_id, found.strategy_id) == (trade.proposal_id, trade.strategy_id)
    assert (found.ts_event, found.ts_init) == (BAR, BAR)


@pytest.mark.parametrize(
    ("exchange", "product", "time_exit", "reason"),
    [
        (Exchange.NFO, Product.MIS, (14, 30), ExitReason.TIME),  # the hold limit
        (Exchange.NFO, Product.MIS, (15, 25), ExitReason.SQUARE_OFF),  # F&O square-off
        (Exchange.NSE, Product.MIS, (15, 20), ExitReason.SQUARE_OFF),  # equity square-off
        (Exchange.NSE, Product.MIS, (15, 19), ExitReason.TIME),
        # only MIS is squared off: a carried product's deadline is its hold limit
        (Exchange.NFO, Product.NRML, (15, 25), ExitReason.TIME),
        (Exchange.NSE, Product.CNC, (15, 20), ExitReason.TIME),
    ],
)
def test_exit_for_time_exit_names_a_square_off_deadline(
    exchange: Exchange, product: Product, time_exit: tuple[int, int], reason: ExitReason
) -> None:
    deadline = _ist(*time_exit)
    trade = open_trade(exchange=exchange, product=product, time_exit=deadline)
    before = _bar(90.0, 110.0, close=101.0, at=deadline - timedelta(minutes=1))
    at = _bar(90.0, 110.0, close=101.0, at=deadline)

    early = _exit(trade, before)
    found = _exit(trade, at)

    assert early is None
    assert found is not None
    assert (found.reason, found.reference_price) == (reason, 101.0)


def test_exit_for_stop_wins_over_the_time_exit() -> None:
    trade = open_trade(time_exit=BAR)

    found = _exit(trade, _bar(50.0, 110.0, close=101.0))

    assert found is not None
    assert found.reason is ExitReason.STOP_LOSS


@pytest.mark.parametrize("at", [OPENED - timedelta(seconds=31), OPENED])
def test_exit_for_ignores_a_candle_closing_at_or_before_the_trade_opened(at: datetime) -> None:
    assert _exit(open_trade(), _bar(50.0, 160.0, at=at)) is None


def test_exit_for_ignores_another_instrument_candle() -> None:
    bar = candle(instrument_token=INFY, ts_event=BAR, open=50.0, high=160.0, low=50.0, close=50.0)

    assert _exit(open_trade(), bar) is None
