"""The one conversion of a Kite tick dict into a :class:`~data_contracts.market.Tick`, at the
boundary, or into a :class:`~data_contracts.feed.DeadLetter` saying exactly what was wrong.

Facts relied on (reference ``kite-connect.md`` §3.4, ``kiteconnect/ticker.py`` ``_parse_binary``):
a tick dict has ``instrument_token`` and ``last_price`` in every mode; quote and full mode add
``last_traded_quantity`` and ``volume_traded``; full mode adds ``oi``, ``last_trade_time``,
``exchange_timestamp`` and ``depth`` (``{"buy": [{"price", "quantity", "orders"}] * 5, "sell":
...}``, empty levels all zeros). Indices (segment 9) carry no depth and no volume; their full mode
has ``exchange_timestamp`` only.

Time: the client builds both timestamps with ``datetime.fromtimestamp(epoch)``, i.e. *naive in the
local zone of the machine running it* (IST on an Indian desktop, hence "naive IST" in Kite's docs;
UTC in most containers). The parser inverts exactly that by default (``naive_zone=None``: a naive
value is read in the process's local zone), so ``ts_event`` is the exchange's epoch on any host;
pass ``naive_zone=IST`` only for dicts known to carry IST wall time. A zero epoch (Kite's "no
time", e.g. ``last_trade_time`` of an instrument that has not traded) counts as absent.
``ts_event`` is ``exchange_timestamp``, else ``last_trade_time``, else ``ts_init``.

``parse`` never raises on any tick dict: the reactor thread that calls it must survive whatever
the wire delivers. The happy path builds no exception and constructs the ``Tick`` once.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, time, tzinfo
from typing import Final, TypeGuard

from data_contracts.enums import DeadLetterReason
from data_contracts.errors import ContractError
from data_contracts.feed import DeadLetter
from data_contracts.ids import InstrumentToken
from data_contracts.market import Tick
from data_contracts.timeutil import require_aware
from data_contracts.validation import integer, non_empty

__all__ = ["TickParser"]

_OWNER: Final = "TickParser"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# ts_event is read from the first of these that holds a time.
_TIME_FIELDS: Final = ("exchange_timestamp", "last_trade_time")

_SHOW = reprlib.Repr()  # short, recursion-safe renderings of offending values in details
_SHOW.maxstring = 60
_SHOW.maxother = 60

_MALFORMED: Final = DeadLetterReason.MALFORMED


class _Rejected(Exception):
    """Raised inside the parser only (never escapes ``parse``) to stop at the first problem."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _show(value: object) -> str:
    return f"{_SHOW.repr(value)} ({type(value).__name__})"


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _price(value: object, field: str) -> float:
    """A finite, non-negative price; the reason names ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Rejected(_MALFORMED, f"{field} must be a number, was {_show(value)}")
    try:
        price = float(value)
    except OverflowError:
        raise _Rejected(_MALFORMED, f"{field} {value} does not fit a float") from None
    if not math.isfinite(price):
        raise _Rejected(DeadLetterReason.NAN_PRICE, f"{field} {price} is not finite")
    if price < 0.0:
        raise _Rejected(DeadLetterReason.NON_POSITIVE_PRICE, f"{field} {price} is negative")
    return price


def _quantity(raw: Mapping[str, object], field: str) -> int | None:
    """An optional non-negative integer field; None when absent (or None)."""
    value = raw.get(field)
    if value is None:
        return None
    if not _is_int(value):
        raise _Rejected(_MALFORMED, f"{field} must be an int, was {_show(value)}")
    if value < 0:
        raise _Rejected(DeadLetterReason.NEGATIVE_QUANTITY, f"{field} {value} is negative")
    return value


def _best_level(depth: Mapping[str, object], side: str) -> tuple[float | None, int]:
    """Level 0 of one side as ``(price, quantity)``; ``(None, 0)`` when that side is empty.

    Kite fills empty levels with zeros, so a zero price (or quantity) means "no quote".
    Deeper levels are not used and not checked."""
    levels = depth.get(side)
    if levels is None:
        return None, 0
    if not isinstance(levels, Sequence) or isinstance(levels, str | bytes):
        raise _Rejected(_MALFORMED, f"depth.{side} must be a list of levels, was {_show(levels)}")
    if not levels:
        return None, 0
    level = levels[0]
    where = f"depth.{side}[0]"
    if not isinstance(level, Mapping):
        raise _Rejected(_MALFORMED, f"{where} must be a mapping, was {_show(level)}")
    if "price" not in level or "quantity" not in level:
        raise _Rejected(
            _MALFORMED, f"{where} needs price and quantity, has {sorted(map(str, level))}"
        )
    price = _price(level["price"], f"{where}.price")
    quantity = level["quantity"]
    if not _is_int(quantity):
        raise _Rejected(_MALFORMED, f"{where}.quantity must be an int, was {_show(quantity)}")
    if quantity < 0:
        raise _Rejected(
            DeadLetterReason.NEGATIVE_QUANTITY, f"{where}.quantity {quantity} is negative"
        )
    if price == 0.0 or quantity == 0:
        return None, 0
    return price, quantity


def _token(raw: Mapping[str, object]) -> InstrumentToken:
    value = raw.get("instrument_token")
    if value is None:
        raise _Rejected(_MALFORMED, "instrument_token is missing")
    if not _is_int(value):
        raise _Rejected(_MALFORMED, f"instrument_token must be an int, was {_show(value)}")
    if value < 1:
        raise _Rejected(_MALFORMED, f"instrument_token {value} is not > 0")
    return InstrumentToken(value)


def _tick(
    raw: Mapping[str, object], token: InstrumentToken, ts_event: datetime, ts_init: datetime
) -> Tick:
    """The prices, quantities and best levels of ``raw``, checked, as one ``Tick``."""
    value = raw.get("last_price")
    if value is None:
        raise _Rejected(_MALFORMED, "last_price is missing")
    last_price = _price(value, "last_price")
    if last_price == 0.0:
        raise _Rejected(DeadLetterReason.NON_POSITIVE_PRICE, "last_price 0.0 is not > 0")
    last_quantity = _quantity(raw, "last_traded_quantity")
    volume = _quantity(raw, "volume_traded")
    oi = _quantity(raw, "oi")
    bid: float | None = None
    ask: float | None = None
    bid_quantity = ask_quantity = 0
    depth = raw.get("depth")
    if depth is not None:
        if not isinstance(depth, Mapping):
            raise _Rejected(_MALFORMED, f"depth must be a mapping, was {_show(depth)}")
        bid, bid_quantity = _best_level(depth, "buy")
        ask, ask_quantity = _best_level(depth, "sell")
        if bid is not None and ask is not None and bid > ask:
            raise _Rejected(DeadLetterReason.CROSSED_BOOK, f"bid {bid} > ask {ask}")
    return Tick(
        instrument_token=token,
        ts_event=ts_event,
        ts_init=ts_init,
        last_price=last_price,
        last_quantity=0 if last_quantity is None else last_quantity,
        volume=0 if volume is None else volume,
        bid=bid,
        ask=ask,
        bid_quantity=bid_quantity,
        ask_quantity=ask_quantity,
        oi=oi,
    )


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


def _render(raw: object) -> str:
    """The received datum as compact JSON (datetimes as ISO strings), else a bounded repr."""
    try:
        return json.dumps(raw, default=_jsonable, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # non-string keys, cycles, deep nesting
        pass
    try:
        return reprlib.repr(raw)
    except Exception:  # a value whose repr itself fails: keep the type, never fail here
        return f"<unprintable {type(raw).__name__}>"


class TickParser:
    """Converts Kite tick dicts of the instruments we know into ``Tick``s or dead letters.

    ``known_tokens``: the instruments this feed trades (any other token is
    ``UNKNOWN_INSTRUMENT``); ``source`` names the feed on dead letters; ``naive_zone``: the zone
    of naive timestamps (None: the process's local zone, as ``kiteconnect`` made them).
    """

    __slots__ = ("_known", "_source", "_zone")

    def __init__(
        self,
        known_tokens: Collection[int],
        *,
        source: str = "kite",
        naive_zone: tzinfo | None = None,
    ) -> None:
        for token in known_tokens:
            integer(_OWNER, "known_tokens", token, minimum=1)
        self._known: frozenset[int] = frozenset(known_tokens)
        self._source = non_empty(_OWNER, "source", source)
        self._zone = naive_zone

    @property
    def known_tokens(self) -> frozenset[int]:
        return self._known

    @property
    def source(self) -> str:
        return self._source

    def parse(self, raw: Mapping[str, object], ts_init: datetime) -> Tick | DeadLetter:
        """``raw`` as a ``Tick``, or a ``DeadLetter`` naming the first problem found.

        Never raises because of ``raw``; ``ts_init`` (when we received it) must be tz-aware
        (a ``ContractError`` otherwise: that is the caller's clock, not the wire)."""
        ts_init = require_aware(_OWNER, "ts_init", ts_init)
        token: InstrumentToken | None = None
        ts_event: datetime | None = None
        try:
            if not isinstance(raw, Mapping):
                raise _Rejected(_MALFORMED, f"a tick must be a mapping, was {_show(raw)}")
            token = _token(raw)
            if token not in self._known:
                raise _Rejected(
                    DeadLetterReason.UNKNOWN_INSTRUMENT,
                    f"instrument_token {token} is not one of the {len(self._known)} known "
                    "instruments",
                )
            ts_event = self._event_time(raw, ts_init)
            return _tick(raw, token, ts_event, ts_init)
        except _Rejected as rejected:
            return self._dead(rejected.reason, rejected.detail, raw, ts_init, token, ts_event)
        except ContractError as error:  # a rule of Tick the checks above did not anticipate
            return self._dead(_MALFORMED, str(error), raw, ts_init, token, ts_event)
        except Exception as error:  # whatever else the wire delivers must not kill the feed
            detail = f"could not be read: {type(error).__name__}: {error}"
            return self._dead(_MALFORMED, detail, raw, ts_init, token, ts_event)

    def _event_time(self, raw: Mapping[str, object], ts_init: datetime) -> datetime:
        for field in _TIME_FIELDS:
            value = raw.get(field)
            if value is None:
                continue
            if not isinstance(value, datetime):
                raise _Rejected(_MALFORMED, f"{field} must be a datetime, was {_show(value)}")
            try:
                if value.tzinfo is None or value.utcoffset() is None:
                    zone = self._zone
                    aware = (
                        value.astimezone(UTC)  # naive: read in the process's local zone
                        if zone is None
                        else value.replace(tzinfo=zone).astimezone(UTC)
                    )
                else:
                    aware = value.astimezone(UTC)
            except (OverflowError, ValueError, OSError):
                raise _Rejected(
                    _MALFORMED, f"{field} {value.isoformat()} is out of range"
                ) from None
            if aware <= _EPOCH:  # Kite's zero epoch: no time
                continue
            return aware
        return ts_init

    def _dead(
        self,
        reason: DeadLetterReason,
        detail: str,
        raw: object,
        ts_init: datetime,
        token: int | None,
        ts_event: datetime | None,
    ) -> DeadLetter:
        return DeadLetter(
            source=self._source,
            reason=reason,
            ts_init=ts_init,
            payload=_render(raw),
            detail=detail,
            instrument_token=token,
            ts_event=ts_event,
        )
