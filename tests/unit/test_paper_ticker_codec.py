"""The ticker's binary codec, judged by Zerodha's golden packets and the real client's parser."""

from __future__ import annotations

import base64
import json
import math
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kiteconnect import KiteTicker

from data_contracts.errors import ContractError
from execution.paper.ticker_codec import (
    HEARTBEAT,
    MODES,
    TickerMode,
    encode_frame,
    encode_framed_packet,
    encode_packet,
    frame_of_framed_packets,
    packet_length,
    price_divisor,
    split_frame,
)
from execution.paper.types import DepthLevel, Quote

MOCKS = Path("kite-mocks")
INFY = 408065  # NSE (segment 1)
NIFTY_50 = 256265  # an index (segment 9)
T0 = datetime(2026, 8, 18, 4, 0, 5, tzinfo=UTC)

# pykiteconnect's tick keys for the mock JSON's keys (the mock was written by another client).
CLIENT_KEYS = {
    "last_quantity": "last_traded_quantity",
    "average_price": "average_traded_price",
    "volume": "volume_traded",
    "buy_quantity": "total_buy_quantity",
    "sell_quantity": "total_sell_quantity",
    "timestamp": "exchange_timestamp",
}
TIME_KEYS = {"last_trade_time", "exchange_timestamp"}


def parse(frame: bytes) -> list[dict[str, Any]]:
    """The real client's parser (no connection is opened)."""
    ticks: list[dict[str, Any]] = KiteTicker("api_key", "access_token")._parse_binary(frame)
    return ticks


def quote(**overrides: Any) -> Quote:
    values: dict[str, Any] = {
        "instrument_token": INFY,
        "ts_event": T0,
        "last_price": 1573.7,
        "last_quantity": 7,
        "last_trade_time": T0 - timedelta(seconds=2),
        "average_price": 1570.37,
        "volume": 1192471,
        "buy_quantity": 256443,
        "sell_quantity": 363009,
        "open": 1569.15,
        "high": 1575.0,
        "low": 1561.05,
        "close": 1567.8,
        "bids": (DepthLevel(1573.4, 5, 1),),
        "asks": (DepthLevel(1573.7, 172, 3),),
    }
    return Quote(**(values | overrides))


def quote_from_mock(tick: dict[str, Any]) -> Quote:
    """A Quote holding the values of a golden ticker JSON."""

    def levels(side: str) -> tuple[DepthLevel, ...]:
        rows = tick.get("depth", {}).get(side, [])
        return tuple(DepthLevel(r["price"], r["quantity"], r["orders"]) for r in rows)

    def when(key: str) -> datetime | None:
        return datetime.fromisoformat(tick[key]) if key in tick else None

    return Quote(
        instrument_token=tick["instrument_token"],
        ts_event=when("timestamp") or T0,
        last_price=tick["last_price"],
        last_quantity=tick.get("last_quantity", 0),
        last_trade_time=when("last_trade_time"),
        average_price=tick.get("average_price", 0.0),
        volume=tick.get("volume", 0),
        buy_quantity=tick.get("buy_quantity", 0),
        sell_quantity=tick.get("sell_quantity", 0),
        open=tick.get("ohlc", {}).get("open", 0.0),
        high=tick.get("ohlc", {}).get("high", 0.0),
        low=tick.get("ohlc", {}).get("low", 0.0),
        close=tick.get("ohlc", {}).get("close", 0.0),
        oi=tick.get("oi", 0),
        oi_day_high=tick.get("oi_day_high", 0),
        oi_day_low=tick.get("oi_day_low", 0),
        bids=levels("buy"),
        asks=levels("sell"),
    )


def comparable(tick: dict[str, Any]) -> dict[str, Any]:
    """A tick with the client's key names, times as epoch seconds, and without ``change``
    (the mock's is the absolute change; pykiteconnect computes a percentage from the close)."""
    out: dict[str, Any] = {}
    for key, value in tick.items():
        name = CLIENT_KEYS.get(key, key)
        if name == "change":
            continue
        if name in TIME_KEYS:
            # The mock writes ISO text in IST; the client gives naive local datetimes.
            moment = datetime.fromisoformat(value) if isinstance(value, str) else value
            out[name] = moment.timestamp()
        else:
            out[name] = value
    return out


@pytest.mark.parametrize(("name", "mode"), [("ticker_quote", "quote"), ("ticker_full", "full")])
def test_encode_packet_golden_values_equal_golden_packet(
    shared_fixtures: Path, name: str, mode: TickerMode
) -> None:
    tick = json.loads((shared_fixtures / MOCKS / f"{name}.json").read_text())
    golden = base64.b64decode((shared_fixtures / MOCKS / f"{name}.packet").read_text())

    packet = encode_packet(quote_from_mock(tick), mode)

    assert packet == golden
    assert len(packet) == {"quote": 44, "full": 184}[mode]


@pytest.mark.parametrize(
    ("name", "mode"), [("ticker_ltp", "ltp"), ("ticker_quote", "quote"), ("ticker_full", "full")]
)
def test_client_parse_our_frame_gives_golden_json_values(
    shared_fixtures: Path, name: str, mode: TickerMode
) -> None:
    tick = json.loads((shared_fixtures / MOCKS / f"{name}.json").read_text())

    (decoded,) = parse(encode_frame([encode_packet(quote_from_mock(tick), mode)]))

    assert comparable(decoded) == comparable(tick)


def test_client_parse_golden_packet_and_ours_agree(shared_fixtures: Path) -> None:
    tick = json.loads((shared_fixtures / MOCKS / "ticker_full.json").read_text())
    golden = base64.b64decode((shared_fixtures / MOCKS / "ticker_full.packet").read_text())

    ours = parse(encode_frame([encode_packet(quote_from_mock(tick), "full")]))

    assert ours == parse(encode_frame([golden]))


@pytest.mark.parametrize(
    ("mode", "segment", "length"),
    [
        ("ltp", 1, 8),
        ("quote", 1, 44),
        ("full", 2, 184),
        ("ltp", 9, 8),
        ("quote", 9, 28),
        ("full", 9, 32),
    ],
)
def test_packet_length_mode_and_segment_give_kite_sizes(
    mode: TickerMode, segment: int, length: int
) -> None:
    token = 1000 * 256 + segment
    assert packet_length(mode, segment) == length
    assert len(encode_packet(quote(instrument_token=token), mode)) == length


def test_encode_packet_index_quote_sends_hloc_order_and_change() -> None:
    index = Quote(
        instrument_token=NIFTY_50,
        ts_event=T0,
        last_price=24410.5,
        open=24300.0,
        high=24450.25,
        low=24280.1,
        close=24350.0,
        tradable=False,
    )

    packet = encode_packet(index, "full")
    (decoded,) = parse(encode_frame([packet]))

    assert struct.unpack(">6Ii", packet[:28]) == (
        NIFTY_50,
        2441050,
        2445025,
        2428010,
        2430000,
        2435000,
        2441050 - 2435000,
    )
    assert decoded == {
        "tradable": False,
        "mode": "full",
        "instrument_token": NIFTY_50,
        "last_price": 24410.5,
        "ohlc": {"high": 24450.25, "low": 24280.1, "open": 24300.0, "close": 24350.0},
        "change": (24410.5 - 24350.0) * 100 / 24350.0,
        "exchange_timestamp": decoded["exchange_timestamp"],
    }
    assert decoded["exchange_timestamp"].timestamp() == T0.timestamp()


def test_encode_packet_index_below_close_sends_negative_change() -> None:
    index = Quote(instrument_token=NIFTY_50, ts_event=T0, last_price=24000.0, close=24100.0)

    packet = encode_packet(index, "quote")

    assert struct.unpack(">i", packet[24:28]) == (-10000,)


@pytest.mark.parametrize(
    ("segment", "price"),
    [(3, 83.1234567), (6, 83.1234), (12, 5432.1), (1, 1573.65), (2, 0.05)],
)
def test_encode_packet_segment_divisor_round_trips_price(segment: int, price: float) -> None:
    token = 4321 * 256 + segment

    (decoded,) = parse(
        encode_frame([encode_packet(quote(instrument_token=token, last_price=price), "ltp")])
    )

    assert decoded["last_price"] == price
    assert price_divisor(segment) in (100.0, 10_000.0, 10_000_000.0)


def test_encode_packet_missing_depth_levels_are_zero_entries() -> None:
    (decoded,) = parse(encode_frame([encode_packet(quote(bids=(), asks=()), "full")]))

    empty = {"quantity": 0, "price": 0.0, "orders": 0}
    assert decoded["depth"] == {"buy": [empty] * 5, "sell": [empty] * 5}


def test_encode_packet_missing_last_trade_time_sends_zero() -> None:
    packet = encode_packet(quote(last_trade_time=None), "full")

    assert struct.unpack(">I", packet[44:48]) == (0,)


def test_encode_framed_packet_is_length_prefix_plus_packet() -> None:
    q = quote()
    for mode in MODES:
        packet = encode_packet(q, mode)
        assert encode_framed_packet(q, mode) == struct.pack(">H", len(packet)) + packet


def test_frame_of_framed_packets_equals_encode_frame() -> None:
    quotes = [quote(instrument_token=INFY), quote(instrument_token=NIFTY_50)]
    modes: list[TickerMode] = ["full", "quote"]

    framed = frame_of_framed_packets(
        [encode_framed_packet(q, m) for q, m in zip(quotes, modes, strict=True)]
    )

    assert framed == encode_frame([encode_packet(q, m) for q, m in zip(quotes, modes, strict=True)])


def test_split_frame_heartbeat_and_empty_hold_no_packets() -> None:
    client = KiteTicker("api_key", "access_token")
    assert split_frame(HEARTBEAT) == []
    assert client._split_packets(HEARTBEAT) == []
    assert split_frame(encode_frame([])) == []
    assert HEARTBEAT == b"\x00"


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x00\x01\x00", "truncated at packet 0"),
        (b"\x00\x01\x00\x08\x00", "truncated at packet 0"),
        (b"\x00\x00\x01", "1 bytes after the packets"),
    ],
)
def test_split_frame_malformed_raises(frame: bytes, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        split_frame(frame)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"last_price": -1.0}, "last_price"),
        ({"last_price": math.nan}, "last_price"),
        ({"last_price": 1e307}, "last_price"),  # finite, but its paise overflow a float
        ({"last_price": 10**400}, "last_price"),  # an int no float holds
        ({"volume": 10**400}, "volume"),
        ({"asks": (DepthLevel(1.7e308, 5, 1),)}, r"asks\[0\].price"),
        ({"close": math.inf}, "close"),
        ({"volume": 2**32}, "volume"),
        ({"bids": (DepthLevel(10.0, 5, 70_000),)}, r"bids\[0\].orders"),
        ({"asks": (DepthLevel(-0.05, 5, 1),)}, r"asks\[0\].price"),
    ],
)
def test_encode_packet_value_off_the_wire_raises_naming_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ContractError, match=rf"TickerPacket\.{field} must be a finite number"):
        encode_packet(quote(**overrides), "full")


def test_encode_packet_more_than_five_levels_raises() -> None:
    six = tuple(DepthLevel(100.0 - i, 1, 1) for i in range(6))
    with pytest.raises(ContractError, match="at most 5 levels a side"):
        encode_packet(quote(bids=six), "full")


def test_encode_packet_unknown_mode_raises() -> None:
    with pytest.raises(ContractError, match=r"TickerPacket\.mode must be one of"):
        encode_packet(quote(), "snap")  # type: ignore[arg-type]  # the wrong value is the test


def test_encode_frame_too_many_packets_raises() -> None:
    with pytest.raises(ContractError, match="must be at most 65535 a frame"):
        encode_frame([b"\x00" * 8] * 65536)


# -- round trip: whatever we encode, the real client decodes to the quote's values ---------------

U32 = st.integers(0, 2**32 - 1)
SEGMENTS = st.sampled_from([1, 2, 3, 4, 5, 6, 7, 9, 12])


@st.composite
def quotes(draw: st.DrawFn) -> tuple[Quote, int]:
    segment = draw(SEGMENTS)
    token = draw(st.integers(1, 2**24 - 1)) * 256 + segment
    div = price_divisor(segment)

    def price() -> float:
        return draw(U32) / div

    def levels() -> tuple[DepthLevel, ...]:
        n = draw(st.integers(0, 5))
        return tuple(
            DepthLevel(price(), draw(U32), draw(st.integers(0, 2**16 - 1))) for _ in range(n)
        )

    def moment() -> datetime:
        return datetime.fromtimestamp(draw(st.integers(0, 2**32 - 1)), UTC)

    q = Quote(
        instrument_token=token,
        ts_event=moment(),
        last_price=price(),
        last_quantity=draw(U32),
        last_trade_time=draw(st.none() | st.builds(moment)),
        average_price=price(),
        volume=draw(U32),
        buy_quantity=draw(U32),
        sell_quantity=draw(U32),
        open=price(),
        high=price(),
        low=price(),
        close=price(),
        oi=draw(U32),
        oi_day_high=draw(U32),
        oi_day_low=draw(U32),
        bids=levels(),
        asks=levels(),
    )
    return q, segment


def expected_tick(q: Quote, mode: TickerMode, segment: int) -> dict[str, Any]:
    """What pykiteconnect should give for ``q`` (times as epoch seconds)."""
    tick: dict[str, Any] = {
        "tradable": segment != 9,
        "mode": mode,
        "instrument_token": q.instrument_token,
        "last_price": q.last_price,
    }
    if mode == "ltp":
        return tick
    tick["ohlc"] = {"open": q.open, "high": q.high, "low": q.low, "close": q.close}
    tick["change"] = (q.last_price - q.close) * 100 / q.close if q.close else 0
    if segment == 9:
        if mode == "full":
            tick["exchange_timestamp"] = math.floor(q.ts_event.timestamp())
        return tick
    tick |= {
        "last_traded_quantity": q.last_quantity,
        "average_traded_price": q.average_price,
        "volume_traded": q.volume,
        "total_buy_quantity": q.buy_quantity,
        "total_sell_quantity": q.sell_quantity,
    }
    if mode == "full":
        empty = {"quantity": 0, "price": 0.0, "orders": 0}

        def side(levels: tuple[DepthLevel, ...]) -> list[dict[str, Any]]:
            given_levels = [
                {"quantity": v.quantity, "price": v.price, "orders": v.orders} for v in levels
            ]
            return given_levels + [empty] * (5 - len(levels))

        tick |= {
            "last_trade_time": 0
            if q.last_trade_time is None
            else math.floor(q.last_trade_time.timestamp()),
            "oi": q.oi,
            "oi_day_high": q.oi_day_high,
            "oi_day_low": q.oi_day_low,
            "exchange_timestamp": math.floor(q.ts_event.timestamp()),
            "depth": {"buy": side(q.bids), "sell": side(q.asks)},
        }
    return tick


def epochs(tick: dict[str, Any]) -> dict[str, Any]:
    return {k: v.timestamp() if k in TIME_KEYS else v for k, v in tick.items()}


@given(drawn=st.lists(quotes(), min_size=1, max_size=4), mode=st.sampled_from(MODES))
def test_encode_frame_any_quotes_client_decodes_same_values(
    drawn: list[tuple[Quote, int]], mode: TickerMode
) -> None:
    frame = encode_frame([encode_packet(q, mode) for q, _ in drawn])

    decoded = parse(frame)

    assert [epochs(t) for t in decoded] == [expected_tick(q, mode, s) for q, s in drawn]
    assert split_frame(frame) == [encode_packet(q, mode) for q, _ in drawn]
