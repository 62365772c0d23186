"""The Kite historical-data source against a local Kite stub, through the real ``kiteconnect``
client over real HTTP: chunking to Kite's day limits, pacing, retries, time conversion, the daily
instruments dump and option chains. Time is a fake clock; nothing really sleeps."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import kiteconnect
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data_contracts.clock import ManualClock
from data_contracts.enums import Exchange
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import parse_instruments_csv
from data_contracts.schemas import CandleFrame
from data_contracts.timeutil import IST
from execution.kite import (
    OPTION_CHAIN_SCHEMA,
    KiteHistoricalSource,
    KiteRequestRejectedError,
    KiteSessionExpiredError,
    KiteSourceSettings,
    KiteUnavailableError,
    RetryPolicy,
    TokenBucket,
    kite_client,
)
from execution.kite.historical import kite_time_to_utc
from tests.kite_stub import (
    MAX_DAYS,
    FakeTime,
    GoldenCandles,
    KiteStub,
    SyntheticCandles,
    synthetic_quote,
)

TOKEN = InstrumentToken(408065)  # INFY on NSE in Kite's mocks
NOW = datetime(2026, 8, 18, 4, 0, tzinfo=UTC)  # 09:30 IST, a Tuesday
SPARSE = SyntheticCandles(times=(clock_time(9, 15), clock_time(10, 0), clock_time(15, 29)))
UNPUBLISHED_YEAR = "ignore::data_contracts.nse_calendar.UnpublishedHolidaysWarning"
NIFTY_BANK_ROW = b"260105,1016,NIFTY BANK,NIFTY BANK,0.0,,0.0,0.0,0,EQ,INDICES,NSE\n"


def ist(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=IST)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def stub(fake_time: FakeTime) -> Iterator[KiteStub]:
    with KiteStub(candles=SPARSE, clock=fake_time.monotonic) as running:
        yield running


@pytest.fixture
def dump(shared_fixtures: Path) -> bytes:
    return (shared_fixtures / "kite-mocks" / "instruments_all.csv").read_bytes()


def make_source(
    stub: KiteStub,
    fake_time: FakeTime,
    *,
    clock: ManualClock | None = None,
    draw: Callable[[], float] = lambda: 0.0,
    **settings: Any,
) -> KiteHistoricalSource:
    client = kite_client(stub.api_key, stub.access_token, root=stub.url, timeout=5)
    settings.setdefault("retry", RetryPolicy(max_attempts=4))
    return KiteHistoricalSource(
        client,
        clock or ManualClock(NOW),
        settings=KiteSourceSettings(**settings),
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
        draw=draw,
    )


def windows(stub: KiteStub) -> list[tuple[str, str]]:
    return [(r.param("from"), r.param("to")) for r in stub.routed("historical")]


def wire(ts: datetime) -> str:
    return ts.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


# --- chunking ---------------------------------------------------------------------------------


def test_candles_150_day_minute_request_three_windows_without_duplicate_bars(
    stub: KiteStub, fake_time: FakeTime
) -> None:
    # 10:01 IST start: the first window opens at 10:00, a bar start, and so do the boundaries
    # 60 and 120 days later (weekdays), which both neighbouring windows return.
    start = ist(2026, 3, 2, 10, 1)
    end = start + timedelta(days=150)
    source = make_source(stub, fake_time)

    frame = source.candles(TOKEN, start, end, timedelta(minutes=1))

    first = start - timedelta(minutes=1)
    expected_windows = [
        (wire(first), wire(first + timedelta(days=60))),
        (wire(first + timedelta(days=60)), wire(first + timedelta(days=120))),
        (wire(first + timedelta(days=120)), wire(end)),
    ]
    expected_closes = [
        (s + timedelta(minutes=1)).astimezone(UTC)
        for s in SPARSE.starts("minute", first, end)
        if start < s + timedelta(minutes=1) <= end
    ]
    returned = sum(r.rows or 0 for r in stub.routed("historical"))
    assert windows(stub) == expected_windows
    assert frame["ts_event"].to_list() == expected_closes
    # Returned but not kept: the bar closing exactly at `start` (the range is half-open) and the
    # second copy of each of the two shared boundary bars.
    assert returned == frame.height + 1 + 2
    assert frame["ts_event"].is_unique().all()
    CandleFrame.validate(frame)


@pytest.mark.filterwarnings(UNPUBLISHED_YEAR)  # the daily range reaches back to 2014
@pytest.mark.parametrize(
    ("interval", "name", "days"),
    [
        (timedelta(minutes=1), "minute", 400),
        (timedelta(minutes=3), "3minute", 250),
        (timedelta(minutes=15), "15minute", 450),
        (timedelta(minutes=60), "60minute", 1000),
        (timedelta(days=1), "day", 4500),
    ],
)
def test_candles_long_range_windows_stay_within_interval_limit(
    stub: KiteStub, fake_time: FakeTime, interval: timedelta, name: str, days: int
) -> None:
    start = ist(2014, 1, 6, 9, 15) if name == "day" else ist(2024, 1, 1, 9, 15)
    end = start + timedelta(days=days)
    source = make_source(stub, fake_time)

    source.candles(TOKEN, start, end, interval)

    sent = stub.routed("historical")
    spans = [
        datetime.fromisoformat(r.param("to")) - datetime.fromisoformat(r.param("from"))
        for r in sent
    ]
    assert len(sent) == math.ceil((end - start + interval) / timedelta(days=MAX_DAYS[name]))
    assert all(span <= timedelta(days=MAX_DAYS[name]) for span in spans)
    assert all(r.status == 200 and r.path.endswith(f"/{name}") for r in sent)
    assert [r.param("to") for r in sent[:-1]] == [r.param("from") for r in sent[1:]]
    assert (sent[0].param("from"), sent[-1].param("to")) == (wire(start - interval), wire(end))


def test_stub_rejects_a_window_over_the_interval_limit(stub: KiteStub) -> None:
    # The guard the chunking tests rely on: an over-range request would have failed them.
    client = kite_client(stub.api_key, stub.access_token, root=stub.url)

    with pytest.raises(kiteconnect.exceptions.InputException, match="exceeds max limit: 60"):
        client.historical_data(TOKEN, "2026-01-01 09:15:00", "2026-03-02 09:15:01", "minute")


# --- pacing -----------------------------------------------------------------------------------


def test_candles_requests_are_paced_at_three_per_second(
    stub: KiteStub, fake_time: FakeTime
) -> None:
    source = make_source(stub, fake_time)

    source.candles(TOKEN, ist(2024, 1, 1, 9, 15), ist(2025, 2, 1, 9, 15), timedelta(minutes=1))

    sent = [r.at for r in stub.routed("historical")]
    assert len(sent) == 7
    assert all(
        later - earlier >= 1.0 - 1e-9 for earlier, later in zip(sent, sent[3:], strict=False)
    )
    assert sent[1] - sent[0] == pytest.approx(1 / 3)


@given(
    rate=st.sampled_from([1, 2, 3, 10]),
    gaps=st.lists(st.floats(min_value=0.0, max_value=1.5), min_size=1, max_size=40),
)
def test_token_bucket_never_grants_more_than_rate_in_any_second(
    rate: int, gaps: list[float]
) -> None:
    fake = FakeTime()
    bucket = TokenBucket(rate, monotonic=fake.monotonic, sleep=fake.sleep)
    granted: list[float] = []

    for gap in gaps:
        fake.now += gap  # the caller arrives
        arrived = fake.now
        bucket.acquire()
        granted.append(fake.now)
        assert fake.now >= arrived

    assert all(b - a >= 1.0 - 1e-9 for a, b in zip(granted, granted[rate:], strict=False))


# --- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "statuses"),
    [
        (
            lambda s: s.fail(
                "historical",
                status=429,
                error_type="NetworkException",
                message="Too many requests",
                times=2,
            ),
            [429, 429, 200],
        ),
        (lambda s: s.fail("historical", status=503, error_type="NetworkException"), [503, 200]),
        (lambda s: s.fail("historical", status=502, error_type="DataException"), [502, 200]),
        (lambda s: s.fail("historical", status=500, error_type="GeneralException"), [500, 200]),
        (lambda s: s.drop("historical"), [0, 200]),
    ],
    ids=["429-twice", "503", "502", "500", "dropped-connection"],
)
def test_candles_transient_failure_retried_until_success(
    stub: KiteStub, fake_time: FakeTime, script: Callable[[KiteStub], None], statuses: list[int]
) -> None:
    source = make_source(stub, fake_time)
    start, end = ist(2026, 8, 17, 9, 15), ist(2026, 8, 18, 15, 30)
    clean = source.candles(TOKEN, start, end, timedelta(minutes=1))
    stub.requests.clear()
    script(stub)

    frame = source.candles(TOKEN, start, end, timedelta(minutes=1))

    assert [r.status for r in stub.routed("historical")] == statuses
    assert_frame_equal(frame, clean)


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 1.0), (0.999, 0.5005)])
def test_retry_backoff_doubles_and_jitter_shortens_it(
    stub: KiteStub, fake_time: FakeTime, draw: float, factor: float
) -> None:
    policy = RetryPolicy(max_attempts=4, base_delay=1.0)  # every wait longer than the pacing
    source = make_source(stub, fake_time, draw=lambda: draw, retry=policy)
    stub.fail("historical", status=429, error_type="NetworkException", times=3)

    source.candles(TOKEN, ist(2026, 8, 17, 9, 15), ist(2026, 8, 17, 15, 30), timedelta(minutes=1))

    sent = [r.at for r in stub.routed("historical")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert gaps == pytest.approx([1.0 * factor, 2.0 * factor, 4.0 * factor])


def test_candles_still_failing_after_max_attempts_raises_unavailable(
    stub: KiteStub, fake_time: FakeTime
) -> None:
    source = make_source(stub, fake_time, retry=RetryPolicy(max_attempts=3))
    stub.fail("historical", status=503, error_type="NetworkException", times=5)

    with pytest.raises(KiteUnavailableError, match=r"failed 3 times, last with HTTP 503") as info:
        source.candles(TOKEN, ist(2026, 8, 17, 9, 15), ist(2026, 8, 17, 15, 30), timedelta(days=1))

    assert len(stub.routed("historical")) == 3
    assert info.value.code == 503


def test_candles_expired_session_raises_clearly_without_retrying(
    stub: KiteStub, fake_time: FakeTime
) -> None:
    source = make_source(stub, fake_time)
    stub.expire_session()

    with pytest.raises(KiteSessionExpiredError, match=r"session expired.*log in again") as info:
        source.candles(TOKEN, ist(2026, 8, 17, 9, 15), ist(2026, 8, 17, 15, 30), timedelta(days=1))

    assert len(stub.routed("historical")) == 1
    assert info.value.code == 403


def test_candles_input_error_is_not_retried(stub: KiteStub, fake_time: FakeTime) -> None:
    source = make_source(stub, fake_time)
    stub.fail("historical", status=400, error_type="InputException", message="invalid token")

    with pytest.raises(KiteRequestRejectedError, match="HTTP 400 InputException: invalid token"):
        source.candles(TOKEN, ist(2026, 8, 17, 9, 15), ist(2026, 8, 17, 15, 30), timedelta(days=1))

    assert len(stub.routed("historical")) == 1
    assert fake_time.sleeps == []


# --- time conversion --------------------------------------------------------------------------


@pytest.mark.filterwarnings(UNPUBLISHED_YEAR)
def test_candles_golden_minute_bars_close_one_minute_after_their_ist_label(
    stub: KiteStub, fake_time: FakeTime, shared_fixtures: Path
) -> None:
    golden = json.loads((shared_fixtures / "kite-mocks" / "historical_minute.json").read_text())
    stub.candles = GoldenCandles(golden)
    source = make_source(stub, fake_time)

    frame = source.candles(
        TOKEN, ist(2017, 12, 15, 9, 15), ist(2017, 12, 15, 9, 21), timedelta(minutes=1)
    )

    # "2017-12-15T09:15:00+0530" is the bar 09:15-09:16 IST, which closed at 03:46 UTC.
    first = frame.row(0, named=True)
    assert windows(stub) == [("2017-12-15 09:14:00", "2017-12-15 09:21:00")]
    assert frame.height == 6
    assert first["ts_event"] == datetime(2017, 12, 15, 3, 46, tzinfo=UTC)
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        1704.5,
        1705.0,
        1699.25,
        1702.8,
    )
    assert (first["volume"], first["oi"]) == (2499, None)
    assert frame["ts_event"][-1] == datetime(2017, 12, 15, 3, 51, tzinfo=UTC)


@pytest.mark.filterwarnings(UNPUBLISHED_YEAR)
@pytest.mark.parametrize("oi", [True, False])
def test_candles_golden_oi_bars_carry_oi_only_when_asked(
    stub: KiteStub, fake_time: FakeTime, shared_fixtures: Path, oi: bool
) -> None:
    golden = json.loads((shared_fixtures / "kite-mocks" / "historical_oi.json").read_text())
    stub.candles = GoldenCandles(golden)
    source = make_source(stub, fake_time)

    frame = source.candles(
        TOKEN, ist(2019, 12, 4, 9, 15), ist(2019, 12, 4, 9, 30), timedelta(minutes=1), oi=oi
    )

    expected = [c[6] for c in golden["data"]["candles"]] if oi else [None] * frame.height
    assert stub.routed("historical")[0].param("oi") == ("1" if oi else "0")
    assert frame.height == len(golden["data"]["candles"])
    assert frame["oi"].to_list() == expected


@pytest.mark.parametrize(
    "value",
    [
        datetime(2017, 12, 15, 9, 15),  # noqa: DTZ001 - a naive IST value, as the quote route gives
        ist(2017, 12, 15, 9, 15),
        "2017-12-15T09:15:00+0530",
        "2017-12-15 09:15:00",
    ],
    ids=["naive-ist", "aware-ist", "kite-string", "naive-string"],
)
def test_kite_time_to_utc_naive_and_aware_inputs_agree(value: datetime | str) -> None:
    assert kite_time_to_utc(value) == datetime(2017, 12, 15, 3, 45, tzinfo=UTC)


def test_candles_daily_bars_close_at_their_session_close(
    stub: KiteStub, fake_time: FakeTime
) -> None:
    labels = ["2024-03-01", "2024-03-02", "2024-10-31", "2024-11-01"]
    stub.candles = GoldenCandles(
        {
            "data": {
                "candles": [
                    [f"{day}T00:00:00+0530", 100.0, 101.0, 99.0, 100.5, 1000] for day in labels
                ]
            }
        }
    )
    source = make_source(stub, fake_time)

    frame = source.candles(TOKEN, ist(2024, 2, 1), ist(2024, 12, 1), timedelta(days=1))

    assert frame["ts_event"].to_list() == [
        datetime(2024, 3, 1, 10, 0, tzinfo=UTC),  # regular: 15:30 IST
        datetime(2024, 3, 2, 7, 0, tzinfo=UTC),  # Saturday DR-drill session: 12:30 IST
        datetime(2024, 10, 31, 10, 0, tzinfo=UTC),
        datetime(2024, 11, 1, 13, 30, tzinfo=UTC),  # Muhurat session: 19:00 IST
    ]


def test_candles_last_hourly_bar_is_cut_at_the_session_close(
    stub: KiteStub, fake_time: FakeTime
) -> None:
    stub.candles = SyntheticCandles()
    source = make_source(stub, fake_time)

    frame = source.candles(
        TOKEN, ist(2026, 8, 18, 9, 0), ist(2026, 8, 18, 23, 0), timedelta(minutes=60)
    )

    closes = [ts.astimezone(IST).time() for ts in frame["ts_event"]]
    assert closes == [clock_time(h, 15) for h in range(10, 16)] + [clock_time(15, 30)]


def test_candles_only_bars_closing_inside_the_half_open_range(
    stub: KiteStub, fake_time: FakeTime
) -> None:
    stub.candles = SyntheticCandles()
    source = make_source(stub, fake_time)

    frame = source.candles(
        TOKEN, ist(2026, 8, 18, 9, 20), ist(2026, 8, 18, 9, 35), timedelta(minutes=5)
    )

    closes = [ts.astimezone(IST).time() for ts in frame["ts_event"]]
    assert closes == [clock_time(9, 25), clock_time(9, 30), clock_time(9, 35)]


@pytest.mark.parametrize("interval", [timedelta(minutes=2), timedelta(hours=2), timedelta(0)])
def test_candles_unsupported_interval_rejected_before_any_request(
    stub: KiteStub, fake_time: FakeTime, interval: timedelta
) -> None:
    source = make_source(stub, fake_time)

    with pytest.raises(ContractError, match=r"KiteHistoricalSource\.interval must be one of"):
        source.candles(TOKEN, ist(2026, 8, 18, 9, 15), ist(2026, 8, 18, 10, 15), interval)

    assert stub.requests == []


def test_kite_client_refuses_a_root_with_a_path() -> None:
    with pytest.raises(ContractError, match="without a path"):
        kite_client("key", "token", root="http://127.0.0.1:8000/kite")


# --- instruments ------------------------------------------------------------------------------


def test_instruments_downloaded_once_per_ist_date_and_again_after_the_dump_is_ready(
    stub: KiteStub, fake_time: FakeTime, dump: bytes
) -> None:
    stub.instruments_csv = dump
    clock = ManualClock(datetime(2026, 8, 18, 4, 0, tzinfo=UTC))  # 09:30 IST on the 18th
    source = make_source(stub, fake_time, clock=clock)
    downloads: list[int] = []
    sizes: list[int] = []

    for moment in (
        datetime(2026, 8, 18, 4, 0, tzinfo=UTC),  # first call of the day: download
        datetime(2026, 8, 18, 18, 0, tzinfo=UTC),  # 23:30 IST, same day: cached
        datetime(2026, 8, 18, 19, 0, tzinfo=UTC),  # 00:30 IST on the 19th (UTC still 18th)
        datetime(2026, 8, 19, 2, 0, tzinfo=UTC),  # 07:30 IST: that early copy is still used
        datetime(2026, 8, 19, 3, 5, tzinfo=UTC),  # 08:35 IST: the day's dump is out, refetch
        datetime(2026, 8, 19, 9, 0, tzinfo=UTC),  # 14:30 IST: cached
    ):
        clock.set(moment)
        if moment.hour == 3:
            stub.instruments_csv = dump + NIFTY_BANK_ROW  # the new day's dump differs
        sizes.append(len(source.instruments(moment)))
        downloads.append(len(stub.routed("instruments")))

    nse_and_nfo = len(parse_instruments_csv(dump, exchanges={Exchange.NSE, Exchange.NFO}))
    assert downloads == [1, 1, 2, 2, 3, 3]
    assert sizes == [nse_and_nfo] * 4 + [nse_and_nfo + 1] * 2


def test_instruments_kept_on_disk_are_reused_by_a_new_source(
    stub: KiteStub, fake_time: FakeTime, dump: bytes, tmp_path: Path
) -> None:
    stub.instruments_csv = dump
    first = make_source(stub, fake_time, cache_dir=tmp_path)
    second = make_source(stub, fake_time, cache_dir=tmp_path)

    downloaded = first.instruments(NOW)
    reloaded = second.instruments(NOW)

    assert reloaded == downloaded
    assert len(stub.routed("instruments")) == 1
    assert (tmp_path / "instruments-2026-08-18.csv.gz").is_file()


def test_instruments_of_an_uncached_past_day_refused(
    stub: KiteStub, fake_time: FakeTime, dump: bytes
) -> None:
    stub.instruments_csv = dump
    source = make_source(stub, fake_time)

    with pytest.raises(ContractError, match="Kite serves only the current dump"):
        source.instruments(NOW - timedelta(days=1))

    assert stub.routed("instruments") == []


# --- option chains ----------------------------------------------------------------------------


def test_option_chain_assembled_from_dump_and_batched_quotes(
    stub: KiteStub, fake_time: FakeTime, dump: bytes
) -> None:
    stub.instruments_csv = dump + NIFTY_BANK_ROW
    quoted_at = "2018-01-10 10:15:00"  # IST, naive as Kite sends it
    strikes = {23400: 2622.0, 23500: 2528.4, 23600: 2435.55}  # 23700 CE gets no quote
    for strike, price in strikes.items():
        stub.quotes[f"NFO:BANKNIFTY18JAN{strike}CE"] = synthetic_quote_for(
            quoted_at, price, bid=price - 1, ask=price + 1
        )
    for strike in (23400, 23500, 23600, 23700):
        stub.quotes[f"NFO:BANKNIFTY18JAN{strike}PE"] = synthetic_quote_for(
            quoted_at,
            30.0,
            bid=None,
            ask=30.5,  # nobody bidding
        )
    clock = ManualClock(datetime(2018, 1, 10, 4, 50, tzinfo=UTC))
    source = make_source(stub, fake_time, clock=clock, quote_batch_size=3)

    chain = source.option_chain("BANKNIFTY", date(2018, 1, 25))

    sent = stub.routed("quote")
    asked = [key for r in sent for key in r.query["i"]]
    assert dict(chain.schema) == dict(OPTION_CHAIN_SCHEMA)
    assert chain.height == 8
    assert [len(r.query["i"]) for r in sent] == [3, 3, 2]
    assert sorted(asked) == sorted(f"NFO:{s}" for s in chain["tradingsymbol"])
    assert all(b.at - a.at >= 1.0 for a, b in itertools.pairwise(sent))
    assert chain.select("strike", "option_type").rows() == [
        (float(k), t) for k in (23400, 23500, 23600, 23700) for t in ("CE", "PE")
    ]
    assert chain.row(2, named=True) == {
        "ts_event": datetime(2018, 1, 10, 4, 45, tzinfo=UTC),
        "underlying_token": 260105,
        "instrument_token": 12073986,
        "tradingsymbol": "BANKNIFTY18JAN23500CE",
        "expiry": date(2018, 1, 25),
        "strike": 23500.0,
        "option_type": "CE",
        "last_price": 2528.4,
        "bid": 2527.4,
        "ask": 2529.4,
        "oi": 1200,
        "volume": 3400,
    }
    unquoted = chain.row(6, named=True)
    assert (unquoted["tradingsymbol"], unquoted["ts_event"]) == (
        "BANKNIFTY18JAN23700CE",
        clock.now(),
    )
    assert [unquoted[k] for k in ("last_price", "bid", "ask", "oi", "volume")] == [None] * 5
    assert chain.filter(pl.col("option_type") == "PE")["bid"].is_null().all()


def test_option_chain_unknown_underlying_refused(
    stub: KiteStub, fake_time: FakeTime, dump: bytes
) -> None:
    stub.instruments_csv = dump
    source = make_source(stub, fake_time)

    with pytest.raises(ContractError, match="has no NFO options expiring 2018-01-25"):
        source.option_chain("NIFTY", date(2018, 1, 25))

    assert stub.routed("quote") == []


def synthetic_quote_for(
    timestamp: str, price: float, *, bid: float | None, ask: float | None
) -> dict[str, Any]:
    return synthetic_quote(
        1, timestamp=timestamp, last_price=price, bid=bid, ask=ask, oi=1200, volume=3400
    )
