"""The executor: approved proposals and exits → risk engine → idempotent orders → fills.

The rules that keep money safe (NautilusTrader's view of orders):

- Nothing is sent without an accepted :mod:`execution.risk` verdict, stored with its checks.
- An order is *claimed* in the store under its deterministic client tag before it is sent; only
  the claimer sends, so no proposal slice is ever sent twice (two executors, a restart, a retry).
- An ambiguous send (timeout, lost response, 5xx) stays *in flight*: the order is looked up by
  its tag; only when the broker says it has no such order is the same tag sent again. If the
  broker cannot be asked, the order stays in flight and reconciliation resolves it.
- Order state comes from the broker's order updates (WebSocket), with polling as the fallback;
  fills come from the broker's trades, stored once each with their charges (the one charges
  model) and slippage against the order's reference price.
- An entry unfilled past ``fill_timeout`` is cancelled and alerted on.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Final

from data_contracts.enums import (
    AlertSeverity,
    OrderStatus,
    Product,
    ProposalStatus,
    Side,
)
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag
from data_contracts.instruments import Instrument
from data_contracts.timeutil import IST
from data_contracts.trading import ExitProposal, Fill, OpenTrade, OrderEvent, OrderIntent, Proposal
from execution.audit import AuditKind
from execution.kite.broker import (
    BrokerError,
    BrokerUnavailable,
    OrderOutcomeUnknown,
    OrderRejected,
    SessionExpired,
)
from execution.kite.orders import fill_charges
from execution.orders.account import AccountBook
from execution.orders.context import OmsContext
from execution.orders.intents import entry_intents, exit_intents, flatten_intents, slices_of
from execution.orders.tags import MAX_SLICES
from execution.orders.trades import advance_trades
from execution.risk import AccountState, RiskVerdict, check_entry, check_exit
from execution.store.oms import OrderPurpose, OrderRecord

__all__ = ["ALREADY_COVERED", "Executor", "Submission"]

_ACTOR: Final = "executor"
ALREADY_COVERED: Final = "already being closed by working orders"
_QUOTE_ATTEMPTS: Final = 3
_QUOTE_RETRY_SECONDS: Final = 1.0  # Kite: one quote request a second per API key
# An exit whose every attempt fails (vetoed, refused, left unfilled) is sent at most this often
# (once per poll interval, so about a quarter hour at the default 5 s), then left to a person:
# repeating it forever would fill the audit log and hide what is wrong.
_MAX_EXIT_ATTEMPTS: Final = 180
_STALE_CANCELLED: Final = frozenset({OrderPurpose.ENTRY, OrderPurpose.EXIT, OrderPurpose.FLATTEN})
"""Orders cancelled past the fill timeout (an operator's "exit now" is left to the operator)."""


@dataclass(frozen=True, slots=True)
class Submission:
    """What became of one subject (a proposal, an exit, a flatten): the verdict and its orders."""

    subject_id: str
    accepted: bool
    reasons: tuple[str, ...]
    orders: tuple[OrderRecord, ...] = ()


class Executor:
    """Sends risk-accepted orders and follows them to fills (one per process; safe with more)."""

    def __init__(self, context: OmsContext, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.context = context
        self.account = AccountBook(context)
        self._sleep = sleep
        self._updates: queue.SimpleQueue[OrderEvent] = queue.SimpleQueue()
        self._rejections: deque[datetime] = deque()
        self._exit_tries: dict[str, datetime] = {}  # an exit's last re-send try (no verdict)
        self._abandoned_exits: set[str] = set()

    # -- entries -------------------------------------------------------------------------

    def submit_entry(self, proposal: Proposal, *, prices_fetched: bool = False) -> Submission:
        """Risk-check an approved proposal now and send its orders if accepted (once).
        ``prices_fetched``: the caller has just fetched the instrument's last price."""
        ctx = self.context
        subject = proposal.proposal_id.value
        if ctx.oms.has_orders(subject):  # sent (or claimed) already: never again
            return Submission(subject, True, (), tuple(ctx.oms.orders(subject_id=subject)))
        instrument = self._instrument(proposal.instrument_token)
        fresh = () if prices_fetched else (proposal.instrument_token,)
        state = self.account.state(fresh_prices=fresh)
        verdict = check_entry(
            proposal,
            instrument,
            state,
            ctx.settings.limits,
            ctx.calendar,
            freeze_quantity=instrument.freeze_quantity,
        )
        self._store_verdict(subject, OrderPurpose.ENTRY, verdict, proposal.instrument_token)
        now = ctx.clock.now()
        if not verdict.accepted:
            ctx.store.record_status(
                proposal.proposal_id, ProposalStatus.VETOED, now, "; ".join(verdict.reasons)
            )
            return Submission(subject, False, verdict.reasons)
        intents = entry_intents(proposal, instrument.freeze_quantity, now)
        records = self._send_all(intents, subject, OrderPurpose.ENTRY, proposal.limit_price)
        if any(record.latest is None or not _refused(record) for record in records):
            ctx.store.record_status(
                proposal.proposal_id,
                ProposalStatus.SENT,
                ctx.clock.now(),
                ", ".join(r.client_tag.value for r in records),
            )
        return Submission(subject, True, (), records)

    def submit_approved(self) -> list[Submission]:
        """Approved proposals still to send, in approval order: those with no verdict yet
        (approved in another process: the CLI, the dashboard), and those whose latest verdict
        was accepted but which have no order claimed (a process died in between): these are
        risk-checked again now. A vetoed one is never sent (its VETOED status is recorded if the
        process died before it was). Their last prices come in one quote call: Kite allows one
        a second, and a burst of approvals must not be vetoed for want of a price. A kill switch
        engaged (by another process) while they are sent stops the rest: the loop makes the
        account flat first, and they are vetoed in its next call (the switch engaged already)."""
        ctx = self.context
        waiting = [
            proposal
            for proposal in ctx.store.with_status(ProposalStatus.APPROVED)
            if self._to_send(proposal)
        ]
        if not waiting:
            return []
        armed = not ctx.oms.kill_switch().engaged
        self.account.refresh_prices(p.instrument_token for p in waiting)
        submissions = []
        for proposal in waiting:
            if armed and ctx.oms.kill_switch().engaged:
                break  # a kill came: the loop makes the account flat first; these are vetoed next
            submissions.append(self.submit_entry(proposal, prices_fetched=True))
        return submissions

    def _to_send(self, proposal: Proposal) -> bool:
        """Whether an APPROVED proposal still needs its risk check and orders."""
        ctx = self.context
        subject = proposal.proposal_id.value
        verdicts = ctx.oms.verdicts(subject)
        if not verdicts:
            return True
        if ctx.oms.has_orders(subject):  # claimed already: never again
            return False
        latest = verdicts[-1]
        if latest.accepted:
            return True  # accepted, then the process died before the claim
        detail = "; ".join(latest.reasons) or "vetoed"
        ctx.store.record_status(
            proposal.proposal_id, ProposalStatus.VETOED, ctx.clock.now(), detail
        )
        return False

    # -- exits ---------------------------------------------------------------------------

    def submit_exit(self, exit_proposal: ExitProposal) -> Submission:
        """Risk-check an exit (no approval needed) and send it once, at the exit monitor's
        price; it waits while closing orders already working (a kill-switch flatten, an
        operator's "exit now") cover the position."""
        ctx = self.context
        subject = exit_proposal.exit_id.value
        existing = ctx.oms.orders(subject_id=subject)
        if existing:
            return Submission(subject, True, (), tuple(existing))
        instrument = self._instrument(exit_proposal.instrument_token)
        quantity = self._capped(exit_proposal.quantity, exit_proposal)
        if quantity != exit_proposal.quantity:
            exit_proposal = replace(exit_proposal, quantity=quantity)
        intents = exit_intents(exit_proposal, instrument.freeze_quantity, ctx.clock.now())
        return self._close(
            subject,
            OrderPurpose.EXIT,
            instrument,
            intents,
            exit_proposal.reference_price,
            describe=f"Exit of {exit_proposal.tradingsymbol}",
        )

    def submit_exits(self) -> list[Submission]:
        """The exits of trades still open that need orders now: a new exit (no verdict yet), and
        an exit whose orders all ended short of its trade's quantity — never sent (a kill -9
        between claim and send), cancelled when the market left its limit behind
        (:meth:`cancel_stale`), refused or vetoed — whose rest is sent again at the market
        (:meth:`_resend_exit`)."""
        ctx = self.context
        open_trades = {trade.proposal_id: trade for trade in ctx.store.open_trades()}
        if not open_trades:
            return []
        submissions = []
        for exit_proposal in ctx.store.exits():
            trade = open_trades.get(exit_proposal.entry_proposal_id)
            if trade is None or self._closed_outside(trade):
                continue
            if not ctx.oms.has_verdict(exit_proposal.exit_id.value):
                submissions.append(self.submit_exit(exit_proposal))
                continue
            resent = self._resend_exit(exit_proposal, trade)
            if resent is not None:
                submissions.append(resent)
        return submissions

    def _resend_exit(self, exit_proposal: ExitProposal, trade: OpenTrade) -> Submission | None:
        """Send the rest of an exit whose orders have all ended, priced at the market now like
        a flatten (its trigger price is behind). At most once per poll interval, only while the
        market is open, and at most :data:`_MAX_EXIT_ATTEMPTS` times (then a person is told)."""
        ctx = self.context
        subject = exit_proposal.exit_id.value
        records = ctx.oms.orders(subject_id=subject)
        if any(not record.is_final for record in records):
            return None  # working: cancel_stale re-prices it once the fill timeout passes
        now = ctx.clock.now()
        verdicts = ctx.oms.verdicts(subject)
        tried = [v.ts_event for v in verdicts] + [r.created_at for r in records]
        tried += [self._exit_tries[subject]] if subject in self._exit_tries else []
        if now - max(tried) < ctx.settings.poll_interval or not ctx.calendar.is_open(now):
            return None
        remaining = self._capped(trade.quantity - self._filled(records), exit_proposal)
        if remaining <= 0:
            return None  # all filled: advance_trades closes the trade
        self._exit_tries[subject] = now
        token = exit_proposal.instrument_token
        instrument = self._instrument(token)
        first_slice = 1 + max((r.slice_index for r in records), default=-1)
        slices = len(slices_of(remaining, instrument.lot_size, instrument.freeze_quantity))
        if len(verdicts) >= _MAX_EXIT_ATTEMPTS or first_slice + slices > MAX_SLICES:
            self._abandon_exit(subject, exit_proposal.tradingsymbol, remaining)
            return None
        last = self.account.fetch_prices([token]).get(token)
        if last is None:
            return Submission(subject, False, ("no current price to protect the exit",))
        intents = flatten_intents(
            subject_id=subject,
            instrument=instrument,
            product=exit_proposal.product,
            position_quantity=remaining * trade.side.sign,
            last_price=last,
            buffer_pct=ctx.settings.exit_buffer_pct,
            ts_init=now,
            first_slice=first_slice,
        )
        submission = self._close(
            subject,
            OrderPurpose.EXIT,
            instrument,
            intents,
            last,
            first_slice=first_slice,
            describe=f"Exit of {exit_proposal.tradingsymbol}",
        )
        if submission.accepted:
            ctx.alert(
                f"exit_resent:{subject}:{len(verdicts)}",
                AlertSeverity.WARNING,
                f"Exit of {exit_proposal.tradingsymbol} sent again at the market",
                f"{remaining} of {trade.quantity} still open after attempt {len(verdicts)}; "
                f"a protected LIMIT at {intents[0].price}",
            )
        return submission

    def _capped(self, quantity: int, exit_proposal: ExitProposal) -> int:
        """``quantity`` of an exit, at most what its position still holds beyond the closes
        working on it: a flatten or an operator's "exit now" that closed part of the position
        (it cannot say of which trade) leaves the exit only the rest to close. Unchanged when
        nothing is left to close, so the exit check says why."""
        uncovered = self.uncovered(exit_proposal.instrument_token, exit_proposal.product)
        closable = max(0, -exit_proposal.side.sign * uncovered)
        return min(quantity, closable) if closable > 0 else quantity

    def _closed_outside(self, trade: OpenTrade) -> bool:
        """Close ``trade`` when its position no longer holds it and nothing of ours is working
        to close it — closed outside its exit (the exchange's MIS square-off, a trade in the Kite
        app, found by reconciliation): an exit sent now would open the opposite position."""
        token, product = trade.instrument_token, trade.product
        held = max(0, trade.side.sign * self.account.position_quantity(token, product))
        if held or self._working(token, product, trade.side.opposite):
            return False
        ctx = self.context
        now = ctx.clock.now()
        ctx.store.close_trade(trade.proposal_id, max(now, trade.opened_at))
        why = "its position is flat at the broker: closed outside its exit"
        ctx.store.record_status(trade.proposal_id, ProposalStatus.CLOSED, now, why)
        ctx.alert(
            f"closed_outside:{trade.proposal_id.value}",
            AlertSeverity.WARNING,
            f"Trade in {trade.tradingsymbol} closed outside kitepilot",
            f"{why} (square-off, the Kite app, or a reconciliation adjustment)",
        )
        return True

    def _abandon_exit(self, subject: str, tradingsymbol: str, remaining: int) -> None:
        if subject in self._abandoned_exits:
            return
        self._abandoned_exits.add(subject)
        self.context.alert(
            f"exit_abandoned:{subject}",
            AlertSeverity.CRITICAL,
            f"Exit of {tradingsymbol} failed {_MAX_EXIT_ATTEMPTS} times",
            f"{remaining} still open; close it by hand (the dashboard's exit now, or Kite)",
        )

    def _filled(self, records: Sequence[OrderRecord]) -> int:
        """How much of ``records`` filled, at the most: the stored fills, or what the broker's
        order state says when its trades are not stored yet (an exit's rest is never
        over-estimated, so never over-sent)."""
        stored = self._stored_fills(records)
        return sum(
            max(stored.get(r.client_tag, 0), r.latest.filled_quantity if r.latest else 0)
            for r in records
        )

    def _stored_fills(self, records: Sequence[OrderRecord]) -> dict[ClientTag, int]:
        tags = {record.client_tag for record in records}
        stored: dict[ClientTag, int] = {}
        for kept in self.context.oms.fills():
            tag = kept.fill.client_tag
            if tag in tags:
                stored[tag] = stored.get(tag, 0) + kept.fill.quantity
        return stored

    def flatten(
        self,
        instrument_token: int,
        product: Product,
        *,
        subject_id: str,
        purpose: OrderPurpose,
        last_price: float | None = None,
    ) -> Submission:
        """Close the whole position in (instrument, product) with protected LIMIT orders — what
        closing orders already working do not cover. ``last_price``: fetched by the caller just
        now (else fetched here).

        What no order can close is refused with the reason, never raised (the kill switch goes
        on with the other positions and alerts on this one): an instrument missing from the
        instruments (a position opened outside kitepilot), or less than one lot; of a quantity
        that is not whole lots (a lot size changed under an open position), the whole lots are
        closed and the rest is left to a person."""
        ctx = self.context
        existing = ctx.oms.orders(subject_id=subject_id)
        if existing:
            return Submission(subject_id, True, (), tuple(existing))
        if self.account.position_quantity(instrument_token, product) == 0:
            return Submission(subject_id, False, ("no open position",))
        instrument = ctx.instruments.get(instrument_token)
        if instrument is None:
            why = f"instrument {instrument_token} is not in the instruments: close it by hand"
            return Submission(subject_id, False, (why,))
        uncovered = self.uncovered(instrument_token, product)
        if uncovered == 0:
            return Submission(subject_id, False, (ALREADY_COVERED,))
        lot = instrument.lot_size
        quantity = (1 if uncovered > 0 else -1) * (abs(uncovered) // lot * lot)
        if quantity == 0:
            why = f"{abs(uncovered)} is less than one lot of {lot}: close it by hand"
            return Submission(subject_id, False, (why,))
        if last_price is None:
            last_price = self.account.fetch_prices([instrument_token]).get(instrument_token)
        if last_price is None:
            return Submission(subject_id, False, ("no current price to protect the exit",))
        intents = flatten_intents(
            subject_id=subject_id,
            instrument=instrument,
            product=product,
            position_quantity=quantity,
            last_price=last_price,
            buffer_pct=ctx.settings.exit_buffer_pct,
            ts_init=ctx.clock.now(),
        )
        return self._close(subject_id, purpose, instrument, intents, last_price)

    def uncovered(self, instrument_token: int, product: Product) -> int:
        """The open position in (instrument, product), signed, less what our closing orders
        working on it will close: what a flatten must still close (0 when they cover it)."""
        position = self.account.position_quantity(instrument_token, product)
        if position == 0:
            return 0
        closing = Side.SELL if position > 0 else Side.BUY
        rest = position + closing.sign * self._working(instrument_token, product, closing)
        return rest if (rest > 0) == (position > 0) else 0

    def fresh_prices(self, tokens: Sequence[int]) -> dict[int, float]:
        """Last prices fetched now for ``tokens``, asking again after a second for those the
        broker did not give (Kite allows one quote request a second per API key, shared with
        every other process of the key: the kill switch must not be left without a price)."""
        got: dict[int, float] = {}
        for attempt in range(_QUOTE_ATTEMPTS):
            missing = [token for token in tokens if token not in got]
            if not missing:
                break
            if attempt:
                self._sleep(_QUOTE_RETRY_SECONDS)
            got.update(self.account.fetch_prices(missing))
        return got

    def _working(self, instrument_token: int, product: Product, side: Side) -> int:
        """The unfilled quantity of our working orders on ``side`` of (instrument, product)."""
        records = [
            r
            for r in self.context.oms.orders(open_only=True)
            if r.intent.instrument_token == instrument_token
            and r.intent.product is product
            and r.intent.side is side
        ]
        if not records:
            return 0
        # Less only what the book has: a fill the book has not stored yet is still "working"
        # here, as it is still in the position — the two stay in step.
        stored = self._stored_fills(records)
        return sum(r.intent.quantity - stored.get(r.client_tag, 0) for r in records)

    def _close(
        self,
        subject: str,
        purpose: OrderPurpose,
        instrument: Instrument,
        intents: Sequence[OrderIntent],
        reference_price: float,
        *,
        first_slice: int = 0,
        describe: str | None = None,
    ) -> Submission:
        """Closing orders through the risk engine's exit check and out, against the position
        net of the closing orders already working on the same side: two closes of one position
        (an exit and a flatten) never both go, which would reverse it. While working orders
        cover it, nothing is checked or sent (the caller tries again later). ``describe``: alert
        on a veto with this title."""
        token, product, side = instrument.instrument_token, intents[0].product, intents[0].side
        quantity = sum(intent.quantity for intent in intents)
        position = self.account.position_quantity(token, product)
        working = self._working(token, product, side)
        position += side.sign * working
        if working and quantity > max(0, -side.sign * position):
            return Submission(subject, False, (f"waiting: {working} being closed already",))
        verdict = self._exit_verdict(
            subject,
            purpose,
            instrument,
            side,
            quantity,
            intents[0].price,
            position,
            self.account.state(),
        )
        if not verdict.accepted:
            if describe is not None:
                self.context.alert(
                    f"exit_vetoed:{subject}",
                    AlertSeverity.CRITICAL,
                    f"{describe} vetoed",
                    "; ".join(verdict.reasons),
                )
            return Submission(subject, False, verdict.reasons)
        return Submission(
            subject,
            True,
            (),
            self._send_all(intents, subject, purpose, reference_price, first_slice),
        )

    # -- manual overrides (the dashboard, the CLI) ---------------------------------------

    def exit_now(self, instrument_token: int, product: Product, actor: str) -> Submission:
        """An operator's "exit now" of one position: protected LIMIT orders through the risk
        engine's exit check, audited with who asked."""
        now = self.context.clock.now()
        subject = self.new_subject(
            f"manual:{instrument_token}:{product.value}:{now:%Y%m%dT%H%M%S%f}"
        )
        self.context.record(
            AuditKind.ORDER,
            subject,
            {"event": "exit_now", "product": product},
            actor=actor,
            instrument_token=instrument_token,
        )
        return self.flatten(
            instrument_token, product, subject_id=subject, purpose=OrderPurpose.MANUAL
        )

    def new_subject(self, base: str) -> str:
        """``base``, or ``base:2``, ``base:3``… — the first no order was claimed under. A new
        close (an operator's, the kill switch's) is a new subject even at the same clock
        instant (a replay's market clock can stand still), never mistaken for an earlier one."""
        subject, n = base, 1
        while self.context.oms.has_orders(subject):
            n += 1
            subject = f"{base}:{n}"
        return subject

    def cancel(self, tag: ClientTag, actor: str) -> bool:
        """An operator's "cancel" of one working order of ours; False when it is not working."""
        ctx = self.context
        record = ctx.oms.order(tag)
        order_id = record.latest.order_id if record is not None and record.latest else None
        if record is None or record.is_final or order_id is None:
            return False
        ctx.record(AuditKind.ORDER, tag.value, {"event": "cancel_requested"}, actor=actor)
        try:
            ctx.broker.cancel_order(order_id)
        except BrokerError as error:
            self.account.count_exception()
            ctx.alert(
                f"cancel_failed:{tag.value}",
                AlertSeverity.WARNING,
                f"Could not cancel {record.intent.tradingsymbol}",
                str(error),
            )
            return False
        self.poll_orders()
        return True

    # -- sending -------------------------------------------------------------------------

    def _send_all(
        self,
        intents: Sequence[OrderIntent],
        subject_id: str,
        purpose: OrderPurpose,
        reference_price: float,
        first_slice: int = 0,
    ) -> tuple[OrderRecord, ...]:
        """Claim and send ``intents``, slices ``first_slice`` on of ``subject_id``."""
        records: list[OrderRecord] = []
        for index, intent in enumerate(intents, start=first_slice):
            claimed = self.context.oms.claim_order(
                intent,
                subject_id=subject_id,
                purpose=purpose,
                slice_index=index,
                reference_price=reference_price,
            )
            if claimed:
                self.context.record(
                    AuditKind.ORDER,
                    intent.client_tag.value,
                    {"event": "claimed", "purpose": purpose.value, "intent": intent},
                    instrument_token=intent.instrument_token,
                )
                self._send(intent)
            record = self.context.oms.order(intent.client_tag)
            if record is not None:
                records.append(record)
        return tuple(records)

    def _send(self, intent: OrderIntent) -> None:
        """Send a claimed order: retried only where the broker has no order with its tag."""
        ctx = self.context
        attempts = ctx.settings.max_send_attempts
        for attempt in range(1, attempts + 1):
            try:
                order_id = ctx.broker.place_order(intent)
            except OrderRejected as error:
                self._local_final(intent, OrderStatus.REJECTED, f"rejected: {error}")
                self._count_rejection(intent, str(error))
                return
            except SessionExpired as error:
                self._local_final(intent, OrderStatus.REJECTED, f"session expired: {error}")
                self.account.session_expired()
                return
            except OrderOutcomeUnknown:
                self.account.count_exception()
                if self._look_up(intent) is not _Lookup.ABSENT:
                    return  # found (recorded), or unknowable: in flight until reconciled
            except BrokerUnavailable:
                self.account.count_exception()
            else:
                self.record_event(
                    OrderEvent(
                        client_tag=intent.client_tag,
                        order_id=order_id,
                        status=OrderStatus.PUT_ORDER_REQ_RECEIVED,
                        ts_event=ctx.clock.now(),
                        ts_init=ctx.clock.now(),
                        quantity=intent.quantity,
                    ),
                    "send",
                )
                return
            if attempt < attempts:
                self._sleep(ctx.settings.retry_backoff_seconds * 2 ** (attempt - 1))
        # Every attempt ended with "nothing was placed" (429/unavailable, or looked up absent).
        self._local_final(
            intent, OrderStatus.REJECTED, f"not placed after {attempts} attempts (broker busy)"
        )
        ctx.alert(
            f"not_placed:{intent.client_tag.value}",
            AlertSeverity.WARNING,
            f"Order for {intent.tradingsymbol} not placed",
            f"the broker refused or did not answer {attempts} times; nothing is working",
        )

    def _look_up(self, intent: OrderIntent) -> _Lookup:
        """After an ambiguous send, ask the broker for the tag (recording what it has)."""
        try:
            event = self.context.broker.order_by_tag(intent.client_tag)
        except BrokerError:
            self.account.count_exception()
            return _Lookup.UNKNOWN
        if event is None:
            return _Lookup.ABSENT
        self.record_event(event, "lookup")
        return _Lookup.FOUND

    def _local_final(self, intent: OrderIntent, status: OrderStatus, message: str) -> None:
        now = self.context.clock.now()
        event = OrderEvent(
            client_tag=intent.client_tag,
            order_id=None,
            status=status,
            ts_event=now,
            ts_init=now,
            quantity=intent.quantity,
            status_message=message[:500],
        )
        self.record_event(event, "local")

    def _count_rejection(self, intent: OrderIntent, message: str) -> None:
        ctx = self.context
        now = ctx.clock.now()
        self._rejections.append(now)
        while self._rejections and now - self._rejections[0] > ctx.settings.rejection_window:
            self._rejections.popleft()
        ctx.alert(
            f"rejected:{intent.client_tag.value}",
            AlertSeverity.WARNING,
            f"Order for {intent.tradingsymbol} rejected",
            message,
        )

    def rejections_in_window(self) -> int:
        now = self.context.clock.now()
        window = self.context.settings.rejection_window
        return sum(1 for ts in self._rejections if now - ts <= window)

    # -- following orders ----------------------------------------------------------------

    def on_order_update(self, event: OrderEvent) -> None:
        """The broker's WebSocket order update (any thread): applied by :meth:`process_updates`."""
        self._updates.put(event)

    def process_updates(self) -> int:
        """Apply queued order updates; fills are fetched when an order has filled more."""
        applied = 0
        filled = False
        while True:
            try:
                event = self._updates.get_nowait()
            except queue.Empty:
                break
            if self.context.oms.order(event.client_tag) is None:
                continue  # not ours (a manual order): reconciliation looks at those
            if self.record_event(event, "ws"):
                applied += 1
                filled = filled or event.filled_quantity > 0
        added = self.sync_fills() if filled else 0
        if applied or added:
            self.advance_trades()
        return applied

    def poll_orders(self) -> int:
        """The polling fallback: today's orders from the broker for every open order of ours."""
        ctx = self.context
        open_orders = ctx.oms.orders(open_only=True)
        if not open_orders:
            return 0
        try:
            by_tag = {event.client_tag: event for event in ctx.broker.orders()}
        except BrokerError:
            self.account.count_exception()
            return 0
        changed = 0
        for record in open_orders:
            event = by_tag.get(record.client_tag)
            if event is not None and self.record_event(event, "poll"):
                changed += 1
        if self.sync_fills() or changed:
            self.advance_trades()
        return changed

    def sync_fills(self) -> int:
        """Store the broker's executions of our orders that are new; returns how many."""
        ctx = self.context
        try:
            executions = ctx.broker.fills()
        except BrokerError:
            self.account.count_exception()
            return 0
        known = ctx.oms.trade_ids()
        added = 0
        for fill in executions:
            if fill.trade_id.value in known:
                continue
            record = None if fill.client_tag is None else ctx.oms.order(fill.client_tag)
            if record is None:
                continue  # not ours: reconciliation records it as a finding
            added += self.store_fill(fill, record)
        return added

    def store_fill(self, fill: Fill, record: OrderRecord | None) -> int:
        ctx = self.context
        fill = self._with_charges(fill)
        slippage = None
        if record is not None:
            slippage = (fill.price - record.reference_price) * fill.quantity * fill.side.sign
        if not ctx.oms.add_fill(fill, slippage):
            return 0
        ctx.record(
            AuditKind.FILL,
            fill.trade_id.value,
            {"fill": fill, "slippage": slippage},
            instrument_token=fill.instrument_token,
        )
        return 1

    def _with_charges(self, fill: Fill) -> Fill:
        """The fill with its charges, priced here when the broker adapter did not."""
        instrument = self.context.instruments.get(fill.instrument_token)
        if fill.charges > 0 or instrument is None:
            return fill
        day = fill.ts_event.astimezone(IST).date()
        charges = fill_charges(
            self.context.charges, instrument.exchange, instrument.tradingsymbol, fill, day
        )
        return replace(fill, charges=charges)

    def record_event(self, event: OrderEvent, source: str) -> bool:
        ctx = self.context
        if not ctx.oms.record_order_event(event, source):
            return False
        ctx.record(
            AuditKind.ORDER,
            event.client_tag.value,
            {"event": "state", "source": source, "order": event},
        )
        if event.status is OrderStatus.REJECTED and source != "local":
            self._count_rejection_event(event)
        return True

    def _count_rejection_event(self, event: OrderEvent) -> None:
        record = self.context.oms.order(event.client_tag)
        if record is not None:
            self._count_rejection(record.intent, event.status_message or "rejected")

    def cancel_stale(self) -> list[str]:
        """Cancel orders still working past the fill timeout, and alert on each: an entry the
        market did not come to (it is not chased), and an exit or flatten the market left
        behind — those are sent again at the market once the cancel is final
        (:meth:`submit_exits`; the kill switch's flatten after its next reconciliation)."""
        ctx = self.context
        now = ctx.clock.now()
        cancelled: list[str] = []
        for record in ctx.oms.orders(open_only=True):
            order_id = record.latest.order_id if record.latest else None
            if (
                order_id is None
                or record.purpose not in _STALE_CANCELLED
                or now - record.created_at < ctx.settings.fill_timeout
            ):
                continue
            try:
                ctx.broker.cancel_order(order_id)
            except BrokerError as error:
                self.account.count_exception()
                ctx.alert(
                    f"cancel_failed:{record.client_tag.value}",
                    AlertSeverity.CRITICAL,
                    f"Could not cancel {record.intent.tradingsymbol}",
                    str(error),
                )
                continue
            cancelled.append(record.client_tag.value)
            what = "Entry" if record.purpose is OrderPurpose.ENTRY else "Exit"
            then = "cancelled" if record.purpose is OrderPurpose.ENTRY else "cancelled, re-priced"
            ctx.alert(
                f"unfilled:{record.client_tag.value}",
                AlertSeverity.WARNING,
                f"{what} in {record.intent.tradingsymbol} unfilled, {then}",
                f"working for {(now - record.created_at).total_seconds():.0f} s",
            )
        if cancelled:
            self.poll_orders()  # the cancels' final states: an exit's rest goes next turn
        return cancelled

    def cancel_open_orders(self, *, keep: Collection[OrderPurpose] = ()) -> list[str]:
        """Cancel every working order of ours but those of a purpose in ``keep`` (the kill
        switch keeps its own flattens: another process's, closing the same positions)."""
        ctx = self.context
        cancelled: list[str] = []
        for record in ctx.oms.orders(open_only=True):
            order_id = record.latest.order_id if record.latest else None
            if order_id is None or record.purpose in keep:
                continue
            try:
                ctx.broker.cancel_order(order_id)
            except BrokerError:
                self.account.count_exception()
                continue
            cancelled.append(record.client_tag.value)
        return cancelled

    # -- trade lifecycle -----------------------------------------------------------------

    def advance_trades(self) -> None:
        """Entries fully done → open trades (for the exit monitor); exits done → closed
        (:mod:`execution.orders.trades`)."""
        advance_trades(self.context, self.account)

    # -- helpers -------------------------------------------------------------------------

    def _instrument(self, token: int) -> Instrument:
        instrument = self.context.instruments.get(token)
        if instrument is None:
            raise ContractError("Executor", "instrument_token", token, "must be a known instrument")
        return instrument

    def _exit_verdict(
        self,
        subject: str,
        purpose: OrderPurpose,
        instrument: Instrument,
        side: Side,
        quantity: int,
        price: float | None,
        position_quantity: int,
        state: AccountState,
    ) -> RiskVerdict:
        """The risk engine's exit check of closing ``quantity``, stored and audited."""
        ctx = self.context
        verdict = check_exit(
            instrument=instrument,
            side=side,
            quantity=quantity,
            price=price,
            position_quantity=position_quantity,
            state=state,
            calendar=ctx.calendar,
            freeze_quantity=instrument.freeze_quantity,
            limits=ctx.settings.limits,
        )
        self._store_verdict(subject, purpose, verdict, instrument.instrument_token)
        return verdict

    def _store_verdict(
        self, subject: str, purpose: OrderPurpose, verdict: RiskVerdict, token: int
    ) -> None:
        ctx = self.context
        payload = _verdict_payload(verdict)
        ctx.oms.record_verdict(subject, purpose, ctx.clock.now(), verdict.accepted, payload)
        ctx.record(AuditKind.VERDICT, subject, payload, instrument_token=token)


class _Lookup(Enum):
    FOUND = "found"  # the broker has the order (its state is recorded)
    ABSENT = "absent"  # the broker answered: no order with the tag, so sending it is safe
    UNKNOWN = "unknown"  # the broker could not be asked


def _refused(record: OrderRecord) -> bool:
    return record.latest is not None and record.latest.order_id is None and record.is_final


def _verdict_payload(verdict: RiskVerdict) -> dict[str, object]:
    return {
        "accepted": verdict.accepted,
        "reduce_only": verdict.reduce_only,
        "reasons": list(verdict.reasons),
        "checks": [
            {"name": check.name, "passed": check.passed, "detail": check.detail}
            for check in verdict.checks
        ],
    }
