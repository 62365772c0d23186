"""The one definition of the candle feature set: polars expressions, a warm-up and a version.

Batch (the ``features`` table) and streaming (one bounded window per instrument per closed
candle) call the same :meth:`FeatureSet.build`; see ``docs/features.md`` for every column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Final

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.nse_session import REGULAR_OPEN
from data_contracts.validation import integer, non_empty
from models.features.indicators import classic_indicators
from models.features.params import CandleFeatureParams

__all__ = [
    "CANDLE_FEATURES",
    "FEATURE_CODE_VERSION",
    "KEY_COLUMNS",
    "SETTLE_TOLERANCE",
    "SLICE_ROWS",
    "CandleFeatureParams",
    "FeatureSet",
    "history_start",
    "settle_bars",
    "trading_days_to_expiry",
    "version_hash",
]

# Bump when the meaning of any feature changes without a parameter changing (a formula, a fix):
# the version hash then changes, so a model trained on the old meaning refuses the new one.
FEATURE_CODE_VERSION: Final = 1
# A recursion started from a different seed differs from the full-history value by at most this
# fraction of its initial gap after `warmup_bars` (see settle_bars); the warm-up test holds to 1e-9.
SETTLE_TOLERANCE: Final = 1e-12
KEY_COLUMNS: Final = ("instrument_token", "ts_event")
_BY: Final = "instrument_token"

_REQUIRED = {
    "instrument_token": pl.Int64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
}
_US_PER_MINUTE: Final = 60_000_000
_MINUTES_PER_DAY: Final = 1440
# IST is a fixed UTC+05:30 (no daylight saving since 1945), so local minutes and days are integer
# arithmetic on the UTC epoch, far cheaper than a time-zone conversion per row.
_IST_OFFSET_MINUTES: Final = 330
_OPEN_MINUTE: Final = REGULAR_OPEN.hour * 60 + REGULAR_OPEN.minute
_EPOCH_WEEKDAY: Final = 3  # 1970-01-01 was a Thursday (Monday = 0)
_EPOCH: Final = dt.date(1970, 1, 1)
# Rows computed at a time (whole instruments; see FeatureSet.build).
SLICE_ROWS: Final = 100_000


def settle_bars(alpha: float, tolerance: float = SETTLE_TOLERANCE) -> int:
    """Bars after which an ``alpha`` recursion has forgotten its seed to ``tolerance``.

    The smallest ``m`` with ``(m + 1)·(1 - alpha)^m <= tolerance``: the ``(m + 1)`` covers a
    recursion fed by another recursion of the same rate (ADX of DI, MACD signal of EMAs).
    """
    decay = 1.0 - alpha
    bars = math.ceil(math.log(tolerance) / math.log(decay))
    while (bars + 1) * decay**bars > tolerance:
        bars += 1
    return bars


def version_hash(name: str, columns: tuple[str, ...], parameters: dict[str, object]) -> str:
    """``<name>-<12 hex>``: a stable hash of the names, parameters and FEATURE_CODE_VERSION."""
    payload = json.dumps(
        {"name": name, "columns": columns, "parameters": parameters, "code": FEATURE_CODE_VERSION},
        sort_keys=True,
        separators=(",", ":"),
    )
    return f"{name}-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class FeatureSet:
    """The candle feature set: ordered columns, the warm-up it needs, and a version hash.

    :meth:`build` turns a CandleFrame (one or many instruments) into ``instrument_token,
    ts_event, feature_version, <columns>``; the first ``warmup_bars`` rows of each instrument are
    warm-up (some features null or not yet settled) and :meth:`drop_warmup` removes them. Every
    later row is finite, and equal (to 1e-9 of its scale) to what a window of only the last
    ``warmup_bars + 1`` bars gives, which is what streaming computes (:meth:`latest`).
    """

    name: str = "candles"
    params: CandleFeatureParams = field(default_factory=CandleFeatureParams)
    calendar: NseCalendar = field(default_factory=NseCalendar.default, compare=False, repr=False)
    columns: tuple[str, ...] = field(init=False)
    warmup_bars: int = field(init=False)
    version: str = field(init=False)

    def __post_init__(self) -> None:
        non_empty("FeatureSet", "name", self.name)
        p = self.params
        columns = (
            f"ema_{p.ema_fast}_rel",
            f"ema_{p.ema_slow}_rel",
            "macd_rel",
            "macd_signal_rel",
            "macd_hist_rel",
            f"rsi_{p.rsi}",
            f"adx_{p.adx}",
            f"bb_position_{p.bollinger}",
            f"zscore_{p.zscore}",
            f"roc_{p.roc}",
            f"atr_{p.atr}_rel",
            f"std_{p.stddev}_rel",
            f"hv_{p.hv}",
            f"volume_ratio_{p.volume}",
            f"volume_zscore_{p.volume}",
            "minute_of_day",
            "day_of_week",
            "days_to_expiry",
        )
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "warmup_bars", _warmup_bars(p))
        object.__setattr__(self, "version", version_hash(self.name, columns, asdict(p)))

    def build(self, candles: pl.DataFrame, *, slice_rows: int = SLICE_ROWS) -> pl.DataFrame:
        """Features for every bar, warm-up rows included (see :meth:`drop_warmup`).

        ``candles`` needs ``instrument_token, ts_event, high, low, close, volume`` (a CandleFrame
        has them); rows are sorted by ``(instrument_token, ts_event)`` here if they are not.
        Each instrument is computed on its own rows only, in time order, whole instruments about
        ``slice_rows`` rows at a time (a speed and memory knob; the result does not depend on it).
        """
        integer("FeatureSet", "slice_rows", slice_rows, minimum=1)
        p = self.params
        frame = _ist_minutes(_prepared(candles))
        c = pl.col
        band = c("bb_upper") - c("bb_lower")
        features = (
            c("close") / c("ema_fast") - 1.0,
            c("close") / c("ema_slow") - 1.0,
            c("macd") / c("close"),
            c("macd_signal") / c("close"),
            c("macd_hist") / c("close"),
            c("rsi"),
            c("adx"),
            _ratio(c("close") - c("bb_lower"), band, 0.5),
            _ratio(c("close") - c("zscore_mean"), c("zscore_std"), 0.0),
            c("roc"),
            c("atr") / c("close"),
            c("stddev") / c("close"),
            c("log_return_std") * math.sqrt(p.bars_per_year),
            _ratio(c("volume"), c("volume_mean"), 1.0),
            _ratio(c("volume") - c("volume_mean"), c("volume_std"), 0.0),
            *_time_features(frame, self.calendar),
        )
        named = [expr.alias(name) for expr, name in zip(features, self.columns, strict=True)]
        version = pl.lit(self.version, dtype=pl.String).alias("feature_version")

        # Instruments are independent, so whole instruments are computed a slice at a time: the
        # working set stays in cache (instead of faulting in fresh pages for every intermediate
        # column of a 20 M-row frame), and a slice of one instrument needs no grouping.
        def compute(part: pl.DataFrame) -> pl.DataFrame:
            return classic_indicators(part, p).select(*KEY_COLUMNS, version, *named)

        slices = _instrument_slices(frame, slice_rows)
        if len(slices) == 1:
            return compute(slices[0])
        # Slices are independent: keep every core busy, also between a slice's stages (polars
        # releases the GIL while it computes).
        with ThreadPoolExecutor(max_workers=pl.thread_pool_size()) as pool:
            return pl.concat(pool.map(compute, slices), rechunk=False)

    def drop_warmup(self, features: pl.DataFrame) -> pl.DataFrame:
        """Only the rows after each instrument's first ``warmup_bars`` (of a :meth:`build`)."""
        row = pl.int_range(pl.len(), dtype=pl.Int64).over(_BY)
        return features.filter(row >= self.warmup_bars)

    def latest(self, window: pl.DataFrame) -> pl.DataFrame:
        """The feature row of each instrument's last bar, for instruments past their warm-up.

        This is the streaming call: ``window`` holds each instrument's last ``warmup_bars + 1``
        (or more) candles; an instrument with fewer has no row yet.
        """
        built = self.drop_warmup(self.build(window))
        return built.group_by(_BY, maintain_order=True).tail(1)


def _instrument_slices(frame: pl.DataFrame, rows: int) -> list[pl.DataFrame]:
    """Zero-copy slices of about ``rows`` rows that never split an instrument."""
    if frame.height <= rows:
        return [frame]
    starts = (
        frame.select(
            pl.int_range(pl.len()).filter(pl.col(_BY) != pl.col(_BY).shift(1).fill_null(-1))
        )
        .to_series()
        .to_list()
    )
    slices: list[pl.DataFrame] = []
    begin = 0
    for start in [*starts[1:], frame.height]:
        if start - begin >= rows or start == frame.height:
            slices.append(frame.slice(begin, start - begin))
            begin = start
    return slices


def _ratio(numerator: pl.Expr, denominator: pl.Expr, flat: float) -> pl.Expr:
    """``numerator / denominator``, or ``flat`` where the denominator is 0 (a flat window)."""
    return pl.when(denominator > 0.0).then(numerator / denominator).otherwise(flat)


def _warmup_bars(p: CandleFeatureParams) -> int:
    """The longest look-back plus the bars its recursion needs to forget its seed."""
    slowest_macd = min(2.0 / (p.ema_fast + 1), 2.0 / (p.ema_slow + 1), 2.0 / (p.macd_signal + 1))
    recursions = (
        p.ema_fast - 1 + settle_bars(2.0 / (p.ema_fast + 1)),
        p.ema_slow - 1 + settle_bars(2.0 / (p.ema_slow + 1)),
        p.ema_slow + p.macd_signal - 2 + settle_bars(slowest_macd),
        p.rsi + settle_bars(1.0 / p.rsi),
        p.atr + settle_bars(1.0 / p.atr),
        2 * p.adx - 1 + settle_bars(1.0 / p.adx),
    )
    windows = (p.bollinger - 1, p.zscore - 1, p.roc, p.stddev - 1, p.hv, p.volume - 1)
    return max(*recursions, *windows)


def _prepared(candles: pl.DataFrame) -> pl.DataFrame:
    """The columns the features read, checked, sorted by instrument and time."""
    missing = [name for name in (*KEY_COLUMNS, *_REQUIRED) if name not in candles.columns]
    if missing:
        raise ContractError("FeatureSet", "candles", missing, "must have these columns")
    ts_type = candles.schema["ts_event"]
    if not isinstance(ts_type, pl.Datetime) or ts_type.time_zone is None:
        raise ContractError("FeatureSet", "ts_event", ts_type, "must be a tz-aware Datetime")
    frame = candles.select(
        pl.col(_BY).cast(pl.Int64),
        pl.col("ts_event").dt.convert_time_zone("UTC").dt.cast_time_unit("us"),
        *(pl.col(name).cast(dtype) for name, dtype in _REQUIRED.items() if name != _BY),
    )
    token, ts = pl.col(_BY), pl.col("ts_event")
    ordered = frame.select(
        ((token.diff() > 0) | ((token.diff() == 0) & (ts.diff() > pl.duration()))).all()
    ).item()
    if not ordered:
        frame = _sorted(frame)
    # Tell polars the rows are grouped by instrument: `.over` then slices instead of hashing.
    return frame.with_columns(token.set_sorted()).rechunk()


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    duplicated = frame.select(pl.struct(*KEY_COLUMNS).is_duplicated().any()).item()
    if duplicated:
        raise ContractError(
            "FeatureSet",
            "candles",
            "duplicate (instrument_token, ts_event)",
            "must have unique keys",
        )
    return frame.sort(*KEY_COLUMNS)


def _ist_minutes(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``_minutes``: minutes since the epoch on the IST wall clock at the bar's close."""
    minutes = pl.col("ts_event").dt.epoch("us") // _US_PER_MINUTE + _IST_OFFSET_MINUTES
    return frame.with_columns(minutes.alias("_minutes"))


def _time_features(frame: pl.DataFrame, calendar: NseCalendar) -> tuple[pl.Expr, ...]:
    """Minutes since 09:15 IST at the bar's close, the IST weekday, trading days to expiry.

    ``frame`` has ``_minutes`` (:func:`_ist_minutes`). Days to expiry is looked up per distinct
    IST day (a few hundred a year) from the calendar, then gathered for every row.
    """
    minutes = pl.col("_minutes")
    day = minutes // _MINUTES_PER_DAY
    first, last = frame.select(day.min().alias("first"), day.max().alias("last")).row(0)
    if first is None:  # no rows
        first, last = 0, -1
    to_expiry = pl.Series(
        "to_expiry",
        [
            float(trading_days_to_expiry(calendar, _EPOCH + dt.timedelta(days=d)))
            for d in range(first, last + 1)
        ],
        dtype=pl.Float64,
    )
    return (
        ((minutes % _MINUTES_PER_DAY) - _OPEN_MINUTE).cast(pl.Float64).alias("minute_of_day"),
        ((day + _EPOCH_WEEKDAY) % 7).cast(pl.Float64).alias("day_of_week"),
        pl.lit(to_expiry).gather(day - first).alias("days_to_expiry"),
    )


def trading_days_to_expiry(calendar: NseCalendar, day: dt.date) -> int:
    """Trading sessions after ``day`` up to and including the next NIFTY weekly expiry (0 on it)."""
    expiry = calendar.weekly_expiry(day)
    if expiry < day:
        expiry = calendar.weekly_expiry(day + dt.timedelta(days=7))
    return sum(
        calendar.is_trading_day(day + dt.timedelta(days=n))
        for n in range(1, (expiry - day).days + 1)
    )


CANDLE_FEATURES: Final = FeatureSet()
"""The feature set every model trains on and the streaming worker computes."""


def history_start(
    calendar: NseCalendar, day: dt.date, warmup_rows: int, rows_per_session: int
) -> dt.date:
    """The first trading day whose rows a feature build for ``day`` needs: enough whole sessions
    before ``day`` to cover ``warmup_rows`` (plus one for short sessions)."""
    first = day
    for _ in range(math.ceil(warmup_rows / max(rows_per_session, 1)) + 1):
        first = calendar.previous_session(first).date
    return first
