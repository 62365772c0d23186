"""Option features on an option chain: Black-76 IV and greeks, ATM IV, IV rank, 25-delta skew.

The chain frame (one row per option contract per snapshot; see ``docs/features.md``):

=================  ==============  =================================================================
column             dtype           meaning
=================  ==============  =================================================================
ts_event           Datetime UTC    the snapshot's time (for minute snapshots: the bar's close)
underlying_token   Int64           the underlying's instrument token (index or stock)
instrument_token   Int64           the option's instrument token
expiry             Date            the option's expiry day (it expires at 15:30 IST that day)
strike             Float64         > 0
option_type        String          ``CE`` or ``PE``
price              Float64         the option's price: last traded price or mid quote
forward            Float64         the underlying's forward for this expiry (the future's price;
                                   spot x e^(rT) when no future trades)
oi                 Int64, null ok  open interest (passed over; not a feature)
=================  ==============  =================================================================
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
    "OptionFeatureParams",
    "OptionFeatureSet",
]

CHAIN_COLUMNS: Final = {
    "ts_event": pl.Datetime,
    "underlying_token": pl.Int64,
    "instrument_token": pl.Int64,
    "expiry": pl.Date,
    "strike": pl.Float64,
    "option_type": pl.String,
    "price": pl.Float64,
    "forward": pl.Float64,
}
# NSE options expire at the 15:30 IST close = 10:00 UTC.
_EXPIRY_UTC_OFFSET: Final = pl.duration(hours=10)
_US_PER_YEAR: Final = 365.0 * 86_400 * 1_000_000
_UNDERLYING: Final = "underlying_token"


@dataclass(frozen=True, slots=True)
class OptionFeatureParams:
    """Parameters of the option features (part of their version hash)."""

    # Continuous risk-free rate discounting the premium (about the 91-day T-bill yield).
    rate: float = 0.065
    # IV rank looks at the ATM IV of this many snapshots of the underlying (one session of
    # minute snapshots by default).
    iv_rank_window: int = 375
    # ATM IV uses the nearest expiry at least this many calendar days away (skips expiry day).
    atm_min_days: float = 1.0
    # Skew compares the put and the call whose |delta| is nearest this.
    skew_delta: float = 0.25

    def __post_init__(self) -> None:
        owner = "OptionFeatureParams"
        non_negative(owner, "rate", self.rate)
        integer(owner, "iv_rank_window", self.iv_rank_window, minimum=2)
        non_negative(owner, "atm_min_days", self.atm_min_days)
        positive(owner, "skew_delta", self.skew_delta)
        if self.skew_delta >= 1.0:
            raise ContractError(owner, "skew_delta", self.skew_delta, "must be < 1")


@dataclass(frozen=True)
class OptionFeatureSet:
    """Features of every option in a chain, keyed by the option's token and the snapshot time.

    ``warmup_bars`` counts snapshots of the underlying: IV rank needs ``iv_rank_window`` of them,
    so a window of ``warmup_bars + 1`` snapshots gives the same last row as the full history.
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

        IV (and so the greeks) is NaN where the price admits no Black-76 vol (at or below
        intrinsic, at or above the forward/strike bound, expired); ATM IV and IV rank are null
        while the underlying is in its warm-up, and the skew is null for an expiry without a put
        and a call that have an IV. :meth:`drop_warmup` keeps only complete rows.
        """
        frame = _checked(chain)
        p = self.params
        years = (
            (
                pl.col("expiry").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
                + _EXPIRY_UTC_OFFSET
            )
            - pl.col("ts_event").dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        ).dt.total_microseconds() / _US_PER_YEAR
        frame = frame.with_columns(
            years.alias("time_to_expiry"),
            (pl.col("strike") / pl.col("forward")).log().alias("moneyness"),
            (pl.col("option_type") == "CE").alias("_is_call"),
        )
        frame = frame.with_columns(_black76_columns(frame, p.rate))
        frame = frame.with_columns(_skew(p.skew_delta).alias(self.columns[-1]))
        frame = frame.join(
            _atm_iv_rank(frame, p, self.columns[-2]),
            on=[_UNDERLYING, "ts_event"],
            how="left",
            maintain_order="left",
        )
        return frame.select(
            *KEY_COLUMNS,
            pl.lit(self.version, dtype=pl.String).alias("feature_version"),
            *self.columns,
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
        built = self.build(window)
        keys = window.select("instrument_token", _UNDERLYING).unique()
        return (
            self.drop_warmup(built)
            .join(keys, on="instrument_token")
            .join(last, on=_UNDERLYING)
            .filter(pl.col("ts_event") == pl.col("_last"))
            .select(built.columns)
            .sort(*KEY_COLUMNS)
        )


def _checked(chain: pl.DataFrame) -> pl.DataFrame:
    missing = [name for name in CHAIN_COLUMNS if name not in chain.columns]
    if missing:
        raise ContractError("OptionFeatureSet", "chain", missing, "must have these columns")
    ts_type = chain.schema["ts_event"]
    if not isinstance(ts_type, pl.Datetime) or ts_type.time_zone is None:
        raise ContractError("OptionFeatureSet", "ts_event", ts_type, "must be a tz-aware Datetime")
    kinds = set(chain["option_type"].unique().to_list())
    if not kinds <= {"CE", "PE"}:
        raise ContractError(
            "OptionFeatureSet", "option_type", sorted(kinds - {"CE", "PE"}), "must be CE or PE"
        )
    frame = chain.select(
        *(
            pl.col(name) if dtype is pl.Datetime else pl.col(name).cast(dtype)
            for name, dtype in CHAIN_COLUMNS.items()
        )
    )
    duplicated = frame.select(pl.struct(*KEY_COLUMNS).is_duplicated().any()).item()
    if duplicated:
        raise ContractError(
            "OptionFeatureSet", "chain", "duplicate (instrument_token, ts_event)", "must be unique"
        )
    return frame.sort(_UNDERLYING, "ts_event", "expiry", "strike", "option_type")


def _black76_columns(frame: pl.DataFrame, rate: float) -> list[pl.Series]:
    """IV by Black-76 inversion and the greeks at that IV (NaN where there is no IV)."""
    t = frame["time_to_expiry"].to_numpy()
    forward = frame["forward"].to_numpy()
    strike = frame["strike"].to_numpy()
    is_call = frame["_is_call"].to_numpy()
    with np.errstate(over="ignore"):
        discount = np.exp(-rate * t)
    iv = implied_vol(frame["price"].to_numpy(), forward, strike, t, is_call, discount)
    greeks = black76_greeks(forward, strike, t, np.where(np.isnan(iv), 1.0, iv), is_call, discount)
    nan = np.isnan(iv)
    return [
        pl.Series("iv", iv, dtype=pl.Float64),
        *(
            pl.Series(name, np.where(nan, np.nan, getattr(greeks, name)), dtype=pl.Float64)
            for name in ("delta", "gamma", "theta", "vega")
        ),
    ]


def _skew(target: float) -> pl.Expr:
    """IV of the put nearest ``-target`` delta minus IV of the call nearest ``+target`` delta.

    Per underlying, expiry and snapshot; nearest listed strike, no interpolation.
    """
    group = [_UNDERLYING, "expiry", "ts_event"]
    iv, delta, is_call = pl.col("iv"), pl.col("delta"), pl.col("_is_call")
    usable = iv.is_not_nan()

    def wing(calls: bool) -> pl.Expr:
        side = usable & (is_call if calls else ~is_call)
        distance = (delta.abs() - target).abs()
        return iv.filter(side).sort_by(distance.filter(side)).first().over(group)

    return wing(calls=False) - wing(calls=True)


def _atm_iv_rank(frame: pl.DataFrame, p: OptionFeatureParams, rank_name: str) -> pl.DataFrame:
    """Per underlying and snapshot: the ATM IV and its rank in the last ``iv_rank_window``.

    ATM IV is the mean IV of the CE and PE at the strike nearest the forward of the nearest expiry
    at least ``atm_min_days`` away; a snapshot without one carries the last ATM IV forward. The
    rank is ``(atm - min) / (max - min)`` over the window (0.5 when the window is flat).
    """
    snapshot = [_UNDERLYING, "ts_event"]
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
    snapshots = frame.select(snapshot).unique().join(atm, on=snapshot, how="left")
    window = p.iv_rank_window
    series = snapshots.sort(snapshot).with_columns(
        pl.col("atm_iv").forward_fill().over(_UNDERLYING)
    )
    low = pl.col("atm_iv").rolling_min(window).over(_UNDERLYING)
    high = pl.col("atm_iv").rolling_max(window).over(_UNDERLYING)
    return series.with_columns(
        pl.when(high > low)
        .then((pl.col("atm_iv") - low) / (high - low))
        .when(high.is_not_null())
        .then(0.5)
        .alias(rank_name)
    )


OPTION_FEATURES: Final = OptionFeatureSet()
"""The option feature set: what strategies and models read for an option contract."""
