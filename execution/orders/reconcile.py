"""Reconciliation: our orders, fills and positions against the broker's, repaired from the
broker's truth and reported — never silently overwritten.

At start-up and every ``reconcile_interval``:

- every order of ours that is in flight or working gets the broker's latest state; one the
  broker does not know, claimed longer ago than ``in_flight_grace``, was never placed: it is
  closed locally (REJECTED, "never reached the broker") and reported as a *stuck order*;
- an order at the broker carrying a tag of ours that we never claimed is an *unknown order*;
- every execution the broker reports that we have not stored is stored (our order's, or a
  manual trade's with no tag) and reported as a *recovered fill* / *unknown fill*;
- then positions: a difference between the book (fills + earlier adjustments) and the broker's
  net positions that a second read of the broker's trade book and positions confirms (the same
  difference, the trades not yet stored counted in) is recorded as an adjustment to the broker's
  quantity and reported as a *position mismatch*. One read alone is not trusted: the two books
  are separate requests, and a fill landing between them looks like a mismatch.

Each finding is stored, audited and alerted on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from data_contracts.enums import AlertSeverity, OrderStatus
from data_contracts.ids import InstrumentToken
from data_contracts.trading import Fill, OrderEvent, Position
from execution.audit import AuditKind
from execution.kite.broker import BrokerError
from execution.orders.executor import Executor
from execution.orders.positions import PositionKey, book_positions
from execution.orders.tags import is_our_tag
from execution.store.oms import Finding, PositionAdjustment

__all__ = ["reconcile"]


def reconcile(executor: Executor) -> list[Finding]:
    """One reconciliation pass; returns the findings (empty when everything agrees). If the
    broker cannot be asked, nothing is changed and one ``broker_unreachable`` finding is made."""
    ctx = executor.context
    executor.account.refresh_session()
    try:
        broker_orders = {event.client_tag.value: event for event in ctx.broker.orders()}
        broker_fills = ctx.broker.fills()
        broker_positions = ctx.broker.positions()
    except BrokerError as error:
        executor.account.count_exception()
        finding = Finding(ctx.clock.now(), "broker_unreachable", "broker", str(error))
        _report(executor, finding, AlertSeverity.WARNING)
        return [finding]
    findings = _orders(executor, broker_orders)
    findings += _fills(executor, broker_fills)
    executor.advance_trades()
    findings += _positions(executor, broker_positions)
    return findings


def _orders(executor: Executor, broker_orders: dict[str, OrderEvent]) -> list[Finding]:
    ctx = executor.context
    now = ctx.clock.now()
    findings: list[Finding] = []
    ours = ctx.oms.orders()
    known = {record.client_tag.value for record in ours}
    for record in ours:
        if record.is_final:
            continue
        event = broker_orders.get(record.client_tag.value)
        if event is not None:
            executor.record_event(event, "reconcile")
            continue
        if now - record.created_at < ctx.settings.in_flight_grace:
            continue
        executor.record_event(
            OrderEvent(
                client_tag=record.client_tag,
                order_id=None,
                status=OrderStatus.REJECTED,
                ts_event=now,
                ts_init=now,
                quantity=record.intent.quantity,
                status_message="never reached the broker (reconciliation)",
            ),
            "reconcile",
        )
        findings.append(
            Finding(
                now,
                "stuck_order",
                record.client_tag.value,
                f"{record.intent.tradingsymbol}: claimed at {record.created_at.isoformat()}, "
                "unknown to the broker; closed as never placed",
            )
        )
    for tag, event in broker_orders.items():
        if is_our_tag(tag) and tag not in known:
            findings.append(
                Finding(
                    now,
                    "unknown_order",
                    tag,
                    f"the broker has order {event.order_id} ({event.status.value}) with a "
                    "kitepilot tag this store never claimed",
                )
            )
    for finding in findings:
        _report(executor, finding, AlertSeverity.CRITICAL)
    return findings


def _fills(executor: Executor, broker_fills: Sequence[Fill]) -> list[Finding]:
    ctx = executor.context
    known = ctx.oms.trade_ids()
    findings: list[Finding] = []
    for fill in broker_fills:
        if fill.trade_id.value in known:
            continue
        record = None if fill.client_tag is None else ctx.oms.order(fill.client_tag)
        if record is None and fill.client_tag is not None and not is_our_tag(fill.client_tag.value):
            fill = replace(fill, client_tag=None)
        executor.store_fill(fill, record)
        kind = "recovered_fill" if record is not None else "unknown_fill"
        findings.append(
            Finding(
                ctx.clock.now(),
                kind,
                fill.trade_id.value,
                f"{fill.side.value} {fill.quantity} of {fill.instrument_token} @ {fill.price} "
                f"(order {fill.order_id}) stored from the broker's trade book",
            )
        )
    for finding in findings:
        _report(
            executor,
            finding,
            AlertSeverity.WARNING if finding.kind == "recovered_fill" else AlertSeverity.CRITICAL,
        )
    return findings


def _positions(executor: Executor, broker_positions: Sequence[Position]) -> list[Finding]:
    """Adjust the book to the broker only where it disagrees in two consecutive reads with the
    same difference: the trade book and the positions are separate requests, so a fill landing
    between them makes one read disagree for a moment (the second read sees the fill in both)."""
    ctx = executor.context
    first = _differences(executor.account.positions(), broker_positions)
    if not first:
        return []
    try:
        broker_fills = ctx.broker.fills()
        again = ctx.broker.positions()
    except BrokerError:
        executor.account.count_exception()
        return []  # nothing is adjusted on one read; the next pass asks again
    known = ctx.oms.trade_ids()
    unstored = [f for f in broker_fills if f.trade_id.value not in known]
    fills = [stored.fill for stored in ctx.oms.fills()] + unstored
    symbols = {token: i.tradingsymbol for token, i in ctx.instruments.items()}
    book = book_positions(fills, ctx.oms.adjustments(), symbols)
    second = _differences(book, again)
    now = ctx.clock.now()
    findings: list[Finding] = []
    for key, (ours, broker) in second.items():
        if key not in first or first[key][1].quantity - first[key][0].quantity != (
            broker.quantity - ours.quantity
        ):
            continue
        symbol = broker.tradingsymbol or ours.tradingsymbol
        detail = (
            f"{symbol} {key[1].value}: book {ours.quantity}, broker {broker.quantity}; "
            "adjusted to the broker"
        )
        ctx.oms.add_adjustment(
            PositionAdjustment(
                instrument_token=key[0],
                product=key[1],
                tradingsymbol=symbol,
                quantity=broker.quantity - ours.quantity,
                # the broker's average for what it holds; when it is flat, no price is needed,
                # but ours is kept so the adjustment carries a real price whatever its order
                average_price=broker.average_price if broker.quantity else ours.average_price,
                ts_event=now,
                detail=detail,
            )
        )
        findings.append(Finding(now, "position_mismatch", symbol, detail))
    for finding in findings:
        _report(executor, finding, AlertSeverity.CRITICAL)
    return findings


def _differences(
    book: Mapping[PositionKey, Position], broker_positions: Sequence[Position]
) -> dict[PositionKey, tuple[Position, Position]]:
    """(ours, the broker's) per key whose quantities differ; a missing side is flat."""
    theirs: dict[PositionKey, Position] = {
        (p.instrument_token, p.product): p for p in broker_positions
    }
    differences: dict[PositionKey, tuple[Position, Position]] = {}
    for key in sorted(set(book) | set(theirs), key=lambda k: (k[0], k[1].value)):
        ours, broker = book.get(key), theirs.get(key)
        if (ours.quantity if ours else 0) == (broker.quantity if broker else 0):
            continue
        known = broker or ours
        symbol = known.tradingsymbol if known is not None else str(key[0])
        flat = Position(InstrumentToken(key[0]), symbol, key[1])
        differences[key] = (ours or flat, broker or flat)
    return differences


def _report(executor: Executor, finding: Finding, severity: AlertSeverity) -> None:
    ctx = executor.context
    ctx.oms.add_finding(finding)
    ctx.record(
        AuditKind.RECONCILIATION,
        finding.subject,
        {"kind": finding.kind, "detail": finding.detail},
    )
    ctx.alert(
        f"reconciliation:{finding.kind}:{finding.subject}",
        severity,
        f"Reconciliation: {finding.kind.replace('_', ' ')}",
        finding.detail,
    )
