"""Kite's instruments: the validated ``Instrument`` type, the CSV dump parser, token arithmetic
and lookup by ``(exchange, tradingsymbol)``. Freeze quantities are in :mod:`data_contracts.freeze`.

Facts this module relies on (reference ``kite-connect.md`` §4):

* ``instrument_token = exchange_token * 256 + segment id``; the segment id is the exchange's
  (:class:`~data_contracts.enums.SegmentId`), except that index rows (segment ``INDICES``) use 9
  whatever their exchange: NIFTY 50 is ``1001 * 256 + 9 = 256265``.
* Tokens are reused after a contract expires, so the stable key is ``(exchange, tradingsymbol)``;
  a token identifies an instrument only within one day's dump.
* Index rows are not tradable. Kite types them ``EQ`` with segment ``INDICES``, and public client
  fixtures copied from live downloads show them with tick size 0 and lot size 0 (our own fixtures
  have no index row, so this is second-hand). We keep Kite's ``EQ`` (so values cross the broker
  boundary unchanged) and mark them by :attr:`Instrument.is_index`; for index rows only, a zero
  tick and lot size are accepted (``is_tradable`` is False). Every other row needs tick > 0 and
  lot >= 1.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, TypeVar, cast

from data_contracts.enums import Exchange, InstrumentType, SegmentId
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.validation import finite, integer, non_empty

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "CSV_COLUMNS",
    "INDICES_SEGMENT",
    "Instrument",
    "InstrumentMaster",
    "instrument_token",
    "instruments_to_frame",
    "parse_instruments_csv",
    "segment_id_for",
    "split_instrument_token",
    "underlying_tokens",
]

_OWNER = "Instrument"

INDICES_SEGMENT = "INDICES"

# Kite's header, in Kite's order (reference §4; identical in the mocks and the real dump).
CSV_COLUMNS = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)

_E = TypeVar("_E", Exchange, InstrumentType)

_GZIP_MAGIC = b"\x1f\x8b"
_NEWLINE = b"\n"
_TOKEN_SHIFT = 256  # the low byte of a token is the segment id


# --- token arithmetic -------------------------------------------------------------------------


def instrument_token(exchange_token: int, segment_id: SegmentId | int) -> InstrumentToken:
    """``exchange_token * 256 + segment_id``, e.g. ``instrument_token(1001, SegmentId.INDICES)``
    is NIFTY 50's 256265."""
    integer(_OWNER, "exchange_token", exchange_token, minimum=0)
    return InstrumentToken(exchange_token * _TOKEN_SHIFT + _segment(segment_id))


def split_instrument_token(token: int) -> tuple[int, SegmentId]:
    """The inverse of :func:`instrument_token`: ``(exchange_token, segment_id)``."""
    integer(_OWNER, "instrument_token", token, minimum=1)
    exchange_token, segment_id = divmod(token, _TOKEN_SHIFT)
    return exchange_token, _segment(segment_id, token)


def segment_id_for(exchange: Exchange, segment: str) -> SegmentId:
    """The segment id in a token: 9 for index rows, else the exchange's own id."""
    if segment == INDICES_SEGMENT:
        return SegmentId.INDICES
    return SegmentId[Exchange(exchange).name]


def _segment(segment_id: SegmentId | int, token: int | None = None) -> SegmentId:
    try:
        return SegmentId(segment_id)
    except ValueError:
        shown = segment_id if token is None else token
        field_name = "segment_id" if token is None else "instrument_token"
        raise ContractError(
            _OWNER, field_name, shown, "must carry a known segment id (1-9) in its low byte"
        ) from None


# --- the domain type --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instrument:
    """One row of Kite's instruments dump, validated.

    ``strike`` is None for futures, equities and indices (the dump writes 0 there); ``expiry`` is
    None for equities and indices. ``freeze_quantity`` does not come from the dump: it is set
    from config (:func:`data_contracts.freeze.apply_freeze_quantities`) and stays None where no
    freeze applies.
    """

    instrument_token: InstrumentToken
    exchange_token: int
    tradingsymbol: str
    name: str
    exchange: Exchange
    segment: str
    instrument_type: InstrumentType
    expiry: date | None
    strike: float | None
    tick_size: float
    lot_size: int
    freeze_quantity: int | None = None

    @property
    def underlying(self) -> str:
        """What the instrument's risk rides on: the underlying's name for a derivative (``NIFTY``
        for every NIFTY option and future), the tradingsymbol for an equity or an index."""
        derivative = self.instrument_type in (
            InstrumentType.CE,
            InstrumentType.PE,
            InstrumentType.FUT,
        )
        return self.name if derivative and self.name else self.tradingsymbol

    def __post_init__(self) -> None:
        non_empty(_OWNER, "tradingsymbol", self.tradingsymbol)
        subject = self.tradingsymbol
        integer(_OWNER, "instrument_token", self.instrument_token, minimum=1, subject=subject)
        integer(_OWNER, "exchange_token", self.exchange_token, minimum=1, subject=subject)
        if not isinstance(self.name, str):
            raise ContractError(_OWNER, "name", self.name, "must be a string", subject)
        if not isinstance(self.exchange, Exchange):
            raise ContractError(_OWNER, "exchange", self.exchange, "must be an Exchange", subject)
        if not isinstance(self.instrument_type, InstrumentType):
            raise ContractError(
                _OWNER,
                "instrument_type",
                self.instrument_type,
                "must be an InstrumentType",
                subject,
            )
        self._check_segment(subject)
        self._check_expiry_and_strike(subject)
        self._check_sizes(subject)
        expected = instrument_token(self.exchange_token, self.segment_id)
        if self.instrument_token != expected:
            raise ContractError(
                _OWNER,
                "instrument_token",
                self.instrument_token,
                f"must equal exchange_token * 256 + segment id = {self.exchange_token} * 256 + "
                f"{int(self.segment_id)} = {expected}",
                subject,
            )

    def _check_segment(self, subject: str) -> None:
        # The segment string must belong to the exchange and agree with the instrument type:
        # NFO-OPT holds CE/PE, NFO-FUT holds FUT, NSE and INDICES hold EQ.
        kind = self.instrument_type
        expected = {
            f"{self.exchange.value}-OPT": kind.is_option,
            f"{self.exchange.value}-FUT": kind is InstrumentType.FUT,
            self.exchange.value: kind is InstrumentType.EQ,
            INDICES_SEGMENT: kind is InstrumentType.EQ,
        }
        if self.segment not in expected:
            raise ContractError(
                _OWNER,
                "segment",
                self.segment,
                f"must be one of {{{', '.join(sorted(expected))}}} on {self.exchange.value}",
                subject,
            )
        if not expected[self.segment]:
            raise ContractError(
                _OWNER,
                "instrument_type",
                kind.value,
                f"does not belong in segment {self.segment}",
                subject,
            )

    def _check_expiry_and_strike(self, subject: str) -> None:
        if self.instrument_type.is_derivative:
            if isinstance(self.expiry, datetime) or not isinstance(self.expiry, date):
                raise ContractError(
                    _OWNER,
                    "expiry",
                    self.expiry,
                    f"must be a date for a {self.instrument_type.value}",
                    subject,
                )
        elif self.expiry is not None:
            raise ContractError(_OWNER, "expiry", self.expiry, "must be empty for EQ", subject)
        if self.instrument_type.is_option:
            if self.strike is None or finite(_OWNER, "strike", self.strike, subject) <= 0:
                raise ContractError(
                    _OWNER,
                    "strike",
                    self.strike,
                    f"must be > 0 for a {self.instrument_type.value}",
                    subject,
                )
        elif self.strike is not None:
            raise ContractError(
                _OWNER,
                "strike",
                self.strike,
                f"must be empty or 0 for a {self.instrument_type.value}",
                subject,
            )

    def _check_sizes(self, subject: str) -> None:
        # Index rows are not tradable and Kite gives them tick 0 and lot 0.
        floor = 0 if self.is_index else 1
        tick = finite(_OWNER, "tick_size", self.tick_size, subject)
        if tick < 0 or (tick == 0 and not self.is_index):
            raise ContractError(_OWNER, "tick_size", self.tick_size, "must be > 0", subject)
        integer(_OWNER, "lot_size", self.lot_size, minimum=floor, subject=subject)
        if self.freeze_quantity is not None:
            integer(_OWNER, "freeze_quantity", self.freeze_quantity, minimum=1, subject=subject)

    @property
    def key(self) -> tuple[Exchange, str]:
        """The stable identity: tokens are reused after expiry, ``(exchange, tradingsymbol)``
        is not."""
        return (self.exchange, self.tradingsymbol)

    @property
    def segment_id(self) -> SegmentId:
        return segment_id_for(self.exchange, self.segment)

    @property
    def is_index(self) -> bool:
        return self.segment == INDICES_SEGMENT

    @property
    def is_tradable(self) -> bool:
        return not self.is_index

    @property
    def is_option(self) -> bool:
        return self.instrument_type.is_option

    @property
    def is_future(self) -> bool:
        return self.instrument_type is InstrumentType.FUT


# --- the CSV dump -----------------------------------------------------------------------------


def parse_instruments_csv(
    source: str | bytes | Path, *, exchanges: Collection[Exchange] | None = None
) -> list[Instrument]:
    """Every row of a Kite instruments CSV as an :class:`Instrument`, in file order.

    ``source`` is the CSV text (``str``), the downloaded body (``bytes``, gzip or plain) or a file
    (``Path``, gzip or plain). A bad row raises :class:`ContractError` naming the field, the value,
    the rule and the row as ``line N`` of the file (the header is line 1).

    ``exchanges`` keeps only rows of those exchanges and skips the rest *before* validating them;
    use it on the full ``/instruments`` dump, which can carry exchanges this project does not
    model. Without it, every row must parse.
    """
    text = _read_text(source)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    with _csv_errors(reader):
        header = tuple(reader.fieldnames or ())
    missing = [column for column in CSV_COLUMNS if column not in header]
    if missing:
        raise ContractError(
            "InstrumentsCsv", "header", ",".join(header), f"must contain the columns {missing}"
        )
    wanted = None if exchanges is None else {Exchange(e).value for e in exchanges}
    instruments: list[Instrument] = []
    with _csv_errors(reader):
        for row in reader:
            # reader.line_num is the file line the row ended on (header = 1).
            if wanted is not None and row["exchange"] not in wanted:
                continue
            instruments.append(_parse_row(row, f"line {reader.line_num}"))
    return instruments


@contextmanager
def _csv_errors(reader: csv.DictReader[str]) -> Iterator[None]:
    """A row the csv module cannot split (a cell beyond its field limit, say) as a ContractError
    naming the line it stopped on."""
    try:
        yield
    except csv.Error as error:
        where = f"line {reader.reader.line_num}"
        raise ContractError(
            "InstrumentsCsv", "row", str(error), "must be valid CSV", where
        ) from None


def _read_text(source: str | bytes | Path) -> str:
    """The CSV text of ``source``; a body that is not gzip or UTF-8 is a ContractError (a file
    that cannot be read is the OSError of reading it)."""
    if isinstance(source, str):
        return source
    data = source.read_bytes() if isinstance(source, Path) else source
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
            rule = "must be a complete gzip body (or plain CSV)"
            raise ContractError("InstrumentsCsv", "source", str(error), rule) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        body = bytes(error.object)  # without a leading byte-order mark
        offset = error.start + len(data) - len(body)
        found = f"byte 0x{body[error.start]:02x} at offset {offset:,}"
        where = f"line {body.count(_NEWLINE, 0, error.start) + 1}"
        raise ContractError(
            "InstrumentsCsv", "source", found, "must be UTF-8 text", where
        ) from None


def _parse_row(row: Mapping[str, str | None], where: str) -> Instrument:
    symbol = (row["tradingsymbol"] or "").strip()
    subject = f"{where}, {symbol}" if symbol else where

    def cell(column: str) -> str:
        value = row.get(column)
        if value is None:  # a short row: csv fills missing trailing cells with None
            raise ContractError(_OWNER, column, None, "must be present", subject)
        return value.strip()

    try:
        kind = _enum(InstrumentType, "instrument_type", cell("instrument_type"), subject)
        raw_strike = _float(cell("strike"), "strike", subject, empty=0.0)
        return Instrument(
            instrument_token=InstrumentToken(
                _int(cell("instrument_token"), "instrument_token", subject)
            ),
            exchange_token=_int(cell("exchange_token"), "exchange_token", subject),
            tradingsymbol=symbol,
            name=cell("name"),
            exchange=_enum(Exchange, "exchange", cell("exchange"), subject),
            segment=cell("segment"),
            instrument_type=kind,
            expiry=_date(cell("expiry"), subject),
            # The dump writes 0 where a strike does not apply; the domain type says None.
            strike=raw_strike if kind.is_option or raw_strike != 0 else None,
            tick_size=_float(cell("tick_size"), "tick_size", subject),
            lot_size=_int(cell("lot_size"), "lot_size", subject),
        )
    except ContractError as error:
        if error.subject == subject:
            raise
        # Re-raise the constructor's error with the line number in it.
        raise ContractError(error.owner, error.field, error.value, error.rule, subject) from error


def _int(text: str, column: str, subject: str) -> int:
    """A cell as an int: the text is only parsed here; rejecting it is validation.integer's job."""
    try:
        value: int | str = int(text)
    except ValueError:
        value = text  # not a whole number: integer() rejects it with the usual message
    # integer() checks the type at run time; the cast only tells the type checker so.
    return integer(_OWNER, column, cast("int", value), subject=subject)


def _float(text: str, column: str, subject: str, empty: float | None = None) -> float:
    if not text and empty is not None:
        return empty
    try:
        return float(text)
    except ValueError:
        raise ContractError(_OWNER, column, text, "must be a number", subject) from None


def _date(text: str, subject: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ContractError(_OWNER, "expiry", text, "must be a YYYY-MM-DD date", subject) from None


def _enum(kind: type[_E], column: str, text: str, subject: str) -> _E:
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ContractError(
            _OWNER, column, text, f"must be one of {{{allowed}}}", subject
        ) from None


def instruments_to_frame(instruments: Iterable[Instrument]) -> pl.DataFrame:
    """The instruments as a polars frame (one row each, typed columns, ``freeze_quantity`` and
    ``strike`` null where absent). Built from validated objects, so it obeys the same rules."""
    import polars as pl  # heavy; only the batch side needs frames

    rows = list(instruments)
    return pl.DataFrame(
        {
            "instrument_token": [i.instrument_token for i in rows],
            "exchange_token": [i.exchange_token for i in rows],
            "tradingsymbol": [i.tradingsymbol for i in rows],
            "name": [i.name for i in rows],
            "exchange": [i.exchange.value for i in rows],
            "segment": [i.segment for i in rows],
            "instrument_type": [i.instrument_type.value for i in rows],
            "expiry": [i.expiry for i in rows],
            "strike": [i.strike for i in rows],
            "tick_size": [i.tick_size for i in rows],
            "lot_size": [i.lot_size for i in rows],
            "freeze_quantity": [i.freeze_quantity for i in rows],
        },
        schema={
            "instrument_token": pl.Int64,
            "exchange_token": pl.Int64,
            "tradingsymbol": pl.String,
            "name": pl.String,
            "exchange": pl.String,
            "segment": pl.String,
            "instrument_type": pl.String,
            "expiry": pl.Date,
            "strike": pl.Float64,
            "tick_size": pl.Float64,
            "lot_size": pl.Int64,
            "freeze_quantity": pl.Int64,
        },
    )


# Kite names index derivatives by a short underlying (NIFTY) that is not the index's own
# tradingsymbol (NIFTY 50); stock derivatives use the stock's tradingsymbol.
INDEX_UNDERLYINGS: Final = {
    "NIFTY": "NIFTY 50",
    "BANKNIFTY": "NIFTY BANK",
    "FINNIFTY": "NIFTY FIN SERVICE",
    "MIDCPNIFTY": "NIFTY MID SELECT",
    "SENSEX": "SENSEX",
}


def underlying_tokens(instruments: Iterable[Instrument]) -> dict[int, int]:
    """Each derivative's underlying instrument token (options and futures whose underlying is in
    ``instruments``: the index for NIFTY contracts, the NSE stock for stock contracts)."""
    rows = list(instruments)
    by_symbol: dict[str, int] = {}
    for i in rows:
        if i.segment == INDICES_SEGMENT or i.exchange is Exchange.NSE:
            by_symbol.setdefault(i.tradingsymbol, int(i.instrument_token))
    found: dict[int, int] = {}
    for i in rows:
        if i.instrument_type.is_derivative:
            symbol = INDEX_UNDERLYINGS.get(i.name, i.name)
            underlying = by_symbol.get(symbol)
            if underlying is not None:
                found[int(i.instrument_token)] = underlying
    return found


# --- lookup -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstrumentMaster:
    """One day's instruments, looked up by ``(exchange, tradingsymbol)`` (or by token, which is
    only unique within one dump). Duplicate keys or tokens raise."""

    instruments: tuple[Instrument, ...]
    _by_key: Mapping[tuple[str, str], Instrument] = field(init=False, repr=False, compare=False)
    _by_token: Mapping[int, Instrument] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[tuple[str, str], Instrument] = {}
        by_token: dict[int, Instrument] = {}
        for instrument in self.instruments:
            if not isinstance(instrument, Instrument):
                raise ContractError(
                    "InstrumentMaster", "instruments", instrument, "must hold Instrument values"
                )
            key = (instrument.exchange.value, instrument.tradingsymbol)
            if key in by_key:
                raise ContractError(
                    "InstrumentMaster",
                    "tradingsymbol",
                    instrument.tradingsymbol,
                    f"must be unique per exchange ({instrument.exchange.value})",
                )
            if instrument.instrument_token in by_token:
                raise ContractError(
                    "InstrumentMaster",
                    "instrument_token",
                    instrument.instrument_token,
                    "must be unique within one dump",
                    instrument.tradingsymbol,
                )
            by_key[key] = instrument
            by_token[instrument.instrument_token] = instrument
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))
        object.__setattr__(self, "_by_token", MappingProxyType(by_token))

    @classmethod
    def of(cls, instruments: Iterable[Instrument]) -> InstrumentMaster:
        return cls(tuple(instruments))

    def get(self, exchange: Exchange | str, tradingsymbol: str) -> Instrument | None:
        return self._by_key.get((str(exchange), tradingsymbol))

    def __getitem__(self, key: tuple[Exchange | str, str]) -> Instrument:
        exchange, tradingsymbol = key
        found = self.get(exchange, tradingsymbol)
        if found is None:
            raise KeyError(f"{exchange}:{tradingsymbol}")
        return found

    def by_token(self, token: int) -> Instrument | None:
        return self._by_token.get(token)

    def __contains__(self, key: object) -> bool:
        if not (isinstance(key, tuple) and len(key) == 2):
            return False
        return (str(key[0]), key[1]) in self._by_key

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self.instruments)

    def __len__(self) -> int:
        return len(self.instruments)
