"""Kite order/trade/position rows → domain objects (every row of Zerodha's official mocks), the
status table, the exception classification and the broker over a hand-written client stub."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3.exceptions
from hypothesis import given
from hypothesis import strategies as st
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from data_contracts.charges import ChargesModel
from data_contracts.clock import ManualClock
from data_contracts.enums import (
    ChargeSegment,
    Exchange,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from data_contracts.errors import ContractError
from data_contracts.ids import ClientTag, OrderId, TradeId
from data_contracts.timeutil import IST
from execution.kite.broker import (
    BrokerError,
    BrokerUnavailable,
    KiteBroker,
    OrderOutcomeUnknown,
    OrderRejected,
    Request,
    SessionExpired,
    classify_error,
    order_params,
)
from execution.kite.orders import (
    KITE_ORDER_STATUSES,
    charge_segment,
    client_tag_of,
    order_status,
    parse_order,
    parse_position,
    parse_trade,
)
from tests.factories import order_intent

TS_INIT = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)
SECRET = "s3cr3t-access-token"  # noqa: S105 - a made-up token for the redaction test


def _mock(shared_fixtures: Path, name: str) -> Any:
    return json.loads((shared_fixtures / "kite-mocks" / name).read_text())


def _ist(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST).astimezone(UTC)


def _client_parsed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as ``kiteconnect`` hands them over (19-character timestamps → naive datetimes)."""
    parsed: list[dict[str, Any]] = KiteConnect("key")._format_response(copy.deepcopy(rows))
    return parsed


# --- statuses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kite", "status"),
    [(s.value, s) for s in OrderStatus]
    + [("CANCELLED AMO", OrderStatus.CANCELLED), ("UPDATE", OrderStatus.OPEN)],
)
def test_order_status_every_kite_status_maps_to_its_domain_status(
    kite: str, status: OrderStatus
) -> None:
    assert order_status(kite) is status


def test_order_status_table_final_statuses_are_exactly_kites_final_ones() -> None:
    final = {kite for kite, status in KITE_ORDER_STATUSES.items() if status.is_final}

    assert final == {"COMPLETE", "CANCELLED", "REJECTED", "CANCELLED AMO"}


@pytest.mark.parametrize("value", ["TRIGGERED", "open", "", None, 3])
def test_order_status_unknown_value_is_refused(value: object) -> None:
    with pytest.raises(ContractError, match="status"):
        order_status(value)


# --- orders -------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_parsed", [False, True], ids=["raw-json", "kiteconnect"])
def test_parse_order_every_mock_order_row_converts_field_by_field(
    shared_fixtures: Path, client_parsed: bool
) -> None:
    raw = _mock(shared_fixtures, "orders.json")["data"]
    tagged = [row | {"tag": f"KP{n}"} for n, row in enumerate(raw)]
    rows = _client_parsed(tagged) if client_parsed else tagged

    events = [parse_order(row, TS_INIT) for row in rows]

    for row, event in zip(raw, events, strict=True):
        when = row["exchange_update_timestamp"] or row["exchange_timestamp"]
        assert event.order_id == OrderId(row["order_id"])
        assert event.status is OrderStatus(row["status"])
        assert (event.quantity, event.filled_quantity) == (row["quantity"], row["filled_quantity"])
        assert event.average_price == row["average_price"]
        assert event.status_message == (row["status_message"] or "")
        assert event.ts_event == _ist(when or row["order_timestamp"])
        assert event.ts_init == TS_INIT
    assert [str(e.client_tag) for e in events] == [f"KP{n}" for n in range(len(raw))]


def test_parse_order_rejected_mock_row_keeps_kites_reason(shared_fixtures: Path) -> None:
    row = next(r for r in _mock(shared_fixtures, "orders.json")["data"] if r["tag"] == "icebergord")

    event = parse_order(row, TS_INIT)

    assert (event.client_tag, event.status) == (ClientTag("icebergord"), OrderStatus.REJECTED)
    assert event.is_final
    assert event.status_message.startswith("Insufficient funds")
    assert event.ts_event == _ist(row["order_timestamp"])  # never reached the exchange


@pytest.mark.parametrize(
    ("tag", "ours"),
    [(None, False), ("connect test order1", False), ("x" * 21, False), ("", False), (7, False),
     ("icebergord", True), ("KP0000000000000001", True)],
)  # fmt: skip
def test_client_tag_of_only_kite_tags_we_could_have_sent(tag: object, ours: bool) -> None:
    assert (client_tag_of({"tag": tag}) is not None) is ours


def test_parse_order_untagged_mock_row_is_refused_naming_the_tag(shared_fixtures: Path) -> None:
    row = _mock(shared_fixtures, "orders.json")["data"][0]

    with pytest.raises(ContractError, match="tag"):
        parse_order(row, TS_INIT)


def test_parse_order_mock_history_keeps_kites_status_sequence(shared_fixtures: Path) -> None:
    rows = _client_parsed(
        [row | {"tag": "hist1"} for row in _mock(shared_fixtures, "order_info.json")["data"]]
    )

    events = [parse_order(row, TS_INIT) for row in rows]

    assert [e.status.value for e in events] == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "OPEN PENDING",
        "OPEN",
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "MODIFIED",
        "OPEN",
    ]
    assert events[0].ts_event == _ist("2017-12-29 11:06:52")
    assert events[-1].ts_event == _ist("2017-12-29 11:08:16")
    assert not any(e.is_final for e in events)


def test_parse_order_mock_postback_is_a_complete_order_event(shared_fixtures: Path) -> None:
    payload = _mock(shared_fixtures, "postback.json") | {"tag": "post1"}

    event = parse_order(payload, TS_INIT)

    assert (event.status, event.filled_quantity, event.average_price) == (
        OrderStatus.COMPLETE,
        1,
        470.0,
    )
    assert event.order_id == OrderId("220303000308932")
    assert event.pending_quantity == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "LAPSED"}, "status"),
        ({"quantity": "1"}, "quantity"),
        ({"quantity": 0}, "quantity"),
        ({"filled_quantity": -1}, "filled_quantity"),
        ({"average_price": "470"}, "average_price"),
        ({"order_id": None}, "order_id"),
        ({"exchange_update_timestamp": None, "exchange_timestamp": None, "order_timestamp": None},
         "exchange_update_timestamp"),
        ({"exchange_update_timestamp": "03-03-2022"}, "value"),
    ],
)  # fmt: skip
def test_parse_order_malformed_field_is_refused_by_name(
    shared_fixtures: Path, change: dict[str, Any], field: str
) -> None:
    payload = _mock(shared_fixtures, "postback.json") | {"tag": "post1"} | change

    with pytest.raises(ContractError) as caught:
        parse_order(payload, TS_INIT)

    assert caught.value.field == field


# --- trades -------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_parsed", [False, True], ids=["raw-json", "kiteconnect"])
def test_parse_trade_every_mock_trade_row_converts_and_joins_the_tag(
    shared_fixtures: Path, client_parsed: bool
) -> None:
    raw = (
        _mock(shared_fixtures, "trades.json")["data"]
        + _mock(shared_fixtures, "order_trades.json")["data"]
    )
    rows = _client_parsed(raw) if client_parsed else raw
    tag_of = {raw[0]["order_id"]: ClientTag("KP1")}

    fills = [parse_trade(row, TS_INIT, tag_of) for row in rows]

    for row, fill in zip(raw, fills, strict=True):
        assert (fill.trade_id, fill.order_id) == (
            TradeId(row["trade_id"]),
            OrderId(row["order_id"]),
        )
        assert (fill.side.value, fill.product.value) == (row["transaction_type"], row["product"])
        assert (fill.quantity, fill.price) == (row["quantity"], row["average_price"])
        assert fill.instrument_token == row["instrument_token"]
        assert fill.ts_event == _ist(row["exchange_timestamp"])
        assert fill.charges == 0.0
    assert [f.client_tag for f in fills[:2]] == [ClientTag("KP1"), None]


def test_parse_trade_mock_rows_before_the_charges_horizon_carry_no_charges(
    shared_fixtures: Path,
) -> None:
    rows = _mock(shared_fixtures, "trades.json")["data"]  # 2021: before the rates' horizon

    fills = [parse_trade(row, TS_INIT, {}, charges=ChargesModel.default()) for row in rows]

    assert [f.charges for f in fills] == [0.0] * len(rows)


def _trade(**change: Any) -> dict[str, Any]:
    return {
        "trade_id": "10000001",
        "order_id": "1953341975595868160",
        "exchange": "NFO",
        "tradingsymbol": "NIFTY2681824700CE",
        "instrument_token": 12345602,
        "product": "NRML",
        "average_price": 101.5,
        "quantity": 65,
        "transaction_type": "BUY",
        "fill_timestamp": "2026-08-18 10:01:02",
        "order_timestamp": "10:01:01",
        "exchange_timestamp": "2026-08-18 10:01:02",
    } | change


@pytest.mark.parametrize(
    ("change", "segment"),
    [
        ({}, ChargeSegment.OPTIONS),
        ({"tradingsymbol": "NIFTY26AUGFUT", "transaction_type": "SELL"}, ChargeSegment.FUTURES),
        ({"exchange": "NSE", "tradingsymbol": "INFY", "product": "CNC"}, ChargeSegment.DELIVERY),
        ({"exchange": "NSE", "tradingsymbol": "INFY", "product": "MIS"}, ChargeSegment.INTRADAY),
    ],
)
def test_parse_trade_with_charges_model_prices_the_fill_as_one_leg(
    change: dict[str, Any], segment: ChargeSegment
) -> None:
    row = _trade(**change)
    model = ChargesModel.default()

    fill = parse_trade(row, TS_INIT, {}, charges=model)

    leg = model.leg(segment, fill.side, fill.price, fill.quantity, date(2026, 8, 18))
    assert fill.charges == pytest.approx(float(leg.total))
    assert fill.charges > 0


def test_parse_trade_exchange_the_model_does_not_price_carries_no_charges() -> None:
    fill = parse_trade(_trade(exchange="MCX"), TS_INIT, {}, charges=ChargesModel.default())

    assert fill.charges == 0.0


def test_charge_segment_derivative_symbol_without_contract_suffix_is_refused() -> None:
    with pytest.raises(ContractError, match="tradingsymbol"):
        charge_segment(Exchange.NFO, "NIFTY", Product.NRML)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"product": "CO"}, "product"), ({"transaction_type": "buy"}, "transaction_type"),
     ({"average_price": 0}, "price"), ({"quantity": 1.5}, "quantity"),
     ({"exchange_timestamp": None, "fill_timestamp": None}, "exchange_timestamp")],
)  # fmt: skip
def test_parse_trade_malformed_field_is_refused_by_name(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError) as caught:
        parse_trade(_trade(**change), TS_INIT, {})

    assert caught.value.field == field


# --- positions ----------------------------------------------------------------------------------


def test_parse_position_every_mock_row_in_a_product_we_trade_converts(
    shared_fixtures: Path,
) -> None:
    data = _mock(shared_fixtures, "positions.json")["data"]
    rows = [r for r in data["net"] + data["day"] if r["product"] in {"CNC", "MIS", "NRML"}]

    positions = [parse_position(row) for row in rows]

    assert len(positions) == 4
    for row, position in zip(rows, positions, strict=True):
        assert (position.instrument_token, position.tradingsymbol) == (
            row["instrument_token"],
            row["tradingsymbol"],
        )
        assert position.product is Product(row["product"])
        assert position.quantity == row["quantity"]
        assert position.average_price == (row["average_price"] if row["quantity"] else 0.0)
        assert position.realised_pnl == row["realised"]
        assert position.charges == 0.0
    assert [p.quantity for p in positions] == [1, 0, -3, 1]


def test_parse_position_mock_row_in_a_product_we_do_not_trade_is_refused(
    shared_fixtures: Path,
) -> None:
    row = next(
        r for r in _mock(shared_fixtures, "positions.json")["data"]["net"] if r["product"] == "CO"
    )

    with pytest.raises(ContractError) as caught:
        parse_position(row)

    assert (caught.value.field, caught.value.value) == ("product", "CO")


# --- exception classification -------------------------------------------------------------------

_REFUSED = requests.ConnectionError(
    urllib3.exceptions.MaxRetryError(
        None,  # type: ignore[arg-type]  # no pool: only the reason is read
        "/orders/regular",
        urllib3.exceptions.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]  # ditto
    )
)
_DROPPED = requests.ConnectionError(
    urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())
)


@pytest.mark.parametrize(
    ("error", "placing", "reading"),
    [
        (kex.TokenException("Token is invalid or has expired."), SessionExpired, SessionExpired),
        (kex.NetworkException("Too many requests", code=429), BrokerUnavailable, BrokerUnavailable),
        (kex.GeneralException("Too many requests", code=429), BrokerUnavailable, BrokerUnavailable),
        (kex.NetworkException("OMS unreachable"), OrderOutcomeUnknown, BrokerUnavailable),
        (kex.GeneralException("Internal server error"), OrderOutcomeUnknown, BrokerUnavailable),
        (kex.DataException("Bad gateway"), OrderOutcomeUnknown, BrokerUnavailable),
        (kex.DataException("Unknown Content-Type", code=504), OrderOutcomeUnknown,
         BrokerUnavailable),
        (kex.InputException("Invalid `quantity`"), OrderRejected, BrokerError),
        (kex.OrderException("Order not allowed"), OrderRejected, BrokerError),
        (kex.PermissionException("Not allowed"), OrderRejected, BrokerError),
        (kex.GeneralException("Insufficient funds", code=400), OrderRejected, BrokerError),
        (requests.ReadTimeout("read timed out"), OrderOutcomeUnknown, BrokerUnavailable),
        (_DROPPED, OrderOutcomeUnknown, BrokerUnavailable),
        (requests.exceptions.ChunkedEncodingError("cut"), OrderOutcomeUnknown, BrokerUnavailable),
        (requests.ConnectTimeout("connect timed out"), BrokerUnavailable, BrokerUnavailable),
        (_REFUSED, BrokerUnavailable, BrokerUnavailable),
    ],
    ids=[
        "token", "429-network", "429-general", "503-network", "500-general", "502-data",
        "504-data", "400-input", "500-order", "403-permission", "400-margin", "read-timeout",
        "connection-dropped", "chunked", "connect-timeout", "connection-refused",
    ],
)  # fmt: skip
def test_classify_error_follows_what_is_known_of_the_brokers_state(
    error: Exception, placing: type[BrokerError], reading: type[BrokerError]
) -> None:
    place = classify_error(error, Request.PLACE, "place_order")
    cancel = classify_error(error, Request.CANCEL, "cancel_order")
    read = classify_error(error, Request.READ, "orders")

    assert (type(place), type(cancel), type(read)) == (placing, placing, reading)
    assert place.code == (error.code if isinstance(error, kex.KiteException) else None)


def test_classify_error_message_names_the_request_and_never_the_token() -> None:
    error = kex.InputException(f"bad request with {SECRET} inside")

    classified = classify_error(error, Request.PLACE, "place_order tag=KP1", secrets=[SECRET])

    assert "place_order tag=KP1" in str(classified)
    assert "InputException" in str(classified)
    assert SECRET not in str(classified)


def test_classify_error_non_broker_exception_is_refused() -> None:
    with pytest.raises(ContractError, match="Kite or requests"):
        classify_error(ValueError("bug"), Request.READ, "orders")


# --- order parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, {"order_type": "LIMIT", "price": 100.05}),
        ({"order_type": OrderType.MARKET, "price": None, "market_protection": -1},
         {"order_type": "MARKET", "market_protection": -1}),
        ({"order_type": OrderType.MARKET, "price": None, "market_protection": 2.5},
         {"order_type": "MARKET", "market_protection": 2.5}),
        ({"order_type": OrderType.SL, "price": 100.05, "trigger_price": 100.0},
         {"order_type": "SL", "price": 100.05, "trigger_price": 100.0}),
        ({"order_type": OrderType.SL_M, "price": None, "trigger_price": 100.0,
          "market_protection": 3.0},
         {"order_type": "SL-M", "trigger_price": 100.0, "market_protection": 3}),
    ],
    ids=["limit", "market-auto", "market-pct", "sl", "sl-m"],
)  # fmt: skip
def test_order_params_carry_exactly_the_fields_of_the_order_type(
    overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    intent = order_intent(**overrides)

    params = order_params(intent)

    assert (
        params
        == {
            "variety": "regular",
            "exchange": "NFO",
            "tradingsymbol": intent.tradingsymbol,
            "transaction_type": "BUY",
            "quantity": 65,
            "product": "NRML",
            "validity": "DAY",
            "tag": "KP0000000000000001",
        }
        | expected
    )


def test_order_params_ttl_validity_is_refused() -> None:
    with pytest.raises(ContractError, match="validity"):
        order_params(order_intent(validity=Validity.TTL))


# --- the broker over a hand-written client ------------------------------------------------------


class StubKite:
    """Answers like ``KiteConnect`` from canned rows; ``fail`` raises instead; records calls."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.access_token: str | None = SECRET
        self.calls: list[tuple[str, Any]] = []
        self.orders_rows: list[dict[str, Any]] = []
        self.trades_rows: list[dict[str, Any]] = []
        self.positions_answer: dict[str, Any] = {"net": [], "day": []}
        self.holdings_rows: list[dict[str, Any]] = []
        self.margins_answer: dict[str, Any] = {}
        self.ltp_answer: dict[str, Any] = {}
        self.fail: Exception | None = None
        self.clock = clock
        self.call_ms = 0.0
        self.wall = 0.0  # seconds on the stub's monotonic timer (latency is timed on it)

    def _answer(self, name: str, args: Any, value: Any) -> Any:
        self.calls.append((name, args))
        if self.clock is not None:
            self.clock.advance(timedelta(milliseconds=self.call_ms))
        self.wall += self.call_ms / 1000
        if self.fail is not None:
            raise self.fail
        return value

    def place_order(self, **params: Any) -> Any:
        return self._answer("place_order", params, "1953341975595868160")

    def cancel_order(self, variety: str, order_id: str, parent_order_id: str | None = None) -> Any:
        return self._answer("cancel_order", (variety, order_id), order_id)

    def orders(self) -> list[dict[str, Any]]:
        return self._answer("orders", (), self.orders_rows)  # type: ignore[no-any-return]  # canned rows

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        rows = [r for r in self.orders_rows if r["order_id"] == order_id]
        return self._answer("order_history", order_id, rows)  # type: ignore[no-any-return]  # canned rows

    def trades(self) -> list[dict[str, Any]]:
        return self._answer("trades", (), self.trades_rows)  # type: ignore[no-any-return]  # canned rows

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        return self._answer("positions", (), self.positions_answer)  # type: ignore[no-any-return]  # canned rows

    def holdings(self) -> list[dict[str, Any]]:
        return self._answer("holdings", (), self.holdings_rows)  # type: ignore[no-any-return]  # canned rows

    def margins(self, segment: str | None = None) -> dict[str, Any]:
        return self._answer("margins", segment, self.margins_answer)  # type: ignore[no-any-return]  # canned rows

    def ltp(self, *instruments: str) -> dict[str, dict[str, Any]]:
        return self._answer("ltp", instruments, self.ltp_answer)  # type: ignore[no-any-return]  # canned rows

    def profile(self) -> dict[str, Any]:
        return self._answer("profile", (), {"user_id": "PAPER1"})  # type: ignore[no-any-return]  # canned rows


def _broker(stub: StubKite, **kwargs: Any) -> KiteBroker:
    clock = stub.clock or ManualClock(TS_INIT)
    return KiteBroker(stub, clock=clock, **kwargs)


def _order_row(
    order_id: str, tag: str | None, status: str = "OPEN", **change: Any
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "status": status,
        "tag": tag,
        "quantity": 65,
        "filled_quantity": 0,
        "average_price": 0,
        "status_message": None,
        "order_timestamp": "2026-08-18 10:01:01",
        "exchange_timestamp": "2026-08-18 10:01:01",
        "exchange_update_timestamp": "2026-08-18 10:01:02",
    } | change


def test_broker_place_order_sends_the_intents_params_and_returns_the_order_id() -> None:
    stub = StubKite()

    order_id = _broker(stub).place_order(order_intent())

    assert order_id == OrderId("1953341975595868160")
    assert stub.calls == [("place_order", order_params(order_intent()))]


def test_broker_place_order_paces_orders_to_the_rate_limit() -> None:
    stub = StubKite()
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    broker = _broker(stub, orders_per_second=10.0, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(11):
        broker.place_order(order_intent())

    assert now[0] == pytest.approx(1.0)  # 11 orders span a full second: at most 10 in any second
    assert len(slept) == 10


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (requests.ReadTimeout("held"), OrderOutcomeUnknown),
        (kex.NetworkException("Too many requests", code=429), BrokerUnavailable),
        (kex.InputException("Invalid `tag`"), OrderRejected),
        (kex.TokenException("expired"), SessionExpired),
    ],
)
def test_broker_place_order_failure_is_classified(
    error: Exception, raised: type[Exception]
) -> None:
    stub = StubKite()
    stub.fail = error

    with pytest.raises(raised) as caught:
        _broker(stub).place_order(order_intent())

    assert caught.value.__cause__ is error
    assert "KP0000000000000001" in str(caught.value)


def test_broker_orders_leave_out_orders_that_are_not_ours() -> None:
    stub = StubKite()
    stub.orders_rows = [_order_row("1", None), _order_row("2", "KP2"), _order_row("3", "by hand")]

    events = _broker(stub).orders()

    assert [(e.order_id, e.client_tag) for e in events] == [(OrderId("2"), ClientTag("KP2"))]


def test_broker_order_by_tag_finds_the_latest_order_with_the_tag_or_none() -> None:
    stub = StubKite()
    stub.orders_rows = [
        _order_row("1", "KP1", "REJECTED"),
        _order_row("2", "KP2"),
        _order_row("3", "KP1", "COMPLETE", filled_quantity=65, average_price=101.5),
    ]
    broker = _broker(stub)

    found = broker.order_by_tag(ClientTag("KP1"))
    missing = broker.order_by_tag(ClientTag("KP9"))

    assert found is not None
    assert (found.order_id, found.status) == (OrderId("3"), OrderStatus.COMPLETE)
    assert missing is None


def test_broker_fills_join_the_tag_from_the_order_book() -> None:
    stub = StubKite()
    stub.orders_rows = [_order_row("1953341975595868160", "KP1", "COMPLETE", filled_quantity=65,
                                   average_price=101.5)]  # fmt: skip
    stub.trades_rows = [_trade(), _trade(trade_id="2", order_id="99")]

    fills = _broker(stub, charges=ChargesModel.default()).fills()

    assert [f.client_tag for f in fills] == [ClientTag("KP1"), None]
    assert all(f.charges > 0 for f in fills)


def test_broker_positions_leave_out_products_we_do_not_trade(shared_fixtures: Path) -> None:
    stub = StubKite()
    stub.positions_answer = _mock(shared_fixtures, "positions.json")["data"]

    positions = _broker(stub).positions()

    assert [p.tradingsymbol for p in positions] == ["LEADMINI17DECFUT", "GOLDGUINEA17DECFUT"]


def test_broker_available_margin_is_the_equity_net(shared_fixtures: Path) -> None:
    stub = StubKite()
    stub.margins_answer = _mock(shared_fixtures, "margins_equity.json")["data"]

    margin = _broker(stub).available_margin()

    assert margin == pytest.approx(99725.05)
    assert stub.calls == [("margins", "equity")]


def test_broker_last_prices_ask_by_exchange_symbol_and_answer_by_token(
    shared_fixtures: Path,
) -> None:
    stub = StubKite()
    stub.ltp_answer = _mock(shared_fixtures, "ltp.json")["data"]
    broker = _broker(stub, symbols={408065: ("NSE", "INFY"), 256265: ("NSE", "NIFTY 50")})

    prices = broker.last_prices([408065, 256265])

    assert prices == {408065: 1074.35}  # NIFTY 50 has no price in the answer
    assert stub.calls == [("ltp", ("NSE:INFY", "NSE:NIFTY 50"))]
    with pytest.raises(ContractError, match="symbols"):
        broker.last_prices([1])


@pytest.mark.parametrize(
    ("error", "ok"), [(None, True), (kex.TokenException("Token is invalid or has expired."), False)]
)
def test_broker_profile_ok_is_false_only_when_the_token_is_refused(
    error: Exception | None, ok: bool
) -> None:
    stub = StubKite()
    stub.fail = error

    assert _broker(stub).profile_ok() is ok


def test_broker_profile_ok_transport_failure_raises_unavailable() -> None:
    stub = StubKite()
    stub.fail = requests.ConnectTimeout("down")

    with pytest.raises(BrokerUnavailable):
        _broker(stub).profile_ok()


@pytest.mark.parametrize(
    "read",
    [
        lambda b: b.orders(),
        lambda b: b.fills(),
        lambda b: b.positions(),
        lambda b: b.order_history(OrderId("1")),
        lambda b: b.available_margin(),
    ],
    ids=["orders", "fills", "positions", "history", "margin"],
)
def test_broker_reads_transport_failure_is_unavailable(
    read: Callable[[KiteBroker], object],
) -> None:
    stub = StubKite()
    stub.fail = _DROPPED

    with pytest.raises(BrokerUnavailable):
        read(_broker(stub))


def test_broker_latency_p95_none_before_any_call_then_measured_in_wall_time() -> None:
    stub = StubKite(ManualClock(TS_INIT))
    broker = _broker(stub, monotonic=lambda: stub.wall)
    before = broker.latency_p95_ms()

    for ms in range(1, 121):  # 120 calls: only the last 100 (21..120 ms) count
        stub.call_ms = float(ms)
        broker.orders()

    assert before is None
    assert broker.latency_p95_ms() == pytest.approx(115.0)


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=150))
def test_broker_latency_p95_is_a_sample_at_or_above_95_percent_of_the_window(
    durations: list[int],
) -> None:
    stub = StubKite(ManualClock(TS_INIT))
    broker = _broker(stub, monotonic=lambda: stub.wall)
    for ms in durations:
        stub.call_ms = float(ms)
        broker.orders()
    window = [float(ms) for ms in durations[-100:]]

    p95 = broker.latency_p95_ms()

    assert p95 is not None
    assert p95 == pytest.approx(min(window, key=lambda v: abs(v - p95)), abs=1e-6)
    assert sum(v <= p95 + 1e-6 for v in window) >= 0.95 * len(window)
    assert sum(v < p95 - 1e-6 for v in window) < 0.95 * len(window)


def test_broker_cancel_order_sends_a_regular_cancel() -> None:
    stub = StubKite()

    _broker(stub).cancel_order(OrderId("1953341975595868160"))

    assert stub.calls == [("cancel_order", ("regular", "1953341975595868160"))]
