"""Option features on an option chain: Black-76 IV and greeks, ATM IV, IV rank, 25-delta skew.

The chain is the frame the simulator's and the Kite source's ``option_chain`` return (one row per
contract per snapshot; ``docs/features.md`` has the table). Required: ``ts_event,
underlying_token, instrument_token, expiry, strike, option_type, last_price``; used when present:
``bid, ask`` (the mid quote is the price when both sides are there) and ``forward`` (else the
forward is implied from put-call parity). Other columns (``tradingsymbol, oi, volume,
underlying_price``) are ignored. Rows with the same ``(underlying_token, ts_event)`` are one
snapshot of that underlying.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Final

import numpy as np
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.validation import integer, non_empty, non_negative, positive
from models.features.definition import KEY_COLUMNS, version_hash
from models.option_math import black76_greeks, implied_vol

__all__ = [
    "CHAIN_COLUMNS",
    "OPTION_FEATURES",
    "PRICE_SOURCES",
    "OptionFeatureParams",
    "OptionFeatureSet",
]

# Required chain columns and the dtypes they are read as (ts_event: any tz-aware Datetime).
CHAIN_COLUMNS: Final[dict[str, type[pl.DataType]]] = {
    "ts_event": pl.Datetime,
    "underlying_token": pl.Int64,
    "instrument_token": pl.Int64,
    "expiry": pl.Date,
    "strike": pl.Float64,
    "option_type": pl.String,
    "last_price": pl.Float64,
}
PRICE_SOURCES: Final = ("mid", "last")
# NSE options expire at the 15:30 IST close = 10:00 UTC.
_EXPIRY_UTC: Final = pl.duration(hours=10)
_US_PER_YEAR: Final = 365.0 * 86_400 * 1_000_000
_UNDERLYING: Final = "underlying_token"
_SNAPSHOT: Final = (_UNDERLYING, "ts_event")
_EXPIRY_SNAPSHOT: Final = (_UNDERLYING, "expiry", "ts_event")


@dataclass(frozen=True, slots=True)
class OptionFeatureParams:
    """Parameters of the option features (part of their version hash)."""

    # Continuous risk-free rate discounting the premium (about the 91-day T-bill yield; the
    # simulator prices with the same 6.5 %).
    rate: float = 0.065
    # IV rank looks at the ATM IV of this many snapshots of the underlying (one session of
    # minute snapshots).
    iv_rank_window: int = 375
    # ATM IV uses the nearest expiry at least this many calendar days away (skips expiry day).
    atm_min_days: float = 1.0
    # Skew compares the put and the call whose |delta| is nearest this.
    skew_delta: float = 0.25
    # "mid": the mid quote where both bid and ask are > 0, else the last price; "last": always
    # the last traded price.
    price_source: str = "mid"

    def __post_init__(self) -> None:
        owner = "OptionFeatureParams"
        non_negative(owner, "rate", self.rate)
        integer(owner, "iv_rank_window", self.iv_rank_window, minimum=2)
        non_negative(owner, "atm_min_days", self.atm_min_days)
        positive(owner, "skew_delta", self.skew_delta)
        if self.skew_delta >= 1.0:
            raise ContractError(owner, "skew_delta", self.skew_delta, "must be < 1")
        if self.price_source not in PRICE_SOURCES:
            raise ContractError(owner, "price_source", self.price_source, "must be mid or last")


@dataclass(frozen=True)
class OptionFeatureSet:
    """Features of every option in a chain, keyed by the option's token and the snapshot time.

    ``warmup_bars`` counts snapshots of the underlying: IV rank needs ``iv_rank_window`` of them,
    so a window of ``warmup_bars + 1`` snapshots gives the same last rows as the full history.
    """

    name: str = "options"
    params: OptionFeatureParams = field(default_factory=OptionFeatureParams)
    columns: tuple[str, ...] = field(init=False)
    warmup_bars: int = field(init=False)
    version: str = field(init=False)

    def __post_init__(self) -> None:
        non_empty("OptionFeatureSet", "name", self.name)
        p = self.params
        columns = (
            "iv",
            "delta",
            "gamma",
            "theta",
            "vega",
            "moneyness",
            "time_to_expiry",
            "atm_iv",
            f"iv_rank_{p.iv_rank_window}",
            f"skew_{round(p.skew_delta * 100)}d",
        )
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "warmup_bars", p.iv_rank_window - 1)
        object.__setattr__(self, "version", version_hash(self.name, columns, asdict(p)))

    def build(self, chain: pl.DataFrame) -> pl.DataFrame:
        """``instrument_token, ts_event, feature_version, <columns>`` for every chain row.

        IV (and so the greeks) is NaN where the option has no Black-76 vol: no price, a price at
        or below intrinsic or at or above its bound, no forward, or expired. ATM IV is null for a
        snapshot before the underlying's first ATM IV, IV rank null in the warm-up, and the skew
        null for an expiry without a put and a call that have an IV. :meth:`drop_warmup` keeps
        complete rows only.
        """
        p = self.params
        frame = _with_forward(_checked(chain, p.price_source), p.rate)
        frame = frame.with_columns((pl.col("strike") / pl.col("forward")).log().alias("moneyness"))
        frame = frame.with_columns(_black76_columns(frame, p.rate))
        frame = frame.with_columns(_skew(p.skew_delta).alias(self.columns[-1]))
        frame = frame.join(
            _atm_iv_rank(frame, p, self.columns[-2]),
            on=list(_SNAPSHOT),
            how="left",
            maintain_order="left",
        )
        return frame.select(
            *KEY_COLUMNS,
            pl.lit(self.version, dtype=pl.String).alias("feature_version"),
            *(pl.col(name).cast(pl.Float64) for name in self.columns),
        ).sort(*KEY_COLUMNS)

    def drop_warmup(self, features: pl.DataFrame) -> pl.DataFrame:
        """Only complete rows: past the underlying's warm-up, with an IV and a skew."""
        return features.filter(
            pl.all_horizontal(
                pl.col(name).is_finite().fill_null(value=False) for name in self.columns
            )
        )

    def latest(self, window: pl.DataFrame) -> pl.DataFrame:
        """The complete rows of each underlying's last snapshot in ``window`` (for streaming)."""
        last = window.group_by(_UNDERLYING).agg(pl.col("ts_event").max().alias("_last"))
        options = window.select("instrument_token", _UNDERLYING).unique()
        built = self.build(window)
        return (
            self.drop_warmup(built)
            .join(options, on="instrument_token")
            .join(last, on=_UNDERLYING)
            .filter(pl.col("ts_event") == pl.col("_last"))
            .select(built.columns)
            .sort(*KEY_COLUMNS)
        )


def _checked(chain: pl.DataFrame, price_source: str) -> pl.DataFrame:
    """The columns the features read, with ``price`` (mid or last) and ``time_to_expiry``."""
    owner = "OptionFeatureSet"
    missing = [name for name in CHAIN_COLUMNS if name not in chain.columns]
    if missing:
        raise ContractError(owner, "chain", missing, "must have these columns")
    ts_type = chain.schema["ts_event"]
    if not isinstance(ts_type, pl.Datetime) or ts_type.time_zone is None:
        raise ContractError(owner, "ts_event", ts_type, "must be a tz-aware Datetime")
    kinds = set(chain["option_type"].unique().to_list())
    if not kinds <= {"CE", "PE"}:
        raise ContractError(
            owner, "option_type", sorted(map(str, kinds - {"CE", "PE"})), "must be CE or PE"
        )
    if chain[_UNDERLYING].null_count():
        raise ContractError(owner, _UNDERLYING, None, "must be set on every row")
    if chain.select(pl.struct(*KEY_COLUMNS).is_duplicated().any()).item():
        raise ContractError(
            owner, "chain", "duplicate (instrument_token, ts_event)", "must be unique"
        )
    last = pl.col("last_price").cast(pl.Float64)
    price = last
    if price_source == "mid" and {"bid", "ask"} <= set(chain.columns):
        bid, ask = pl.col("bid").cast(pl.Float64), pl.col("ask").cast(pl.Float64)
        quoted = bid.is_finite() & ask.is_finite() & (bid > 0.0) & (ask >= bid)
        price = pl.when(quoted).then((bid + ask) / 2.0).otherwise(last)
    forward = (
        pl.col("forward").cast(pl.Float64)
        if "forward" in chain.columns
        else pl.lit(None, dtype=pl.Float64)
    )
    ts = pl.col("ts_event").dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    expiry = pl.col("expiry").cast(pl.Date).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return chain.select(
        *(pl.col(n).cast(t) for n, t in CHAIN_COLUMNS.items() if n not in {"ts_event"}),
        ts.alias("ts_event"),
        price.alias("price"),
        forward.alias("forward"),
        ((expiry + _EXPIRY_UTC - ts).dt.total_microseconds() / _US_PER_YEAR).alias(
            "time_to_expiry"
        ),
        (pl.col("option_type") == "CE").alias("_is_call"),
    ).sort(_UNDERLYING, "ts_event", "expiry", "strike", "option_type")


def _with_forward(frame: pl.DataFrame, rate: float) -> pl.DataFrame:
    """Fill a missing ``forward`` from put-call parity: ``F = K + (C - P)/D`` at the strike where
    call and put are closest in price (per underlying, expiry and snapshot)."""
    keys = [*_EXPIRY_SNAPSHOT, "strike"]
    calls = frame.filter(pl.col("_is_call")).select(*keys, pl.col("price").alias("_call"))
    puts = frame.filter(~pl.col("_is_call")).select(*keys, pl.col("price").alias("_put"))
    pairs = calls.join(puts, on=keys).join(
        frame.select(*_EXPIRY_SNAPSHOT, "time_to_expiry").unique(list(_EXPIRY_SNAPSHOT)),
        on=list(_EXPIRY_SNAPSHOT),
    )
    gap = pl.col("_call") - pl.col("_put")
    parity = (
        pairs.filter(gap.is_not_null() & (pl.col("time_to_expiry") > 0.0))
        .sort(*_EXPIRY_SNAPSHOT, gap.abs(), "strike")
        .group_by(list(_EXPIRY_SNAPSHOT), maintain_order=True)
        .first()
        .select(
            *_EXPIRY_SNAPSHOT,
            (pl.col("strike") + gap * (rate * pl.col("time_to_expiry")).exp()).alias("_parity"),
        )
    )
    return (
        frame.join(parity, on=list(_EXPIRY_SNAPSHOT), how="left", maintain_order="left")
        .with_columns(pl.coalesce("forward", "_parity").alias("forward"))
        .drop("_parity")
    )


def _black76_columns(frame: pl.DataFrame, rate: float) -> list[pl.Series]:
    """IV by Black-76 inversion and the greeks at that IV (NaN where there is no IV)."""
    t = frame["time_to_expiry"].to_numpy()
    forward = frame["forward"].fill_null(np.nan).to_numpy()
    strike = frame["strike"].to_numpy()
    is_call = frame["_is_call"].to_numpy()
    discount = np.exp(-rate * np.maximum(t, 0.0))
    iv = implied_vol(
        frame["price"].fill_null(np.nan).to_numpy(), forward, strike, t, is_call, discount
    )
    solved = ~np.isnan(iv)
    greeks = black76_greeks(forward, strike, t, np.where(solved, iv, 1.0), is_call, discount)
    return [
        pl.Series("iv", iv, dtype=pl.Float64),
        *(
            pl.Series(name, np.where(solved, getattr(greeks, name), np.nan), dtype=pl.Float64)
            for name in ("delta", "gamma", "theta", "vega")
        ),
    ]


def _skew(target: float) -> pl.Expr:
    """IV of the put nearest ``-target`` delta minus IV of the call nearest ``+target`` delta.

    Per underlying, expiry and snapshot; the nearest listed strike, no interpolation.
    """
    iv, delta, is_call = pl.col("iv"), pl.col("delta"), pl.col("_is_call")
    solved = iv.is_not_nan()

    def wing(calls: bool) -> pl.Expr:
        side = solved & (is_call if calls else ~is_call)
        distance = (delta.abs() - target).abs()
        return iv.filter(side).sort_by(distance.filter(side)).first().over(_EXPIRY_SNAPSHOT)

    return wing(calls=False) - wing(calls=True)


def _atm_iv_rank(frame: pl.DataFrame, p: OptionFeatureParams, rank_name: str) -> pl.DataFrame:
    """Per underlying and snapshot: the ATM IV and its rank in the last ``iv_rank_window``.

    ATM IV is the mean IV of the CE and PE at the strike nearest the forward of the nearest expiry
    at least ``atm_min_days`` away; a snapshot without one carries the last ATM IV forward. The
    rank is ``(atm - min) / (max - min)`` over the window (0.5 when the window is flat).
    """
    snapshot = list(_SNAPSHOT)
    eligible = frame.filter(
        (pl.col("time_to_expiry") >= p.atm_min_days / 365.0) & pl.col("iv").is_not_nan()
    )
    nearest = eligible.filter(
        pl.col("time_to_expiry") == pl.col("time_to_expiry").min().over(snapshot)
    )
    at_money = nearest.filter(
        pl.col("moneyness").abs() == pl.col("moneyness").abs().min().over(snapshot)
    )
    atm = at_money.group_by(snapshot).agg(pl.col("iv").mean().alias("atm_iv"))
    series = (
        frame.select(snapshot)
        .unique()
        .join(atm, on=snapshot, how="left")
        .sort(snapshot)
        .with_columns(pl.col("atm_iv").forward_fill().over(_UNDERLYING))
    )
    low = pl.col("atm_iv").rolling_min(p.iv_rank_window).over(_UNDERLYING)
    high = pl.col("atm_iv").rolling_max(p.iv_rank_window).over(_UNDERLYING)
    return series.with_columns(
        pl.when(high > low)
        .then((pl.col("atm_iv") - low) / (high - low))
        .when(high.is_not_null())
        .then(0.5)
        .alias(rank_name)
    )


OPTION_FEATURES: Final = OptionFeatureSet()
"""The option feature set: what strategies and models read for an option contract."""
