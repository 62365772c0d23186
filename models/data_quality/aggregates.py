"""Per-bar flags and the per-session and per-instrument aggregates the statistical suite checks.

Everything here is polars: the great-expectations suite (:mod:`.suite`) then validates the small
aggregate tables (one row per instrument and session, one row per instrument), not the bars.

The statistics, per instrument on its bars sorted by ``ts_event``:

* **returns**: ``r = ln(close / previous close)``; *overnight* when the previous bar is on an
  earlier IST date (intraday intervals only), else *intraday*. An instrument's first bar takes its
  previous close from ``previous_closes`` (the last close before the frame, e.g. the previous
  session's from the lake) when given, so a one-day frame still has its overnight return. Each kind
  has its own robust scale ``sigma = 1.4826 * median(|r|)`` over the trailing ``jump_window``
  returns of that kind (the MAD about zero; the current return is excluded), floored at
  ``jump_sigma_floor``. A return beyond ``jump_sigma`` sigmas is a jump. An overnight (or daily)
  return whose price ratio is within ``split_tolerance`` of a split or bonus ratio is *split-like*
  whatever its sigma: the smallest such move is -33 % or +50 %, and no trailing history is needed
  to call it (a daily run has one overnight return).
* **volume**: on in-session bars with volume > 0, ``v = ln(1 + volume)`` against its trailing
  median and MAD (``volume_window`` bars, at least ``jump_min_periods``); ``z > volume_sigma`` is a
  spike.
* **stale runs**: consecutive bars with zero or no volume and one identical close.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import polars as pl

from data_contracts.enums import SegmentId
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, ist_date
from models.data_quality.checks import PRICE_COLUMNS, keyed_frame
from models.data_quality.sessions import SessionGrid, annotate_positions, build_grid
from models.data_quality.thresholds import QualityThresholds

__all__ = ["PREVIOUS_CLOSE_COLUMNS", "SPLIT_RATIOS", "Aggregates", "build_aggregates"]

_MAD_TO_SIGMA: Final = 1.4826
_ONE_DAY: Final = dt.timedelta(days=1)
_INSTRUMENT: Final = "instrument_token"
_TOKEN_SHIFT: Final = 256
_KEY: Final = (_INSTRUMENT, "symbol")

SPLIT_RATIOS: Final = tuple(
    sorted(
        {r for base in (1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 10, 2 / 3, 2 / 5) for r in (base, 1 / base)}
    )
)
"""Price ratios a split, bonus or consolidation produces (1:2, 1:3, 1:4, 1:5, 1:10, 2:3, 2:5 and
their inverses)."""

PREVIOUS_CLOSE_COLUMNS: Final = ("instrument_token", "ts_event", "close")
"""The columns of ``previous_closes``: each instrument's last bar before the frame."""


@dataclass(frozen=True, slots=True)
class Aggregates:
    """The working bars with their flags, and the two aggregate tables.

    ``bars``: the bars whose key could be read, de-duplicated on it (first row kept) and sorted,
    annotated with their session position and per-bar flags (``excluded_rows`` counts the rows
    left out);
    ``sessions``: one row per instrument and IST date (every session in the instrument's span plus
    any other date with bars); ``instruments``: one row per instrument.
    """

    bars: pl.DataFrame
    sessions: pl.DataFrame
    instruments: pl.DataFrame
    grid: SessionGrid
    calendar: NseCalendar
    excluded_rows: int
    problem: str | None = None


def build_aggregates(
    frame: pl.DataFrame,
    *,
    interval: dt.timedelta,
    calendar: NseCalendar,
    thresholds: QualityThresholds,
    symbols: Mapping[int, str] | None = None,
    expected_range: tuple[dt.date, dt.date] | None = None,
    previous_closes: pl.DataFrame | None = None,
) -> Aggregates:
    """Flags and aggregates for ``frame``; ``expected_range`` (IST dates, inclusive) is the span
    every instrument should cover (default: each instrument's own first to last bar).
    ``previous_closes`` (:data:`PREVIOUS_CLOSE_COLUMNS`) gives an instrument's first bar the close
    it is judged against; a previous close not before that bar is ignored."""
    keyed = keyed_frame(frame, symbols)
    usable = keyed.frame if keyed.problem is None else _no_keys()
    bars = _working_bars(usable)
    excluded = frame.height - bars.height
    first, last = _span(bars, expected_range)
    grid = build_grid(calendar, first - _ONE_DAY, last + _ONE_DAY, interval)
    placed = annotate_positions(bars, grid).sort("instrument_token", "ts_event")
    returns = _return_flags(placed, interval, thresholds, _previous(previous_closes))
    flagged = _stale_runs(_volume_flags(returns, thresholds))
    flagged = flagged.with_columns(_off_tick(thresholds.price_tick).alias("off_tick"))
    instruments = _instruments(flagged, grid, thresholds)
    no_volume = instruments.filter(pl.col("no_volume")).select("instrument_token")
    flagged = flagged.with_columns(
        (
            (pl.col("volume") == 0).fill_null(value=False)
            & pl.col("instrument_token").is_in(no_volume.to_series().implode()).not_()
            # a zero-volume bar inside a stale run is reported as part of that run
            & (pl.col("stale_run") < thresholds.stale_run_bars)
        ).alias("zero_volume")
    )
    flagged = _gap_flags(flagged)
    sessions = _sessions(flagged, grid, expected_range)
    return Aggregates(
        bars=flagged,
        sessions=sessions,
        instruments=instruments,
        grid=grid,
        calendar=calendar,
        excluded_rows=excluded,
        problem=keyed.problem,
    )


# -- the working bars -----------------------------------------------------------------------------


def _working_bars(keyed: pl.DataFrame) -> pl.DataFrame:
    columns = keyed.columns
    prices = [
        (
            pl.col(c).cast(pl.Float64, strict=False) if c in columns else pl.lit(None, pl.Float64)
        ).alias(c)
        for c in PRICE_COLUMNS
    ]
    volume = (
        pl.col("volume").cast(pl.Int64, strict=False)
        if "volume" in columns
        else pl.lit(None, pl.Int64)
    ).alias("volume")
    return (
        keyed.select("row", "instrument_token", "symbol", "ts_event", *prices, volume)
        .unique(["instrument_token", "ts_event"], keep="first", maintain_order=True)
        .sort("instrument_token", "ts_event")
    )


def _no_keys() -> pl.DataFrame:
    """An empty keyed frame, for input whose key cannot be read (reported as not evaluated)."""
    return pl.DataFrame(
        schema={
            "row": pl.UInt32,
            "instrument_token": pl.Int64,
            "symbol": pl.String,
            "ts_event": UTC_TIMESTAMP,
        }
    )


def _span(bars: pl.DataFrame, expected: tuple[dt.date, dt.date] | None) -> tuple[dt.date, dt.date]:
    days = bars.select(ist_date().min().alias("first"), ist_date().max().alias("last")).row(0)
    candidates = [d for d in (*days, *(expected or ())) if d is not None]
    if not candidates:
        anyday = dt.date(2000, 1, 3)  # an empty frame: any one-day grid will do
        return anyday, anyday
    return min(candidates), max(candidates)


# -- per-bar flags --------------------------------------------------------------------------------


def _previous(previous_closes: pl.DataFrame | None) -> pl.DataFrame:
    """The usable previous closes: one per instrument (its latest), finite and positive."""
    schema = pl.Schema(
        {"instrument_token": pl.Int64(), "prior_ts": UTC_TIMESTAMP, "prior_close": pl.Float64()}
    )
    if previous_closes is None or previous_closes.height == 0:
        return pl.DataFrame(schema=schema)
    missing = [c for c in PREVIOUS_CLOSE_COLUMNS if c not in previous_closes.columns]
    if missing:
        raise ContractError(
            "build_aggregates",
            "previous_closes",
            previous_closes.columns,
            f"must have the columns {', '.join(PREVIOUS_CLOSE_COLUMNS)}",
        )
    return (
        previous_closes.select(
            pl.col("instrument_token").cast(pl.Int64),
            pl.col("ts_event").dt.convert_time_zone("UTC").cast(UTC_TIMESTAMP).alias("prior_ts"),
            pl.col("close").cast(pl.Float64).alias("prior_close"),
        )
        .filter(pl.col("prior_close").is_finite() & (pl.col("prior_close") > 0))
        .sort("instrument_token", "prior_ts")
        .unique("instrument_token", keep="last", maintain_order=True)
    )


def _return_flags(
    bars: pl.DataFrame, interval: dt.timedelta, limits: QualityThresholds, prior: pl.DataFrame
) -> pl.DataFrame:
    """Returns between consecutive in-session bars (bars outside the hours are the blocking
    check's business and would only pollute the scale), judged against their trailing scale; an
    instrument's first bar against its ``prior`` close, if one is known."""
    token = _INSTRUMENT
    usable = pl.col("close").is_finite().fill_null(value=False) & (pl.col("close") > 0)
    in_session = (
        bars.filter((pl.col("position") == "in_session") & usable)
        .select("row", token, "ts_event", "date", "close")
        .with_columns(
            pl.col("close").shift().over(token).alias("previous_close"),
            pl.col("date").shift().over(token).alias("previous_date"),
        )
        .join(prior, on=token, how="left", maintain_order="left")
    )
    first = pl.col("previous_close").is_null() & (pl.col("prior_ts") < pl.col("ts_event"))
    prior_date = pl.col("prior_ts").dt.convert_time_zone("Asia/Kolkata").dt.date()
    in_session = in_session.with_columns(
        pl.when(first)
        .then(pl.col("prior_close"))
        .otherwise(pl.col("previous_close"))
        .alias("previous_close"),
        pl.when(first).then(prior_date).otherwise(pl.col("previous_date")).alias("previous_date"),
    )
    new_day = (pl.col("date") != pl.col("previous_date")).fill_null(value=False)
    kind = (
        pl.when(new_day).then(pl.lit("overnight")).otherwise(pl.lit("intraday"))
        if interval < _ONE_DAY
        else pl.lit("daily")
    )
    with_returns = in_session.with_columns(kind.alias("return_kind")).with_columns(
        (pl.col("close") / pl.col("previous_close")).log().alias("log_return")
    )
    scale = (
        pl.col("log_return")
        .abs()
        .rolling_median(limits.jump_window, min_samples=limits.jump_min_periods)
        .shift()
        .over(token, "return_kind")
        * _MAD_TO_SIGMA
    )
    floored = pl.max_horizontal(pl.col("return_sigma"), pl.lit(limits.jump_sigma_floor))
    judged = with_returns.with_columns(scale.alias("return_sigma")).with_columns(
        # No z until the window holds enough returns (max_horizontal would skip a null scale).
        pl.when(pl.col("return_sigma").is_not_null())
        .then(pl.col("log_return") / floored)
        .alias("return_z")
    )
    jump = (pl.col("return_z").abs() > limits.jump_sigma).fill_null(value=False)
    ratio = pl.col("close") / pl.col("previous_close")
    near_split = pl.any_horizontal(
        [((ratio - r).abs() <= limits.split_tolerance * r) for r in SPLIT_RATIOS]
    ).fill_null(value=False)
    # A move within a few % of 2:3 ... 1:10 is -33 % or worse (+50 % or more): large by itself, so
    # a split needs no trailing sigma (one overnight return is all a daily run has).
    split_like = near_split & (pl.col("return_kind") != "intraday")
    judged = judged.select(
        "row",
        "previous_close",
        "return_kind",
        "log_return",
        "return_sigma",
        "return_z",
        (jump & split_like.not_()).alias("price_jump"),
        split_like.alias("split_like"),
    )
    return bars.join(judged, on="row", how="left", maintain_order="left").with_columns(
        pl.col("price_jump", "split_like").fill_null(value=False)
    )


def _volume_flags(bars: pl.DataFrame, limits: QualityThresholds) -> pl.DataFrame:
    token = _INSTRUMENT
    traded = bars.filter((pl.col("volume") > 0) & (pl.col("position") == "in_session")).select(
        "row", token, pl.col("volume").cast(pl.Float64).log1p().alias("log_volume")
    )
    window = limits.volume_window
    minimum = min(limits.jump_min_periods, window)
    median = pl.col("log_volume").rolling_median(window, min_samples=minimum).shift().over(token)
    traded = traded.with_columns(median.alias("volume_median")).with_columns(
        (pl.col("log_volume") - pl.col("volume_median")).abs().alias("volume_deviation")
    )
    mad = (
        pl.col("volume_deviation").rolling_median(window, min_samples=minimum).shift().over(token)
        * _MAD_TO_SIGMA
    )
    traded = traded.with_columns(mad.alias("volume_sigma")).with_columns(
        pl.when(pl.col("volume_sigma").is_not_null())
        .then(
            (pl.col("log_volume") - pl.col("volume_median"))
            / pl.max_horizontal(pl.col("volume_sigma"), pl.lit(limits.volume_sigma_floor))
        )
        .alias("volume_z"),
        (pl.col("volume_median").exp() - 1).alias("median_volume"),
    )
    joined = bars.join(
        traded.select("row", "volume_z", "median_volume"),
        on="row",
        how="left",
        maintain_order="left",
    )
    return joined.with_columns(
        (pl.col("volume_z") > limits.volume_sigma).fill_null(value=False).alias("volume_spike")
    )


def _stale_runs(bars: pl.DataFrame) -> pl.DataFrame:
    token = _INSTRUMENT
    quiet = (pl.col("volume").is_null() | (pl.col("volume") == 0)).alias("quiet")
    flagged = bars.with_columns(quiet)
    extends = (
        pl.col("quiet")
        & pl.col("quiet").shift().over(token).fill_null(value=False)
        & (pl.col("close") == pl.col("close").shift().over(token)).fill_null(value=False)
    )
    runs = flagged.with_columns(extends.not_().cum_sum().over(token).alias("run_id"))
    return runs.with_columns(
        pl.when(pl.col("quiet"))
        .then(pl.len().over(token, "run_id"))
        .otherwise(0)
        .cast(pl.Int64)
        .alias("stale_run")
    )


def _off_tick(tick: float) -> pl.Expr:
    """A finite price more than a millionth of a tick off the grid (non-finite prices are the
    structural checks' business)."""
    off = [
        pl.col(c).is_finite() & (((pl.col(c) / tick) - (pl.col(c) / tick).round()).abs() > 1e-6)
        for c in PRICE_COLUMNS
    ]
    return pl.any_horizontal(off).fill_null(value=False)


def _gap_flags(bars: pl.DataFrame) -> pl.DataFrame:
    """``missing_before``: slots missing between an in-session bar and the previous one of the
    same session (null for a session's first bar and for bars off the grid)."""
    keys = ["instrument_token", "date"]
    on_grid = bars.filter(pl.col("position") == "in_session").select(
        "row",
        (pl.col("slot").diff().over(keys) - 1).alias("missing_before"),
        pl.col("ts_event").shift().over(keys).alias("previous_ts_event"),
    )
    return bars.join(on_grid, on="row", how="left", maintain_order="left")


# -- aggregates -----------------------------------------------------------------------------------


def _sessions(
    bars: pl.DataFrame, grid: SessionGrid, expected: tuple[dt.date, dt.date] | None
) -> pl.DataFrame:
    token = _INSTRUMENT
    on_grid = bars.filter(pl.col("position") == "in_session")
    gaps = on_grid.group_by(token, "date").agg(
        pl.col("slot").min().alias("first_slot"),
        pl.col("slot").max().alias("last_slot"),
        pl.len().alias("on_grid_bars"),
        pl.col("missing_before").fill_null(0).sum().alias("gap_slots"),
        (pl.col("missing_before") > 0).sum().alias("gap_runs"),
    )
    day_first = pl.col("ts_event") == pl.col("ts_event").min().over(token, "date")
    per_day = bars.group_by(*_KEY, "date").agg(
        pl.len().alias("bars"),
        pl.col("stale_run").max().alias("max_stale_run"),
        pl.col("price_jump").sum().alias("price_jumps"),
        pl.col("split_like").sum().alias("split_like_jumps"),
        pl.col("return_z").abs().max().alias("max_abs_return_z"),
        pl.col("zero_volume").sum().alias("zero_volume_bars"),
        (pl.col("zero_volume") & day_first).sum().alias("zero_volume_first_bars"),
        pl.col("volume_spike").sum().alias("volume_spikes"),
        pl.col("off_tick").sum().alias("off_tick_bars"),
    )
    spans = bars.group_by(*_KEY).agg(
        ist_date().min().alias("span_first"), ist_date().max().alias("span_last")
    )
    if expected is not None:
        spans = spans.with_columns(
            pl.lit(expected[0]).alias("span_first"), pl.lit(expected[1]).alias("span_last")
        )
    expected_days = (
        spans.join(grid.sessions.select("date"), how="cross")
        .filter(pl.col("date").is_between(pl.col("span_first"), pl.col("span_last")))
        .select(*_KEY, "date")
    )
    keys = pl.concat([expected_days, per_day.select(*_KEY, "date")]).unique()
    counts = [
        "bars",
        "on_grid_bars",
        "gap_slots",
        "gap_runs",
        "max_stale_run",
        "price_jumps",
        "split_like_jumps",
        "zero_volume_bars",
        "zero_volume_first_bars",
        "volume_spikes",
        "off_tick_bars",
    ]
    table = (
        keys.join(per_day, on=[*_KEY, "date"], how="left")
        .join(gaps, on=[token, "date"], how="left")
        .join(
            grid.sessions.select("date", "kind", "published", "expected_bars"),
            on="date",
            how="left",
        )
        .with_columns(
            *(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts),
            pl.col("kind").is_not_null().alias("has_session"),
            pl.col("expected_bars").fill_null(0),
        )
    )
    empty = pl.col("has_session") & (pl.col("on_grid_bars") == 0)
    truncated = pl.col("first_slot") + (pl.col("expected_bars") - 1 - pl.col("last_slot"))
    return table.with_columns(
        (empty & pl.col("published")).cast(pl.Int64).alias("missing_session"),
        (empty & pl.col("published").not_()).cast(pl.Int64).alias("unverified_missing"),
        truncated.fill_null(0).cast(pl.Int64).alias("truncated_slots"),
        pl.when(pl.col("has_session")).then(0).otherwise(pl.col("bars")).alias("non_session_bars"),
    ).sort(token, "date")


def _instruments(bars: pl.DataFrame, grid: SessionGrid, limits: QualityThresholds) -> pl.DataFrame:
    token = _INSTRUMENT
    table = bars.group_by(*_KEY).agg(
        pl.len().alias("bars"),
        pl.col("volume").null_count().alias("null_volume_bars"),
        (pl.col("volume") == 0).sum().alias("zero_volume_bars"),
        (pl.col("position") != "in_session").mean().alias("outside_share"),
    )
    # Kite's instrument_token is exchange_token * 256 + segment: an index never trades, so its
    # bars carry no volume by nature and only other instruments can be missing it.
    is_index = pl.col(token) % _TOKEN_SHIFT == int(SegmentId.INDICES)
    no_volume = pl.col("null_volume_bars") + pl.col("zero_volume_bars") == pl.col("bars")
    table = table.with_columns(
        no_volume.alias("no_volume"),
        is_index.alias("is_index"),
        (no_volume & is_index.not_()).cast(pl.Int64).alias("volume_missing"),
    )
    shifts = _timezone_shifts(
        bars, table.filter(pl.col("outside_share") >= limits.tz_min_outside_fraction), grid
    )
    return (
        table.join(shifts, on=token, how="left")
        .with_columns(
            (
                (pl.col("inside_share_after_shift") >= limits.tz_min_inside_after_shift)
                & (pl.col("shift_minutes") != 0)
            )
            .fill_null(value=False)
            .cast(pl.Int64)
            .alias("timezone_shift")
        )
        .sort(token)
    )


def _timezone_shifts(bars: pl.DataFrame, suspects: pl.DataFrame, grid: SessionGrid) -> pl.DataFrame:
    """For instruments mostly outside session hours: the typical offset between each day's first
    bar and that date's first slot, and the share of bars on the grid once shifted by it."""
    token = _INSTRUMENT
    empty = pl.DataFrame(
        schema={token: pl.Int64, "shift_minutes": pl.Int64, "inside_share_after_shift": pl.Float64}
    )
    if suspects.height == 0:
        return empty
    chosen = bars.join(suspects.select(token), on=token, how="semi")
    first_slots = grid.slots.filter(pl.col("slot") == 0).select("date", "slot_ts")
    offsets = (
        chosen.group_by(token, "date")
        .agg(pl.col("ts_event").min().alias("day_first"))
        .join(first_slots, on="date", how="inner")
        .group_by(token)
        .agg(
            ((pl.col("slot_ts") - pl.col("day_first")).dt.total_minutes().median())
            .round()
            .cast(pl.Int64)
            .alias("shift_minutes")
        )
        .filter(pl.col("shift_minutes").is_not_null())
    )
    if offsets.height == 0:
        return empty
    shifted = (
        chosen.select(token, "ts_event")
        .join(offsets, on=token)
        .with_columns(pl.col("ts_event") + pl.duration(minutes=pl.col("shift_minutes")))
    )
    placed = annotate_positions(shifted, grid)
    share = placed.group_by(token).agg(
        (pl.col("position") == "in_session").mean().alias("inside_share_after_shift")
    )
    return pl.concat(
        [empty, offsets.join(share, on=token, how="left").select(empty.columns)],
        how="vertical_relaxed",
    )
