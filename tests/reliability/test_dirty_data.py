"""Dirty data through ingestion (see ``dirty``): corrupted copies of ten real NIFTY sessions,
through the file import + quality report and through the Dagster assets into a temporary lake.
Every defect must be reported where the table in docs/RELIABILITY.md says, and no bad bar may
reach the features. Where the product falls short, a strict xfail names the cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.dirty import (
    DEFECTS,
    Defect,
    Imported,
    Ingested,
    bad_candles,
    clean_rows,
    cross_run,
    features_over,
    import_copy,
    ingest,
    write_copy,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Parameter `backfill_policy`"),  # Dagster's beta notice
]

BY_NAME = {d.name: d for d in DEFECTS}


@pytest.fixture(scope="module")
def clean(shared_fixtures: Path) -> tuple[str, list[list[str]]]:
    return clean_rows(shared_fixtures)


def _imported(tmp_path: Path, clean: tuple[str, list[list[str]]], defect: Defect) -> Imported:
    header, rows = clean
    corrupted, _ = defect.corrupt(rows)
    return import_copy(write_copy(tmp_path, header, corrupted))


def test_clean_window_passes_every_check_and_rejects_nothing(
    tmp_path: Path, clean: tuple[str, list[list[str]]]
) -> None:
    header, rows = clean

    imported = import_copy(write_copy(tmp_path, header, rows))

    assert imported.failed == {}
    assert not imported.rejected
    assert imported.candles == len(rows) == 3_750


REPORTED = [d for d in DEFECTS if d.name != "split-like jump"]


@pytest.mark.parametrize("defect", REPORTED, ids=[d.name for d in REPORTED])
def test_defect_is_reported_by_the_importer_or_the_checks_with_its_count(
    tmp_path: Path, clean: tuple[str, list[list[str]]], defect: Defect
) -> None:
    _, count = defect.corrupt(clean[1])

    imported = _imported(tmp_path, clean, defect)

    assert defect.checks <= set(imported.failed), imported.failed
    for reason in defect.rejected:
        assert sum(n for r, n in imported.rejected.items() if reason in r) == count
    if defect.counted_by is not None:
        assert imported.failed[defect.counted_by][1] == count


def test_time_zone_shift_is_named_with_its_offset(
    tmp_path: Path, clean: tuple[str, list[list[str]]]
) -> None:
    imported = _imported(tmp_path, clean, BY_NAME["time-zone shift"])

    result = next(r for r in imported.report.results if r.name == "timezone_shift")
    assert "330" in str(result.observed["shift_minutes"])


def test_split_like_jump_in_ten_sessions_is_reported(
    tmp_path: Path, clean: tuple[str, list[list[str]]]
) -> None:
    imported = _imported(tmp_path, clean, BY_NAME["split-like jump"])

    assert "split_like_jumps" in imported.failed


# -- through the Dagster assets ------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(
    tmp_path_factory: pytest.TempPathFactory, clean: tuple[str, list[list[str]]]
) -> Ingested:
    work = tmp_path_factory.mktemp("baseline")
    data = write_copy(work / "data", *clean).parent
    return ingest(data, work)


def test_dagster_clean_window_builds_features_for_every_day(baseline: Ingested) -> None:
    assert baseline.success
    assert baseline.failed_checks == frozenset()
    assert len(baseline.feature_days) == len(baseline.candle_days) == 10
    assert baseline.features.height > 3_000


def test_dagster_rejected_rows_reach_neither_the_lake_nor_the_features(
    tmp_path: Path, clean: tuple[str, list[list[str]]], baseline: Ingested
) -> None:
    header, rows = clean
    for name in ("duplicates", "negative prices", "NaN prices"):
        rows, _ = BY_NAME[name].corrupt(rows)
    data = write_copy(tmp_path / "data", header, rows).parent

    ingested = ingest(data, tmp_path)

    assert ingested.success  # rejections and the gaps they leave warn; they do not block
    assert {"import_rejections", "intraday_gaps"} <= ingested.failed_checks
    assert bad_candles(ingested.candles) == {}
    assert ingested.candles.height == baseline.candles.height - 10  # 5 negative + 5 NaN bars
    assert features_over(ingested.features, ingested.candles) == 0
    assert ingested.feature_days == baseline.feature_days


def test_dagster_after_hours_bars_stop_the_run_before_features(
    tmp_path: Path, clean: tuple[str, list[list[str]]]
) -> None:
    header, rows = clean
    corrupted, count = BY_NAME["after-hours bars"].corrupt(rows)
    data = write_copy(tmp_path / "data", header, corrupted).parent

    ingested = ingest(data, tmp_path)

    assert not ingested.success
    assert "within_session_hours" in ingested.failed_checks
    assert "features" not in ingested.materialized
    assert ingested.feature_days == ()
    assert bad_candles(ingested.candles) == {"outside 09:16-15:30": count}  # stored, flagged


def test_dagster_split_like_jump_never_reaches_the_features(
    tmp_path: Path, clean: tuple[str, list[list[str]]]
) -> None:
    header, rows = clean
    corrupted, _ = BY_NAME["split-like jump"].corrupt(rows)
    data = write_copy(tmp_path / "data", header, corrupted).parent

    ingested = ingest(data, tmp_path)

    assert "features" not in ingested.materialized


def test_dagster_bars_of_a_failed_day_never_feed_a_later_days_features(
    tmp_path: Path, clean: tuple[str, list[list[str]]], baseline: Ingested
) -> None:
    outcome = cross_run(tmp_path, *clean, baseline)

    assert outcome["second_run_success"]
    assert outcome["features_rows"] == 375
    assert not outcome["contaminated"], outcome
