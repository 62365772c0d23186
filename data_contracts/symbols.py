"""Kite's NFO/BFO derivative tradingsymbols, read and written.

Formats (reference ``kite-connect.md`` §4.1):

* monthly option  ``<UNDERLYING><YY><MMM><STRIKE><CE|PE>``  e.g. ``BANKNIFTY18JAN23500CE``
* monthly future  ``<UNDERLYING><YY><MMM>FUT``              e.g. ``NIFTY15DECFUT``
* weekly option   ``<UNDERLYING><YY><M><DD><STRIKE><CE|PE>`` e.g. ``NIFTY2580724400CE``
  (7 Aug 2025), where ``M`` is ``1``-``9`` for Jan-Sep and ``O``/``N``/``D`` for Oct/Nov/Dec.

The underlying is *given*, never guessed. Underlyings may end in digits (``NIFTYNXT50``,
``SENSEX50``) and a weekly symbol is all digits after the underlying, so ``SENSEX502682078000CE``
cannot be split without knowing where the underlying ends. The instruments dump carries it in the
``name`` column (``Instrument.name``), so callers pass that. With the underlying known, the rest is
unambiguous: a monthly remainder has letters right after ``YY``, a weekly one has ``DD`` digits.

Strikes are written the way Kite writes them: no trailing zeros and no decimal point for whole
strikes (``24400``), a decimal where the contract has one (``ASHOKLEY26AUG172.5CE``). Parsing only
accepts that canonical form, so ``format(parse(s)) == s`` for every symbol that parses.

Whether an expiry is the month's last one (and so uses the monthly format) is a calendar question;
:func:`format_symbol` takes it as an argument instead of computing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from data_contracts.enums import InstrumentType
from data_contracts.errors import ContractError
from data_contracts.validation import integer

__all__ = ["DerivativeSymbol", "format_strike", "format_symbol", "parse_symbol"]

_OWNER = "DerivativeSymbol"

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKLY_MONTH_CODES = "123456789OND"

# Letters, digits, '&' and '-' cover every underlying in the real dump (M&M, BAJAJ-AUTO, 360ONE).
_UNDERLYING = re.compile(r"[A-Z0-9&\-]+")
# Canonical strike: no leading zeros (bar "0.5"), no trailing fractional zeros, no bare '.'.
_STRIKE = r"(?P<strike>(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?)"
_MONTHLY_REST = re.compile(
    r"(?P<yy>[0-9]{2})(?P<mmm>" + "|".join(_MONTHS) + r")(?:FUT|" + _STRIKE + r"(?P<opt>CE|PE))"
)
_WEEKLY_REST = re.compile(
    r"(?P<yy>[0-9]{2})(?P<m>[1-9OND])(?P<dd>[0-9]{2})" + _STRIKE + r"(?P<opt>CE|PE)"
)

_MIN_YEAR = 2000  # YY is two digits; every Kite contract is from this century.
_MAX_YEAR = 2099


@dataclass(frozen=True, slots=True)
class DerivativeSymbol:
    """The parts of a derivative tradingsymbol.

    ``day`` is set for weekly symbols only (a monthly symbol names the month, not the day);
    ``strike`` is set for options only.
    """

    underlying: str
    year: int
    month: int
    day: int | None
    strike: Decimal | None
    instrument_type: InstrumentType

    def __post_init__(self) -> None:
        subject = self.underlying if isinstance(self.underlying, str) else None
        if not isinstance(self.underlying, str) or _UNDERLYING.fullmatch(self.underlying) is None:
            raise ContractError(
                _OWNER,
                "underlying",
                self.underlying,
                "must be upper-case letters, digits, '&' or '-'",
            )
        _integer_in("year", self.year, _MIN_YEAR, _MAX_YEAR, subject)
        _integer_in("month", self.month, 1, 12, subject)
        if not isinstance(self.instrument_type, InstrumentType) or (
            self.instrument_type is InstrumentType.EQ
        ):
            raise ContractError(
                _OWNER, "instrument_type", self.instrument_type, "must be FUT, CE or PE", subject
            )
        if self.day is not None:
            _integer_in("day", self.day, 1, 31, subject)
            try:
                date(self.year, self.month, self.day)
            except ValueError:
                raise ContractError(
                    _OWNER,
                    "day",
                    self.day,
                    f"must be a day of {self.year}-{self.month:02d}",
                    subject,
                ) from None
            if self.instrument_type is InstrumentType.FUT:
                raise ContractError(
                    _OWNER, "day", self.day, "must be None for a future (monthly only)", subject
                )
        if self.instrument_type.is_option:
            if (
                not isinstance(self.strike, Decimal)
                or not self.strike.is_finite()
                or self.strike <= 0
            ):
                raise ContractError(
                    _OWNER, "strike", self.strike, "must be a finite Decimal > 0", subject
                )
        elif self.strike is not None:
            raise ContractError(_OWNER, "strike", self.strike, "must be None for a future", subject)

    @property
    def is_weekly(self) -> bool:
        return self.day is not None

    @property
    def is_monthly(self) -> bool:
        return self.day is None

    def matches_expiry(self, expiry: date) -> bool:
        """True when ``expiry`` is the date this symbol names: the exact day for a weekly, the
        year and month for a monthly."""
        if (expiry.year, expiry.month) != (self.year, self.month):
            return False
        return self.day is None or expiry.day == self.day

    def format(self) -> str:
        """The tradingsymbol, exactly as Kite writes it."""
        yy = f"{self.year % 100:02d}"
        if self.instrument_type is InstrumentType.FUT:
            return f"{self.underlying}{yy}{_MONTHS[self.month - 1]}FUT"
        if self.strike is None:  # __post_init__ rules this out; the check narrows the type
            raise ContractError(
                _OWNER, "strike", None, "must be set for an option", self.underlying
            )
        strike = format_strike(self.strike)
        if self.day is None:
            when = f"{yy}{_MONTHS[self.month - 1]}"
        else:
            when = f"{yy}{_WEEKLY_MONTH_CODES[self.month - 1]}{self.day:02d}"
        return f"{self.underlying}{when}{strike}{self.instrument_type.value}"

    def __str__(self) -> str:
        return self.format()

    @classmethod
    def of(
        cls,
        underlying: str,
        expiry: date,
        strike: Decimal | float | int | str | None,
        instrument_type: InstrumentType,
        *,
        monthly: bool,
    ) -> DerivativeSymbol:
        """Build from contract terms. ``monthly`` says whether ``expiry`` is the month's last
        expiry for this underlying (decided by the caller's exchange calendar or the dump)."""
        if isinstance(expiry, datetime) or not isinstance(expiry, date):
            raise ContractError(_OWNER, "expiry", expiry, "must be a date", underlying)
        if instrument_type is InstrumentType.FUT and not monthly:
            raise ContractError(
                _OWNER,
                "monthly",
                monthly,
                "must be True for a future (monthly format only)",
                underlying,
            )
        return cls(
            underlying=underlying,
            year=expiry.year,
            month=expiry.month,
            day=None if monthly else expiry.day,
            strike=None if strike is None else _to_strike(strike, underlying),
            instrument_type=instrument_type,
        )


def parse_symbol(tradingsymbol: str, underlying: str) -> DerivativeSymbol:
    """Split a derivative tradingsymbol whose underlying is ``underlying`` (the dump's ``name``).

    Raises :class:`ContractError` when the symbol does not start with the underlying or the rest
    is neither the monthly nor the weekly format.
    """
    if not isinstance(tradingsymbol, str) or not isinstance(underlying, str) or not underlying:
        raise ContractError(
            _OWNER, "tradingsymbol", tradingsymbol, "needs a string symbol and underlying"
        )
    if not tradingsymbol.startswith(underlying):
        raise ContractError(
            _OWNER, "tradingsymbol", tradingsymbol, f"must start with the underlying {underlying!r}"
        )
    rest = tradingsymbol[len(underlying) :]
    year: int
    month: int
    day: int | None
    if (m := _MONTHLY_REST.fullmatch(rest)) is not None:
        year, month, day = 2000 + int(m["yy"]), _MONTHS.index(m["mmm"]) + 1, None
    elif (m := _WEEKLY_REST.fullmatch(rest)) is not None:
        year, month = 2000 + int(m["yy"]), _WEEKLY_MONTH_CODES.index(m["m"]) + 1
        day = int(m["dd"])
    else:
        raise ContractError(
            _OWNER,
            "tradingsymbol",
            tradingsymbol,
            f"must be {underlying}<YY><MMM>FUT, {underlying}<YY><MMM><STRIKE><CE|PE> or "
            f"{underlying}<YY><M><DD><STRIKE><CE|PE>",
        )
    option = m["opt"]
    return DerivativeSymbol(
        underlying=underlying,
        year=year,
        month=month,
        day=day,
        strike=None if option is None else Decimal(m["strike"]),
        instrument_type=InstrumentType.FUT if option is None else InstrumentType(option),
    )


def format_symbol(
    underlying: str,
    expiry: date,
    strike: Decimal | float | int | str | None,
    instrument_type: InstrumentType,
    *,
    monthly: bool,
) -> str:
    """The tradingsymbol for a contract; ``monthly`` is True when ``expiry`` is the month's last
    expiry of this underlying (Kite then uses the monthly format even for a weekly series)."""
    symbol = DerivativeSymbol.of(underlying, expiry, strike, instrument_type, monthly=monthly)
    return symbol.format()


def format_strike(strike: Decimal) -> str:
    """Kite's spelling of a strike: ``24400``, ``172.5`` (never ``24400.0`` or ``2.44E+4``)."""
    return format(strike.normalize(), "f")


def _to_strike(value: Decimal | float | int | str, subject: str) -> Decimal:
    # A float goes through its shortest repr, so 172.5 stays 172.5 and 0.1 stays 0.1.
    if isinstance(value, bool):
        raise ContractError(_OWNER, "strike", value, "must be a number", subject)
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ContractError(_OWNER, "strike", value, "must be a number", subject) from None


def _integer_in(field: str, value: int, low: int, high: int, subject: str | None) -> None:
    """:func:`~data_contracts.validation.integer` with a maximum as well as a minimum."""
    integer(_OWNER, field, value, minimum=low, subject=subject)
    if value > high:
        raise ContractError(_OWNER, field, value, f"must be <= {high}", subject)
