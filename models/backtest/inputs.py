"""The backtest's inputs, checked once and turned into numpy arrays.

``read_bars`` sorts bars by (instrument, close time) into one array per column; ``read_entries``
finds each entry's decision bar and the first bar at or after its exit deadline. Anything that
breaks the contract raises a ContractError naming the frame and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.enums import ChargeSegment
from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP

__all__ = [
    "DEADLINE_REASONS",
    "ENTRY_KINDS",
    "ENTRY_SCHEMA",
    "SEGMENTS",
    "Bars",
    "Entries",
    "ist_days",
    "read_bars",
    "read_entries",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

BARS: Final = "bars"
ENTRIES: Final = "entries"
# Codes used in the arrays; the strings are what the frames carry.
SEGMENTS: Final = tuple(segment.value for segment in ChargeSegment)
DEADLINE_REASONS: Final = ("time", "square_off", "expiry")

_INT = "an integer"
_FLOAT = "a float"
_TIME = "a UTC datetime"
_TEXT = "a string"
_BAR_COLUMNS: Final = {
    "instrument_token": _INT,
    "ts_event": _TIME,
    "open": _FLOAT,
    "high": _FLOAT,
    "low": _FLOAT,
    "close": _FLOAT,
}
_QUOTE_COLUMNS: Final = ("bid", "ask")
# The entries frame as polars dtypes (for building one: strategies, tests).
ENTRY_SCHEMA: Final = {
    "instrument_token": pl.Int64(),
    "ts_decision": UTC_TIMESTAMP,
    "direction": pl.Int8(),
    "take_profit": pl.Float64(),
    "stop_loss": pl.Float64(),
    "exit_deadline": UTC_TIMESTAMP,
    "deadline_reason": pl.String(),
    "lot_size": pl.Int64(),
    "tick_size": pl.Float64(),
    "segment": pl.String(),
    "lots": pl.Int64(),
}
_KIND_OF: Final = {pl.Int64: _INT, pl.Int8: _INT, pl.Float64: _FLOAT, pl.Datetime: _TIME}
ENTRY_KINDS: Final = {
    name: _KIND_OF.get(type(dtype), _TEXT) for name, dtype in ENTRY_SCHEMA.items()
}
_NULLABLE: Final = frozenset({"lots", "bid", "ask"})
_US_PER_DAY: Final = 86_400_000_000
# IST is a fixed UTC+05:30 (no daylight saving), so its calendar day is integer arithmetic.
_IST_OFFSET_US: Final = 330 * 60_000_000


@dataclass(frozen=True, slots=True)
class Bars:
    """Bars sorted by (instrument, ts); ``block_end[i]`` is one past the last bar of row i's
    instrument. ``bid``/``ask`` are NaN where the data has no quote."""

    ts: Ints  # close time, microseconds since the epoch (UTC)
    open: Floats
    high: Floats
    low: Floats
    close: Floats
    bid: Floats
    ask: Floats
    block_end: Ints
    tokens: Ints  # one per instrument, ascending
    starts: Ints  # first row of each instrument in ``tokens`` order

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class Entries:
    """Entries in input order, with ``decision`` (the decision bar's row in :class:`Bars`) and
    ``deadline_bar`` (the first bar at or after the exit deadline, or -1 when data ends first)."""

    frame: pl.DataFrame
    long: npt.NDArray[np.bool_]
    take_profit: Floats
    stop_loss: Floats
    lot_size: Ints
    tick: Floats
    segment: npt.NDArray[np.int8]  # index into SEGMENTS
    deadline_reason: npt.NDArray[np.int8]  # index into DEADLINE_REASONS
    lots: Ints  # 0 where null (size from the portfolio)
    decision: Ints
    deadline_bar: Ints
    last_bar: Ints  # the instrument's last bar

    def __len__(self) -> int:
        return len(self.long)


def read_bars(bars: pl.DataFrame) -> Bars:
    """Check the bar columns and return them as sorted arrays."""
    _require(bars, BARS, _BAR_COLUMNS)
    quotes = [name for name in _QUOTE_COLUMNS if name in bars.columns]
    _require(bars, BARS, dict.fromkeys(quotes, _FLOAT))
    sorted_bars = bars.select(
        pl.col("instrument_token").cast(pl.Int64),
        _micros("ts_event"),
        *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close", *quotes)),
    ).sort("instrument_token", "ts_event")
    token = sorted_bars["instrument_token"].to_numpy()
    ts = sorted_bars["ts_event"].to_numpy()  # microseconds
    prices = {c: sorted_bars[c].to_numpy() for c in ("open", "high", "low", "close")}
    for name, values in prices.items():
        rule = "must be finite and > 0"
        _check(~(np.isfinite(values) & (values > 0)), name, values, rule, BARS, token)
    _check(
        (prices["high"] < np.maximum(prices["open"], prices["close"]))
        | (prices["low"] > np.minimum(prices["open"], prices["close"])),
        "high",
        prices["high"],
        "must be >= open, close and low, and low <= open, close",
        BARS,
        token,
    )
    quote = {c: _quote(sorted_bars, c, token) for c in _QUOTE_COLUMNS}
    _check(quote["bid"] > quote["ask"], "bid", quote["bid"], "must be <= ask", BARS, token)
    same = (token[1:] == token[:-1]) & (ts[1:] == ts[:-1])
    rule = "must be unique per instrument_token"
    _check(same, "ts_event", ts.astype("datetime64[us]")[1:], rule, BARS, token[1:])
    starts = np.flatnonzero(np.diff(token, prepend=token[:1] - 1)).astype(np.int64)
    sizes = np.diff(np.append(starts, len(token)))
    return Bars(
        ts=ts,
        block_end=np.repeat(starts + sizes, sizes),
        tokens=token[starts],
        starts=starts,
        bid=quote["bid"],
        ask=quote["ask"],
        **prices,
    )


def read_entries(entries: pl.DataFrame, bars: Bars) -> Entries:
    """Check the entry columns and locate every entry's decision and deadline bars."""
    _require(entries, ENTRIES, ENTRY_KINDS)
    frame = entries.with_columns(
        *(pl.col(c).cast(pl.Int64) for c in ("instrument_token", "lot_size", "lots")),
        pl.col("direction").cast(pl.Int8),
        *(pl.col(c).cast(pl.Float64) for c in ("take_profit", "stop_loss", "tick_size")),
        *(pl.col(c).dt.cast_time_unit("us") for c in ("ts_decision", "exit_deadline")),
    )
    direction = frame["direction"].to_numpy()
    _check((direction != 1) & (direction != -1), "direction", direction, "must be +1 or -1")
    levels = {c: frame[c].to_numpy() for c in ("take_profit", "stop_loss")}
    for name, values in levels.items():
        rule = "must be a price >= 0 (+inf allowed for no level)"
        _check(~(values >= 0), name, values, rule)
    lot_size = frame["lot_size"].to_numpy()
    _check(lot_size < 1, "lot_size", lot_size, "must be >= 1")
    tick = frame["tick_size"].to_numpy()
    _check(~(np.isfinite(tick) & (tick > 0)), "tick_size", tick, "must be finite and > 0")
    lots = frame["lots"].fill_null(0).to_numpy()
    _check(frame["lots"].is_not_null().to_numpy() & (lots < 1), "lots", lots, "must be >= 1")
    segment = _codes(frame, "segment", SEGMENTS)
    delivery = SEGMENTS.index(ChargeSegment.DELIVERY.value)
    rule = "must be +1 for segment delivery (no short selling in delivery)"
    _check((segment == delivery) & (direction == -1), "direction", direction, rule)
    decision_ts = _micros_of(frame, "ts_decision")
    deadline_ts = _micros_of(frame, "exit_deadline")
    rule = "must be after ts_decision"
    _check(deadline_ts <= decision_ts, "exit_deadline", frame["exit_deadline"].to_numpy(), rule)
    decision, deadline_bar, last_bar = _locate(frame, bars, decision_ts, deadline_ts)
    return Entries(
        frame=entries,
        long=direction == 1,
        take_profit=levels["take_profit"],
        stop_loss=levels["stop_loss"],
        lot_size=lot_size,
        tick=tick,
        segment=segment,
        deadline_reason=_codes(frame, "deadline_reason", DEADLINE_REASONS),
        lots=lots,
        decision=decision,
        deadline_bar=deadline_bar,
        last_bar=last_bar,
    )


def ist_days(ts: Ints) -> npt.NDArray[np.datetime64]:
    """The IST calendar day of each UTC microsecond timestamp."""
    return ((ts + _IST_OFFSET_US) // _US_PER_DAY).astype("datetime64[D]")


def _locate(
    frame: pl.DataFrame, bars: Bars, decision_ts: Ints, deadline_ts: Ints
) -> tuple[Ints, Ints, Ints]:
    """Per instrument (a loop over instruments, not bars): the decision bar's row, the first
    row at or after the deadline (-1 if none) and the instrument's last row."""
    token = frame["instrument_token"].to_numpy()
    n = len(token)
    decision = np.full(n, -1, dtype=np.int64)
    deadline_bar = np.full(n, -1, dtype=np.int64)
    last_bar = np.full(n, -1, dtype=np.int64)
    order = np.argsort(token, kind="stable")
    grouped = token[order]
    group_starts = np.flatnonzero(np.diff(grouped, prepend=grouped[:1] - 1))
    group_stops = np.append(group_starts[1:], n)[: len(group_starts)]
    for first, stop in zip(group_starts, group_stops, strict=True):
        rows = order[first:stop]
        block = np.searchsorted(bars.tokens, token[rows[0]])
        if block == len(bars.tokens) or bars.tokens[block] != token[rows[0]]:
            continue  # no bars at all: reported below as an unmatched ts_decision
        start = bars.starts[block]
        times = bars.ts[start : bars.block_end[start]]
        at = np.searchsorted(times, decision_ts[rows])
        found = (at < len(times)) & (times[np.minimum(at, len(times) - 1)] == decision_ts[rows])
        decision[rows] = np.where(found, start + at, -1)
        after = np.searchsorted(times, deadline_ts[rows], side="left")
        deadline_bar[rows] = np.where(after < len(times), start + after, -1)
        last_bar[rows] = start + len(times) - 1
    if (decision < 0).any():
        rule = "must be the ts_event of a bar of the same instrument_token"
        shown = np.array(frame["ts_decision"].to_list(), dtype=object)  # aware datetimes
        _check(decision < 0, "ts_decision", shown, rule, subject=token)
    return decision, deadline_bar, last_bar


def _require(frame: pl.DataFrame, owner: str, columns: dict[str, str]) -> None:
    for name, kind in columns.items():
        if name not in frame.columns:
            raise ContractError(owner, name, None, f"is required ({kind} column) but missing")
        dtype = frame.schema[name]
        ok = {
            _INT: dtype.is_integer(),
            _FLOAT: dtype.is_float(),
            _TEXT: dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum),
            _TIME: isinstance(dtype, pl.Datetime) and dtype.time_zone == "UTC",
        }[kind]
        if not ok:
            raise ContractError(owner, name, str(dtype), f"must be {kind} column")
        if name not in _NULLABLE and frame[name].null_count():
            raise ContractError(owner, name, None, "must have no nulls")


def _micros(column: str) -> pl.Expr:
    return pl.col(column).dt.cast_time_unit("us").cast(pl.Int64)


def _micros_of(frame: pl.DataFrame, column: str) -> Ints:
    values: Ints = frame[column].cast(pl.Int64).to_numpy()
    return values


def _quote(frame: pl.DataFrame, column: str, token: Ints) -> Floats:
    if column not in frame.columns:
        return np.full(frame.height, np.nan)
    values: Floats = frame[column].fill_null(np.nan).to_numpy()
    bad = ~np.isnan(values) & ~(np.isfinite(values) & (values > 0))
    _check(bad, column, values, "must be finite and > 0 (or null)", BARS, token)
    return values


def _codes(frame: pl.DataFrame, column: str, allowed: tuple[str, ...]) -> npt.NDArray[np.int8]:
    text = frame[column].cast(pl.String)
    unknown = ~text.is_in(allowed)
    if unknown.any():
        value = text.filter(unknown)[0]
        raise ContractError(ENTRIES, column, value, f"must be one of {{{', '.join(allowed)}}}")
    mapping = {name: code for code, name in enumerate(allowed)}
    codes: npt.NDArray[np.int8] = text.replace_strict(mapping, return_dtype=pl.Int8).to_numpy()
    return codes


def _check(
    bad: npt.NDArray[np.bool_],
    column: str,
    values: npt.NDArray[np.generic],
    rule: str,
    owner: str = ENTRIES,
    subject: npt.NDArray[np.generic] | None = None,
) -> None:
    """Raise naming the column and the first offending value (and row) when any row is bad."""
    if not bad.any():
        return
    row = int(np.argmax(bad))
    # Bars are checked after sorting, so only entries have a meaningful row number.
    where = [f"row {row}"] if owner == ENTRIES else []
    if subject is not None:
        where.append(f"instrument_token {subject[row]}")
    value = values[row]
    shown = value.item() if isinstance(value, np.generic) else value
    raise ContractError(owner, column, shown, rule, ", ".join(where) or None)
