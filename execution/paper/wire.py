"""Kite's wire format: the JSON envelopes, its time texts and the JSON encoding of our values.

Kite answers ``{"status": "success", "data": ...}`` or ``{"status": "error", "message": ...,
"error_type": ...}`` with ``Content-Type: application/json`` (the client dispatches on that header,
not on the HTTP status). Times in JSON are IST wall-clock texts ``"YYYY-MM-DD HH:MM:SS"`` (the
client turns exactly-19-character values into datetimes); historical candles carry
``"YYYY-MM-DDTHH:MM:SS+0530"``. This module is the one place those formats are written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Final

from aiohttp import web

from data_contracts.errors import ContractError
from data_contracts.timeutil import IST, to_ist
from execution.paper.types import KiteApiError

__all__ = [
    "CSV_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "candle_time",
    "csv",
    "dumps",
    "error",
    "error_body",
    "ist_text",
    "parse_ist",
    "success",
]

JSON_CONTENT_TYPE: Final = "application/json"
CSV_CONTENT_TYPE: Final = "text/csv"
_IST_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_CANDLE_FORMAT: Final = "%Y-%m-%dT%H:%M:%S+0530"


def ist_text(value: datetime) -> str:
    """``"YYYY-MM-DD HH:MM:SS"`` in IST, Kite's time text (raises on a naive datetime)."""
    return to_ist(value).strftime(_IST_FORMAT)


def candle_time(value: datetime) -> str:
    """A historical candle's time text, e.g. ``"2017-12-15T09:15:00+0530"`` (IST)."""
    return to_ist(value).strftime(_CANDLE_FORMAT)


def parse_ist(text: str, field: str) -> datetime:
    """Read a time the client sent: ``"YYYY-MM-DD HH:MM:SS"`` or ``"YYYY-MM-DD"`` (midnight), IST
    wall-clock time as Kite means it. Anything else is an ``InputException``."""
    for layout in (_IST_FORMAT, "%Y-%m-%d"):
        try:
            naive = datetime.strptime(text, layout)  # noqa: DTZ007 - IST is attached next line
        except ValueError:
            continue
        return naive.replace(tzinfo=IST)
    raise KiteApiError(
        "InputException", f"invalid `{field}`: expected yyyy-mm-dd hh:mm:ss, got {text!r}"
    )


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return ist_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise ContractError("wire", "value", value, "must be JSON-serialisable")


def dumps(value: object) -> str:
    """JSON text of ``value``; datetimes become IST time texts, dates ISO dates, enums their
    values, decimals floats. NaN/infinity are refused (JSON has no such numbers)."""
    return json.dumps(value, default=_default, allow_nan=False, separators=(",", ":"))


def success(data: object, *, status: int = 200) -> web.Response:
    """Kite's success envelope."""
    return web.Response(
        text=dumps({"status": "success", "data": data}),
        status=status,
        content_type=JSON_CONTENT_TYPE,
    )


def error_body(failure: KiteApiError) -> dict[str, object]:
    """The error envelope of ``failure`` (``data`` only when it carries any)."""
    body: dict[str, object] = {
        "status": "error",
        "message": failure.message,
        "error_type": failure.error_type,
    }
    if failure.data is not None:
        body["data"] = failure.data
    return body


def error(failure: KiteApiError, *, headers: Mapping[str, str] | None = None) -> web.Response:
    """Kite's error envelope with the failure's HTTP status."""
    return web.Response(
        text=dumps(error_body(failure)),
        status=failure.http_status,
        content_type=JSON_CONTENT_TYPE,
        headers=headers,
    )


def csv(text: str) -> web.Response:
    """A CSV body (the instruments dump); the client returns such bodies as raw bytes."""
    return web.Response(text=text, content_type=CSV_CONTENT_TYPE)
