"""The :class:`~data_contracts.ports.Broker` port over the real ``kiteconnect.KiteConnect``: orders,
fills, positions and margins from Kite or, with ``root`` pointed at it, the paper exchange.

Every failure leaves here as one of four :class:`BrokerError`\\ s, chosen by what is *known* about
the broker's state afterwards (``docs/broker.md`` has the table and the reasons):

- :class:`OrderRejected`: the broker refused the request; nothing was done.
- :class:`BrokerUnavailable`: nothing was done (rate limited, or the request never left); retry
  later is safe.
- :class:`OrderOutcomeUnknown`: an order placement or cancellation may have been carried out (a
  timeout, a lost response, a 5xx after sending). The caller looks the order up by its tag
  (:meth:`KiteBroker.order_by_tag`) and never blindly resends.
- :class:`SessionExpired`: the access token is gone; log in again.

Nothing here retries: placements must not be retried blindly, and reads are polled by the
executor and the reconciler anyway. Order placements are paced client-side to Kite's 10 orders
per second (reference ``kite-connect.md`` §1.5).
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, cast

import kiteconnect.exceptions as kex
import requests
import urllib3.exceptions

from data_contracts.charges import ChargesModel
from data_contracts.enums import OrderType, Product, Validity
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag, InstrumentToken, OrderId
from data_contracts.ports import Broker, Clock
from data_contracts.trading import Fill, OrderEvent, OrderIntent, Position
from data_contracts.validation import integer, positive
from execution.kite.historical import kite_client
from execution.kite.orders import client_tag_of, parse_order, parse_position, parse_trade
from execution.kite.rate_limit import TokenBucket

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "BrokerError",
    "BrokerUnavailable",
    "KiteBroker",
    "KiteOrderClient",
    "OrderOutcomeUnknown",
    "OrderRejected",
    "Request",
    "SessionExpired",
    "classify_error",
    "kite_broker",
    "order_params",
]

log = logging.getLogger(__name__)

_OWNER: Final = "KiteBroker"
_T = TypeVar("_T")
DEFAULT_TIMEOUT_SECONDS: Final = 7.0  # pykiteconnect's own default
_LATENCY_WINDOW: Final = 100
_LTP_BATCH: Final = 500  # instruments per /quote/ltp request (Kite allows 1,000)
_TOO_MANY_REQUESTS: Final = 429
_SERVER_ERROR: Final = 500
_CLIENT_ERROR: Final = 400
# Kite's error types that mean "the request was refused as such". pykiteconnect has no class for
# MarginException/HoldingException/UserException (they arrive as GeneralException with the real
# 4xx status); the names are listed so a client version that adds them is classified the same.
_REFUSALS: Final = frozenset(
    {
        "InputException",
        "OrderException",
        "MarginException",
        "HoldingException",
        "UserException",
        "PermissionException",
    }
)


# --- errors -------------------------------------------------------------------------------------


class BrokerError(Exception):
    """A broker request failed. ``code`` is the HTTP status when there was a response. The
    message names the request and the broker's answer, never a credential."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class OrderRejected(BrokerError):
    """Definite: the broker refused the request (InputException, OrderException, margin...);
    nothing was placed or changed."""


class BrokerUnavailable(BrokerError):
    """Definite: nothing was done (HTTP 429, or the connection failed before the request was
    sent; for reads, any transport failure or 5xx). Trying again later is safe."""


class OrderOutcomeUnknown(BrokerError):
    """Ambiguous: the order placement (or cancellation) may have been carried out: a timeout,
    a lost response or a 5xx after sending. Look the order up by its tag; never resend blindly."""


class SessionExpired(BrokerError):
    """Kite refused the access token (``TokenException``): log in again for a new one."""


class Request(StrEnum):
    """What a failed request was, which decides what its failure means."""

    PLACE = "place"  # creates an order: ambiguous failures are OrderOutcomeUnknown
    CANCEL = "cancel"  # changes an order: likewise
    READ = "read"  # changes nothing: every transport failure is BrokerUnavailable


def classify_error(
    error: Exception, request: Request, what: str, *, secrets: Iterable[str] = ()
) -> BrokerError:
    """The :class:`BrokerError` for a ``kiteconnect`` exception or a ``requests`` transport
    failure of ``request`` (described by ``what``); ``secrets`` are blanked out of the message.

    Any other exception raises ContractError: it is a bug, not a broker answer, and is not
    classified (the caller re-raises the original)."""
    mutates = request is not Request.READ
    if isinstance(error, kex.KiteException):
        code = error.code if isinstance(error.code, int) else None
        kind = type(error).__name__
        message = _redact(f"Kite {what} failed (HTTP {code} {kind}: {error})", secrets)
        if isinstance(error, kex.TokenException):
            return SessionExpired(message + "; log in again for a new access_token", code)
        if code == _TOO_MANY_REQUESTS:
            return BrokerUnavailable(message + "; rate limited, nothing was done", code)
        refused = kind in _REFUSALS or (code is not None and _CLIENT_ERROR <= code < _SERVER_ERROR)
        if refused:
            return OrderRejected(message, code) if mutates else BrokerError(message, code)
        # 5xx GeneralException/DataException/NetworkException: the OMS may have acted.
        if mutates:
            return OrderOutcomeUnknown(message + _LOOK_UP, code)
        return BrokerUnavailable(message, code)
    if isinstance(error, requests.RequestException):
        message = _redact(f"Kite {what} failed ({type(error).__name__}: {error})", secrets)
        if not mutates or _never_sent(error):
            return BrokerUnavailable(message + "; nothing was done", None)
        return OrderOutcomeUnknown(message + _LOOK_UP, None)
    raise ContractError(
        "classify_error", "error", type(error).__name__, "must be a Kite or requests exception"
    )


_LOOK_UP: Final = "; the outcome is unknown: look the order up by its tag before any retry"


def _never_sent(error: requests.RequestException) -> bool:
    """True only when the connection was never established, so no byte of the request left:
    a connect timeout or a refused connection (urllib3 wraps it in MaxRetryError)."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError) or not error.args:
        return False
    reason = error.args[0]
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)  # NewConnectionError too


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# --- the client ---------------------------------------------------------------------------------


class KiteOrderClient(Protocol):
    """The part of ``kiteconnect.KiteConnect`` the broker uses (the real client satisfies it)."""

    access_token: str | None

    def place_order(self, **params: Any) -> Any: ...

    def cancel_order(
        self, variety: str, order_id: str, parent_order_id: str | None = ...
    ) -> Any: ...

    def orders(self) -> list[dict[str, Any]]: ...

    def order_history(self, order_id: str) -> list[dict[str, Any]]: ...

    def trades(self) -> list[dict[str, Any]]: ...

    def positions(self) -> dict[str, list[dict[str, Any]]]: ...

    def holdings(self) -> list[dict[str, Any]]: ...

    def margins(self, segment: str | None = ...) -> dict[str, Any]: ...

    def ltp(self, *instruments: str) -> dict[str, dict[str, Any]]: ...

    def profile(self) -> dict[str, Any]: ...


def kite_broker(
    api_key: str,
    access_token: str,
    *,
    clock: Clock,
    root: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    charges: ChargesModel | None = None,
    symbols: Mapping[int, tuple[str, str]] | None = None,
    orders_per_second: float = 10.0,
) -> KiteBroker:
    """A :class:`KiteBroker` over a new ``KiteConnect`` whose HTTP requests give up after
    ``timeout`` seconds; ``root`` points it at the paper exchange (``http://host:port``)."""
    client = kite_client(api_key, access_token, root=root, timeout=timeout)
    return KiteBroker(
        cast(KiteOrderClient, client),  # the same KiteConnect; the protocols name other methods
        clock=clock,
        charges=charges,
        orders_per_second=orders_per_second,
        symbols=symbols,
    )


def order_params(intent: OrderIntent) -> dict[str, Any]:
    """``KiteConnect.place_order``'s keyword arguments for ``intent`` (variety ``regular``): the
    price for LIMIT/SL, the trigger for SL/SL-M, market protection for MARKET/SL-M, and the
    client tag as Kite's ``tag``. A TTL validity raises ContractError (the intent carries no
    lifetime in minutes)."""
    if intent.validity is Validity.TTL:
        rule = "must be DAY or IOC (a TTL order needs validity_ttl, which an intent has not)"
        raise ContractError(_OWNER, "validity", intent.validity, rule, str(intent.client_tag))
    params: dict[str, Any] = {
        "variety": "regular",
        "exchange": intent.exchange.value,
        "tradingsymbol": intent.tradingsymbol,
        "transaction_type": intent.side.value,
        "quantity": intent.quantity,
        "product": intent.product.value,
        "order_type": intent.order_type.value,
        "validity": intent.validity.value,
        "tag": str(intent.client_tag),
    }
    if intent.order_type in (OrderType.LIMIT, OrderType.SL):
        params["price"] = intent.price
    if intent.order_type in (OrderType.SL, OrderType.SL_M):
        params["trigger_price"] = intent.trigger_price
    if intent.order_type in (OrderType.MARKET, OrderType.SL_M):
        protection = intent.market_protection
        if protection is not None and float(protection).is_integer():
            protection = int(protection)  # "-1", not "-1.0", on the wire
        params["market_protection"] = protection
    return params


class KiteBroker:
    """Orders, fills, positions and margins through ``client`` (a ``KiteConnect``).

    ``clock`` stamps ``ts_init``; ``monotonic`` times every REST call (:meth:`latency_p95_ms`);
    ``charges`` prices each fill as one leg (none: 0.0); ``symbols`` maps instrument tokens to
    ``(exchange, tradingsymbol)`` for :meth:`last_prices`. Thread-safe as far as the client is.
    """

    def __init__(
        self,
        client: KiteOrderClient,
        *,
        clock: Clock,
        charges: ChargesModel | None = None,
        orders_per_second: float = 10.0,
        symbols: Mapping[int, tuple[str, str]] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._clock = clock
        self._charges = charges
        positive(_OWNER, "orders_per_second", orders_per_second)
        self._order_limit = TokenBucket(orders_per_second, monotonic=monotonic, sleep=sleep)
        self._symbols = dict(symbols or {})
        for token in self._symbols:
            integer(_OWNER, "symbols", token, minimum=1)
        self._nse = {s: t for t, (exchange, s) in self._symbols.items() if exchange == "NSE"}
        self._lock = threading.Lock()
        self._latencies: deque[float] = deque(maxlen=_LATENCY_WINDOW)
        # Latency is wall time, whatever ``clock`` is (a replay's market clock runs faster).
        self._monotonic = monotonic

    # -- orders --------------------------------------------------------------------------------

    def place_order(self, intent: OrderIntent) -> OrderId:
        """Send ``intent`` as a regular order and return Kite's order id. Raises
        :class:`OrderRejected`, :class:`BrokerUnavailable`, :class:`SessionExpired` or — when
        the order may exist — :class:`OrderOutcomeUnknown`."""
        params = order_params(intent)
        self._order_limit.acquire()
        what = f"place_order tag={intent.client_tag} {intent.side.value} {intent.tradingsymbol}"
        order_id = self._call(Request.PLACE, what, lambda: self._client.place_order(**params))
        return OrderId(str(order_id))

    def cancel_order(self, order_id: OrderId) -> None:
        """Cancel a regular order. A final order raises :class:`OrderRejected` (Kite refuses);
        a timeout raises :class:`OrderOutcomeUnknown` (check the order's state)."""
        self._order_limit.acquire()
        self._call(
            Request.CANCEL,
            f"cancel_order {order_id}",
            lambda: self._client.cancel_order("regular", str(order_id)),
        )

    def orders(self) -> Sequence[OrderEvent]:
        """Today's orders carrying a tag (ours), latest state each, in placement order. Orders
        without a valid tag (placed by hand or by another app) are left out."""
        rows = self._call(Request.READ, "orders", self._client.orders)
        now = self._clock.now()
        return [parse_order(row, now) for row in _rows(rows, "orders") if client_tag_of(row)]

    def order_by_tag(self, tag: ClientTag) -> OrderEvent | None:
        """The latest state of today's order sent with ``tag``, None if the broker has none.
        Two orders with one tag should never exist; if they do, the later one is returned and
        the duplicate is logged as an error."""
        rows = _rows(self._call(Request.READ, "orders", self._client.orders), "orders")
        matches = [row for row in rows if client_tag_of(row) == tag]
        if not matches:
            return None
        if len(matches) > 1:
            ids = ", ".join(str(row.get("order_id")) for row in matches)
            log.error(
                "broker: %d orders carry the tag %s (%s); using the last", len(matches), tag, ids
            )
        return parse_order(matches[-1], self._clock.now())

    def order_history(self, order_id: OrderId) -> Sequence[OrderEvent]:
        """Every state the order went through, oldest first."""
        rows = self._call(
            Request.READ,
            f"order_history {order_id}",
            lambda: self._client.order_history(str(order_id)),
        )
        now = self._clock.now()
        return [parse_order(row, now) for row in _rows(rows, "order_history")]

    # -- fills, positions, money ---------------------------------------------------------------

    def fills(self) -> Sequence[Fill]:
        """Today's executions (Kite's trade book), each with its order's tag (joined from the
        order book) and, with a charges model, the charges of its leg."""
        trades = _rows(self._call(Request.READ, "trades", self._client.trades), "trades")
        orders = _rows(self._call(Request.READ, "orders", self._client.orders), "orders")
        tag_of: dict[str, ClientTag] = {}
        for row in orders:
            tag = client_tag_of(row)
            if tag is not None:
                tag_of[str(row.get("order_id"))] = tag
        now = self._clock.now()
        return [parse_trade(row, now, tag_of, charges=self._charges) for row in trades]

    def positions(self) -> Sequence[Position]:
        """What the account holds now, per (instrument, product) in the products we trade (CNC,
        MIS, NRML): Kite's net positions (``positions()["net"]``), and for CNC the delivery
        quantity carried into the day from ``holdings()`` (``opening_quantity``) added to
        today's CNC net. Kite keeps only today's CNC trades in the positions — yesterday's buys
        are holdings, and a sale of them today is a negative CNC position — so both are needed
        for the delivery shares really held (docs/execution.md, "Delivery overnight"). Rows of
        other products (CO, BO, MTF) are left out with a warning."""
        answer = self._call(Request.READ, "positions", self._client.positions)
        if not isinstance(answer, Mapping) or "net" not in answer:
            raise ContractError(_OWNER, "positions", type(answer).__name__, "must have net rows")
        held = self._carried(
            _rows(self._call(Request.READ, "holdings", self._client.holdings), "holdings")
        )
        positions: list[Position] = []
        for row in _rows(answer["net"], "positions.net"):
            if row.get("product") not in Product.__members__.values():
                log.warning(
                    "broker: position %s in product %s is not one we trade; left out",
                    row.get("tradingsymbol"),
                    row.get("product"),
                )
                continue
            position = parse_position(row)
            if position.product is Product.CNC and position.instrument_token in held:
                position = _with_carried(position, held.pop(position.instrument_token))
            positions.append(position)
        positions.extend(held.values())
        return positions

    def _carried(self, rows: list[Mapping[str, Any]]) -> dict[int, Position]:
        """The delivery quantity carried overnight (``opening_quantity``), by the token we trade
        it under, at the holding's average price. Holdings are per stock, not per exchange: Kite
        may list a stock bought on NSE under its BSE token (its own example does), so a holding
        whose tradingsymbol is an NSE equity in ``symbols`` counts under that NSE token."""
        carried: dict[int, Position] = {}
        for row in rows:
            if row.get("product", "CNC") != Product.CNC.value:
                continue
            prices = (_price(row, key) for key in ("average_price", "last_price", "close_price"))
            price = next((p for p in prices if p > 0), 0.0)
            quantity = row.get("opening_quantity")
            if price <= 0 and quantity:
                # parse_position refuses an open position without a price: a holding this odd
                # (Kite's "discrepancy") is the account holder's to sort out, not ours
                log.warning("broker: holding %s has no price; left out", row.get("tradingsymbol"))
                continue
            fields = {**row, "quantity": quantity, "average_price": price, "realised": 0}
            holding = parse_position(fields)
            if holding.quantity <= 0:
                continue
            token = self._nse.get(holding.tradingsymbol, int(holding.instrument_token))
            before = carried.get(token)
            holding = replace(holding, instrument_token=InstrumentToken(token))
            carried[token] = holding if before is None else _with_carried(before, holding)
        return carried

    def available_margin(self) -> float:
        """Rupees available in the equity segment (Kite's ``margins("equity")["net"]``)."""
        answer = self._call(Request.READ, "margins equity", lambda: self._client.margins("equity"))
        net = answer.get("net") if isinstance(answer, Mapping) else None
        if isinstance(net, bool) or not isinstance(net, int | float) or not math.isfinite(net):
            raise ContractError(_OWNER, "margins.equity.net", net, "must be a finite number")
        return float(net)

    def last_prices(self, tokens: Iterable[int]) -> Mapping[int, float]:
        """Last traded prices by token (``ltp`` with ``EXCHANGE:SYMBOL`` keys from ``symbols``);
        tokens Kite has no price for are absent. A token not in ``symbols`` raises
        ContractError."""
        keys: dict[str, int] = {}
        for token in dict.fromkeys(tokens):
            found = self._symbols.get(token)
            if found is None:
                raise ContractError(_OWNER, "tokens", token, "must be in the symbols mapping")
            keys[f"{found[0]}:{found[1]}"] = token
        names = list(keys)
        prices: dict[int, float] = {}
        for first in range(0, len(names), _LTP_BATCH):
            batch = names[first : first + _LTP_BATCH]
            answer = self._call(
                Request.READ,
                f"ltp of {len(batch)} instruments",
                functools.partial(self._client.ltp, *batch),
            )
            for key, quote in answer.items():
                price = quote.get("last_price") if isinstance(quote, Mapping) else None
                if key in keys and isinstance(price, int | float) and price > 0:
                    prices[keys[key]] = float(price)
        return prices

    # -- health --------------------------------------------------------------------------------

    def profile_ok(self) -> bool:
        """True when the session works (``profile()`` answers); False on ``TokenException``.
        Other failures raise as for any read."""
        try:
            self._call(Request.READ, "profile", self._client.profile)
        except SessionExpired:
            return False
        return True

    def latency_p95_ms(self) -> float | None:
        """The 95th percentile (nearest rank) of the last 100 REST calls' durations by the
        clock, in milliseconds; None before the first call."""
        with self._lock:
            samples = sorted(self._latencies)
        if not samples:
            return None
        rank = math.ceil(0.95 * len(samples))
        return samples[rank - 1]

    # -- internals -----------------------------------------------------------------------------

    def _call(self, request: Request, what: str, call: Callable[[], _T]) -> _T:
        started = self._monotonic()
        try:
            return call()
        except (kex.KiteException, requests.RequestException) as error:
            secrets = [self._client.access_token or ""]
            raise classify_error(error, request, what, secrets=secrets) from error
        finally:
            elapsed = (self._monotonic() - started) * 1000.0
            with self._lock:
                self._latencies.append(max(elapsed, 0.0))


def _with_carried(today: Position, carried: Position) -> Position:
    """Today's CNC net position plus the quantity carried into the day: the carried shares
    keep their cost; today's buys add theirs, today's sales change none."""
    quantity = today.quantity + carried.quantity
    if quantity == 0:
        average = 0.0
    elif today.quantity > 0:
        cost = today.quantity * today.average_price + carried.quantity * carried.average_price
        average = cost / quantity
    else:
        average = carried.average_price if quantity > 0 else today.average_price
    return replace(today, quantity=quantity, average_price=average)


def _price(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


def _rows(value: object, what: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(row, Mapping) for row in value):
        raise ContractError(_OWNER, what, type(value).__name__, "must be a list of objects")
    return value


if TYPE_CHECKING:  # mypy proves the adapter fits the port; nothing runs here

    def _fits_the_port(broker: KiteBroker) -> Broker:
        return broker
