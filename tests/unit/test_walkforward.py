"""Walk-forward folds and the purged inner split: windows, purge, embargo, no leakage."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP
from models.walkforward import (
    Fold,
    WalkForwardConfig,
    purged_inner_split,
    walk_forward_folds,
)

# 09:16 IST on 2024-01-01: the close of the first 1-minute bar of the session.
SESSION_OPEN = datetime(2024, 1, 1, 3, 46, tzinfo=UTC)
IST_OFFSET = timedelta(hours=5, minutes=30)
T = TypeVar("T")


def _series(name: str, values: list[datetime]) -> pl.Series:
    return pl.Series(name, values, dtype=UTC_TIMESTAMP)


def _rows(
    days: int, per_day: int, horizon_minutes: int = 15
) -> tuple[pl.Series, pl.Series, list[datetime]]:
    """``per_day`` decisions a minute apart on each of ``days`` consecutive days."""
    ts = [SESSION_OPEN + timedelta(days=d, minutes=m) for d in range(days) for m in range(per_day)]
    exits = [t + timedelta(minutes=horizon_minutes) for t in ts]
    return _series("ts_event", ts), _series("exit_ts", exits), ts


def _ist_day(ts: datetime) -> date:
    return (ts + IST_OFFSET).date()


def _or_error(call: Callable[[], T]) -> T | ContractError:
    """The call's result, or the ContractError it raised (hypothesis then discards the case)."""
    try:
        return call()
    except ContractError as error:
        return error


def _assert_no_leakage(folds: list[Fold], ts_event: pl.Series, exit_ts: pl.Series) -> None:
    start = ts_event.to_numpy()
    end = exit_ts.to_numpy()
    for fold in folds:
        assert end[fold.train].max() < start[fold.test].min()
        assert start[fold.train].max() < start[fold.test].min()


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("window", {"window": "sliding"}),
        ("train_days", {"train_days": 0}),
        ("test_days", {"test_days": 0}),
        ("embargo_minutes", {"embargo_minutes": -1}),
        ("train_days", {"train_days": 2.5}),
    ],
)
def test_walk_forward_config_invalid_field_raises_naming_it(
    field: str, overrides: dict[str, object]
) -> None:
    with pytest.raises(ContractError) as error:
        WalkForwardConfig(**overrides)  # type: ignore[arg-type]

    assert error.value.field == field


def test_walk_forward_folds_expanding_grows_train_window_by_test_days() -> None:
    ts_event, exit_ts, ts = _rows(days=10, per_day=4)
    config = WalkForwardConfig(window="expanding", train_days=4, test_days=2, embargo_minutes=0)

    folds = walk_forward_folds(ts_event, exit_ts, config)

    assert [f.number for f in folds] == [0, 1, 2]
    assert [sorted({_ist_day(ts[i]) for i in f.train}) for f in folds] == [
        [date(2024, 1, d) for d in range(1, 5)],
        [date(2024, 1, d) for d in range(1, 7)],
        [date(2024, 1, d) for d in range(1, 9)],
    ]
    assert [sorted({_ist_day(ts[i]) for i in f.test}) for f in folds] == [
        [date(2024, 1, 5), date(2024, 1, 6)],
        [date(2024, 1, 7), date(2024, 1, 8)],
        [date(2024, 1, 9), date(2024, 1, 10)],
    ]


def test_walk_forward_folds_rolling_keeps_exactly_train_days() -> None:
    ts_event, exit_ts, ts = _rows(days=8, per_day=4)
    config = WalkForwardConfig(window="rolling", train_days=3, test_days=2, embargo_minutes=0)

    folds = walk_forward_folds(ts_event, exit_ts, config)

    assert [sorted({_ist_day(ts[i]) for i in f.train}) for f in folds] == [
        [date(2024, 1, d) for d in (1, 2, 3)],
        [date(2024, 1, d) for d in (3, 4, 5)],
        [date(2024, 1, d) for d in (5, 6, 7)],
    ]
    assert [f.test.size for f in folds] == [8, 8, 4]  # the last fold holds the one remaining day


def test_walk_forward_folds_label_crossing_into_test_is_purged() -> None:
    ts_event, exit_ts, _ = _rows(days=3, per_day=3, horizon_minutes=10)
    # The last decision of day 2 holds its trade until the first test decision of day 3.
    exits = exit_ts.to_list()
    exits[5] = ts_event[6]
    config = WalkForwardConfig(train_days=2, test_days=1, embargo_minutes=0)

    (fold,) = walk_forward_folds(ts_event, _series("exit_ts", exits), config)

    assert fold.train.tolist() == [0, 1, 2, 3, 4]
    assert fold.purged == 1


def test_walk_forward_folds_embargo_boundary_is_exclusive() -> None:
    ts = [SESSION_OPEN, SESSION_OPEN + timedelta(minutes=1), SESSION_OPEN + timedelta(days=1)]
    ts_event = _series("ts_event", ts)
    exit_ts = _series("exit_ts", [t + timedelta(minutes=1) for t in ts])
    gap_minutes = int((ts[2] - ts[1]).total_seconds() // 60)

    (inside,) = walk_forward_folds(
        ts_event, exit_ts, WalkForwardConfig("rolling", 1, 1, gap_minutes)
    )
    (outside,) = walk_forward_folds(
        ts_event, exit_ts, WalkForwardConfig("rolling", 1, 1, gap_minutes - 1)
    )

    assert inside.train.tolist() == [0]
    assert outside.train.tolist() == [0, 1]


def test_walk_forward_folds_too_few_days_raises_naming_train_days() -> None:
    ts_event, exit_ts, _ = _rows(days=5, per_day=2)

    with pytest.raises(ContractError) as error:
        walk_forward_folds(ts_event, exit_ts, WalkForwardConfig(train_days=5, test_days=1))

    assert error.value.field == "train_days"
    assert "5 trading days" in str(error.value) or "has 5" in str(error.value)


def test_walk_forward_folds_embargo_leaving_no_train_rows_raises() -> None:
    ts_event, exit_ts, _ = _rows(days=2, per_day=2)

    with pytest.raises(ContractError) as error:
        walk_forward_folds(ts_event, exit_ts, WalkForwardConfig("rolling", 1, 1, 10 * 24 * 60))

    assert error.value.field == "embargo_minutes"


@pytest.mark.parametrize(
    ("ts_event", "exit_ts", "field"),
    [
        (
            _series("t", [SESSION_OPEN]).dt.replace_time_zone(None),
            _series("t", [SESSION_OPEN + timedelta(hours=1)]).dt.replace_time_zone(None),
            "ts_event",
        ),
        (
            _series("t", [SESSION_OPEN]),
            _series("t", [SESSION_OPEN]),
            "exit_ts",
        ),
        (
            _series("t", [SESSION_OPEN, SESSION_OPEN]),
            _series("t", [SESSION_OPEN + timedelta(minutes=1)]),
            "exit_ts",
        ),
        (
            _series("t", [SESSION_OPEN, None]),  # type: ignore[list-item]
            _series("t", [SESSION_OPEN, SESSION_OPEN]),
            "ts_event",
        ),
    ],
)
def test_walk_forward_folds_bad_timestamps_raise_naming_field(
    ts_event: pl.Series, exit_ts: pl.Series, field: str
) -> None:
    with pytest.raises(ContractError) as error:
        walk_forward_folds(ts_event, exit_ts, WalkForwardConfig(train_days=1, test_days=1))

    assert error.value.field == field


def test_walk_forward_folds_unsorted_input_gives_positions_in_time_order() -> None:
    ts_event, exit_ts, _ = _rows(days=4, per_day=3)
    shuffle = np.random.default_rng(3).permutation(ts_event.len())
    config = WalkForwardConfig(train_days=2, test_days=1, embargo_minutes=0)

    sorted_folds = walk_forward_folds(ts_event, exit_ts, config)
    shuffled_folds = walk_forward_folds(ts_event[shuffle], exit_ts[shuffle], config)

    for a, b in zip(sorted_folds, shuffled_folds, strict=True):
        assert shuffle[b.train].tolist() == a.train.tolist()
        assert shuffle[b.test].tolist() == a.test.tolist()
        assert (a.train_start, a.train_end, a.test_start, a.test_end) == (
            b.train_start,
            b.train_end,
            b.test_start,
            b.test_end,
        )


def test_walk_forward_folds_indices_are_read_only() -> None:
    ts_event, exit_ts, _ = _rows(days=3, per_day=2)

    (fold, *_) = walk_forward_folds(ts_event, exit_ts, WalkForwardConfig(train_days=2, test_days=1))

    with pytest.raises(ValueError, match="read-only"):
        fold.train[0] = 99


def test_walk_forward_folds_non_utc_zone_gives_same_folds() -> None:
    ts_event, exit_ts, _ = _rows(days=4, per_day=3)
    config = WalkForwardConfig(train_days=2, test_days=1, embargo_minutes=0)

    utc = walk_forward_folds(ts_event, exit_ts, config)
    ist = walk_forward_folds(
        ts_event.dt.convert_time_zone("Asia/Kolkata"),
        exit_ts.dt.convert_time_zone("Asia/Kolkata"),
        config,
    )

    assert [f.train.tolist() for f in utc] == [f.train.tolist() for f in ist]
    assert [f.test_start for f in utc] == [f.test_start for f in ist]


_row = st.tuples(
    st.integers(0, 11),  # day
    st.integers(0, 374),  # minute of the session
    st.integers(1, 900),  # label horizon in minutes (may run into later days)
)


@given(
    rows=st.lists(_row, min_size=8, max_size=80),
    window=st.sampled_from(["expanding", "rolling"]),
    train_days=st.integers(1, 6),
    test_days=st.integers(1, 4),
    embargo=st.integers(0, 600),
)
def test_walk_forward_folds_never_leak_labels_into_test(
    rows: list[tuple[int, int, int]],
    window: str,
    train_days: int,
    test_days: int,
    embargo: int,
) -> None:
    ts = [SESSION_OPEN + timedelta(days=d, minutes=m) for d, m, _ in rows]
    exits = [t + timedelta(minutes=h) for t, (_, _, h) in zip(ts, rows, strict=True)]
    ts_event, exit_ts = _series("ts_event", ts), _series("exit_ts", exits)
    days = sorted({_ist_day(t) for t in ts})
    config = WalkForwardConfig(window, train_days, test_days, embargo)  # type: ignore[arg-type]

    folds = _or_error(lambda: walk_forward_folds(ts_event, exit_ts, config))

    if isinstance(folds, ContractError):
        too_few = len(days) < train_days + 1
        assert folds.field == ("train_days" if too_few else "embargo_minutes")
        assume(False)
        return

    _assert_no_leakage(folds, ts_event, exit_ts)
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == [
        i for i, t in enumerate(ts) if _ist_day(t) > days[train_days - 1]
    ]
    for before, after in itertools.pairwise(folds):
        assert before.test_end < after.test_start
    for fold in folds:
        test_start = fold.test_start
        first_test_day = days.index(_ist_day(ts[int(fold.test[0])]))
        first_train_day = 0 if window == "expanding" else first_test_day - train_days
        window_rows = {
            i
            for i, t in enumerate(ts)
            if first_train_day <= days.index(_ist_day(t)) < first_test_day
        }
        leaky = {
            i
            for i in window_rows
            if exits[i] >= test_start or ts[i] >= test_start - timedelta(minutes=embargo)
        }
        assert set(fold.train.tolist()) == window_rows - leaky  # purged exactly the leaky rows
        assert fold.purged == len(leaky)
        assert fold.test_start == min(ts[i] for i in fold.test)
        assert fold.train_end == max(ts[i] for i in fold.train)


@given(
    rows=st.lists(_row, min_size=3, max_size=80),
    validation=st.floats(0.05, 0.45),
    calibration=st.floats(0.05, 0.45),
    embargo=st.integers(0, 120),
)
def test_purged_inner_split_slices_are_time_ordered_and_purged(
    rows: list[tuple[int, int, int]], validation: float, calibration: float, embargo: int
) -> None:
    ts = [SESSION_OPEN + timedelta(days=d, minutes=m) for d, m, _ in rows]
    exits = [t + timedelta(minutes=h) for t, (_, _, h) in zip(ts, rows, strict=True)]
    ts_event, exit_ts = _series("ts_event", ts), _series("exit_ts", exits)

    split = _or_error(
        lambda: purged_inner_split(
            ts_event,
            exit_ts,
            validation_fraction=validation,
            calibration_fraction=calibration,
            embargo_minutes=embargo,
        )
    )

    if isinstance(split, ContractError):
        assert split.field in {"fit", "validation", "calibration"}
        assume(False)
        return

    slices = [split.fit, split.validation, split.calibration]
    for earlier, later in itertools.pairwise(slices):
        later_start = min(ts[i] for i in later)
        assert max(exits[i] for i in earlier) < later_start
        assert max(ts[i] for i in earlier) < later_start - timedelta(minutes=embargo)
    used = np.concatenate(slices)
    assert len(set(used.tolist())) == used.size
    assert used.size + split.purged == len(rows)


def test_purged_inner_split_keeps_one_timestamp_in_one_slice() -> None:
    # Ten timestamps with four instruments each: the cut must fall between timestamps.
    ts = [SESSION_OPEN + timedelta(minutes=m) for m in range(10) for _ in range(4)]
    ts_event = _series("ts_event", ts)
    exit_ts = _series("exit_ts", [t + timedelta(seconds=30) for t in ts])

    split = purged_inner_split(
        ts_event, exit_ts, validation_fraction=0.15, calibration_fraction=0.15
    )

    stamps = [{ts[i] for i in s} for s in (split.fit, split.validation, split.calibration)]
    assert stamps[0].isdisjoint(stamps[1])
    assert stamps[1].isdisjoint(stamps[2])
    assert split.fit.size + split.validation.size + split.calibration.size == len(ts)


@pytest.mark.parametrize(
    ("validation", "calibration", "field"),
    [
        (0.0, 0.2, "validation_fraction"),
        (0.5, 0.5, "calibration_fraction"),
        (0.2, 1.0, "calibration_fraction"),
    ],
)
def test_purged_inner_split_bad_fractions_raise(
    validation: float, calibration: float, field: str
) -> None:
    ts_event, exit_ts, _ = _rows(days=1, per_day=20)

    with pytest.raises(ContractError) as error:
        purged_inner_split(
            ts_event, exit_ts, validation_fraction=validation, calibration_fraction=calibration
        )

    assert error.value.field == field


def test_purged_inner_split_one_timestamp_raises_empty_slice() -> None:
    ts_event = _series("ts_event", [SESSION_OPEN] * 5)
    exit_ts = _series("exit_ts", [SESSION_OPEN + timedelta(minutes=5)] * 5)

    with pytest.raises(ContractError) as error:
        purged_inner_split(ts_event, exit_ts, validation_fraction=0.2, calibration_fraction=0.2)

    assert error.value.field == "fit"
