"""The shared real candle files, imported as they are, come out with every defect named.

Each folder under ``shared_fixtures/candles`` is one family: its files are imported with
``execution.sources.files.import_candles`` (which never cleans: bad rows go to ``rejected``),
concatenated, and validated once. The defects asserted here were found by exploring the files
(see ``docs/data-quality.md``); the exact set of failed checks per family is pinned, so a defect
that stops being reported, or a clean property that starts failing, both show up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from data_contracts.nse_calendar import NseCalendar
from execution.sources.files import import_candles
from models.data_quality import QualityReport, format_report, validate_candles

pytestmark = pytest.mark.slow

ONE_MINUTE = "nifty-banknifty-1min-2024"
FIFTEEN_MINUTE = "banknifty-15min-2018-2023"
DAILY = "nifty50-daily-2020-2025"
FIVE_MINUTE = "nifty50-5min-2026"

EXPECTED_FAILURES = {
    ONE_MINUTE: {
        "unique_instrument_ts",  # BNF_2024.csv labels NIFTY BANK's bars "NIFTY"
        "within_session_hours",  # flat bars after the close on Saturday 2024-01-20
        "stale_runs",  # ... 164 of them at one price
        "missing_sessions",  # five whole trading days absent
        "price_jumps",  # NIFTY BANK bars mislabelled NIFTY jump between two price levels
    },
    FIFTEEN_MINUTE: {
        "import_rejections",  # 696 bars whose high/low break the OHLC invariants
        "intraday_gaps",  # ... which leaves holes inside sessions
        "truncated_sessions",  # ... and at their ends
        "bars_on_non_session_days",  # Budget Saturday 2020-02-01, not in the calendar
        "calendar_coverage",  # 2018-2023 holidays are not in the calendar
        # March 2020's jumps are listed, but in too few sessions to fail price_jumps
    },
    DAILY: {
        "bars_on_non_session_days",  # Muhurat sessions 2020-11-14 and 2023-11-12
        "calendar_coverage",  # 2020-2023 holidays are not in the calendar
        # Adani Jan-2023, election day 2024-06-04, IndusInd 2025-03-11 are listed as jumps
        "volume_spikes",  # ITC block deal 2025-05-28, ...
    },
    FIVE_MINUTE: {
        "zero_volume_bars",  # Yahoo's first bar of every day has volume 0
        "price_precision",  # float32 artefacts (2341.699951171875)
        "volume_spikes",  # index-rebalance volumes (2026-05-29 closing-auction moves listed)
    },
}


@dataclass(frozen=True)
class Family:
    report: QualityReport
    files: int
    imported_rows: int
    rejected_rows: int


def _validate_family(folder: Path, docs: Path) -> Family:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    imports = [import_candles(path) for path in files]
    candles = pl.concat([r.candles for r in imports]).sort(
        "instrument_token", "ts_event", maintain_order=True
    )
    rejected = pl.concat(
        [r.rejected.with_columns(pl.lit(Path(r.source).name).alias("source")) for r in imports],
        how="diagonal_relaxed",
    )
    symbols = {token: name for r in imports for token, name in r.symbol_by_token.items()}
    warnings = sorted({f"{Path(r.source).name}: {w}" for r in imports for w in r.warnings})
    report = validate_candles(
        candles,
        interval=imports[0].interval,
        calendar=NseCalendar.default(),
        symbols=symbols,
        source=folder.name,
        rejected=rejected,
        import_warnings=warnings,
        docs_dir=docs / folder.name,
    )
    return Family(
        report,
        len(files),
        sum(r.rows for r in imports),
        rejected.height,
    )


@pytest.fixture(scope="module")
def families(shared_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Family]:
    docs = tmp_path_factory.mktemp("data_docs")
    folders = sorted(p for p in (shared_fixtures / "candles").iterdir() if p.is_dir())
    return {folder.name: _validate_family(folder, docs) for folder in folders}


def _sample_times(report: QualityReport, check: str) -> list[str]:
    return [str(row.get("ts_event", row.get("date"))) for row in report.result(check).sample]


def test_real_files_every_family_validated(families: dict[str, Family]) -> None:
    assert set(families) == set(EXPECTED_FAILURES)
    for family in families.values():
        assert family.report.rows + family.rejected_rows == family.imported_rows
        assert family.report.data_docs_path is not None
        assert family.report.data_docs_path.is_file()


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_real_files_report_names_exactly_the_defects_found(
    families: dict[str, Family], name: str
) -> None:
    report = families[name].report

    text = format_report(report)

    assert report.failed_names == EXPECTED_FAILURES[name], text
    for check in EXPECTED_FAILURES[name]:
        assert f"] {check}: " in text


def test_real_files_1min_mislabelled_banknifty_file_reported(families: dict[str, Family]) -> None:
    report = families[ONE_MINUTE].report

    duplicates = report.result("unique_instrument_ts")

    assert duplicates.blocking
    assert duplicates.observed["conflicting_keys"] == 58_127  # every bar of BNF_2024.csv
    assert {row["symbol"] for row in duplicates.sample} == {"NIFTY 50"}
    assert any("BNF_2024.csv" in note and "Instrument" in note for note in report.notes)


def test_real_files_1min_saturday_after_hours_flat_bars_reported(
    families: dict[str, Family],
) -> None:
    report = families[ONE_MINUTE].report

    hours = report.result("within_session_hours")
    stale = report.result("stale_runs")

    assert hours.observed["after_close_bars"] == 2 * 167  # both files, 15:31-18:17 IST
    assert hours.observed["dates"] == "2024-01-20"
    assert stale.observed["longest_run_bars"] == 164
    assert str(stale.sample[0]["first_bar"]).startswith("2024-01-20T15:34")


def test_real_files_1min_missing_days_reported_special_sessions_accepted(
    families: dict[str, Family],
) -> None:
    report = families[ONE_MINUTE].report

    missing = report.result("missing_sessions")

    assert missing.observed["dates"] == "2024-02-01, 2024-03-04, 2024-04-05, 2024-05-07, 2024-07-10"
    # The DR-drill Saturdays (2024-03-02, 2024-05-18) have a 10:00-11:30 break: no gap reported.
    assert report.result("intraday_gaps").passed
    assert report.result("truncated_sessions").passed
    assert "in_break_bars" not in report.result("within_session_hours").observed
    assert any(t.startswith("2024-06-04") for t in _sample_times(report, "price_jumps"))


@pytest.mark.parametrize("name", [ONE_MINUTE, FIFTEEN_MINUTE])
def test_real_files_index_files_without_volume_noted_not_failed(
    families: dict[str, Family], name: str
) -> None:
    report = families[name].report

    volume = report.result("volume_missing")

    assert volume.passed  # an index never trades: no volume is expected, not a defect
    assert volume.observed["indices_without_volume"] == 1
    assert any("no volume column" in note for note in report.notes)


def test_real_files_15min_broken_ohlc_rows_reported(families: dict[str, Family]) -> None:
    report = families[FIFTEEN_MINUTE].report

    rejected = report.result("import_rejections")
    gaps = report.result("intraday_gaps")
    truncated = report.result("truncated_sessions")

    assert rejected.failing_rows == 696
    assert rejected.observed["reason: high below open, close or low"] == 300
    assert rejected.observed["reason: low above open or close"] == 400
    holes = gaps.failing_rows + int(str(truncated.observed["slots_missing"]))
    assert holes == 696  # the holes the rejected bars leave


def test_real_files_15min_calendar_gaps_reported(families: dict[str, Family]) -> None:
    report = families[FIFTEEN_MINUTE].report

    budget_day = report.result("bars_on_non_session_days")
    coverage = report.result("calendar_coverage")

    assert budget_day.observed["dates"] == "2020-02-01"
    assert budget_day.observed["bars"] == 25
    assert coverage.observed["unpublished_years"] == "2018, 2019, 2020, 2021, 2022, 2023"
    assert coverage.observed["sessions_without_bars"] == 72
    assert _sample_times(report, "price_jumps")[0].startswith("2020-03-24T09:30")


def test_real_files_daily_muhurat_jumps_and_block_deals_reported(
    families: dict[str, Family],
) -> None:
    report = families[DAILY].report

    muhurat = report.result("bars_on_non_session_days")
    jumps = report.result("price_jumps")
    spikes = report.result("volume_spikes")

    assert muhurat.observed["dates"] == "2020-11-14, 2023-11-12"
    assert (
        report.result("calendar_coverage").observed["unpublished_years"] == "2020, 2021, 2022, 2023"
    )
    assert (jumps.sample[0]["symbol"], str(jumps.sample[0]["ts_event"])[:10]) == (
        "INDUSINDBK",
        "2025-03-11",
    )
    assert (spikes.sample[0]["symbol"], str(spikes.sample[0]["ts_event"])[:10]) == (
        "ITC",
        "2025-05-28",
    )
    # 2024-2025 (published calendar years) are complete, and adjusted prices stay on the paisa grid.
    assert report.result("missing_sessions").passed
    assert report.result("price_precision").passed


def test_real_files_5min_yahoo_zero_volume_first_bars_and_float_artefacts_reported(
    families: dict[str, Family],
) -> None:
    report = families[FIVE_MINUTE].report

    zero = report.result("zero_volume_bars")
    precision = report.result("price_precision")

    assert zero.observed["first_bar_of_day"] == 1006
    assert zero.observed["last_bar_of_day"] == 13
    assert zero.observed["inside_the_day"] == 0
    assert precision.observed["bars"] == 64_762
    assert any("float artefacts" in note for note in report.notes)
    # Bakri Id (2026-05-28) has no bars and is not reported missing.
    assert report.result("missing_sessions").passed
    assert dt.date(2026, 5, 28).isoformat() not in format_report(report)
