"""Walk-forward folds and the purged inner split: which rows a model may learn from.

A row is a candidate trade decided at ``ts_event`` whose label (its net outcome) is only known at
``exit_ts``: the label looks into ``(ts_event, exit_ts]``. A training row therefore leaks into a
test window whenever that window overlaps the test window, so it is *purged*; the *embargo* also
drops training rows decided in the last minutes before the test window (their features overlap
the test rows' features in time). Every fold keeps ``max(train exit_ts) < min(test ts_event)``.

Days are the IST trading days present in ``ts_event`` (``schemas.ist_date``); see
``docs/training.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP, ist_date
from data_contracts.timeutil import UTC
from data_contracts.validation import integer

__all__ = [
    "Fold",
    "InnerSplit",
    "WalkForwardConfig",
    "purged_inner_split",
    "walk_forward_folds",
]

_WINDOWS: Final = ("expanding", "rolling")
_US_PER_MINUTE: Final = 60_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Indices = npt.NDArray[np.int64]


@dataclass(frozen=True)
class WalkForwardConfig:
    """How the data is cut into (train, test) folds, in IST trading days.

    ``train_days`` is the minimum train window for ``expanding`` (it then grows by ``test_days``
    per fold) and the exact window for ``rolling``. ``embargo_minutes`` drops training rows decided
    within that many minutes before the first test row (on top of the label purge).
    """

    window: Literal["expanding", "rolling"] = "expanding"
    train_days: int = 20
    test_days: int = 5
    embargo_minutes: int = 30

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.window not in _WINDOWS:
            raise ContractError(owner, "window", self.window, f"must be one of {_WINDOWS}")
        integer(owner, "train_days", self.train_days, minimum=1)
        integer(owner, "test_days", self.test_days, minimum=1)
        integer(owner, "embargo_minutes", self.embargo_minutes, minimum=0)


@dataclass(frozen=True, eq=False)
class Fold:
    """One walk-forward fold: row positions (into the series given) in time order, read-only.

    ``train_start``/``train_end`` are the first and last ``ts_event`` of the training rows kept
    (after purge and embargo); ``test_start``/``test_end`` those of the test rows. ``purged`` counts
    the training-window rows dropped by the purge or the embargo.
    """

    number: int
    train: Indices
    test: Indices
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime
    purged: int = 0


@dataclass(frozen=True, eq=False)
class InnerSplit:
    """A training set cut in time order into fit | validation | calibration, purged between them."""

    fit: Indices
    validation: Indices
    calibration: Indices
    purged: int


def walk_forward_folds(
    ts_event: pl.Series, exit_ts: pl.Series, config: WalkForwardConfig
) -> list[Fold]:
    """Cut rows into walk-forward folds (pure: the same input gives the same folds).

    Fold ``k`` tests trading days ``[train_days + k*test_days, train_days + (k+1)*test_days)``
    (the last fold may hold fewer days) and trains on the days before them: all of them
    (``expanding``) or the last ``train_days`` (``rolling``). Training rows with
    ``exit_ts >= test_start`` (purge) or ``ts_event >= test_start - embargo`` are dropped.
    Raises ContractError when the data has fewer than ``train_days + 1`` trading days.
    """
    owner = "walk_forward_folds"
    if not isinstance(config, WalkForwardConfig):
        raise ContractError(owner, "config", config, "must be a WalkForwardConfig")
    start = _epoch_us(owner, "ts_event", ts_event)
    end = _epoch_us(owner, "exit_ts", exit_ts)
    _check_label_windows(owner, start, end)
    day_of_row = (
        pl.DataFrame({"ts_event": ts_event})
        .select(ist_date("ts_event").to_physical())
        .to_series()
        .to_numpy()
    )
    days = np.unique(day_of_row)
    if days.size < config.train_days + 1:
        raise ContractError(
            owner,
            "train_days",
            config.train_days,
            f"needs at least train_days + 1 = {config.train_days + 1} trading days of data, "
            f"the data has {days.size}",
        )
    order = np.argsort(start, kind="stable").astype(np.int64)
    day_index = np.searchsorted(days, day_of_row[order])  # trading-day number per row, time order
    embargo_us = config.embargo_minutes * _US_PER_MINUTE
    folds: list[Fold] = []
    for number, first_test in enumerate(range(config.train_days, days.size, config.test_days)):
        first_train = 0 if config.window == "expanding" else first_test - config.train_days
        test = order[(day_index >= first_test) & (day_index < first_test + config.test_days)]
        in_window = order[(day_index >= first_train) & (day_index < first_test)]
        test_start_us = int(start[test].min())
        keep = (end[in_window] < test_start_us) & (start[in_window] < test_start_us - embargo_us)
        train = in_window[keep]
        if train.size == 0:
            raise ContractError(
                owner,
                "embargo_minutes",
                config.embargo_minutes,
                f"leaves fold {number} no training rows after the purge and embargo",
            )
        folds.append(
            Fold(
                number=number,
                train=_frozen(train),
                test=_frozen(test),
                train_start=_datetime(int(start[train].min())),
                train_end=_datetime(int(start[train].max())),
                test_start=_datetime(test_start_us),
                test_end=_datetime(int(start[test].max())),
                purged=int(in_window.size - train.size),
            )
        )
    return folds


def purged_inner_split(
    ts_event: pl.Series,
    exit_ts: pl.Series,
    *,
    validation_fraction: float,
    calibration_fraction: float,
    embargo_minutes: int = 0,
) -> InnerSplit:
    """Split training rows in time order into fit | validation | calibration.

    The last ``calibration_fraction`` of rows (by count, in time order) calibrate, the
    ``validation_fraction`` before them validate (early stopping), the rest fit. A boundary never
    splits one timestamp (it moves back to the first row of that ``ts_event``). Each earlier slice
    is purged against the start of the next one exactly as the folds are: a row is dropped when
    ``exit_ts >= next_start`` or ``ts_event >= next_start - embargo``. Raises ContractError when a
    slice ends up empty.
    """
    owner = "purged_inner_split"
    for field, value in (
        ("validation_fraction", validation_fraction),
        ("calibration_fraction", calibration_fraction),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise ContractError(owner, field, value, "must be within (0, 1)")
    if validation_fraction + calibration_fraction >= 1:
        raise ContractError(
            owner,
            "calibration_fraction",
            calibration_fraction,
            f"plus validation_fraction ({validation_fraction}) must leave rows to fit (< 1)",
        )
    integer(owner, "embargo_minutes", embargo_minutes, minimum=0)
    start = _epoch_us(owner, "ts_event", ts_event)
    end = _epoch_us(owner, "exit_ts", exit_ts)
    _check_label_windows(owner, start, end)
    order = np.argsort(start, kind="stable").astype(np.int64)
    ordered = start[order]
    n = order.size
    calibration_at = _boundary(ordered, n - int(np.ceil(n * calibration_fraction)))
    held_out = int(np.ceil(n * (validation_fraction + calibration_fraction)))
    validation_at = _boundary(ordered, min(calibration_at, n - held_out))
    embargo_us = embargo_minutes * _US_PER_MINUTE
    slices = [order[:validation_at], order[validation_at:calibration_at], order[calibration_at:]]
    kept: list[Indices] = []
    purged = 0
    for rows, following in zip(slices, [*slices[1:], None], strict=True):
        if following is None or following.size == 0:
            kept.append(rows)
            continue
        next_start = int(start[following[0]])
        keep = (end[rows] < next_start) & (start[rows] < next_start - embargo_us)
        purged += int(rows.size - int(keep.sum()))
        kept.append(rows[keep])
    for name, rows in zip(("fit", "validation", "calibration"), kept, strict=True):
        if rows.size == 0:
            raise ContractError(
                owner,
                name,
                n,
                "slice is empty after the time split and purge; more training rows (or distinct "
                "timestamps) are needed",
            )
    return InnerSplit(
        fit=_frozen(kept[0]),
        validation=_frozen(kept[1]),
        calibration=_frozen(kept[2]),
        purged=purged,
    )


def _boundary(ordered: npt.NDArray[np.int64], at: int) -> int:
    """Move a cut position back so that it never separates rows with the same timestamp."""
    at = max(0, min(at, ordered.size))
    if at == ordered.size or at == 0:
        return at
    return int(np.searchsorted(ordered, ordered[at], side="left"))


def _epoch_us(owner: str, field: str, series: pl.Series) -> npt.NDArray[np.int64]:
    if not isinstance(series, pl.Series):
        raise ContractError(owner, field, type(series).__name__, "must be a polars Series")
    dtype = series.dtype
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise ContractError(owner, field, dtype, "must be a time-zone aware polars Datetime")
    if series.null_count():
        raise ContractError(owner, field, series.null_count(), "must have no nulls (null count)")
    utc = series.dt.convert_time_zone("UTC").cast(UTC_TIMESTAMP)
    return utc.to_physical().to_numpy().astype(np.int64, copy=False)


def _check_label_windows(
    owner: str, start: npt.NDArray[np.int64], end: npt.NDArray[np.int64]
) -> None:
    if start.size != end.size:
        raise ContractError(
            owner, "exit_ts", end.size, f"must have one value per ts_event ({start.size})"
        )
    bad = np.flatnonzero(end <= start)
    if bad.size:
        raise ContractError(
            owner,
            "exit_ts",
            _datetime(int(end[bad[0]])),
            f"must be after ts_event (label window (ts_event, exit_ts]); row {int(bad[0])}",
        )


def _frozen(rows: Indices) -> Indices:
    out = np.ascontiguousarray(rows, dtype=np.int64)
    out.setflags(write=False)
    return out


def _datetime(epoch_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=epoch_us)
