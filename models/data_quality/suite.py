"""The statistical checks: a great-expectations suite over the per-session and per-instrument
aggregates of :mod:`.aggregates`, with its Data Docs written where the caller says.

Each check is one GX expectation (``expect_column_values_to_be_between`` with the check's limit as
``max_value``) on one column of an aggregate table; GX decides pass or fail and counts the failing
sessions or instruments, and polars supplies the detail a person needs (counts, dates, examples).
great-expectations is imported only when a suite runs (it takes seconds to import).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import polars as pl

from data_contracts.nse_calendar import UnpublishedHolidaysWarning
from models.data_quality.aggregates import Aggregates
from models.data_quality.checks import dates_text
from models.data_quality.report import CheckResult, JsonScalar, Severity, json_rows
from models.data_quality.thresholds import QualityThresholds

if TYPE_CHECKING:
    from great_expectations.checkpoint.actions import ValidationAction
    from great_expectations.data_context.data_context.abstract_data_context import (
        AbstractDataContext,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_between import (
        ExpectColumnValuesToBeBetween,
    )

__all__ = ["GxOutcome", "failing_keys", "run_suite", "statistical_checks"]

Table = Literal["sessions", "instruments"]

_SITE: Final = "kitepilot_data_quality"
_INDEX_COLUMNS: Final[Mapping[Table, list[str]]] = {
    "sessions": ["symbol", "date"],
    "instruments": ["symbol"],
}
_WEEKDAYS: Final = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()


@dataclass(frozen=True, slots=True)
class GxOutcome:
    """What great-expectations concluded about one check's expectation."""

    success: bool
    element_count: int
    unexpected_count: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Detail:
    observed: dict[str, JsonScalar]
    failing: int
    sample: pl.DataFrame


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    table: Table
    column: str
    unit: str
    description: str
    limit: Callable[[QualityThresholds], int]
    threshold: Callable[[QualityThresholds], dict[str, JsonScalar]]
    detail: Callable[[Aggregates, QualityThresholds], _Detail]
    mostly: Callable[[QualityThresholds], float] = lambda _: 1.0
    """The share of rows that must meet the limit (GX's ``mostly``): 1.0 means every row."""


# -- the checks -----------------------------------------------------------------------------------


def _missing_sessions(agg: Aggregates, _: QualityThresholds) -> _Detail:
    rows = agg.sessions.filter(pl.col("missing_session") == 1)
    observed: dict[str, JsonScalar] = {
        "sessions_missing": rows.height,
        "instruments": rows.select(pl.col("symbol").n_unique()).item(),
    }
    if rows.height:
        observed["dates"] = dates_text(rows.select(pl.col("date").unique().sort()).to_series())
    return _Detail(observed, rows.height, rows.select("symbol", "date", "kind", "expected_bars"))


def _truncated_sessions(agg: Aggregates, limits: QualityThresholds) -> _Detail:
    rows = agg.sessions.filter(pl.col("truncated_slots") > limits.max_truncated_slots_per_session)
    sample = rows.select(
        "symbol",
        "date",
        "expected_bars",
        "on_grid_bars",
        pl.col("first_slot").alias("late_by_slots"),
        (pl.col("expected_bars") - 1 - pl.col("last_slot")).alias("early_by_slots"),
    )
    observed: dict[str, JsonScalar] = {
        "sessions": rows.height,
        "slots_missing": _int(rows["truncated_slots"].sum()),
        "max_slots_in_one_session": _int(rows["truncated_slots"].max()),
    }
    return _Detail(observed, rows.height, sample)


def _intraday_gaps(agg: Aggregates, limits: QualityThresholds) -> _Detail:
    rows = agg.sessions.filter(pl.col("gap_slots") > limits.max_gap_slots_per_session)
    failing = rows.select("instrument_token", "date")
    bars = agg.bars.join(failing, on=["instrument_token", "date"], how="semi").filter(
        pl.col("missing_before") > 0
    )
    observed: dict[str, JsonScalar] = {
        "sessions": rows.height,
        "missing_slots": _int(rows["gap_slots"].sum()),
        "gaps": _int(rows["gap_runs"].sum()),
        "largest_gap_slots": _int(bars["missing_before"].max()),
    }
    sample = bars.select(
        "symbol",
        pl.col("previous_ts_event").alias("last_bar_before"),
        pl.col("ts_event").alias("first_bar_after"),
        pl.col("missing_before").alias("missing_slots"),
    )
    return _Detail(observed, _int(rows["gap_slots"].sum()), sample)


def _non_session_days(agg: Aggregates, limits: QualityThresholds) -> _Detail:
    rows = agg.sessions.filter(pl.col("non_session_bars") > 0)
    days = rows.select(pl.col("date").unique().sort()).to_series()
    observed: dict[str, JsonScalar] = {
        "bars": _int(rows["non_session_bars"].sum()),
        "days": days.len(),
    }
    if days.len():
        observed["dates"] = dates_text(days)
    shown = rows.head(limits.sample_rows).select("symbol", "date", "non_session_bars")
    reasons = [_why_closed(agg, day) for day in shown["date"].to_list()]
    sample = shown.with_columns(pl.Series("calendar_says", reasons, dtype=pl.String))
    return _Detail(observed, _int(rows["non_session_bars"].sum()), sample)


def _why_closed(agg: Aggregates, day: dt.date) -> str:
    with warnings.catch_warnings():  # unpublished years are calendar_coverage's business
        warnings.simplefilter("ignore", UnpublishedHolidaysWarning)
        listed = [h.description for h in agg.calendar.holidays(day, day)]
    if listed:
        return f"holiday: {'; '.join(listed)}"
    if day.weekday() >= 5:  # Saturday or Sunday
        return f"weekend ({_WEEKDAYS[day.weekday()]})"
    return "no session"


def _calendar_coverage(agg: Aggregates, _: QualityThresholds) -> _Detail:
    rows = agg.sessions.filter(pl.col("unverified_missing") == 1)
    years = agg.sessions.filter(pl.col("has_session") & pl.col("published").not_())
    observed: dict[str, JsonScalar] = {
        "unpublished_years": ", ".join(
            str(y) for y in sorted(set(years["date"].dt.year().to_list()))
        ),
        "sessions_without_bars": rows.height,
        "distinct_dates": rows.select(pl.col("date").n_unique()).item(),
    }
    return _Detail(observed, rows.height, rows.select("symbol", "date"))


def _stale_runs(agg: Aggregates, limits: QualityThresholds) -> _Detail:
    runs = (
        agg.bars.filter(pl.col("stale_run") >= limits.stale_run_bars)
        .group_by("instrument_token", "symbol", "run_id")
        .agg(
            pl.col("ts_event").min().alias("first_bar"),
            pl.col("ts_event").max().alias("last_bar"),
            pl.len().alias("bars"),
            pl.col("close").first(),
        )
        .sort("first_bar")
    )
    observed: dict[str, JsonScalar] = {
        "runs": runs.height,
        "bars_in_runs": _int(runs["bars"].sum()),
        "longest_run_bars": _int(runs["bars"].max()),
    }
    sample = runs.select("symbol", "first_bar", "last_bar", "bars", "close")
    return _Detail(observed, _int(runs["bars"].sum()), sample)


def _jump_columns() -> list[pl.Expr | str]:
    return [
        "symbol",
        "ts_event",
        "return_kind",
        "previous_close",
        "close",
        pl.col("log_return").round(6),
        pl.col("return_z").round(2).alias("robust_z"),
    ]


def _price_jumps(agg: Aggregates, _: QualityThresholds) -> _Detail:
    bars = agg.bars.filter(pl.col("price_jump"))
    kinds = dict(bars.group_by("return_kind").len().iter_rows())
    observed: dict[str, JsonScalar] = {
        "jumps": bars.height,
        **{f"{kind}_jumps": int(n) for kind, n in sorted(kinds.items())},
        "instruments": bars.select(pl.col("symbol").n_unique()).item(),
        "max_abs_z": round(_float(bars["return_z"].abs().max()), 2),
    }
    ranked = bars.sort(pl.col("return_z").abs(), descending=True).select(_jump_columns())
    return _Detail(observed, bars.height, ranked)


def _split_like(agg: Aggregates, _: QualityThresholds) -> _Detail:
    bars = agg.bars.filter(pl.col("split_like"))
    observed: dict[str, JsonScalar] = {
        "jumps": bars.height,
        "instruments": bars.select(pl.col("symbol").n_unique()).item(),
    }
    sample = bars.select(
        *_jump_columns(), (pl.col("close") / pl.col("previous_close")).round(4).alias("ratio")
    )
    return _Detail(observed, bars.height, sample)


def _zero_volume(agg: Aggregates, limits: QualityThresholds) -> _Detail:
    keys = ["instrument_token", "date"]
    failing = agg.sessions.filter(
        pl.col("zero_volume_bars") > limits.max_zero_volume_bars_per_session
    ).select(keys)
    bars = (
        agg.bars.with_columns(
            pl.when(pl.col("ts_event") == pl.col("ts_event").min().over(keys))
            .then(pl.lit("first bar of day"))
            .when(pl.col("ts_event") == pl.col("ts_event").max().over(keys))
            .then(pl.lit("last bar of day"))
            .otherwise(pl.lit("inside the day"))
            .alias("where")
        )
        .filter(pl.col("zero_volume"))
        .join(failing, on=keys, how="semi")
    )
    where = dict(bars.group_by("where").len().iter_rows())
    observed: dict[str, JsonScalar] = {
        "bars": bars.height,
        "sessions": failing.height,
        "first_bar_of_day": int(where.get("first bar of day", 0)),
        "last_bar_of_day": int(where.get("last bar of day", 0)),
        "inside_the_day": int(where.get("inside the day", 0)),
        "instruments": bars.select(pl.col("symbol").n_unique()).item(),
    }
    return _Detail(observed, bars.height, bars.select("symbol", "ts_event", "volume", "where"))


def _volume_missing(agg: Aggregates, _: QualityThresholds) -> _Detail:
    rows = agg.instruments.filter(pl.col("volume_missing") == 1)
    indices = agg.instruments.filter(pl.col("no_volume") & pl.col("is_index"))
    observed: dict[str, JsonScalar] = {
        "instruments": rows.height,
        "symbols": ", ".join(rows["symbol"].head(10).to_list()),
        "indices_without_volume": indices.height,  # expected: an index never trades
    }
    sample = rows.select("symbol", "bars", "null_volume_bars", "zero_volume_bars")
    return _Detail(observed, rows.height, sample)


def _volume_spikes(agg: Aggregates, _: QualityThresholds) -> _Detail:
    bars = agg.bars.filter(pl.col("volume_spike"))
    observed: dict[str, JsonScalar] = {
        "spikes": bars.height,
        "instruments": bars.select(pl.col("symbol").n_unique()).item(),
        "max_z": round(_float(bars["volume_z"].max()), 2),
    }
    sample = bars.sort("volume_z", descending=True).select(
        "symbol",
        "ts_event",
        "volume",
        pl.col("median_volume").round(0),
        pl.col("volume_z").round(2).alias("robust_z"),
    )
    return _Detail(observed, bars.height, sample)


def _price_precision(agg: Aggregates, _: QualityThresholds) -> _Detail:
    bars = agg.bars.filter(pl.col("off_tick"))
    share = bars.height / agg.bars.height if agg.bars.height else 0.0
    observed: dict[str, JsonScalar] = {
        "bars": bars.height,
        "share_of_bars": round(share, 4),
        "instruments": bars.select(pl.col("symbol").n_unique()).item(),
    }
    return _Detail(
        observed, bars.height, bars.select("symbol", "ts_event", "open", "high", "low", "close")
    )


def _timezone_shift(agg: Aggregates, _: QualityThresholds) -> _Detail:
    rows = agg.instruments.filter(pl.col("timezone_shift") == 1)
    offsets = sorted(set(rows["shift_minutes"].to_list()))
    observed: dict[str, JsonScalar] = {
        "instruments": rows.height,
        "shift_minutes": ", ".join(str(m) for m in offsets),
    }
    sample = rows.select(
        "symbol",
        pl.col("outside_share").round(4),
        "shift_minutes",
        pl.col("inside_share_after_shift").round(4),
    )
    return _Detail(observed, rows.height, sample)


def _zero(_: QualityThresholds) -> int:
    return 0


_SPECS: Final = (
    _Spec(
        "missing_sessions",
        "sessions",
        "missing_session",
        "sessions",
        "calendar sessions inside an instrument's span with no bar on the session grid",
        _zero,
        lambda t: {"max_missing_per_session": 0},
        _missing_sessions,
    ),
    _Spec(
        "truncated_sessions",
        "sessions",
        "truncated_slots",
        "sessions",
        "sessions whose first bar is late or last bar early against the calendar's hours",
        lambda t: t.max_truncated_slots_per_session,
        lambda t: {"max_slots_per_session": t.max_truncated_slots_per_session},
        _truncated_sessions,
    ),
    _Spec(
        "intraday_gaps",
        "sessions",
        "gap_slots",
        "slots",
        "bar slots missing between a session's first and last bar",
        lambda t: t.max_gap_slots_per_session,
        lambda t: {"max_slots_per_session": t.max_gap_slots_per_session},
        _intraday_gaps,
    ),
    _Spec(
        "bars_on_non_session_days",
        "sessions",
        "non_session_bars",
        "bars",
        "bars on dates the calendar has no session for (weekends, holidays, unknown specials)",
        _zero,
        lambda t: {"max_bars_per_day": 0},
        _non_session_days,
    ),
    _Spec(
        "calendar_coverage",
        "sessions",
        "unverified_missing",
        "sessions",
        "sessions without bars in years whose NSE holiday list the calendar lacks: unlisted "
        "holidays or missing data, cannot tell",
        _zero,
        lambda t: {"max_unverifiable_sessions": 0},
        _calendar_coverage,
    ),
    _Spec(
        "stale_runs",
        "sessions",
        "max_stale_run",
        "bars",
        "runs of consecutive bars with one unchanged close and zero or no volume",
        lambda t: t.stale_run_bars - 1,
        lambda t: {"min_run_bars": t.stale_run_bars},
        _stale_runs,
    ),
    _Spec(
        "price_jumps",
        "sessions",
        "price_jumps",
        "bars",
        "log returns beyond N robust sigmas of the instrument's trailing returns of that kind",
        _zero,
        lambda t: {
            "sigma": t.jump_sigma,
            "window": t.jump_window,
            "max_session_share": t.max_jump_session_share,
        },
        _price_jumps,
        # Markets do jump now and then (news, results); many jumping sessions mean bad data.
        lambda t: 1.0 - t.max_jump_session_share,
    ),
    _Spec(
        "split_like_jumps",
        "sessions",
        "split_like_jumps",
        "bars",
        "overnight (or daily) moves whose price ratio matches a split, bonus or consolidation "
        "(an unadjusted corporate action), the first bar judged against the previous close "
        "given",
        _zero,
        lambda t: {"ratio_tolerance": t.split_tolerance},
        _split_like,
    ),
    _Spec(
        "zero_volume_bars",
        "sessions",
        "zero_volume_bars",
        "bars",
        "bars with zero volume (instruments that report volume at all)",
        lambda t: t.max_zero_volume_bars_per_session,
        lambda t: {"max_per_session": t.max_zero_volume_bars_per_session},
        _zero_volume,
    ),
    _Spec(
        "volume_missing",
        "instruments",
        "volume_missing",
        "instruments",
        "instruments (other than indices, which never trade) whose volume is null or zero on "
        "every bar: a source without volume",
        _zero,
        lambda t: {"max_instruments": 0},
        _volume_missing,
    ),
    _Spec(
        "volume_spikes",
        "sessions",
        "volume_spikes",
        "bars",
        "volumes beyond N robust sigmas above the instrument's trailing log-volume median",
        _zero,
        lambda t: {"sigma": t.volume_sigma, "window": t.volume_window, "max_per_session": 0},
        _volume_spikes,
    ),
    _Spec(
        "price_precision",
        "sessions",
        "off_tick_bars",
        "bars",
        "prices off the tick grid: float artefacts or adjusted prices",
        _zero,
        lambda t: {"tick": t.price_tick, "max_per_session": 0},
        _price_precision,
    ),
    _Spec(
        "timezone_shift",
        "instruments",
        "timezone_shift",
        "instruments",
        "instruments mostly outside session hours that land on the session grid once shifted "
        "by a fixed offset (a time zone applied twice or not at all)",
        _zero,
        lambda t: {
            "min_outside_share": t.tz_min_outside_fraction,
            "min_inside_share_after_shift": t.tz_min_inside_after_shift,
        },
        _timezone_shift,
    ),
)


def failing_keys(agg: Aggregates, name: str, thresholds: QualityThresholds) -> pl.DataFrame:
    """The rows of the aggregate table the check ``name`` holds beyond its limit (the rows GX
    counts as unexpected): ``instrument_token, date`` for a session check, ``instrument_token``
    for an instrument check."""
    spec = next(s for s in _SPECS if s.name == name)
    if spec.table == "sessions":
        table, keys = agg.sessions, ["instrument_token", "date"]
    else:
        table, keys = agg.instruments, ["instrument_token"]
    return table.filter(pl.col(spec.column) > spec.limit(thresholds)).select(keys)


# -- running ----------------------------------------------------------------------------------


def statistical_checks(
    agg: Aggregates,
    thresholds: QualityThresholds,
    *,
    docs_dir: Path | None = None,
    name: str = "candles",
    run_time: dt.datetime | None = None,
) -> tuple[tuple[CheckResult, ...], Path | None]:
    """One :class:`CheckResult` per name in ``STATISTICAL_CHECKS`` and the Data Docs index.

    Severity is ``warn`` unless the check is named in ``thresholds.blocking``.
    """
    if agg.problem is not None:
        return tuple(_not_evaluated(s, agg.problem, thresholds) for s in _SPECS), None
    outcomes, index = run_suite(
        agg, thresholds, docs_dir=docs_dir, name=name, run_time=run_time or _data_time(agg)
    )
    results = []
    for spec in _SPECS:
        detail = spec.detail(agg, thresholds)
        outcome = outcomes[spec.name]
        observed: dict[str, JsonScalar] = {
            **detail.observed,
            f"{spec.table}_failing": outcome.unexpected_count,
            f"{spec.table}_checked": outcome.element_count,
        }
        if outcome.error is not None:
            observed["gx_error"] = outcome.error
        results.append(
            CheckResult(
                name=spec.name,
                passed=outcome.success,
                severity=_severity(spec.name, thresholds),
                observed=observed,
                threshold=spec.threshold(thresholds),
                failing_rows=detail.failing if not outcome.success else 0,
                description=spec.description,
                unit=spec.unit,
                sample=json_rows(detail.sample, thresholds.sample_rows),
            )
        )
    return tuple(results), index


def run_suite(
    agg: Aggregates,
    thresholds: QualityThresholds,
    *,
    docs_dir: Path | None,
    name: str,
    run_time: dt.datetime,
) -> tuple[dict[str, GxOutcome], Path | None]:
    """Validate the aggregate tables with great-expectations; build Data Docs under ``docs_dir``
    when given and return its ``index.html``."""
    import great_expectations as gx  # slow: imported only when a suite runs
    from great_expectations.checkpoint.actions import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    context = _context(docs_dir)
    source = context.data_sources.add_pandas("candles")
    outcomes: dict[str, GxOutcome] = {}
    for table in ("sessions", "instruments"):
        specs = [s for s in _SPECS if s.table == table]
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(gx.ExpectationSuite(name=f"{_slug(name)}_{table}"))
        for spec in specs:
            suite.add_expectation(_expectation(spec, thresholds))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{_slug(name)}_{table}", data=batch, suite=suite)
        )
        actions: list[ValidationAction] = (
            [UpdateDataDocsAction(name="data_docs", site_names=[_SITE])] if docs_dir else []
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{_slug(name)}_{table}",
                validation_definitions=[definition],
                actions=actions,
                result_format={
                    "result_format": "SUMMARY",
                    "partial_unexpected_count": thresholds.sample_rows,
                    "unexpected_index_column_names": list(_INDEX_COLUMNS[table]),
                },
            )
        )
        frame = _gx_frame(agg, table, specs)
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=RunIdentifier(run_name=_slug(name), run_time=run_time),
        )
        for validation in result.run_results.values():
            for found in validation.results:
                config = found.expectation_config
                if config is None:
                    continue
                stats = found.result
                outcomes[str(config.meta["check"])] = GxOutcome(
                    success=bool(found.success),
                    element_count=int(stats.get("element_count", 0)),
                    unexpected_count=int(stats.get("unexpected_count", 0)),
                    error=_gx_error(found.exception_info),
                )
    for spec in _SPECS:  # an expectation GX could not evaluate is a failure, never a pass
        outcomes.setdefault(spec.name, GxOutcome(False, 0, 0, "no result from great-expectations"))
    index = docs_dir / "index.html" if docs_dir is not None else None
    return outcomes, index


def _gx_error(info: object) -> str | None:
    """The message of an exception GX caught while evaluating an expectation, if any. GX reports
    it either directly or per metric (a dict of such dicts)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    nested = [_gx_error(value) for value in info.values() if isinstance(value, dict)]
    found = [message for message in nested if message]
    return "; ".join(found) or None


def _context(docs_dir: Path | None) -> AbstractDataContext:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites: dict[str, object] = {}
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        sites[_SITE] = {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites=sites,
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _expectation(spec: _Spec, thresholds: QualityThresholds) -> ExpectColumnValuesToBeBetween:
    from great_expectations.expectations.core.expect_column_values_to_be_between import (
        ExpectColumnValuesToBeBetween,
    )

    threshold = ", ".join(f"{k}={v}" for k, v in spec.threshold(thresholds).items())
    return ExpectColumnValuesToBeBetween(
        column=spec.name,
        max_value=spec.limit(thresholds),
        mostly=spec.mostly(thresholds),
        meta={"check": spec.name, "unit": spec.unit},
        notes=f"**{spec.name}**: {spec.description} ({threshold}).",
    )


def _gx_frame(agg: Aggregates, table: Table, specs: list[_Spec]) -> object:
    """The aggregate table with one column per check, named after the check (so Data Docs read
    "price_jumps: values must be <= 0")."""
    source = agg.sessions if table == "sessions" else agg.instruments
    columns = [*_INDEX_COLUMNS[table], *(pl.col(s.column).alias(s.name) for s in specs)]
    return source.select(columns).to_pandas()


def _severity(name: str, thresholds: QualityThresholds) -> Severity:
    return Severity.ERROR if name in thresholds.blocking else Severity.WARN


def _not_evaluated(spec: _Spec, problem: str, thresholds: QualityThresholds) -> CheckResult:
    return CheckResult(
        name=spec.name,
        passed=False,
        severity=_severity(spec.name, thresholds),
        observed={"evaluated": False, "reason": problem},
        threshold=spec.threshold(thresholds),
        failing_rows=0,
        description=spec.description,
        unit=spec.unit,
    )


def _data_time(agg: Aggregates) -> dt.datetime:
    """The run's time in Data Docs: the last bar's close (deterministic, never the wall clock)."""
    last = agg.bars.select(pl.col("ts_event").max()).item()
    if isinstance(last, dt.datetime):
        return last
    return dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return cleaned or "candles"
