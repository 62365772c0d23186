"""Feature assets (group ``features``): the one feature definition over the candle lake.

A day's features need ``warmup_bars`` of history, so each partition also reads the preceding
trading days' candles from the lake; rows still inside the warm-up are dropped, never written.

Candle history is read without what failed blocking checks (``candles_1m_quarantine``, written by
``candles_1m`` with each day): quarantined bars are left out, and an instrument's history starts
after its last quarantined session, so no feature is built over a day that failed, nor across it.
A stored day without a verdict (written before verdicts were kept, or by another tool) is checked
here, with the same checks, before it is used.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotations at runtime.

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
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

from assets.market_data import (
    CANDLE_QUALITY,
    CANDLES_TABLE,
    ONE_MINUTE,
    OPTION_CHAIN_ASSET,
    OPTION_CHAIN_TABLE,
    QUARANTINE_TABLE,
)
from assets.partitions import partition_day
from assets.resources import LakeResource
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, FeatureFrame, ist_date
from models.data_quality import (
    clean_history,
    empty_quarantine,
    quarantine_for_day,
    validate_candles,
)
from models.features import history_start
from models.lake import Lake

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
            "volume, calendar) per instrument and bar, after warm-up; never over bars or sessions "
            "in candles_1m_quarantine.",
            quarantine_table=QUARANTINE_TABLE,
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
    quarantine_table: str | None = None,
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
        left_out: dict[str, int] = {}
        checked_now: set[str] = set()
        for key in context.partition_keys:
            day = partition_day(key)
            today = store.read(table, day)
            per_session = (
                today.select(pl.col("ts_event").n_unique()).item() if today is not None else 0
            )
            start = history_start(calendar, day, feature_set.warmup_bars, per_session)
            history = store.scan(table, start, day).drop("date").collect()
            if quarantine_table is not None:
                usable = _usable_history(
                    store, table, quarantine_table, history, start, day, calendar
                )
                if history.height - usable.history.height:
                    left_out[key] = history.height - usable.history.height
                checked_now.update(d.isoformat() for d in usable.checked_now)
                history = usable.history
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
                # Per partition: history rows left out (quarantined, or before a quarantined
                # session), and stored days without a verdict that were checked here.
                "quarantined_history_rows": MetadataValue.json(left_out),
                "days_checked_now": MetadataValue.json(sorted(checked_now)),
            }
        )
        yield _frame_check(name, frame)

    return features


@dataclass(frozen=True)
class _Usable:
    history: pl.DataFrame
    checked_now: tuple[date, ...]


def _usable_history(
    store: Lake,
    table: str,
    quarantine_table: str,
    history: pl.DataFrame,
    start: date,
    day: date,
    calendar: NseCalendar,
) -> _Usable:
    """``history`` (the candles of ``start..day``) without what failed blocking checks: the
    stored verdicts, and for a stored day without one the verdict of the same checks run now."""
    days = [d for d in store.days(table) if start <= d <= day]
    judged = set(store.days(quarantine_table))
    held = [d for d in days if d in judged]
    unchecked = tuple(d for d in days if d not in judged)
    verdicts = [empty_quarantine()]
    if held:
        stored = store.scan(quarantine_table, held[0], held[-1]).collect()
        verdicts.append(stored.select(empty_quarantine().columns).cast(empty_quarantine().schema))
    if unchecked:
        frame = history.filter(ist_date().is_in(list(unchecked))).sort(
            "instrument_token", "ts_event"
        )
        found = validate_candles(
            frame,
            interval=ONE_MINUTE,
            calendar=calendar,
            thresholds=CANDLE_QUALITY,
            source=f"{table}_unchecked",
        ).quarantine
        verdicts.extend(
            quarantine_for_day(found, d).with_columns(pl.lit(d).alias("date")) for d in unchecked
        )
    merged = pl.concat(verdicts, how="diagonal_relaxed").select(empty_quarantine().columns)
    return _Usable(clean_history(history, merged), unchecked)


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
