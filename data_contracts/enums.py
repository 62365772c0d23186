"""Closed vocabularies of the domain. String values are Kite's own spellings, so they cross the
broker boundary unchanged."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Exchange(StrEnum):
    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    CDS = "CDS"
    BCD = "BCD"
    MCX = "MCX"


class SegmentId(IntEnum):
    """The low byte of an instrument token (Kite's ticker EXCHANGE_MAP)."""

    NSE = 1
    NFO = 2
    CDS = 3
    BSE = 4
    BFO = 5
    BCD = 6
    MCX = 7
    MCXSX = 8
    INDICES = 9


class InstrumentType(StrEnum):
    EQ = "EQ"
    FUT = "FUT"
    CE = "CE"
    PE = "PE"

    @property
    def is_option(self) -> bool:
        return self in (InstrumentType.CE, InstrumentType.PE)

    @property
    def is_derivative(self) -> bool:
        return self is not InstrumentType.EQ


class Side(StrEnum):
    """Kite's ``transaction_type``."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class Direction(StrEnum):
    """A model's view of the underlying; long options express it as CE (bullish) or PE (bearish)."""

    BULLISH = "BULLISH"
    BEARISH = "BEARISH"


class Product(StrEnum):
    CNC = "CNC"
    MIS = "MIS"
    NRML = "NRML"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SL_M = "SL-M"


class Validity(StrEnum):
    DAY = "DAY"
    IOC = "IOC"
    TTL = "TTL"


class OrderStatus(StrEnum):
    """Kite's order statuses, intermediate and final."""

    PUT_ORDER_REQ_RECEIVED = "PUT ORDER REQ RECEIVED"
    VALIDATION_PENDING = "VALIDATION PENDING"
    OPEN_PENDING = "OPEN PENDING"
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER PENDING"
    MODIFY_VALIDATION_PENDING = "MODIFY VALIDATION PENDING"
    MODIFY_PENDING = "MODIFY PENDING"
    MODIFIED = "MODIFIED"
    CANCEL_PENDING = "CANCEL PENDING"
    AMO_REQ_RECEIVED = "AMO REQ RECEIVED"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_final(self) -> bool:
        return self in (OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED)


class ChargeSegment(StrEnum):
    """How Zerodha prices a trade: equity delivery (CNC), intraday (MIS), futures, options."""

    DELIVERY = "delivery"
    INTRADAY = "intraday"
    FUTURES = "futures"
    OPTIONS = "options"


class Verdict(StrEnum):
    """A human's (or the labelled demo approver's) decision on a proposal."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"


class ProposalOrigin(StrEnum):
    STRATEGY = "STRATEGY"
    AGENT = "AGENT"
    MANUAL = "MANUAL"


class AlertSeverity(StrEnum):
    """How urgent an alert is; channels send from a configured minimum up."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


class TradingMode(StrEnum):
    PAPER = "paper"
    LIVE = "live"


class DeadLetterReason(StrEnum):
    """Why the feed refused a datum; each has its own counter and dead-letter rows."""

    MALFORMED = "malformed"  # not a tick at all: missing fields, wrong types
    NON_POSITIVE_PRICE = "non_positive_price"
    NAN_PRICE = "nan_price"  # NaN or infinite price
    CROSSED_BOOK = "crossed_book"  # best bid above best ask
    OUT_OF_ORDER = "out_of_order"  # older than the instrument's last tick beyond the tolerance
    UNKNOWN_INSTRUMENT = "unknown_instrument"  # a token not in the instruments we trade
    NEGATIVE_QUANTITY = "negative_quantity"  # a volume, quantity or OI below zero


class ProposalStatus(StrEnum):
    """Status events of a proposal after it is stored (append-only; the latest one is current)."""

    PROPOSED = "PROPOSED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    VETOED = "VETOED"
    SENT = "SENT"
    UNFILLED = "UNFILLED"  # its entry orders all ended with nothing filled (cancelled, refused)
    FILLED = "FILLED"
    CLOSED = "CLOSED"


class ExitReason(StrEnum):
    """Why an open trade is being closed."""

    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    TIME = "time"
    SQUARE_OFF = "square_off"
    EXPIRY = "expiry"
    MANUAL = "manual"
