"""The Kite tick boundary: ``TickParser`` turns a ``kiteconnect`` tick dict into a ``Tick`` (UTC
event time, best bid/ask from depth level 0) or a ``DeadLetter`` naming what was wrong, and never
raises on what the wire delivers. Plus ``TickerFeed``'s own rules that need no socket."""

from __future__ import annotations

import base64
import json
import logging
import math
import struct
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kiteconnect import KiteTicker

from data_contracts.clock import ManualClock
from data_contracts.enums import DeadLetterReason
from data_contracts.errors import ContractError
from data_contracts.feed import DeadLetter
from data_contracts.ids import InstrumentToken
from data_contracts.market import Tick
from data_contracts.timeutil import IST, UTC
from execution.kite.ticker import TickerFeed
from execution.kite.ticks import TickParser

INFY = InstrumentToken(408065)
NIFTY = InstrumentToken(256265)  # an index: segment 9, no depth, no volume
T_INIT = datetime(2026, 8, 18, 3, 46, 0, 250000, tzinfo=UTC)
GOLDEN_EPOCH = 1625461887  # the golden packets' exchange time: 2021-07-05 10:41:27 IST

Reason = DeadLetterReason


def decode_golden(shared_fixtures: Path, name: str) -> dict[str, Any]:
    """A golden packet of Zerodha's mocks, parsed by the real client (as on the wire)."""
    packet = base64.b64decode((shared_fixtures / "kite-mocks" / name).read_text())
    frame = struct.pack(">HH", 1, len(packet)) + packet
    (raw,) = KiteTicker("key", "token")._parse_binary(frame)
    return dict(raw)


def full_tick(**overrides: Any) -> dict[str, Any]:
    """A full-mode equity tick dict as ``kiteconnect`` builds it (naive local timestamps)."""
    local = datetime.fromtimestamp(GOLDEN_EPOCH)  # noqa: DTZ006  # what the client does
    raw: dict[str, Any] = {
        "tradable": True,
        "mode": "full",
        "instrument_token": INFY,
        "last_price": 1573.7,
        "last_traded_quantity": 7,
        "average_traded_price": 1570.37,
        "volume_traded": 1192471,
        "total_buy_quantity": 256443,
        "total_sell_quantity": 363009,
        "ohlc": {"open": 1569.15, "high": 1575.0, "low": 1561.05, "close": 1567.8},
        "change": 0.376,
        "last_trade_time": local,
        "oi": 0,
        "oi_day_high": 0,
        "oi_day_low": 0,
        "exchange_timestamp": local,
        "depth": {
            "buy": [{"quantity": 5, "price": 1573.4, "orders": 1}]
            + [{"quantity": 140, "price": 1573.0, "orders": 2}] * 4,
            "sell": [{"quantity": 172, "price": 1573.7, "orders": 3}]
            + [{"quantity": 44, "price": 1573.75, "orders": 3}] * 4,
        },
    }
    return raw | overrides


def with_level(side: str, **level: Any) -> dict[str, Any]:
    raw = full_tick()
    levels = list(raw["depth"][side])
    levels[0] = levels[0] | level
    raw["depth"] = raw["depth"] | {side: levels}
    return raw


def without(*keys: str) -> dict[str, Any]:
    return {k: v for k, v in full_tick().items() if k not in keys}


def parser(**kwargs: Any) -> TickParser:
    return TickParser([INFY, NIFTY], **kwargs)


# -- conversion --------------------------------------------------------------------------------


def test_parse_golden_full_packet_gives_tick_with_utc_time_and_best_levels(
    shared_fixtures: Path,
) -> None:
    raw = decode_golden(shared_fixtures, "ticker_full.packet")

    tick = parser().parse(raw, T_INIT)

    assert tick == Tick(
        instrument_token=INFY,
        ts_event=datetime(2021, 7, 5, 5, 11, 27, tzinfo=UTC),
        ts_init=T_INIT,
        last_price=1573.7,
        last_quantity=7,
        volume=1192471,
        bid=1573.4,
        ask=1573.7,
        bid_quantity=5,
        ask_quantity=172,
        oi=0,
    )
    assert isinstance(tick, Tick)
    assert tick.ts_event.tzinfo is UTC


def test_parse_golden_quote_packet_without_times_uses_ts_init_and_no_book(
    shared_fixtures: Path,
) -> None:
    raw = decode_golden(shared_fixtures, "ticker_quote.packet")

    tick = parser().parse(raw, T_INIT)

    assert isinstance(tick, Tick)
    assert (tick.ts_event, tick.last_price, tick.volume) == (T_INIT, 1573.15, 1175986)
    assert (tick.bid, tick.ask, tick.bid_quantity, tick.ask_quantity, tick.oi) == (
        None,
        None,
        0,
        0,
        None,
    )


@pytest.mark.parametrize(
    ("exchange_timestamp", "naive_zone", "expected"),
    [
        # Kite's documented case: naive IST wall time (the client on an IST machine).
        (datetime(2026, 8, 18, 9, 16), IST, datetime(2026, 8, 18, 3, 46, tzinfo=UTC)),  # noqa: DTZ001
        (datetime(2026, 8, 18, 15, 30), IST, datetime(2026, 8, 18, 10, 0, tzinfo=UTC)),  # noqa: DTZ001
        # An aware value is converted whatever the naive zone.
        (datetime(2026, 8, 18, 9, 16, tzinfo=IST), None, datetime(2026, 8, 18, 3, 46, tzinfo=UTC)),
        (datetime(2026, 8, 18, 3, 46, tzinfo=UTC), IST, datetime(2026, 8, 18, 3, 46, tzinfo=UTC)),
    ],
)
def test_parse_exchange_timestamp_becomes_aware_utc(
    exchange_timestamp: datetime, naive_zone: Any, expected: datetime
) -> None:
    raw = full_tick(exchange_timestamp=exchange_timestamp, last_trade_time=None)

    tick = parser(naive_zone=naive_zone).parse(raw, T_INIT)

    assert isinstance(tick, Tick)
    assert tick.ts_event == expected
    assert tick.ts_event.tzinfo is UTC


@given(epoch=st.integers(min_value=1, max_value=4_000_000_000))
def test_parse_default_zone_inverts_the_clients_fromtimestamp_on_any_host(epoch: int) -> None:
    local = datetime.fromtimestamp(epoch)  # noqa: DTZ006  # exactly what kiteconnect does

    tick = parser().parse(full_tick(exchange_timestamp=local), T_INIT)

    assert isinstance(tick, Tick)
    assert tick.ts_event.timestamp() == epoch


@pytest.mark.parametrize(
    ("exchange_timestamp", "last_trade_time", "expected"),
    [
        (None, datetime(2026, 8, 18, 3, 45, tzinfo=UTC), datetime(2026, 8, 18, 3, 45, tzinfo=UTC)),
        # Kite's zero epoch means "no time": fall back.
        (
            datetime.fromtimestamp(0, UTC),
            datetime(2026, 8, 18, 3, 45, tzinfo=UTC),
            datetime(2026, 8, 18, 3, 45, tzinfo=UTC),
        ),
        (None, None, T_INIT),
        (datetime.fromtimestamp(0, UTC), datetime.fromtimestamp(0, UTC), T_INIT),
    ],
)
def test_parse_event_time_falls_back_to_last_trade_time_then_ts_init(
    exchange_timestamp: datetime | None, last_trade_time: datetime | None, expected: datetime
) -> None:
    raw = full_tick(exchange_timestamp=exchange_timestamp, last_trade_time=last_trade_time)

    tick = parser().parse(raw, T_INIT)

    assert isinstance(tick, Tick)
    assert tick.ts_event == expected


@pytest.mark.parametrize(
    "raw",
    [
        {"tradable": False, "mode": "ltp", "instrument_token": NIFTY, "last_price": 24650.5},
        {
            "tradable": False,
            "mode": "full",
            "instrument_token": NIFTY,
            "last_price": 24650.5,
            "ohlc": {"high": 24700.0, "low": 24600.0, "open": 24610.0, "close": 24590.0},
            "change": 0.24,
            "exchange_timestamp": datetime(2026, 8, 18, 3, 46, tzinfo=UTC),
        },
    ],
    ids=["ltp", "full"],
)
def test_parse_index_without_depth_or_volume_gives_tick_without_book(raw: dict[str, Any]) -> None:
    tick = parser().parse(raw, T_INIT)

    assert isinstance(tick, Tick)
    assert (tick.instrument_token, tick.last_price, tick.volume, tick.last_quantity) == (
        NIFTY,
        24650.5,
        0,
        0,
    )
    assert (tick.bid, tick.ask, tick.oi) == (None, None, None)


@pytest.mark.parametrize(
    ("raw", "bid", "ask", "bid_quantity", "ask_quantity"),
    [
        (with_level("buy", price=0.0, quantity=0, orders=0), None, 1573.7, 0, 172),
        (with_level("sell", price=0.0, quantity=0, orders=0), 1573.4, None, 5, 0),
        (with_level("buy", price=1573.4, quantity=0), None, 1573.7, 0, 172),
        (with_level("sell", price=0.0, quantity=10), 1573.4, None, 5, 0),
        (full_tick(depth={"buy": [], "sell": []}), None, None, 0, 0),
        (full_tick(depth={"sell": [{"price": 1573.7, "quantity": 172}]}), None, 1573.7, 0, 172),
        (with_level("buy", price=1573.7), 1573.7, 1573.7, 5, 172),  # locked, not crossed
    ],
    ids=["no-bid", "no-ask", "bid-zero-qty", "ask-zero-price", "empty", "one-side", "locked"],
)
def test_parse_empty_depth_level_means_no_quote_on_that_side(
    raw: dict[str, Any],
    bid: float | None,
    ask: float | None,
    bid_quantity: int,
    ask_quantity: int,
) -> None:
    tick = parser().parse(raw, T_INIT)

    assert isinstance(tick, Tick)
    assert (tick.bid, tick.ask, tick.bid_quantity, tick.ask_quantity) == (
        bid,
        ask,
        bid_quantity,
        ask_quantity,
    )


def test_parse_deeper_depth_levels_are_not_used_or_checked() -> None:
    raw = full_tick()
    raw["depth"]["buy"] = [raw["depth"]["buy"][0], {"price": math.nan, "quantity": -1}]

    tick = parser().parse(raw, T_INIT)

    assert isinstance(tick, Tick)
    assert tick.bid == 1573.4


# -- refusals ----------------------------------------------------------------------------------

NAN = math.nan
INF = math.inf


@pytest.mark.parametrize(
    ("raw", "reason", "detail", "token"),
    [
        (without("instrument_token"), Reason.MALFORMED, "instrument_token is missing", None),
        (full_tick(instrument_token="408065"), Reason.MALFORMED, "must be an int", None),  # noqa: S106
        (full_tick(instrument_token=True), Reason.MALFORMED, "must be an int", None),
        (full_tick(instrument_token=408065.0), Reason.MALFORMED, "must be an int", None),
        (full_tick(instrument_token=0), Reason.MALFORMED, "instrument_token 0 is not > 0", None),
        (
            full_tick(instrument_token=738561),
            Reason.UNKNOWN_INSTRUMENT,
            "instrument_token 738561 is not one of the 2 known instruments",
            738561,
        ),
        (without("last_price"), Reason.MALFORMED, "last_price is missing", INFY),
        (full_tick(last_price="1573.7"), Reason.MALFORMED, "last_price must be a number", INFY),
        (full_tick(last_price=10**400), Reason.MALFORMED, "does not fit a float", INFY),
        (full_tick(last_price=NAN), Reason.NAN_PRICE, "last_price nan is not finite", INFY),
        (full_tick(last_price=-INF), Reason.NAN_PRICE, "last_price -inf is not finite", INFY),
        (full_tick(last_price=0), Reason.NON_POSITIVE_PRICE, "last_price 0.0 is not > 0", INFY),
        (full_tick(last_price=-1.5), Reason.NON_POSITIVE_PRICE, "last_price -1.5", INFY),
        (with_level("buy", price=NAN), Reason.NAN_PRICE, "depth.buy[0].price nan", INFY),
        (with_level("sell", price=INF), Reason.NAN_PRICE, "depth.sell[0].price inf", INFY),
        (with_level("buy", price=-0.05), Reason.NON_POSITIVE_PRICE, "depth.buy[0].price", INFY),
        (with_level("buy", price=1573.75), Reason.CROSSED_BOOK, "bid 1573.75 > ask 1573.7", INFY),
        (full_tick(volume_traded=-1), Reason.NEGATIVE_QUANTITY, "volume_traded -1", INFY),
        (full_tick(last_traded_quantity=-7), Reason.NEGATIVE_QUANTITY, "last_traded_q", INFY),
        (full_tick(oi=-65), Reason.NEGATIVE_QUANTITY, "oi -65 is negative", INFY),
        (with_level("sell", quantity=-5), Reason.NEGATIVE_QUANTITY, "sell[0].quantity -5", INFY),
        (full_tick(volume_traded=1.5), Reason.MALFORMED, "volume_traded must be an int", INFY),
        (with_level("buy", quantity="5"), Reason.MALFORMED, "buy[0].quantity must be an int", INFY),
        (full_tick(depth=[1, 2]), Reason.MALFORMED, "depth must be a mapping", INFY),
        (full_tick(depth={"buy": "x"}), Reason.MALFORMED, "depth.buy must be a list", INFY),
        (full_tick(depth={"buy": [7]}), Reason.MALFORMED, "depth.buy[0] must be a mapping", INFY),
        (full_tick(depth={"buy": [{"price": 1.0}]}), Reason.MALFORMED, "needs price", INFY),
        (full_tick(exchange_timestamp="2021-07-05"), Reason.MALFORMED, "must be a datetime", INFY),
        ([("instrument_token", INFY)], Reason.MALFORMED, "a tick must be a mapping", None),
    ],
)
def test_parse_bad_tick_gives_dead_letter_with_reason_and_exact_detail(
    raw: Any, reason: DeadLetterReason, detail: str, token: int | None
) -> None:
    letter = parser().parse(raw, T_INIT)

    assert isinstance(letter, DeadLetter)
    assert (letter.reason, letter.instrument_token, letter.source) == (reason, token, "kite")
    assert detail in letter.detail
    assert letter.ts_init == T_INIT
    assert letter.payload


def test_parse_dead_letter_payload_is_compact_json_with_iso_times() -> None:
    ts = datetime(2026, 8, 18, 9, 16, tzinfo=IST)
    raw = full_tick(exchange_timestamp=ts, last_price=-1.0)

    letter = parser(source="replay").parse(raw, T_INIT)

    assert isinstance(letter, DeadLetter)
    assert letter.source == "replay"
    assert letter.ts_event == ts
    payload = json.loads(letter.payload)
    assert payload["exchange_timestamp"] == "2026-08-18T09:16:00+05:30"
    assert (payload["instrument_token"], payload["last_price"]) == (INFY, -1.0)
    assert ", " not in letter.payload


def test_parse_unserialisable_payload_falls_back_to_a_bounded_repr() -> None:
    raw: dict[Any, Any] = full_tick(last_price=NAN)
    raw[("tuple", "key")] = list(range(10_000))

    letter = parser().parse(raw, T_INIT)

    assert isinstance(letter, DeadLetter)
    assert letter.reason is Reason.NAN_PRICE
    assert "instrument_token" in letter.payload
    assert len(letter.payload) < 1000


def test_parse_naive_ts_init_is_the_callers_error() -> None:
    with pytest.raises(ContractError, match="ts_init must be timezone-aware"):
        parser().parse(full_tick(), datetime(2026, 8, 18, 9, 16))  # noqa: DTZ001


@pytest.mark.parametrize("known", [[0], ["408065"], [True]])
def test_tick_parser_bad_known_token_is_refused(known: list[Any]) -> None:
    with pytest.raises(ContractError, match="known_tokens"):
        TickParser(known)


# -- never raises ------------------------------------------------------------------------------

FIELDS = (
    "instrument_token",
    "last_price",
    "last_traded_quantity",
    "volume_traded",
    "oi",
    "exchange_timestamp",
    "last_trade_time",
    "depth",
    "mode",
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±inf included
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.datetimes()
    | st.datetimes(timezones=st.timezones())
    | st.sampled_from([INFY, NIFTY])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.sampled_from(["buy", "sell", "price", "quantity"]) | st.text(), inner)
    ),
    max_leaves=12,
)
tick_dicts = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), values, max_size=10)


def assert_tick_or_dead_letter(result: object) -> None:
    assert isinstance(result, Tick | DeadLetter)
    if isinstance(result, Tick):
        assert result.instrument_token in (INFY, NIFTY)
        assert math.isfinite(result.last_price)
        assert result.last_price > 0
        assert result.ts_event.tzinfo is UTC
    else:
        assert isinstance(result.reason, DeadLetterReason)


@given(raw=tick_dicts)
def test_parse_arbitrary_dict_never_raises(raw: dict[str, Any]) -> None:
    assert_tick_or_dead_letter(parser().parse(raw, T_INIT))


@given(changes=st.dictionaries(st.sampled_from(FIELDS), values, min_size=1, max_size=4))
def test_parse_perturbed_real_tick_never_raises(changes: dict[str, Any]) -> None:
    assert_tick_or_dead_letter(parser().parse(full_tick(**changes), T_INIT))


@given(raw=values)
def test_parse_any_value_instead_of_a_dict_never_raises(raw: Any) -> None:
    assert_tick_or_dead_letter(parser().parse(raw, T_INIT))


prices = st.floats(min_value=0.05, max_value=1e6, allow_nan=False)
counts = st.integers(min_value=0, max_value=2**32 - 1)


@given(
    last_price=prices,
    bid=prices,
    spread=st.floats(min_value=0.0, max_value=100.0),
    quantities=st.tuples(counts, counts, st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1)),
    epoch=st.integers(min_value=1, max_value=4_000_000_000),
)
def test_parse_valid_tick_keeps_every_value(
    last_price: float,
    bid: float,
    spread: float,
    quantities: tuple[int, int, int, int],
    epoch: int,
) -> None:
    volume, oi, bid_quantity, ask_quantity = quantities
    ask = bid + spread
    raw = full_tick(
        last_price=last_price,
        volume_traded=volume,
        oi=oi,
        exchange_timestamp=datetime.fromtimestamp(epoch, UTC),
        depth={
            "buy": [{"price": bid, "quantity": bid_quantity, "orders": 1}],
            "sell": [{"price": ask, "quantity": ask_quantity, "orders": 1}],
        },
    )

    tick = parser().parse(raw, T_INIT)

    assert tick == Tick(
        instrument_token=INFY,
        ts_event=datetime.fromtimestamp(epoch, UTC),
        ts_init=T_INIT,
        last_price=last_price,
        last_quantity=7,
        volume=volume,
        bid=bid,
        ask=ask,
        bid_quantity=bid_quantity,
        ask_quantity=ask_quantity,
        oi=oi,
    )


# -- TickerFeed without a socket ---------------------------------------------------------------


class RecordingSocket:
    """Stands in for the ``KiteTicker`` the callbacks receive; records what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def subscribe(self, tokens: list[int]) -> bool:
        self.sent.append(("subscribe", tokens))
        return True

    def set_mode(self, mode: str, tokens: list[int]) -> bool:
        self.sent.append((mode, tokens))
        return True


def feed(clock: ManualClock | None = None, **overrides: Any) -> TickerFeed:
    values: dict[str, Any] = {
        "api_key": "kitepilot_paper",
        "access_token": "token",
        "root": "ws://127.0.0.1:1",
        "tokens": [INFY, NIFTY],
        "parser": parser(),
        "clock": clock or ManualClock(T_INIT),
        "silence_seconds": 5.0,
    }
    return TickerFeed(**(values | overrides))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"tokens": []}, "tokens"),
        ({"tokens": [INFY, 738561]}, "tokens"),  # unknown to the parser
        ({"tokens": [INFY, 0]}, "tokens"),
        ({"liquid_tokens": [738561]}, "liquid_tokens"),
        ({"liquid_tokens": []}, "liquid_tokens"),
        ({"mode": "FULL"}, "mode"),
        ({"silence_seconds": 0.0}, "silence_seconds"),
        ({"api_key": ""}, "api_key"),
    ],
)
def test_ticker_feed_bad_settings_are_refused(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError, match=f"TickerFeed.{field}"):
        feed(**overrides)


def test_ticker_feed_connect_subscribes_every_token_in_its_mode_each_time() -> None:
    subject = feed(mode="quote")
    socket = RecordingSocket()

    subject._on_connect(socket, None)
    subject._on_close(socket, 1006, "lost")
    subject._on_connect(socket, None)

    assert socket.sent == [("subscribe", [INFY, NIFTY]), ("quote", [INFY, NIFTY])] * 2
    assert subject.connected
    assert (subject.stats["connects"], subject.stats["reconnects"]) == (2, 1)
    assert subject.stats["disconnects"] == 1


def test_ticker_feed_drain_returns_converted_items_in_order_up_to_max() -> None:
    subject = feed()
    raws = [full_tick(last_price=1570.0 + i) for i in range(5)]
    raws.insert(2, full_tick(last_price=NAN))

    subject._on_ticks(None, raws)
    first = subject.drain(max_items=4)
    rest = subject.drain()

    assert [type(item) for item in first] == [Tick, Tick, DeadLetter, Tick]
    assert [item.last_price for item in first + rest if isinstance(item, Tick)] == [
        1570.0,
        1571.0,
        1572.0,
        1573.0,
        1574.0,
    ]
    assert subject.drain() == []
    assert (subject.stats["ticks"], subject.stats["dead_letters"]) == (5, 1)
    assert subject.stats["pending"] == 0
    assert subject.stats["last_tick_at"] == T_INIT


@pytest.mark.parametrize(
    ("connected", "heard", "after"),
    [
        (False, [], 60.0),  # never connected: nothing to cut
        (True, [INFY], 4.9),  # a liquid tick within the silence
        (True, [], 4.9),  # just connected
    ],
)
def test_ticker_feed_watchdog_leaves_a_live_or_absent_connection_alone(
    connected: bool, heard: list[int], after: float
) -> None:
    clock = ManualClock(T_INIT)
    subject = feed(clock, liquid_tokens=[INFY])
    if connected:
        subject._on_connect(RecordingSocket(), None)
    subject._on_ticks(None, [full_tick(instrument_token=token) for token in heard])
    clock.advance(timedelta(seconds=after))

    assert subject.watchdog(clock.now()) is False
    assert subject.stats["watchdog_reconnects"] == 0


def test_ticker_feed_start_after_close_is_refused() -> None:
    subject = feed()
    subject.close()

    with pytest.raises(ContractError, match=r"TickerFeed\.start"):
        subject.start()


@pytest.mark.parametrize(("code", "shown"), [("1000", False), ("1006", True), ("1011", True)])
def test_kiteconnect_normal_closure_is_not_logged_as_an_error(
    caplog: pytest.LogCaptureFixture, code: str, shown: bool
) -> None:
    import execution.kite.ticker  # noqa: F401 - installs the filter on kiteconnect's logger

    kite_log = logging.getLogger("kiteconnect.ticker")
    with caplog.at_level(logging.ERROR, logger="kiteconnect.ticker"):
        kite_log.error("Connection closed: {} - {}".format(code, "None"))  # kiteconnect's form

    assert any(code in r.getMessage() for r in caplog.records) is shown
