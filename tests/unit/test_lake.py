"""The Parquet lake: layout, atomic and idempotent partition writes, reads and scans."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from models.lake import Lake

DAY = date(2024, 1, 1)
T0 = datetime(2024, 1, 1, 3, 46, tzinfo=UTC)


def _frame(rows: int, start: float = 100.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "instrument_token": [256265] * rows,
            "ts_event": [T0 + timedelta(minutes=i) for i in range(rows)],
            "close": [start + i for i in range(rows)],
        },
        schema={
            "instrument_token": pl.Int64,
            "ts_event": pl.Datetime("us", "UTC"),
            "close": pl.Float64,
        },
    )


def _leftovers(lake: Lake) -> list[Path]:
    return sorted(lake.root.rglob("*.tmp"))


def test_lake_write_uses_hive_layout_with_zstd(tmp_path: Path) -> None:
    lake = Lake(tmp_path)

    path = lake.write("candles_1m", DAY, _frame(3))

    assert path == tmp_path / "candles_1m" / "date=2024-01-01" / "part-0.parquet"
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_lake_read_after_write_round_trips(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    frame = _frame(5)
    lake.write("candles_1m", DAY, frame)

    read = lake.read("candles_1m", DAY)

    assert read is not None
    assert read.equals(frame)
    assert read.schema == frame.schema


def test_lake_read_missing_partition_is_none(tmp_path: Path) -> None:
    assert Lake(tmp_path).read("candles_1m", DAY) is None


def test_lake_rewrite_replaces_partition_without_duplicating_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("candles_1m", DAY, _frame(5))

    lake.write("candles_1m", DAY, _frame(5, start=200.0))
    lake.write("candles_1m", DAY, _frame(5, start=200.0))

    read = lake.read("candles_1m", DAY)
    assert read is not None
    assert read.height == 5
    assert read["close"].to_list() == [200.0, 201.0, 202.0, 203.0, 204.0]
    assert lake.scan("candles_1m", DAY, DAY).collect().height == 5
    assert list((tmp_path / "candles_1m" / "date=2024-01-01").iterdir()) == [
        tmp_path / "candles_1m" / "date=2024-01-01" / "part-0.parquet"
    ]


def test_lake_empty_frame_still_marks_the_day_done(tmp_path: Path) -> None:
    lake = Lake(tmp_path)

    lake.write("candles_1m", DAY, _frame(0))

    read = lake.read("candles_1m", DAY)
    assert lake.days("candles_1m") == [DAY]
    assert read is not None
    assert read.height == 0
    assert read.schema == _frame(0).schema


def test_lake_failed_write_keeps_previous_partition_and_leaves_no_temp_file(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path)
    lake.write("candles_1m", DAY, _frame(3))
    # An Object column cannot be written to Parquet: the writer fails after the temp file exists.
    unwritable = pl.DataFrame({"x": [object()]}, schema={"x": pl.Object})

    with pytest.raises(pl.exceptions.ComputeError, match="Object"):
        lake.write("candles_1m", DAY, unwritable)

    read = lake.read("candles_1m", DAY)
    assert read is not None
    assert read.equals(_frame(3))
    assert _leftovers(lake) == []


def test_lake_ignores_a_temp_file_left_by_a_crashed_writer(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("candles_1m", DAY, _frame(3))
    crashed = tmp_path / "candles_1m" / "date=2024-01-01" / "part-0.parquet.999.dead.tmp"
    crashed.write_bytes(b"PAR1 half a file")
    first_write_crashed = tmp_path / "candles_1m" / "date=2024-01-02" / "part-0.parquet.9.x.tmp"
    first_write_crashed.parent.mkdir()
    first_write_crashed.write_bytes(b"PAR1")

    read = lake.read("candles_1m", DAY)

    assert read is not None
    assert read.equals(_frame(3))
    assert lake.days("candles_1m") == [DAY]
    assert lake.scan("candles_1m", DAY, date(2024, 1, 2)).collect().height == 3


def test_lake_concurrent_writers_last_one_wins_and_no_file_is_torn(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    frames = [_frame(200, start=1000.0 * i) for i in range(1, 9)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda f: lake.write("candles_1m", DAY, f), frames * 3))

    read = lake.read("candles_1m", DAY)
    assert read is not None
    assert any(read.equals(frame) for frame in frames)
    assert _leftovers(lake) == []


def test_lake_scan_returns_only_days_in_range_with_date_column(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    for offset in range(5):
        lake.write("candles_1m", DAY + timedelta(days=offset), _frame(2, start=float(offset)))

    scanned = lake.scan("candles_1m", date(2024, 1, 2), date(2024, 1, 4)).collect()

    assert scanned.columns == ["instrument_token", "ts_event", "close", "date"]
    assert scanned["date"].dtype == pl.Date
    assert scanned["date"].unique().sort().to_list() == [
        date(2024, 1, 2),
        date(2024, 1, 3),
        date(2024, 1, 4),
    ]
    assert scanned.height == 6


def test_lake_scan_of_range_without_partitions_is_empty_with_table_columns(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path)
    lake.write("candles_1m", DAY, _frame(2))

    scanned = lake.scan("candles_1m", date(2025, 1, 1), date(2025, 1, 31)).collect()
    unknown = lake.scan("features", DAY, DAY).collect()

    assert scanned.height == 0
    assert scanned.columns == ["instrument_token", "ts_event", "close", "date"]
    assert unknown.columns == ["date"]
    assert unknown.height == 0


def test_lake_scan_under_a_root_with_key_value_directories_adds_only_date(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "env=prod" / "lake")
    lake.write("candles_1m", DAY, _frame(2))

    scanned = lake.scan("candles_1m", DAY, DAY).collect()

    assert scanned.columns == ["instrument_token", "ts_event", "close", "date"]
    assert scanned.height == 2


def test_lake_days_lists_partitions_in_order(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    for day in (date(2024, 3, 1), date(2024, 1, 2), date(2024, 2, 1)):
        lake.write("features", day, _frame(1))

    assert lake.days("features") == [date(2024, 1, 2), date(2024, 2, 1), date(2024, 3, 1)]
    assert lake.days("candles_1m") == []


def test_lake_delete_removes_partition_and_is_idempotent(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("candles_1m", DAY, _frame(2))
    lake.write("candles_1m", DAY + timedelta(days=1), _frame(2))

    lake.delete("candles_1m", DAY)
    lake.delete("candles_1m", DAY)

    assert lake.read("candles_1m", DAY) is None
    assert lake.days("candles_1m") == [DAY + timedelta(days=1)]
    assert not (tmp_path / "candles_1m" / "date=2024-01-01").exists()


@pytest.mark.parametrize("table", ["Candles", "candles-1m", "../etc", "", "a/b", "candles 1m"])
def test_lake_invalid_table_name_raises_contract_error(tmp_path: Path, table: str) -> None:
    with pytest.raises(ContractError, match=r"Lake\.table must be lower-case"):
        Lake(tmp_path).write(table, DAY, _frame(1))


@pytest.mark.parametrize("day", [datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01"])
def test_lake_day_that_is_not_a_date_raises_contract_error(tmp_path: Path, day: object) -> None:
    with pytest.raises(ContractError, match=r"Lake\.day must be a datetime\.date"):
        Lake(tmp_path).read("candles_1m", day)  # type: ignore[arg-type]


def test_lake_frame_with_date_column_raises_contract_error(tmp_path: Path) -> None:
    frame = _frame(1).with_columns(date=pl.lit(DAY))

    with pytest.raises(ContractError, match=r"Lake\.frame must not have a 'date' column"):
        Lake(tmp_path).write("candles_1m", DAY, frame)


def test_lake_scan_with_end_before_start_raises_contract_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"Lake\.end must be >= start"):
        Lake(tmp_path).scan("candles_1m", date(2024, 1, 2), DAY)


def test_lake_badly_named_partition_directory_raises_contract_error(tmp_path: Path) -> None:
    (tmp_path / "candles_1m" / "date=yesterday").mkdir(parents=True)

    with pytest.raises(ContractError, match="date=yesterday"):
        Lake(tmp_path).days("candles_1m")


_frames = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=2**40),
        st.floats(allow_nan=True, allow_infinity=True),
        st.one_of(st.none(), st.integers(min_value=-(2**62), max_value=2**62)),
        st.text(max_size=8),
    ),
    max_size=30,
).map(
    lambda rows: pl.DataFrame(
        rows,
        schema={"token": pl.Int64, "price": pl.Float64, "oi": pl.Int64, "note": pl.String},
        orient="row",
    )
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=_frames, offset=st.integers(min_value=0, max_value=3650))
def test_lake_round_trip_preserves_any_frame(
    tmp_path: Path, frame: pl.DataFrame, offset: int
) -> None:
    lake = Lake(tmp_path)
    day = DAY + timedelta(days=offset)

    lake.write("prop", day, frame)

    read = lake.read("prop", day)
    assert read is not None
    assert read.equals(frame, null_equal=True)
    scanned = lake.scan("prop", day, day).collect()
    assert scanned.drop("date").equals(frame, null_equal=True)
    assert set(scanned["date"].to_list()) <= {day}


def test_upsert_instruments_replaces_only_the_incoming_instruments(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    day = date(2026, 7, 1)
    ts = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)

    def bars(token: int, close: float) -> pl.DataFrame:
        return pl.DataFrame({"instrument_token": [token], "ts_event": [ts], "close": [close]})

    lake.write("candles_5m", day, pl.concat([bars(1, 10.0), bars(2, 20.0)]))

    lake.upsert_instruments("candles_5m", day, bars(2, 21.0))
    lake.upsert_instruments("candles_5m", day, bars(2, 21.0))

    stored = lake.read("candles_5m", day)
    assert stored is not None
    assert stored.sort("instrument_token")["close"].to_list() == [10.0, 21.0]
