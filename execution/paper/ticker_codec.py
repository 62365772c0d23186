"""Kite's binary ticker protocol, the server's half: a :class:`Quote` into packets and frames.

Layouts follow pykiteconnect's ``KiteTicker._parse_binary`` (the judge) and reference
``kite-connect.md`` §3.3-3.4. Every integer is big-endian and unsigned unless noted:

* a frame is ``u16 packet count`` then, per packet, ``u16 length`` and the packet's bytes;
* ``ltp`` (8 bytes): token, last price;
* ``quote`` (44): token, last price, last quantity, average price, volume, total buy quantity,
  total sell quantity, open, high, low, close;
* ``full`` (184): the quote fields, last trade time, oi, oi day high, oi day low, exchange time,
  then ten depth entries (five bids, five asks, best first) of quantity ``u32``, price ``u32``,
  orders ``u16`` and two padding bytes;
* an index (segment 9, ``token & 0xff``) sends 8 / 28 / 32 bytes: token, last price, high, low,
  open, close (H, L, O, C order), the net change from the close (signed ``i32``; the Python
  client ignores it and computes its own), and in full mode the exchange time.

Prices travel as integers: rupees x 100 (paise), except currency segments (CDS x 10^7, BCD and
NCO x 10^4). Times are UTC epoch seconds (sub-second parts truncated); a missing
``last_trade_time`` is sent as 0. Missing depth levels are sent as zero entries.

Encoding is a single ``struct.pack`` per packet with precompiled formats, so a publish of 3,000
instruments stays cheap; :func:`encode_framed_packet` includes the packet's length prefix so a
frame is a count plus one ``bytes.join`` (what :class:`~execution.paper.ticker_hub.TickerHub` does).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from datetime import datetime
from typing import Final, Literal, get_args

from data_contracts.errors import ContractError
from execution.paper.types import DEPTH_LEVELS, Quote

__all__ = [
    "HEARTBEAT",
    "INDEX_SEGMENT",
    "MODES",
    "TickerMode",
    "encode_frame",
    "encode_framed_packet",
    "encode_packet",
    "frame_of_framed_packets",
    "packet_length",
    "price_divisor",
    "segment_of",
    "split_frame",
]

TickerMode = Literal["ltp", "quote", "full"]
MODES: Final[tuple[TickerMode, ...]] = get_args(TickerMode)

# What the server sends when there is no data: one byte, which clients skip (pykiteconnect
# ignores binary payloads of 4 bytes or fewer for ticks).
HEARTBEAT: Final = b"\x00"

# Segment ids (``instrument_token & 0xff``), pykiteconnect's EXCHANGE_MAP.
INDEX_SEGMENT: Final = 9
_CDS_SEGMENT: Final = 3
_BCD_SEGMENT: Final = 6
_NCO_SEGMENT: Final = 12

_U16_MAX: Final = 0xFFFF
_I32_MIN: Final = -(2**31)
_I32_MAX: Final = 2**31 - 1

_DEPTH_ENTRY: Final = "IIH2x"
_FORMATS: Final[dict[tuple[TickerMode, bool], str]] = {
    ("ltp", False): "2I",
    ("quote", False): "11I",
    ("full", False): "16I" + _DEPTH_ENTRY * (2 * DEPTH_LEVELS),
    ("ltp", True): "2I",
    ("quote", True): "6Ii",
    ("full", True): "6IiI",
}
# (mode, is_index) -> (packet, length-prefixed packet)
_STRUCTS: Final[dict[tuple[TickerMode, bool], tuple[struct.Struct, struct.Struct]]] = {
    key: (struct.Struct(">" + fmt), struct.Struct(">H" + fmt)) for key, fmt in _FORMATS.items()
}
_COUNT: Final = struct.Struct(">H")
_EMPTY_LEVEL: Final = (0, 0, 0)


def segment_of(instrument_token: int) -> int:
    """The exchange segment id of a token (its low byte): 1 NSE, 2 NFO, ..., 9 indices."""
    return instrument_token & 0xFF


def price_divisor(segment: int) -> float:
    """What the client divides a price integer by: 10^7 for CDS, 10^4 for BCD/NCO, else 100."""
    if segment == _CDS_SEGMENT:
        return 10_000_000.0
    if segment in (_BCD_SEGMENT, _NCO_SEGMENT):
        return 10_000.0
    return 100.0


def packet_length(mode: TickerMode, segment: int) -> int:
    """The packet size of ``mode`` for ``segment``: 8/44/184 bytes, or 8/28/32 for an index."""
    return _structs(mode, segment == INDEX_SEGMENT)[0].size


def encode_packet(quote: Quote, mode: TickerMode, *, segment: int | None = None) -> bytes:
    """One packet body (no length prefix). ``segment`` defaults to the token's low byte."""
    seg = segment_of(quote.instrument_token) if segment is None else segment
    body, _ = _structs(mode, seg == INDEX_SEGMENT)
    return _pack(body, quote, mode, seg, prefix=None)


def encode_framed_packet(quote: Quote, mode: TickerMode, *, segment: int | None = None) -> bytes:
    """One packet with its ``u16`` length prefix, ready to be joined into a frame."""
    seg = segment_of(quote.instrument_token) if segment is None else segment
    body, framed = _structs(mode, seg == INDEX_SEGMENT)
    return _pack(framed, quote, mode, seg, prefix=body.size)


def encode_frame(packets: Sequence[bytes]) -> bytes:
    """A binary frame: ``u16`` count, then ``u16`` length and body for each packet."""
    _check_count(len(packets))
    parts = [_COUNT.pack(len(packets))]
    for packet in packets:
        if len(packet) > _U16_MAX:
            raise ContractError(
                "TickerFrame", "packet", len(packet), f"length must be <= {_U16_MAX} bytes"
            )
        parts.append(_COUNT.pack(len(packet)))
        parts.append(packet)
    return b"".join(parts)


def frame_of_framed_packets(framed_packets: Sequence[bytes]) -> bytes:
    """A frame from packets that already carry their length prefix
    (:func:`encode_framed_packet`)."""
    _check_count(len(framed_packets))
    return _COUNT.pack(len(framed_packets)) + b"".join(framed_packets)


def split_frame(frame: bytes) -> list[bytes]:
    """The packet bodies of a frame (the inverse of :func:`encode_frame`); a heartbeat or any
    payload shorter than two bytes holds no packets. Raises on a truncated frame."""
    if len(frame) < _COUNT.size:
        return []
    (count,) = _COUNT.unpack_from(frame, 0)
    packets: list[bytes] = []
    offset = _COUNT.size
    for index in range(count):
        if offset + _COUNT.size > len(frame):
            raise ContractError("TickerFrame", "frame", len(frame), f"truncated at packet {index}")
        (length,) = _COUNT.unpack_from(frame, offset)
        offset += _COUNT.size
        if offset + length > len(frame):
            raise ContractError("TickerFrame", "frame", len(frame), f"truncated at packet {index}")
        packets.append(frame[offset : offset + length])
        offset += length
    if offset != len(frame):
        raise ContractError(
            "TickerFrame", "frame", len(frame), f"has {len(frame) - offset} bytes after the packets"
        )
    return packets


def _check_count(count: int) -> None:
    if count > _U16_MAX:
        raise ContractError("TickerFrame", "packets", count, f"must be at most {_U16_MAX} a frame")


def _structs(mode: TickerMode, is_index: bool) -> tuple[struct.Struct, struct.Struct]:
    try:
        return _STRUCTS[(mode, is_index)]
    except KeyError:
        raise ContractError("TickerPacket", "mode", mode, f"must be one of {MODES}") from None


def _pack(
    layout: struct.Struct, quote: Quote, mode: TickerMode, segment: int, *, prefix: int | None
) -> bytes:
    try:
        values = _values(quote, mode, segment)
        return layout.pack(*values) if prefix is None else layout.pack(prefix, *values)
    except ContractError:
        raise
    except (struct.error, ValueError, OverflowError) as exc:
        raise _diagnose(quote, segment) from exc


def _values(quote: Quote, mode: TickerMode, segment: int) -> tuple[int, ...]:
    div = price_divisor(segment)
    last = round(quote.last_price * div)
    if mode == "ltp":
        return (quote.instrument_token, last)
    close = round(quote.close * div)
    if segment == INDEX_SEGMENT:
        ohlc = (round(quote.high * div), round(quote.low * div), round(quote.open * div), close)
        change = min(max(last - close, _I32_MIN), _I32_MAX)  # never near the bounds in practice
        index = (quote.instrument_token, last, *ohlc, change)
        return index if mode == "quote" else (*index, _epoch(quote.ts_event))
    head = (
        quote.instrument_token,
        last,
        quote.last_quantity,
        round(quote.average_price * div),
        quote.volume,
        quote.buy_quantity,
        quote.sell_quantity,
        round(quote.open * div),
        round(quote.high * div),
        round(quote.low * div),
        close,
    )
    if mode == "quote":
        return head
    if len(quote.bids) > DEPTH_LEVELS or len(quote.asks) > DEPTH_LEVELS:
        raise ContractError(
            "TickerPacket",
            "depth",
            (len(quote.bids), len(quote.asks)),
            f"must have at most {DEPTH_LEVELS} levels a side",
            str(quote.instrument_token),
        )
    depth: list[int] = []
    for side in (quote.bids, quote.asks):
        for level in side:
            depth += (level.quantity, round(level.price * div), level.orders)
        depth += _EMPTY_LEVEL * (DEPTH_LEVELS - len(side))
    last_trade = 0 if quote.last_trade_time is None else _epoch(quote.last_trade_time)
    return (
        *head,
        last_trade,
        quote.oi,
        quote.oi_day_high,
        quote.oi_day_low,
        _epoch(quote.ts_event),
        *depth,
    )


def _epoch(ts: datetime) -> int:
    return math.floor(ts.timestamp())


def _diagnose(quote: Quote, segment: int) -> ContractError:
    """Name the first field that does not fit its wire type (the slow path of a failed pack)."""
    div = price_divisor(segment)
    fields: list[tuple[str, object, float]] = [
        ("instrument_token", quote.instrument_token, 1),
        ("last_price", quote.last_price, div),
        ("last_quantity", quote.last_quantity, 1),
        ("average_price", quote.average_price, div),
        ("volume", quote.volume, 1),
        ("buy_quantity", quote.buy_quantity, 1),
        ("sell_quantity", quote.sell_quantity, 1),
        ("open", quote.open, div),
        ("high", quote.high, div),
        ("low", quote.low, div),
        ("close", quote.close, div),
        ("oi", quote.oi, 1),
        ("oi_day_high", quote.oi_day_high, 1),
        ("oi_day_low", quote.oi_day_low, 1),
        ("ts_event", quote.ts_event.timestamp(), 1),
    ]
    if quote.last_trade_time is not None:
        fields.append(("last_trade_time", quote.last_trade_time.timestamp(), 1))
    for side, levels in (("bids", quote.bids), ("asks", quote.asks)):
        for i, level in enumerate(levels):
            fields += [
                (f"{side}[{i}].price", level.price, div),
                (f"{side}[{i}].quantity", level.quantity, 1),
                (f"{side}[{i}].orders", level.orders, 1),
            ]
    for name, value, scale in fields:
        limit = _U16_MAX if name.endswith(".orders") else 0xFFFF_FFFF
        if not _fits(value, scale, limit):
            return ContractError(
                "TickerPacket",
                name,
                value,
                f"must be a finite number in [0, {limit / scale:g}] to fit the wire",
                str(quote.instrument_token),
            )
    return ContractError(
        "TickerPacket", "instrument_token", quote.instrument_token, "has a quote that does not fit"
    )


def _fits(value: object, scale: float, limit: int) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        scaled = float(value) * scale  # inf for a finite price near the float maximum
    except OverflowError:  # an int beyond the float range
        return False
    return math.isfinite(scaled) and 0 <= round(scaled) <= limit
