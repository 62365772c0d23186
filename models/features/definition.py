"""The one definition of the candle feature set: a compiled kernel, a warm-up and a version.

Batch (:meth:`FeatureSet.build`, the ``features`` table) and streaming (:class:`FeatureState`,
one O(1) update per instrument per closed candle) run the same kernel,
:func:`models.features.kernels.advance`; see ``docs/features.md`` for every column.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.nse_session import REGULAR_OPEN
from data_contracts.timeutil import require_aware
from data_contracts.validation import integer, non_empty
from models.features import kernels
from models.features.indicators import instrument_starts, kernel_bars
from models.features.params import CandleFeatureParams

__all__ = [
    "CANDLE_FEATURES",
    "FEATURE_CODE_VERSION",
    "KEY_COLUMNS",
    "SETTLE_TOLERANCE",
    "SLICE_ROWS",
    "CandleFeatureParams",
    "FeatureSet",
    "FeatureState",
    "history_start",
    "settle_bars",
    "trading_days_to_expiry",
    "version_hash",
]

# Bump when the meaning of any feature changes without a parameter changing (a formula, a fix):
# the version hash then changes, so a model trained on the old meaning refuses the new one.
FEATURE_CODE_VERSION: Final = 2  # 2: the compiled kernel (TA-Lib's arithmetic, two-pass std)
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
_EPOCH: Final = dt.date(1970, 1, 1)
_EPOCH_UTC: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND: Final = dt.timedelta(microseconds=1)
_NO_OUTPUT: Final = np.empty((0, 0))
_Stamp = TypeVar("_Stamp", int, npt.NDArray[np.int64])
_ONE_INSTRUMENT: Final = np.array([0, 1], dtype=np.int64)
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
    ``warmup_bars + 1`` bars gives (:meth:`latest`). Streaming carries a :class:`FeatureState`
    per instrument (:meth:`stream_state`): its row for a bar is, bit for bit, :meth:`build`'s row
    for that bar over the bars the state has folded in.
    """

    name: str = "candles"
    params: CandleFeatureParams = field(default_factory=CandleFeatureParams)
    calendar: NseCalendar = field(default_factory=NseCalendar.default, compare=False, repr=False)
    columns: tuple[str, ...] = field(init=False)
    warmup_bars: int = field(init=False)
    version: str = field(init=False)
    _kernel: npt.NDArray[np.float64] = field(init=False, compare=False, repr=False)
    _expiry: _ExpiryDays = field(init=False, compare=False, repr=False)

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
        open_minute = REGULAR_OPEN.hour * 60 + REGULAR_OPEN.minute
        object.__setattr__(self, "_kernel", kernels.kernel_params(p, open_minute))
        object.__setattr__(self, "_expiry", _ExpiryDays(self.calendar))

    def build(self, candles: pl.DataFrame, *, slice_rows: int = SLICE_ROWS) -> pl.DataFrame:
        """Features for every bar, warm-up rows included (see :meth:`drop_warmup`).

        ``candles`` needs ``instrument_token, ts_event, high, low, close, volume`` (a CandleFrame
        has them); rows are sorted by ``(instrument_token, ts_event)`` here if they are not.
        Each instrument is computed on its own rows only, in time order, whole instruments about
        ``slice_rows`` rows at a time (a speed and memory knob; the result does not depend on it).
        """
        integer("FeatureSet", "slice_rows", slice_rows, minimum=1)
        frame = _prepared(candles)
        epoch = pl.col("ts_event").dt.epoch("us")
        first, last = frame.select(epoch.min().alias("first"), epoch.max().alias("last")).row(0)
        expiry = self._expiry.table(_ist_day(first or 0), _ist_day(last or 0))
        version = pl.lit(self.version, dtype=pl.String).alias("feature_version")

        def compute(part: pl.DataFrame) -> pl.DataFrame:
            minutes = _ist_minute(part["ts_event"].dt.epoch("us").to_numpy())
            starts = instrument_starts(part[_BY].to_numpy())
            states, rings = kernels.fresh_state(self.params, len(starts) - 1)
            out = np.empty((kernels.FEATURES, part.height))
            kernels.advance(
                kernel_bars(part, minutes),
                starts,
                self._kernel,
                *expiry,
                states,
                rings,
                _NO_OUTPUT,
                out,
            )
            values = (pl.Series(n, out[k], nan_to_null=True) for k, n in enumerate(self.columns))
            return part.select(*KEY_COLUMNS, version).with_columns(*values)

        # Instruments are independent, so whole instruments are computed a slice at a time, in
        # threads (the kernel releases the GIL): the working set stays in cache and both cores
        # are busy.
        slices = _instrument_slices(frame, slice_rows)
        if len(slices) == 1:
            return compute(slices[0])
        with ThreadPoolExecutor(max_workers=pl.thread_pool_size()) as pool:
            return pl.concat(pool.map(compute, slices), rechunk=False)

    def drop_warmup(self, features: pl.DataFrame) -> pl.DataFrame:
        """Only the rows after each instrument's first ``warmup_bars`` (of a :meth:`build`)."""
        row = pl.int_range(pl.len(), dtype=pl.Int64).over(_BY)
        return features.filter(row >= self.warmup_bars)

    def latest(self, window: pl.DataFrame) -> pl.DataFrame:
        """The feature row of each instrument's last bar, for instruments past their warm-up.

        ``window`` holds each instrument's last ``warmup_bars + 1`` (or more) candles; an
        instrument with fewer has no row yet. (Streaming carries a :class:`FeatureState` instead
        of rebuilding a window per bar.)
        """
        built = self.drop_warmup(self.build(window))
        return built.group_by(_BY, maintain_order=True).tail(1)

    def stream_state(self, window: pl.DataFrame | None = None) -> FeatureState:
        """A :class:`FeatureState` that has folded in ``window``: one instrument's candles (any
        order), e.g. its last ``warmup_bars + 1`` from history; None or empty: a fresh state."""
        state = FeatureState(self)
        if window is not None and window.height:
            state.extend(window)
        return state


class FeatureState:
    """One instrument's candle features carried from bar to bar: the streaming side of the one
    definition.

    It holds the kernel's state (a float64 vector and ring buffers, see
    ``models/features/kernels.py``): :meth:`update` folds one closed bar in — O(1), one kernel
    call — and returns the bar's feature row, bit for bit :meth:`FeatureSet.build`'s row for that
    bar over the same bars. The row is part of the feature contract once :attr:`ready` (past the
    warm-up); before that it has NaN or unsettled values. Plain numpy data: it pickles.
    """

    __slots__ = ("_bars", "_features", "_last_us", "_out", "_rings", "_states")

    def __init__(self, feature_set: FeatureSet) -> None:
        self._features = feature_set
        self._states, self._rings = kernels.fresh_state(feature_set.params, 1)
        self._bars = np.zeros((kernels.BARS, 1))
        self._out = np.full((kernels.FEATURES, 1), np.nan)
        self._last_us: int | None = None

    @property
    def feature_set(self) -> FeatureSet:
        return self._features

    @property
    def rows(self) -> int:
        """Bars folded in so far."""
        return int(self._states[0, kernels.S_ROWS])

    @property
    def ready(self) -> bool:
        """Past the warm-up: the last row is a feature row of the contract."""
        return self.rows > self._features.warmup_bars

    @property
    def last_event_us(self) -> int | None:
        """The last bar's ``ts_event`` in microseconds since the epoch (None before any bar)."""
        return self._last_us

    @property
    def row(self) -> npt.NDArray[np.float64] | None:
        """The last bar's feature row (``feature_set.columns`` order) once :attr:`ready`."""
        return self._out[:, 0].copy() if self.ready else None

    def update(
        self, ts_event: dt.datetime, high: float, low: float, close: float, volume: float
    ) -> npt.NDArray[np.float64]:
        """Fold in the bar closing at ``ts_event`` (after the last one); its feature row."""
        stamp = (require_aware("FeatureState", "ts_event", ts_event) - _EPOCH_UTC) // _MICROSECOND
        if self._last_us is not None and stamp <= self._last_us:
            raise ContractError(
                "FeatureState", "ts_event", ts_event, "must be after the last bar folded in"
            )
        minute = _ist_minute(stamp)
        day = minute // _MINUTES_PER_DAY
        bars = self._bars
        bars[:, 0] = (high, low, close, volume, minute)
        kernels.advance(
            bars,
            _ONE_INSTRUMENT,
            self._features._kernel,
            *self._features._expiry.table(day, day),
            self._states,
            self._rings,
            _NO_OUTPUT,
            self._out,
        )
        self._last_us = stamp
        return self._out[:, 0].copy()

    def extend(self, candles: pl.DataFrame) -> int:
        """Fold in one instrument's candles (any order, all after the last bar); how many."""
        frame = _prepared(candles)
        if not frame.height:
            return 0
        tokens = frame[_BY]
        if tokens[0] != tokens[-1]:
            raise ContractError(
                "FeatureState", "candles", tokens.unique().to_list(), "must be one instrument"
            )
        stamps = frame["ts_event"].dt.epoch("us").to_numpy()
        if self._last_us is not None and stamps[0] <= self._last_us:
            raise ContractError(
                "FeatureState", "candles", int(stamps[0]), "must be after the last bar folded in"
            )
        minutes = _ist_minute(stamps)
        expiry = self._features._expiry.table(
            int(minutes[0]) // _MINUTES_PER_DAY, int(minutes[-1]) // _MINUTES_PER_DAY
        )
        out = np.empty((kernels.FEATURES, frame.height))
        kernels.advance(
            kernel_bars(frame, minutes),
            np.array([0, frame.height], dtype=np.int64),
            self._features._kernel,
            *expiry,
            self._states,
            self._rings,
            _NO_OUTPUT,
            out,
        )
        self._out[:, 0] = out[:, -1]
        self._last_us = int(stamps[-1])
        return frame.height


class _ExpiryDays:
    """Trading days to the next NIFTY weekly expiry by IST epoch day: the table the kernel's time
    features read, ``(first day, values)``. Each day is looked up in the calendar once; the table
    grows to cover the days asked for (a new day of streaming extends it by one)."""

    __slots__ = ("_calendar", "_span")

    def __init__(self, calendar: NseCalendar) -> None:
        self._calendar = calendar
        self._span: tuple[int, npt.NDArray[np.float64]] = (0, np.empty(0))

    def table(self, first: int, last: int) -> tuple[int, npt.NDArray[np.float64]]:
        have, values = self._span
        end = have + len(values)
        if values.size and have <= first and last < end:
            return self._span
        low, high = (min(first, have), max(last, end - 1)) if values.size else (first, last)
        table = np.empty(high - low + 1)
        for day in range(low, high + 1):
            if have <= day < end:
                table[day - low] = values[day - have]
            else:
                date = _EPOCH + dt.timedelta(days=day)
                table[day - low] = trading_days_to_expiry(self._calendar, date)
        self._span = (low, table)
        return self._span


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


def _ist_minute(epoch_us: _Stamp) -> _Stamp:
    """Minutes since the epoch on the IST wall clock (an int, or an int64 array)."""
    return epoch_us // _US_PER_MINUTE + _IST_OFFSET_MINUTES


def _ist_day(epoch_us: int) -> int:
    return int(_ist_minute(epoch_us)) // _MINUTES_PER_DAY


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
