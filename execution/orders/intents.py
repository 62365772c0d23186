"""Order intents: what the executor sends for an entry, an exit or a kill-switch flatten.

Every order is a LIMIT on the tick grid (a MARKET order needs Kite's market protection and tells
us nothing about the worst price; a protected LIMIT does both jobs). Quantities are whole lots,
sliced under the instrument's freeze quantity the way Kite's autoslice would; each slice has its
own deterministic client tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from data_contracts.enums import Exchange, OrderType, Product, Side
from data_contracts.ids import InstrumentToken, ProposalId
from data_contracts.instruments import Instrument
from data_contracts.pricegrid import round_for_side, slice_quantity
from data_contracts.trading import ExitProposal, OrderIntent, Proposal
from data_contracts.validation import positive
from execution.orders.tags import client_tag

__all__ = ["entry_intents", "exit_intents", "flatten_intents", "slices_of"]


def slices_of(quantity: int, lot_size: int, freeze_quantity: int | None) -> tuple[int, ...]:
    """Child quantities of an order (one child when there is no freeze quantity)."""
    if freeze_quantity is None:
        return (quantity,)
    return slice_quantity(quantity, lot_size, freeze_quantity)


@dataclass(frozen=True, slots=True)
class _Terms:
    """What every child order of one subject shares."""

    instrument_token: InstrumentToken
    exchange: Exchange
    tradingsymbol: str
    side: Side
    lot_size: int
    tick_size: float
    product: Product
    price: float

    @classmethod
    def of(cls, order: Proposal | ExitProposal) -> _Terms:
        return cls(
            order.instrument_token,
            order.exchange,
            order.tradingsymbol,
            order.side,
            order.lot_size,
            order.tick_size,
            order.product,
            order.limit_price,
        )


def entry_intents(
    proposal: Proposal, freeze_quantity: int | None, ts_init: datetime
) -> tuple[OrderIntent, ...]:
    """The LIMIT orders of an approved proposal, at its limit price (already on the grid, with
    the fill model's buffer through the decision price)."""
    return _limit_orders(
        proposal.proposal_id, _Terms.of(proposal), proposal.quantity, freeze_quantity, ts_init
    )


def exit_intents(
    exit_proposal: ExitProposal, freeze_quantity: int | None, ts_init: datetime
) -> tuple[OrderIntent, ...]:
    """The protected LIMIT orders closing a trade (the exit monitor priced them)."""
    terms = _Terms.of(exit_proposal)
    return _limit_orders(
        exit_proposal.exit_id, terms, exit_proposal.quantity, freeze_quantity, ts_init
    )


def _limit_orders(
    subject: ProposalId,
    terms: _Terms,
    quantity: int,
    freeze_quantity: int | None,
    ts_init: datetime,
    first_slice: int = 0,
) -> tuple[OrderIntent, ...]:
    """One LIMIT order per freeze-quantity slice, each under its own client tag (slice indices
    from ``first_slice``: a subject sent again continues its own numbering)."""
    return tuple(
        OrderIntent(
            client_tag=client_tag(subject.value, first_slice + index),
            proposal_id=subject,
            instrument_token=terms.instrument_token,
            exchange=terms.exchange,
            tradingsymbol=terms.tradingsymbol,
            side=terms.side,
            quantity=child,
            lot_size=terms.lot_size,
            tick_size=terms.tick_size,
            order_type=OrderType.LIMIT,
            product=terms.product,
            ts_init=ts_init,
            price=terms.price,
        )
        for index, child in enumerate(slices_of(quantity, terms.lot_size, freeze_quantity))
    )


def flatten_intents(
    *,
    subject_id: str,
    instrument: Instrument,
    product: Product,
    position_quantity: int,
    last_price: float,
    buffer_pct: float,
    ts_init: datetime,
    first_slice: int = 0,
) -> tuple[OrderIntent, ...]:
    """Protected LIMIT orders that close ``position_quantity`` (signed) of ``instrument``:
    ``buffer_pct`` through the last price, so they fill like market orders in a normal book but
    never at any price. ``first_slice``: the subject's next slice index (an exit sent again)."""
    positive("flatten_intents", "last_price", last_price)
    side = Side.SELL if position_quantity > 0 else Side.BUY
    through = 1 - buffer_pct / 100 if side is Side.SELL else 1 + buffer_pct / 100
    # Rounded against us on purpose (SELL down, BUY up): the point is to get out.
    price = float(round_for_side(last_price * through, instrument.tick_size, side.opposite))
    price = max(price, instrument.tick_size)
    terms = _Terms(
        instrument.instrument_token,
        instrument.exchange,
        instrument.tradingsymbol,
        side,
        instrument.lot_size,
        instrument.tick_size,
        product,
        price,
    )
    return _limit_orders(
        ProposalId(subject_id),
        terms,
        abs(position_quantity),
        instrument.freeze_quantity,
        ts_init,
        first_slice,
    )
