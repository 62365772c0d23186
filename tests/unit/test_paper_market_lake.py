"""``MarketReplay`` from the lake: seeded ticks inside the lake's candles, the dump, previous
close from the earlier partition, historical rows, and one real NIFTY day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest

from data_contracts.enums import Exchange, InstrumentType
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import INDICES_SEGMENT, Instrument, instruments_to_frame
from data_contracts.schemas import CANDLE_SCHEMA
from data_contracts.timeutil import IST
from execution.paper.market import MarketReplay
from execution.paper.types import Quote
from execution.simulator import SimulatedMarket, SimulatorConfig
from models.lake import Lake

NIFTY, INFY, RELIANCE = 256265, 408065, 738561
DAY, PREVIOUS = date(2026, 6, 3), date(2026, 6, 2)
MINUTE_US = 60_000_000


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(SimulatorConfig(seed=4, start=date(2026, 6, 1), end=DAY))


@pytest.fixture(scope="module")
def option(market: SimulatedMarket) -> int:
    before = {c.instrument_token for c in market.option_contracts(PREVIOUS)}
    listed = [c for c in market.option_contracts(DAY) if c.instrument_token in before]
    return int(listed[len(listed) // 3].instrument_token)


def _day_candles(market: SimulatedMarket, day: date, option: int) -> pl.DataFrame:
    stocks = market.day_candles(day).filter(
        pl.col("instrument_token").is_in([NIFTY, INFY, RELIANCE])
    )
    return pl.concat([stocks, market.option_candles(InstrumentToken(option), day)])


@pytest.fixture(scope="module")
def lake_root(
    tmp_path_factory: pytest.TempPathFactory, market: SimulatedMarket, option: int
) -> Path:
    lake = Lake(tmp_path_factory.mktemp("lake"))
    for day in (PREVIOUS, DAY):
        lake.write("instruments", day, instruments_to_frame(market.instruments(day)))
        lake.write("candles_1m", day, _day_candles(market, day, option))
    return lake.root


def _ist(hour: int, minute: int, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=IST)


def _rebuilt(quotes: list[Quote], token: int) -> pl.DataFrame:
    rows = [q for q in quotes if q.instrument_token == token]
    frame = pl.DataFrame(
        {
            "ts": [q.ts_event for q in rows],
            "last": [q.last_price for q in rows],
            "qty": [q.last_quantity for q in rows],
        }
    )
    close = ((frame["ts"].dt.epoch("us") + MINUTE_US - 1) // MINUTE_US) * MINUTE_US
    return (
        frame.with_columns(close.cast(pl.Datetime("us", "UTC")).alias("ts_event"))
        .group_by("ts_event", maintain_order=True)
        .agg(
            pl.col("last").first().alias("open"),
            pl.col("last").max().alias("high"),
            pl.col("last").min().alias("low"),
            pl.col("last").last().alias("close"),
            pl.col("qty").sum().alias("volume"),
        )
    )


def test_from_lake_quotes_rebuild_the_lake_candles(
    lake_root: Path, market: SimulatedMarket, option: int
) -> None:
    replay = MarketReplay.from_lake(lake_root, DAY, seed=7)
    source = _day_candles(market, DAY, option)

    quotes = replay.quotes_until(replay.session_end)

    assert set(replay.tokens) == {NIFTY, INFY, RELIANCE, option}
    for token in (INFY, RELIANCE, option):
        expected = source.filter(pl.col("instrument_token") == token)
        rebuilt = _rebuilt(quotes, token)
        assert rebuilt.equals(expected.select(rebuilt.columns)), token


def test_from_lake_same_seed_equal_other_seed_different(lake_root: Path) -> None:
    first = MarketReplay.from_lake(lake_root, DAY, tokens=[INFY], seed=7)
    second = MarketReplay.from_lake(lake_root, DAY, tokens=[INFY], seed=7)
    other = MarketReplay.from_lake(lake_root, DAY, tokens=[INFY], seed=8)

    quotes = first.quotes_until(first.session_end)

    assert quotes == second.quotes_until(second.session_end)
    assert quotes != other.quotes_until(other.session_end)


def test_from_lake_previous_close_and_option_lots(
    lake_root: Path, market: SimulatedMarket, option: int
) -> None:
    replay = MarketReplay.from_lake(lake_root, DAY, tokens=[INFY, option])
    yesterday = _day_candles(market, PREVIOUS, option)
    lot = market.config.universe.index.option_lot_size

    quotes = replay.quotes_until(replay.session_end)

    for token in (INFY, option):
        expected = yesterday.filter(pl.col("instrument_token") == token)["close"][-1]
        assert {q.close for q in quotes if q.instrument_token == token} == {expected}
    option_quotes = [q for q in quotes if q.instrument_token == option]
    assert all(q.last_quantity % lot == 0 for q in option_quotes)
    assert all(q.oi > 0 and q.oi_day_low <= q.oi <= q.oi_day_high for q in option_quotes)
    assert all(q.bids[0].price <= q.last_price <= q.asks[0].price for q in option_quotes)


def test_from_lake_instruments_are_the_whole_dump(lake_root: Path, market: SimulatedMarket) -> None:
    replay = MarketReplay.from_lake(lake_root, DAY, tokens=[INFY])

    assert replay.instruments == tuple(market.instruments(DAY))
    assert replay.tokens == (INFY,)


def test_from_lake_dump_falls_back_to_the_latest_earlier_day(
    tmp_path: Path, market: SimulatedMarket, option: int
) -> None:
    lake = Lake(tmp_path)
    lake.write("instruments", PREVIOUS, instruments_to_frame(market.instruments(PREVIOUS)))
    lake.write(
        "candles_1m",
        DAY,
        _day_candles(market, DAY, option).filter(pl.col("instrument_token") == INFY),
    )

    replay = MarketReplay.from_lake(tmp_path, DAY)

    assert replay.instruments == tuple(market.instruments(PREVIOUS))
    assert replay.tokens == (INFY,)


def test_from_lake_without_the_days_candles_or_dump_raises(
    tmp_path: Path, market: SimulatedMarket
) -> None:
    lake = Lake(tmp_path)

    with pytest.raises(ContractError, match="instruments partition"):
        MarketReplay.from_lake(tmp_path, DAY)
    lake.write("instruments", DAY, instruments_to_frame(market.instruments(DAY)))
    with pytest.raises(ContractError, match="candles_1m partition"):
        MarketReplay.from_lake(tmp_path, DAY)


def test_from_lake_token_not_in_the_dump_raises(lake_root: Path) -> None:
    with pytest.raises(ContractError, match="tokens"):
        MarketReplay.from_lake(lake_root, DAY, tokens=[12345])


@pytest.mark.parametrize(("interval", "minutes"), [("minute", 1), ("15minute", 15)])
def test_from_lake_historical_rows_are_the_lake_candles_at_their_open(
    lake_root: Path, market: SimulatedMarket, interval: str, minutes: int
) -> None:
    replay = MarketReplay.from_lake(lake_root, DAY, tokens=[INFY])
    step = timedelta(minutes=minutes)
    source = market.candles(
        InstrumentToken(INFY), _ist(9, 15, PREVIOUS), _ist(15, 30, PREVIOUS), step
    )

    rows = replay.historical(INFY, interval, _ist(9, 15, PREVIOUS), _ist(15, 29, PREVIOUS), oi=True)

    assert rows == [
        [
            (r["ts_event"] - step).astimezone(IST).strftime("%Y-%m-%dT%H:%M:%S+0530"),
            r["open"],
            r["high"],
            r["low"],
            r["close"],
            r["volume"],
            0,
        ]
        for r in source.iter_rows(named=True)
    ]


# -- a real day: NIFTY 50 1-minute bars of 2024 (no volume), from the shared fixtures ------------

_REAL_DAY, _REAL_PREVIOUS = date(2024, 1, 2), date(2024, 1, 1)


def _real_nifty(shared_fixtures: Path, day: date) -> pl.DataFrame:
    """One day of the fixture as a ``CandleFrame`` (its times are bar starts in IST)."""
    raw = pl.read_csv(
        shared_fixtures / "candles" / "nifty-banknifty-1min-2024" / "NIFTY_2024.csv",
        schema_overrides={"Date": pl.String, "Time": pl.String},
    ).filter(pl.col("Date") == day.strftime("%Y%m%d"))
    opens = (pl.col("Date") + " " + pl.col("Time")).str.to_datetime(
        "%Y%m%d %H:%M", time_zone=str(IST)
    )
    return raw.select(
        pl.lit(NIFTY, pl.Int64).alias("instrument_token"),
        (opens + pl.duration(minutes=1))
        .dt.convert_time_zone("UTC")
        .dt.cast_time_unit("us")
        .alias("ts_event"),
        pl.col("Open").cast(pl.Float64).alias("open"),
        pl.col("High").cast(pl.Float64).alias("high"),
        pl.col("Low").cast(pl.Float64).alias("low"),
        pl.col("Close").cast(pl.Float64).alias("close"),
        pl.lit(0, pl.Int64).alias("volume"),
        pl.lit(None, pl.Int64).alias("oi"),
    ).cast(CANDLE_SCHEMA)  # type: ignore[arg-type]  # polars accepts a name -> dtype mapping


def test_from_lake_real_nifty_day_quotes_rebuild_the_bars(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    nifty = Instrument(
        instrument_token=InstrumentToken(NIFTY),
        exchange_token=1001,
        tradingsymbol="NIFTY 50",
        name="NIFTY 50",
        exchange=Exchange.NSE,
        segment=INDICES_SEGMENT,
        instrument_type=InstrumentType.EQ,
        expiry=None,
        strike=None,
        tick_size=0.0,
        lot_size=0,
    )
    lake = Lake(tmp_path)
    lake.write("instruments", _REAL_DAY, instruments_to_frame([nifty]))
    for day in (_REAL_PREVIOUS, _REAL_DAY):
        lake.write("candles_1m", day, _real_nifty(shared_fixtures, day))
    source = _real_nifty(shared_fixtures, _REAL_DAY)

    replay = MarketReplay.from_lake(tmp_path, _REAL_DAY)
    quotes = replay.quotes_until(replay.session_end)

    rebuilt = _rebuilt(quotes, NIFTY)
    assert source.height > 300
    assert rebuilt.drop("volume").equals(source.select(rebuilt.drop("volume").columns))
    assert {q.close for q in quotes} == {_real_nifty(shared_fixtures, _REAL_PREVIOUS)["close"][-1]}
    assert all(not q.tradable and q.volume == 0 and q.bids == () for q in quotes)
