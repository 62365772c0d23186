"""Feature assets (group ``features``): the one feature definition over the candle lake.

A day's features need ``warmup_bars`` of history, so each partition also reads the preceding
trading days' candles from the lake; rows still inside the warm-up are dropped, never written.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from collections.abc import Iterator
from typing import Protocol

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

from assets.market_data import CANDLES_TABLE, OPTION_CHAIN_ASSET, OPTION_CHAIN_TABLE
from assets.partitions import partition_day
from assets.resources import LakeResource
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, FeatureFrame, ist_date
from models.features import history_start

__all__ = ["FEATURES_TABLE", "OPTION_FEATURES_TABLE", "feature_assets"]

GROUP = "features"
FEATURES_TABLE = "features"
OPTION_FEATURES_TABLE = "option_features"


class _FeatureSet(Protocol):
    """What the asset needs of a feature set (``FeatureSet`` and ``OptionFeatureSet`` both)."""

    @property
    def columns(self) -> tuple[str, ...]: ...

    @property
    def warmup_bars(self) -> int: ...

    @property
    def version(self) -> str: ...

    def build(self, frame: pl.DataFrame) -> pl.DataFrame: ...

    def drop_warmup(self, features: pl.DataFrame) -> pl.DataFrame: ...


def feature_assets(
    partitions: PartitionsDefinition,
    calendar: NseCalendar,
    candle_features: _FeatureSet,
    option_features: _FeatureSet,
) -> list[AssetsDefinition]:
    """The feature assets over ``partitions``: candle features and option-chain features."""
    return [
        _feature_asset(
            FEATURES_TABLE,
            CANDLES_TABLE,
            candle_features,
            calendar,
            partitions,
            "Candle features (EMA, MACD, RSI, ADX, Bollinger, z-score, ROC, ATR, volatility, "
            "volume, calendar) per instrument and bar, after warm-up.",
        ),
        _feature_asset(
            OPTION_FEATURES_TABLE,
            OPTION_CHAIN_ASSET,
            option_features,
            calendar,
            partitions,
            "Option features (Black-76 IV and greeks, ATM IV, IV rank, 25-delta skew) per "
            "option and chain snapshot, after warm-up.",
            source_table=OPTION_CHAIN_TABLE,
        ),
    ]


def _feature_asset(
    name: str,
    upstream: str,
    feature_set: _FeatureSet,
    calendar: NseCalendar,
    partitions: PartitionsDefinition,
    description: str,
    source_table: str | None = None,
) -> AssetsDefinition:
    table = source_table or upstream

    @asset(
        name=name,
        group_name=GROUP,
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[upstream],
        check_specs=[AssetCheckSpec("feature_frame_valid", asset=name, blocking=True)],
        description=description,
    )
    def features(
        context: AssetExecutionContext, lake: LakeResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        store = lake.lake()
        written: list[pl.DataFrame] = []
        short_history: list[str] = []
        for key in context.partition_keys:
            day = partition_day(key)
            today = store.read(table, day)
            per_session = (
                today.select(pl.col("ts_event").n_unique()).item() if today is not None else 0
            )
            start = history_start(calendar, day, feature_set.warmup_bars, per_session)
            history = store.scan(table, start, day).drop("date").collect()
            built = (
                feature_set.drop_warmup(feature_set.build(history)) if history.height else history
            )
            rows = built.filter(ist_date() == day) if built.height else _empty(feature_set)
            if not store.partition_path(table, start).exists():
                short_history.append(key)
            store.write(name, day, rows)
            written.append(rows)
        frame = pl.concat(written) if written else _empty(feature_set)
        yield MaterializeResult(
            metadata={
                "rows": frame.height,
                "feature_version": feature_set.version,
                "warmup_bars": feature_set.warmup_bars,
                "columns": MetadataValue.json(list(feature_set.columns)),
                "days_with_short_history": MetadataValue.json(short_history),
            }
        )
        yield _frame_check(name, frame)

    return features


def _empty(feature_set: _FeatureSet) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "instrument_token": pl.Int64,
            "ts_event": UTC_TIMESTAMP,
            "feature_version": pl.String,
            **dict.fromkeys(feature_set.columns, pl.Float64),
        }
    )


def _frame_check(name: str, frame: pl.DataFrame) -> AssetCheckResult:
    try:
        FeatureFrame.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return AssetCheckResult(
            check_name="feature_frame_valid",
            asset_key=name,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "failures": MetadataValue.int(cases.height),
                "checks": MetadataValue.json(sorted({str(c) for c in cases["check"].to_list()})),
            },
        )
    return AssetCheckResult(
        check_name="feature_frame_valid",
        asset_key=name,
        passed=True,
        metadata={"rows": MetadataValue.int(frame.height)},
    )
