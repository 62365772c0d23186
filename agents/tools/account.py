"""Account tools, read-only: margins, positions, holdings, the order and trade books (the
broker's), P&L after charges (our store's fills: ``execution.console.book``), and the risk
status (the configured limits, the kill switch and today's loss against its limit)."""

from __future__ import annotations

from collections.abc import Mapping

from agents.context import ToolContext
from agents.errors import ErrorCode, ToolFailure
from agents.tools.common import Result, instruments, parse_day, today
from execution.console.book import BookView, book_view
from execution.orders.positions import book_positions
from execution.risk import RiskLimits
from execution.store.flags import OperatorFlag
from execution.store.oms import OmsStore

__all__ = ["holdings", "margins", "orders", "pnl", "positions", "risk_status", "trades"]


def _broker(ctx: ToolContext) -> str:
    return f"broker ({ctx.market.source})"


def margins(ctx: ToolContext) -> Result:
    return Result(_broker(ctx), {"margins": ctx.market.call(lambda m: m.margins())})


def holdings(ctx: ToolContext) -> Result:
    return Result(_broker(ctx), {"holdings": ctx.market.call(lambda m: m.holdings())})


def orders(ctx: ToolContext) -> Result:
    rows = ctx.market.call(lambda m: m.orders())
    return Result(_broker(ctx), {"orders": rows[-ctx.max_rows :], "count": len(rows)})


def trades(ctx: ToolContext) -> Result:
    rows = ctx.market.call(lambda m: m.trades())
    return Result(_broker(ctx), {"trades": rows[-ctx.max_rows :], "count": len(rows)})


def positions(ctx: ToolContext) -> Result:
    """The broker's net and day positions, and the book our own fills make."""
    oms = OmsStore.of(ctx.store)
    symbols = {int(o.intent.instrument_token): o.intent.tradingsymbol for o in oms.orders()}
    book = book_positions([s.fill for s in oms.fills()], oms.adjustments(), symbols)
    ours = [
        {
            "instrument_token": int(token),
            "tradingsymbol": p.tradingsymbol,
            "product": product.value,
            "quantity": p.quantity,
            "average_price": p.average_price,
            "realised_pnl": p.realised_pnl,
            "charges": p.charges,
        }
        for (token, product), p in sorted(book.items(), key=lambda item: item[0][0])
    ]
    try:
        broker: object = ctx.market.call(lambda m: m.positions())
        source = f"{_broker(ctx)} and the store's fills"
    except ToolFailure as failure:
        if failure.code is not ErrorCode.UNAVAILABLE:
            raise
        broker, source = {"unavailable": failure.message}, "the store's fills (broker unavailable)"
    return Result(source, {"broker": broker, "from_our_fills": ours})


def _marks(ctx: ToolContext, view: BookView) -> tuple[Mapping[int, float], str]:
    """Last prices of the view's open positions from the broker (empty when it is down)."""
    open_tokens = {row.instrument_token for row in view.positions if row.quantity}
    if not open_tokens:
        return {}, ""
    try:
        _, known = instruments(ctx)
        keys = {
            f"{i.exchange.value}:{i.tradingsymbol}": int(i.instrument_token)
            for i in known
            if int(i.instrument_token) in open_tokens
        }
        prices = ctx.market.call(lambda m: m.ltp(list(keys)))
    except ToolFailure as failure:
        if failure.code is not ErrorCode.UNAVAILABLE:
            raise
        return {}, "open positions are not marked: the broker cannot be reached"
    return {keys[key]: price for key, price in prices.items() if key in keys}, ""


def pnl(ctx: ToolContext, day: str | None) -> Result:
    """P&L after charges of one IST day (default today) from the store's fills."""
    chosen = parse_day(day, "day") or today(ctx)
    capital = ctx.config.capital
    view = book_view(ctx.store, chosen, capital=capital, marks={})
    marks, note = _marks(ctx, view)
    if marks:
        view = book_view(ctx.store, chosen, capital=capital, marks=marks)
    return Result(
        "the store's fills (execution.console.book), marked at the broker's last prices",
        {
            "day": chosen,
            "realised": view.realised,
            "unrealised": view.unrealised,
            "charges": view.charges,
            "net": view.net,
            "note": note or "net = realised + unrealised - charges (rupees)",
            "positions": view.positions,
            "blotter": view.blotter[: ctx.max_rows],
        },
    )


def risk_status(ctx: ToolContext) -> Result:
    """The limits the risk engine enforces (read-only here: no tool changes them), the kill
    switch, the pause flag and today's net P&L against the daily loss limit."""
    limits = RiskLimits.from_config(ctx.config)
    kill = OmsStore.of(ctx.store).kill_switch()
    paused = ctx.store.flag(OperatorFlag.PROPOSALS_PAUSED)
    view = book_view(ctx.store, today(ctx), capital=ctx.config.capital, marks={})
    open_trades = ctx.store.open_trades()
    return Result(
        "config (risk, capital) and the store (kill switch, flags, fills, open trades)",
        {
            "mode": ctx.mode,
            "limits": limits,
            "strategy": {
                "min_confidence": ctx.config.strategy.min_confidence,
                "min_expected_net_profit": ctx.config.strategy.min_expected_net_profit,
                "proposal_ttl_seconds": ctx.config.strategy.proposal_ttl_seconds,
                "last_entry_time_ist": ctx.config.strategy.last_entry_time,
                "equity_stop_loss_atr": ctx.config.strategy.equity_stop_loss_atr,
                "equity_take_profit_atr": ctx.config.strategy.equity_take_profit_atr,
            },
            "kill_switch": kill,
            "proposals_paused": paused,
            "today": {
                "realised_after_charges": view.realised - view.charges,
                "daily_loss_limit": limits.daily_loss_limit,
                "loss_room_left": limits.daily_loss_limit + min(0.0, view.realised - view.charges),
            },
            "open_trades": len(open_trades),
            "max_concurrent_positions": limits.max_concurrent_positions,
            "note": "read-only: limits, mode and the kill switch change only through the config, "
            "the dashboard or the CLI, never through this server",
        },
    )
