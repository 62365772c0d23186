"""Structural (blocking) checks of a candle frame: the CandleFrame contract, order and hours.

pandera's :class:`~data_contracts.schemas.CandleFrame` is run lazily so every failure is
collected, and each kind of failure becomes its own named check (types, nulls, positive prices,
OHLC consistency, unique (instrument, ts_event), ...). Two checks pandera cannot express follow:
rows ordered by ``(instrument_token, ts_event)``, and every bar closing on a slot of its IST date's
session (``(open, close]`` on the interval grid, never inside a break; see :mod:`.sessions`).
A bar on a date with no session at all is left to the ``bars_on_non_session_days`` warning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

import polars as pl
from pandera.errors import SchemaErrors

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, CandleFrame, ist_date
from models.data_quality.report import CheckResult, JsonScalar, Severity, json_rows
from models.data_quality.sessions import annotate_positions, build_grid
from models.data_quality.thresholds import STRUCTURAL_CHECKS, QualityThresholds

__all__ = [
    "KeyedFrame",
    "StructuralFindings",
    "dates_text",
    "keyed_frame",
    "rejection_check",
    "structural_checks",
    "structural_findings",
    "symbol_expr",
]

CANDLE_COLUMNS: Final = ("instrument_token", "ts_event", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: Final = ("open", "high", "low", "close")

_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "columns_and_types": "columns and dtypes must be exactly CandleFrame's",
    "no_nulls": "no nulls (or NaN) outside the nullable oi column",
    "positive_instrument_token": "instrument_token must be > 0",
    "positive_prices": "open, high, low and close must be > 0",
    "non_negative_volume": "volume and oi must be >= 0",
    "prices_finite": "prices must be finite (no inf)",
    "ohlc_high_is_highest": "high must be >= open, close and low",
    "ohlc_low_is_lowest": "low must be <= open and close",
    "unique_instrument_ts": "one bar per (instrument_token, ts_event)",
    "ordered": "rows must be sorted by (instrument_token, ts_event)",
    "within_session_hours": (
        "a bar on a session day must close on a slot of that session: (open, close] on the "
        "interval grid, not inside a break"
    ),
}

_PANDERA_CHECKS: Final = STRUCTURAL_CHECKS[: STRUCTURAL_CHECKS.index("ordered")]

# pandera's check names for the CandleFrame dataframe-level checks, by their error text prefix.
_FRAME_CHECKS: Final = (
    ("high must be", "ohlc_high_is_highest"),
    ("low must be", "ohlc_low_is_lowest"),
    ("prices must be finite", "prices_finite"),
    ("multiple_fields_uniqueness", "unique_instrument_ts"),
)


@dataclass(frozen=True, slots=True)
class KeyedFrame:
    """The rows whose key can be read: ``row`` (position in the input), ``instrument_token``,
    ``symbol`` and a UTC ``ts_event``, with whatever other columns the input had.

    ``problem`` says why no row could be keyed (no usable ``ts_event`` or token column).
    """

    frame: pl.DataFrame
    problem: str | None


def symbol_expr(symbols: Mapping[int, str] | None) -> pl.Expr:
    """``symbol``: the mapped name of ``instrument_token``, else the token as text."""
    as_text = pl.col("instrument_token").cast(pl.String)
    if not symbols:
        return as_text.alias("symbol")
    return (
        pl.col("instrument_token")
        .replace_strict(dict(symbols), default=as_text, return_dtype=pl.String)
        .alias("symbol")
    )


def keyed_frame(frame: pl.DataFrame, symbols: Mapping[int, str] | None) -> KeyedFrame:
    """The input with a readable key, or the reason there is none (see :class:`KeyedFrame`)."""
    schema = frame.schema
    token, ts = schema.get("instrument_token"), schema.get("ts_event")
    nothing = frame.head(0).with_row_index("row").with_columns(pl.lit("").alias("symbol"))
    if token is None or not token.is_integer():
        return KeyedFrame(nothing, f"instrument_token is {token or 'missing'}, not an integer")
    if not isinstance(ts, pl.Datetime) or ts.time_zone is None:
        return KeyedFrame(nothing, f"ts_event is {ts or 'missing'}, not a tz-aware Datetime")
    keyed = (
        frame.with_row_index("row")
        .with_columns(
            pl.col("instrument_token").cast(pl.Int64),
            pl.col("ts_event").dt.convert_time_zone("UTC").cast(UTC_TIMESTAMP),
        )
        .filter(pl.col("instrument_token").is_not_null() & pl.col("ts_event").is_not_null())
        .with_columns(symbol_expr(symbols))
    )
    return KeyedFrame(keyed, None)


@dataclass(frozen=True, slots=True)
class StructuralFindings:
    """The structural checks' results and the input rows each one failed on.

    ``failing``: ``row`` (position in the input, null when the failure is about the whole frame,
    e.g. a missing column) and ``check``, one row per (row, check). ``ordered`` names no row: the
    order of rows is not a property of any bar.
    """

    results: tuple[CheckResult, ...]
    failing: pl.DataFrame
    keyed: KeyedFrame


def structural_checks(
    frame: pl.DataFrame,
    *,
    interval: dt.timedelta,
    calendar: NseCalendar,
    symbols: Mapping[int, str] | None = None,
    thresholds: QualityThresholds | None = None,
) -> tuple[CheckResult, ...]:
    """The blocking checks, one :class:`CheckResult` per name in ``STRUCTURAL_CHECKS``."""
    return structural_findings(
        frame, interval=interval, calendar=calendar, symbols=symbols, thresholds=thresholds
    ).results


def structural_findings(
    frame: pl.DataFrame,
    *,
    interval: dt.timedelta,
    calendar: NseCalendar,
    symbols: Mapping[int, str] | None = None,
    thresholds: QualityThresholds | None = None,
) -> StructuralFindings:
    """:func:`structural_checks` plus the rows each check failed on (see
    :class:`StructuralFindings`)."""
    limits = thresholds or QualityThresholds()
    keyed = keyed_frame(frame, symbols)
    results, rows = _pandera_checks(frame, keyed, limits)
    results.update(_order_check(keyed, limits))
    hours, outside = _hours_check(keyed, interval, calendar, limits)
    results.update(hours)
    rows["within_session_hours"] = outside
    failing = [
        pl.DataFrame({"row": found, "check": name}, schema=_FAILING_SCHEMA)
        for name, found in rows.items()
    ]
    return StructuralFindings(
        results=tuple(results[name] for name in STRUCTURAL_CHECKS),
        failing=pl.concat([pl.DataFrame(schema=_FAILING_SCHEMA), *failing]).unique(
            maintain_order=True
        ),
        keyed=keyed,
    )


_FAILING_SCHEMA: Final = {"row": pl.UInt32, "check": pl.String}


def _frame_wide() -> list[int | None]:
    """A failing "row" that stands for the whole frame."""
    return [None]


# -- pandera --------------------------------------------------------------------------------------


def _pandera_checks(
    frame: pl.DataFrame, keyed: KeyedFrame, limits: QualityThresholds
) -> tuple[dict[str, CheckResult], dict[str, list[int | None]]]:
    try:
        CandleFrame.validate(frame, lazy=True)
        failures = pl.DataFrame(
            schema={
                "failure_case": pl.String,
                "column": pl.String,
                "check": pl.String,
                "index": pl.Int64,
            }
        )
    except SchemaErrors as errors:
        failures = errors.failure_cases.select(
            pl.col("failure_case").cast(pl.String),
            pl.col("column").cast(pl.String),
            pl.col("check").cast(pl.String),
            pl.col("index").cast(pl.Int64),
        )
    named = failures.with_columns(_check_name().alias("name"))
    results: dict[str, CheckResult] = {}
    rows: dict[str, list[int | None]] = {}
    for name in _PANDERA_CHECKS:
        found = named.filter(pl.col("name") == name)
        if name == "columns_and_types":
            results[name] = _column_result(name, found)
            rows[name] = _frame_wide() if found.height else []
        else:
            results[name] = _row_result(name, found, keyed, limits)
            rows[name] = _failing_rows(found)
    duplicates = results["unique_instrument_ts"]
    if not duplicates.passed and keyed.problem is None:
        results["unique_instrument_ts"] = _with_conflicts(duplicates, keyed.frame)
    return results, rows


def _failing_rows(found: pl.DataFrame) -> list[int | None]:
    """The input rows a row check failed on; a failure pandera gives no row for (a check of the
    whole frame) stands for the whole frame."""
    rows: list[int | None] = sorted(found.select(pl.col("index").drop_nulls().unique()).to_series())
    if found.height and found.select(pl.col("index").is_null().any()).item():
        rows.append(None)
    return rows


def _with_conflicts(result: CheckResult, keyed: pl.DataFrame) -> CheckResult:
    """Say how many duplicated keys carry different bars (two sources or two instruments under one
    token) rather than the same bar twice."""
    key = ["instrument_token", "ts_event"]
    values = [c for c in CANDLE_COLUMNS[2:] if c in keyed.columns]
    groups = (
        keyed.filter(pl.struct(key).is_duplicated())
        .group_by(key)
        .agg(pl.len().alias("rows"), pl.struct(values).n_unique().alias("versions"))
    )
    observed = {
        **result.observed,
        "duplicated_keys": groups.height,
        "conflicting_keys": groups.filter(pl.col("versions") > 1).height,
    }
    return replace(result, observed=observed)


def _check_name() -> pl.Expr:
    check, column = pl.col("check"), pl.col("column")
    greater = check.str.starts_with("greater_than(")
    rules: list[tuple[pl.Expr, str]] = [
        (check.is_in(["column_in_dataframe", "column_in_schema"]), "columns_and_types"),
        (check.str.starts_with("dtype"), "columns_and_types"),
        (check == "not_nullable", "no_nulls"),
        (greater & (column == "instrument_token"), "positive_instrument_token"),
        (greater & column.is_in(PRICE_COLUMNS), "positive_prices"),
        (check.str.starts_with("greater_than_or_equal_to("), "non_negative_volume"),
        *((check.str.starts_with(prefix), label) for prefix, label in _FRAME_CHECKS),
    ]
    # Anything else pandera may report about the frame's shape counts as a schema problem.
    name: pl.Expr = pl.lit("columns_and_types")
    for condition, label in reversed(rules):
        name = pl.when(condition).then(pl.lit(label)).otherwise(name)
    return name


def _column_result(name: str, found: pl.DataFrame) -> CheckResult:
    problems = [
        f"{column}: {check} ({case})"
        for case, column, check in found.select("failure_case", "column", "check").iter_rows()
    ]
    observed: dict[str, JsonScalar] = {"problems": len(problems)}
    if problems:
        observed["detail"] = "; ".join(problems)
    sample = found.select(
        "column", pl.col("check").alias("rule"), pl.col("failure_case").alias("found")
    )
    return _result(name, observed, len(problems), "columns", json_rows(sample, len(problems)))


def _row_result(
    name: str, found: pl.DataFrame, keyed: KeyedFrame, limits: QualityThresholds
) -> CheckResult:
    rows = found.select(pl.col("index").drop_nulls().unique()).to_series()
    observed: dict[str, JsonScalar] = {"failing_rows": rows.len()}
    per_column = found.filter(pl.col("column") != "CandleFrame").group_by("column").len()
    observed.update({f"{c}_rows": int(n) for c, n in per_column.sort("column").iter_rows()})
    sample = keyed.frame.filter(pl.col("row").is_in(rows.implode())).sort("row")
    shown = [c for c in ("row", "symbol", "ts_event", *CANDLE_COLUMNS[2:]) if c in sample.columns]
    return _result(
        name, observed, rows.len(), "bars", json_rows(sample.select(shown), limits.sample_rows)
    )


# -- order and hours ------------------------------------------------------------------------------


def _order_check(keyed: KeyedFrame, limits: QualityThresholds) -> dict[str, CheckResult]:
    name = "ordered"
    if keyed.problem is not None:
        return {name: _not_evaluated(name, keyed.problem)}
    previous_token = pl.col("instrument_token").shift()
    previous_ts = pl.col("ts_event").shift()
    backwards = (pl.col("instrument_token") < previous_token) | (
        (pl.col("instrument_token") == previous_token) & (pl.col("ts_event") < previous_ts)
    )
    flagged = keyed.frame.with_columns(
        previous_ts.alias("previous_ts_event"), backwards.fill_null(value=False).alias("bad")
    ).filter(pl.col("bad"))
    observed: dict[str, JsonScalar] = {"rows_out_of_order": flagged.height}
    sample = flagged.select("row", "symbol", "ts_event", "previous_ts_event")
    return {
        name: _result(name, observed, flagged.height, "bars", json_rows(sample, limits.sample_rows))
    }


def _hours_check(
    keyed: KeyedFrame, interval: dt.timedelta, calendar: NseCalendar, limits: QualityThresholds
) -> tuple[dict[str, CheckResult], list[int | None]]:
    """The check, and the rows outside the hours (the whole frame when it cannot be read)."""
    name = "within_session_hours"
    if keyed.problem is not None:
        return {name: _not_evaluated(name, keyed.problem)}, _frame_wide()
    bars = keyed.frame.select("row", "symbol", "instrument_token", "ts_event")
    if bars.height == 0:
        return {name: _result(name, {"bars_outside": 0}, 0, "bars", ())}, []
    dates = bars.select(ist_date().min().alias("first"), ist_date().max().alias("last")).row(0)
    grid = build_grid(calendar, dates[0], dates[1], interval)
    placed = annotate_positions(bars, grid)
    outside = placed.filter(pl.col("position").is_in(["in_session", "no_session"]).not_())
    counts = dict(outside.group_by("position").len().iter_rows())
    observed: dict[str, JsonScalar] = {"bars_outside": outside.height}
    observed.update({f"{k}_bars": int(v) for k, v in sorted(counts.items())})
    if outside.height:
        days = outside.select(pl.col("date").unique().sort()).to_series()
        observed["dates"] = dates_text(days)
    sample = outside.sort("row").select("row", "symbol", "ts_event", "position")
    result = _result(name, observed, outside.height, "bars", json_rows(sample, limits.sample_rows))
    return {name: result}, list(outside["row"])


# -- helpers --------------------------------------------------------------------------------------


def dates_text(days: pl.Series, limit: int = 10) -> str:
    shown = [d.isoformat() for d in days.head(limit).to_list()]
    more = f" (+{days.len() - limit} more)" if days.len() > limit else ""
    return ", ".join(shown) + more


def _result(
    name: str,
    observed: Mapping[str, JsonScalar],
    failing: int,
    unit: str,
    sample: tuple[Mapping[str, JsonScalar], ...],
) -> CheckResult:
    return CheckResult(
        name=name,
        passed=failing == 0,
        severity=Severity.ERROR,
        observed=observed,
        threshold={"max_failing_rows": 0},
        failing_rows=failing,
        description=_DESCRIPTIONS[name],
        unit=unit,
        sample=sample,
    )


def _not_evaluated(name: str, problem: str) -> CheckResult:
    return CheckResult(
        name=name,
        passed=False,
        severity=Severity.ERROR,
        observed={"evaluated": False, "reason": problem},
        threshold={"max_failing_rows": 0},
        failing_rows=0,
        description=_DESCRIPTIONS[name],
        unit="bars",
    )


def rejection_check(
    rejected: pl.DataFrame | None, thresholds: QualityThresholds | None = None
) -> CheckResult:
    """``import_rejections``: rows an importer could not turn into candles, counted by reason.

    ``rejected`` needs a ``reason`` column (several reasons ``"; "``-joined); any other columns
    (``source``, ``row``, the raw fields) are shown in the sample. None means nothing was imported
    (the check passes with zero rows).
    """
    limits = thresholds or QualityThresholds()
    name = "import_rejections"
    severity = Severity.ERROR if name in limits.blocking else Severity.WARN
    description = "rows the importer rejected (unparseable, broken OHLC, bad prices, duplicates)"
    frame = rejected if rejected is not None else pl.DataFrame(schema={"reason": pl.String})
    if "reason" not in frame.columns:
        raise ContractError(
            "rejection_check", "rejected", frame.columns, "must have a reason column"
        )
    reasons = (
        frame.select(pl.col("reason").cast(pl.String).str.split("; ").alias("reason"))
        .explode("reason")
        .group_by("reason")
        .len()
        .sort("len", "reason", descending=[True, False])
    )
    observed: dict[str, JsonScalar] = {"rejected_rows": frame.height}
    observed.update({f"reason: {r}": int(n) for r, n in reasons.iter_rows()})
    shown = frame.select(pl.all().cast(pl.String))
    return CheckResult(
        name=name,
        passed=frame.height == 0,
        severity=severity,
        observed=observed,
        threshold={"max_rejected_rows": 0},
        failing_rows=frame.height,
        description=description,
        unit="rows",
        sample=json_rows(shown, limits.sample_rows),
    )
