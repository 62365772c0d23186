"""Market-data assets (group ``market_data``): instruments, 1-minute candles, option chains.

Each asset is partitioned by NSE trading day, asks the configured ``MarketDataResource`` for its
days and writes them to the lake. A backfill of many days runs as one run (single-run backfill
policy), so the candle checks see the whole range at once.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import warnings
from collections.abc import Iterator
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
from assets.resources import LakeResource, MarketDataResource, QualityResource
from data_contracts.instruments import instruments_to_frame
from data_contracts.nse_calendar import NseCalendar
from models.data_quality import (
    IMPORT_CHECKS,
    STATISTICAL_CHECKS,
    STRUCTURAL_CHECKS,
    CheckResult,
    validate_candles,
)

__all__ = [
    "CANDLES_TABLE",
    "OPTION_CHAIN_ASSET",
    "OPTION_CHAIN_TABLE",
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
            AssetCheckSpec(name, asset=CANDLES_TABLE, blocking=name in STRUCTURAL_CHECKS)
            for name in check_names
        ],
        description=(
            "1-minute candles of every instrument in the universe (ts_event = bar close, UTC). "
            "Rows a source rejects are kept in candles_1m_rejected with a reason."
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
        frames: list[pl.DataFrame] = []
        rejected: list[pl.DataFrame] = []
        notes: list[str] = []
        for day in days:
            loaded = market_data.day_candles(day)
            store.write(CANDLES_TABLE, day, loaded.candles)
            if loaded.rejected.height:
                store.write(REJECTED_TABLE, day, loaded.rejected)
                rejected.append(loaded.rejected)
            frames.append(loaded.candles)
            notes.extend(loaded.notes)
        # Days are loaded one by one; the checks see the range in (instrument, time) order.
        candles = (
            pl.concat(frames).sort("instrument_token", "ts_event") if frames else pl.DataFrame()
        )
        report = validate_candles(
            candles,
            interval=ONE_MINUTE,
            calendar=calendar,
            source=CANDLES_TABLE,
            expected_range=(days[0], days[-1]),
            docs_dir=quality.docs_dir(CANDLES_TABLE, days[0], days[-1]),
            rejected=pl.concat(rejected, how="diagonal_relaxed") if rejected else None,
            import_warnings=notes,
        )
        docs = report.data_docs_path
        yield MaterializeResult(
            metadata={
                "rows": candles.height,
                "instruments": report.instruments,
                "days": len(days),
                "rejected_rows": sum(r.height for r in rejected),
                "quality_passed": report.passed,
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
