"""The trades around the orders: an entry whose orders are all done opens a trade (what the exit
monitor watches) or, with nothing filled, makes its proposal UNFILLED; an exit whose orders filled
the trade's quantity closes it; a flatten (the kill switch, an operator's "exit now") that leaves
the position flat closes every trade in it. Run after every change in orders or fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Final

from data_contracts.enums import ProposalStatus
from data_contracts.ids import ProposalId
from data_contracts.trading import Fill, OpenTrade, OrderIntent
from execution.orders.account import AccountBook
from execution.orders.context import OmsContext
from execution.store.oms import OrderPurpose, OrderRecord

__all__ = ["advance_trades"]

_OPENABLE: Final = frozenset(
    {ProposalStatus.APPROVED, ProposalStatus.SENT, ProposalStatus.UNFILLED}
)
"""The statuses of a proposal whose filled entry orders become an open trade (APPROVED: a process
killed after sending and before recording SENT; UNFILLED: a fill the broker reports after the
cancel that made it so)."""


def advance_trades(ctx: OmsContext, account: AccountBook) -> None:
    """Entries fully done → open trades (for the exit monitor), or UNFILLED; exits done →
    closed; flattens that left the position flat → its trades closed."""
    fills_by_tag: dict[str, list[Fill]] = {}
    for stored in ctx.oms.fills():
        if stored.fill.client_tag is not None:
            fills_by_tag.setdefault(stored.fill.client_tag.value, []).append(stored.fill)
    by_subject: dict[tuple[str, OrderPurpose], list[OrderRecord]] = {}
    for record in ctx.oms.orders():
        by_subject.setdefault((record.subject_id, record.purpose), []).append(record)
    for (subject, purpose), records in by_subject.items():
        if not all(record.is_final for record in records):
            continue
        done = [f for r in records for f in fills_by_tag.get(r.client_tag.value, [])]
        if not done:
            if purpose is OrderPurpose.ENTRY:
                _unfilled(ctx, ProposalId(subject), records)
            continue
        if purpose is OrderPurpose.ENTRY:
            _open_trade(ctx, ProposalId(subject), done)
        elif purpose is OrderPurpose.EXIT:
            _close_trade(ctx, subject, records, done)
        else:  # a manual "exit now" or a kill-switch flatten
            _close_flattened(ctx, account, subject, records[0].intent, done)


def _close_flattened(
    ctx: OmsContext, account: AccountBook, subject: str, intent: OrderIntent, done: Sequence[Fill]
) -> None:
    """A position closed whole: its open trades are closed too (once flat)."""
    token, product = intent.instrument_token, intent.product
    if account.position_quantity(token, product) != 0:
        return
    closed_at = max(f.ts_event for f in done)
    for trade in ctx.store.open_trades(token):
        if trade.product is product:
            ctx.store.close_trade(trade.proposal_id, max(closed_at, trade.opened_at))
            ctx.store.record_status(
                trade.proposal_id, ProposalStatus.CLOSED, ctx.clock.now(), subject
            )


def _unfilled(ctx: OmsContext, proposal_id: ProposalId, records: Sequence[OrderRecord]) -> None:
    """An entry whose orders all ended with nothing filled is UNFILLED, not left SENT (or
    APPROVED, when the process died before recording SENT) for ever."""
    if ctx.store.status(proposal_id) not in (ProposalStatus.APPROVED, ProposalStatus.SENT):
        return
    last = records[-1].latest
    why = (last.status_message or last.status.value) if last is not None else "ended"
    ctx.store.record_status(proposal_id, ProposalStatus.UNFILLED, ctx.clock.now(), why)


def _open_trade(ctx: OmsContext, proposal_id: ProposalId, done: Sequence[Fill]) -> None:
    proposal = ctx.store.get(proposal_id)
    # APPROVED too: a process killed after sending and before recording SENT
    if proposal is None or ctx.store.status(proposal_id) not in _OPENABLE:
        return
    quantity = sum(f.quantity for f in done)
    price = sum(f.quantity * f.price for f in done) / quantity
    opened_at = max(f.ts_event for f in done)
    trade = OpenTrade(
        proposal_id=proposal.proposal_id,
        strategy_id=proposal.strategy_id,
        instrument_token=proposal.instrument_token,
        exchange=proposal.exchange,
        tradingsymbol=proposal.tradingsymbol,
        product=proposal.product,
        side=proposal.side,
        quantity=quantity,
        lot_size=proposal.lot_size,
        tick_size=proposal.tick_size,
        entry_price=price,
        stop_loss=proposal.stop_loss,
        take_profit=proposal.take_profit,
        time_exit=max(proposal.time_exit, opened_at + timedelta(seconds=1)),
        opened_at=opened_at,
    )
    ctx.store.open_trade(trade)
    ctx.store.record_status(
        proposal_id, ProposalStatus.FILLED, ctx.clock.now(), f"{quantity} @ {price:.2f}"
    )


def _close_trade(
    ctx: OmsContext, exit_id: str, records: Sequence[OrderRecord], done: Sequence[Fill]
) -> None:
    """Close the trade an exit's orders filled in full (across every attempt; a shortfall
    is sent again by ``Executor.submit_exits``)."""
    entry = next(
        (e.entry_proposal_id for e in ctx.store.exits() if e.exit_id.value == exit_id), None
    )
    trade = next((t for t in ctx.store.open_trades() if t.proposal_id == entry), None)
    if entry is None or trade is None or sum(f.quantity for f in done) < trade.quantity:
        return
    closed_at = max(f.ts_event for f in done)
    ctx.store.close_trade(entry, closed_at)
    ctx.store.record_status(entry, ProposalStatus.CLOSED, ctx.clock.now(), exit_id)
