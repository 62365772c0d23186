"""What the tool groups share: the result shape, argument parsing, finding an instrument, and
reading one instrument's candles from the lake with the feature warm-up before them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

import polars as pl

from agents.context import ToolContext
from agents.errors import ErrorCode, ToolFailure
from data_contracts.enums import Exchange
from data_contracts.errors import ContractError
from data_contracts.instruments import INDEX_UNDERLYINGS, Instrument
from data_contracts.timeutil import IST, to_ist
from execution.paper.market_lake import lake_instruments
from models.data_quality.quarantine import read_candles
from models.features import CANDLE_FEATURES, history_start

__all__ = [
    "CANDLES_TABLE",
    "OPTION_CHAIN_TABLE",
    "Result",
    "candles_with_history",
    "day_range",
    "instruments",
    "limit_rows",
    "parse_day",
    "parse_time",
    "resolve",
    "today",
]

CANDLES_TABLE: Final = "candles_1m"
OPTION_CHAIN_TABLE: Final = "option_chain"
_ROWS_PER_SESSION: Final = 375  # 1-minute bars from 09:15 to 15:30 IST


@dataclass(frozen=True, slots=True)
class Result:
    """A tool's answer: where it came from and the data (made JSON-safe by the envelope)."""

    source: str
    data: object


def today(ctx: ToolContext) -> date:
    return to_ist(ctx.clock.now()).date()


def parse_day(value: str | None, name: str) -> date | None:
    """``YYYY-MM-DD`` (an IST trading date) or None."""
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ContractError("tool", name, value, "must be a date as YYYY-MM-DD") from None


def parse_time(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An ISO 8601 time (naive = IST) or a date (its IST midnight; with ``end``, the next
    midnight, so a date as an upper bound includes that day)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        day = parse_day(text, name)
        if day is None:  # pragma: no cover - text is not blank here
            return None
        parsed = datetime.combine(day + timedelta(days=1) if end else day, time(0))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=IST)
    return parsed


def limit_rows(ctx: ToolContext, limit: int | None, default: int) -> int:
    """``limit`` (default ``default``) within [1, ``mcp.max_rows``]."""
    chosen = default if limit is None else limit
    if chosen < 1:
        raise ContractError("tool", "limit", chosen, "must be >= 1")
    return min(chosen, ctx.max_rows)


# -- instruments -------------------------------------------------------------------------------


def instruments(ctx: ToolContext) -> tuple[str, tuple[Instrument, ...]]:
    """The broker's instruments dump of today, or — while the broker cannot be reached or has
    no session — the lake's latest instruments table (its source says which)."""
    try:
        return f"broker instruments dump ({ctx.market.source})", ctx.market.call(
            lambda m: m.instruments()
        )
    except ToolFailure as failure:
        if failure.code not in (ErrorCode.UNAVAILABLE, ErrorCode.SESSION_EXPIRED):
            raise
        why = failure
    try:
        found = lake_instruments(ctx.lake, today(ctx))
    except ContractError:
        raise ToolFailure(
            why.code,
            f"no instruments: {why.message}, and the lake has no instruments table",
            why.hint or "run `kitepilot data simulate`",
        ) from None
    return f"lake instruments table (the broker: {why.code.value})", tuple(found)


def resolve(ctx: ToolContext, symbol: str) -> tuple[str, Instrument]:
    """The instrument ``symbol`` names: ``EXCHANGE:TRADINGSYMBOL`` or a bare tradingsymbol
    (NSE first, then NFO); ``NIFTY``/``BANKNIFTY``... name their index. Case does not matter.
    NOT_FOUND lists the closest names."""
    text = symbol.strip().upper()
    if not text:
        raise ContractError("tool", "symbol", symbol, "must be a non-empty tradingsymbol")
    exchange, _, name = text.rpartition(":")
    wanted = [Exchange(exchange)] if exchange in Exchange.__members__ else []
    if exchange and not wanted:
        raise ContractError("tool", "symbol", symbol, "must name an exchange NSE, NFO, BSE, BFO")
    source, known = instruments(ctx)
    by_key = {(i.exchange, i.tradingsymbol.upper()): i for i in known}
    names = [name, INDEX_UNDERLYINGS.get(name, name)]
    for candidate_exchange in wanted or [Exchange.NSE, Exchange.NFO]:
        for candidate in names:
            found = by_key.get((candidate_exchange, candidate))
            if found is not None:
                return source, found
    close = [i.tradingsymbol for i in _search(known, name, None, 5)]
    hint = f"did you mean {', '.join(close)}?" if close else "try search_instruments"
    raise ToolFailure(ErrorCode.NOT_FOUND, f"no instrument {symbol!r} in the {source}", hint)


def search(
    ctx: ToolContext, query: str, exchange: str | None, limit: int
) -> tuple[str, list[Instrument]]:
    """Instruments matching ``query`` (a symbol, part of one or of a name; ``EXCHANGE:`` in front
    limits the exchange like ``exchange`` does)."""
    prefix, _, words = query.strip().upper().rpartition(":")
    wanted = exchange.strip().upper() if exchange else prefix
    chosen = None
    if wanted:
        if wanted not in Exchange.__members__:
            raise ContractError("search_instruments", "exchange", wanted, "must be NSE or NFO")
        chosen = Exchange(wanted)
    source, known = instruments(ctx)
    return source, _search(known, words, chosen, limit)


def _search(
    known: Sequence[Instrument], query: str, exchange: Exchange | None, limit: int
) -> list[Instrument]:
    """Exact symbol first, then symbols starting with the query, then symbols or names
    containing it; within each, NSE before NFO, then nearest expiry and strike."""
    words = query.strip().upper()
    ranked: list[tuple[int, Instrument]] = []
    for instrument in known:
        if exchange is not None and instrument.exchange is not exchange:
            continue
        symbol, name = instrument.tradingsymbol.upper(), instrument.name.upper()
        if symbol == words:
            rank = 0
        elif symbol.startswith(words):
            rank = 1
        elif words in symbol or words in name:
            rank = 2
        else:
            continue
        ranked.append((rank, instrument))
    ranked.sort(
        key=lambda item: (
            item[0],
            item[1].exchange is not Exchange.NSE,
            item[1].expiry or date.min,
            item[1].strike or 0.0,
            item[1].tradingsymbol,
        )
    )
    return [instrument for _, instrument in ranked[:limit]]


# -- the lake ------------------------------------------------------------------------------------


def day_range(
    ctx: ToolContext, table: str, first: date | None, last: date | None
) -> tuple[date, date]:
    """The lake days of ``table`` to read: ``last`` defaults to the latest day on or before today,
    ``first`` to ``analysis.lookback_sessions`` lake days up to ``last``."""
    days = ctx.lake.days(table)
    if not days:
        raise ToolFailure(
            ErrorCode.NOT_FOUND,
            f"the lake has no {table} table",
            "run `kitepilot data simulate` or `kitepilot data import`",
        )
    end = last or max((d for d in days if d <= today(ctx)), default=days[-1])
    if first is not None and first > end:
        raise ContractError("tool", "from_date", first, f"must be on or before to_date {end}")
    inside = [d for d in days if d <= end]
    if not inside:
        raise ToolFailure(ErrorCode.NOT_FOUND, f"the lake has no {table} day on or before {end}")
    start = first or inside[max(0, len(inside) - ctx.config.analysis.lookback_sessions)]
    return start, end


def candles_with_history(
    ctx: ToolContext, token: int, first: date, last: date, *, warmup: bool
) -> pl.DataFrame:
    """``candles_1m`` of ``token`` on the lake days in ``[first, last]`` and, with ``warmup``,
    enough earlier sessions for the candle features' warm-up. Sorted by time. What failed
    blocking checks (``candles_1m_quarantine``) is left out, and with ``warmup`` the history
    starts after the instrument's last quarantined session, as the batch features read it."""
    start = first
    if warmup:
        start = history_start(ctx.calendar, first, CANDLE_FEATURES.warmup_bars, _ROWS_PER_SESSION)
    # Never a bar a blocking check failed; the warm-up starts after a quarantined session.
    frame = read_candles(ctx.lake, CANDLES_TABLE, start, last, tokens=[token], history=warmup)
    return frame.sort("ts_event") if frame.height else frame
