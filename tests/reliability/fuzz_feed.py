"""Fuzz targets of the market-data path: bytes on the ticker wire, the paper exchange's packet
encoder, the tick boundary, candle building and the domain model's validators.

* **wire** — frames of Kite-sized packets with random contents (and random bytes) go through the
  real client's ``KiteTicker._parse_binary`` and then into :class:`TickerFeed`'s reactor callback
  (``_on_ticks``, exactly what the client calls): every packet the client hands over becomes a
  ``Tick`` or a counted ``DeadLetter`` with a reason, and the feed's counters add up.
* **codec** — arbitrary quotes through ``encode_framed_packet``: refused with a ``ContractError``
  naming the field, or encoded so that the client and ``TickParser`` read the same price back.
* **candles** — ticks in any order (late, early, duplicated, far apart) into a
  :class:`CandleBuilder`: every tick is folded or refused as ``out_of_order``; every candle is
  rebuilt exactly from the ticks that were accepted (nothing refused reaches a candle).
* **validators** — any Python value into ``data_contracts.validation``: the value back, or a
  ``ContractError``.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from hypothesis import strategies as st
from kiteconnect import KiteTicker

from data_contracts import validation
from data_contracts.clock import ManualClock
from data_contracts.enums import DeadLetterReason
from data_contracts.errors import ContractError
from data_contracts.feed import DeadLetter
from data_contracts.ids import InstrumentToken
from data_contracts.market import Candle, Tick
from execution.kite.ticker import TickerFeed
from execution.kite.ticks import TickParser
from execution.paper.ticker_codec import (
    MODES,
    encode_framed_packet,
    frame_of_framed_packets,
    price_divisor,
    segment_of,
)
from execution.paper.types import DepthLevel, Quote
from models.live.candles import CandleBuilder, bar_close
from tests.reliability.fuzz_common import error_type, explore

__all__ = [
    "HUGE_PRICE_CASE",
    "KNOWN_TOKENS",
    "candle_streams",
    "check_candles",
    "check_quote",
    "check_validator",
    "check_wire",
    "quotes",
    "run",
    "validator_inputs",
    "wire_frames",
]

INFY: Final = 408065  # NSE equity (segment 1)
NIFTY_50: Final = 256265  # an index (segment 9)
NIFTY_CE: Final = 12073986  # an NFO option (segment 2)
USDINR: Final = 412675  # a CDS contract (segment 3): prices in 10^-7 rupees
KNOWN_TOKENS: Final = (INFY, NIFTY_50, NIFTY_CE, USDINR)
T0: Final = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)  # 09:30 IST
# The packet sizes the client knows: ltp, index quote, index full, quote, full.
PACKET_SIZES: Final = (8, 28, 32, 44, 184)
_CLIENT = KiteTicker("fuzz", "fuzz")  # only its parser is used; nothing connects


# -- wire ----------------------------------------------------------------------------------------


@st.composite
def _packet(draw: st.DrawFn) -> bytes:
    token = draw(st.sampled_from(KNOWN_TOKENS) | st.integers(0, 2**32 - 1))
    size = draw(st.sampled_from(PACKET_SIZES) | st.integers(0, 200))
    if size < 4:
        return draw(st.binary(min_size=size, max_size=size))
    body = draw(st.binary(min_size=size - 4, max_size=size - 4))
    if draw(st.booleans()):  # plausible values: small prices and quantities, recent times
        words = [draw(st.integers(0, 10_000_000)) for _ in range((size - 4) // 4)]
        body = struct.pack(f">{len(words)}I", *words) + body[4 * len(words) :]
    return struct.pack(">I", token) + body


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    packets = draw(st.lists(_packet(), max_size=6))
    count = len(packets)
    if draw(st.integers(0, 9)) == 0:  # a frame whose count lies
        count = draw(st.integers(0, 0xFFFF))
    return struct.pack(">H", count) + b"".join(struct.pack(">H", len(p)) + p for p in packets)


wire_frames: st.SearchStrategy[bytes] = _frame() | st.binary(min_size=5, max_size=300)


def _feed() -> TickerFeed:
    parser = TickParser(KNOWN_TOKENS, source="fuzz")
    return TickerFeed(
        api_key="fuzz",
        access_token="fuzz",  # noqa: S106 - never used: the feed is not started
        root="ws://127.0.0.1:9",
        tokens=KNOWN_TOKENS,
        parser=parser,
        clock=ManualClock(T0),
    )


def check_wire(frame: bytes) -> Counter[str]:
    """The client's parse of ``frame``, then the feed's callback: counts by outcome."""
    try:
        ticks = _CLIENT._parse_binary(frame)
    except (struct.error, IndexError, ValueError, OverflowError) as error:
        # Raised inside kiteconnect before any of our code runs; see the report.
        return Counter(
            {f"kiteconnect raised {error_type(error)} (frame lost before our parser)": 1}
        )
    feed = _feed()
    feed._on_ticks(None, ticks)  # what the client calls on the reactor thread
    items = feed.drain()
    stats = feed.stats
    assert len(items) == len(ticks), f"{len(ticks)} ticks in, {len(items)} items out"
    assert stats["ticks"] + stats["dead_letters"] == len(ticks), stats
    outcomes: Counter[str] = Counter()
    for item in items:
        if isinstance(item, Tick):
            assert math.isfinite(item.last_price), item
            assert item.last_price > 0, item
            assert item.bid is None or item.ask is None or item.bid <= item.ask, item
            assert item.ts_event.tzinfo is not None, item
            outcomes["tick"] += 1
        else:
            assert isinstance(item, DeadLetter), item
            assert isinstance(item.reason, DeadLetterReason), item
            assert item.detail, item
            outcomes[f"dead letter: {item.reason.value}"] += 1
    if not ticks:
        outcomes["no packet of a known size"] += 1
    return outcomes


# -- codec ---------------------------------------------------------------------------------------

# Finite floats up to 1e300: a price whose paise overflow a float (1e307 x 100) is a known bug
# (HUGE_PRICE); NaN and the infinities are drawn on their own.
_numbers = (
    st.floats(-1e300, 1e300)
    | st.sampled_from([math.nan, math.inf, -math.inf])
    | st.floats(min_value=0.05, max_value=100_000.0)
    | st.integers(-5, 2**33)
)
_counts = st.integers(-5, 2**33) | st.integers(0, 1_000_000)
_times = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - bounds of naive values made aware below
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001 - as above
    timezones=st.just(UTC),
) | st.just(T0)
_levels = st.lists(st.builds(DepthLevel, _numbers, _counts, _counts), max_size=6)


@dataclass(frozen=True, slots=True)
class QuoteCase:
    values: dict[str, Any]
    mode: str


quotes: st.SearchStrategy[QuoteCase] = st.builds(
    QuoteCase,
    st.fixed_dictionaries(
        {
            "instrument_token": st.sampled_from(KNOWN_TOKENS) | st.integers(-5, 2**33),
            "ts_event": _times,
            "last_price": _numbers,
        },
        optional={
            "last_quantity": _counts,
            "last_trade_time": st.none() | _times,
            "average_price": _numbers,
            "volume": _counts,
            "buy_quantity": _counts,
            "sell_quantity": _counts,
            "open": _numbers,
            "high": _numbers,
            "low": _numbers,
            "close": _numbers,
            "oi": _counts,
            "bids": _levels.map(tuple),
            "asks": _levels.map(tuple),
        },
    ),
    st.sampled_from(MODES),
)


def check_quote(case: QuoteCase) -> str:
    """Encode ``case``; when it encodes, the client and our parser read its price back."""
    try:
        quote = Quote(**case.values)
    except ContractError as error:
        return f"Quote refused: {error.field}"
    try:
        packet = encode_framed_packet(quote, case.mode)  # type: ignore[arg-type]  # MODES
    except ContractError as error:
        return f"encoder refused: {error.field}"
    ticks = _CLIENT._parse_binary(frame_of_framed_packets([packet]))
    assert len(ticks) == 1, ticks
    token = quote.instrument_token
    result = TickParser([token] if token > 0 else [1], source="fuzz").parse(ticks[0], T0)
    if isinstance(result, DeadLetter):
        return f"dead letter: {result.reason.value}"
    step = 1.0 / price_divisor(segment_of(token))
    assert abs(result.last_price - quote.last_price) <= step / 2 + 1e-9, (result, quote)
    return "round trip"


# Known bug: _fits (ticker_codec.py:292) rounds value x divisor, which overflows to inf for a
# finite price near the float maximum: OverflowError instead of the ContractError naming it.
HUGE_PRICE: Final = 1e307
HUGE_PRICE_CASE: Final = QuoteCase(
    {"instrument_token": INFY, "ts_event": T0, "last_price": 1e307}, "ltp"
)


# -- candles -------------------------------------------------------------------------------------

_STEP_MS = st.integers(-180_000, 180_000) | st.integers(-3_000, 3_000) | st.just(0)
candle_streams = st.lists(
    st.tuples(
        _STEP_MS,  # event time moves by this much (backwards too)
        st.floats(min_value=1.0, max_value=1_000.0, allow_nan=False),  # price
        st.integers(0, 500),  # last traded quantity
        st.integers(0, 1_000),  # cumulative volume increment
        st.booleans(),  # ask the builder for due bars after this tick
    ),
    min_size=1,
    max_size=60,
)


def _reference(ticks: list[Tick]) -> tuple[float, float, float, float]:
    """A bar's OHLC rebuilt from the ticks accepted into it (arrival order)."""
    first = ticks[0]
    high = max(t.last_price for t in ticks)
    low = min(t.last_price for t in ticks)
    close, last_ts = first.last_price, first.ts_event
    for t in ticks[1:]:
        if t.ts_event >= last_ts:
            close, last_ts = t.last_price, t.ts_event
    return first.last_price, high, low, close


def check_candles(stream: list[tuple[int, float, int, int, bool]]) -> Counter[str]:
    """Fold the ticks of ``stream``; every candle must equal the one its accepted ticks make."""
    builder = CandleBuilder(NIFTY_CE, source="fuzz")
    outcomes: Counter[str] = Counter()
    accepted: dict[datetime, list[Tick]] = {}
    candles: list[Candle] = []
    ts, volume, now = T0, 0, T0

    def emitted(candle: Candle | None) -> None:
        if candle is None:
            return
        candles.append(candle)
        outcomes["candle"] += 1
        bar = accepted.pop(candle.ts_event)
        assert (candle.open, candle.high, candle.low, candle.close) == _reference(bar), candle
        assert candle.volume >= 0, candle

    for step_ms, price, quantity, increment, sweep in stream:
        ts += timedelta(milliseconds=step_ms)
        volume += increment
        now = max(now, ts)
        tick = Tick(
            instrument_token=InstrumentToken(NIFTY_CE),
            ts_event=ts,
            ts_init=now,
            last_price=price,
            last_quantity=quantity,
            volume=volume,
        )
        candle, refused = builder.add(tick)
        if refused is not None:
            assert candle is None, refused
            assert refused.reason is DeadLetterReason.OUT_OF_ORDER, refused
            outcomes["dead letter: out_of_order"] += 1
            continue
        emitted(candle)  # the bar this tick closed, before the tick's own bar
        accepted.setdefault(bar_close(ts), []).append(tick)
        outcomes["tick folded"] += 1
        if sweep:
            emitted(builder.close_due(now, timedelta(seconds=5)))
    closes = [c.ts_event for c in candles]
    assert closes == sorted(set(closes)), closes  # one candle per bar, in time order
    assert len(accepted) <= 1, sorted(accepted)  # only the open bar is still being built
    return outcomes


# -- validators ----------------------------------------------------------------------------------

_VALIDATORS: Final = {
    "finite": lambda v: validation.finite("Fuzz", "value", v),
    "positive": lambda v: validation.positive("Fuzz", "value", v),
    "non_negative": lambda v: validation.non_negative("Fuzz", "value", v),
    "probability": lambda v: validation.probability("Fuzz", "value", v),
    "integer": lambda v: validation.integer("Fuzz", "value", v, minimum=0),
    "non_empty": lambda v: validation.non_empty("Fuzz", "value", v),
    "token id": lambda v: InstrumentToken(validation.integer("Fuzz", "value", v, minimum=1)),
}
# Integers a float can hold: the validators' contract for larger ones is a known bug (below).
FLOAT_RANGE_INTEGERS: Final = st.integers(-(2**1000), 2**1000)
_numbers_of_every_kind = (
    FLOAT_RANGE_INTEGERS | st.floats() | st.floats(-1e6, 1e6) | st.integers(-10, 10)
)
_any_value = _numbers_of_every_kind | st.recursive(
    st.none()
    | st.booleans()
    | FLOAT_RANGE_INTEGERS
    | st.floats()
    | st.text(max_size=10)
    | st.binary(max_size=10)
    | st.decimals()
    | st.fractions()
    | st.complex_numbers()
    | st.datetimes(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=5,
)
validator_inputs = st.tuples(st.sampled_from(sorted(_VALIDATORS)), _any_value)
# Known bug: math.isfinite(int) overflows for integers beyond a float (validation.py:14).
HUGE_INTEGER: Final = 10**400


def check_validator(case: tuple[str, Any]) -> str:
    name, value = case
    try:
        result = _VALIDATORS[name](value)
    except ContractError as error:
        return f"{name}: refused ({error.rule})"
    if name in ("finite", "positive", "non_negative", "probability"):
        assert isinstance(result, float), (name, value, result)
        assert math.isfinite(result), (name, value, result)
    return f"{name}: accepted"


# -- the runner's entry ---------------------------------------------------------------------------


def run(examples: int = 2_000) -> dict[str, Any]:
    """Every target of this module over ``examples`` inputs each (the reliability runner)."""
    explorations = [
        explore(
            "ticker wire: client parse → TickerFeed", wire_frames, check_wire, examples=examples
        ),
        explore(
            "paper ticker codec: quote → packet → client → TickParser",
            quotes,
            check_quote,
            examples=examples,
            seeds=[HUGE_PRICE_CASE],
            known_bugs=[
                "a finite price whose paise overflow a float (1e307): OverflowError from _fits "
                "instead of ContractError (execution/paper/ticker_codec.py:292)"
            ],
        ),
        explore(
            "candle building: ticks in any order", candle_streams, check_candles, examples=examples
        ),
        explore(
            "domain validators",
            validator_inputs,
            check_validator,
            examples=examples,
            seeds=[("finite", HUGE_INTEGER), ("positive", -HUGE_INTEGER)],
            known_bugs=[
                "validation.finite/positive/non_negative/probability raise OverflowError for an "
                "int beyond a float (data_contracts/validation.py:14)"
            ],
        ),
    ]
    return {
        "scenario": "fuzzing: market data",
        "passed": all(e.passed for e in explorations),
        "goal_met": all(e.passed for e in explorations),
        "targets": [e.as_dict() for e in explorations],
    }
