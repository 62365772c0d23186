"""What a bracketed trade is expected to make after charges: it ends at its take-profit with
probability ``p_win`` and at its stop-loss otherwise.

The charges of each outcome are the one charges model's round trip at those prices
(``data_contracts.charges``), so the expectation, the proposal card's itemised charges and the
backtest never disagree about a rupee. This is the long-options strategy's expectation
(``models.live.strategy``), written once for any side: a SELL entry profits when the price falls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from data_contracts.charges import ChargesModel
from data_contracts.enums import ChargeSegment, Side
from data_contracts.errors import ContractError
from data_contracts.validation import integer, positive, probability

__all__ = ["BracketExpectation", "bracket_expectation"]

_OWNER = "bracket_expectation"


@dataclass(frozen=True, slots=True)
class BracketExpectation:
    """Rupees: gross win and loss, the charges of each outcome, and the probability-weighted
    charges and net profit (``net = p·win - (1-p)·loss - charges``)."""

    gross_win: float
    gross_loss: float
    win_charges: float
    loss_charges: float
    expected_charges: float
    expected_net_profit: float


def bracket_expectation(
    charges: ChargesModel,
    segment: ChargeSegment,
    side: Side,
    *,
    entry: float,
    stop_loss: float,
    take_profit: float,
    quantity: int,
    p_win: float,
    on: date,
) -> BracketExpectation:
    """The expectation of entering ``quantity`` at ``entry`` on ``side`` (round trips on ``on``).

    The stop must be on the losing side of the entry and the target on the winning side.
    """
    for name, value in (("entry", entry), ("stop_loss", stop_loss), ("take_profit", take_profit)):
        positive(_OWNER, name, value)
    integer(_OWNER, "quantity", quantity, minimum=1)
    probability(_OWNER, "p_win", p_win)
    sign = side.sign
    if not (stop_loss - entry) * sign < 0 < (take_profit - entry) * sign:
        rule = (
            f"must put stop_loss {stop_loss} and take_profit {take_profit} on either side of "
            f"entry {entry} (stop below for a BUY, above for a SELL)"
        )
        raise ContractError(_OWNER, "bracket", (stop_loss, take_profit), rule)

    def round_trip(exit_price: float) -> float:
        buy, sell = (entry, exit_price) if side is Side.BUY else (exit_price, entry)
        return float(charges.round_trip(segment, buy, sell, quantity, on).total)

    win_charges, loss_charges = round_trip(take_profit), round_trip(stop_loss)
    gross_win = abs(take_profit - entry) * quantity
    gross_loss = abs(entry - stop_loss) * quantity
    expected_charges = p_win * win_charges + (1 - p_win) * loss_charges
    net = p_win * gross_win - (1 - p_win) * gross_loss - expected_charges
    return BracketExpectation(
        gross_win=gross_win,
        gross_loss=gross_loss,
        win_charges=win_charges,
        loss_charges=loss_charges,
        expected_charges=expected_charges,
        expected_net_profit=net,
    )
