"""Zerodha's charges on NSE equity and F&O trades: the one charges model of the product.

Labels, backtests, the paper exchange, the expected-profit filter and P&L all price trades here,
so they can never disagree. The rates are dated data (``data/zerodha_charges.yaml``): a rate change
is a new dated entry, not a code change. Formula, rates, sources, rounding: ``docs/charges.md``.

    model = ChargesModel.default()
    model.leg(ChargeSegment.INTRADAY, Side.BUY, 1000, 500, on=date(2025, 6, 16))   # one order
    model.round_trip(ChargeSegment.OPTIONS, 100, 120, 65, on=date(2026, 4, 15))   # buy + sell
    model.round_trip(...).as_dict()   # {"brokerage": 40.0, ..., "total": 65.11}, to the paisa
    model.leg_totals(ChargeSegment.INTRADAY, Side.BUY, turnover, days)   # many legs, float64

Amounts are exact :class:`~decimal.Decimal` rupees, never rounded inside; only
:meth:`ChargeBreakdown.as_dict` rounds (to the paisa, half up), because it is for showing. The
vectorized :meth:`ChargesModel.leg_totals` and :meth:`ChargesModel.dp_totals` (for backtests over
many trades) use the same dated rates in float64 and agree with the Decimal legs to far below a
paisa.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import yaml

from data_contracts.enums import ChargeSegment, Side
from data_contracts.errors import ContractError
from data_contracts.validation import integer

__all__ = ["ChargeBreakdown", "ChargesModel"]

_ZERO = Decimal(0)
_PAISA = Decimal("0.01")
_OWNER = "ChargesModel"
_DEFAULT_FILE = "zerodha_charges.yaml"
# Enough significant digits that every product and sum of realistic inputs is exact (a float
# price has up to 17, a quantity ~10, a rate ~5); the default context's 28 could round the last.
_EXACT = Context(prec=60)
_RATES_MEMO_MAX = 4096
_ITEMS = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst", "dp")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChargeBreakdown:
    """Charges in rupees, itemised and exact. ``total`` is always the sum of the items.

    ``ChargeBreakdown()`` is zero; ``+`` adds item by item, so legs sum to a round trip and
    ``sum(breakdowns)`` works.
    """

    brokerage: Decimal = _ZERO
    stt: Decimal = _ZERO
    exchange_txn: Decimal = _ZERO  # NSE transaction charge including the IPFT levy
    sebi: Decimal = _ZERO
    stamp_duty: Decimal = _ZERO
    gst: Decimal = _ZERO  # on brokerage + exchange_txn + sebi (the DP charge's GST is inside dp)
    dp: Decimal = _ZERO  # depository charge including its GST

    def __post_init__(self) -> None:
        for name in _ITEMS:
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ContractError("ChargeBreakdown", name, value, "must be a finite Decimal >= 0")

    @property
    def total(self) -> Decimal:
        with localcontext(_EXACT):
            return (
                self.brokerage
                + self.stt
                + self.exchange_txn
                + self.sebi
                + self.stamp_duty
                + self.gst
                + self.dp
            )

    def __add__(self, other: ChargeBreakdown) -> ChargeBreakdown:
        if not isinstance(other, ChargeBreakdown):
            return NotImplemented
        with localcontext(_EXACT):
            return ChargeBreakdown(**{n: getattr(self, n) + getattr(other, n) for n in _ITEMS})

    def __radd__(self, other: int) -> ChargeBreakdown:
        # Only so that sum(), which starts from the integer 0, works.
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        return NotImplemented

    def as_dict(self) -> dict[str, float]:
        """Rupees as floats rounded to the paisa (half up), keyed ``brokerage, stt, exchange_txn,
        sebi, stamp_duty, gst, dp, total``.

        Each value is rounded on its own and ``total`` is the rounded exact total, so the shown
        items can differ from the shown total by a few paise. Compute with the Decimal fields.
        """
        exact = {name: getattr(self, name) for name in _ITEMS} | {"total": self.total}
        return {name: float(value.quantize(_PAISA, ROUND_HALF_UP)) for name, value in exact.items()}


@dataclass(frozen=True, slots=True)
class ChargesModel:
    """Zerodha's charges for NSE equity delivery (CNC), intraday (MIS), futures and options.

    Build with :meth:`default` (the rates shipped in the package) or :meth:`from_yaml`. Prices are
    per unit (options: the premium); quantities are units (F&O: lots x lot size). Every price is for
    a date, because the rates are dated.
    """

    _schedule: _Schedule
    source: str

    @classmethod
    def default(cls) -> ChargesModel:
        """The model over the rates shipped in ``data_contracts/data/zerodha_charges.yaml``."""
        return _default_model()

    @classmethod
    def from_yaml(cls, path: str | Path) -> ChargesModel:
        """Load rates from a YAML file laid out like the shipped one; a malformed file raises a
        ContractError naming the key."""
        file = Path(path)
        return cls._from_text(file.read_text(encoding="utf-8"), file.name)

    @classmethod
    def _from_text(cls, text: str, source: str) -> ChargesModel:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            rule = f"must be valid YAML ({exc})"
            raise ContractError(source, "<document>", type(exc).__name__, rule) from exc
        return cls(_parse_schedule(raw, _Doc(source)), source)

    @property
    def valid_from(self) -> date:
        """The first date priced; earlier dates raise (the rates before it are not in the data)."""
        return self._schedule.sebi.starts[0]

    def leg(
        self, segment: ChargeSegment, side: Side, price: float | Decimal, quantity: int, on: date
    ) -> ChargeBreakdown:
        """Charges of one executed order: ``quantity`` units at ``price`` on the day ``on``.

        Never includes the DP charge, which is per scrip per day rather than per order; see
        :meth:`dp_charge`.
        """
        segment, side = _segment(segment), _side(side)
        unit_price = _amount("price", price)
        units = integer(_OWNER, "quantity", quantity, minimum=1)
        rates = self._schedule.rates(segment, self._day("on", on))
        with localcontext(_EXACT):
            return _leg(rates, side, unit_price * units)

    def round_trip(
        self,
        segment: ChargeSegment,
        buy_price: float | Decimal,
        sell_price: float | Decimal,
        quantity: int,
        on: date,
        *,
        sell_on: date | None = None,
    ) -> ChargeBreakdown:
        """Buy leg on ``on`` plus sell leg on ``sell_on`` (default: the same day), plus, for
        delivery, one DP charge on the sell day.

        An intraday round trip must buy and sell on the same day. Selling one scrip in several
        orders on one day costs one DP charge: sum the legs and add :meth:`dp_charge` once.
        """
        segment = _segment(segment)
        sell_day = on if sell_on is None else sell_on
        if segment is ChargeSegment.INTRADAY and sell_day != on:
            raise ContractError(
                _OWNER, "sell_on", sell_on, f"must equal on ({on}) for an intraday round trip"
            )
        # The same checks, in the same order, as leg(BUY) then leg(SELL) then dp_charge(), and the
        # same Decimal operations in the same order as summing those breakdowns (so the same
        # numbers, to the exponent); only the intermediate breakdowns, whose items are products
        # and sums of finite non-negative numbers, are not built and re-validated.
        buy_unit = _amount("price", buy_price)
        units = integer(_OWNER, "quantity", quantity, minimum=1)
        buy_rates = self._schedule.rates(segment, self._day("on", on))
        sell_unit = _amount("price", sell_price)
        sell_rates = self._schedule.rates(segment, self._day("on", sell_day))
        with localcontext(_EXACT):
            buy = _leg_items(buy_rates, Side.BUY, buy_unit * units)
            sell = _leg_items(sell_rates, Side.SELL, sell_unit * units)
            items = [b + s for b, s in zip(buy, sell, strict=True)]
            if segment is ChargeSegment.DELIVERY:
                dp = self._schedule.dp_inr.at(sell_day) * (1 + self._schedule.gst.at(sell_day))
                items = [item + _ZERO for item in items[:-1]] + [items[-1] + dp]
        return ChargeBreakdown(*items)

    def dp_charge(self, on: date) -> ChargeBreakdown:
        """The DP charge (with its GST) for one scrip sold from demat on the day ``on``."""
        day = self._day("on", on)
        with localcontext(_EXACT):
            gst = self._schedule.gst.at(day)
            return ChargeBreakdown(dp=self._schedule.dp_inr.at(day) * (1 + gst))

    def options_exercise(
        self, intrinsic_value: float | Decimal, quantity: int, on: date
    ) -> ChargeBreakdown:
        """STT on a long option held to expiry and exercised in the money: ``intrinsic_value`` per
        unit (call: settlement - strike; put: strike - settlement) times ``quantity`` units.

        Only the STT is modelled (0.125 %, 0.15 % from 2026-04-01); add it to the buy leg.
        """
        value = _amount("intrinsic_value", intrinsic_value)
        units = integer(_OWNER, "quantity", quantity, minimum=1)
        day = self._day("on", on)
        with localcontext(_EXACT):
            return ChargeBreakdown(stt=value * units * self._schedule.stt_exercised.at(day))

    def leg_totals(
        self,
        segment: ChargeSegment,
        side: Side,
        turnover: npt.ArrayLike,
        days: npt.ArrayLike,
    ) -> npt.NDArray[np.float64]:
        """Total charges of many orders in one segment and side, as float64 rupees.

        ``turnover[i]`` is order i's price x quantity (rupees, finite, > 0) and ``days[i]`` its
        day (``datetime64[D]``; a finer unit is refused rather than truncated). Row i equals
        ``leg(segment, side, ...).total`` for the same order to within float rounding (~1e-9
        rupees on realistic orders): the same dated rates, the same formula, no DP charge.
        """
        segment, side = _segment(segment), _side(side)
        values, day_values = self._vectors(turnover, days)
        if values.size == 0:
            return np.zeros(0, dtype=np.float64)
        unique_days, where = np.unique(day_values, return_inverse=True)
        rates = [self._schedule.rates(segment, d) for d in _dates(self, unique_days)]
        buying = side is Side.BUY

        def column(rate: Callable[[_Rates], Decimal | None]) -> npt.NDArray[np.float64]:
            per_day = [rate(r) for r in rates]
            return np.array([np.nan if v is None else float(v) for v in per_day])[where]

        fraction = column(lambda r: r.brokerage.fraction)
        cap_or_flat = column(lambda r: r.brokerage.inr)
        brokerage = np.where(
            np.isnan(fraction), cap_or_flat, np.minimum(cap_or_flat, fraction * values)
        )
        stt = values * column(lambda r: r.stt.buy if buying else r.stt.sell)
        exchange_txn = values * column(lambda r: r.exchange_txn)
        sebi = values * column(lambda r: r.sebi)
        stamp = values * column(lambda r: r.stamp_buy) if buying else np.zeros_like(values)
        gst = column(lambda r: r.gst) * (brokerage + exchange_txn + sebi)
        total: npt.NDArray[np.float64] = brokerage + stt + exchange_txn + sebi + stamp + gst
        return total

    def dp_totals(self, days: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The DP charge (with its GST) for one scrip sold from demat on each of ``days``
        (``datetime64[D]``), as float64 rupees: :meth:`dp_charge` for many days."""
        _, day_values = self._vectors(np.ones(np.shape(days)), days)
        if day_values.size == 0:
            return np.zeros(0, dtype=np.float64)
        unique_days, where = np.unique(day_values, return_inverse=True)
        per_day = [float(self.dp_charge(d).total) for d in _dates(self, unique_days)]
        return np.array(per_day, dtype=np.float64)[where]

    def _vectors(
        self, turnover: npt.ArrayLike, days: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.datetime64]]:
        values = np.asarray(turnover, dtype=np.float64)
        day_values = np.asarray(days)
        if values.ndim != 1:
            raise ContractError(_OWNER, "turnover", values.shape, "must be a 1-D array")
        if day_values.dtype != np.dtype("datetime64[D]"):
            rule = "must be a datetime64[D] array (calendar days)"
            raise ContractError(_OWNER, "days", day_values.dtype, rule)
        if day_values.shape != values.shape:
            rule = f"must have the shape of turnover {values.shape}"
            raise ContractError(_OWNER, "days", day_values.shape, rule)
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            raise ContractError(_OWNER, "turnover", values[bad][0], "must be finite and > 0")
        if np.isnat(day_values).any():
            raise ContractError(_OWNER, "days", "NaT", "must be calendar days, not NaT")
        return values, day_values

    def _day(self, field: str, value: date) -> date:
        # datetime is a date subclass, but rates are dated by calendar day: refuse, don't truncate.
        if isinstance(value, datetime) or not isinstance(value, date):
            raise ContractError(_OWNER, field, value, "must be a date (not a datetime)")
        if value < self.valid_from:
            rule = f"must be on or after {self.valid_from} (first effective_from in {self.source})"
            raise ContractError(_OWNER, field, value, rule)
        return value


@lru_cache(maxsize=1)
def _default_model() -> ChargesModel:
    # Immutable, so one shared instance is safe and the file is parsed once per process.
    text = (resources.files("data_contracts") / "data" / _DEFAULT_FILE).read_text("utf-8")
    return ChargesModel._from_text(text, _DEFAULT_FILE)


def _dates(model: ChargesModel, days: npt.NDArray[np.datetime64]) -> list[date]:
    """numpy calendar days as checked ``date``s (each on or after the model's first date)."""
    return [model._day("days", day) for day in days.astype(object)]


# --- the arithmetic ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Brokerage:
    fraction: Decimal | None  # None: a flat fee
    inr: Decimal  # the cap, or the flat fee

    def on(self, turnover: Decimal) -> Decimal:
        return self.inr if self.fraction is None else min(self.inr, self.fraction * turnover)


@dataclass(frozen=True, slots=True)
class _BuySell:
    buy: Decimal
    sell: Decimal


@dataclass(frozen=True, slots=True)
class _Rates:
    """Every rate that prices one leg in one segment on one day (fractions, not percents)."""

    brokerage: _Brokerage
    stt: _BuySell
    exchange_txn: Decimal
    sebi: Decimal
    stamp_buy: Decimal
    gst: Decimal


def _leg(rates: _Rates, side: Side, turnover: Decimal) -> ChargeBreakdown:
    return ChargeBreakdown(*_leg_items(rates, side, turnover))


def _leg_items(rates: _Rates, side: Side, turnover: Decimal) -> tuple[Decimal, ...]:
    """One leg's items in ``_ITEMS`` order (the DP charge is never part of a leg: zero)."""
    brokerage = rates.brokerage.on(turnover)
    exchange_txn = turnover * rates.exchange_txn
    sebi = turnover * rates.sebi
    buying = side is Side.BUY
    return (
        brokerage,
        turnover * (rates.stt.buy if buying else rates.stt.sell),
        exchange_txn,
        sebi,
        turnover * rates.stamp_buy if buying else _ZERO,
        rates.gst * (brokerage + exchange_txn + sebi),
        _ZERO,
    )


def _amount(field: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ContractError(_OWNER, field, value, "must be a number")
    # str() of a float is its shortest round-tripping decimal, i.e. the price the caller wrote
    # (66666.67), not the binary approximation (66666.669999...) that Decimal(float) would give.
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if not number.is_finite() or number <= 0:
        raise ContractError(_OWNER, field, value, "must be a finite number > 0")
    return number


def _segment(value: object) -> ChargeSegment:
    if isinstance(value, str) and value in ChargeSegment.__members__.values():
        return ChargeSegment(value)
    allowed = ", ".join(s.value for s in ChargeSegment)
    raise ContractError(_OWNER, "segment", value, f"must be one of {{{allowed}}}")


def _side(value: object) -> Side:
    if isinstance(value, str) and value in Side.__members__.values():
        return Side(value)
    raise ContractError(_OWNER, "side", value, "must be one of {BUY, SELL}")


# --- the dated schedule --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Series(Generic[T]):
    """Values by effective date: each holds from its start until the next one's."""

    starts: tuple[date, ...]
    values: tuple[T, ...]

    def at(self, on: date) -> T:
        # The caller has checked on >= valid_from, and every series starts there.
        return self.values[bisect.bisect_right(self.starts, on) - 1]


@dataclass(frozen=True, slots=True)
class _Schedule:
    brokerage: Mapping[ChargeSegment, _Series[_Brokerage]]
    stt: Mapping[ChargeSegment, _Series[_BuySell]]
    stt_exercised: _Series[Decimal]
    exchange_txn: Mapping[ChargeSegment, _Series[Decimal]]
    sebi: _Series[Decimal]
    stamp_buy: Mapping[ChargeSegment, _Series[Decimal]]
    gst: _Series[Decimal]
    dp_inr: _Series[Decimal]

    # (segment, day) -> its rates: the schedule is immutable, so a memo never goes stale. Bounded
    # (cleared when full): a long backtest prices thousands of days.
    _memo: dict[tuple[ChargeSegment, date], _Rates] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def rates(self, segment: ChargeSegment, on: date) -> _Rates:
        key = (segment, on)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= _RATES_MEMO_MAX:
                self._memo.clear()
            found = self._memo[key] = self._rates(segment, on)
        return found

    def _rates(self, segment: ChargeSegment, on: date) -> _Rates:
        return _Rates(
            brokerage=self.brokerage[segment].at(on),
            stt=self.stt[segment].at(on),
            exchange_txn=self.exchange_txn[segment].at(on),
            sebi=self.sebi.at(on),
            stamp_buy=self.stamp_buy[segment].at(on),
            gst=self.gst.at(on),
        )


# --- reading the YAML ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Doc:
    """The file being read, so every error names it and the key."""

    source: str

    def error(self, key: str, value: object, rule: str) -> ContractError:
        return ContractError(self.source, key or "<document>", value, rule)


_Build = Callable[[Mapping[str, object], _Doc, str], T]
_ENTRY_META = frozenset({"effective_from", "source", "uncertain"})
_SCHEMA_VERSION = 1
_TOP_KEYS = frozenset(
    {
        "schema_version",
        "brokerage",
        "stt",
        "stt_options_exercised",
        "exchange_txn",
        "sebi",
        "stamp_duty",
        "gst",
        "dp_charge",
    }
)


def _parse_schedule(raw: object, doc: _Doc) -> _Schedule:
    top = _mapping(raw, doc, "")
    _exact_keys(top, _TOP_KEYS, doc, "")
    if top["schema_version"] != _SCHEMA_VERSION:
        raise doc.error("schema_version", top["schema_version"], f"must be {_SCHEMA_VERSION}")
    schedule = _Schedule(
        brokerage=_by_segment(top, "brokerage", doc, _build_brokerage),
        stt=_by_segment(top, "stt", doc, _build_buy_sell),
        stt_exercised=_series(
            top["stt_options_exercised"], "stt_options_exercised", doc, _percent("percent")
        ),
        exchange_txn=_by_segment(top, "exchange_txn", doc, _build_exchange),
        sebi=_series(top["sebi"], "sebi", doc, _percent("percent")),
        stamp_buy=_by_segment(top, "stamp_duty", doc, _percent("buy_percent")),
        gst=_series(top["gst"], "gst", doc, _percent("percent")),
        dp_inr=_series(top["dp_charge"], "dp_charge", doc, _rupees("inr_per_scrip_per_day")),
    )
    _same_start(schedule, doc)
    return schedule


def _same_start(schedule: _Schedule, doc: _Doc) -> None:
    # One horizon for every charge: otherwise a date could be priced for some items and not others.
    firsts = {
        **_firsts("brokerage", schedule.brokerage),
        **_firsts("stt", schedule.stt),
        "stt_options_exercised": schedule.stt_exercised.starts[0],
        **_firsts("exchange_txn", schedule.exchange_txn),
        "sebi": schedule.sebi.starts[0],
        **_firsts("stamp_duty", schedule.stamp_buy),
        "gst": schedule.gst.starts[0],
        "dp_charge": schedule.dp_inr.starts[0],
    }
    horizon = schedule.sebi.starts[0]
    for key, first in firsts.items():
        if first != horizon:
            rule = f"must equal the first effective_from of every series ({horizon})"
            raise doc.error(f"{key}[0].effective_from", first, rule)


def _firsts(key: str, table: Mapping[ChargeSegment, _Series[Any]]) -> dict[str, date]:
    return {f"{key}.{segment}": series.starts[0] for segment, series in table.items()}


def _by_segment(
    top: Mapping[str, object], key: str, doc: _Doc, build: _Build[T]
) -> dict[ChargeSegment, _Series[T]]:
    table = _mapping(top[key], doc, key)
    _exact_keys(table, frozenset(s.value for s in ChargeSegment), doc, key)
    return {s: _series(table[s.value], f"{key}.{s.value}", doc, build) for s in ChargeSegment}


def _series(raw: object, key: str, doc: _Doc, build: _Build[T]) -> _Series[T]:
    if not isinstance(raw, list) or not raw:
        raise doc.error(key, raw, "must be a non-empty list of dated entries")
    starts: list[date] = []
    values: list[T] = []
    for index, item in enumerate(raw):
        where = f"{key}[{index}]"
        start, fields = _entry(item, doc, where)
        if starts and start <= starts[-1]:
            raise doc.error(
                f"{where}.effective_from",
                start,
                f"must be after the previous entry's ({starts[-1]})",
            )
        starts.append(start)
        values.append(build(fields, doc, where))
    return _Series(tuple(starts), tuple(values))


def _entry(raw: object, doc: _Doc, where: str) -> tuple[date, dict[str, object]]:
    """An entry's effective date and its rate fields, after checking its source and notes."""
    entry = _mapping(raw, doc, where)
    for required in ("effective_from", "source"):
        if required not in entry:
            raise doc.error(f"{where}.{required}", None, "is required")
    source = entry["source"]
    if not isinstance(source, str) or not source.strip():
        raise doc.error(f"{where}.source", source, "must be a non-empty string naming the source")
    if not isinstance(entry.get("uncertain", ""), str):
        raise doc.error(f"{where}.uncertain", entry["uncertain"], "must be a string")
    fields = {k: v for k, v in entry.items() if k not in _ENTRY_META}
    return _effective_from(entry["effective_from"], doc, where), fields


def _effective_from(value: object, doc: _Doc, where: str) -> date:
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            pass
    if isinstance(value, datetime) or not isinstance(value, date):
        raise doc.error(f"{where}.effective_from", value, "must be a date (YYYY-MM-DD)")
    return value


def _numbers(
    fields: Mapping[str, object], doc: _Doc, where: str, names: frozenset[str]
) -> dict[str, Decimal]:
    """Exactly the fields ``names``, each parsed as a number >= 0."""
    unknown = sorted(set(fields) - names)
    if unknown:
        raise doc.error(
            f"{where}.{unknown[0]}",
            fields[unknown[0]],
            f"is not a known field here (expected {', '.join(sorted(names))})",
        )
    missing = sorted(names - set(fields))
    if missing:
        raise doc.error(f"{where}.{missing[0]}", None, "is required")
    return {name: _number(fields[name], doc, f"{where}.{name}") for name in names}


def _number(value: object, doc: _Doc, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise doc.error(key, value, 'must be a number, written as a string such as "0.00307"')
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise doc.error(key, value, 'must be a number such as "0.00307"') from None
    if not number.is_finite() or number < 0:
        raise doc.error(key, value, "must be a finite number >= 0")
    if key.endswith("percent") and number > 100:
        raise doc.error(key, value, "must be a percentage within [0, 100]")
    return number


def _percent(name: str) -> _Build[Decimal]:
    def build(fields: Mapping[str, object], doc: _Doc, where: str) -> Decimal:
        return _numbers(fields, doc, where, frozenset({name}))[name].scaleb(-2)

    return build


def _rupees(name: str) -> _Build[Decimal]:
    def build(fields: Mapping[str, object], doc: _Doc, where: str) -> Decimal:
        return _numbers(fields, doc, where, frozenset({name}))[name]

    return build


def _build_brokerage(fields: Mapping[str, object], doc: _Doc, where: str) -> _Brokerage:
    if "flat_inr" in fields:
        return _Brokerage(None, _numbers(fields, doc, where, frozenset({"flat_inr"}))["flat_inr"])
    capped = _numbers(fields, doc, where, frozenset({"percent", "cap_inr"}))
    return _Brokerage(capped["percent"].scaleb(-2), capped["cap_inr"])


def _build_buy_sell(fields: Mapping[str, object], doc: _Doc, where: str) -> _BuySell:
    rates = _numbers(fields, doc, where, frozenset({"buy_percent", "sell_percent"}))
    return _BuySell(rates["buy_percent"].scaleb(-2), rates["sell_percent"].scaleb(-2))


def _build_exchange(fields: Mapping[str, object], doc: _Doc, where: str) -> Decimal:
    # IPFT is billed inside the exchange transaction charge, so the two make one item.
    rates = _numbers(fields, doc, where, frozenset({"exchange_percent", "ipft_percent"}))
    return (rates["exchange_percent"] + rates["ipft_percent"]).scaleb(-2)


def _mapping(raw: object, doc: _Doc, key: str) -> Mapping[str, object]:
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise doc.error(key, type(raw).__name__, "must be a mapping with string keys")
    return raw


def _exact_keys(table: Mapping[str, object], expected: frozenset[str], doc: _Doc, key: str) -> None:
    def path(name: str) -> str:
        return f"{key}.{name}" if key else name

    missing = sorted(expected - set(table))
    if missing:
        raise doc.error(path(missing[0]), None, "is required")
    unknown = sorted(set(table) - expected)
    if unknown:
        raise doc.error(
            path(unknown[0]),
            table[unknown[0]],
            f"is not a known key (expected {', '.join(sorted(expected))})",
        )
