"""The paper exchange's Kite Connect v3 REST API (aiohttp), at the server root.

Every route the issue names, with Kite's envelopes, ``error_type``\\ s and HTTP codes
(reference ``kite-connect.md`` §1-§2). :func:`build_rest_app` builds the ``web.Application`` from
the venue, the market, the sessions, the rate limiter and the fault injector, so it can be tested
with fakes behind the same method names.

Request handling, in order:

1. ``X-Kite-Version: 3`` is required on every API route (Kite serves its v3 backend only with it;
   the older backends are retired): a missing or other value is a 400 ``InputException``. The
   browser login page ``/connect/login`` needs no header.
2. ``Authorization: token api_key:access_token`` on every route but the session ones, else a 403
   ``TokenException``.
3. Rate limits per API key (:mod:`execution.paper.limits`): 429 ``NetworkException``.
4. Injected faults (:mod:`execution.paper.faults`): 429/5xx instead of the work; delay, timeout
   (hold) or lost response (connection dropped) after the work.
5. The work. A :class:`KiteApiError` becomes its envelope; a :class:`ContractError` from the core
   an ``InputException`` (400); anything else a 500 ``GeneralException`` (and is logged).

The paper login page has no password: ``GET /connect/login?api_key=..&v=3`` redirects (302) at once
to the configured redirect URL with ``request_token``, ``action=login``, ``type=login`` and
``status=success``, plus the ``redirect_params`` the app passed. The admin endpoints
``GET/PUT /_paper/faults`` need the ``X-Paper-Admin`` header.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web
from multidict import MultiDictProxy

from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument, InstrumentMaster
from execution.paper import wire
from execution.paper.admin_api import ADMIN_HEADER
from execution.paper.faults import FaultInjector, FaultKind, FaultPlan
from execution.paper.limits import RateLimiter, RouteClass
from execution.paper.session import SessionManager
from execution.paper.types import DEPTH_LEVELS, DepthLevel, KiteApiError, Quote

__all__ = [
    "ADMIN_HEADER",
    "HISTORICAL_MAX_DAYS",
    "MarketPort",
    "PriceBand",
    "VenuePort",
    "build_rest_app",
    "require_admin",
]

log = logging.getLogger(__name__)

KITE_VERSION: Final = "3"
# Most days one historical request may span, per interval (reference §1.6, Kite forum staff).
HISTORICAL_MAX_DAYS: Final[Mapping[str, int]] = {
    "minute": 60,
    "3minute": 100,
    "5minute": 100,
    "10minute": 100,
    "15minute": 200,
    "30minute": 200,
    "60minute": 400,
    "day": 2000,
}
MAX_QUOTE_INSTRUMENTS: Final = 500
MAX_LTP_OHLC_INSTRUMENTS: Final = 1000
_EMPTY_LEVEL: Final = {"price": 0, "quantity": 0, "orders": 0}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PriceBand = Callable[[Instrument, Quote], tuple[float, float]]
"""``(instrument, quote) -> (lower, upper)`` circuit limits shown in ``/quote``."""


class VenuePort(Protocol):
    """What the REST layer needs of the exchange (``execution.paper.venue.PaperVenue``)."""

    def place(self, variety: str, params: Mapping[str, str]) -> str: ...
    def modify(self, variety: str, order_id: str, params: Mapping[str, str]) -> str: ...
    def cancel(self, variety: str, order_id: str) -> str: ...
    def orders(self) -> list[dict[str, Any]]: ...
    def order_history(self, order_id: str) -> list[dict[str, Any]]: ...
    def trades(self) -> list[dict[str, Any]]: ...
    def order_trades(self, order_id: str) -> list[dict[str, Any]]: ...
    def positions(self) -> dict[str, Any]: ...
    def holdings(self) -> list[dict[str, Any]]: ...
    def margins(self, segment: str | None = None) -> dict[str, Any]: ...
    def order_margins(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    def contract_note(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class MarketPort(Protocol):
    """What the REST layer needs of the market (``execution.paper.market.MarketReplay``)."""

    @property
    def instruments(self) -> Sequence[Instrument]: ...
    def instruments_csv(self, exchange: str | None = None) -> str: ...
    def latest(self, token: int) -> Quote | None: ...
    def historical(
        self, token: int, interval: str, start: datetime, end: datetime, *, oi: bool
    ) -> list[list[object]]: ...


def _no_band(instrument: Instrument, quote: Quote) -> tuple[float, float]:
    del instrument, quote
    return 0.0, 0.0


def require_admin(request: web.Request, admin_token: str | None) -> None:
    """Refuse (403 ``PermissionException``) unless the ``X-Paper-Admin`` header carries the admin
    token; with no admin token configured the admin endpoints are closed."""
    given = request.headers.get(ADMIN_HEADER)
    if (
        admin_token is None
        or given is None
        or not hmac.compare_digest(given.encode("utf-8"), admin_token.encode("utf-8"))
    ):
        raise KiteApiError(
            "PermissionException",
            f"the paper exchange's admin endpoints need the {ADMIN_HEADER} header",
            http_status=403,
        )


class _Rest:
    """The handlers and the request pipeline around them."""

    def __init__(
        self,
        *,
        venue: VenuePort,
        market: MarketPort,
        sessions: SessionManager,
        limiter: RateLimiter,
        faults: FaultInjector,
        redirect_url: str,
        admin_token: str | None,
        price_band: PriceBand,
    ) -> None:
        self.venue = venue
        self.market = market
        self.sessions = sessions
        self.limiter = limiter
        self.faults = faults
        self.redirect_url = redirect_url
        self.admin_token = admin_token
        self.price_band = price_band
        self._master: InstrumentMaster | None = None

    # -- the pipeline --------------------------------------------------------------------------

    def endpoint(self, route: RouteClass, work: Handler, *, authenticated: bool = True) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            version = request.headers.get("X-Kite-Version")
            if version != KITE_VERSION:
                raise KiteApiError(
                    "InputException",
                    f"`X-Kite-Version: {KITE_VERSION}` header required, was {version!r}",
                )
            if authenticated:
                self.sessions.authenticate(request.headers.get("Authorization"))
                self.limiter.admit(self.sessions.api_key, route)
            fault = self.faults.on_request(route)
            if fault is not None and not fault.does_work:
                raise fault.error()
            response = await work(request)
            if fault is None:
                return response
            if fault.kind is FaultKind.LOST_RESPONSE:
                transport = request.transport
                if transport is not None:
                    transport.abort()
                return response
            await asyncio.sleep(fault.seconds)  # delay or timeout: the work is already done
            return response

        return handle

    @property
    def master(self) -> InstrumentMaster:
        if self._master is None:
            self._master = InstrumentMaster.of(self.market.instruments)
        return self._master

    # -- session -------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        api_key = request.query.get("api_key", "")
        request_token = self.sessions.login_redirect(api_key)
        extra = dict(parse_qsl(request.query.get("redirect_params", ""), keep_blank_values=True))
        params = extra | {
            "request_token": request_token,
            "action": "login",
            "type": "login",
            "status": "success",
        }
        raise web.HTTPFound(_with_query(self.redirect_url, params))

    async def session_token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        session = self.sessions.exchange(
            _text(form, "api_key"), _text(form, "request_token"), _text(form, "checksum")
        )
        return wire.success(session)

    async def session_logout(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if "refresh_token" in query and "access_token" not in query:
            return wire.success(True)  # the paper exchange issues no refresh tokens: a no-op
        return wire.success(
            self.sessions.logout(_text(query, "api_key"), _text(query, "access_token"))
        )

    # -- user ----------------------------------------------------------------------------------

    async def profile(self, request: web.Request) -> web.StreamResponse:
        del request
        return wire.success(self.sessions.profile.as_dict())

    async def margins(self, request: web.Request) -> web.StreamResponse:
        segment = request.match_info.get("segment")
        if segment is not None and segment not in ("equity", "commodity"):
            raise KiteApiError("InputException", f"invalid segment: {segment}")
        return wire.success(self.venue.margins(segment))

    # -- market --------------------------------------------------------------------------------

    async def instruments(self, request: web.Request) -> web.StreamResponse:
        exchange = request.match_info.get("exchange")
        return wire.csv(self.market.instruments_csv(exchange))

    async def quote(self, request: web.Request) -> web.StreamResponse:
        return wire.success(self._quotes(request, MAX_QUOTE_INSTRUMENTS, self._full_quote))

    async def ohlc(self, request: web.Request) -> web.StreamResponse:
        return wire.success(self._quotes(request, MAX_LTP_OHLC_INSTRUMENTS, _ohlc_quote))

    async def ltp(self, request: web.Request) -> web.StreamResponse:
        return wire.success(self._quotes(request, MAX_LTP_OHLC_INSTRUMENTS, _ltp_quote))

    def _quotes(
        self,
        request: web.Request,
        most: int,
        render: Callable[[Instrument, Quote], dict[str, Any]],
    ) -> dict[str, Any]:
        keys = request.query.getall("i", [])
        if len(keys) > most:
            raise KiteApiError(
                "InputException", f"too many instruments: at most {most} per request"
            )
        data: dict[str, Any] = {}
        for key in keys:
            instrument = self._instrument(key)
            quote = None if instrument is None else self.market.latest(instrument.instrument_token)
            if instrument is not None and quote is not None:  # no data: the key is left out
                data[key] = render(instrument, quote)
        return data

    def _instrument(self, key: str) -> Instrument | None:
        if key.isdigit():
            return self.master.by_token(int(key))
        exchange, _, symbol = key.partition(":")
        if not symbol:
            return None
        return self.master.get(exchange, symbol)

    def _full_quote(self, instrument: Instrument, quote: Quote) -> dict[str, Any]:
        lower, upper = self.price_band(instrument, quote)
        return _ohlc_quote(instrument, quote) | {
            "timestamp": quote.ts_event,
            "last_trade_time": quote.last_trade_time or quote.ts_event,
            "last_quantity": quote.last_quantity,
            "buy_quantity": quote.buy_quantity,
            "sell_quantity": quote.sell_quantity,
            "volume": quote.volume,
            "average_price": quote.average_price,
            "oi": quote.oi,
            "oi_day_high": quote.oi_day_high,
            "oi_day_low": quote.oi_day_low,
            "net_change": round(quote.last_price - quote.close, 2) if quote.close else 0,
            "lower_circuit_limit": lower,
            "upper_circuit_limit": upper,
            "depth": {"buy": _depth(quote.bids), "sell": _depth(quote.asks)},
        }

    async def historical(self, request: web.Request) -> web.StreamResponse:
        token_text = request.match_info["instrument_token"]
        interval = request.match_info["interval"]
        if not token_text.isdigit():
            raise KiteApiError("InputException", f"invalid token: {token_text}")
        most = HISTORICAL_MAX_DAYS.get(interval)
        if most is None:
            raise KiteApiError("InputException", f"invalid interval: {interval}")
        start = wire.parse_ist(_text(request.query, "from"), "from")
        end = wire.parse_ist(_text(request.query, "to"), "to")
        if end - start > timedelta(days=most):
            raise KiteApiError("InputException", f"interval exceeds max limit: {most} days")
        oi = request.query.get("oi", "0") in ("1", "true", "True")
        candles = self.market.historical(int(token_text), interval, start, end, oi=oi)
        return wire.success({"candles": candles})

    # -- orders --------------------------------------------------------------------------------

    async def place(self, request: web.Request) -> web.StreamResponse:
        params = _form(await request.post())
        order_id = self.venue.place(request.match_info["variety"], params)
        return wire.success({"order_id": order_id})

    async def modify(self, request: web.Request) -> web.StreamResponse:
        params = _form(await request.post())
        info = request.match_info
        order_id = self.venue.modify(info["variety"], info["order_id"], params)
        return wire.success({"order_id": order_id})

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        return wire.success({"order_id": self.venue.cancel(info["variety"], info["order_id"])})

    async def orders(self, request: web.Request) -> web.StreamResponse:
        del request
        return wire.success(self.venue.orders())

    async def order_history(self, request: web.Request) -> web.StreamResponse:
        return wire.success(self.venue.order_history(request.match_info["order_id"]))

    async def order_trades(self, request: web.Request) -> web.StreamResponse:
        return wire.success(self.venue.order_trades(request.match_info["order_id"]))

    async def trades(self, request: web.Request) -> web.StreamResponse:
        del request
        return wire.success(self.venue.trades())

    # -- portfolio -----------------------------------------------------------------------------

    async def positions(self, request: web.Request) -> web.StreamResponse:
        del request
        return wire.success(self.venue.positions())

    async def holdings(self, request: web.Request) -> web.StreamResponse:
        del request
        return wire.success(self.venue.holdings())

    async def order_margins(self, request: web.Request) -> web.StreamResponse:
        return wire.success(self.venue.order_margins(await _order_list(request)))

    async def contract_note(self, request: web.Request) -> web.StreamResponse:
        return wire.success(self.venue.contract_note(await _order_list(request)))

    # -- admin ---------------------------------------------------------------------------------

    async def get_faults(self, request: web.Request) -> web.StreamResponse:
        require_admin(request, self.admin_token)
        return wire.success(self.faults.status())

    async def put_faults(self, request: web.Request) -> web.StreamResponse:
        require_admin(request, self.admin_token)
        plan = FaultPlan.from_mapping(await _json(request), source="PUT /_paper/faults")
        self.faults.replace(plan)
        return wire.success(self.faults.status())


@web.middleware
async def _kite_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as Kite's error envelope (404/405 included)."""
    try:
        return await handler(request)
    except KiteApiError as failure:
        return wire.error(failure)
    except ContractError as failure:
        return wire.error(KiteApiError("InputException", str(failure)))
    except web.HTTPRedirection:
        raise
    except web.HTTPException as failure:
        # Kite answers an unknown route or method with a GeneralException of that status.
        message = "Route not found" if failure.status == 404 else failure.reason
        return wire.error(KiteApiError("GeneralException", message, http_status=failure.status))
    except Exception:
        log.exception("paper exchange: unexpected error on %s %s", request.method, request.path)
        return wire.error(KiteApiError("GeneralException", "Internal server error", 500))


def build_rest_app(
    *,
    venue: VenuePort,
    market: MarketPort,
    sessions: SessionManager,
    limiter: RateLimiter,
    faults: FaultInjector,
    redirect_url: str,
    admin_token: str | None = None,
    price_band: PriceBand = _no_band,
) -> web.Application:
    """The REST application. Add the ticker's ``GET /`` to it to serve both on one port."""
    rest = _Rest(
        venue=venue,
        market=market,
        sessions=sessions,
        limiter=limiter,
        faults=faults,
        redirect_url=redirect_url,
        admin_token=admin_token,
        price_band=price_band,
    )
    app = web.Application(middlewares=[_kite_errors])
    add = app.router.add_route
    session, quote, historical = RouteClass.SESSION, RouteClass.QUOTE, RouteClass.HISTORICAL
    other = RouteClass.OTHER
    add("GET", "/connect/login", rest.login)
    add("POST", "/session/token", rest.endpoint(session, rest.session_token, authenticated=False))
    add(
        "DELETE", "/session/token", rest.endpoint(session, rest.session_logout, authenticated=False)
    )
    add("GET", "/user/profile", rest.endpoint(other, rest.profile))
    add("GET", "/user/margins", rest.endpoint(other, rest.margins))
    add("GET", "/user/margins/{segment}", rest.endpoint(other, rest.margins))
    add("GET", "/instruments", rest.endpoint(other, rest.instruments))
    add("GET", "/instruments/{exchange}", rest.endpoint(other, rest.instruments))
    add(
        "GET",
        "/instruments/historical/{instrument_token}/{interval}",
        rest.endpoint(historical, rest.historical),
    )
    add("GET", "/quote", rest.endpoint(quote, rest.quote))
    add("GET", "/quote/ohlc", rest.endpoint(quote, rest.ohlc))
    add("GET", "/quote/ltp", rest.endpoint(quote, rest.ltp))
    add("GET", "/orders", rest.endpoint(other, rest.orders))
    add("POST", "/orders/{variety}", rest.endpoint(RouteClass.ORDER_PLACE, rest.place))
    add("PUT", "/orders/{variety}/{order_id}", rest.endpoint(RouteClass.ORDER_MODIFY, rest.modify))
    add(
        "DELETE",
        "/orders/{variety}/{order_id}",
        rest.endpoint(RouteClass.ORDER_CANCEL, rest.cancel),
    )
    add("GET", "/orders/{order_id}", rest.endpoint(other, rest.order_history))
    add("GET", "/orders/{order_id}/trades", rest.endpoint(other, rest.order_trades))
    add("GET", "/trades", rest.endpoint(other, rest.trades))
    add("GET", "/portfolio/positions", rest.endpoint(other, rest.positions))
    add("GET", "/portfolio/holdings", rest.endpoint(other, rest.holdings))
    add("POST", "/margins/orders", rest.endpoint(other, rest.order_margins))
    add("POST", "/charges/orders", rest.endpoint(other, rest.contract_note))
    add("GET", "/_paper/faults", rest.get_faults)
    add("PUT", "/_paper/faults", rest.put_faults)
    return app


# -- helpers -----------------------------------------------------------------------------------


def _text(values: Mapping[str, Any], key: str) -> str:
    value = values.get(key)
    if not isinstance(value, str) or not value:
        raise KiteApiError("InputException", f"Missing or empty field `{key}`")
    return value


def _form(form: MultiDictProxy[Any]) -> dict[str, str]:
    """Kite's form as the client sent it: text values (first of a repeated key); files ignored."""
    params: dict[str, str] = {}
    for key, value in form.items():
        if isinstance(value, str) and key not in params:
            params[key] = value
    return params


async def _json(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KiteApiError("InputException", "the request body must be JSON") from None


async def _order_list(request: web.Request) -> list[dict[str, Any]]:
    body = await _json(request)
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise KiteApiError("InputException", "the request body must be a JSON list of orders")
    return body


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _depth(levels: Sequence[DepthLevel]) -> list[dict[str, float | int]]:
    shown: list[dict[str, float | int]] = [
        {"price": level.price, "quantity": level.quantity, "orders": level.orders}
        for level in levels[:DEPTH_LEVELS]
    ]
    return shown + [dict(_EMPTY_LEVEL) for _ in range(DEPTH_LEVELS - len(shown))]


def _ltp_quote(instrument: Instrument, quote: Quote) -> dict[str, Any]:
    return {"instrument_token": instrument.instrument_token, "last_price": quote.last_price}


def _ohlc_quote(instrument: Instrument, quote: Quote) -> dict[str, Any]:
    ohlc = {"open": quote.open, "high": quote.high, "low": quote.low, "close": quote.close}
    return _ltp_quote(instrument, quote) | {"ohlc": ohlc}
