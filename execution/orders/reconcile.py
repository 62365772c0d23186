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

Delivery (CNC) is the exception both ways, because the account's demat also holds its owner's
own shares, which kitepilot never adopts, exits or flattens: a CNC trade without a kitepilot tag
is stored but is not kitepilot's position (an *unknown fill* at INFO), and the broker holding
more CNC than the book is no mismatch (a *holdings_not_ours* finding at INFO, once per stock
kitepilot trades); holding less is adjusted down like any mismatch (sold outside kitepilot).
The broker's CNC quantity is today's net plus what holdings carried into the day
(``KiteBroker.positions``).

Each finding is stored, audited and alerted on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

from data_contracts.enums import AlertSeverity, OrderStatus, Product
from data_contracts.ids import InstrumentToken
from data_contracts.trading import Fill, OrderEvent, Position
from execution.audit import AuditKind
from execution.kite.broker import BrokerError
from execution.orders.executor import Executor
from execution.orders.positions import PositionKey, book_positions, is_ours
from execution.orders.tags import is_our_tag
from execution.store.oms import Finding, PositionAdjustment

__all__ = ["reconcile"]

_NOT_OURS: Final = "holdings_not_ours"


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
    severities: list[AlertSeverity] = []
    for fill in broker_fills:
        if fill.trade_id.value in known:
            continue
        record = None if fill.client_tag is None else ctx.oms.order(fill.client_tag)
        if record is None and fill.client_tag is not None and not is_our_tag(fill.client_tag.value):
            fill = replace(fill, client_tag=None)
        executor.store_fill(fill, record)
        kind = "recovered_fill" if record is not None else "unknown_fill"
        detail = (
            f"{fill.side.value} {fill.quantity} of {fill.instrument_token} @ {fill.price} "
            f"(order {fill.order_id}) stored from the broker's trade book"
        )
        if not is_ours(fill):
            detail += "; a delivery trade of the account holder's own, not kitepilot's position"
        findings.append(Finding(ctx.clock.now(), kind, fill.trade_id.value, detail))
        severities.append(_fill_severity(fill, record is not None))
    for finding, severity in zip(findings, severities, strict=True):
        _report(executor, finding, severity)
    return findings


def _fill_severity(fill: Fill, of_our_order: bool) -> AlertSeverity:
    """A fill of ours we missed: WARNING; a trade made by hand that is now in the book (MIS,
    NRML): CRITICAL; the account holder's own delivery trade, left out of the book: INFO."""
    if of_our_order:
        return AlertSeverity.WARNING
    return AlertSeverity.CRITICAL if is_ours(fill) else AlertSeverity.INFO


def _positions(executor: Executor, broker_positions: Sequence[Position]) -> list[Finding]:
    """Adjust the book to the broker only where it disagrees in two consecutive reads with the
    same difference: the trade book and the positions are separate requests, so a fill landing
    between them makes one read disagree for a moment (the second read sees the fill in both).

    Delivery (CNC) is compared as a claim, not an equality (:func:`_claimable`): the broker
    holding less than the book is adjusted down like any mismatch; holding more is the account
    holder's own shares, reported once (INFO) where kitepilot trades the stock, never adopted."""
    ctx = executor.context
    book = executor.account.positions()
    first = _differences(book, _claimable(book, broker_positions))
    extra = _unreported(executor, _extra_holdings(book, broker_positions))
    if not first and not extra:
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
    second = _differences(book, _claimable(book, again))
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
    confirmed = _extra_holdings(book, again)
    held_outside = [
        Finding(now, _NOT_OURS, symbol, detail)
        for key, (symbol, detail) in extra.items()
        if confirmed.get(key) == (symbol, detail)
    ]
    for finding in held_outside:
        _report(executor, finding, AlertSeverity.INFO)
    return findings + held_outside


def _claimable(
    book: Mapping[PositionKey, Position], broker_positions: Sequence[Position]
) -> list[Position]:
    """The broker's positions as kitepilot may claim them: as reported, except delivery (CNC),
    where the account also holds its owner's shares (bought in the Kite app, or long before
    kitepilot): there the broker's quantity counts up to the book's only, at the book's price.
    Less than the book is still a difference (sold outside kitepilot); more is not."""
    claimable: list[Position] = []
    for position in broker_positions:
        if position.product is Product.CNC:
            ours = book.get((position.instrument_token, position.product))
            claimed = max(ours.quantity, 0) if ours is not None else 0
            if claimed == 0:
                continue  # none of it is kitepilot's: the book stays as it is
            quantity = min(max(position.quantity, 0), claimed)
            price = ours.average_price if quantity and ours is not None else 0.0
            position = replace(position, quantity=quantity, average_price=price)
        claimable.append(position)
    return claimable


def _extra_holdings(
    book: Mapping[PositionKey, Position], broker_positions: Sequence[Position]
) -> dict[PositionKey, tuple[str, str]]:
    """(symbol, detail) per delivery stock kitepilot has traded of which the account holds more
    than kitepilot's book: the rest is the account holder's own."""
    extra: dict[PositionKey, tuple[str, str]] = {}
    for position in broker_positions:
        key = (position.instrument_token, position.product)
        ours = book.get(key)
        if position.product is not Product.CNC or ours is None:
            continue
        mine = max(ours.quantity, 0)
        if position.quantity <= mine:
            continue
        symbol = position.tradingsymbol or ours.tradingsymbol
        extra[key] = (
            symbol,
            f"{symbol} CNC: the account holds {position.quantity}, kitepilot's book {mine}; the "
            f"other {position.quantity - mine} are the account holder's own and are left alone",
        )
    return extra


def _unreported(
    executor: Executor, extra: dict[PositionKey, tuple[str, str]]
) -> dict[PositionKey, tuple[str, str]]:
    """``extra`` without the stocks an earlier pass (of any process) reported already: once
    per stock, whatever the quantities become (it is information, not a problem)."""
    if not extra:
        return extra
    reported = {f.subject for f in executor.context.oms.findings() if f.kind == _NOT_OURS}
    return {key: found for key, found in extra.items() if found[0] not in reported}


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
