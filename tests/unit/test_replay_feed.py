"""A lake day replayed as the live feed: ticks in time order that rebuild the lake's candles, and
a clock mark every minute of the session for every key, the same in any partitioning."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import pytest

from data_contracts.errors import ContractError
from data_contracts.instruments import Instrument, instruments_to_frame, underlying_tokens
from data_contracts.market import Candle, Tick
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import CandleFrame
from data_contracts.timeutil import IST
from execution.replay_feed import FeedItem, LakeReplay
from models.lake import Lake
from models.live import CandleBuilder, ClockMark, group_of
from tests.factories import (
    infy_instrument,
    nifty_index_instrument,
    nifty_option_chain,
    session_bars,
)

DAY = date(2026, 8, 18)  # a regular Tuesday session
EXPIRY = date(2026, 8, 25)
CALENDAR = NseCalendar.default()
SESSION = CALENDAR.session(DAY)
DELAY = timedelta(seconds=5)
INFY = infy_instrument()
NIFTY = nifty_index_instrument()
CHAIN_INSTRUMENTS, _ = nifty_option_chain(
    datetime(2026, 8, 18, 4, 0, tzinfo=UTC), EXPIRY, strikes=(24_000.0,)
)
INSTRUMENTS: list[Instrument] = [INFY, NIFTY, *CHAIN_INSTRUMENTS]
UNDERLYING_OF = underlying_tokens(INSTRUMENTS)


def _ist(hour: int, minute: int) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=IST).astimezone(UTC)


def _key_of(token: int) -> int:
    return group_of(token, UNDERLYING_OF)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """INFY trades 09:16-09:45 except 09:21-09:25; NIFTY 09:16-09:45; the options 09:36-09:45
    (in whole lots, with open interest)."""
    infy = session_bars(int(INFY.instrument_token), _ist(9, 45), 30)
    infy = infy.filter(~pl.col("ts_event").is_between(_ist(9, 21), _ist(9, 25)))
    nifty = session_bars(
        int(NIFTY.instrument_token), _ist(9, 45), 30, close=24_000.0, tick_size=0.01
    )
    options = [
        session_bars(int(i.instrument_token), _ist(9, 45), 10, close=120.0 + 10 * n).with_columns(
            (pl.col("volume") * 65).alias("volume"),
            (pl.int_range(pl.len()) * 650 + 100_000).cast(pl.Int64).alias("oi"),
        )
        for n, i in enumerate(CHAIN_INSTRUMENTS)
    ]
    candles = pl.concat([infy, nifty, *options])
    CandleFrame.validate(candles)
    lake = Lake(tmp_path_factory.mktemp("lake"))
    lake.write("instruments", DAY, instruments_to_frame(INSTRUMENTS))
    lake.write("candles_1m", DAY, candles)
    return lake


def _replay(
    lake: Lake, instruments: list[Instrument] = INSTRUMENTS, until: time | None = None
) -> LakeReplay:
    return LakeReplay(
        lake,
        [DAY],
        instruments,
        seed=11,
        calendar=CALENDAR,
        key_of=_key_of,
        mark_delay=DELAY,
        until=until,
    )


def _when(item: FeedItem) -> datetime:
    value = item[1]
    return value.now if isinstance(value, ClockMark) else value.ts_event


def _rebuilt(items: list[FeedItem]) -> pl.DataFrame:
    """Each key's ticks through a candle builder per token, closed by the key's clock marks."""
    builders: dict[int, CandleBuilder] = {}
    candles: list[Candle] = []
    for key, value in items:
        if isinstance(value, ClockMark):
            for builder in builders.values():
                if _key_of(builder.instrument_token) == int(key):
                    closed = builder.close_due(value.now, DELAY)
                    candles += [closed] if closed is not None else []
            continue
        assert isinstance(value, Tick)
        assert key == str(_key_of(value.instrument_token))
        token = value.instrument_token
        builder = builders.setdefault(token, CandleBuilder(token, source="replay"))
        closed, refused = builder.add(value)
        assert refused is None
        candles += [closed] if closed is not None else []
    return pl.DataFrame(
        {
            "instrument_token": [c.instrument_token for c in candles],
            "ts_event": [c.ts_event for c in candles],
            "open": [c.open for c in candles],
            "high": [c.high for c in candles],
            "low": [c.low for c in candles],
            "close": [c.close for c in candles],
            "volume": [c.volume for c in candles],
            "oi": [c.oi for c in candles],
        },
        schema_overrides={"ts_event": pl.Datetime("us", "UTC"), "oi": pl.Int64},
    ).sort("instrument_token", "ts_event")


def _lake_candles(lake: Lake) -> pl.DataFrame:
    frame = lake.read("candles_1m", DAY)
    assert frame is not None
    return frame.sort("instrument_token", "ts_event")


def _marks_by_key(items: list[FeedItem]) -> dict[str, list[datetime]]:
    marks: dict[str, list[datetime]] = defaultdict(list)
    for key, value in items:
        if isinstance(value, ClockMark):
            marks[key].append(value.now)
    return dict(marks)


def _by_key(items: list[FeedItem]) -> dict[str, list[Tick | ClockMark]]:
    out: dict[str, list[Tick | ClockMark]] = defaultdict(list)
    for key, value in items:
        out[key].append(value)
    return dict(out)


def test_replay_items_are_in_non_decreasing_market_time(lake: Lake) -> None:
    items = list(_replay(lake).items())

    times = [_when(item) for item in items]
    assert times == sorted(times)
    assert any(isinstance(v, Tick) for _, v in items)


def test_replay_keys_are_the_groups_options_under_their_underlying(lake: Lake) -> None:
    replay = _replay(lake)

    items = list(replay.items())

    assert replay.keys == sorted([int(INFY.instrument_token), int(NIFTY.instrument_token)])
    option_keys = {
        key for key, v in items if isinstance(v, Tick) and v.instrument_token in UNDERLYING_OF
    }
    assert option_keys == {str(NIFTY.instrument_token)}


def test_replay_ticks_rebuild_the_lake_candles(lake: Lake) -> None:
    items = list(_replay(lake).items())

    rebuilt = _rebuilt(items)

    expected = _lake_candles(lake).select(rebuilt.columns)
    assert rebuilt.equals(expected)


def test_replay_option_ticks_carry_a_book_and_the_index_none(lake: Lake) -> None:
    ticks = [v for _, v in _replay(lake).items() if isinstance(v, Tick)]

    index = [t for t in ticks if t.instrument_token == NIFTY.instrument_token]
    options = [t for t in ticks if t.instrument_token in UNDERLYING_OF]
    assert index
    assert options
    assert all(t.bid is None and t.ask is None for t in index)
    assert all(t.bid is not None and t.ask is not None and t.oi is not None for t in options)
    assert all(t.last_quantity % 65 == 0 for t in options)


def test_replay_marks_every_minute_of_the_session_for_every_key(lake: Lake) -> None:
    assert SESSION is not None
    minutes = int((SESSION.close - SESSION.open) / timedelta(minutes=1))
    expected = [SESSION.open + (n + 1) * timedelta(minutes=1) + DELAY for n in range(minutes)]

    marks = _marks_by_key(list(_replay(lake).items()))

    assert set(marks) == {str(INFY.instrument_token), str(NIFTY.instrument_token)}
    assert all(found == expected for found in marks.values())
    assert minutes == 375


@pytest.mark.parametrize("parts", [2, 3])
def test_replay_any_partitioning_gives_each_key_the_same_stream(lake: Lake, parts: int) -> None:
    whole = _by_key(list(_replay(lake).items()))

    split: dict[str, list[Tick | ClockMark]] = {}
    for part in range(parts):
        mine = [i for i in INSTRUMENTS if _key_of(int(i.instrument_token)) % parts == part]
        if mine:
            split |= _by_key(list(_replay(lake, mine).items()))

    assert split == whole


@pytest.mark.parametrize("skip", [0, 1, 400, -1])
def test_replay_items_after_skip_are_the_tail_of_all_items(lake: Lake, skip: int) -> None:
    replay = _replay(lake)
    everything = list(replay.items())
    count = len(everything) if skip < 0 else skip

    resumed = list(replay.items(skip=count))

    assert resumed == everything[count:]


def test_replay_until_cuts_the_day_at_that_bar(lake: Lake) -> None:
    cut = _ist(9, 30)

    items = list(_replay(lake, until=time(9, 30)).items())

    ticks = [v for _, v in items if isinstance(v, Tick)]
    marks = _marks_by_key(items)
    assert ticks
    assert max(t.ts_event for t in ticks) <= cut
    assert all(found[-1] == cut + DELAY for found in marks.values())
    rebuilt = _rebuilt(items)
    expected = _lake_candles(lake).filter(pl.col("ts_event") <= cut).select(rebuilt.columns)
    assert rebuilt.equals(expected)


def test_replay_day_without_candles_yields_nothing(lake: Lake) -> None:
    replay = LakeReplay(
        lake, [date(2026, 8, 19)], INSTRUMENTS, seed=11, calendar=CALENDAR, key_of=_key_of
    )

    assert list(replay.items()) == []


def test_replay_without_days_raises(lake: Lake) -> None:
    with pytest.raises(ContractError, match="days"):
        LakeReplay(lake, [], INSTRUMENTS, seed=11, calendar=CALENDAR, key_of=_key_of)
