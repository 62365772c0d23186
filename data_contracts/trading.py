"""The trading lifecycle: signal → proposal → decision → order intent → order events and fills →
position.

Each step is a new immutable object; nothing is mutated in place (a position applying a fill returns
a new position). Invariants that would make a record meaningless are checked at construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

from data_contracts.enums import (
    Direction,
    Exchange,
    ExitReason,
    OrderStatus,
    OrderType,
    Product,
    ProposalOrigin,
    Side,
    Validity,
    Verdict,
)
from data_contracts.errors import ContractError
from data_contracts.ids import (
    ClientTag,
    DecisionId,
    InstrumentToken,
    OrderId,
    ProposalId,
    StrategyId,
    TradeId,
)
from data_contracts.pricegrid import is_on_grid, is_whole_lots
from data_contracts.timeutil import require_aware
from data_contracts.validation import (
    finite,
    instance_of,
    integer,
    non_empty,
    non_negative,
    positive,
    probability,
    text,
)

__all__ = [
    "DECIDED_BY_MAX_CHARS",
    "DECISION_REASON_MAX_CHARS",
    "Decision",
    "ExitProposal",
    "FeatureContribution",
    "Fill",
    "OpenTrade",
    "OrderEvent",
    "OrderIntent",
    "Position",
    "Proposal",
    "Signal",
]

# How long who decided and why may be: a person's name or the demo approver's label, and a note
# typed on the dashboard or the command line (stored and shown with every decision).
DECIDED_BY_MAX_CHARS: Final = 200
DECISION_REASON_MAX_CHARS: Final = 2_000


def _aware(obj: object, owner: str, name: str) -> None:
    object.__setattr__(obj, name, require_aware(owner, name, getattr(obj, name)))


def _typed(
    obj: object, owner: str, kinds: dict[str, type | tuple[type, ...]], subject: str | None = None
) -> None:
    """Check the enum and id fields: a plain string where a Side or a ProposalId belongs would
    pass every later check by accident (``"SELL" is Side.SELL`` is False)."""
    for name, kind in kinds.items():
        instance_of(owner, name, getattr(obj, name), kind, subject)


def _on_grid(owner: str, field: str, price: float, tick_size: float, subject: str | None) -> None:
    if not is_on_grid(price, tick_size):
        raise ContractError(
            owner, field, price, f"must be on the tick grid of {tick_size}", subject
        )


def _lots_of_an_instrument(obj: OpenTrade | ExitProposal, owner: str, subject: str | None) -> None:
    """The instrument and a quantity of whole lots (what an open trade and its exit share)."""
    integer(owner, "instrument_token", obj.instrument_token, minimum=1)
    non_empty(owner, "tradingsymbol", obj.tradingsymbol)
    integer(owner, "lot_size", obj.lot_size, minimum=1, subject=subject)
    integer(owner, "quantity", obj.quantity, minimum=1, subject=subject)
    _whole_lots(owner, obj.quantity, obj.lot_size, subject or "")


def _whole_lots(owner: str, quantity: int, lot_size: int, subject: str) -> None:
    if not is_whole_lots(quantity, lot_size):
        raise ContractError(
            owner, "quantity", quantity, f"must be a whole number of lots of {lot_size}", subject
        )


@dataclass(frozen=True, slots=True)
class Signal:
    """A model's scored view of one instrument at one closed candle."""

    instrument_token: InstrumentToken
    ts_event: datetime
    ts_init: datetime
    strategy_id: StrategyId
    direction: Direction
    p_win: float
    expected_return: float
    model_version: str
    feature_version: str

    def __post_init__(self) -> None:
        owner = "Signal"
        _typed(self, owner, {"strategy_id": StrategyId, "direction": Direction})
        integer(owner, "instrument_token", self.instrument_token, minimum=1)
        _aware(self, owner, "ts_event")
        _aware(self, owner, "ts_init")
        probability(owner, "p_win", self.p_win)
        finite(owner, "expected_return", self.expected_return)
        non_empty(owner, "model_version", self.model_version)
        non_empty(owner, "feature_version", self.feature_version)


@dataclass(frozen=True, slots=True)
class FeatureContribution:
    """One feature's contribution to a score, for the explanation shown to the approver."""

    feature: str
    value: float
    contribution: float

    def __post_init__(self) -> None:
        non_empty("FeatureContribution", "feature", self.feature)
        finite("FeatureContribution", "value", self.value)
        finite("FeatureContribution", "contribution", self.contribution)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A trade the system (or an agent, or a person) proposes; it needs a human decision.

    For a BUY the stop is below the limit price and the target above it; a SELL mirrors that.
    ``expires_at`` is the TTL: an expired proposal can no longer be approved.
    """

    proposal_id: ProposalId
    ts_event: datetime
    ts_init: datetime
    origin: ProposalOrigin
    strategy_id: StrategyId
    instrument_token: InstrumentToken
    exchange: Exchange
    tradingsymbol: str
    side: Side
    product: Product
    lots: int
    lot_size: int
    tick_size: float
    limit_price: float
    stop_loss: float
    take_profit: float
    time_exit: datetime
    expires_at: datetime
    max_price_drift_pct: float
    p_win: float
    expected_return: float
    expected_net_profit: float
    expected_charges: float
    model_version: str
    feature_version: str
    explanation: tuple[FeatureContribution, ...] = ()
    rationale: str = ""

    def __post_init__(self) -> None:
        owner = "Proposal"
        subject = self.tradingsymbol if isinstance(self.tradingsymbol, str) else None
        _typed(
            self,
            owner,
            {
                "proposal_id": ProposalId,
                "origin": ProposalOrigin,
                "strategy_id": StrategyId,
                "exchange": Exchange,
                "side": Side,
                "product": Product,
                "explanation": tuple,
            },
            subject,
        )
        for item in self.explanation:
            instance_of(owner, "explanation", item, FeatureContribution, subject)
        integer(owner, "instrument_token", self.instrument_token, minimum=1)
        non_empty(owner, "tradingsymbol", self.tradingsymbol)
        for name in ("ts_event", "ts_init", "time_exit", "expires_at"):
            _aware(self, owner, name)
        if self.expires_at <= self.ts_event:
            raise ContractError(owner, "expires_at", self.expires_at, "must be after ts_event")
        if self.time_exit <= self.ts_event:
            raise ContractError(owner, "time_exit", self.time_exit, "must be after ts_event")
        integer(owner, "lots", self.lots, minimum=1, subject=subject)
        integer(owner, "lot_size", self.lot_size, minimum=1, subject=subject)
        for name in ("tick_size", "limit_price", "stop_loss", "take_profit", "max_price_drift_pct"):
            positive(owner, name, getattr(self, name), subject)
        for name in ("limit_price", "stop_loss", "take_profit"):
            _on_grid(owner, name, getattr(self, name), self.tick_size, subject)
        self._check_bracket(owner, subject)
        probability(owner, "p_win", self.p_win, subject)
        finite(owner, "expected_return", self.expected_return, subject)
        finite(owner, "expected_net_profit", self.expected_net_profit, subject)
        non_negative(owner, "expected_charges", self.expected_charges, subject)
        non_empty(owner, "model_version", self.model_version, subject)
        non_empty(owner, "feature_version", self.feature_version, subject)

    def _check_bracket(self, owner: str, subject: str | None) -> None:
        low, high = (self.stop_loss, self.take_profit)
        if self.side is Side.SELL:
            low, high = high, low
        if not low < self.limit_price < high:
            rule = (
                "must be below limit_price and take_profit above it for a BUY"
                if self.side is Side.BUY
                else "must be above limit_price and take_profit below it for a SELL"
            )
            raise ContractError(owner, "stop_loss", self.stop_loss, rule, subject)

    @property
    def quantity(self) -> int:
        return self.lots * self.lot_size

    @property
    def notional(self) -> float:
        """Rupees committed at the limit price (the premium outlay for a long option)."""
        return self.quantity * self.limit_price

    @property
    def risk_amount(self) -> float:
        """Rupees lost if the stop is hit exactly (before charges and slippage)."""
        return self.quantity * abs(self.limit_price - self.stop_loss)

    def is_expired(self, now: datetime) -> bool:
        return require_aware("Proposal", "now", now) >= self.expires_at


@dataclass(frozen=True, slots=True)
class Decision:
    """A person's (or the labelled demo approver's) verdict on a proposal; append-only."""

    decision_id: DecisionId
    proposal_id: ProposalId
    verdict: Verdict
    decided_by: str
    ts_event: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        _typed(
            self,
            "Decision",
            {"decision_id": DecisionId, "proposal_id": ProposalId, "verdict": Verdict},
        )
        text("Decision", "decided_by", self.decided_by, DECIDED_BY_MAX_CHARS, required=True)
        text("Decision", "reason", self.reason, DECISION_REASON_MAX_CHARS)
        _aware(self, "Decision", "ts_event")


_NEEDS_PRICE = frozenset({OrderType.LIMIT, OrderType.SL})
_NEEDS_TRIGGER = frozenset({OrderType.SL, OrderType.SL_M})
_NEEDS_PROTECTION = frozenset({OrderType.MARKET, OrderType.SL_M})


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A risk-approved order about to be sent to the broker, keyed by an idempotent client tag.

    Kite rejects API MARKET and SL-M orders without market protection (since 2026-04-01), so an
    intent of those types must carry it: ``-1`` (automatic) or a percentage in ``(0, 100]``.
    """

    client_tag: ClientTag
    proposal_id: ProposalId
    instrument_token: InstrumentToken
    exchange: Exchange
    tradingsymbol: str
    side: Side
    quantity: int
    lot_size: int
    tick_size: float
    order_type: OrderType
    product: Product
    ts_init: datetime
    validity: Validity = Validity.DAY
    price: float | None = None
    trigger_price: float | None = None
    market_protection: float | None = None

    def __post_init__(self) -> None:
        owner = "OrderIntent"
        subject = self.tradingsymbol if isinstance(self.tradingsymbol, str) else None
        _typed(
            self,
            owner,
            {
                "client_tag": ClientTag,
                "proposal_id": ProposalId,
                "exchange": Exchange,
                "side": Side,
                "order_type": OrderType,
                "product": Product,
                "validity": Validity,
            },
            subject,
        )
        integer(owner, "instrument_token", self.instrument_token, minimum=1)
        non_empty(owner, "tradingsymbol", self.tradingsymbol)
        _aware(self, owner, "ts_init")
        integer(owner, "lot_size", self.lot_size, minimum=1, subject=subject)
        positive(owner, "tick_size", self.tick_size, subject)
        integer(owner, "quantity", self.quantity, minimum=1, subject=subject)
        _whole_lots(owner, self.quantity, self.lot_size, subject or "")
        self._check_prices(owner, subject)

    def _check_prices(self, owner: str, subject: str | None) -> None:
        kind = self.order_type.value
        if self.order_type in _NEEDS_PRICE:
            if self.price is None:
                raise ContractError(owner, "price", None, f"is required for {kind}", subject)
            positive(owner, "price", self.price, subject)
            _on_grid(owner, "price", self.price, self.tick_size, subject)
        elif self.price is not None:
            raise ContractError(owner, "price", self.price, f"must be empty for {kind}", subject)
        if self.order_type in _NEEDS_TRIGGER:
            if self.trigger_price is None:
                rule = f"is required for {kind}"
                raise ContractError(owner, "trigger_price", None, rule, subject)
            positive(owner, "trigger_price", self.trigger_price, subject)
            _on_grid(owner, "trigger_price", self.trigger_price, self.tick_size, subject)
            self._check_trigger_side(owner, subject)
        if self.order_type in _NEEDS_PROTECTION:
            protection = self.market_protection
            if protection is None or not (protection == -1 or 0 < protection <= 100):
                raise ContractError(
                    owner,
                    "market_protection",
                    protection,
                    f"must be -1 (auto) or within (0, 100] for {kind} (Kite rejects it otherwise)",
                    subject,
                )

    def _check_trigger_side(self, owner: str, subject: str | None) -> None:
        # Kite rejects a stop whose trigger is on the wrong side of its limit price: a BUY stop
        # triggers at or below its limit, a SELL stop at or above it.
        if self.price is None or self.trigger_price is None:
            return
        if self.side is Side.BUY and self.trigger_price > self.price:
            rule = f"must be <= price {self.price} for a BUY {self.order_type.value}"
            raise ContractError(owner, "trigger_price", self.trigger_price, rule, subject)
        if self.side is Side.SELL and self.trigger_price < self.price:
            rule = f"must be >= price {self.price} for a SELL {self.order_type.value}"
            raise ContractError(owner, "trigger_price", self.trigger_price, rule, subject)

    @property
    def lots(self) -> int:
        return self.quantity // self.lot_size


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """The broker's report of an order's state at one moment (one row of Kite's order history)."""

    client_tag: ClientTag
    order_id: OrderId | None
    status: OrderStatus
    ts_event: datetime
    ts_init: datetime
    quantity: int
    filled_quantity: int = 0
    average_price: float = 0.0
    status_message: str = ""

    def __post_init__(self) -> None:
        owner = "OrderEvent"
        subject = str(self.client_tag)
        _typed(
            self,
            owner,
            {"client_tag": ClientTag, "order_id": (OrderId, type(None)), "status": OrderStatus},
            subject,
        )
        _aware(self, owner, "ts_event")
        _aware(self, owner, "ts_init")
        integer(owner, "quantity", self.quantity, minimum=1, subject=subject)
        integer(owner, "filled_quantity", self.filled_quantity, minimum=0, subject=subject)
        if self.filled_quantity > self.quantity:
            raise ContractError(
                owner,
                "filled_quantity",
                self.filled_quantity,
                f"must be <= quantity {self.quantity}",
                subject,
            )
        if self.status is OrderStatus.COMPLETE and self.filled_quantity != self.quantity:
            raise ContractError(
                owner,
                "filled_quantity",
                self.filled_quantity,
                f"must equal quantity {self.quantity} when COMPLETE",
                subject,
            )
        non_negative(owner, "average_price", self.average_price, subject)
        if self.filled_quantity > 0 and self.average_price <= 0:
            raise ContractError(
                owner, "average_price", self.average_price, "must be > 0 once filled", subject
            )

    @property
    def pending_quantity(self) -> int:
        return 0 if self.status.is_final else self.quantity - self.filled_quantity

    @property
    def is_final(self) -> bool:
        return self.status.is_final


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (Kite trade) of an order, with the charges attributed to it."""

    trade_id: TradeId
    order_id: OrderId
    client_tag: ClientTag | None
    instrument_token: InstrumentToken
    side: Side
    product: Product
    quantity: int
    price: float
    ts_event: datetime
    ts_init: datetime
    charges: float = 0.0

    def __post_init__(self) -> None:
        owner = "Fill"
        subject = str(self.trade_id)
        _typed(
            self,
            owner,
            {
                "trade_id": TradeId,
                "order_id": OrderId,
                "client_tag": (ClientTag, type(None)),
                "side": Side,
                "product": Product,
            },
            subject,
        )
        integer(owner, "instrument_token", self.instrument_token, minimum=1)
        integer(owner, "quantity", self.quantity, minimum=1, subject=subject)
        positive(owner, "price", self.price, subject)
        non_negative(owner, "charges", self.charges, subject)
        _aware(self, owner, "ts_event")
        _aware(self, owner, "ts_init")


@dataclass(frozen=True, slots=True)
class Position:
    """Net position in one instrument and product: signed quantity, average entry, realised P&L.

    ``realised_pnl`` is gross of charges; ``charges`` accumulates what the fills cost, so the net
    realised P&L is ``realised_pnl - charges``.
    """

    instrument_token: InstrumentToken
    tradingsymbol: str
    product: Product
    quantity: int = 0
    average_price: float = 0.0
    realised_pnl: float = 0.0
    charges: float = 0.0
    fill_ids: frozenset[TradeId] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        owner = "Position"
        subject = self.tradingsymbol if isinstance(self.tradingsymbol, str) else None
        _typed(self, owner, {"product": Product, "fill_ids": frozenset}, subject)
        integer(owner, "instrument_token", self.instrument_token, minimum=1)
        integer(owner, "quantity", self.quantity, subject=subject)
        non_negative(owner, "average_price", self.average_price, subject)
        if self.quantity != 0 and self.average_price <= 0:
            raise ContractError(
                owner, "average_price", self.average_price, "must be > 0 while open", subject
            )
        finite(owner, "realised_pnl", self.realised_pnl, subject)
        non_negative(owner, "charges", self.charges, subject)

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    def unrealised_pnl(self, mark_price: float) -> float:
        positive("Position", "mark_price", mark_price, self.tradingsymbol)
        return self.quantity * (mark_price - self.average_price)

    def net_pnl(self, mark_price: float) -> float:
        """Realised + unrealised, after the charges paid so far."""
        return self.realised_pnl + self.unrealised_pnl(mark_price) - self.charges

    def apply(self, fill: Fill) -> Position:
        """The position after ``fill``; applying the same fill twice changes nothing."""
        if fill.instrument_token != self.instrument_token:
            raise ContractError(
                "Position",
                "instrument_token",
                fill.instrument_token,
                f"must match the position's token {self.instrument_token}",
                str(fill.trade_id),
            )
        if fill.product is not self.product:
            raise ContractError(
                "Position",
                "product",
                fill.product,
                f"must match the position's product {self.product.value}",
                str(fill.trade_id),
            )
        if fill.trade_id in self.fill_ids:
            return self
        signed = fill.side.sign * fill.quantity
        quantity, average, realised = self.quantity, self.average_price, self.realised_pnl
        if quantity == 0 or (quantity > 0) == (signed > 0):
            average = (abs(quantity) * average + fill.quantity * fill.price) / (
                abs(quantity) + fill.quantity
            )
        else:
            closed = min(abs(quantity), fill.quantity)
            direction = 1 if quantity > 0 else -1
            realised += closed * (fill.price - average) * direction
            if fill.quantity > abs(quantity):
                average = fill.price  # the fill flipped the position: the rest opens at its price
            elif fill.quantity == abs(quantity):
                average = 0.0
        return replace(
            self,
            quantity=quantity + signed,
            average_price=average,
            realised_pnl=realised,
            charges=self.charges + fill.charges,
            fill_ids=self.fill_ids | {fill.trade_id},
        )


@dataclass(frozen=True, slots=True)
class OpenTrade:
    """A filled entry still open: what the exit monitor watches (written by the executor).

    ``side`` is the entry's side; the bracket (``stop_loss``, ``take_profit``) and ``time_exit``
    are the proposal's, ``entry_price`` the average fill.
    """

    proposal_id: ProposalId
    strategy_id: StrategyId
    instrument_token: InstrumentToken
    exchange: Exchange
    tradingsymbol: str
    product: Product
    side: Side
    quantity: int
    lot_size: int
    tick_size: float
    entry_price: float
    stop_loss: float
    take_profit: float
    time_exit: datetime
    opened_at: datetime

    def __post_init__(self) -> None:
        owner = "OpenTrade"
        subject = self.tradingsymbol if isinstance(self.tradingsymbol, str) else None
        _typed(
            self,
            owner,
            {
                "proposal_id": ProposalId,
                "strategy_id": StrategyId,
                "exchange": Exchange,
                "product": Product,
                "side": Side,
            },
            subject,
        )
        _lots_of_an_instrument(self, owner, subject)
        for name in ("tick_size", "entry_price", "stop_loss", "take_profit"):
            positive(owner, name, getattr(self, name), subject)
        _aware(self, owner, "time_exit")
        _aware(self, owner, "opened_at")
        low, high = self.stop_loss, self.take_profit
        if self.side is Side.SELL:
            low, high = high, low
        if not low < high:
            rule = f"must be on the losing side of take_profit {self.take_profit} for a {self.side}"
            raise ContractError(owner, "stop_loss", self.stop_loss, rule, subject)

    @property
    def is_long(self) -> bool:
        return self.side is Side.BUY


@dataclass(frozen=True, slots=True)
class ExitProposal:
    """Close an open trade: produced by the exit monitor, needs no human approval, but still goes
    through the risk engine to the executor.

    ``exit_id`` is derived from the entry's proposal id, so a trade gets one exit however often
    the rule fires (or the worker restarts). ``limit_price`` is a protected LIMIT on the tick grid
    through ``reference_price`` (the price that triggered the exit).
    """

    exit_id: ProposalId
    entry_proposal_id: ProposalId
    ts_event: datetime
    ts_init: datetime
    reason: ExitReason
    strategy_id: StrategyId
    instrument_token: InstrumentToken
    exchange: Exchange
    tradingsymbol: str
    product: Product
    side: Side
    quantity: int
    lot_size: int
    tick_size: float
    reference_price: float
    limit_price: float

    def __post_init__(self) -> None:
        owner = "ExitProposal"
        subject = self.tradingsymbol if isinstance(self.tradingsymbol, str) else None
        _typed(
            self,
            owner,
            {
                "exit_id": ProposalId,
                "entry_proposal_id": ProposalId,
                "reason": ExitReason,
                "strategy_id": StrategyId,
                "exchange": Exchange,
                "product": Product,
                "side": Side,
            },
            subject,
        )
        _aware(self, owner, "ts_event")
        _aware(self, owner, "ts_init")
        _lots_of_an_instrument(self, owner, subject)
        for name in ("tick_size", "reference_price", "limit_price"):
            positive(owner, name, getattr(self, name), subject)
        _on_grid(owner, "limit_price", self.limit_price, self.tick_size, subject)

    @staticmethod
    def id_for(entry: ProposalId) -> ProposalId:
        """The one exit id of the trade opened by ``entry``."""
        return ProposalId(f"{entry.value[:120]}:exit")

    @classmethod
    def closing(
        cls,
        trade: OpenTrade,
        *,
        ts_event: datetime,
        ts_init: datetime,
        reason: ExitReason,
        reference_price: float,
        limit_price: float,
    ) -> ExitProposal:
        """The exit of the whole of ``trade``: its one id, the opposite side, its instrument,
        product and sizes."""
        return cls(
            exit_id=cls.id_for(trade.proposal_id),
            entry_proposal_id=trade.proposal_id,
            ts_event=ts_event,
            ts_init=ts_init,
            reason=reason,
            strategy_id=trade.strategy_id,
            instrument_token=trade.instrument_token,
            exchange=trade.exchange,
            tradingsymbol=trade.tradingsymbol,
            product=trade.product,
            side=trade.side.opposite,
            quantity=trade.quantity,
            lot_size=trade.lot_size,
            tick_size=trade.tick_size,
            reference_price=reference_price,
            limit_price=limit_price,
        )
