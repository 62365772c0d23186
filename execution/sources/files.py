"""The user-files source: candle files (CSV or Parquet) in, CandleFrames out.

A :class:`ColumnMapping` says where everything is in a file: the timestamp (one column, or a date
and a time column), OHLC, optional volume and open interest, the symbol, the source's time zone,
whether a timestamp labels the bar's start or its end, and the bar interval. :data:`PRESETS` holds
mappings for the formats we know (Kite's historical candles, Yahoo's multi-header CSV, a
``Date,Time`` IST layout and epoch seconds); :func:`detect_preset` recognises them by their header.

:func:`import_candles` never cleans data. Every data row of the file ends up either as a candle or
as a row of ``ImportResult.rejected`` with a reason: rows that cannot be parsed, that break the OHLC
invariants, that carry NaN, infinite or non-positive prices, or that repeat an earlier row's
``(instrument_token, ts_event)``. Bars outside market hours, gaps and odd prices are kept: the
data-quality checks report them.

``ts_event`` is the bar's close in UTC: start + interval when the file labels bar starts, the
timestamp itself when it labels bar ends, and the session close (15:30 IST) of the bar's date for
daily bars. Instrument tokens come from an instruments table when one is given, else they are
synthetic (:func:`synthetic_token`).

:class:`ImportedMarketData` and :class:`LakeMarketData` serve imported candles through the
``MarketDataSource`` port.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from data_contracts.enums import Exchange, InstrumentType, SegmentId
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import (
    Instrument,
    InstrumentMaster,
    instrument_token,
    segment_id_for,
    split_instrument_token,
)
from data_contracts.nse_calendar import REGULAR_CLOSE
from data_contracts.schemas import CANDLE_SCHEMA, UTC_TIMESTAMP, CandleFrame
from data_contracts.timeutil import IST, require_aware
from models.data_quality.quarantine import CandleReader
from models.lake import Lake

__all__ = [
    "DAILY",
    "EPOCH_MILLISECONDS",
    "EPOCH_SECONDS",
    "INDEX_SYMBOLS",
    "PRESETS",
    "SYNTHETIC_EXCHANGE_TOKEN_MIN",
    "BarLabel",
    "ColumnMapping",
    "HeaderStyle",
    "ImportResult",
    "ImportedMarketData",
    "LakeMarketData",
    "detect_preset",
    "empty_candles",
    "import_candles",
    "synthetic_token",
]

_OWNER = "ColumnMapping"
DAILY: Final = timedelta(days=1)
EPOCH_SECONDS: Final = "epoch_s"
EPOCH_MILLISECONDS: Final = "epoch_ms"
_EPOCH_UNITS: Final = frozenset({EPOCH_SECONDS, EPOCH_MILLISECONDS})
_PARQUET_SUFFIXES: Final = frozenset({".parquet", ".pq"})
_CANDLE_COLUMNS: Final = (
    "instrument_token",
    "ts_event",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "oi",
)
_PRICES: Final = ("open", "high", "low", "close")
_RESERVED: Final = ("row", "reason", "duplicate_of", "_problem")
# Format directives whose parsed value does not print back to the same text (offsets, fractions).
_NO_ROUND_TRIP = re.compile(r"%[-:.]?[zZf]|%[0-9]f|%\.[0-9]f")
# Exchanges never publish prices with more than 4 decimals (currency); more is a float artefact.
_PRICE_DECIMALS: Final = 4

# Synthetic exchange tokens live in [2**23, 2**24): above every real Kite exchange token seen
# (about 1.1 million in 2026), and small enough that the instrument token fits the ticker's
# 4-byte field (2**24 * 256 = 2**32).
SYNTHETIC_EXCHANGE_TOKEN_MIN: Final = 1 << 23

# Spellings of the indices in files → (exchange, Kite's tradingsymbol for the index row).
_NIFTY_50 = (Exchange.NSE, "NIFTY 50")
_NIFTY_BANK = (Exchange.NSE, "NIFTY BANK")
_FIN = (Exchange.NSE, "NIFTY FIN SERVICE")
_MIDCP = (Exchange.NSE, "NIFTY MID SELECT")
_VIX = (Exchange.NSE, "INDIA VIX")
_SENSEX = (Exchange.BSE, "SENSEX")
INDEX_SYMBOLS: Final[Mapping[str, tuple[Exchange, str]]] = MappingProxyType(
    {
        "NIFTY": _NIFTY_50,
        "NIFTY50": _NIFTY_50,
        "NIFTY 50": _NIFTY_50,
        "^NSEI": _NIFTY_50,
        "BANKNIFTY": _NIFTY_BANK,
        "NIFTYBANK": _NIFTY_BANK,
        "NIFTY BANK": _NIFTY_BANK,
        "^NSEBANK": _NIFTY_BANK,
        "FINNIFTY": _FIN,
        "NIFTY FIN SERVICE": _FIN,
        "MIDCPNIFTY": _MIDCP,
        "NIFTY MID SELECT": _MIDCP,
        "INDIAVIX": _VIX,
        "INDIA VIX": _VIX,
        "^INDIAVIX": _VIX,
        "SENSEX": _SENSEX,
        "^BSESN": _SENSEX,
    }
)
_YAHOO_SUFFIXES: Final = {".NS": Exchange.NSE, ".BO": Exchange.BSE}


class BarLabel(StrEnum):
    """What a file's timestamp marks: the bar's start (Kite, Yahoo) or its end."""

    START = "start"
    END = "end"


class HeaderStyle(StrEnum):
    SINGLE = "single"
    """One header line (after ``skip_rows`` lines), then data."""
    YAHOO = "yahoo"
    """yfinance's three header lines: ``Price,<fields>``, ``Ticker,<ticker>…``, ``Datetime,,,``.
    The first column is named ``Datetime`` and the symbol comes from the Ticker line (``.NS`` →
    NSE, ``.BO`` → BSE)."""


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Where a candle file keeps each field, and how to read its time.

    Timestamp: either ``timestamp`` (one column) or ``date`` with an optional ``time`` column
    (joined as ``"<date> <time>"``; a date alone means daily bars). ``timestamp_format`` is a
    strftime format, :data:`EPOCH_SECONDS` / :data:`EPOCH_MILLISECONDS`, or None to let the parser
    infer ISO-8601 (with or without an offset). Timestamps with an offset keep it; naive ones (and
    epoch numbers) are wall-clock time in ``timezone``.

    Symbol: at most one of ``symbol`` (a column), ``symbol_value`` (a constant) or
    ``symbol_pattern`` (a regex with a ``symbol`` group, matched against the file name and
    upper-cased). With none, the header must supply it (:attr:`HeaderStyle.YAHOO`).

    ``interval`` None means infer it from the data (the smallest gap between consecutive bars
    within a day, which must also be the most common one; all-midnight timestamps mean daily).
    ``segment`` None means index segment (9) for the index spellings in :data:`INDEX_SYMBOLS`,
    else the exchange's own segment.
    """

    open: str
    high: str
    low: str
    close: str
    timestamp: str | None = None
    date: str | None = None
    time: str | None = None
    timestamp_format: str | None = None
    timezone: str = "Asia/Kolkata"
    label: BarLabel = BarLabel.START
    interval: timedelta | None = None
    volume: str | None = None
    oi: str | None = None
    symbol: str | None = None
    symbol_value: str | None = None
    symbol_pattern: str | None = None
    exchange: Exchange = Exchange.NSE
    segment: SegmentId | None = None
    header: HeaderStyle = HeaderStyle.SINGLE
    skip_rows: int = 0
    separator: str = ","

    def __post_init__(self) -> None:
        for name in ("open", "high", "low", "close"):
            _column_name(name, getattr(self, name))
        for name in ("timestamp", "date", "time", "volume", "oi", "symbol"):
            value = getattr(self, name)
            if value is not None:
                _column_name(name, value)
        self._check_time()
        self._check_symbol()
        if not isinstance(self.exchange, Exchange):
            raise ContractError(_OWNER, "exchange", self.exchange, "must be an Exchange")
        if self.segment is not None and not isinstance(self.segment, SegmentId):
            raise ContractError(_OWNER, "segment", self.segment, "must be a SegmentId or None")
        if not isinstance(self.header, HeaderStyle):
            raise ContractError(_OWNER, "header", self.header, "must be a HeaderStyle")
        if isinstance(self.skip_rows, bool) or not isinstance(self.skip_rows, int):
            raise ContractError(_OWNER, "skip_rows", self.skip_rows, "must be an integer >= 0")
        if self.skip_rows < 0:
            raise ContractError(_OWNER, "skip_rows", self.skip_rows, "must be an integer >= 0")
        if not isinstance(self.separator, str) or len(self.separator) != 1:
            raise ContractError(_OWNER, "separator", self.separator, "must be one character")

    def _check_time(self) -> None:
        if (self.timestamp is None) == (self.date is None):
            raise ContractError(
                _OWNER,
                "timestamp",
                self.timestamp,
                f"must be given, or else date (with an optional time) must be; date={self.date!r}",
            )
        if self.time is not None and self.date is None:
            raise ContractError(_OWNER, "time", self.time, "needs a date column as well")
        if self.timestamp_format is not None and not (
            isinstance(self.timestamp_format, str) and self.timestamp_format.strip()
        ):
            raise ContractError(
                _OWNER, "timestamp_format", self.timestamp_format, "must be a non-empty string"
            )
        if self.timestamp_format in _EPOCH_UNITS and self.timestamp is None:
            raise ContractError(
                _OWNER, "timestamp_format", self.timestamp_format, "needs a timestamp column"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ContractError(
                _OWNER, "timezone", self.timezone, "must be an IANA time zone name"
            ) from None
        if not isinstance(self.label, BarLabel):
            raise ContractError(_OWNER, "label", self.label, "must be a BarLabel (start or end)")
        if self.interval is not None:
            _check_interval(_OWNER, self.interval)
            if self.date is not None and self.time is None and self.interval != DAILY:
                raise ContractError(
                    _OWNER, "interval", self.interval, "must be 1 day for a date-only column"
                )

    def _check_symbol(self) -> None:
        given = [
            name
            for name in ("symbol", "symbol_value", "symbol_pattern")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ContractError(
                _OWNER, given[1], getattr(self, given[1]), f"cannot be combined with {given[0]}"
            )
        if self.symbol_value is not None and (
            not isinstance(self.symbol_value, str) or not self.symbol_value.strip()
        ):
            raise ContractError(
                _OWNER, "symbol_value", self.symbol_value, "must be a non-empty string"
            )
        if self.symbol_pattern is not None:
            try:
                pattern = re.compile(self.symbol_pattern)
            except (re.error, TypeError):
                raise ContractError(
                    _OWNER, "symbol_pattern", self.symbol_pattern, "must be a regular expression"
                ) from None
            if "symbol" not in pattern.groupindex:
                raise ContractError(
                    _OWNER, "symbol_pattern", self.symbol_pattern, "must have a (?P<symbol>…) group"
                )

    @property
    def is_date_only(self) -> bool:
        return self.date is not None and self.time is None


def _column_name(field_name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ContractError(_OWNER, field_name, value, "must be a column name (non-empty string)")


def _check_interval(owner: str, interval: object) -> timedelta:
    if not isinstance(interval, timedelta) or interval <= timedelta(0):
        raise ContractError(owner, "interval", interval, "must be a positive timedelta")
    if interval > DAILY or (interval < DAILY and DAILY % interval):
        raise ContractError(
            owner, "interval", interval, "must divide a day evenly, or be exactly 1 day"
        )
    return interval


# The name part of files like ADANIENT_2020-10-01_to_2025-09-30.csv or BankNifty_2018_to_2023.csv.
_NAME_BEFORE_UNDERSCORE = r"^(?P<symbol>[^_]+)_"

PRESETS: Final[Mapping[str, ColumnMapping]] = MappingProxyType(
    {
        # Kite historical candles as saved by most scripts: 2020-10-01 00:00:00+05:30, bar start.
        "kite": ColumnMapping(
            timestamp="timestamp",
            open="open",
            high="high",
            low="low",
            close="close",
            volume="volume",
            oi="oi",
            symbol_pattern=_NAME_BEFORE_UNDERSCORE,
        ),
        "kite_ohlcv": ColumnMapping(
            timestamp="timestamp",
            open="open",
            high="high",
            low="low",
            close="close",
            volume="volume",
            symbol_pattern=_NAME_BEFORE_UNDERSCORE,
        ),
        # yfinance download: three header lines, UTC timestamps with +00:00, bar start.
        "yahoo": ColumnMapping(
            timestamp="Datetime",
            open="Open",
            high="High",
            low="Low",
            close="Close",
            volume="Volume",
            timezone="UTC",
            header=HeaderStyle.YAHOO,
        ),
        # Instrument,Date,Time,Open,High,Low,Close with 20240101,09:15 in IST, bar start.
        "ist_date_time": ColumnMapping(
            date="Date",
            time="Time",
            timestamp_format="%Y%m%d %H:%M",
            open="Open",
            high="High",
            low="Low",
            close="Close",
            symbol="Instrument",
        ),
        # Time,Open,High,Low,Close with Time in epoch seconds (UTC), bar start.
        "epoch_utc": ColumnMapping(
            timestamp="Time",
            timestamp_format=EPOCH_SECONDS,
            timezone="UTC",
            open="Open",
            high="High",
            low="Low",
            close="Close",
            symbol_pattern=_NAME_BEFORE_UNDERSCORE,
        ),
    }
)

_KITE_HEADER = ("timestamp", "open", "high", "low", "close", "volume")


# --- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResult:
    """One imported file.

    ``candles`` satisfies ``schemas.CandleFrame``, sorted by token then ``ts_event``.
    ``symbol_by_token`` names each token (Kite's tradingsymbol for indices, e.g. ``NIFTY 50``).
    ``rejected`` holds every row that did not become a candle: the file's own columns as read,
    ``row`` (1-based data row, header lines not counted), ``reason`` (``"; "``-joined when
    several apply) and ``duplicate_of`` (the kept row, for reason ``duplicate``). ``warnings``
    are facts about the whole file a user should know. ``synthetic_tokens`` lists the tokens
    made up by :func:`synthetic_token` (no instruments table row for them).
    """

    candles: pl.DataFrame
    symbol_by_token: dict[int, str]
    source: str
    rejected: pl.DataFrame
    warnings: list[str]
    interval: timedelta
    preset: str | None = None
    synthetic_tokens: frozenset[int] = field(default_factory=frozenset)

    def instruments(self) -> list[Instrument]:
        """An instrument per imported symbol. Candle files carry no instrument master: tick and
        lot sizes are unknown, so the equity defaults (0.05, 1) are assumed; index rows get
        Kite's 0/0."""
        return [
            _file_instrument(token, symbol)
            for token, symbol in sorted(self.symbol_by_token.items())
        ]

    @property
    def rows(self) -> int:
        """Data rows read from the file: every one is a candle or a rejection."""
        return self.candles.height + self.rejected.height


# --- detection ------------------------------------------------------------------------------------


def detect_preset(path: Path) -> str:
    """The name of the preset whose format ``path`` has; ContractError if none fits exactly."""
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        header: list[str] = list(pl.read_parquet_schema(path))
        lines: list[list[str]] = [header]
    else:
        lines = _head(path, 3)
        header = lines[0] if lines else []
    first_cell = lines[1][0] if len(lines) > 1 and lines[1] else ""
    if (
        len(lines) >= 3
        and header[:1] == ["Price"]
        and lines[1][:1] == ["Ticker"]
        and lines[2][:1] in (["Datetime"], ["Date"])
    ):
        return "yahoo"
    if header == ["Instrument", "Date", "Time", "Open", "High", "Low", "Close"]:
        return "ist_date_time"
    if header == ["Time", "Open", "High", "Low", "Close"] and first_cell.isdigit():
        return "epoch_utc"
    if tuple(header) == (*_KITE_HEADER, "oi"):
        return "kite"
    if tuple(header) == _KITE_HEADER:
        return "kite_ohlcv"
    raise ContractError(
        "CandleFile",
        "header",
        ",".join(header),
        f"matches no preset ({', '.join(PRESETS)}); pass a preset name or a ColumnMapping",
        path.name,
    )


def _head(path: Path, count: int) -> list[list[str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            text = "".join(line for _, line in zip(range(count), handle, strict=False))
    except UnicodeDecodeError as error:
        raise _not_text(path, error) from None
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]


def _not_text(path: Path, error: UnicodeDecodeError) -> ContractError:
    return ContractError(
        "CandleFile",
        "encoding",
        f"byte {error.start}",
        "must be UTF-8 text (CSV) or a .parquet file",
        path.name,
    )


# --- import -----------------------------------------------------------------------------------


def import_candles(
    path: Path | str,
    mapping: ColumnMapping | str | None = None,
    *,
    instruments: InstrumentMaster | None = None,
) -> ImportResult:
    """Import one candle file. ``mapping`` is a :class:`ColumnMapping`, a preset name, or None to
    detect the preset from the header. A mapping that does not fit the file (a mapped column that
    is missing, an interval that cannot be inferred) raises ContractError; bad rows do not."""
    path = Path(path)
    preset: str | None = None
    if mapping is None:
        preset = detect_preset(path)
    elif isinstance(mapping, str):
        if mapping not in PRESETS:
            raise ContractError(
                "CandleFile", "preset", mapping, f"must be one of {sorted(PRESETS)}", path.name
            )
        preset = mapping
    resolved = PRESETS[preset] if preset is not None else mapping
    if not isinstance(resolved, ColumnMapping):
        raise ContractError(
            "CandleFile", "mapping", resolved, "must be a ColumnMapping, a preset name or None"
        )
    raw, header_symbol = _read(path, resolved)
    return _Importer(path, resolved, preset, raw, header_symbol, instruments).run()


@dataclass(frozen=True, slots=True)
class _HeaderSymbol:
    symbol: str
    exchange: Exchange


def _read(path: Path, mapping: ColumnMapping) -> tuple[pl.DataFrame, _HeaderSymbol | None]:
    """The file's data rows (CSV cells as strings) plus ``row`` and a structural ``_problem``."""
    if path.suffix.lower() in _PARQUET_SUFFIXES:
        frame = pl.read_parquet(path)
        _check_reserved(frame.columns, path)
        return (
            frame.with_columns(
                pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row"),
                pl.lit(None, dtype=pl.String).alias("_problem"),
            ),
            None,
        )
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=mapping.separator)
            for _ in range(mapping.skip_rows):
                next(reader, None)
            header_symbol = None
            if mapping.header is HeaderStyle.YAHOO:
                columns, header_symbol = _yahoo_header(reader, path)
            else:
                columns = [cell.strip() for cell in next(reader, [])]
            rows = list(reader)
    except UnicodeDecodeError as error:
        raise _not_text(path, error) from None
    if not columns or not any(columns):
        raise ContractError("CandleFile", "header", "", "must name the columns", path.name)
    _check_reserved(columns, path)
    if len(set(columns)) != len(columns):
        raise ContractError(
            "CandleFile", "header", ",".join(columns), "must not repeat a column", path.name
        )
    return _rows_to_frame(columns, rows), header_symbol


def _check_reserved(columns: Sequence[str], path: Path) -> None:
    clash = sorted(set(_RESERVED) & set(columns))
    if clash:
        raise ContractError(
            "CandleFile", "header", clash, f"must not use the reserved names {_RESERVED}", path.name
        )


def _rows_to_frame(columns: list[str], rows: list[list[str]]) -> pl.DataFrame:
    width = len(columns)
    cells: list[list[str | None]] = [[] for _ in columns]
    problems: list[str | None] = []
    for row in rows:
        if len(row) == width:
            problems.append(None)
            for i, cell in enumerate(row):
                cells[i].append(cell)
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            problems.append("empty line")
        else:
            problems.append(f"expected {width} fields, found {len(row)}")
        for i in range(width):
            cells[i].append(row[i] if i < len(row) else None)
    data: dict[str, list[str | None]] = dict(zip(columns, cells, strict=True))
    frame = pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String))
    return frame.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row"),
        pl.Series("_problem", problems, dtype=pl.String),
    )


def _yahoo_header(
    reader: Iterable[list[str]], path: Path
) -> tuple[list[str], _HeaderSymbol | None]:
    lines = [[cell.strip() for cell in row] for _, row in zip(range(3), reader, strict=False)]
    if (
        len(lines) < 3
        or lines[0][:1] != ["Price"]
        or lines[1][:1] != ["Ticker"]
        or lines[2][:1] not in (["Datetime"], ["Date"])
    ):
        raise ContractError(
            "CandleFile",
            "header",
            " | ".join(",".join(line) for line in lines),
            "must be the three yfinance lines Price…, Ticker…, Datetime…",
            path.name,
        )
    tickers = {cell for cell in lines[1][1:] if cell}
    if len(tickers) != 1:
        raise ContractError(
            "CandleFile",
            "Ticker",
            sorted(tickers),
            "must name exactly one ticker (one instrument per file)",
            path.name,
        )
    ticker = tickers.pop()
    exchange = Exchange.NSE
    for suffix, suffix_exchange in _YAHOO_SUFFIXES.items():
        if ticker.upper().endswith(suffix):
            ticker, exchange = ticker[: -len(suffix)], suffix_exchange
            break
    return ["Datetime", *lines[0][1:]], _HeaderSymbol(ticker, exchange)


class _Importer:
    """One file's conversion: parse, check, resolve tokens, split candles from rejects."""

    def __init__(
        self,
        path: Path,
        mapping: ColumnMapping,
        preset: str | None,
        raw: pl.DataFrame,
        header_symbol: _HeaderSymbol | None,
        instruments: InstrumentMaster | None,
    ) -> None:
        self.path = path
        self.mapping = mapping
        self.preset = preset
        self.raw = raw
        self.header_symbol = header_symbol
        self.instruments = instruments
        self.warnings: list[str] = []

    def run(self) -> ImportResult:
        self._check_columns()
        frame = pl.concat([self.raw, self._timestamp()], how="horizontal").with_columns(
            *[self._price(name) for name in _PRICES],
            *self._volume(),
            *self._oi(),
            *self._symbol(),
        )
        interval = self._interval(frame)
        frame = frame.with_columns(self._ts_event(interval))
        frame = frame.with_columns(_reasons(self.mapping).alias("reason"))
        symbols, synthetic = self._tokens(frame)
        frame = _mark_duplicates(
            frame.with_columns(
                pl.col("_symbol")
                .replace_strict(symbols, default=None, return_dtype=pl.Int64)
                .alias("_token")
            )
        )
        good = pl.col("reason") == ""
        candles = (
            frame.filter(good)
            .select(
                pl.col("_token").alias("instrument_token"),
                pl.col("_ts_event").alias("ts_event"),
                pl.col("_open").alias("open"),
                pl.col("_high").alias("high"),
                pl.col("_low").alias("low"),
                pl.col("_close").alias("close"),
                pl.col("_volume").alias("volume"),
                pl.col("_oi").alias("oi"),
            )
            .sort("instrument_token", "ts_event")
        )
        rejected = (
            frame.filter(~good).select(*self.raw.columns, "reason", "duplicate_of").drop("_problem")
        )
        symbol_by_token = {token: self._canonical(symbol)[1] for symbol, token in symbols.items()}
        self._warn_artefacts(candles)
        return ImportResult(
            candles=CandleFrame.validate(candles),
            symbol_by_token=symbol_by_token,
            source=str(self.path),
            rejected=rejected,
            warnings=self.warnings,
            interval=interval,
            preset=self.preset,
            synthetic_tokens=frozenset(synthetic),
        )

    # -- columns -----------------------------------------------------------------------------

    def _check_columns(self) -> None:
        available = [c for c in self.raw.columns if c not in ("row", "_problem")]
        m = self.mapping
        for name in ("timestamp", "date", "time", *_PRICES, "volume", "oi", "symbol"):
            self._require(name, getattr(m, name), available)
        if (
            m.symbol is None
            and m.symbol_value is None
            and m.symbol_pattern is None
            and self.header_symbol is None
        ):
            raise ContractError(
                _OWNER,
                "symbol",
                None,
                "must be given: the file has no symbol; set symbol (a column), symbol_value or "
                "symbol_pattern",
                self.path.name,
            )
        if m.volume is None:
            self.warnings.append("no volume column: volume is 0 for every bar")

    def _require(self, name: str, column: str | None, available: list[str]) -> None:
        if column is not None and column not in available:
            raise ContractError(
                _OWNER,
                name,
                column,
                f"must name a column of the file; it has {available}",
                self.path.name,
            )

    # -- time ----------------------------------------------------------------------------------

    def _timestamp(self) -> pl.DataFrame:
        """``_ts`` (the parsed instant, UTC) or, for a date-only column, ``_day``."""
        m = self.mapping
        no_instant = pl.lit(None, dtype=UTC_TIMESTAMP).alias("_ts")
        if m.date is not None and m.time is None:
            return self.raw.select(
                no_instant, _parse_date(_text(m.date), m.timestamp_format).alias("_day")
            )
        if m.date is not None and m.time is not None:
            text = pl.concat_str([_text(m.date), _text(m.time)], separator=" ")
            parsed = self._parse_text(text)
        else:
            assert m.timestamp is not None  # noqa: S101  # ColumnMapping guarantees one of the two
            dtype = self.raw.schema[m.timestamp]
            if dtype == pl.Date:
                return self.raw.select(no_instant, pl.col(m.timestamp).alias("_day"))
            parsed = self._parse_column(m.timestamp, dtype)
        return pl.DataFrame(
            [
                parsed.dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias("_ts"),
                pl.Series("_day", [None] * len(parsed), dtype=pl.Date),
            ]
        )

    def _parse_column(self, column: str, dtype: pl.DataType) -> pl.Series:
        m = self.mapping
        values = self.raw.get_column(column)
        if isinstance(dtype, pl.Datetime):
            return values if dtype.time_zone else _localize(values, m.timezone)
        if m.timestamp_format in _EPOCH_UNITS:
            numbers = (
                values.cast(pl.Int64)
                if dtype.is_integer()
                else self.raw.select(_text(column).cast(pl.Int64, strict=False)).to_series()
            )
            epoch = (
                pl.from_epoch(numbers, time_unit="s")
                if m.timestamp_format == EPOCH_SECONDS
                else pl.from_epoch(numbers, time_unit="ms")
            )
            return _localize(epoch, m.timezone)
        if dtype.is_numeric():
            raise ContractError(
                _OWNER,
                "timestamp_format",
                m.timestamp_format,
                f"must be {EPOCH_SECONDS!r} or {EPOCH_MILLISECONDS!r} for a numeric column",
                self.path.name,
            )
        return self._parse_text(_text(column))

    def _parse_text(self, text: pl.Expr) -> pl.Series:
        m = self.mapping
        fmt = m.timestamp_format
        texts = self.raw.select(text.alias("_ts")).to_series()
        if texts.null_count() == texts.len():
            return pl.Series("_ts", [None] * texts.len(), dtype=UTC_TIMESTAMP)
        # Eager on purpose: without a format, polars infers it (and whether the result carries
        # an offset) from the values, which an expression cannot do.
        parsed = texts.str.to_datetime(format=fmt, time_unit="us", strict=False)
        if fmt is not None and _NO_ROUND_TRIP.search(fmt) is None:
            # chrono accepts short fields ("2024011" as %Y%m%d): the text must print back as is.
            parsed = parsed.zip_with(parsed.dt.strftime(fmt) == texts, parsed.clear(texts.len()))
        # With an offset in the text the result is aware (UTC); without, it is wall-clock time.
        assert isinstance(parsed.dtype, pl.Datetime)  # noqa: S101  # str.to_datetime's output
        return parsed if parsed.dtype.time_zone else _localize(parsed, m.timezone)

    def _interval(self, frame: pl.DataFrame) -> timedelta:
        m = self.mapping
        date_only = m.is_date_only or (
            m.timestamp is not None and self.raw.schema[m.timestamp] == pl.Date
        )
        if m.interval is not None:
            if date_only and m.interval != DAILY:
                raise ContractError(
                    _OWNER,
                    "interval",
                    m.interval,
                    "must be 1 day for dates without a time",
                    self.path.name,
                )
            return m.interval
        if date_only:
            self.warnings.append("interval inferred as 1 day (the file has dates only)")
            return DAILY
        inferred = _infer_interval(frame, m.timezone)
        if inferred is None:
            raise ContractError(
                _OWNER,
                "interval",
                None,
                "must be given: the bars' spacing is not unambiguous (the smallest gap between "
                "bars of a day must also be the most common)",
                self.path.name,
            )
        self.warnings.append(f"interval inferred as {_describe(inferred)}")
        return inferred

    def _ts_event(self, interval: timedelta) -> pl.Expr:
        m = self.mapping
        if interval == DAILY:
            day = pl.coalesce(
                pl.col("_day"), pl.col("_ts").dt.convert_time_zone(m.timezone).dt.date()
            )
            close = (
                day.dt.combine(REGULAR_CLOSE, time_unit="us")
                .dt.replace_time_zone(str(IST))
                .dt.convert_time_zone("UTC")
            )
            return close.alias("_ts_event")
        if m.label is BarLabel.START:
            return (pl.col("_ts") + interval).alias("_ts_event")
        return pl.col("_ts").alias("_ts_event")

    # -- values --------------------------------------------------------------------------------

    def _price(self, name: str) -> pl.Expr:
        column: str = getattr(self.mapping, name)
        return _number(column, self.raw.schema[column]).alias(f"_{name}")

    def _volume(self) -> list[pl.Expr]:
        column = self.mapping.volume
        if column is None:
            return [pl.lit(0, dtype=pl.Int64).alias("_volume")]
        return [_whole(column, self.raw.schema[column]).alias("_volume")]

    def _oi(self) -> list[pl.Expr]:
        column = self.mapping.oi
        if column is None:
            return [pl.lit(None, dtype=pl.Int64).alias("_oi")]
        return [_whole(column, self.raw.schema[column]).alias("_oi")]

    def _symbol(self) -> list[pl.Expr]:
        m = self.mapping
        if m.symbol is not None:
            symbol = _text(m.symbol)
            return [pl.when(symbol != "").then(symbol).alias("_symbol")]
        if m.symbol_value is not None:
            value = m.symbol_value.strip()
        elif m.symbol_pattern is not None:
            found = re.search(m.symbol_pattern, self.path.name)
            if found is None or not found.group("symbol"):
                raise ContractError(
                    _OWNER,
                    "symbol_pattern",
                    m.symbol_pattern,
                    "must match the file name (or set symbol / symbol_value)",
                    self.path.name,
                )
            value = found.group("symbol").strip().upper()
        else:
            assert self.header_symbol is not None  # noqa: S101  # checked in _check_columns
            value = self.header_symbol.symbol
        return [pl.lit(value, dtype=pl.String).alias("_symbol")]

    # -- tokens ----------------------------------------------------------------------------------

    def _canonical(self, symbol: str) -> tuple[Exchange, str, SegmentId]:
        m = self.mapping
        if m.segment in (None, SegmentId.INDICES):
            index = INDEX_SYMBOLS.get(symbol.upper())
            if index is not None:
                return index[0], index[1], SegmentId.INDICES
        exchange = self.header_symbol.exchange if self.header_symbol else m.exchange
        segment = m.segment if m.segment is not None else segment_id_for(exchange, "")
        return exchange, symbol, segment

    def _tokens(self, frame: pl.DataFrame) -> tuple[dict[str, int], set[int]]:
        symbols = sorted(frame.filter(pl.col("reason") == "")["_symbol"].unique().to_list())
        tokens: dict[str, int] = {}
        synthetic: set[int] = set()
        owner_of: dict[int, str] = {}
        for symbol in symbols:
            exchange, tradingsymbol, segment = self._canonical(symbol)
            found = self.instruments.get(exchange, tradingsymbol) if self.instruments else None
            if found is not None:
                token = int(found.instrument_token)
            else:
                token = int(synthetic_token(tradingsymbol, exchange, segment))
                synthetic.add(token)
            clash = owner_of.get(token)
            if clash is not None and self._canonical(clash)[:2] != (exchange, tradingsymbol):
                raise ContractError(
                    "CandleFile",
                    "symbol",
                    symbol,
                    f"maps to token {token}, already used by {clash}; import them separately "
                    "or give an instruments table",
                    self.path.name,
                )
            owner_of[token] = symbol
            tokens[symbol] = token
        if synthetic:
            names = sorted({self._canonical(s)[1] for s in symbols if tokens[s] in synthetic})
            where = (
                "no instruments table given"
                if self.instruments is None
                else ("not in the instruments table")
            )
            self.warnings.append(f"synthetic instrument tokens ({where}) for: {', '.join(names)}")
        self._warn_file_name(symbols)
        return tokens, synthetic

    def _warn_file_name(self, symbols: list[str]) -> None:
        if self.mapping.symbol is None or len(symbols) != 1:
            return
        symbol = symbols[0]
        squeeze = re.compile(r"[^A-Z0-9]")
        if squeeze.sub("", symbol.upper()) not in squeeze.sub("", self.path.stem.upper()):
            self.warnings.append(
                f"the {self.mapping.symbol!r} column says {symbol} for every row but the file "
                f"name {self.path.name} does not mention it; if the column is mislabelled, "
                "import with symbol_value=<the real symbol>"
            )

    def _warn_artefacts(self, candles: pl.DataFrame) -> None:
        prices = pl.concat_list(*_PRICES).explode()
        artefacts = candles.select(
            prices.filter((prices - prices.round(_PRICE_DECIMALS)).abs() > 1e-9)
        ).to_series()
        if artefacts.len():
            self.warnings.append(
                f"{artefacts.len()} prices have more than {_PRICE_DECIMALS} decimals (e.g. "
                f"{artefacts[0]!r}): float artefacts of the source, kept as published"
            )


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).str.strip_chars()


def _localize(naive: pl.Series, zone: str) -> pl.Series:
    """Wall-clock times in ``zone`` as instants; a time the zone skips or repeats becomes null."""
    return naive.dt.replace_time_zone(zone, ambiguous="null", non_existent="null")


def _parse_date(text: pl.Expr, fmt: str | None) -> pl.Expr:
    parsed = text.str.to_date(format=fmt, strict=False)
    if fmt is not None and _NO_ROUND_TRIP.search(fmt) is None:
        parsed = pl.when(parsed.dt.strftime(fmt) == text).then(parsed)
    return parsed


def _number(column: str, dtype: pl.DataType) -> pl.Expr:
    source = pl.col(column)
    if dtype == pl.String:
        return source.str.strip_chars().cast(pl.Float64, strict=False)
    return source.cast(pl.Float64, strict=False)


def _whole(column: str, dtype: pl.DataType) -> pl.Expr:
    """An integer column: ``12`` and ``12.0`` are 12; ``12.5``, NaN and text are null."""
    if dtype.is_integer():
        return pl.col(column).cast(pl.Int64, strict=False)
    number = _number(column, dtype)
    exact = (
        _text(column).cast(pl.Int64, strict=False)
        if dtype == pl.String
        else pl.lit(None, dtype=pl.Int64)
    )
    integral = pl.when(number.is_finite() & (number == number.floor())).then(
        number.cast(pl.Int64, strict=False)
    )
    return pl.coalesce(exact, integral)


def _present(column: str) -> pl.Expr:
    return pl.col(column).is_not_null() & (pl.col(column).cast(pl.String).str.strip_chars() != "")


def _reasons(mapping: ColumnMapping) -> pl.Expr:
    """Every reason a row cannot be a CandleFrame row, ``"; "``-joined; "" for a good row.

    A row the CSV reader could not split into the header's fields gets only that reason."""
    checks: list[tuple[pl.Expr, str]] = []
    time_columns = [c for c in (mapping.timestamp, mapping.date, mapping.time) if c is not None]
    checks.extend((~_present(c), f"missing {c}") for c in time_columns)
    all_present = pl.all_horizontal(*[_present(c) for c in time_columns])
    checks.append((all_present & pl.col("_ts_event").is_null(), "unparseable timestamp"))
    for name in _PRICES:
        column = str(getattr(mapping, name))
        value = pl.col(f"_{name}")
        checks.extend(
            [
                (~_present(column), f"missing {name}"),
                (_present(column) & value.is_null(), f"unparseable {name}"),
                (value.is_not_null() & ~value.is_finite(), f"non-finite {name}"),
                (value.is_finite() & (value <= 0), f"non-positive {name}"),
            ]
        )
    o, h, lo, c = (pl.col(f"_{n}") for n in _PRICES)
    checks.extend(
        [
            (h < pl.max_horizontal(o, c, lo), "high below open, close or low"),
            (lo > pl.min_horizontal(o, c), "low above open or close"),
        ]
    )
    for name in ("volume", "oi"):
        column_or_none: str | None = getattr(mapping, name)
        if column_or_none is None:
            continue
        value = pl.col(f"_{name}")
        if name == "volume":
            checks.append((~_present(column_or_none), "missing volume"))
        checks.extend(
            [
                (_present(column_or_none) & value.is_null(), f"unparseable {name}"),
                (value < 0, f"negative {name}"),
            ]
        )
    checks.append((pl.col("_symbol").is_null(), "missing symbol"))
    parts = [
        pl.when(condition.fill_null(value=False)).then(pl.lit(reason))
        for condition, reason in checks
    ]
    joined = pl.concat_str(parts, separator="; ", ignore_nulls=True).fill_null("")
    return pl.coalesce(pl.col("_problem"), joined)


def _mark_duplicates(frame: pl.DataFrame) -> pl.DataFrame:
    """Of good rows sharing ``(token, ts_event)`` keep the first; the rest become ``duplicate``
    rejections with ``duplicate_of`` naming the kept row."""
    good = pl.col("reason") == ""
    key = ["_token", "_ts_event"]
    first = frame.filter(good).group_by(key).agg(pl.col("row").min().alias("_first_row"))
    repeated = good & (pl.col("row") != pl.col("_first_row"))
    return (
        frame.join(first, on=key, how="left", nulls_equal=False)
        .with_columns(
            pl.when(repeated).then(pl.lit("duplicate")).otherwise(pl.col("reason")).alias("reason"),
            pl.when(repeated).then(pl.col("_first_row")).alias("duplicate_of"),
        )
        .sort("row")
    )


def _infer_interval(frame: pl.DataFrame, zone: str) -> timedelta | None:
    local = (
        frame.filter(pl.col("_ts").is_not_null() & pl.col("_problem").is_null())
        .select(
            pl.col("_symbol"),
            pl.col("_ts"),
            pl.col("_ts").dt.convert_time_zone(zone).alias("_local"),
        )
        .unique(["_symbol", "_ts"])
        .sort("_symbol", "_ts")
    )
    if local.is_empty():
        return None
    if (local["_local"].dt.time() == time(0)).all():
        return DAILY
    gaps = (
        local.with_columns(
            pl.col("_ts").diff().over("_symbol", pl.col("_local").dt.date()).alias("_gap")
        )
        .filter(pl.col("_gap") > timedelta(0))
        .get_column("_gap")
    )
    if gaps.is_empty():
        return None
    smallest = gaps.min()
    counts = gaps.value_counts(sort=True)
    most_common = counts.row(0)[0]
    if not isinstance(smallest, timedelta) or smallest != most_common:
        return None
    try:
        return _check_interval(_OWNER, smallest)
    except ContractError:
        return None


def _describe(interval: timedelta) -> str:
    if interval == DAILY:
        return "1 day"
    minutes, seconds = divmod(int(interval.total_seconds()), 60)
    return f"{minutes} min" if not seconds else f"{int(interval.total_seconds())} s"


# --- tokens -------------------------------------------------------------------------------------


def synthetic_token(
    tradingsymbol: str, exchange: Exchange = Exchange.NSE, segment: SegmentId = SegmentId.NSE
) -> InstrumentToken:
    """A deterministic token for a symbol with no instruments table: ``exchange_token * 256 +
    segment`` with ``exchange_token`` in ``[2**23, 2**24)`` from a BLAKE2b hash of
    ``"<exchange>:<tradingsymbol>"``. The same symbol gets the same token in every run."""
    digest = hashlib.blake2b(f"{exchange.value}:{tradingsymbol}".encode(), digest_size=8).digest()
    offset = int.from_bytes(digest, "big") % SYNTHETIC_EXCHANGE_TOKEN_MIN
    return instrument_token(SYNTHETIC_EXCHANGE_TOKEN_MIN + offset, segment)


# --- MarketDataSource adapters ------------------------------------------------------------------


def empty_candles() -> pl.DataFrame:
    """A CandleFrame with no rows."""
    return pl.DataFrame(schema=dict(CANDLE_SCHEMA))


def _window(owner: str, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    first = require_aware(owner, "start", start)
    last = require_aware(owner, "end", end)
    if last < first:
        raise ContractError(owner, "end", end, f"must be >= start {start}")
    return first, last


class ImportedMarketData:
    """``MarketDataSource`` over imported files, held in memory (tests, research, the demo).

    Candles of each interval are pooled; two files giving the same ``(token, ts_event)`` raise.
    ``instruments(on)`` returns the instruments given here (synthetic tokens have none).
    """

    _OWNER = "ImportedMarketData"

    def __init__(
        self, results: Iterable[ImportResult], instruments: Sequence[Instrument] = ()
    ) -> None:
        pooled: dict[timedelta, list[pl.DataFrame]] = {}
        for result in results:
            pooled.setdefault(result.interval, []).append(
                result.candles.with_columns(pl.lit(result.source).alias("_source"))
            )
        self._frames: dict[timedelta, pl.DataFrame] = {}
        for interval, frames in pooled.items():
            frame = pl.concat(frames)
            clash = frame.filter(pl.struct("instrument_token", "ts_event").is_duplicated())
            if not clash.is_empty():
                first = clash.row(0, named=True)
                sources = sorted(
                    clash.filter(
                        (pl.col("instrument_token") == first["instrument_token"])
                        & (pl.col("ts_event") == first["ts_event"])
                    )["_source"].to_list()
                )
                raise ContractError(
                    self._OWNER,
                    "results",
                    f"{first['instrument_token']} @ {first['ts_event']}",
                    f"must not repeat a bar across files (found in {sources})",
                )
            self._frames[interval] = frame.drop("_source").sort("instrument_token", "ts_event")
        self._instruments = tuple(instruments)

    def instruments(self, on: datetime) -> Sequence[Instrument]:
        require_aware(self._OWNER, "on", on)
        return self._instruments

    def candles(
        self,
        instrument_token: InstrumentToken,
        start: datetime,
        end: datetime,
        interval: timedelta,
    ) -> pl.DataFrame:
        first, last = _window(self._OWNER, start, end)
        frame = self._frames.get(interval)
        if frame is None:
            have = ", ".join(_describe(i) for i in sorted(self._frames)) or "none"
            raise ContractError(
                self._OWNER, "interval", interval, f"must be an imported interval ({have})"
            )
        return frame.filter(
            (pl.col("instrument_token") == instrument_token)
            & (pl.col("ts_event") > first)
            & (pl.col("ts_event") <= last)
        )


class LakeMarketData:
    """``MarketDataSource`` over a candle table of the lake (partitioned by the IST date of
    ``ts_event``), at the one interval that table holds, without what failed blocking checks
    (:class:`~models.data_quality.quarantine.CandleReader`)."""

    _OWNER = "LakeMarketData"

    def __init__(
        self,
        lake: Lake,
        *,
        table: str = "candles_1m",
        interval: timedelta = timedelta(minutes=1),
        instruments: Sequence[Instrument] = (),
    ) -> None:
        self._lake = lake
        self._table = table
        self._reader = CandleReader(lake, table)
        self._interval = _check_interval(self._OWNER, interval)
        self._instruments = tuple(instruments)
        lake.partition_path(table, date(2000, 1, 1))  # rejects a bad table name now, not later

    def instruments(self, on: datetime) -> Sequence[Instrument]:
        require_aware(self._OWNER, "on", on)
        return self._instruments

    def candles(
        self,
        instrument_token: InstrumentToken,
        start: datetime,
        end: datetime,
        interval: timedelta,
    ) -> pl.DataFrame:
        first, last = _window(self._OWNER, start, end)
        if interval != self._interval:
            raise ContractError(
                self._OWNER,
                "interval",
                interval,
                f"must be {_describe(self._interval)} (the interval of {self._table})",
            )
        # Never a bar a blocking check failed (the table's quarantine).
        frame = self._reader.read(
            first.astimezone(IST).date(), last.astimezone(IST).date(), tokens=[instrument_token]
        )
        if "ts_event" not in frame.columns:
            return empty_candles()
        return (
            frame.filter((pl.col("ts_event") > first) & (pl.col("ts_event") <= last))
            .select(_CANDLE_COLUMNS)
            .sort("ts_event")
        )


def _file_instrument(token: int, symbol: str) -> Instrument:
    exchange_token, segment = split_instrument_token(token)
    is_index = segment is SegmentId.INDICES
    return Instrument(
        instrument_token=InstrumentToken(token),
        exchange_token=exchange_token,
        tradingsymbol=symbol,
        name=symbol,
        exchange=Exchange.NSE,
        segment="INDICES" if is_index else "NSE",
        instrument_type=InstrumentType.EQ,
        expiry=None,
        strike=None,
        tick_size=0.0 if is_index else 0.05,
        lot_size=0 if is_index else 1,
    )
