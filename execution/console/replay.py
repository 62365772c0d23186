"""What one paper session (or a replayed day) left in the store: proposals and what became of
them, the demo approver's and people's decisions, risk vetoes with their reasons, orders by final
status, fills, and the trade log — each round trip from its entry fills to its exit fills, with
P&L after charges.

The trade log pairs fills by (instrument, product), first in first out: an entry order's fills open
its proposal's trade; any other fill in the opposite direction (an exit, an operator's "exit now",
a kill-switch flatten, the broker's square-off) closes the oldest open trade. Charges are the ones
stored with each fill (the one charges model); a partly used fill's charges are split by quantity.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import polars as pl

from data_contracts.enums import ProposalStatus, Side, Verdict
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.timeutil import require_aware
from data_contracts.trading import Fill, Proposal
from execution.store.oms import OmsStore, OrderPurpose, OrderRecord
from execution.store.sql import SqlStore

__all__ = [
    "OUTCOME_SCHEMA",
    "SESSION_END",
    "TRADE_LOG_SCHEMA",
    "SessionActivity",
    "round_trips",
    "session_activity",
]

TRADE_LOG_SCHEMA: Final[dict[str, pl.DataType]] = {
    "proposal_id": pl.String(),
    "strategy_id": pl.String(),
    "instrument_token": pl.Int64(),
    "tradingsymbol": pl.String(),
    "product": pl.String(),
    "side": pl.String(),
    "ts_decision": UTC_TIMESTAMP,
    "ts_entry": UTC_TIMESTAMP,
    "ts_exit": UTC_TIMESTAMP,
    "quantity": pl.Int64(),
    "entry_price": pl.Float64(),
    "exit_price": pl.Float64(),
    "exit_reason": pl.String(),
    "bars_held": pl.Int64(),
    "gross_pnl": pl.Float64(),
    "charges": pl.Float64(),
    "net_pnl": pl.Float64(),
    "status": pl.String(),
}
"""The trade log: one row per entry that filled. ``status`` is ``closed`` or ``open`` (then the
exit columns are null and ``net_pnl`` is minus the entry's charges). ``bars_held`` counts whole
1-minute bars from entry to exit."""

OUTCOME_SCHEMA: Final[dict[str, pl.DataType]] = {
    "proposal_id": pl.String(),
    "strategy_id": pl.String(),
    "instrument_token": pl.Int64(),
    "tradingsymbol": pl.String(),
    "ts_decision": UTC_TIMESTAMP,
    "p_win": pl.Float64(),
    "status": pl.String(),
    "detail": pl.String(),
}
"""Every proposal of the window and its latest status (``detail``: the veto's reasons, the
rejection's reason, the fill...)."""

SESSION_END: Final = "session-end"
"""Subject prefix of the orders that flatten what is still open when a replayed session ends."""
_CLOSED: Final = "closed"
_OPEN: Final = "open"
_SQUARE_OFF: Final = "broker square-off"


@dataclass(frozen=True, slots=True)
class SessionActivity:
    """The store's record of ``[start, end)``."""

    start: datetime
    end: datetime
    outcomes: pl.DataFrame  # OUTCOME_SCHEMA
    decisions: Mapping[str, tuple[str, str, str]]  # proposal id → (verdict, decided by, reason)
    vetoes: tuple[tuple[str, str], ...]  # (proposal id, the risk engine's reasons)
    orders_by_status: Mapping[str, int]  # latest status of each order created in the window
    fills: int
    trades: pl.DataFrame  # TRADE_LOG_SCHEMA
    statuses: Mapping[str, int] = field(default_factory=dict)  # proposals by latest status

    @property
    def proposals(self) -> int:
        return self.outcomes.height

    @property
    def approvals(self) -> int:
        return sum(1 for verdict, _, _ in self.decisions.values() if verdict == Verdict.APPROVE)

    @property
    def rejections(self) -> int:
        return sum(1 for verdict, _, _ in self.decisions.values() if verdict == Verdict.REJECT)

    def closed_trades(self) -> pl.DataFrame:
        return self.trades.filter(pl.col("status") == _CLOSED)


def session_activity(store: SqlStore, start: datetime, end: datetime) -> SessionActivity:
    """What the store holds for proposals, orders and fills with times in ``[start, end)``."""
    start = require_aware("session_activity", "start", start)
    end = require_aware("session_activity", "end", end)
    oms = OmsStore.of(store)
    latest: dict[str, tuple[Proposal, ProposalStatus]] = {}
    for status in ProposalStatus:
        for proposal in store.with_status(status):
            if start <= proposal.ts_event < end:
                latest[proposal.proposal_id.value] = (proposal, status)
    outcome_rows = []
    decisions: dict[str, tuple[str, str, str]] = {}
    vetoes: list[tuple[str, str]] = []
    for pid, (proposal, status) in sorted(latest.items(), key=lambda i: i[1][0].ts_event):
        history = store.history(proposal.proposal_id)
        detail = history[-1].detail if history else ""
        for decision in store.decisions(proposal.proposal_id):
            decisions[pid] = (decision.verdict.value, decision.decided_by, decision.reason)
        vetoed = [e.detail for e in history if e.status is ProposalStatus.VETOED]
        if vetoed:
            vetoes.append((pid, vetoed[-1]))
        outcome_rows.append(
            {
                "proposal_id": pid,
                "strategy_id": proposal.strategy_id.value,
                "instrument_token": int(proposal.instrument_token),
                "tradingsymbol": proposal.tradingsymbol,
                "ts_decision": proposal.ts_event,
                "p_win": proposal.p_win,
                "status": status.value,
                "detail": detail,
            }
        )
    orders = [o for o in oms.orders() if start <= o.created_at < end]
    by_status: dict[str, int] = {}
    for order in orders:
        name = "IN FLIGHT" if order.latest is None else order.latest.status.value
        by_status[name] = by_status.get(name, 0) + 1
    fills = [s.fill for s in oms.fills() if start <= s.fill.ts_event < end]
    exit_reasons = {e.exit_id.value: e.reason.value for e in store.exits()}
    proposals = {pid: proposal for pid, (proposal, _) in latest.items()}
    statuses: dict[str, int] = {}
    for _, status in latest.values():
        statuses[status.value] = statuses.get(status.value, 0) + 1
    return SessionActivity(
        start=start,
        end=end,
        outcomes=pl.DataFrame(outcome_rows, schema=OUTCOME_SCHEMA),
        decisions=decisions,
        vetoes=tuple(vetoes),
        orders_by_status=dict(sorted(by_status.items())),
        fills=len(fills),
        trades=round_trips(fills, oms.orders(), proposals, exit_reasons),
        statuses=dict(sorted(statuses.items())),
    )


@dataclass(slots=True)
class _Open:
    """One entry's open quantity while the fills are folded."""

    proposal: Proposal | None
    proposal_id: str
    instrument_token: int
    product: str
    side: Side
    ts_entry: datetime
    quantity: int = 0
    entry_value: float = 0.0
    charges: float = 0.0
    closed: int = 0
    exit_value: float = 0.0
    ts_exit: datetime | None = None
    exit_reasons: list[str] = field(default_factory=list)


def round_trips(
    fills: Iterable[Fill],
    orders: Sequence[OrderRecord],
    proposals: Mapping[str, Proposal],
    exit_reasons: Mapping[str, str],
) -> pl.DataFrame:
    """The trade log (:data:`TRADE_LOG_SCHEMA`) of ``fills``: entry orders' fills open their
    proposal's trade, other fills close the oldest open trade of the same instrument and product.
    ``orders``: our claimed orders (a fill's tag → purpose and subject); ``proposals``: proposal id
    → proposal (for the decision time and symbol); ``exit_reasons``: exit id → reason."""
    by_tag = {o.client_tag.value: o for o in orders}
    trades: list[_Open] = []
    open_by_key: dict[tuple[int, str], list[_Open]] = {}
    for fill in sorted(fills, key=lambda f: (f.ts_event, f.trade_id.value)):
        key = (int(fill.instrument_token), fill.product.value)
        record = None if fill.client_tag is None else by_tag.get(fill.client_tag.value)
        if record is not None and record.purpose is OrderPurpose.ENTRY:
            _add_entry(fill, record.subject_id, proposals, trades, open_by_key.setdefault(key, []))
            continue
        reason = _reason(record, exit_reasons)
        _close(fill, reason, open_by_key.get(key, []))
    return pl.DataFrame([_row(trade) for trade in trades], schema=TRADE_LOG_SCHEMA)


def _add_entry(
    fill: Fill,
    subject: str,
    proposals: Mapping[str, Proposal],
    trades: list[_Open],
    open_trades: list[_Open],
) -> None:
    trade = next((t for t in open_trades if t.proposal_id == subject), None)
    if trade is None:
        trade = _Open(
            proposal=proposals.get(subject),
            proposal_id=subject,
            instrument_token=int(fill.instrument_token),
            product=fill.product.value,
            side=fill.side,
            ts_entry=fill.ts_event,
        )
        trades.append(trade)
        open_trades.append(trade)
    trade.quantity += fill.quantity
    trade.entry_value += fill.quantity * fill.price
    trade.charges += fill.charges
    trade.ts_entry = max(trade.ts_entry, fill.ts_event)


def _close(fill: Fill, reason: str, open_trades: list[_Open]) -> None:
    remaining = fill.quantity
    while remaining > 0 and open_trades:
        trade = open_trades[0]
        if fill.side is trade.side:
            return  # adds to the position without an entry of ours: nothing of ours to close
        used = min(remaining, trade.quantity - trade.closed)
        trade.closed += used
        trade.exit_value += used * fill.price
        trade.charges += fill.charges * used / fill.quantity
        trade.ts_exit = fill.ts_event
        if reason not in trade.exit_reasons:
            trade.exit_reasons.append(reason)
        remaining -= used
        if trade.closed >= trade.quantity:
            open_trades.pop(0)


def _reason(record: OrderRecord | None, exit_reasons: Mapping[str, str]) -> str:
    if record is None:
        return _SQUARE_OFF
    if record.purpose is OrderPurpose.EXIT:
        return exit_reasons.get(record.subject_id, "exit")
    if record.subject_id.startswith(f"{SESSION_END}:"):
        return "session end"
    return record.purpose.value  # manual ("exit now", session end) or the kill switch's flatten


def _row(trade: _Open) -> dict[str, object]:
    proposal = trade.proposal
    entry_price = trade.entry_value / trade.quantity
    closed = trade.closed >= trade.quantity
    exit_price = trade.exit_value / trade.quantity if closed else None
    gross = (trade.exit_value - trade.entry_value) * trade.side.sign if closed else 0.0
    held = None
    if closed and trade.ts_exit is not None:
        held = int((trade.ts_exit - trade.ts_entry).total_seconds() // 60)
    return {
        "proposal_id": trade.proposal_id,
        "strategy_id": None if proposal is None else proposal.strategy_id.value,
        "instrument_token": trade.instrument_token,
        "tradingsymbol": None if proposal is None else proposal.tradingsymbol,
        "product": trade.product,
        "side": trade.side.value,
        "ts_decision": None if proposal is None else proposal.ts_event,
        "ts_entry": trade.ts_entry,
        "ts_exit": trade.ts_exit if closed else None,
        "quantity": trade.quantity,
        "entry_price": entry_price,
        "exit_price": exit_price,
        "exit_reason": ", ".join(trade.exit_reasons) if closed else None,
        "bars_held": held,
        "gross_pnl": gross,
        "charges": trade.charges,
        "net_pnl": gross - trade.charges,
        "status": _CLOSED if closed else _OPEN,
    }
