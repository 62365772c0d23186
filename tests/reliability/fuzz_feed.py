"""Fuzz targets of the market-data path: bytes on the ticker wire, the paper exchange's packet
encoder, the tick boundary, candle building and the domain model's validators.

* **wire** — frames of Kite-sized packets with random contents (and random bytes) go through the
  real client's ``KiteTicker._parse_binary`` and then into :class:`TickerFeed`'s reactor callback
  (``_on_ticks``, exactly what the client calls): every packet the client hands over becomes a
  ``Tick`` or a counted ``DeadLetter`` with a reason, and the feed's counters add up.
* **codec** — arbitrary quotes through ``encode_framed_packet``: refused with a ``ContractError``
  naming the field, or encoded so that the client and ``TickParser`` read the same price back.
  Every float (up to the float maximum, NaN, the infinities), integers of any size, times of any
  year and UTC offset (and naive ones) are drawn.
* **candles** — ticks in any order (late, early, duplicated, far apart) into a
  :class:`CandleBuilder`: every tick is folded or refused as ``out_of_order``; every candle is
  rebuilt exactly from the ticks that were accepted (nothing refused reaches a candle).
* **validators** — any Python value (integers of any size, text with lone surrogates, nested
  containers, …) into ``data_contracts.validation``: the value back, or a ``ContractError``.

Each input that reproduced a finding before its fix (B1, B2 in docs/RELIABILITY.md) is a
regression seed of its target: always run first, its outcome reported by name.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
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
from tests.reliability.fuzz_common import Seed, any_text, error_type, explore

__all__ = [
    "HUGE_INTEGER",
    "HUGE_PRICE_CASE",
    "KNOWN_TOKENS",
    "REGRESSION_SEEDS",
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

# Prices and quantities: every float (near the float maximum a price's paise overflow to inf —
# finding B1), NaN and the infinities, integers of any size (beyond a float too) and plausible
# prices, so most quotes get as far as the wire.
_ANY_INTEGER: Final = st.integers() | st.integers(-(10**400), 10**400)
_numbers = (
    st.floats()
    | st.sampled_from([math.nan, math.inf, -math.inf, 1e307, -1e307, 1.7976931348623157e308])
    | st.floats(min_value=0.05, max_value=100_000.0)
    | _ANY_INTEGER
)
_counts = _ANY_INTEGER | st.integers(0, 1_000_000)
# Any time from year 1 to 9999: aware at any UTC offset (the extremes do not fit the wire's 32-bit
# seconds, and near year 1 or 9999 an offset takes UTC out of range), or naive (refused).
_offsets = st.just(UTC) | st.timedeltas(
    min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)
).map(timezone)
_wire_times = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - bounds of naive values made aware
    max_value=datetime(2106, 2, 6),  # noqa: DTZ001 - as above (32-bit seconds end in 2106)
    timezones=_offsets,
)
# Times the wire can carry are drawn three times in five, so most quotes get past ts_event.
_times = st.just(T0) | _wire_times | _wire_times | st.datetimes(timezones=_offsets) | st.datetimes()


@dataclass(frozen=True, slots=True)
class QuoteCase:
    values: dict[str, Any]
    mode: str


def _quote_values(
    tokens: st.SearchStrategy[int],
    numbers: st.SearchStrategy[float],
    counts: st.SearchStrategy[int],
    times: st.SearchStrategy[datetime],
) -> st.SearchStrategy[dict[str, Any]]:
    levels = st.lists(st.builds(DepthLevel, numbers, counts, counts), max_size=6).map(tuple)
    return st.fixed_dictionaries(
        {"instrument_token": tokens, "ts_event": times, "last_price": numbers},
        optional={
            "last_quantity": counts,
            "last_trade_time": st.none() | times,
            "average_price": numbers,
            "volume": counts,
            "buy_quantity": counts,
            "sell_quantity": counts,
            "open": numbers,
            "high": numbers,
            "low": numbers,
            "close": numbers,
            "oi": counts,
            "bids": levels,
            "asks": levels,
        },
    )


# Half the quotes are of any values; half are plausible (a known instrument, a time and prices
# and quantities the wire can carry), so the round trip of the price is explored as well.
quotes: st.SearchStrategy[QuoteCase] = st.builds(
    QuoteCase,
    _quote_values(st.sampled_from(KNOWN_TOKENS) | _ANY_INTEGER, _numbers, _counts, _times)
    | _quote_values(
        st.sampled_from(KNOWN_TOKENS),
        st.floats(min_value=0.05, max_value=100_000.0) | st.integers(1, 100_000),
        st.integers(0, 1_000_000),
        _wire_times,
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


# Finding B1 (fixed): a finite price whose paise overflow a float (1e307 x 100 = inf) made the
# encoder's range check raise OverflowError; it is refused naming last_price now.
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
    "text": lambda v: validation.text("Fuzz", "value", v, max_chars=20, required=True),
    "token id": lambda v: InstrumentToken(validation.integer("Fuzz", "value", v, minimum=1)),
}
# Integers of any size: beyond the float range (±10**400) the number validators once raised
# OverflowError (finding B2). Text of any code points, lone surrogates included, for `text`.
_numbers_of_every_kind = _ANY_INTEGER | st.floats() | st.floats(-1e6, 1e6) | st.integers(-10, 10)
_any_value = (
    _numbers_of_every_kind
    | any_text(30)
    | st.recursive(
        st.none()
        | st.booleans()
        | _ANY_INTEGER
        | st.floats()
        | any_text(10)
        | st.binary(max_size=10)
        | st.decimals()
        | st.fractions()
        | st.complex_numbers()
        | st.datetimes(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=5,
    )
)
validator_inputs = st.tuples(st.sampled_from(sorted(_VALIDATORS)), _any_value)
# Finding B2 (fixed): math.isfinite of an int beyond a float raised OverflowError; refused as
# "must be a finite number" now.
HUGE_INTEGER: Final = 10**400


def check_validator(case: tuple[str, Any]) -> str:
    name, value = case
    try:
        result = _VALIDATORS[name](value)
    except ContractError as error:
        return f"{name}: refused ({error.rule.split(' (')[0]})"
    if name in ("finite", "positive", "non_negative", "probability"):
        assert isinstance(result, float), (name, value, result)
        assert math.isfinite(result), (name, value, result)
    if name == "text":
        assert isinstance(result, str), (value, result)
        assert result == value, (value, result)
        result.encode("utf-8")  # storable: no lone surrogate got through
    return f"{name}: accepted"


# What each fixed finding's input must end as now (the regression seeds of ``run``).
REGRESSION_SEEDS: Final = {
    "codec": (
        Seed("B1", "Quote(last_price=1e307), ltp mode: paise overflow a float", HUGE_PRICE_CASE),
    ),
    "validators": (
        Seed("B2", "validation.finite(10**400)", ("finite", HUGE_INTEGER)),
        Seed("B2", "validation.positive(-10**400)", ("positive", -HUGE_INTEGER)),
        Seed("B2", "validation.probability(10**400)", ("probability", HUGE_INTEGER)),
    ),
}


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
            seeds=REGRESSION_SEEDS["codec"],
        ),
        explore(
            "candle building: ticks in any order", candle_streams, check_candles, examples=examples
        ),
        explore(
            "domain validators",
            validator_inputs,
            check_validator,
            examples=examples,
            seeds=REGRESSION_SEEDS["validators"],
        ),
    ]
    return {
        "scenario": "fuzzing: market data",
        "passed": all(e.passed for e in explorations),
        "goal_met": all(e.passed for e in explorations),
        "targets": [e.as_dict() for e in explorations],
    }
