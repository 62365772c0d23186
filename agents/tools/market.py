"""Market data tools: instruments, quotes and last prices (the broker), candles and technical
indicators (the lake, through the one feature definition), option chains with Black-76 IV and
greeks (the project's option features), and the NSE calendar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Final

import polars as pl

from agents.context import ToolContext
from agents.errors import ErrorCode, ToolFailure
from agents.tools.common import (
    CANDLES_TABLE,
    OPTION_CHAIN_TABLE,
    Result,
    candles_with_history,
    day_range,
    instruments,
    limit_rows,
    parse_day,
    resolve,
    search,
    today,
)
from data_contracts.enums import Exchange
from data_contracts.errors import ContractError
from data_contracts.instruments import INDEX_UNDERLYINGS, Instrument
from data_contracts.schemas import ist_date
from data_contracts.timeutil import to_ist
from execution.kite.readonly import MAX_QUOTE_KEYS
from models.features import CANDLE_FEATURES, OPTION_FEATURES

__all__ = [
    "calendar",
    "candles",
    "indicators",
    "ltp",
    "option_chain",
    "quote",
    "search_instruments",
]

_GREEKS: Final = ("iv", "delta", "gamma", "theta", "vega", "moneyness", "time_to_expiry")
_CALENDAR_MAX_DAYS: Final = 366


def _instrument_row(instrument: Instrument) -> dict[str, object]:
    return {
        "symbol": f"{instrument.exchange.value}:{instrument.tradingsymbol}",
        "instrument_token": int(instrument.instrument_token),
        "name": instrument.name,
        "instrument_type": instrument.instrument_type.value,
        "segment": instrument.segment,
        "expiry": instrument.expiry,
        "strike": instrument.strike,
        "lot_size": instrument.lot_size,
        "tick_size": instrument.tick_size,
        "tradable": instrument.is_tradable,
    }


def search_instruments(
    ctx: ToolContext, query: str, exchange: str | None, limit: int | None
) -> Result:
    if not query.strip():
        raise ContractError("search_instruments", "query", query, "must be non-empty")
    source, found = search(ctx, query, exchange, limit_rows(ctx, limit, 20))
    return Result(source, {"query": query, "instruments": [_instrument_row(i) for i in found]})


def _keys(ctx: ToolContext, symbols: Sequence[str]) -> dict[str, Instrument]:
    if not symbols:
        raise ContractError("tool", "symbols", [], "must name at least one instrument")
    if len(symbols) > MAX_QUOTE_KEYS:
        raise ContractError("tool", "symbols", len(symbols), f"must be at most {MAX_QUOTE_KEYS}")
    keyed: dict[str, Instrument] = {}
    for symbol in symbols:
        _, instrument = resolve(ctx, symbol)
        keyed[f"{instrument.exchange.value}:{instrument.tradingsymbol}"] = instrument
    return keyed


def quote(ctx: ToolContext, symbols: Sequence[str]) -> Result:
    keyed = _keys(ctx, symbols)
    answer = ctx.market.call(lambda m: m.quote(list(keyed)))
    rows = []
    for key, instrument in keyed.items():
        row: Mapping[str, Any] = answer.get(key) or {}
        shown = {"symbol": key, "instrument_token": int(instrument.instrument_token)}
        rows.append(shown | dict(row) if row else shown | {"missing": "no quote from the broker"})
    return Result(f"broker quote ({ctx.market.source})", {"quotes": rows})


def ltp(ctx: ToolContext, symbols: Sequence[str]) -> Result:
    keyed = _keys(ctx, symbols)
    prices = ctx.market.call(lambda m: m.ltp(list(keyed)))
    return Result(
        f"broker ltp ({ctx.market.source})",
        {"prices": [{"symbol": key, "last_price": prices.get(key)} for key in keyed]},
    )


def candles(
    ctx: ToolContext, symbol: str, from_date: str | None, to_date: str | None, limit: int | None
) -> Result:
    _, instrument = resolve(ctx, symbol)
    first, last = day_range(
        ctx, CANDLES_TABLE, parse_day(from_date, "from_date"), parse_day(to_date, "to_date")
    )
    frame = candles_with_history(ctx, int(instrument.instrument_token), first, last, warmup=False)
    if frame.is_empty():
        raise ToolFailure(
            ErrorCode.NOT_FOUND,
            f"the lake has no candles of {instrument.tradingsymbol} from {first} to {last}",
        )
    rows = limit_rows(ctx, limit, ctx.max_rows)
    shown = frame.tail(rows)
    return Result(
        f"lake {CANDLES_TABLE}",
        {
            "symbol": f"{instrument.exchange.value}:{instrument.tradingsymbol}",
            "from_date": first,
            "to_date": last,
            "bars_in_range": frame.height,
            "bars_shown": shown.height,
            "note": "1-minute bars; ts_event is the bar's close (IST shown)",
            "candles": shown.select("ts_event", "open", "high", "low", "close", "volume", "oi"),
        },
    )


def indicators(
    ctx: ToolContext, symbol: str, from_date: str | None, to_date: str | None, limit: int | None
) -> Result:
    """The candle feature set on the symbol's bars (the warm-up read before ``from_date``, then
    dropped)."""
    _, instrument = resolve(ctx, symbol)
    first, last = day_range(
        ctx, CANDLES_TABLE, parse_day(from_date, "from_date"), parse_day(to_date, "to_date")
    )
    token = int(instrument.instrument_token)
    bars = candles_with_history(ctx, token, first, last, warmup=True)
    built = CANDLE_FEATURES.drop_warmup(CANDLE_FEATURES.build(bars)) if bars.height else bars
    in_range = ist_date() >= first
    if built.is_empty() or built.filter(in_range).is_empty():
        raise ToolFailure(
            ErrorCode.NOT_FOUND,
            f"not enough candles of {instrument.tradingsymbol} for the indicators' warm-up "
            f"({CANDLE_FEATURES.warmup_bars} bars) before {last}",
        )
    inside = built.filter(in_range)
    closes = bars.select("ts_event", "close")
    rows = inside.join(closes, on="ts_event", how="left").select(
        "ts_event", "close", *CANDLE_FEATURES.columns
    )
    shown = rows.tail(limit_rows(ctx, limit, 30))
    return Result(
        "lake candles_1m → models.features.CANDLE_FEATURES",
        {
            "symbol": f"{instrument.exchange.value}:{instrument.tradingsymbol}",
            "feature_version": CANDLE_FEATURES.version,
            "from_date": first,
            "to_date": last,
            "warmup_bars": CANDLE_FEATURES.warmup_bars,
            "rows_in_range": inside.height,
            "latest": rows.tail(1).to_dicts()[0],
            "rows": shown,
            "columns": {
                "ema_*_rel, macd_*_rel, atr_*_rel, std_*_rel": "fractions of the close",
                "rsi_*, adx_*": "0-100",
                "bb_position_*": "0 at the lower Bollinger band, 1 at the upper",
                "zscore_*": "deviations from the 20-bar mean",
                "roc_*": "percent change over 20 bars",
                "hv_*": "annualised historical volatility",
                "minute_of_day": "minutes since 09:15 IST",
                "days_to_expiry": "sessions to the next NIFTY weekly expiry",
            },
        },
    )


# -- option chains ---------------------------------------------------------------------------


def option_chain(
    ctx: ToolContext, underlying: str, expiry: str | None, day: str | None, strikes: int | None
) -> Result:
    """The chain of ``underlying``'s options expiring ``expiry`` (default: the nearest), live from
    the broker, or — with ``day`` — the lake's last snapshot of that day; each contract with IV
    and greeks, plus the positioning summary."""
    name = underlying.strip().upper()
    if not name:
        raise ContractError("get_option_chain", "underlying", underlying, "must be non-empty")
    width = 10 if strikes is None else strikes
    if not 1 <= width <= 100:
        raise ContractError("get_option_chain", "strikes_around_atm", width, "must be in [1, 100]")
    wanted_expiry = parse_day(expiry, "expiry")
    snapshot_day = parse_day(day, "day")
    if snapshot_day is None:
        source, chain, spot = _live_chain(ctx, name, wanted_expiry)
    else:
        source, chain, spot = _lake_chain(ctx, name, wanted_expiry, snapshot_day)
    return Result(source, _chain_view(chain, spot, width))


def _underlying(ctx: ToolContext, name: str) -> Instrument:
    _, found = resolve(ctx, f"NSE:{INDEX_UNDERLYINGS.get(name, name)}")
    return found


def _live_chain(
    ctx: ToolContext, name: str, expiry: date | None
) -> tuple[str, pl.DataFrame, float | None]:
    _, known = instruments(ctx)
    expiries = sorted(
        {
            i.expiry
            for i in known
            if i.exchange is Exchange.NFO and i.is_option and i.name == name and i.expiry
        }
    )
    upcoming = [e for e in expiries if e >= today(ctx)] or expiries
    if not upcoming:
        raise ToolFailure(ErrorCode.NOT_FOUND, f"no NFO options on {name} in today's instruments")
    chosen = expiry or upcoming[0]
    if chosen not in expiries:
        shown = ", ".join(e.isoformat() for e in upcoming[:6])
        raise ToolFailure(ErrorCode.NOT_FOUND, f"no {name} options expire {chosen}", shown)
    chain = ctx.market.call(lambda m: m.option_chain(name, chosen))
    underlying = _underlying(ctx, name)
    key = f"{underlying.exchange.value}:{underlying.tradingsymbol}"
    spot = ctx.market.call(lambda m: m.ltp([key])).get(key)
    # One snapshot: the quotes of one request, stamped with its latest exchange time.
    chain = chain.with_columns(pl.col("ts_event").max().alias("ts_event"))
    if chain["underlying_token"].null_count():
        chain = chain.with_columns(
            pl.lit(int(underlying.instrument_token)).alias("underlying_token")
        )
    return f"broker option chain ({ctx.market.source})", chain, spot


def _lake_chain(
    ctx: ToolContext, name: str, expiry: date | None, day: date
) -> tuple[str, pl.DataFrame, float | None]:
    stored = ctx.lake.read(OPTION_CHAIN_TABLE, day)
    if stored is None:
        raise ToolFailure(ErrorCode.NOT_FOUND, f"the lake has no {OPTION_CHAIN_TABLE} on {day}")
    token = int(_underlying(ctx, name).instrument_token)
    mine = stored.filter(pl.col("underlying_token") == token)
    if mine.is_empty():
        raise ToolFailure(ErrorCode.NOT_FOUND, f"the lake's {day} chain has no {name} options")
    last = mine.filter(pl.col("ts_event") == pl.col("ts_event").max())
    expiries = sorted(last["expiry"].unique().to_list())
    chosen = expiry or next((e for e in expiries if e >= day), expiries[-1])
    if chosen not in expiries:
        shown = ", ".join(e.isoformat() for e in expiries[:6])
        raise ToolFailure(ErrorCode.NOT_FOUND, f"no {name} options expire {chosen} on {day}", shown)
    chain = last.filter(pl.col("expiry") == chosen)
    spot = None
    if (
        "underlying_price" in chain.columns
        and chain["underlying_price"].null_count() < chain.height
    ):
        spot = float(chain["underlying_price"].drop_nulls()[0])
    return f"lake {OPTION_CHAIN_TABLE} (last snapshot of {day})", chain, spot


def _chain_view(chain: pl.DataFrame, spot: float | None, width: int) -> dict[str, object]:
    features = OPTION_FEATURES.build(chain)
    rows = chain.join(
        features.select(
            "instrument_token", "ts_event", *_GREEKS, "atm_iv", OPTION_FEATURES.columns[-1]
        ),
        on=["instrument_token", "ts_event"],
        how="left",
    ).sort("strike", "option_type")
    strikes = sorted(rows["strike"].unique().to_list())
    centre = spot
    if centre is None:  # the forward implied by the chain: where |moneyness| is smallest
        nearest = rows.filter(pl.col("moneyness").is_finite()).sort(pl.col("moneyness").abs())
        centre = (
            float(nearest["strike"][0]) if nearest.height else float(strikes[len(strikes) // 2])
        )
    atm = min(strikes, key=lambda s: (abs(s - centre), s))
    index = strikes.index(atm)
    kept = strikes[max(0, index - width) : index + width + 1]
    calls = rows.filter(pl.col("option_type") == "CE")
    puts = rows.filter(pl.col("option_type") == "PE")
    call_oi, put_oi = float(calls["oi"].sum()), float(puts["oi"].sum())
    skew_column = OPTION_FEATURES.columns[-1]

    def side(frame: pl.DataFrame, strike: float) -> dict[str, object] | None:
        found = frame.filter(pl.col("strike") == strike)
        if found.is_empty():
            return None
        row = found.to_dicts()[0]
        keep = ("tradingsymbol", "last_price", "bid", "ask", "oi", "volume", *_GREEKS)
        return {name: row.get(name) for name in keep}

    def wall(frame: pl.DataFrame) -> float | None:
        ranked = frame.filter(pl.col("oi").is_not_null()).sort("oi", descending=True)
        return float(ranked["strike"][0]) if ranked.height else None

    atm_iv = rows["atm_iv"].drop_nulls().drop_nans()
    skew = rows[skew_column].drop_nulls().drop_nans()
    return {
        "underlying_token": int(chain["underlying_token"][0]),
        "expiry": chain["expiry"][0],
        "snapshot_at": chain["ts_event"].max(),
        "underlying_price": spot,
        "atm_strike": atm,
        "summary": {
            "atm_iv": float(atm_iv[0]) if atm_iv.len() else None,
            skew_column: float(skew[0]) if skew.len() else None,
            "put_call_oi_ratio": (put_oi / call_oi) if call_oi else None,
            "call_oi_wall_strike": wall(calls),
            "put_oi_wall_strike": wall(puts),
            "contracts": chain.height,
        },
        "feature_version": OPTION_FEATURES.version,
        "note": "iv and greeks are Black-76 on the mid quote (models.features.options); iv is a "
        "fraction per year, theta per year, vega per 1.00 of vol",
        "strikes": [{"strike": s, "CE": side(calls, s), "PE": side(puts, s)} for s in kept],
    }


# -- the calendar ------------------------------------------------------------------------------


def calendar(ctx: ToolContext, from_date: str | None, to_date: str | None) -> Result:
    start = parse_day(from_date, "from_date") or today(ctx)
    end = parse_day(to_date, "to_date") or start + timedelta(days=14)
    if end < start:
        raise ContractError("get_market_calendar", "to_date", end, f"must be on or after {start}")
    if (end - start).days > _CALENDAR_MAX_DAYS:
        rule = f"must be within {_CALENDAR_MAX_DAYS} days of from_date"
        raise ContractError("get_market_calendar", "to_date", end, rule)
    cal = ctx.calendar
    now = ctx.clock.now()
    sessions = [
        {
            "date": s.date,
            "open": to_ist(s.open),
            "close": to_ist(s.close),
            "kind": s.kind.value,
            "mis_square_off_equity": cal.mis_square_off(s.date, derivatives=False),
            "mis_square_off_fno": cal.mis_square_off(s.date, derivatives=True),
        }
        for s in cal.sessions(start, end)
    ]
    holidays = [{"date": h.date, "name": h.description} for h in cal.holidays(start, end)]
    return Result(
        "data_contracts.nse_calendar (NSE holidays and special sessions)",
        {
            "now": now,
            "market_open_now": cal.is_open(now),
            "next_session": {
                "date": cal.next_session(now).date,
                "open": cal.next_session(now).open,
            },
            "from_date": start,
            "to_date": end,
            "sessions": sessions,
            "holidays": holidays,
            "nifty_expiries": cal.nifty_expiries(start, end),
        },
    )
