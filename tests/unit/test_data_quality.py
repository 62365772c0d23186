"""Candle data quality: every check catches its defect, and only its defect, on synthetic frames.

A clean frame (regular or special sessions from the NSE calendar, a random walk on the 0.05 tick
grid, volume on every bar) passes every check; each test injects one defect and expects exactly
the check that names it to fail, with the right observed value.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.enums import SegmentId
from data_contracts.errors import ContractError
from data_contracts.instruments import instrument_token
from data_contracts.nse_calendar import NseCalendar, Session, UnpublishedHolidaysWarning
from data_contracts.schemas import UTC_TIMESTAMP
from data_contracts.timeutil import IST
from models.data_quality import (
    IMPORT_CHECKS,
    STATISTICAL_CHECKS,
    STRUCTURAL_CHECKS,
    CheckResult,
    QualityReport,
    QualityThresholds,
    Severity,
    format_report,
    infer_interval,
    validate_candles,
)
from models.data_quality.aggregates import build_aggregates
from models.data_quality.sessions import build_grid

CALENDAR = NseCalendar.default()
ONE_MINUTE = dt.timedelta(minutes=1)
TICK = 0.05
# Mon 12 - Fri 16 Aug 2024: four regular sessions around Independence Day (Thu 15th).
WEEK = (dt.date(2024, 8, 12), dt.date(2024, 8, 16))
TOKENS = (101, 202)
SYMBOLS = {101: "ALPHA", 202: "BETA"}
ALL_CHECKS = frozenset((*STRUCTURAL_CHECKS, *IMPORT_CHECKS, *STATISTICAL_CHECKS))


# -- a clean frame ------------------------------------------------------------------------------


def _sessions(start: dt.date, end: dt.date) -> list[Session]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnpublishedHolidaysWarning)
        return CALENDAR.sessions(start, end)


def _bar_closes(session: Session, interval: dt.timedelta) -> list[dt.datetime]:
    """Where bars close: open + k * interval, a partial last bar at the close, none in a break."""
    if interval >= session.close - session.open:
        return [session.close]
    closes: list[dt.datetime] = []
    at = session.open + interval
    while at < session.close:
        closes.append(at)
        at += interval
    closes.append(session.close)
    for window in session.breaks:
        closes = [c for c in closes if not window.start < c <= window.end]
        if window.start not in closes:
            closes.append(window.start)
    return sorted(closes)


def _tick(price: float) -> float:
    return round(round(price / TICK) * TICK, 2)


def clean_candles(
    start: dt.date = WEEK[0],
    end: dt.date = WEEK[1],
    interval: dt.timedelta = ONE_MINUTE,
    tokens: tuple[int, ...] = TOKENS,
    seed: int = 7,
) -> pl.DataFrame:
    """A CandleFrame of regular/special sessions: random walk on the tick grid, volume > 0."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    sessions = _sessions(start, end)
    for n, token in enumerate(tokens):
        close = 1000.0 + 500.0 * n
        for session in sessions:
            for ts in _bar_closes(session, interval):
                open_ = close
                close = _tick(open_ * float(np.exp(rng.normal(0.0, 1e-3))))
                high = _tick(max(open_, close) + float(rng.uniform(0.1, 1.0)))
                low = _tick(min(open_, close) - float(rng.uniform(0.1, 1.0)))
                rows.append(
                    {
                        "instrument_token": token,
                        "ts_event": ts,
                        "open": open_,
                        "high": high,
                        "low": low,
                        "close": close,
                        "volume": int(rng.integers(1_000, 5_000)),
                        "oi": None,
                    }
                )
    return pl.DataFrame(
        rows,
        schema={
            "instrument_token": pl.Int64,
            "ts_event": UTC_TIMESTAMP,
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
            "volume": pl.Int64,
            "oi": pl.Int64,
        },
    )


def ist(day: dt.date, hour: int, minute: int, second: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=IST).astimezone(dt.UTC)


def validate(frame: pl.DataFrame, **kwargs: Any) -> QualityReport:
    options: dict[str, Any] = {"interval": ONE_MINUTE, "calendar": CALENDAR, "symbols": SYMBOLS}
    return validate_candles(frame, **(options | kwargs))


def bar_at(frame: pl.DataFrame, token: int, ts: dt.datetime) -> pl.Expr:
    return (pl.col("instrument_token") == token) & (pl.col("ts_event") == ts)


def session_of(token: int, day: dt.date) -> pl.Expr:
    local = pl.col("ts_event").dt.convert_time_zone("Asia/Kolkata").dt.date()
    return (pl.col("instrument_token") == token) & (local == day)


@pytest.fixture(scope="module")
def week() -> pl.DataFrame:
    return clean_candles()


# -- clean frames pass -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "interval"),
    [
        pytest.param(*WEEK, ONE_MINUTE, id="1m-week-with-holiday"),
        pytest.param(*WEEK, dt.timedelta(minutes=5), id="5m"),
        pytest.param(*WEEK, dt.timedelta(minutes=15), id="15m"),
        pytest.param(*WEEK, dt.timedelta(hours=1), id="1h-partial-last-bar"),
        pytest.param(dt.date(2024, 6, 3), dt.date(2024, 9, 30), dt.timedelta(days=1), id="1d"),
        pytest.param(dt.date(2024, 3, 1), dt.date(2024, 3, 4), ONE_MINUTE, id="1m-dr-drill-break"),
        pytest.param(dt.date(2024, 1, 19), dt.date(2024, 1, 23), ONE_MINUTE, id="1m-saturday"),
        pytest.param(dt.date(2024, 10, 31), dt.date(2024, 11, 4), ONE_MINUTE, id="1m-muhurat"),
        pytest.param(dt.date(2023, 7, 3), dt.date(2023, 7, 7), ONE_MINUTE, id="unpublished-year"),
    ],
)
def test_validate_candles_clean_frame_passes_every_check(
    start: dt.date, end: dt.date, interval: dt.timedelta
) -> None:
    frame = clean_candles(start, end, interval)

    report = validate(frame, interval=interval)

    assert report.failed_names == frozenset(), format_report(report)
    assert report.passed
    assert {r.name for r in report.results} == ALL_CHECKS
    assert report.rows == frame.height
    assert report.instruments == len(TOKENS)


def test_validate_candles_empty_frame_passes_every_check(week: pl.DataFrame) -> None:
    report = validate(week.head(0))

    assert report.failed_names == frozenset()


# -- structural (blocking) checks --------------------------------------------------------------

Inject = Callable[[pl.DataFrame], pl.DataFrame]
DAY = dt.date(2024, 8, 14)
NOON = ist(DAY, 12, 0)


def _set(frame: pl.DataFrame, where: pl.Expr, **values: Any) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(where).then(pl.lit(v)).otherwise(pl.col(k)).cast(frame.schema[k]).alias(k)
        for k, v in values.items()
    )


def _duplicate(frame: pl.DataFrame, *, close: float | None) -> pl.DataFrame:
    index = frame.with_row_index("i").filter(bar_at(frame, 101, NOON))["i"][0]
    copy = frame.slice(index, 1)
    if close is not None:
        copy = copy.with_columns(pl.lit(close).alias("close"), pl.lit(close + 50).alias("high"))
    return pl.concat([frame.head(index + 1), copy, frame.slice(index + 1)])


def _swap(frame: pl.DataFrame) -> pl.DataFrame:
    index = frame.with_row_index("i").filter(bar_at(frame, 101, NOON))["i"][0]
    order = list(range(frame.height))
    order[index], order[index + 1] = order[index + 1], order[index]
    return frame[order]


def _extra_bar(frame: pl.DataFrame, ts: dt.datetime) -> pl.DataFrame:
    bar = frame.filter(bar_at(frame, 101, NOON)).with_columns(
        pl.lit(ts).cast(UTC_TIMESTAMP).alias("ts_event")
    )
    return pl.concat([frame, bar]).sort("instrument_token", "ts_event")


STRUCTURAL_DEFECTS: list[Any] = [
    pytest.param(lambda f: f.drop("oi"), "columns_and_types", {"problems": 1}, id="missing-column"),
    pytest.param(
        lambda f: f.with_columns(pl.col("volume").cast(pl.Float64)),
        "columns_and_types",
        {"problems": 1},
        id="wrong-dtype",
    ),
    pytest.param(
        lambda f: _set(f, bar_at(f, 101, NOON), volume=None),
        "no_nulls",
        {"failing_rows": 1, "volume_rows": 1},
        id="null-volume",
    ),
    pytest.param(
        lambda f: _set(f, pl.col("instrument_token") == 101, instrument_token=0),
        "positive_instrument_token",
        {"failing_rows": 4 * 375},
        id="zero-token",
    ),
    pytest.param(
        lambda f: _set(f, bar_at(f, 101, NOON), open=-5.0, high=-5.0, low=-5.0, close=-5.0),
        "positive_prices",
        {"failing_rows": 1, "open_rows": 1, "close_rows": 1},
        id="negative-price",
    ),
    pytest.param(
        lambda f: _set(f, bar_at(f, 101, NOON), volume=-3),
        "non_negative_volume",
        {"failing_rows": 1},
        id="negative-volume",
    ),
    pytest.param(
        lambda f: _set(f, bar_at(f, 101, NOON), high=float("inf")),
        "prices_finite",
        {"failing_rows": 1},
        id="infinite-high",
    ),
    pytest.param(
        lambda f: f.with_columns(
            pl.when(bar_at(f, 101, NOON))
            .then(pl.max_horizontal("open", "close") - TICK)
            .otherwise(pl.col("high"))
            .alias("high")
        ),
        "ohlc_high_is_highest",
        {"failing_rows": 1},
        id="high-below-open",
    ),
    pytest.param(
        lambda f: f.with_columns(
            pl.when(bar_at(f, 101, NOON))
            .then(pl.min_horizontal("open", "close") + TICK)
            .otherwise(pl.col("low"))
            .alias("low")
        ),
        "ohlc_low_is_lowest",
        {"failing_rows": 1},
        id="low-above-close",
    ),
    pytest.param(
        lambda f: _duplicate(f, close=None),
        "unique_instrument_ts",
        {"failing_rows": 2, "duplicated_keys": 1, "conflicting_keys": 0},
        id="same-bar-twice",
    ),
    pytest.param(
        lambda f: _duplicate(f, close=1.0e6),
        "unique_instrument_ts",
        {"failing_rows": 2, "duplicated_keys": 1, "conflicting_keys": 1},
        id="two-versions-of-a-bar",
    ),
    pytest.param(_swap, "ordered", {"rows_out_of_order": 1}, id="two-rows-swapped"),
    pytest.param(
        lambda f: _extra_bar(f, ist(DAY, 15, 31)),
        "within_session_hours",
        {"bars_outside": 1, "after_close_bars": 1, "dates": "2024-08-14"},
        id="after-close",
    ),
    pytest.param(
        lambda f: _extra_bar(f, ist(DAY, 9, 15)),
        "within_session_hours",
        {"bars_outside": 1, "before_open_bars": 1},
        id="closes-at-the-open",
    ),
    pytest.param(
        lambda f: _extra_bar(f, ist(DAY, 10, 0, 30)),
        "within_session_hours",
        {"bars_outside": 1, "off_grid_bars": 1},
        id="off-the-minute-grid",
    ),
]


@pytest.mark.parametrize(("inject", "check", "observed"), STRUCTURAL_DEFECTS)
def test_validate_candles_structural_defect_fails_only_its_blocking_check(
    week: pl.DataFrame, inject: Inject, check: str, observed: dict[str, Any]
) -> None:
    report = validate(inject(week))

    result = report.result(check)
    assert report.failed_names == {check}, format_report(report)
    assert result.blocking
    assert result.severity is Severity.ERROR
    assert not report.passed
    assert observed.items() <= dict(result.observed).items()
    assert result.sample


def test_validate_candles_bar_inside_a_break_fails_session_hours() -> None:
    frame = clean_candles(dt.date(2024, 3, 1), dt.date(2024, 3, 4))
    in_break = ist(dt.date(2024, 3, 2), 10, 31)
    bar = frame.filter(pl.col("instrument_token") == 101).head(1)
    broken = pl.concat(
        [frame, bar.with_columns(pl.lit(in_break).cast(UTC_TIMESTAMP).alias("ts_event"))]
    )

    report = validate(broken.sort("instrument_token", "ts_event"))

    assert report.failed_names == {"within_session_hours"}
    assert report.result("within_session_hours").observed["in_break_bars"] == 1


def test_validate_candles_naive_timestamps_not_evaluated_and_fail(week: pl.DataFrame) -> None:
    naive = week.with_columns(pl.col("ts_event").dt.replace_time_zone(None))

    report = validate(naive)

    hours = report.result("within_session_hours")
    assert {"columns_and_types", "ordered", "within_session_hours"} <= report.failed_names
    assert set(STATISTICAL_CHECKS) <= report.failed_names
    assert hours.observed["evaluated"] is False
    assert "tz-aware" in str(hours.observed["reason"])


# -- statistical (warning) checks ---------------------------------------------------------------


def _drop(where: pl.Expr) -> Inject:
    return lambda f: f.filter(where.not_())


def _nth_bars(token: int, day: dt.date, first: int, last: int) -> pl.Expr:
    """Bars ``first``..``last`` (0-based, inclusive) of ``token`` on ``day``."""
    index = pl.int_range(pl.len()).over(pl.col("instrument_token"), pl.col("ts_event").dt.date())
    return session_of(token, day) & index.is_between(first, last)


def _holiday_bar(frame: pl.DataFrame) -> pl.DataFrame:
    return _extra_bar(frame, ist(dt.date(2024, 8, 15), 10, 0))


def _stale(frame: pl.DataFrame) -> pl.DataFrame:
    run = _nth_bars(101, DAY, 100, 105)
    price = frame.filter(_nth_bars(101, DAY, 99, 99))["close"][0]
    return _set(frame, run, open=price, high=price, low=price, close=price, volume=0)


def _scale_from(frame: pl.DataFrame, where: pl.Expr, factor: float) -> pl.DataFrame:
    prices = ["open", "high", "low", "close"]
    return frame.with_columns(
        pl.when(where)
        .then(((pl.col(c) * factor / TICK).round() * TICK).round(2))
        .otherwise(pl.col(c))
        .alias(c)
        for c in prices
    )


def _jump(frame: pl.DataFrame) -> pl.DataFrame:
    later = (pl.col("instrument_token") == 101) & (pl.col("ts_event") >= NOON)
    return _scale_from(frame, later, 1.03)


def _off_tick(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(bar_at(frame, 101, NOON))
        .then(pl.col("low") + 0.003)
        .otherwise(pl.col("open"))
        .alias("open")
    )


STATISTICAL_DEFECTS: list[Any] = [
    pytest.param(
        _drop(session_of(101, dt.date(2024, 8, 13))),
        "missing_sessions",
        {"sessions_missing": 1, "dates": "2024-08-13"},
        1,
        id="whole-session-missing",
    ),
    pytest.param(
        _drop(_nth_bars(101, DAY, 0, 9)),
        "truncated_sessions",
        {"sessions": 1, "slots_missing": 10},
        1,
        id="late-first-bar",
    ),
    pytest.param(
        _drop(_nth_bars(101, DAY, 370, 374)),
        "truncated_sessions",
        {"sessions": 1, "slots_missing": 5},
        1,
        id="early-last-bar",
    ),
    pytest.param(
        _drop(_nth_bars(101, DAY, 100, 102)),
        "intraday_gaps",
        {"sessions": 1, "missing_slots": 3, "gaps": 1, "largest_gap_slots": 3},
        3,
        id="three-missing-minutes",
    ),
    pytest.param(
        _holiday_bar,
        "bars_on_non_session_days",
        {"bars": 1, "days": 1, "dates": "2024-08-15"},
        1,
        id="bar-on-independence-day",
    ),
    pytest.param(
        _stale, "stale_runs", {"runs": 1, "bars_in_runs": 6, "longest_run_bars": 6}, 6, id="stale"
    ),
    pytest.param(
        _jump,
        "price_jumps",
        {"jumps": 1, "intraday_jumps": 1, "instruments": 1},
        1,
        id="three-percent-minute",
    ),
    pytest.param(
        lambda f: _set(f, _nth_bars(101, DAY, 0, 0), volume=0),
        "zero_volume_bars",
        {"bars": 1, "first_bar_of_day": 1, "inside_the_day": 0},
        1,
        id="zero-volume-first-bar",
    ),
    pytest.param(
        lambda f: _set(f, pl.col("instrument_token") == 202, volume=0),
        "volume_missing",
        {"instruments": 1, "symbols": "BETA"},
        1,
        id="no-volume-at-all",
    ),
    pytest.param(
        lambda f: _set(f, bar_at(f, 101, NOON), volume=3_000_000),
        "volume_spikes",
        {"spikes": 1, "instruments": 1},
        1,
        id="volume-spike",
    ),
    pytest.param(
        _off_tick, "price_precision", {"bars": 1, "instruments": 1}, 1, id="float-artefact"
    ),
]


@pytest.mark.parametrize(("inject", "check", "observed", "failing"), STATISTICAL_DEFECTS)
def test_validate_candles_statistical_defect_fails_only_its_warning(
    week: pl.DataFrame, inject: Inject, check: str, observed: dict[str, Any], failing: int
) -> None:
    report = validate(inject(week))

    result = report.result(check)
    assert report.failed_names == {check}, format_report(report)
    assert result.severity is Severity.WARN
    assert not result.blocking
    assert report.passed  # warnings never fail a report
    assert observed.items() <= dict(result.observed).items()
    assert result.failing_rows == failing
    assert result.sample


def test_validate_candles_index_without_volume_is_expected(week: pl.DataFrame) -> None:
    nifty = int(instrument_token(1001, SegmentId.INDICES))  # 256265
    index_bars = _set(week, pl.col("instrument_token") == 202, volume=0).with_columns(
        pl.col("instrument_token").replace(202, nifty)
    )

    report = validate(index_bars.sort("instrument_token", "ts_event"))

    missing = report.result("volume_missing")
    assert report.failed_names == frozenset(), format_report(report)
    assert missing.observed["indices_without_volume"] == 1


def test_validate_candles_holiday_bar_names_the_holiday(week: pl.DataFrame) -> None:
    report = validate(_holiday_bar(week))

    sample = report.result("bars_on_non_session_days").sample[0]
    assert sample["calendar_says"] == "holiday: Independence Day"
    assert sample["symbol"] == "ALPHA"


def test_validate_candles_empty_session_in_unpublished_year_is_unverifiable() -> None:
    frame = clean_candles(dt.date(2023, 7, 3), dt.date(2023, 7, 7))
    dropped = frame.filter(session_of(101, dt.date(2023, 7, 5)).not_())

    report = validate(dropped)

    coverage = report.result("calendar_coverage")
    assert report.failed_names == {"calendar_coverage"}
    assert coverage.observed["unpublished_years"] == "2023"
    assert coverage.observed["sessions_without_bars"] == 1


def test_validate_candles_overnight_halving_named_split_like() -> None:
    daily = dt.timedelta(days=1)
    frame = clean_candles(dt.date(2024, 6, 3), dt.date(2024, 9, 30), daily)
    after = (pl.col("instrument_token") == 101) & (
        pl.col("ts_event") >= ist(dt.date(2024, 8, 1), 0, 0)
    )
    split = _scale_from(frame, after, 0.5)

    report = validate(split, interval=daily)

    result = report.result("split_like_jumps")
    assert report.failed_names == {"split_like_jumps"}, format_report(report)
    assert result.observed["jumps"] == 1
    assert result.sample[0]["ratio"] == pytest.approx(0.5, abs=0.01)
    assert str(result.sample[0]["ts_event"]).startswith("2024-08-01")


def test_validate_candles_utc_read_as_ist_suspects_the_ist_offset(week: pl.DataFrame) -> None:
    shifted = week.with_columns(pl.col("ts_event") + dt.timedelta(hours=5, minutes=30))

    report = validate(shifted)

    shift = report.result("timezone_shift")
    assert {"within_session_hours", "timezone_shift"} <= report.failed_names
    assert shift.observed["shift_minutes"] == "-330"
    assert shift.observed["instruments"] == 2


def test_validate_candles_blocking_threshold_escalates_a_warning(week: pl.DataFrame) -> None:
    limits = QualityThresholds(blocking=frozenset({"price_jumps"}))

    report = validate(_jump(week), thresholds=limits)

    jumps = report.result("price_jumps")
    assert jumps.blocking
    assert jumps.severity is Severity.ERROR
    assert not report.passed


def test_validate_candles_looser_threshold_passes_the_defect(week: pl.DataFrame) -> None:
    limits = QualityThresholds(max_gap_slots_per_session=3)

    report = validate(_drop(_nth_bars(101, DAY, 100, 102))(week), thresholds=limits)

    gaps = report.result("intraday_gaps")
    assert gaps.passed
    assert gaps.threshold == {"max_slots_per_session": 3}


def test_validate_candles_rejected_rows_counted_by_reason(week: pl.DataFrame) -> None:
    rejected = pl.DataFrame(
        {
            "row": [12, 29, 40],
            "reason": [
                "high below open, close or low",
                "low above open or close",
                "high below open, close or low; low above open or close",
            ],
            "source": ["a.csv"] * 3,
        }
    )

    report = validate(week, rejected=rejected)

    result = report.result("import_rejections")
    assert report.failed_names == {"import_rejections"}
    assert result.failing_rows == 3
    assert result.observed["reason: high below open, close or low"] == 2
    assert result.observed["reason: low above open or close"] == 2
    assert result.sample[0]["source"] == "a.csv"


# -- the report --------------------------------------------------------------------------------


def test_format_report_names_every_failed_check_with_count_and_example(
    week: pl.DataFrame,
) -> None:
    broken = _stale(_drop(session_of(101, dt.date(2024, 8, 13)))(week))

    text = format_report(validate(broken, source="week.csv"))

    assert text.startswith("Data quality: week.csv")
    assert "[WARN] missing_sessions: 1 sessions" in text
    assert "dates=2024-08-13" in text
    assert "[WARN] stale_runs: 6 bars" in text
    assert "e.g. symbol=ALPHA" in text
    assert "[ok] 23 checks passed" in text


def test_report_metadata_every_result_json_serialisable(week: pl.DataFrame, tmp_path: Path) -> None:
    report = validate(_jump(_stale(week)), docs_dir=tmp_path)

    encoded = [json.dumps(r.metadata()) for r in report.results]
    summary = json.loads(json.dumps(report.metadata()))

    assert len(encoded) == len(ALL_CHECKS)
    assert summary["warnings"] == ["stale_runs", "price_jumps"]
    assert summary["data_docs"] == str(tmp_path / "index.html")
    assert json.loads(json.dumps(report.check_metadata("price_jumps"))) == {
        **report.result("price_jumps").metadata(),
        "data_docs": str(tmp_path / "index.html"),
        "source": "candles",
    }


def test_validate_candles_docs_dir_writes_data_docs(week: pl.DataFrame, tmp_path: Path) -> None:
    docs = tmp_path / "var" / "data_docs"

    report = validate(_jump(week), docs_dir=docs, source="week")

    pages = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.html"))
    assert report.data_docs_path == docs / "index.html"
    assert report.data_docs_path.is_file()
    assert "expectations/week_sessions.html" in pages
    assert any(p.startswith("validations/week_sessions/") for p in pages)
    assert "price_jumps" in next(docs.glob("validations/week_sessions/**/*.html")).read_text()


def test_validate_candles_any_frame_results_in_documented_order(week: pl.DataFrame) -> None:
    report = validate(week)

    assert tuple(r.name for r in report.results) == (
        *STRUCTURAL_CHECKS,
        *IMPORT_CHECKS,
        *STATISTICAL_CHECKS,
    )


def test_validate_candles_naive_run_time_rejected(week: pl.DataFrame) -> None:
    with pytest.raises(ContractError, match="run_time"):
        validate(week, run_time=dt.datetime(2024, 8, 16, 10, 0))  # noqa: DTZ001  # naive on purpose


@pytest.mark.parametrize(
    "overrides",
    [
        {"blocking": frozenset({"no_such_check"})},
        {"blocking": frozenset({"ordered"})},
        {"stale_run_bars": 1},
        {"jump_sigma": 0.0},
        {"jump_min_periods": 300, "jump_window": 250},
        {"split_tolerance": 1.5},
        {"max_gap_slots_per_session": -1},
    ],
)
def test_quality_thresholds_bad_value_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ContractError):
        QualityThresholds(**overrides)


def test_check_result_negative_failing_rows_rejected() -> None:
    with pytest.raises(ContractError, match="failing_rows"):
        CheckResult("x", True, Severity.WARN, {}, {}, -1, "x")


def test_quality_report_unknown_check_name_rejected(week: pl.DataFrame) -> None:
    report = validate(week.head(10))

    with pytest.raises(ContractError, match="price_jumps"):
        report.result("no_such_check")


# -- building blocks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "interval", "bars"),
    [
        (dt.date(2024, 8, 14), ONE_MINUTE, 375),
        (dt.date(2024, 8, 14), dt.timedelta(minutes=5), 75),
        (dt.date(2024, 8, 14), dt.timedelta(hours=1), 7),
        (dt.date(2024, 3, 2), ONE_MINUTE, 105),
        (dt.date(2024, 1, 20), ONE_MINUTE, 375),
        (dt.date(2024, 11, 1), ONE_MINUTE, 60),
        (dt.date(2024, 8, 14), dt.timedelta(days=1), 1),
    ],
)
def test_build_grid_expected_bars_match_the_session(
    day: dt.date, interval: dt.timedelta, bars: int
) -> None:
    grid = build_grid(CALENDAR, day, day, interval)

    assert grid.sessions["expected_bars"].to_list() == [bars]


@pytest.mark.parametrize(
    ("interval", "start", "end", "expected"),
    [
        (ONE_MINUTE, *WEEK, ONE_MINUTE),
        (dt.timedelta(minutes=15), *WEEK, dt.timedelta(minutes=15)),
        (dt.timedelta(days=1), dt.date(2024, 6, 3), dt.date(2024, 7, 31), dt.timedelta(days=1)),
    ],
)
def test_infer_interval_clean_frame_returns_bar_length(
    interval: dt.timedelta, start: dt.date, end: dt.date, expected: dt.timedelta
) -> None:
    assert infer_interval(clean_candles(start, end, interval)) == expected


def test_infer_interval_single_row_rejected(week: pl.DataFrame) -> None:
    with pytest.raises(ContractError, match="at least 2 rows"):
        infer_interval(week.head(1))


ONE_SESSION = clean_candles(DAY, DAY, dt.timedelta(minutes=5), tokens=(101,))


@given(st.sets(st.integers(min_value=0, max_value=74), max_size=74))
def test_build_aggregates_dropped_slots_all_accounted_for(dropped: set[int]) -> None:
    frame = ONE_SESSION.with_row_index("i").filter(pl.col("i").is_in(list(dropped)).not_())

    sessions = build_aggregates(
        frame.drop("i"),
        interval=dt.timedelta(minutes=5),
        calendar=CALENDAR,
        thresholds=QualityThresholds(),
    ).sessions.row(0, named=True)

    assert sessions["truncated_slots"] + sessions["gap_slots"] == len(dropped)
    assert sessions["on_grid_bars"] == 75 - len(dropped)
    assert sessions["missing_session"] == 0
