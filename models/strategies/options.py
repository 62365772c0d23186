"""Long options (F&O): buy a CE on a bullish decision, a PE on a bearish one, exits on the premium.

At a decision point of an underlying (a closed bar of, e.g., NIFTY 50 with a side), the contract
is chosen from the latest option-chain snapshot at or before the decision (never a later one):

* the side's option type, an expiry the trade may still be held on (the decision day is at least
  ``exit_days_before_expiry`` trading days before expiry — no exercise STT, no expiry-day gamma);
* ``|delta|`` in ``[delta_min, delta_max]`` (delta from :mod:`models.features.options`);
* liquid: open interest >= ``min_oi`` and a quoted spread <= ``max_spread_pct`` of the mid;
* the nearest such expiry, then the ``|delta|`` nearest the middle of the band, then more OI.

Exits: take-profit at ``+take_profit_pct`` and stop-loss at ``-stop_loss_pct`` of the premium at
the decision, a time exit after ``max_hold_minutes``, and the F&O MIS square-off (15:25) — long
options here are intraday (MIS), so they never cross a night or an expiry.

**The option's price path.** The lake holds option-chain *snapshots* (every 15 minutes), not
minute candles of every contract (Kite serves no history for expired contracts). The minute bars
the backtest walks are therefore priced with Black-76 from the underlying's minute bar and the
contract's implied vol and basis (the snapshot's forward over the underlying's price) as of the
latest snapshot at or before the bar (so a later snapshot is used only from its own time on), with
the snapshot's relative spread for bid/ask. At a snapshot's own minute the bar's close is the
snapshot's mid (the vol was implied from it). For a call
the bar's high comes from the underlying's high, for a put from its low. ``docs/models.md``
states what this approximation leaves out (vol moves inside 15 minutes, the smile's own motion).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import polars as pl

from data_contracts.enums import ChargeSegment, InstrumentType
from data_contracts.errors import ContractError
from data_contracts.nse_calendar import NseCalendar
from data_contracts.schemas import UTC_TIMESTAMP, ist_date
from data_contracts.timeutil import IST
from data_contracts.validation import integer, positive
from models.backtest import ENTRY_SCHEMA
from models.features import FeatureSet
from models.features.options import OptionFeatureSet
from models.option_math import black76_price
from models.strategies.intraday import SQUARE_OFF, intraday_deadline, with_square_off
from models.strategies.rules import macd_rsi_signals, trend_direction

__all__ = [
    "OPTION_BAR_COLUMNS",
    "OPTION_STRATEGIES",
    "LongOptionParams",
    "OptionTrades",
    "live_option_entries",
    "long_option_trades",
    "option_bars",
    "underlying_signals",
]

_OWNER: Final = "LongOptionParams"
# NSE options expire at the 15:30 IST close = 10:00 UTC (as the option features assume).
_EXPIRY_UTC: Final = dt.time(10, 0)
_US_PER_YEAR: Final = 365.0 * 86_400 * 1_000_000
OPTION_BAR_COLUMNS: Final = (
    "instrument_token",
    "ts_event",
    "open",
    "high",
    "low",
    "close",
    "bid",
    "ask",
)
# Rules-only long-options baselines for `kitepilot backtest`: the MACD/RSI signal of the
# underlying, or every decision point.
OPTION_STRATEGIES: Final = ("options_rules_macd_rsi", "options_always_trade")
_CONTRACT: Final = ("instrument_token", "underlying_token", "expiry", "strike", "option_type")


@dataclass(frozen=True, slots=True)
class LongOptionParams:
    """The long-options strategy (the ``strategy.option_*`` keys of the config)."""

    take_profit_pct: float = 50.0
    stop_loss_pct: float = 40.0
    delta_min: float = 0.20
    delta_max: float = 0.40
    max_hold_minutes: int = 240
    exit_days_before_expiry: int = 1
    last_entry_time: dt.time = dt.time(15, 0)
    min_oi: int = 0
    max_spread_pct: float = 5.0
    # A snapshot older than this at the decision is stale: no contract is chosen from it.
    max_snapshot_age_minutes: int = 20

    def __post_init__(self) -> None:
        positive(_OWNER, "take_profit_pct", self.take_profit_pct)
        positive(_OWNER, "stop_loss_pct", self.stop_loss_pct)
        if self.stop_loss_pct >= 100:
            raise ContractError(_OWNER, "stop_loss_pct", self.stop_loss_pct, "must be < 100")
        if not 0 < self.delta_min < self.delta_max < 1:
            raise ContractError(
                _OWNER, "delta_min", self.delta_min, f"must be in (0, delta_max={self.delta_max})"
            )
        integer(_OWNER, "max_hold_minutes", self.max_hold_minutes, minimum=1)
        integer(_OWNER, "exit_days_before_expiry", self.exit_days_before_expiry, minimum=0)
        integer(_OWNER, "min_oi", self.min_oi, minimum=0)
        positive(_OWNER, "max_spread_pct", self.max_spread_pct)
        integer(_OWNER, "max_snapshot_age_minutes", self.max_snapshot_age_minutes, minimum=1)
        if not isinstance(self.last_entry_time, dt.time) or self.last_entry_time.tzinfo:
            raise ContractError(
                _OWNER, "last_entry_time", self.last_entry_time, "must be a naive IST time"
            )


class OptionTrades(NamedTuple):
    """Backtest inputs of the long-options strategy: ``entries`` (``ENTRY_SCHEMA``) and the
    chosen contracts' minute ``bars`` (``OPTION_BAR_COLUMNS``), plus ``contracts``: one row per
    entry with the underlying, the contract and the delta it was chosen at."""

    entries: pl.DataFrame
    bars: pl.DataFrame
    contracts: pl.DataFrame


def underlying_signals(
    features: pl.DataFrame,
    chain: pl.DataFrame,
    *,
    strategy: str = "options_always_trade",
    feature_set: FeatureSet | None = None,
) -> pl.DataFrame:
    """Decision points of the underlyings that have an option chain, on the trend's side:
    ``instrument_token, ts_event, direction``. ``options_always_trade`` (labels): every feature
    row; ``options_rules_macd_rsi``: only where the MACD/RSI rules signal (needs
    ``feature_set``)."""
    if strategy not in OPTION_STRATEGIES:
        raise ContractError(
            "underlying_signals", "strategy", strategy, f"not in {OPTION_STRATEGIES}"
        )
    underlyings = chain.select(pl.col("underlying_token").alias("instrument_token")).unique()
    rows = features.join(underlyings, on="instrument_token", how="semi")
    if strategy == "options_rules_macd_rsi":
        if feature_set is None:
            raise ContractError("underlying_signals", "feature_set", None, "needed by the rules")
        chosen = macd_rsi_signals(rows, feature_set).filter("rules_signal")
        rows = rows.join(chosen, on=["instrument_token", "ts_event"], how="semi")
    return rows.sort("instrument_token", "ts_event").select(
        "instrument_token", "ts_event", trend_direction().alias("direction")
    )


def long_option_trades(
    signals: pl.DataFrame,
    underlying_candles: pl.DataFrame,
    chain: pl.DataFrame,
    instruments: pl.DataFrame,
    *,
    params: LongOptionParams,
    calendar: NseCalendar,
    option_features: OptionFeatureSet | None = None,
) -> OptionTrades:
    """The long-option trade for every signal the strategy can take.

    ``signals``: ``instrument_token`` (the underlying), ``ts_event`` (the decision bar's close),
    ``direction`` (+1 bullish → CE, -1 bearish → PE). ``underlying_candles``: the underlying's
    minute candles. ``chain``: option-chain snapshots (``ts_event, underlying_token,
    instrument_token, expiry, strike, option_type, last_price, bid, ask, oi``). ``instruments``:
    tick and lot sizes. Delta and implied vol come from ``option_features`` (the feature
    definition the rest of the system uses; its defaults when None) built on ``chain`` here — the
    per-snapshot greeks need no warm-up, unlike the stored option features (IV rank).
    """
    feature_set = option_features or OptionFeatureSet()
    greeks = feature_set.build(chain)
    contracts = _choose_contracts(signals, chain, greeks, params, calendar)
    contracts = _with_deadlines(contracts, params, calendar)
    if contracts.is_empty():
        return OptionTrades(_empty_entries(), _empty_bars(), contracts)
    rate = feature_set.params.rate
    bars = option_bars(contracts, underlying_candles, chain, greeks, rate=rate)
    entries = _entries(contracts, bars, instruments, params)
    keys = ["instrument_token", "ts_decision"]
    taken = contracts.join(entries.select(keys), on=keys, how="semi")
    return OptionTrades(entries, bars, taken)


def live_option_entries(
    signals: pl.DataFrame,
    chain: pl.DataFrame,
    instruments: pl.DataFrame,
    *,
    params: LongOptionParams,
    calendar: NseCalendar,
    option_features: OptionFeatureSet | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The streaming form of :func:`long_option_trades`: the same contract choice, deadlines and
    exits, priced on the live chain's quote at the decision instead of a modelled bar.

    ``chain`` is the live snapshot (its ``ts_event`` at or before the decision). Returns
    ``(entries, contracts)``: ``ENTRY_SCHEMA`` rows (premium = the quote's mid) and the chosen
    contracts with ``bid``/``ask`` of the quote.
    """
    feature_set = option_features or OptionFeatureSet()
    greeks = feature_set.build(chain)
    contracts = _with_deadlines(
        _choose_contracts(signals, chain, greeks, params, calendar), params, calendar
    )
    if contracts.is_empty():
        return _empty_entries(), contracts
    quotes = chain.select(
        "instrument_token",
        pl.col("ts_event").alias("ts_snapshot"),
        "bid",
        "ask",
    )
    contracts = contracts.join(quotes, on=["instrument_token", "ts_snapshot"], how="inner")
    at_decision = contracts.select(
        "instrument_token",
        pl.col("ts_decision").alias("ts_event"),
        ((pl.col("bid") + pl.col("ask")) / 2).alias("close"),
    )
    return _entries(contracts, at_decision, instruments, params), contracts


def option_bars(
    contracts: pl.DataFrame,
    underlying_candles: pl.DataFrame,
    chain: pl.DataFrame,
    option_features: pl.DataFrame,
    *,
    rate: float,
) -> pl.DataFrame:
    """Minute bars of each contract from its first decision of a day to that day's close.

    ``contracts``: ``instrument_token, underlying_token, expiry, strike, option_type, ts_decision``.
    ``option_features``: ``iv`` and ``moneyness`` per ``(instrument_token, ts_event)`` of the
    snapshots. Each bar is priced from the underlying's bar with the implied vol, basis and
    relative spread of the latest snapshot at or before the bar's close.
    """
    windows = (
        contracts.with_columns(ist_date("ts_decision").alias("_day"))
        .group_by(*_CONTRACT, "_day")
        .agg(pl.col("ts_decision").min().alias("_from"))
    )
    underlying = underlying_candles.select(
        pl.col("instrument_token").alias("underlying_token"),
        "ts_event",
        "open",
        "high",
        "low",
        "close",
    ).with_columns(ist_date().alias("_day"))
    rows = (
        windows.join(underlying, on=["underlying_token", "_day"], how="inner")
        .filter(pl.col("ts_event") >= pl.col("_from"))
        .sort("instrument_token", "ts_event")
    )
    spot = underlying.select("underlying_token", "ts_event", pl.col("close").alias("_spot"))
    rows = _as_of_vol(rows, chain, option_features, spot)
    if rows.is_empty():
        return _empty_bars()
    years = (
        pl.col("expiry").cast(pl.Datetime("us", "UTC")) + pl.duration(hours=_EXPIRY_UTC.hour)
    ) - pl.col("ts_event")
    rows = rows.with_columns((years.dt.total_microseconds() / _US_PER_YEAR).alias("_t"))
    priced = _priced(rows, rate)
    return priced.select(OPTION_BAR_COLUMNS)


def _choose_contracts(
    signals: pl.DataFrame,
    chain: pl.DataFrame,
    option_features: pl.DataFrame,
    params: LongOptionParams,
    calendar: NseCalendar,
) -> pl.DataFrame:
    last_entry = pl.col("ts_decision").dt.convert_time_zone(IST.key).dt.time()
    decisions = (
        signals.select(
            pl.col("instrument_token").alias("underlying_token"),
            pl.col("ts_event").alias("ts_decision"),
            pl.col("direction").cast(pl.Int8),
        )
        .filter(last_entry <= params.last_entry_time)
        .sort("ts_decision")
    )
    snapshots = (
        chain.select("underlying_token", pl.col("ts_event").alias("ts_snapshot"))
        .unique()
        .sort("ts_snapshot")
    )
    decisions = decisions.join_asof(
        snapshots,
        left_on="ts_decision",
        right_on="ts_snapshot",
        by="underlying_token",
        strategy="backward",
        tolerance=dt.timedelta(minutes=params.max_snapshot_age_minutes),
        check_sortedness=False,  # sorted by time above; polars cannot check it with `by`
    ).drop_nulls("ts_snapshot")
    quoted = chain.select(
        "underlying_token",
        pl.col("ts_event").alias("ts_snapshot"),
        *_CONTRACT[:1],
        *_CONTRACT[2:],
        "bid",
        "ask",
        "oi",
    ).join(
        option_features.select(
            "instrument_token", pl.col("ts_event").alias("ts_snapshot"), "delta"
        ),
        on=["instrument_token", "ts_snapshot"],
        how="inner",
    )
    wanted_type = (
        pl.when(pl.col("direction") > 0)
        .then(pl.lit(InstrumentType.CE.value))
        .otherwise(pl.lit(InstrumentType.PE.value))
    )
    mid = (pl.col("bid") + pl.col("ask")) / 2
    candidates = (
        decisions.join(quoted, on=["underlying_token", "ts_snapshot"], how="inner")
        .join(_last_entry_days(quoted["expiry"], params, calendar), on="expiry", how="inner")
        .filter(
            (pl.col("option_type") == wanted_type)
            & pl.col("delta").abs().is_between(params.delta_min, params.delta_max)
            & (pl.col("oi") >= params.min_oi)
            & (pl.col("bid") > 0)
            & (pl.col("ask") >= pl.col("bid"))
            & ((pl.col("ask") - pl.col("bid")) / mid * 100 <= params.max_spread_pct)
            & (ist_date("ts_decision") <= pl.col("_last_day"))
        )
    )
    middle = (params.delta_min + params.delta_max) / 2
    return (
        candidates.sort(
            "underlying_token",
            "ts_decision",
            "expiry",
            (pl.col("delta").abs() - middle).abs(),
            pl.col("oi"),
            "instrument_token",
            descending=[False, False, False, False, True, False],
        )
        .group_by("underlying_token", "ts_decision", maintain_order=True)
        .first()
        .select(*_CONTRACT, "ts_decision", "ts_snapshot", "delta")
    )


def _last_entry_days(
    expiries: pl.Series, params: LongOptionParams, calendar: NseCalendar
) -> pl.DataFrame:
    """For each expiry, the last IST day a position in it may be held."""
    unique = sorted(set(expiries.to_list()))
    last_days = []
    for expiry in unique:
        day = expiry
        for _ in range(params.exit_days_before_expiry):
            day = calendar.previous_session(day).date
        last_days.append(day)
    return pl.DataFrame(
        {"expiry": unique, "_last_day": last_days}, schema={"expiry": pl.Date, "_last_day": pl.Date}
    )


def _with_deadlines(
    contracts: pl.DataFrame, params: LongOptionParams, calendar: NseCalendar
) -> pl.DataFrame:
    return (
        with_square_off(contracts, "ts_decision", calendar, derivatives=True)
        .with_columns(*intraday_deadline("ts_decision", params.max_hold_minutes))
        .drop(SQUARE_OFF)
    )


def _as_of_vol(
    rows: pl.DataFrame, chain: pl.DataFrame, option_features: pl.DataFrame, spot: pl.DataFrame
) -> pl.DataFrame:
    """Each bar with its contract's snapshot as of the bar's close: implied vol, relative
    half-spread and basis (the snapshot's forward over the underlying's price then)."""
    forward = pl.col("strike") * (-pl.col("moneyness")).exp()
    quotes = (
        option_features.select("instrument_token", "ts_event", "iv", "moneyness")
        .join(
            chain.select(
                "instrument_token", "underlying_token", "ts_event", "strike", "bid", "ask"
            ),
            on=["instrument_token", "ts_event"],
            how="inner",
        )
        .join(spot, on=["underlying_token", "ts_event"], how="inner")
        .filter(pl.col("iv").is_finite() & (pl.col("iv") > 0))
        .select(
            "instrument_token",
            pl.col("ts_event").alias("_ts_vol"),
            "iv",
            (forward / pl.col("_spot")).alias("_basis"),
            ((pl.col("ask") - pl.col("bid")) / (pl.col("ask") + pl.col("bid")))
            .fill_nan(None)
            .alias("_half_spread"),
        )
        .filter(pl.col("_basis").is_finite() & (pl.col("_basis") > 0))
        .sort("instrument_token", "_ts_vol")
    )
    return (
        rows.sort("instrument_token", "ts_event")
        .join_asof(
            quotes,
            left_on="ts_event",
            right_on="_ts_vol",
            by="instrument_token",
            strategy="backward",
            check_sortedness=False,  # sorted by (instrument_token, time) just above
        )
        .drop_nulls("iv")
    )


def _priced(rows: pl.DataFrame, rate: float) -> pl.DataFrame:
    t = rows["_t"].to_numpy()
    vol = rows["iv"].to_numpy()
    strike = rows["strike"].to_numpy()
    is_call = (rows["option_type"] == InstrumentType.CE.value).to_numpy()
    basis = rows["_basis"].to_numpy()
    discount = np.exp(-rate * t)

    def price(column: str) -> np.ndarray:
        forward = rows[column].to_numpy() * basis
        return np.asarray(black76_price(forward, strike, t, vol, is_call, discount))

    at_high, at_low = price("high"), price("low")
    half_spread = rows["_half_spread"].fill_null(0.0).to_numpy()
    close = price("close")
    return rows.with_columns(
        pl.Series("open", price("open")),
        pl.Series("high", np.where(is_call, at_high, at_low)),
        pl.Series("low", np.where(is_call, at_low, at_high)),
        pl.Series("close", close),
        pl.Series("bid", close * (1 - half_spread)),
        pl.Series("ask", close * (1 + half_spread)),
    ).filter(pl.col("close").is_finite() & (pl.col("close") > 0))


def _entries(
    contracts: pl.DataFrame,
    bars: pl.DataFrame,
    instruments: pl.DataFrame,
    params: LongOptionParams,
) -> pl.DataFrame:
    sizes = instruments.group_by("instrument_token").agg(
        pl.col("tick_size").last(), pl.col("lot_size").last()
    )
    at_decision = bars.select(
        "instrument_token", pl.col("ts_event").alias("ts_decision"), pl.col("close")
    )
    rows = contracts.join(at_decision, on=["instrument_token", "ts_decision"], how="inner").join(
        sizes, on="instrument_token", how="inner"
    )
    return rows.select(
        pl.col("instrument_token"),
        pl.col("ts_decision"),
        pl.lit(1, dtype=pl.Int8).alias("direction"),
        _on_grid(pl.col("close") * (1 + params.take_profit_pct / 100), "take_profit", up=True),
        _on_grid(pl.col("close") * (1 - params.stop_loss_pct / 100), "stop_loss", up=False),
        pl.col("exit_deadline"),
        pl.col("deadline_reason"),
        pl.col("lot_size").cast(pl.Int64),
        pl.col("tick_size").cast(pl.Float64),
        pl.lit(ChargeSegment.OPTIONS.value).alias("segment"),
        pl.lit(None, dtype=pl.Int64).alias("lots"),
    ).filter((pl.col("stop_loss") > 0) & (pl.col("lot_size") > 0) & (pl.col("tick_size") > 0))


def _on_grid(price: pl.Expr, name: str, *, up: bool) -> pl.Expr:
    ticks = price / pl.col("tick_size")
    # The target rounds away from the entry (up), the stop away too (down): never tighter.
    on_grid = ticks.ceil() if up else ticks.floor()
    return (on_grid * pl.col("tick_size")).round(6).alias(name)


def _empty_entries() -> pl.DataFrame:
    return pl.DataFrame(schema=ENTRY_SCHEMA)


def _empty_bars() -> pl.DataFrame:
    schema = {name: pl.Float64() for name in OPTION_BAR_COLUMNS}
    return pl.DataFrame(schema=schema | {"instrument_token": pl.Int64(), "ts_event": UTC_TIMESTAMP})
