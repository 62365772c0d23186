"""The batch side as users run it: the Definitions load, the schedule fires on trading days only,
and every asset materializes for real (simulator source, temp lake) with all checks passing."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from dagster import (
    DagsterInstance,
    Definitions,
    RunRequest,
    build_schedule_context,
)

from assets.partitions import trading_day_partitions
from assets.resources import (
    DayCandles,
    FileMarketData,
    KiteMarketData,
    MarketDataResource,
    SimulatorMarketData,
)
from data_contracts.config import KitepilotConfig
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import CandleFrame, FeatureFrame
from models.lake import Lake
from orchestration.definitions import (
    DAILY_JOB,
    INGEST_SCHEDULE,
    NEW_DATA_SENSOR,
    RETRAIN_SCHEDULE,
    build_definitions,
    market_data_resource,
)
from orchestration.settings import load_config

FIRST, LAST = "2026-07-01", "2026-07-29"  # 21 NSE trading days


def _config(tmp_path: Path) -> KitepilotConfig:
    return load_config(
        environ={
            "KITEPILOT_STORAGE__LAKE_DIR": str(tmp_path / "lake"),
            "KITEPILOT_STORAGE__REPORTS_DIR": str(tmp_path / "reports"),
            "KITEPILOT_DATA__SIMULATOR_START": "2026-06-01",
            "KITEPILOT_DATA__SIMULATOR_END": "2026-08-31",
        },
        dotenv_file=None,
    )


def _run(defs: Definitions, first: str, last: str):
    job = defs.resolve_job_def(DAILY_JOB)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Dagster's beta/preview notices, not our concern here
        return job.execute_in_process(
            instance=DagsterInstance.ephemeral(),
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
            raise_on_error=False,
        )


@pytest.fixture(scope="module")
def materialized(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("batch")
    defs = build_definitions(_config(tmp_path))
    return tmp_path, defs, _run(defs, FIRST, LAST)


def test_definitions_load_every_job_and_schedule(tmp_path: Path) -> None:
    defs = build_definitions(_config(tmp_path))

    keys = {spec.key.to_user_string() for spec in defs.resolve_all_asset_specs()}
    assert keys == {
        "instruments",
        "candles_1m",
        "option_chain_snapshots",
        "features",
        "option_features",
        "labels",
        "option_labels",
        "training_set",
        "walk_forward_evaluation",
        "trained_model",
        "champion_model",
        "backtest",
    }
    for job in defs.jobs or []:
        assert defs.resolve_job_def(job.name) is not None
    assert [s.name for s in defs.schedules or []] == [INGEST_SCHEDULE, RETRAIN_SCHEDULE]
    assert [s.name for s in defs.sensors or []] == [NEW_DATA_SENSOR]


def test_module_level_definitions_load() -> None:
    from orchestration.definitions import defs

    assert defs.resolve_job_def(DAILY_JOB).name == DAILY_JOB


@pytest.mark.parametrize(
    ("scheduled", "expected"),
    [
        (datetime(2026, 7, 1, 10, 45, tzinfo=UTC), "2026-07-01"),  # Wednesday 16:15 IST
        (datetime(2026, 7, 4, 10, 45, tzinfo=UTC), None),  # Saturday
        (datetime(2026, 10, 2, 10, 45, tzinfo=UTC), None),  # Gandhi Jayanti
    ],
)
def test_schedule_runs_after_the_close_on_trading_days_only(
    tmp_path: Path, scheduled: datetime, expected: str | None
) -> None:
    defs = build_definitions(_config(tmp_path))
    schedule = defs.resolve_schedule_def(INGEST_SCHEDULE)

    with build_schedule_context(
        scheduled_execution_time=scheduled, repository_def=defs.get_repository_def()
    ) as context:
        result = schedule.evaluate_tick(context)

    requests = result.run_requests or []
    if expected is None:
        assert requests == []
        assert result.skip_message is not None
    else:
        assert [r.partition_key for r in requests] == [expected]
        assert isinstance(requests[0], RunRequest)
    assert schedule.cron_schedule == "15 16 * * *"
    assert schedule.execution_timezone == "Asia/Kolkata"


def test_partitions_are_nse_trading_days() -> None:
    keys = trading_day_partitions(NseCalendar.default()).get_partition_keys(
        current_time=datetime(2026, 11, 20, tzinfo=UTC)
    )

    assert "2026-02-01" in keys  # Budget Sunday special session
    assert "2026-01-26" not in keys  # Republic Day
    assert "2026-07-04" not in keys  # a Saturday
    assert len([k for k in keys if k.startswith("2026-07")]) == 23


def test_every_asset_materializes_with_all_checks_passing(materialized) -> None:
    _, _, result = materialized

    failed = [
        e.event_specific_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]
    assert result.success
    assert failed == []


def test_lake_holds_every_trading_day_of_every_table(materialized) -> None:
    tmp_path, _, _ = materialized
    lake = Lake(tmp_path / "lake")
    days = [date.fromisoformat(k) for k in _keys(FIRST, LAST)]

    for table in ("instruments", "candles_1m", "option_chain", "features", "option_features"):
        assert lake.days(table) == days, table
    candles = lake.scan("candles_1m", days[0], days[-1]).drop("date").collect()
    assert len(days) >= 20
    assert CandleFrame.validate(candles.sort("instrument_token", "ts_event")).height > 0
    features = lake.scan("features", days[0], days[-1]).drop("date").collect()
    assert FeatureFrame.validate(features).height > 0
    # IV rank needs ~15 sessions of 15-minute chain snapshots: the last days have option features.
    options = lake.read("option_features", days[-1])
    assert options is not None
    assert FeatureFrame.validate(options).height > 0


def test_rematerializing_a_partition_leaves_row_counts_unchanged(materialized) -> None:
    tmp_path, defs, _ = materialized
    lake = Lake(tmp_path / "lake")
    day = date(2026, 7, 15)
    before = {t: _height(lake.read(t, day)) for t in ("candles_1m", "features", "option_chain")}

    again = _run(defs, day.isoformat(), day.isoformat())

    assert again.success
    after = {t: _height(lake.read(t, day)) for t in ("candles_1m", "features", "option_chain")}
    assert after == before
    assert all(count > 0 for count in after.values())


def _height(frame: pl.DataFrame | None) -> int:
    return -1 if frame is None else frame.height


def _keys(first: str, last: str) -> list[str]:
    all_keys = trading_day_partitions(NseCalendar.default()).get_partition_keys(
        current_time=datetime(2026, 11, 20, tzinfo=UTC)
    )
    return [k for k in all_keys if first <= k <= last]


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({}, SimulatorMarketData),
        (
            {"KITEPILOT_DATA__SOURCE": "files", "KITEPILOT_DATA__FILES_PATH": "candles/"},
            FileMarketData,
        ),
        (
            {
                "KITEPILOT_DATA__SOURCE": "kite",
                "KITEPILOT_KITE__API_KEY": "key-for-test",
                "KITEPILOT_KITE__ACCESS_TOKEN": "tok-for-test",
            },
            KiteMarketData,
        ),
    ],
)
def test_market_data_source_is_chosen_by_config(
    environ: dict[str, str], kind: type[MarketDataResource]
) -> None:
    config = load_config(environ=environ, dotenv_file=None)

    resource = market_data_resource(config)

    assert isinstance(resource, kind)
    if isinstance(resource, KiteMarketData):
        # Credentials are resolved from the environment at run time, never baked into the defs.
        dumped = repr(resource.model_dump())
        assert "tok-for-test" not in dumped
        assert "key-for-test" not in dumped
        assert "KITEPILOT_KITE__ACCESS_TOKEN" in dumped


class _AfterHoursSource(SimulatorMarketData):
    """The simulator plus one bar closing at 15:45 IST — outside the session, a blocking defect."""

    def day_candles(self, day: date) -> DayCandles:
        good = super().day_candles(day).candles
        bad = good.tail(1).with_columns(pl.col("ts_event") + timedelta(minutes=15))
        return DayCandles(pl.concat([good, bad]).sort("instrument_token", "ts_event"))


def test_failed_blocking_check_stops_downstream_features(tmp_path: Path) -> None:
    bad_source = _AfterHoursSource(seed=7, start="2026-06-01", end="2026-08-31")
    job = build_definitions(_config(tmp_path), bad_source).resolve_job_def(DAILY_JOB)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = job.execute_in_process(
            instance=DagsterInstance.ephemeral(), partition_key="2026-07-15", raise_on_error=False
        )

    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    lake = Lake(tmp_path / "lake")
    assert not result.success
    assert "within_session_hours" in failed
    assert lake.read("candles_1m", date(2026, 7, 15)) is not None  # stored, and flagged
    assert lake.read("features", date(2026, 7, 15)) is None  # never built from bad data


def test_kite_source_has_no_option_chain_for_a_past_day() -> None:
    kite = KiteMarketData(
        api_key="k",
        access_token="t",  # noqa: S106 - a dummy; no request is sent
        universe=[],
        root="http://127.0.0.1:9",
    )

    chain = kite.option_chain(date(2024, 7, 1))  # no request is made for a past day

    assert chain.height == 0
    assert "strike" in chain.columns


# -- what a failed day leaves behind (docs/data-quality.md, "Quarantine") -----------------------

SPLIT_DAY = date(2026, 7, 15)


def _halved(frame: pl.DataFrame, token: int) -> pl.DataFrame:
    """``token``'s prices halved and kept on the 0.05 grid: an unadjusted 1:2 split."""
    prices = ("open", "high", "low", "close")
    return frame.with_columns(
        pl.when(pl.col("instrument_token") == token)
        .then((pl.col(c) / 2 / 0.05).round() * 0.05)
        .otherwise(pl.col(c))
        .round(2)
        .alias(c)
        for c in prices
    )


class _SplitSource(SimulatorMarketData):
    """The simulator with one stock's prices halved from SPLIT_DAY on (nobody adjusted them)."""

    token: int

    def day_candles(self, day: date) -> DayCandles:
        good = super().day_candles(day).candles
        return DayCandles(_halved(good, self.token) if day >= SPLIT_DAY else good)


class _StrayPrintsSource(SimulatorMarketData):
    """The simulator plus one bar per instrument at 15:45 IST on ``bad_day`` only."""

    bad_day: str

    def day_candles(self, day: date) -> DayCandles:
        good = super().day_candles(day).candles
        if day.isoformat() != self.bad_day:
            return DayCandles(good)
        last = good.group_by("instrument_token").agg(pl.all().last())
        stray = last.with_columns(pl.col("ts_event") + timedelta(minutes=15)).select(good.columns)
        return DayCandles(pl.concat([good, stray]).sort("instrument_token", "ts_event"))


def _run_days(defs: Definitions, first: date, last: date):
    return _run(defs, first.isoformat(), last.isoformat())


def _failed_checks(result) -> set[str]:
    return {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}


def _day_features(lake: Lake, day: date) -> pl.DataFrame:
    frame = lake.read("features", day)
    assert frame is not None, day
    return frame.sort("instrument_token", "ts_event")


def test_daily_run_reports_an_overnight_split_against_the_lake_and_restarts_features(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    plain = market_data_resource(config)
    assert isinstance(plain, SimulatorMarketData)
    stock = int(CandleFrame.validate(plain.day_candles(SPLIT_DAY).candles)["instrument_token"][-1])
    source = _SplitSource(**plain.model_dump(), token=stock)
    defs = build_definitions(config, source)
    lake = Lake(tmp_path / "lake")
    before, after = date(2026, 7, 14), date(2026, 7, 16)

    runs = [_run_days(defs, day, day) for day in (before, SPLIT_DAY, after)]

    assert [r.success for r in runs] == [True, False, True]
    assert _failed_checks(runs[1]) == {"split_like_jumps"}  # one day, judged against the lake
    assert lake.read("features", SPLIT_DAY) is None
    held = lake.read("candles_1m_quarantine", SPLIT_DAY)
    assert held is not None
    assert held.select("instrument_token", "ts_event", "check").rows() == [
        (stock, None, "split_like_jumps")
    ]
    assert _height(lake.read("candles_1m_quarantine", after)) == 0  # judged, nothing held
    # The next day is judged against the new price level, and the stock's features start again
    # after the split: 375 bars are fewer than the warm-up, so none on that day.
    features = _day_features(lake, after)
    per_instrument = dict(features.group_by("instrument_token").len().iter_rows())
    assert stock not in per_instrument
    assert set(per_instrument.values()) == {375}


def test_bars_of_a_failed_day_never_feed_a_later_days_features(
    tmp_path: Path, materialized
) -> None:
    clean_root, _, _ = materialized
    config = _config(tmp_path)
    plain = market_data_resource(config)
    bad_day, next_day = date(2026, 7, 15), date(2026, 7, 16)
    source = _StrayPrintsSource(**plain.model_dump(), bad_day=bad_day.isoformat())
    defs = build_definitions(config, source)
    lake = Lake(tmp_path / "lake")

    failed = _run_days(defs, date(2026, 7, 13), bad_day)
    later = _run_days(defs, next_day, next_day)

    assert not failed.success
    assert "within_session_hours" in _failed_checks(failed)
    held = lake.read("candles_1m_quarantine", bad_day)
    assert held is not None
    assert set(held["check"]) == {"within_session_hours"}
    stored = lake.read("candles_1m", bad_day)
    assert stored is not None  # stored as it came, flagged by the quarantine
    assert held.height == stored["instrument_token"].n_unique()  # one stray bar per instrument
    assert later.success
    assert _failed_checks(later) == set()
    # Built over the bad day's good bars only: exactly the features of the clean lake.
    assert _day_features(lake, next_day).equals(_day_features(Lake(clean_root / "lake"), next_day))


def test_stored_day_without_a_verdict_is_checked_before_features_use_it(
    tmp_path: Path, materialized
) -> None:
    clean_root, _, _ = materialized
    config = _config(tmp_path)
    plain = market_data_resource(config)
    assert isinstance(plain, SimulatorMarketData)
    unchecked, next_day = date(2026, 7, 15), date(2026, 7, 16)
    stray = _StrayPrintsSource(**plain.model_dump(), bad_day=unchecked.isoformat())
    defs = build_definitions(config)
    lake = Lake(tmp_path / "lake")
    assert _run_days(defs, date(2026, 7, 13), date(2026, 7, 14)).success
    # Written by another tool (or an older version): candles with stray prints and no verdict.
    lake.write("candles_1m", unchecked, stray.day_candles(unchecked).candles)

    later = _run_days(defs, next_day, next_day)

    assert later.success
    metadata = next(
        m.metadata
        for m in later.asset_materializations_for_node("features")
        if m.asset_key.to_user_string() == "features"
    )
    assert metadata["days_checked_now"].value == [unchecked.isoformat()]
    assert lake.read("candles_1m_quarantine", unchecked) is None  # features do not write it
    assert _day_features(lake, next_day).equals(_day_features(Lake(clean_root / "lake"), next_day))
