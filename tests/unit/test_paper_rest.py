"""The paper exchange's REST layer over hand-written fakes of the venue and the market: routes,
envelopes, headers, auth, rate limits, faults and the admin endpoint (real HTTP, in-process)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import ClientError, ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from data_contracts.clock import ManualClock
from execution.paper.faults import FaultInjector, FaultPlan
from execution.paper.limits import RateLimiter
from execution.paper.rest import ADMIN_HEADER, build_rest_app
from execution.paper.session import SessionManager
from execution.paper.types import DepthLevel, KiteApiError, Quote
from tests.factories import infy_instrument

API_KEY = "kitepilot_paper"
API_SECRET = "rest-test-secret"  # noqa: S105 - test fixture
ADMIN = "admin-test-token"
REDIRECT = "http://127.0.0.1:9/callback?app=1"
T0 = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)  # 09:30 IST
INFY = infy_instrument()
INFY_QUOTE = Quote(
    instrument_token=408065,
    ts_event=T0,
    last_price=1412.95,
    last_quantity=5,
    last_trade_time=T0 - timedelta(seconds=4),
    average_price=1412.47,
    volume=7360198,
    buy_quantity=100,
    sell_quantity=5191,
    open=1396.0,
    high=1421.75,
    low=1395.55,
    close=1389.65,
    bids=(DepthLevel(1412.9, 100, 2),),
    asks=(DepthLevel(1412.95, 5191, 13), DepthLevel(1413.0, 10, 1)),
)


class FakeMarket:
    def __init__(self) -> None:
        self.instruments = (INFY,)
        self.quotes = {408065: INFY_QUOTE}
        self.historical_calls: list[tuple[int, str, datetime, datetime, bool]] = []

    def instruments_csv(self, exchange: str | None = None) -> str:
        return f"instrument_token,exchange\n408065,{exchange or 'ALL'}\n"

    def latest(self, token: int) -> Quote | None:
        return self.quotes.get(token)

    def historical(
        self, token: int, interval: str, start: datetime, end: datetime, *, oi: bool
    ) -> list[list[object]]:
        self.historical_calls.append((token, interval, start, end, oi))
        row: list[object] = ["2026-08-18T09:15:00+0530", 1.0, 2.0, 0.5, 1.5, 100]
        return [[*row, 7]] if oi else [row]


class FakeVenue:
    """Canned answers; records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.next_id = 1

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def place(self, variety: str, params: Mapping[str, str]) -> str:
        self._record("place", variety, dict(params))
        if variety != "regular":
            raise KiteApiError("InputException", "Invalid `variety`.")
        order_id = f"{self.next_id:019d}"
        self.next_id += 1
        return order_id

    def modify(self, variety: str, order_id: str, params: Mapping[str, str]) -> str:
        self._record("modify", variety, order_id, dict(params))
        return order_id

    def cancel(self, variety: str, order_id: str) -> str:
        self._record("cancel", variety, order_id)
        return order_id

    def orders(self) -> list[dict[str, Any]]:
        return [{"order_id": "1", "order_timestamp": T0}]

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        if order_id == "404":
            raise KiteApiError("OrderException", "Couldn't find that `order_id`.", 500)
        return [{"order_id": order_id, "status": "OPEN"}]

    def trades(self) -> list[dict[str, Any]]:
        return []

    def order_trades(self, order_id: str) -> list[dict[str, Any]]:
        return [{"order_id": order_id}]

    def positions(self) -> dict[str, Any]:
        return {"net": [], "day": []}

    def holdings(self) -> list[dict[str, Any]]:
        return []

    def margins(self, segment: str | None = None) -> dict[str, Any]:
        equity = {"enabled": True, "net": 10000.0}
        return equity if segment == "equity" else {"equity": equity, "commodity": equity}

    def order_margins(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._record("order_margins", orders)
        return [{"total": 1.0} for _ in orders]

    def contract_note(self, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._record("contract_note", orders)
        return [{"charges": {"total": 0.5}} for _ in orders]


class Api:
    """A synchronous face on an in-process server (one event loop per test)."""

    def __init__(self, app: web.Application) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = TestClient(TestServer(app), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())
        self.access_token: str | None = None

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        version: str | None = "3",
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> tuple[int, str, Any, ClientResponse]:
        sent = dict(headers or {})
        if version is not None:
            sent["X-Kite-Version"] = version
        if auth and self.access_token is not None:
            sent["Authorization"] = f"token {API_KEY}:{self.access_token}"

        async def go() -> tuple[int, str, Any, ClientResponse]:
            response = await self.client.request(method, path, headers=sent, **kwargs)
            text = await response.text()
            body = json.loads(text) if "json" in response.content_type else text
            return response.status, response.content_type, body, response

        return self.loop.run_until_complete(go())

    def login(self) -> dict[str, Any]:
        status, _, _, response = self.request(
            "GET", f"/connect/login?api_key={API_KEY}&v=3", version=None, allow_redirects=False
        )
        assert status == 302
        request_token = parse_qs(urlsplit(response.headers["Location"]).query)["request_token"][0]
        checksum = hashlib.sha256((API_KEY + request_token + API_SECRET).encode()).hexdigest()
        status, _, body, _ = self.request(
            "POST",
            "/session/token",
            data={"api_key": API_KEY, "request_token": request_token, "checksum": checksum},
        )
        assert status == 200, body
        self.access_token = body["data"]["access_token"]
        return dict(body["data"])


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.wall = ManualClock(T0)
        self.venue = FakeVenue()
        self.market = FakeMarket()
        self.sessions = SessionManager(API_KEY, API_SECRET, "PAPER1", self.clock)
        self.faults = FaultInjector()
        self.app = build_rest_app(
            venue=self.venue,
            market=self.market,
            sessions=self.sessions,
            limiter=RateLimiter(self.wall),
            faults=self.faults,
            redirect_url=REDIRECT,
            admin_token=ADMIN,
            price_band=lambda instrument, quote: (round(quote.close * 0.9, 2), 1528.6),
        )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def api(world: World) -> Iterator[Api]:
    client = Api(world.app)
    client.login()
    yield client
    client.close()


def _error(body: Any) -> tuple[str, str]:
    assert body["status"] == "error"
    return body["error_type"], body["message"]


# --- session ------------------------------------------------------------------------------------


def test_login_redirects_with_request_token_and_echoes_redirect_params(world: World) -> None:
    api = Api(world.app)
    try:
        status, _, _, response = api.request(
            "GET",
            f"/connect/login?api_key={API_KEY}&v=3&redirect_params=state%3Dxyz",
            version=None,
            allow_redirects=False,
        )
    finally:
        api.close()

    location = urlsplit(response.headers["Location"])
    query = parse_qs(location.query)
    assert status == 302
    assert (location.netloc, location.path) == ("127.0.0.1:9", "/callback")
    assert {k: v[0] for k, v in query.items() if k != "request_token"} == {
        "app": "1",
        "state": "xyz",
        "action": "login",
        "type": "login",
        "status": "success",
    }
    assert len(query["request_token"][0]) >= 16


def test_login_wrong_api_key_is_input_exception(world: World) -> None:
    api = Api(world.app)
    try:
        status, _, body, _ = api.request("GET", "/connect/login?api_key=x&v=3", version=None)
    finally:
        api.close()

    assert status == 400
    assert _error(body)[0] == "InputException"


def test_session_token_returns_login_time_and_authorizes(api: Api) -> None:
    status, _, body, _ = api.request("GET", "/user/profile")

    assert status == 200
    assert body["data"]["user_id"] == "PAPER1"


def test_logout_then_requests_are_token_exceptions(api: Api) -> None:
    status, _, body, _ = api.request(
        "DELETE", f"/session/token?api_key={API_KEY}&access_token={api.access_token}"
    )
    assert (status, body) == (200, {"status": "success", "data": True})

    status, _, body, _ = api.request("GET", "/user/profile")

    assert status == 403
    assert _error(body) == ("TokenException", "Token is invalid or has expired.")


def test_expired_session_is_token_exception(api: Api, world: World) -> None:
    world.clock.advance(timedelta(days=1))

    status, _, body, _ = api.request("GET", "/orders")

    assert status == 403
    assert _error(body)[0] == "TokenException"


def test_missing_authorization_is_token_exception(api: Api) -> None:
    status, _, body, _ = api.request("GET", "/orders", auth=False)

    assert status == 403
    assert _error(body)[0] == "TokenException"


@pytest.mark.parametrize("version", [None, "2", ""])
def test_missing_or_wrong_kite_version_is_input_exception(api: Api, version: str | None) -> None:
    status, _, body, _ = api.request("GET", "/orders", version=version)

    assert status == 400
    error_type, message = _error(body)
    assert error_type == "InputException"
    assert "X-Kite-Version" in message


def test_unknown_route_is_kite_404(api: Api) -> None:
    status, content_type, body, _ = api.request("GET", "/gtt/triggers")

    assert (status, content_type) == (404, "application/json")
    assert _error(body) == ("GeneralException", "Route not found")


# --- market -----------------------------------------------------------------------------------


def test_quote_has_kites_keys_and_padded_depth(api: Api) -> None:
    status, _, body, _ = api.request("GET", "/quote?i=NSE:INFY&i=NSE:NOPE&i=408065")

    data = body["data"]
    assert status == 200
    assert set(data) == {"NSE:INFY", "408065"}  # no data: key left out
    infy = data["NSE:INFY"]
    assert infy["timestamp"] == "2026-08-18 09:30:00"
    assert infy["last_trade_time"] == "2026-08-18 09:29:56"
    assert infy["net_change"] == pytest.approx(23.3)
    assert (infy["lower_circuit_limit"], infy["upper_circuit_limit"]) == (1250.69, 1528.6)
    assert infy["depth"]["buy"][0] == {"price": 1412.9, "quantity": 100, "orders": 2}
    assert infy["depth"]["buy"][1:] == [{"price": 0, "quantity": 0, "orders": 0}] * 4
    assert [len(infy["depth"][side]) for side in ("buy", "sell")] == [5, 5]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/quote/ltp?i=NSE:INFY", {"instrument_token": 408065, "last_price": 1412.95}),
        (
            "/quote/ohlc?i=NSE:INFY",
            {
                "instrument_token": 408065,
                "last_price": 1412.95,
                "ohlc": {"open": 1396.0, "high": 1421.75, "low": 1395.55, "close": 1389.65},
            },
        ),
    ],
)
def test_ltp_and_ohlc_shapes(api: Api, world: World, path: str, expected: object) -> None:
    status, _, body, _ = api.request("GET", path)

    assert status == 200
    assert body["data"]["NSE:INFY"] == expected


def test_quote_more_than_500_instruments_is_input_exception(api: Api) -> None:
    query = "&".join(["i=NSE:INFY"] * 501)

    status, _, body, _ = api.request("GET", f"/quote?{query}")

    assert status == 400
    assert "too many instruments" in _error(body)[1]


@pytest.mark.parametrize(
    ("path", "exchange"), [("/instruments", "ALL"), ("/instruments/NSE", "NSE")]
)
def test_instruments_is_csv(api: Api, path: str, exchange: str) -> None:
    status, content_type, body, _ = api.request("GET", path)

    assert (status, content_type) == (200, "text/csv")
    assert body.splitlines()[1] == f"408065,{exchange}"


def test_historical_passes_ist_range_and_oi(api: Api, world: World) -> None:
    status, _, body, _ = api.request(
        "GET",
        "/instruments/historical/408065/minute",
        params={"from": "2026-08-18 09:15:00", "to": "2026-08-18 15:30:00", "oi": "1"},
    )

    assert status == 200
    assert body["data"]["candles"][0] == ["2026-08-18T09:15:00+0530", 1.0, 2.0, 0.5, 1.5, 100, 7]
    token, interval, start, end, oi = world.market.historical_calls[0]
    assert (token, interval, oi) == (408065, "minute", True)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-08-18T09:15:00+05:30",
        "2026-08-18T15:30:00+05:30",
    )


@pytest.mark.parametrize(
    ("interval", "days", "ok"),
    [
        ("minute", 60, True),
        ("minute", 61, False),
        ("5minute", 101, False),
        ("15minute", 200, True),
        ("60minute", 401, False),
        ("day", 2000, True),
        ("day", 2001, False),
    ],
)
def test_historical_range_limits_per_interval(
    api: Api, world: World, interval: str, days: int, ok: bool
) -> None:
    end = date(2026, 8, 18)
    params = {"from": (end - timedelta(days=days)).isoformat(), "to": end.isoformat()}
    world.wall.advance(timedelta(seconds=1))  # stay inside 3 requests/s

    status, _, body, _ = api.request(
        "GET", f"/instruments/historical/408065/{interval}", params=params
    )

    if ok:
        assert status == 200
    else:
        assert status == 400
        assert _error(body) == ("InputException", f"interval exceeds max limit: {days - 1} days")


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (
            "/instruments/historical/408065/2minute",
            {"from": "2026-08-18", "to": "2026-08-18"},
            "invalid interval",
        ),
        (
            "/instruments/historical/abc/minute",
            {"from": "2026-08-18", "to": "2026-08-18"},
            "invalid token",
        ),
        (
            "/instruments/historical/408065/minute",
            {"from": "18-08-2026", "to": "2026-08-18"},
            "`from`",
        ),
        ("/instruments/historical/408065/minute", {"to": "2026-08-18"}, "`from`"),
    ],
)
def test_historical_bad_input_is_input_exception(
    api: Api, path: str, params: dict[str, str], message: str
) -> None:
    status, _, body, _ = api.request("GET", path, params=params)

    assert status == 400
    error_type, text = _error(body)
    assert error_type == "InputException"
    assert message in text


# --- orders and portfolio ---------------------------------------------------------------------


def test_place_modify_cancel_reach_the_venue_with_form_text(api: Api, world: World) -> None:
    form = {"tradingsymbol": "INFY", "quantity": "1", "algo_id": "x"}

    placed = api.request("POST", "/orders/regular", data=form)
    modified = api.request("PUT", "/orders/regular/0000000000000000001", data={"price": "10"})
    cancelled = api.request("DELETE", "/orders/regular/0000000000000000001")

    assert [r[0] for r in (placed, modified, cancelled)] == [200, 200, 200]
    assert placed[2]["data"] == {"order_id": "0000000000000000001"}
    assert world.venue.calls == [
        ("place", ("regular", form)),
        ("modify", ("regular", "0000000000000000001", {"price": "10"})),
        ("cancel", ("regular", "0000000000000000001")),
    ]


def test_venue_error_becomes_its_envelope(api: Api) -> None:
    status, _, body, _ = api.request("POST", "/orders/amo", data={"quantity": "1"})

    assert status == 400
    assert _error(body) == ("InputException", "Invalid `variety`.")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/orders", [{"order_id": "1", "order_timestamp": "2026-08-18 09:30:00"}]),
        ("/orders/42", [{"order_id": "42", "status": "OPEN"}]),
        ("/orders/42/trades", [{"order_id": "42"}]),
        ("/trades", []),
        ("/portfolio/positions", {"net": [], "day": []}),
        ("/portfolio/holdings", []),
        ("/user/margins/equity", {"enabled": True, "net": 10000.0}),
    ],
)
def test_reads_return_the_venues_data(api: Api, path: str, data: object) -> None:
    status, _, body, _ = api.request("GET", path)

    assert (status, body) == (200, {"status": "success", "data": data})


def test_order_history_unknown_is_order_exception(api: Api) -> None:
    status, _, body, _ = api.request("GET", "/orders/404")

    assert status == 500
    assert _error(body)[0] == "OrderException"


@pytest.mark.parametrize("path", ["/margins/orders", "/charges/orders"])
def test_json_body_routes_take_a_list(api: Api, world: World, path: str) -> None:
    orders = [{"exchange": "NSE", "tradingsymbol": "INFY", "quantity": 1}]

    ok = api.request("POST", path, json=orders)
    bad = api.request("POST", path, data="not json", headers={"Content-Type": "application/json"})
    wrong = api.request("POST", path, json={"exchange": "NSE"})

    assert ok[0] == 200
    assert len(ok[2]["data"]) == 1
    assert world.venue.calls[-1][1] == (orders,)
    assert [bad[0], wrong[0]] == [400, 400]


def test_user_margins_unknown_segment_is_input_exception(api: Api) -> None:
    status, _, body, _ = api.request("GET", "/user/margins/crypto")

    assert status == 400
    assert _error(body)[0] == "InputException"


# --- limits, faults, admin -------------------------------------------------------------------


def test_second_quote_in_a_second_is_429(api: Api, world: World) -> None:
    first = api.request("GET", "/quote/ltp?i=NSE:INFY")
    second = api.request("GET", "/quote/ltp?i=NSE:INFY")
    world.wall.advance(timedelta(seconds=1))
    third = api.request("GET", "/quote/ltp?i=NSE:INFY")

    assert [first[0], second[0], third[0]] == [200, 429, 200]
    assert _error(second[2]) == ("NetworkException", "Too many requests")


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [
        ("http_429", 429, "NetworkException"),
        ("http_500", 500, "GeneralException"),
        ("http_502", 502, "DataException"),
        ("http_503", 503, "NetworkException"),
    ],
)
def test_scheduled_error_fault_answers_without_doing_the_work(
    api: Api, world: World, fault: str, status: int, error_type: str
) -> None:
    world.faults.replace(
        FaultPlan.from_mapping({"schedule": [{"route": "order_place", "nth": 1, "fault": fault}]})
    )

    got, _, body, _ = api.request("POST", "/orders/regular", data={"quantity": "1"})

    assert got == status
    assert _error(body)[0] == error_type
    assert world.venue.calls == []


def test_lost_response_places_the_order_and_drops_the_connection(api: Api, world: World) -> None:
    world.faults.replace(
        FaultPlan.from_mapping(
            {"schedule": [{"route": "order_place", "nth": 1, "fault": "lost_response"}]}
        )
    )

    with pytest.raises(ClientError):
        api.request("POST", "/orders/regular", data={"quantity": "1"})

    assert [name for name, _ in world.venue.calls] == ["place"]


def test_delay_fault_still_answers(api: Api, world: World) -> None:
    world.faults.replace(
        FaultPlan.from_mapping(
            {"schedule": [{"route": "other", "nth": 1, "fault": "delay", "seconds": 0.01}]}
        )
    )

    status, _, _, _ = api.request("GET", "/orders")

    assert status == 200
    assert world.faults.status()["injected"] == {"delay": 1}


def test_admin_faults_needs_the_admin_header(api: Api) -> None:
    status, _, body, _ = api.request("GET", "/_paper/faults", headers={ADMIN_HEADER: "wrong"})

    assert status == 403
    assert _error(body)[0] == "PermissionException"


def test_admin_faults_put_replaces_the_plan(api: Api, world: World) -> None:
    plan = {"seed": 4, "routes": {"quote": {"http_503": 1.0}}}

    status, _, body, _ = api.request(
        "PUT", "/_paper/faults", json=plan, headers={ADMIN_HEADER: ADMIN}
    )
    quote = api.request("GET", "/quote/ltp?i=NSE:INFY")

    assert status == 200
    assert body["data"]["plan"]["routes"]["quote"]["http_503"] == 1.0
    assert world.faults.plan.seed == 4
    assert quote[0] == 503


def test_admin_faults_put_invalid_plan_names_the_key(api: Api) -> None:
    plan = {"routes": {"quote": {"http_503": 2}}}

    status, _, body, _ = api.request(
        "PUT", "/_paper/faults", json=plan, headers={ADMIN_HEADER: ADMIN}
    )

    assert status == 400
    assert "routes.quote.http_503" in _error(body)[1]
