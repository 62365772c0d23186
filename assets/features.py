"""Feature assets (group ``features``): the one feature definition over the candle lake.

A day's features need ``warmup_bars`` of history, so each partition also reads the preceding
trading days' candles from the lake; rows still inside the warm-up are dropped, never written.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

import math
from collections.abc import Iterator
from datetime import date

import pandera.polars as pa
import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from assets.market_data import CANDLES_TABLE
from assets.partitions import partition_day
from assets.resources import LakeResource
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import FeatureFrame
from data_contracts.timeutil import IST
from models.features import FeatureSet

__all__ = ["FEATURES_TABLE", "feature_assets", "history_start"]

GROUP = "features"
FEATURES_TABLE = "features"
REGULAR_SESSION_BARS = 375  # 09:15-15:30 in 1-minute bars


def history_start(calendar: NseCalendar, day: date, warmup_bars: int) -> date:
    """The first trading day whose candles a feature build for ``day`` needs: enough whole
    sessions before ``day`` to cover ``warmup_bars`` (plus one for short sessions)."""
    first = day
    for _ in range(math.ceil(warmup_bars / REGULAR_SESSION_BARS) + 1):
        first = calendar.previous_session(first).date
    return first


def feature_assets(
    partitions: PartitionsDefinition, calendar: NseCalendar, feature_set: FeatureSet
) -> list[AssetsDefinition]:
    """The feature assets over ``partitions``, built from ``feature_set``."""

    @asset(
        name=FEATURES_TABLE,
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[CANDLES_TABLE],
        check_specs=[AssetCheckSpec("feature_frame_valid", asset=FEATURES_TABLE, blocking=True)],
        description=(
            "Candle features (EMA, MACD, RSI, ADX, Bollinger, z-score, ROC, ATR, volatility, "
            "volume, calendar) per instrument and bar, after warm-up."
        ),
    )
    def features(
        context: AssetExecutionContext, lake: LakeResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        store = lake.lake()
        written: list[pl.DataFrame] = []
        short_history: list[str] = []
        for key in context.partition_keys:
            day = partition_day(key)
            start = history_start(calendar, day, feature_set.warmup_bars)
            history = store.scan(CANDLES_TABLE, start, day).drop("date").collect()
            built = feature_set.drop_warmup(feature_set.build(history))
            today = built.filter(pl.col("ts_event").dt.convert_time_zone(str(IST)).dt.date() == day)
            if store.read(CANDLES_TABLE, start) is None:
                short_history.append(key)
            store.write(FEATURES_TABLE, day, today)
            written.append(today)
        frame = pl.concat(written) if written else pl.DataFrame()
        yield MaterializeResult(
            metadata={
                "rows": frame.height,
                "feature_version": feature_set.version,
                "warmup_bars": feature_set.warmup_bars,
                "columns": MetadataValue.json(list(feature_set.columns)),
                "days_with_short_history": MetadataValue.json(short_history),
            }
        )
        yield _frame_check(frame)

    return [features]


def _frame_check(frame: pl.DataFrame) -> AssetCheckResult:
    try:
        FeatureFrame.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return AssetCheckResult(
            check_name="feature_frame_valid",
            asset_key=FEATURES_TABLE,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "failures": MetadataValue.int(cases.height),
                "checks": MetadataValue.json(sorted({str(c) for c in cases["check"].to_list()})),
            },
        )
    return AssetCheckResult(
        check_name="feature_frame_valid",
        asset_key=FEATURES_TABLE,
        passed=True,
        metadata={"rows": MetadataValue.int(frame.height)},
    )
