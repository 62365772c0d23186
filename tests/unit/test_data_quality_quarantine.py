"""What failed blocking checks take out of use, and a split judged without trailing history.

A split needs no trailing sigma (a move within 2 % of 1:2 ... 2:5 is large by itself), and a
one-day frame judges its first bar against the previous close it is given. A report's quarantine
names exactly the bars, sessions or days its failed blocking checks found, and the readers
(``drop_quarantined``, ``clean_history``, ``last_closes``) leave them out.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from data_contracts.schemas import UTC_TIMESTAMP
from models.data_quality import (
    DEFAULT_BLOCKING,
    QUARANTINE_SCHEMA,
    QualityThresholds,
    Severity,
    clean_history,
    drop_quarantined,
    format_report,
    last_closes,
    quarantine_for_day,
    quarantine_table,
)
from tests.unit.test_data_quality import (
    DAY,
    NOON,
    TICK,
    bar_at,
    clean_candles,
    ist,
    session_of,
    validate,
)

# Mon 12, Tue 13, Wed 14 (DAY) and Fri 16 Aug 2024.
MONDAY, TUESDAY, FRIDAY = dt.date(2024, 8, 12), dt.date(2024, 8, 13), dt.date(2024, 8, 16)


@pytest.fixture(scope="module")
def week() -> pl.DataFrame:
    return clean_candles()


def _halve(frame: pl.DataFrame, where: pl.Expr) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(where)
        .then(((pl.col(c) / 2 / TICK).round() * TICK).round(2))
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("open", "high", "low", "close")
    )


def _from(token: int, day: dt.date) -> pl.Expr:
    return (pl.col("instrument_token") == token) & (pl.col("ts_event") >= ist(day, 0, 0))


def _entries(quarantine: pl.DataFrame) -> set[tuple[object, ...]]:
    return set(quarantine.select("date", "instrument_token", "ts_event", "check").rows())


def _quarantine(*rows: tuple[dt.date | None, int | None, dt.datetime | None, str]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=QUARANTINE_SCHEMA, orient="row")


# -- a split without trailing history -----------------------------------------------------------


def test_validate_candles_split_in_four_sessions_reported_and_blocking(week: pl.DataFrame) -> None:
    split = _halve(week, _from(101, DAY))

    report = validate(split)

    result = report.result("split_like_jumps")
    assert report.failed_names == {"split_like_jumps"}, format_report(report)
    assert result.blocking
    assert not report.passed
    assert result.observed["jumps"] == 1
    assert result.sample[0]["ratio"] == pytest.approx(0.5, abs=0.01)
    assert str(result.sample[0]["ts_event"]).startswith("2024-08-14T09:16")  # IST, first bar
    assert _entries(report.quarantine) == {(DAY, 101, None, "split_like_jumps")}


def test_validate_candles_one_session_split_judged_against_the_previous_close(
    week: pl.DataFrame,
) -> None:
    today = week.filter(session_of(101, DAY) | session_of(202, DAY))
    yesterday = week.filter(session_of(101, TUESDAY) | session_of(202, TUESDAY))
    previous = last_closes(yesterday, _quarantine())
    doubled = previous.with_columns(
        pl.when(pl.col("instrument_token") == 202)
        .then(pl.col("close") * 2)
        .otherwise(pl.col("close"))
        .alias("close")
    )

    alone = validate(today)
    judged = validate(today, previous_closes=previous)
    split = validate(today, previous_closes=doubled)

    assert alone.failed_names == frozenset()
    assert judged.failed_names == frozenset(), format_report(judged)
    assert split.failed_names == {"split_like_jumps"}, format_report(split)
    sample = split.result("split_like_jumps").sample[0]
    assert (sample["symbol"], sample["return_kind"]) == ("BETA", "overnight")
    assert sample["ratio"] == pytest.approx(0.5, abs=0.01)
    assert _entries(split.quarantine) == {(DAY, 202, None, "split_like_jumps")}


def test_validate_candles_previous_close_not_before_the_first_bar_ignored(
    week: pl.DataFrame,
) -> None:
    today = week.filter(session_of(101, DAY))
    late = pl.DataFrame(
        {"instrument_token": [101], "ts_event": [ist(DAY, 9, 16)], "close": [1.0]},
        schema={"instrument_token": pl.Int64, "ts_event": UTC_TIMESTAMP, "close": pl.Float64},
    )

    report = validate(today, previous_closes=late)

    assert report.failed_names == frozenset()


def test_split_like_jumps_and_timezone_shift_block_by_default_and_can_be_made_to_warn(
    week: pl.DataFrame,
) -> None:
    split = _halve(week, _from(101, DAY))

    default = validate(split).result("split_like_jumps")
    warned = validate(split, thresholds=QualityThresholds(blocking=frozenset()))

    assert DEFAULT_BLOCKING == {"split_like_jumps", "timezone_shift"}
    assert QualityThresholds().blocking == DEFAULT_BLOCKING
    assert default.severity is Severity.ERROR
    assert warned.result("split_like_jumps").severity is Severity.WARN
    assert warned.passed
    assert warned.quarantine.height == 0  # a warning takes nothing out of use


# -- what the quarantine holds ------------------------------------------------------------------


def test_quarantine_clean_frame_is_empty(week: pl.DataFrame) -> None:
    report = validate(week)

    assert report.quarantine.height == 0
    assert report.quarantined == {"bars": 0, "sessions": 0, "days": 0}
    assert "quarantined" not in format_report(report)


def test_quarantine_after_close_bar_holds_that_bar_only(week: pl.DataFrame) -> None:
    late = ist(DAY, 15, 31)
    bar = week.filter(bar_at(week, 101, NOON)).with_columns(
        pl.lit(late).cast(UTC_TIMESTAMP).alias("ts_event")
    )
    frame = pl.concat([week, bar]).sort("instrument_token", "ts_event")

    report = validate(frame)

    assert _entries(report.quarantine) == {(DAY, 101, late, "within_session_hours")}
    assert report.quarantined == {"bars": 1, "sessions": 0, "days": 0}
    assert drop_quarantined(frame, report.quarantine).equals(week)
    assert clean_history(frame, report.quarantine).equals(week)  # a bar is no break
    assert "quarantined (never used downstream): 1 bars" in format_report(report)
    assert json.loads(json.dumps(report.metadata()))["quarantined"]["bars"] == 1


def test_quarantine_repeated_key_holds_every_copy(week: pl.DataFrame) -> None:
    index = week.with_row_index("i").filter(bar_at(week, 101, NOON))["i"][0]
    copy = week.slice(index, 1).with_columns(pl.col("close") + 1, pl.col("high") + 1)
    frame = pl.concat([week.head(index + 1), copy, week.slice(index + 1)])

    report = validate(frame)

    assert _entries(report.quarantine) == {(DAY, 101, NOON, "unique_instrument_ts")}
    assert drop_quarantined(frame, report.quarantine).height == week.height - 1


def test_quarantine_unreadable_frame_holds_the_whole_frame(week: pl.DataFrame) -> None:
    frame = week.drop("oi")

    report = validate(frame)

    assert _entries(report.quarantine) == {(None, None, None, "columns_and_types")}
    assert report.quarantined["days"] == -1
    assert drop_quarantined(frame, report.quarantine).height == 0
    assert quarantine_for_day(report.quarantine, DAY).height == 1  # it applies to every day


def test_quarantine_time_zone_shift_holds_every_session_of_the_instrument(
    week: pl.DataFrame,
) -> None:
    shifted = week.with_columns(pl.col("ts_event") + dt.timedelta(hours=5, minutes=30))

    report = validate(shifted)

    sessions = report.quarantine.filter(pl.col("check") == "timezone_shift")
    assert "timezone_shift" in {r.name for r in report.blocking_failures}
    assert set(sessions.select("date", "instrument_token").rows()) == {
        (day, token) for day in (MONDAY, TUESDAY, DAY, FRIDAY) for token in (101, 202)
    }
    assert sessions["ts_event"].null_count() == sessions.height
    assert drop_quarantined(shifted, report.quarantine).height == 0


# -- reading without it -------------------------------------------------------------------------


def test_clean_history_starts_each_instrument_after_its_last_quarantined_session(
    week: pl.DataFrame,
) -> None:
    held = _quarantine((TUESDAY, 101, None, "split_like_jumps"))

    kept = clean_history(week, held)

    alpha = kept.filter(pl.col("instrument_token") == 101)
    assert alpha.height == 2 * 375  # Wednesday and Friday only
    assert alpha["ts_event"].min() == ist(DAY, 9, 16)
    assert kept.filter(pl.col("instrument_token") == 202).height == 4 * 375
    assert drop_quarantined(week, held).height == 7 * 375  # drop: the session alone


def test_clean_history_whole_day_restarts_every_instrument(week: pl.DataFrame) -> None:
    held = _quarantine((TUESDAY, None, None, "columns_and_types"))

    kept = clean_history(week, held)

    assert kept.height == 2 * 2 * 375
    assert kept["ts_event"].min() == ist(DAY, 9, 16)


def test_last_closes_skip_quarantined_bars_but_not_quarantined_sessions(
    week: pl.DataFrame,
) -> None:
    tuesday = week.filter(session_of(101, TUESDAY) | session_of(202, TUESDAY))
    late = ist(TUESDAY, 15, 45)
    stray = (
        tuesday.filter(pl.col("instrument_token") == 101)
        .tail(1)
        .with_columns(pl.lit(late).cast(UTC_TIMESTAMP).alias("ts_event"), pl.col("close") * 3)
    )
    frame = pl.concat([tuesday, stray])
    held = _quarantine(
        (TUESDAY, 101, late, "within_session_hours"),
        (TUESDAY, 202, None, "split_like_jumps"),
    )

    closes = last_closes(frame, held)

    expected = tuesday.group_by("instrument_token").agg(pl.all().sort_by("ts_event").last())
    assert (
        closes.sort("instrument_token").rows()
        == expected.sort("instrument_token").select("instrument_token", "ts_event", "close").rows()
    )


def test_quarantine_table_named_after_its_table() -> None:
    assert quarantine_table("candles_1m") == "candles_1m_quarantine"
