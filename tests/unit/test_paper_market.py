"""``MarketReplay`` from the simulator: deterministic quotes consistent with the candles, a sane
book, day statistics, previous close, market-time windows, the dump and historical candles."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import parse_instruments_csv
from data_contracts.timeutil import IST, UTC
from execution.paper.market import MarketReplay
from execution.paper.types import DEPTH_LEVELS, KiteApiError, Quote
from execution.simulator import SimulatedMarket, SimulatorConfig

NIFTY, INFY, RELIANCE = 256265, 408065, 738561
DAY, PREVIOUS, FIRST = date(2026, 6, 3), date(2026, 6, 2), date(2026, 6, 1)
MINUTE_US = 60_000_000


def _market(seed: int = 4) -> SimulatedMarket:
    return SimulatedMarket(SimulatorConfig(seed=seed, start=FIRST, end=date(2026, 6, 5)))


def _options(market: SimulatedMarket) -> list[int]:
    """Two options listed on DAY and the day before (for the previous close)."""
    before = {c.instrument_token for c in market.option_contracts(PREVIOUS)}
    listed = [
        c.instrument_token for c in market.option_contracts(DAY) if c.instrument_token in before
    ]
    return [int(listed[0]), int(listed[len(listed) // 2])]


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return _market()


@pytest.fixture(scope="module")
def tokens(market: SimulatedMarket) -> list[int]:
    return [NIFTY, INFY, RELIANCE, *_options(market)]


@pytest.fixture(scope="module")
def day_quotes(market: SimulatedMarket, tokens: list[int]) -> list[Quote]:
    replay = MarketReplay.from_simulator(market, DAY, tokens=tokens)
    return replay.quotes_until(replay.session_end)


def _ist(hour: int, minute: int, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=IST)


def _frame(quotes: list[Quote]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "token": [q.instrument_token for q in quotes],
            "ts": [q.ts_event for q in quotes],
            "last": [q.last_price for q in quotes],
            "qty": [q.last_quantity for q in quotes],
            "volume": [q.volume for q in quotes],
            "open": [q.open for q in quotes],
            "high": [q.high for q in quotes],
            "low": [q.low for q in quotes],
            "close": [q.close for q in quotes],
            "average": [q.average_price for q in quotes],
            "oi": [q.oi for q in quotes],
        }
    )


def _rebuilt_candles(quotes: list[Quote], token: int) -> pl.DataFrame:
    """1-minute candles from the quotes' last prices (bar = the minute the tick closes in)."""
    frame = _frame(quotes).filter(pl.col("token") == token)
    us = frame["ts"].dt.epoch("us")
    bar_close = ((us + MINUTE_US - 1) // MINUTE_US) * MINUTE_US
    return (
        frame.with_columns(bar_close.cast(pl.Datetime("us", "UTC")).alias("ts_event"))
        .group_by("ts_event", maintain_order=True)
        .agg(
            pl.col("last").first().alias("open"),
            pl.col("last").max().alias("high"),
            pl.col("last").min().alias("low"),
            pl.col("last").last().alias("close"),
            pl.col("qty").sum().alias("volume"),
        )
    )


# -- determinism ---------------------------------------------------------------------------------


def test_replay_same_seed_twice_gives_equal_quotes(tokens: list[int]) -> None:
    first = MarketReplay.from_simulator(_market(), DAY, tokens=tokens)
    second = MarketReplay.from_simulator(_market(), DAY, tokens=tokens)

    assert first.quotes_until(first.session_end) == second.quotes_until(second.session_end)


def test_replay_other_seed_gives_other_quotes(day_quotes: list[Quote]) -> None:
    other = MarketReplay.from_simulator(_market(seed=5), DAY, tokens=[INFY])

    quotes = other.quotes_until(other.session_end)

    assert quotes != [q for q in day_quotes if q.instrument_token == INFY]


def test_replay_book_of_a_token_is_independent_of_the_other_tokens(
    market: SimulatedMarket, day_quotes: list[Quote]
) -> None:
    alone = MarketReplay.from_simulator(market, DAY, tokens=[INFY])

    assert alone.quotes_until(alone.session_end) == [
        q for q in day_quotes if q.instrument_token == INFY
    ]


# -- consistency with the candles ----------------------------------------------------------------


def test_quotes_rebuild_the_source_candles(
    market: SimulatedMarket, tokens: list[int], day_quotes: list[Quote]
) -> None:
    for token in tokens:
        source = market.candles(InstrumentToken(token), _ist(0, 0), _ist(23, 0))
        rebuilt = _rebuilt_candles(day_quotes, token)

        columns = ["ts_event", "open", "high", "low", "close"]
        assert rebuilt.select(columns).equals(source.select(columns)), token
        if token != NIFTY:  # the index does not trade: no volume
            assert rebuilt["volume"].to_list() == source["volume"].to_list(), token


def test_quotes_are_in_time_order_inside_the_session(
    day_quotes: list[Quote], market: SimulatedMarket
) -> None:
    keys = [(q.ts_event, q.instrument_token) for q in day_quotes]
    session = market.calendar.session(DAY)

    assert session is not None
    assert keys == sorted(keys)
    assert session.open < day_quotes[0].ts_event
    assert day_quotes[-1].ts_event <= session.close


def test_quotes_bid_at_most_last_at_most_ask(day_quotes: list[Quote]) -> None:
    tradable = [q for q in day_quotes if q.tradable]

    assert tradable
    assert all(q.best_bid is not None and q.best_ask is not None for q in tradable)
    assert all(q.bids[0].price <= q.last_price <= q.asks[0].price for q in tradable)
    assert all(q.bids[0].price < q.asks[0].price for q in tradable)


def test_quotes_book_has_five_sorted_levels_of_whole_lots(
    market: SimulatedMarket, day_quotes: list[Quote]
) -> None:
    lots = {int(i.instrument_token): max(i.lot_size, 1) for i in market.instruments(DAY)}

    for q in (q for q in day_quotes if q.tradable):
        bids, asks = [b.price for b in q.bids], [a.price for a in q.asks]
        assert len(asks) == DEPTH_LEVELS
        assert 1 <= len(bids) <= DEPTH_LEVELS
        assert bids == sorted(bids, reverse=True)
        assert len(set(bids)) == len(bids)
        assert asks == sorted(asks)
        assert len(set(asks)) == len(asks)
        lot = lots[q.instrument_token]
        for level in (*q.bids, *q.asks):
            assert level.price > 0
            assert level.quantity > 0
            assert level.quantity % lot == 0
            assert 1 <= level.orders <= level.quantity // lot
        assert q.buy_quantity == sum(b.quantity for b in q.bids)
        assert q.sell_quantity == sum(a.quantity for a in q.asks)


def test_index_quotes_have_no_book_and_no_volume(day_quotes: list[Quote]) -> None:
    index = [q for q in day_quotes if q.instrument_token == NIFTY]

    assert index
    assert all(not q.tradable and q.bids == () and q.asks == () for q in index)
    assert all(q.volume == 0 and q.average_price == 0.0 for q in index)


# -- day statistics and previous close -----------------------------------------------------------


def test_quotes_accumulate_day_ohlc_volume_and_average(
    day_quotes: list[Quote], tokens: list[int]
) -> None:
    frame = _frame(day_quotes)

    for token in tokens[1:]:
        rows = frame.filter(pl.col("token") == token)
        last = rows["last"]
        assert (rows["open"] == last[0]).all()
        assert rows["high"].to_list() == last.cum_max().to_list()
        assert rows["low"].to_list() == last.cum_min().to_list()
        assert rows["volume"].to_list() == rows["qty"].cum_sum().to_list()
        traded = rows.filter(pl.col("volume") > 0)
        assert (
            (traded["average"] >= traded["low"] - 0.01)
            & (traded["average"] <= traded["high"] + 0.01)
        ).all()


def test_quotes_carry_the_previous_session_close(
    market: SimulatedMarket, tokens: list[int], day_quotes: list[Quote]
) -> None:
    for token in tokens:
        yesterday = market.candles(
            InstrumentToken(token), _ist(0, 0, PREVIOUS), _ist(23, 0, PREVIOUS)
        )
        closes = {q.close for q in day_quotes if q.instrument_token == token}

        assert closes == {yesterday["close"][-1]}, token


def test_quotes_next_day_close_is_the_last_price_of_the_day(
    market: SimulatedMarket, day_quotes: list[Quote]
) -> None:
    last_today = [q for q in day_quotes if q.instrument_token == INFY][-1].last_price
    tomorrow = MarketReplay.from_simulator(market, date(2026, 6, 4), tokens=[INFY])

    quotes = tomorrow.quotes_until(tomorrow.session_end)

    assert {q.close for q in quotes} == {last_today}


def test_quotes_on_the_first_session_use_the_open_as_close(market: SimulatedMarket) -> None:
    replay = MarketReplay.from_simulator(market, FIRST, tokens=[INFY])

    quotes = replay.quotes_until(replay.session_end)

    assert {q.close for q in quotes} == {quotes[0].last_price}
    assert replay.previous_close(INFY) == quotes[0].last_price


# -- market time ---------------------------------------------------------------------------------


def test_quotes_until_windows_partition_the_day(
    market: SimulatedMarket, tokens: list[int], day_quotes: list[Quote]
) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=tokens)
    stops = [
        _ist(9, 0),
        _ist(9, 15),
        _ist(9, 15),
        _ist(
            9,
            16,
        ),
        _ist(12, 0),
        _ist(16, 0),
    ]

    windows = [replay.quotes_until(stop) for stop in stops]

    assert [q for window in windows for q in window] == day_quotes
    assert windows[0] == []
    assert windows[2] == []
    assert all(_ist(9, 15) < q.ts_event <= _ist(9, 16) for q in windows[3])


def test_quotes_until_backwards_raises(market: SimulatedMarket) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])
    replay.quotes_until(_ist(10, 0))

    with pytest.raises(ContractError, match="must not be before"):
        replay.quotes_until(_ist(9, 59))


def test_quotes_until_latest_only_gives_each_token_once(
    market: SimulatedMarket, tokens: list[int], day_quotes: list[Quote]
) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=tokens)
    noon = _ist(12, 0)
    expected = {
        t: [q for q in day_quotes if q.instrument_token == t and q.ts_event <= noon][-1]
        for t in tokens
    }

    latest = replay.quotes_until(noon, latest_only=True)

    assert sorted(latest, key=lambda q: q.instrument_token) == sorted(
        expected.values(), key=lambda q: q.instrument_token
    )
    assert all(replay.latest(t) == expected[t] for t in tokens)


def test_latest_is_none_before_the_first_quote_and_for_unquoted_tokens(
    market: SimulatedMarket,
) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])

    assert replay.latest(INFY) is None
    replay.quotes_until(_ist(9, 30))
    assert replay.latest(INFY) is not None
    assert replay.latest(RELIANCE) is None


def test_from_simulator_unknown_token_or_day_raises(market: SimulatedMarket) -> None:
    with pytest.raises(ContractError, match="tokens"):
        MarketReplay.from_simulator(market, DAY, tokens=[12345])
    with pytest.raises(ContractError, match="simulated NSE session"):
        MarketReplay.from_simulator(market, date(2026, 6, 6), tokens=[INFY])


# -- the dump ------------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", [None, "NSE", "NFO"])
def test_instruments_csv_parses_back_to_the_dump(
    market: SimulatedMarket, exchange: str | None
) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])

    parsed = parse_instruments_csv(replay.instruments_csv(exchange))

    expected = [i for i in market.instruments(DAY) if exchange in (None, i.exchange.value)]
    assert parsed == expected
    assert replay.instruments == tuple(market.instruments(DAY))


# -- historical ----------------------------------------------------------------------------------


def _kite_rows(frame: pl.DataFrame, shift: timedelta, *, oi: bool) -> list[list[object]]:
    """The source's close-stamped candles as Kite rows stamped ``shift`` earlier (the open)."""
    return [
        [
            (row["ts_event"] - shift).astimezone(IST).strftime("%Y-%m-%dT%H:%M:%S+0530"),
            row["open"],
            row["high"],
            row["low"],
            row["close"],
            row["volume"],
            *([row["oi"] or 0] if oi else []),
        ]
        for row in frame.iter_rows(named=True)
    ]


@pytest.mark.parametrize(("interval", "minutes"), [("minute", 1), ("5minute", 5), ("15minute", 15)])
def test_historical_rows_are_the_simulator_candles_stamped_at_their_open(
    market: SimulatedMarket, interval: str, minutes: int
) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])
    start, end = _ist(9, 15, PREVIOUS), _ist(15, 29, PREVIOUS)
    step = timedelta(minutes=minutes)
    source = market.candles(InstrumentToken(INFY), start, end + step, step)

    rows = replay.historical(INFY, interval, start, end, oi=False)

    assert rows == _kite_rows(source, step, oi=False)


def test_historical_option_rows_carry_oi_as_seventh_element(
    market: SimulatedMarket, tokens: list[int]
) -> None:
    option = tokens[-1]
    replay = MarketReplay.from_simulator(market, DAY, tokens=[option])
    source = market.option_candles(InstrumentToken(option), PREVIOUS)

    rows = replay.historical(
        option, "minute", _ist(0, 0, PREVIOUS), _ist(23, 59, PREVIOUS), oi=True
    )

    assert rows == _kite_rows(source, timedelta(minutes=1), oi=True)
    assert all(len(row) == 7 and isinstance(row[6], int) and row[6] > 0 for row in rows)


def test_historical_hour_bars_open_from_the_session_open(market: SimulatedMarket) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])
    minutes = market.candles(InstrumentToken(INFY), _ist(0, 0, PREVIOUS), _ist(23, 0, PREVIOUS))

    rows = replay.historical(
        INFY, "60minute", _ist(0, 0, PREVIOUS), _ist(23, 0, PREVIOUS), oi=False
    )

    assert [str(r[0])[11:16] for r in rows] == [f"{h:02d}:15" for h in range(9, 16)]
    assert sum(int(str(r[5])) for r in rows) == minutes["volume"].sum()
    assert (rows[-1][4], rows[0][1]) == (minutes["close"][-1], minutes["open"][0])


def test_historical_day_rows_are_the_daily_candles_at_midnight(market: SimulatedMarket) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])
    daily = market.candles(
        InstrumentToken(INFY), _ist(0, 0, FIRST), _ist(23, 0, PREVIOUS), timedelta(days=1)
    )

    rows = replay.historical(INFY, "day", _ist(15, 0, FIRST), _ist(9, 0, PREVIOUS), oi=False)

    assert [r[0] for r in rows] == ["2026-06-01T00:00:00+0530", "2026-06-02T00:00:00+0530"]
    assert [r[1:] for r in rows] == [r[1:] for r in _kite_rows(daily, timedelta(0), oi=False)]


def test_historical_never_shows_bars_after_the_market_time(market: SimulatedMarket) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])
    before = replay.historical(INFY, "minute", _ist(9, 15), _ist(15, 29), oi=False)
    replay.quotes_until(
        _ist(
            10,
            0,
        )
    )

    rows = replay.historical(INFY, "minute", _ist(9, 15), _ist(15, 29), oi=False)
    explicit = replay.historical(
        INFY, "5minute", _ist(9, 15), _ist(15, 29), oi=False, as_of=_ist(9, 32)
    )

    assert before == []
    assert (len(rows), rows[-1][0]) == (45, "2026-06-03T09:59:00+0530")
    # The 09:30 bar is in progress at 09:32: built from the two minutes closed so far.
    assert [r[0] for r in explicit][-1] == "2026-06-03T09:30:00+0530"
    assert explicit[-1][5] == sum(int(str(r[5])) for r in rows[15:17])


@pytest.mark.parametrize(
    ("token", "interval", "start", "end", "message"),
    [
        (INFY, "2minute", _ist(9, 15), _ist(10, 0), "invalid interval"),
        (INFY, "minute", _ist(10, 0), _ist(9, 15), "from date is after to date"),
        (12345, "minute", _ist(9, 15, PREVIOUS), _ist(10, 0, PREVIOUS), "invalid token"),
    ],
)
def test_historical_bad_request_is_an_input_exception(
    market: SimulatedMarket, token: int, interval: str, start: datetime, end: datetime, message: str
) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])

    with pytest.raises(KiteApiError, match=message) as raised:
        replay.historical(token, interval, start, end, oi=False)

    assert (raised.value.error_type, raised.value.http_status) == ("InputException", 400)


def test_replay_session_bounds_are_utc(market: SimulatedMarket) -> None:
    replay = MarketReplay.from_simulator(market, DAY, tokens=[INFY])

    assert (replay.session_start, replay.session_end) == (_ist(9, 15), _ist(15, 30))
    assert replay.session_start.tzinfo == UTC
    assert replay.tokens == (INFY,)
    assert replay.size == len(replay.quotes_until(replay.session_end))
