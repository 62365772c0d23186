"""Market-data assets (group ``market_data``): instruments, 1-minute candles, option chains.

Each asset is partitioned by NSE trading day, asks the configured ``MarketDataResource`` for its
days and writes them to the lake. A backfill of many days runs as one run (single-run backfill
policy), so the candle checks see the whole range at once; the first day is judged against the
previous session's last close in the lake, so a one-day run still sees an overnight split.

``candles_1m`` checks its days before it writes them, and writes each day's verdict first: what
failed blocking checks take out of use (``candles_1m_quarantine``, one partition per day, empty when
clean). The bars themselves are stored as they came (flagged, for people to inspect), and every
reader that builds on earlier days (``features``, the next run's previous close) leaves the
quarantined ones out.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    Backoff,
    BetaWarning,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    RetryPolicy,
    asset,
)

from assets.partitions import partition_day
from assets.resources import DayCandles, LakeResource, MarketDataResource, QualityResource
from data_contracts.instruments import instruments_to_frame
from data_contracts.nse_calendar import NseCalendar
from models.data_quality import (
    IMPORT_CHECKS,
    STATISTICAL_CHECKS,
    STRUCTURAL_CHECKS,
    CheckResult,
    QualityThresholds,
    empty_quarantine,
    last_closes,
    quarantine_for_day,
    quarantine_table,
    validate_candles,
)
from models.lake import Lake

__all__ = [
    "CANDLES_TABLE",
    "CANDLE_QUALITY",
    "OPTION_CHAIN_ASSET",
    "OPTION_CHAIN_TABLE",
    "QUARANTINE_TABLE",
    "REJECTED_TABLE",
    "market_data_assets",
]

# Single-run backfills (one run checks a whole range) are Dagster "beta"; we rely on them
# deliberately, so the notice would only be noise for users.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*backfill_policy.*")

GROUP = "market_data"
INSTRUMENTS_TABLE = "instruments"
CANDLES_TABLE = "candles_1m"
REJECTED_TABLE = "candles_1m_rejected"
QUARANTINE_TABLE = quarantine_table(CANDLES_TABLE)
# The limits the candle checks hold the data to; which checks block comes from here too.
CANDLE_QUALITY = QualityThresholds()
BLOCKING_CHECKS = frozenset({*STRUCTURAL_CHECKS, *CANDLE_QUALITY.blocking})
# Stored days searched back for each instrument's previous close (a missing session or two).
PREVIOUS_CLOSE_DAYS = 5
OPTION_CHAIN_TABLE = "option_chain"
# The asset that writes the OPTION_CHAIN_TABLE partitions.
OPTION_CHAIN_ASSET = "option_chain_snapshots"
ONE_MINUTE = timedelta(minutes=1)
# Sources are remote or flaky (Kite's API, a network share): retry before failing the run.
SOURCE_RETRY = RetryPolicy(max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL)


def _days(context: AssetExecutionContext) -> list[date]:
    return [partition_day(key) for key in context.partition_keys]


def market_data_assets(
    partitions: PartitionsDefinition, calendar: NseCalendar
) -> list[AssetsDefinition]:
    """The market-data assets over ``partitions`` (NSE trading days)."""

    @asset(
        name="instruments",
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        retry_policy=SOURCE_RETRY,
        description="The instruments dump (Kite's CSV columns) as of each trading day.",
    )
    def instruments(
        context: AssetExecutionContext, market_data: MarketDataResource, lake: LakeResource
    ) -> MaterializeResult:
        store = lake.lake()
        rows = 0
        segments: dict[str, int] = {}
        for day in _days(context):
            frame = instruments_to_frame(market_data.instruments(day))
            store.write(INSTRUMENTS_TABLE, day, frame)
            rows += frame.height
            for segment, count in frame.group_by("segment").len().iter_rows():
                segments[str(segment)] = segments.get(str(segment), 0) + int(count)
        return MaterializeResult(metadata={"rows": rows, "by_segment": segments})

    check_names = (*STRUCTURAL_CHECKS, *IMPORT_CHECKS, *STATISTICAL_CHECKS)

    @asset(
        name=CANDLES_TABLE,
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        retry_policy=SOURCE_RETRY,
        deps=[instruments],
        check_specs=[
            AssetCheckSpec(name, asset=CANDLES_TABLE, blocking=name in BLOCKING_CHECKS)
            for name in check_names
        ],
        description=(
            "1-minute candles of every instrument in the universe (ts_event = bar close, UTC). "
            "Rows a source rejects are kept in candles_1m_rejected with a reason; what failed "
            "blocking checks is listed in candles_1m_quarantine and never used downstream."
        ),
    )
    def candles_1m(
        context: AssetExecutionContext,
        market_data: MarketDataResource,
        lake: LakeResource,
        quality: QualityResource,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        store = lake.lake()
        days = _days(context)
        # Nothing is written before the checks have run: a day is stored with its verdict.
        loaded = {day: _sorted(market_data.day_candles(day)) for day in days}
        rejected = [d.rejected for d in loaded.values() if d.rejected.height]
        # Days are loaded one by one; the checks see the range in (instrument, time) order.
        candles = (
            pl.concat([d.candles for d in loaded.values()]).sort("instrument_token", "ts_event")
            if loaded
            else pl.DataFrame()
        )
        report = validate_candles(
            candles,
            interval=ONE_MINUTE,
            calendar=calendar,
            thresholds=CANDLE_QUALITY,
            source=CANDLES_TABLE,
            expected_range=(days[0], days[-1]),
            docs_dir=quality.docs_dir(CANDLES_TABLE, days[0], days[-1]),
            rejected=pl.concat(rejected, how="diagonal_relaxed") if rejected else None,
            import_warnings=[note for d in loaded.values() for note in d.notes],
            previous_closes=_previous_closes(store, days[0], candles),
        )
        for day, day_candles in loaded.items():
            # The verdict before the bars: no reader ever sees a day's bars without it.
            store.write(QUARANTINE_TABLE, day, quarantine_for_day(report.quarantine, day))
            store.write(CANDLES_TABLE, day, day_candles.candles)
            if day_candles.rejected.height:
                store.write(REJECTED_TABLE, day, day_candles.rejected)
        docs = report.data_docs_path
        yield MaterializeResult(
            metadata={
                "rows": candles.height,
                "instruments": report.instruments,
                "days": len(days),
                "rejected_rows": sum(r.height for r in rejected),
                "quality_passed": report.passed,
                "quarantined": MetadataValue.json(report.quarantined),
                "data_docs": MetadataValue.path(str(docs)) if docs else None,
            }
        )
        for result in report.results:
            yield _check_result(result, docs_link=str(docs) if docs else None)

    @asset(
        name=OPTION_CHAIN_ASSET,
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        retry_policy=SOURCE_RETRY,
        deps=[instruments],
        description="NIFTY option-chain snapshots through each session (prices, bid/ask, OI).",
    )
    def option_chain_snapshots(
        context: AssetExecutionContext, market_data: MarketDataResource, lake: LakeResource
    ) -> MaterializeResult:
        store = lake.lake()
        rows = 0
        expiries: set[str] = set()
        for day in _days(context):
            chain = market_data.option_chain(day)
            store.write(OPTION_CHAIN_TABLE, day, chain)
            rows += chain.height
            if "expiry" in chain.columns:
                expiries.update(str(e) for e in chain["expiry"].unique().to_list())
        return MaterializeResult(metadata={"rows": rows, "expiries": sorted(expiries)})

    return [instruments, candles_1m, option_chain_snapshots]


def _sorted(day: DayCandles) -> DayCandles:
    """The day's candles in (instrument, time) order, as they are stored."""
    return replace(day, candles=day.candles.sort("instrument_token", "ts_event"))


def _previous_closes(store: Lake, first: date, candles: pl.DataFrame) -> pl.DataFrame:
    """Each instrument's last usable close before ``first`` (quarantined bars left out), from the
    newest stored day back, so the first day's overnight move is judged too."""
    wanted = set(candles["instrument_token"].unique()) if "instrument_token" in candles else set()
    found: list[pl.DataFrame] = []
    if not wanted:
        return pl.DataFrame()
    for day in reversed([d for d in store.days(CANDLES_TABLE) if d < first][-PREVIOUS_CLOSE_DAYS:]):
        stored = store.read(CANDLES_TABLE, day)
        if stored is None or not {"instrument_token", "ts_event", "close"} <= set(stored.columns):
            continue
        verdict = store.read(QUARANTINE_TABLE, day)
        held = empty_quarantine() if verdict is None else verdict
        closes = last_closes(stored, held).filter(pl.col("instrument_token").is_in(list(wanted)))
        found.append(closes)
        wanted -= set(closes["instrument_token"])
        if not wanted:
            break
    return pl.concat(found) if found else pl.DataFrame()


def _check_result(result: CheckResult, docs_link: str | None) -> AssetCheckResult:
    metadata: dict[str, MetadataValue] = {
        "observed": MetadataValue.json(dict(result.observed)),
        "threshold": MetadataValue.json(dict(result.threshold)),
        "failing_rows": MetadataValue.int(result.failing_rows),
        "unit": MetadataValue.text(result.unit),
        "sample": MetadataValue.json([dict(row) for row in result.sample]),
        "description": MetadataValue.text(result.description),
    }
    if docs_link:
        metadata["data_docs"] = MetadataValue.path(docs_link)
    return AssetCheckResult(
        check_name=result.name,
        asset_key=CANDLES_TABLE,
        passed=result.passed,
        severity=AssetCheckSeverity.ERROR if result.blocking else AssetCheckSeverity.WARN,
        metadata=metadata,
    )
