"""Finding B11, every reader: what failed blocking checks (``candles_1m_quarantine``) is never
read back — by the streaming warm-up, the labels, the paper exchange (quotes, history, previous
close), the MCP tools, the research views or the lake-backed market data source — and an import
merged into the lake is stored with its verdict, as the ``candles_1m`` asset stores a day.

A real lake on ``tmp_path``: three simulated NSE sessions of INFY and RELIANCE with their
verdicts as the asset writes them (one partition per day). Quarantined: the whole first day (an
unreadable frame), RELIANCE's second session (a split-like jump), INFY's last bar of the second
day and its 10:00 bar on the third (structural failures).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest

from data_contracts.ids import InstrumentToken, ProposalId
from data_contracts.instruments import instruments_to_frame
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import ist_date
from data_contracts.timeutil import IST, UTC
from execution.console.research import _candles as research_candles
from execution.paper.market import MarketReplay
from execution.paper.market_lake import lake_closes
from execution.simulator import SimulatedMarket, SimulatorConfig
from execution.sources.files import LakeMarketData
from execution.store import SqlStore
from models.data_quality.quarantine import (
    QUARANTINE_SCHEMA,
    CandleReader,
    merge_judged,
    quarantine_table,
    read_candles,
)
from models.lake import Lake
from models.live.history import LakeHistory
from orchestration.mcp_cli import build_context
from orchestration.settings import load_config
from tests import factories

INFY, RELIANCE = 408065, 738561
FIRST, SECOND, THIRD = date(2026, 6, 1), date(2026, 6, 2), date(2026, 6, 3)
TABLE = "candles_1m"
HELD = quarantine_table(TABLE)
CALENDAR = NseCalendar.default()


def _ist(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=IST).astimezone(UTC)


INFY_LAST_BAR = _ist(SECOND, 15, 30)
INFY_TEN = _ist(THIRD, 10, 0)


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(SimulatorConfig(seed=4, start=FIRST, end=THIRD))


def _bars(market: SimulatedMarket, day: date) -> pl.DataFrame:
    return (
        market.day_candles(day)
        .filter(pl.col("instrument_token").is_in([INFY, RELIANCE]))
        .sort("instrument_token", "ts_event")
    )


def _verdict(*rows: tuple[int | None, datetime | None, str]) -> pl.DataFrame:
    """One day's partition of the quarantine (the lake adds ``date``)."""
    schema = {k: v for k, v in QUARANTINE_SCHEMA.items() if k != "date"}
    return pl.DataFrame(list(rows), schema=schema, orient="row")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, market: SimulatedMarket) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("lake"))
    verdicts = {
        FIRST: _verdict((None, None, "schema")),
        SECOND: _verdict(
            (RELIANCE, None, "split_like_jumps"), (INFY, INFY_LAST_BAR, "ohlc_consistent")
        ),
        THIRD: _verdict((INFY, INFY_TEN, "positive_prices")),
    }
    for day, verdict in verdicts.items():
        lake.write("instruments", day, instruments_to_frame(market.instruments(day)))
        lake.write(HELD, day, verdict)
        lake.write(TABLE, day, _bars(market, day))
    return lake


def _quarantined(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` (instrument_token, ts_event) that the quarantine names."""
    day = ist_date()
    token = pl.col("instrument_token")
    return frame.filter(
        (day == FIRST)
        | ((token == RELIANCE) & (day == SECOND))
        | ((token == INFY) & pl.col("ts_event").is_in([INFY_LAST_BAR, INFY_TEN]))
    )


def _history(lake: Lake) -> pl.DataFrame:
    history = LakeHistory(lake, CALENDAR)
    end = _ist(THIRD, 15, 30)
    return pl.concat([history.candles_before(t, end, 3 * 375) for t in (INFY, RELIANCE)])


def _labels(lake: Lake) -> pl.DataFrame:
    from assets.models import _read  # the labels' (and option labels') read of a day's candles

    frames = [_read(lake, TABLE, day) for day in (FIRST, SECOND, THIRD)]
    return pl.concat([f for f in frames if f is not None])


def _paper_history(lake: Lake) -> pl.DataFrame:
    replay = MarketReplay.from_lake(lake.root, THIRD, seed=3)
    rows = []
    for token in (INFY, RELIANCE):
        kite = replay.historical(token, "minute", _ist(FIRST, 9, 15), _ist(THIRD, 15, 29), oi=False)
        opens = [datetime.fromisoformat(str(r[0]).replace("+0530", "+05:30")) for r in kite]
        rows.append(
            pl.DataFrame(
                {"instrument_token": [token] * len(opens), "ts_event": opens},
                schema={"instrument_token": pl.Int64, "ts_event": pl.Datetime("us", "UTC")},
            ).with_columns(pl.col("ts_event") + timedelta(minutes=1))  # Kite rows: the open
        )
    return pl.concat(rows)


def _paper_quotes(lake: Lake) -> pl.DataFrame:
    replay = MarketReplay.from_lake(lake.root, THIRD, seed=3)
    quotes = replay.quotes_until(replay.session_end)
    stamps = pl.Series([q.ts_event for q in quotes], dtype=pl.Datetime("us", "UTC"))
    minute = 60_000_000
    close = ((stamps.dt.epoch("us") + minute - 1) // minute) * minute
    return pl.DataFrame(
        {
            "instrument_token": [q.instrument_token for q in quotes],
            "ts_event": close.cast(pl.Datetime("us", "UTC")),
        },
        schema_overrides={"instrument_token": pl.Int64},
    ).unique()


def _mcp(lake: Lake) -> pl.DataFrame:
    var = lake.root.parent / "mcp"
    environ = {
        "KITEPILOT_STORAGE__VAR_DIR": str(var),
        "KITEPILOT_STORAGE__LAKE_DIR": str(lake.root),
        "KITEPILOT_STORAGE__DATABASE_URL": f"sqlite:///{var / 'kitepilot.db'}",
    }
    config = load_config(environ=environ, dotenv_file=None)
    var.mkdir(exist_ok=True)
    from agents.tools.common import candles_with_history

    with SqlStore.open(environ["KITEPILOT_STORAGE__DATABASE_URL"]) as store:
        ctx = build_context(config, store)
        return pl.concat(
            [
                candles_with_history(ctx, token, FIRST, THIRD, warmup=warmup)
                for token in (INFY, RELIANCE)
                for warmup in (False, True)
            ]
        )


def _research(lake: Lake) -> pl.DataFrame:
    proposals = [
        factories.proposal(
            proposal_id=ProposalId(f"p-{token}"),
            instrument_token=InstrumentToken(token),
            ts_event=_ist(FIRST, 9, 30),
            ts_init=_ist(FIRST, 9, 30),
            expires_at=_ist(FIRST, 9, 32),
            time_exit=_ist(THIRD, 15, 0),
        )
        for token in (INFY, RELIANCE)
    ]
    return research_candles(lake, proposals)


def _market_data(lake: Lake) -> pl.DataFrame:
    source = LakeMarketData(lake)
    start, end = _ist(FIRST, 9, 0), _ist(THIRD, 15, 30)
    return pl.concat(
        [
            source.candles(InstrumentToken(t), start, end, timedelta(minutes=1)).with_columns(
                pl.lit(t, pl.Int64).alias("instrument_token")
            )
            for t in (INFY, RELIANCE)
        ]
    )


def _shared(lake: Lake) -> pl.DataFrame:
    return read_candles(lake, TABLE, FIRST, THIRD)


READERS: dict[str, Callable[[Lake], pl.DataFrame]] = {
    "read_candles": _shared,
    "streaming warm-up (LakeHistory)": _history,
    "labels (assets.models)": _labels,
    "paper exchange history": _paper_history,
    "paper exchange quotes": _paper_quotes,
    "MCP candles and indicators": _mcp,
    "research views": _research,
    "lake market data (files.LakeMarketData)": _market_data,
}


@pytest.mark.parametrize("reader", list(READERS), ids=list(READERS))
def test_reader_never_returns_a_quarantined_bar(lake: Lake, reader: str) -> None:
    frame = READERS[reader](lake).select("instrument_token", "ts_event")

    assert _quarantined(frame).is_empty()
    assert frame.filter(pl.col("instrument_token") == INFY).height > 0  # it did read
    stored = lake.scan(TABLE, FIRST, THIRD).drop("date").collect()
    assert _quarantined(stored).height > 2 * 375  # what the lake holds and the readers leave out


def test_warm_up_starts_after_the_last_quarantined_session(lake: Lake) -> None:
    history = LakeHistory(lake, CALENDAR)
    end = _ist(THIRD, 15, 30)

    reliance = history.candles_before(RELIANCE, end, 3 * 375)
    infy = history.candles_before(INFY, end, 3 * 375)

    assert reliance.select(ist_date().unique()).to_series().to_list() == [THIRD]
    assert infy.select(ist_date().unique().sort()).to_series().to_list() == [SECOND, THIRD]
    assert infy.height == 2 * 375 - 2


def test_paper_exchange_previous_close_is_the_last_bar_that_passed(
    lake: Lake, market: SimulatedMarket
) -> None:
    second = _bars(market, SECOND)
    infy = second.filter(pl.col("instrument_token") == INFY).sort("ts_event")

    closes = lake_closes(lake, THIRD)

    assert closes == {INFY: float(infy["close"][-2])}  # not its quarantined last bar; no RELIANCE
    assert infy["ts_event"][-1] == INFY_LAST_BAR


def test_paper_exchange_refuses_a_day_whose_every_bar_is_quarantined(lake: Lake) -> None:
    with pytest.raises(ValueError, match="passed the blocking checks"):
        MarketReplay.from_lake(lake.root, FIRST)


def test_an_import_merged_into_the_lake_is_stored_with_its_verdict(
    tmp_path: Path, market: SimulatedMarket
) -> None:
    lake = Lake(tmp_path / "lake")
    merge_judged(
        lake, TABLE, _bars(market, SECOND), interval=timedelta(minutes=1), calendar=CALENDAR
    )
    infy = _bars(market, THIRD).filter(pl.col("instrument_token") == INFY)
    late = infy.tail(1).with_columns(pl.col("ts_event") + timedelta(hours=2))  # 17:30 IST
    # A second file of the third day: INFY with an after-hours bar, RELIANCE halved (a split).
    reliance = _bars(market, THIRD).filter(pl.col("instrument_token") == RELIANCE)
    halved = reliance.with_columns(
        ((pl.col(c) / 2 / 0.05).round() * 0.05).round(2) for c in ("open", "high", "low", "close")
    )
    merge_judged(
        lake, TABLE, pl.concat([infy, late]), interval=timedelta(minutes=1), calendar=CALENDAR
    )
    report = merge_judged(lake, TABLE, halved, interval=timedelta(minutes=1), calendar=CALENDAR)

    held = lake.read(HELD, THIRD)
    clean = read_candles(lake, TABLE, SECOND, THIRD)
    stored = lake.read(TABLE, THIRD)

    assert not report.passed
    assert held is not None
    assert set(held["check"].to_list()) >= {"within_session_hours", "split_like_jumps"}
    assert stored is not None
    assert stored.height == 2 * 375 + 1  # both files, merged
    third = clean.filter(ist_date() == THIRD)
    assert third.filter(pl.col("instrument_token") == RELIANCE).is_empty()
    assert third.filter(pl.col("instrument_token") == INFY).height == 375  # less the late bar
    assert lake.read(HELD, SECOND) is not None  # the earlier import's verdict
    assert CandleReader(lake, TABLE).verdicts([SECOND]).is_empty()


def test_a_day_without_a_verdict_is_read_as_stored_unless_judged_now(
    tmp_path: Path, market: SimulatedMarket
) -> None:
    lake = Lake(tmp_path / "lake")
    bars = _bars(market, THIRD)
    late = bars.filter(pl.col("instrument_token") == INFY).tail(1)
    lake.write(
        TABLE, THIRD, pl.concat([bars, late.with_columns(pl.col("ts_event") + timedelta(hours=2))])
    )

    as_stored = CandleReader(lake, TABLE).read(THIRD, THIRD)
    judged = CandleReader(lake, TABLE, judge_unjudged=True, calendar=CALENDAR)

    assert as_stored.height == bars.height + 1
    assert judged.read(THIRD, THIRD).equals(bars)
    assert lake.read(HELD, THIRD) is None  # judging is reading: nothing is written
