"""The Parquet lake: one zstd Parquet file per (table, trading day), hive-partitioned by date.

Layout (the shared contract): ``<root>/<table>/date=YYYY-MM-DD/part-0.parquet``. A partition is
written whole, atomically and idempotently: the frame goes to a temp file in the partition's own
directory, is fsynced, and replaces ``part-0.parquet`` with one ``os.replace``; the directory is
then fsynced. A reader therefore sees the old partition or the new one, never a torn file, and
writing a day again replaces it instead of adding rows. Concurrent writers of one partition: the
last ``os.replace`` wins.

The lake stores frames; it does not validate them against a schema (callers do, e.g. with
``schemas.CandleFrame``). Candle tables are partitioned by the IST date of ``ts_event``.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Final

import polars as pl

from data_contracts.errors import ContractError

__all__ = ["PARTITION_COLUMN", "PART_FILE", "Lake"]

_OWNER = "Lake"
PART_FILE: Final = "part-0.parquet"
PARTITION_COLUMN: Final = "date"
_PREFIX: Final = f"{PARTITION_COLUMN}="
_TABLE = re.compile(r"[a-z0-9_]+")
_TMP_SUFFIX: Final = ".tmp"
_PATH_COLUMN: Final = "__lake_path__"
_DAY_IN_PATH: Final = rf"{_PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})[\\/]{re.escape(PART_FILE)}$"
_COMPRESSION: Final = "zstd"


class Lake:
    """A Parquet lake rooted at ``root`` (``var/lake/`` in the default layout)."""

    def __init__(self, root: Path) -> None:
        if not isinstance(root, Path):
            raise ContractError(_OWNER, "root", root, "must be a pathlib.Path")
        self._root = root

    def __repr__(self) -> str:
        return f"Lake({str(self._root)!r})"

    @property
    def root(self) -> Path:
        return self._root

    def partition_path(self, table: str, day: date) -> Path:
        """Where the partition of ``table`` for ``day`` lives (whether or not it exists)."""
        return self._table_dir(table) / f"{_PREFIX}{_day(day).isoformat()}" / PART_FILE

    def write(self, table: str, day: date, frame: pl.DataFrame) -> Path:
        """Replace the partition of ``table`` for ``day`` with ``frame``; return its path.

        An empty frame still writes a partition (with the frame's columns), so the day is known to
        be done. The frame must not carry the partition column ``date`` (it comes from the path).
        """
        path = self.partition_path(table, day)
        if not isinstance(frame, pl.DataFrame):
            raise ContractError(_OWNER, "frame", type(frame).__name__, "must be a polars DataFrame")
        reserved = [c for c in (PARTITION_COLUMN, _PATH_COLUMN) if c in frame.columns]
        if reserved:
            raise ContractError(
                _OWNER,
                "frame",
                frame.columns,
                f"must not have a {reserved[0]!r} column (the lake adds it when scanning)",
                f"{table} {day.isoformat()}",
            )
        directory = path.parent
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f"{PART_FILE}.{os.getpid()}.{uuid.uuid4().hex}{_TMP_SUFFIX}"
        try:
            with tmp.open("xb") as handle:
                frame.write_parquet(handle, compression=_COMPRESSION)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_directory(directory)
        _fsync_directory(directory.parent)  # a new partition directory is an entry here
        return path

    def upsert_instruments(self, table: str, day: date, frame: pl.DataFrame) -> Path:
        """Write ``frame`` into a day partition that holds other instruments too: rows of the
        instruments in ``frame`` are replaced, every other instrument's rows are kept, so merging
        the same data twice never duplicates a row."""
        return self.write(table, day, self.merged_instruments(table, day, frame))

    def merged_instruments(self, table: str, day: date, frame: pl.DataFrame) -> pl.DataFrame:
        """The partition :meth:`upsert_instruments` would write (nothing is written)."""
        existing = self.read(table, day)
        if existing is not None:
            others = existing.filter(
                ~pl.col("instrument_token").is_in(frame["instrument_token"].implode())
            )
            frame = pl.concat([others, frame])
        return frame.sort("instrument_token", "ts_event")

    def read(self, table: str, day: date) -> pl.DataFrame | None:
        """The partition as written (without a ``date`` column), or None if it does not exist."""
        path = self.partition_path(table, day)
        try:
            return pl.read_parquet(path)
        except FileNotFoundError:
            return None

    def scan(self, table: str, start: date, end: date) -> pl.LazyFrame:
        """Every row of the partitions with ``start <= date <= end``, plus the ``date`` column.

        Only the partitions in the range are opened (the range is resolved to files first). With
        no partition in range the frame is empty, with the table's columns if it has any
        partition, else only ``date``.
        """
        first, last = _day(start), _day(end)
        if last < first:
            raise ContractError(_OWNER, "end", last, f"must be >= start {first}", table)
        all_days = self.days(table)
        wanted = [d for d in all_days if first <= d <= last]
        if not wanted:
            schema: dict[str, pl.DataType] = {}
            if all_days:
                schema.update(pl.read_parquet_schema(self.partition_path(table, all_days[0])))
            schema[PARTITION_COLUMN] = pl.Date()
            return pl.LazyFrame(schema=schema)
        # The date comes from our own path layout rather than polars' hive parsing, which would
        # also read any key=value directory above the root (e.g. /data/env=prod/lake) as a column.
        paths = [self.partition_path(table, d) for d in wanted]
        return (
            pl.scan_parquet(paths, include_file_paths=_PATH_COLUMN)
            .with_columns(
                pl.col(_PATH_COLUMN)
                .str.extract(_DAY_IN_PATH)
                .str.to_date("%Y-%m-%d")
                .alias(PARTITION_COLUMN)
            )
            .drop(_PATH_COLUMN)
        )

    def days(self, table: str) -> list[date]:
        """The days ``table`` has a partition for, ascending (empty if the table does not exist).

        Directories without a ``part-0.parquet`` (a crashed first write) are not days.
        """
        table_dir = self._table_dir(table)
        if not table_dir.is_dir():
            return []
        found: list[date] = []
        for entry in table_dir.iterdir():
            if not entry.name.startswith(_PREFIX):
                continue
            text = entry.name.removeprefix(_PREFIX)
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise ContractError(
                    _OWNER, "partition", entry.name, "must be named date=YYYY-MM-DD", table
                ) from None
            if (entry / PART_FILE).is_file():
                found.append(day)
        return sorted(found)

    def delete(self, table: str, day: date) -> None:
        """Remove the partition of ``table`` for ``day``; deleting a missing one does nothing."""
        path = self.partition_path(table, day)
        path.unlink(missing_ok=True)
        # Leave the directory if something else is in it (another writer's temp file).
        with contextlib.suppress(OSError):
            path.parent.rmdir()
        if path.parent.parent.is_dir():
            _fsync_directory(path.parent.parent)

    def _table_dir(self, table: str) -> Path:
        if not isinstance(table, str) or _TABLE.fullmatch(table) is None:
            raise ContractError(
                _OWNER, "table", table, "must be lower-case letters, digits and '_' only"
            )
        return self._root / table


def _day(value: object) -> date:
    # datetime is a subclass of date; a partition is a calendar day, never an instant.
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ContractError(_OWNER, "day", value, "must be a datetime.date (not a datetime)")
    return value


def _fsync_directory(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable (a no-op where unsupported)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:  # e.g. Windows cannot open a directory
        return
    try:
        # Some file systems refuse fsync on a directory; the rename has happened regardless.
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
