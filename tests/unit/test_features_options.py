"""Option features on synthetic chains priced by Black-76 from a known vol surface."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.schemas import UTC_TIMESTAMP, FeatureFrame
from data_contracts.timeutil import IST
from models.features.options import OPTION_FEATURES, OptionFeatureParams, OptionFeatureSet
from models.option_math import black76_greeks, black76_price

NIFTY = 256265
STRIKES = np.arange(22_000.0, 26_001.0, 100.0)
SLOPE = -0.25  # vol rises as strikes fall: puts richer than calls
RATE = OPTION_FEATURES.params.rate
YEAR_US = 365.0 * 86_400e6


def _atm_vol(snapshot: np.ndarray) -> np.ndarray:
    return 0.14 + 0.03 * np.sin(snapshot / 3.0)


def _chain(
    snapshots: int = 12,
    first: dt.datetime = dt.datetime(2026, 2, 3, 9, 16, tzinfo=IST),
    expiries: tuple[dt.date, ...] = (dt.date(2026, 2, 3), dt.date(2026, 2, 10)),
) -> pl.DataFrame:
    """Every strike x side x expiry at each snapshot; vol = atm(snapshot) + SLOPE·ln(K/F)."""
    rng = np.random.default_rng(5)
    forward_path = 24_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, snapshots)))
    ts = [first + dt.timedelta(minutes=i) for i in range(snapshots)]
    s, e, k, call = np.meshgrid(
        np.arange(snapshots), np.arange(len(expiries)), STRIKES, [True, False], indexing="ij"
    )
    s, e, k, call = s.ravel(), e.ravel(), k.ravel(), call.ravel()
    expiry_us = np.array(
        [dt.datetime.combine(x, dt.time(15, 30), tzinfo=IST).timestamp() * 1e6 for x in expiries]
    )
    ts_us = np.array([t.timestamp() * 1e6 for t in ts])
    years = (expiry_us[e] - ts_us[s]) / YEAR_US
    forward = forward_path[s] * np.exp(0.001 * e)  # a little carry per later expiry
    vol = _atm_vol(s) + SLOPE * np.log(k / forward)
    price = black76_price(forward, k, years, vol, call, np.exp(-RATE * years))
    token = 10_000 + e * 1_000 + np.searchsorted(STRIKES, k) * 2 + (~call)
    return pl.DataFrame(
        {
            "ts_event": [ts[i] for i in s],
            "underlying_token": np.full(s.size, NIFTY),
            "instrument_token": token.astype(np.int64),
            "expiry": [expiries[i] for i in e],
            "strike": k,
            "option_type": np.where(call, "CE", "PE"),
            "last_price": price,
            "forward": forward,
            "oi": np.full(s.size, 1_000),
            "_vol": vol,
            "_years": years,
        },
        schema_overrides={"ts_event": UTC_TIMESTAMP},
    )


@pytest.fixture(scope="module")
def chain() -> pl.DataFrame:
    return _chain()


@pytest.fixture(scope="module")
def small_rank() -> OptionFeatureSet:
    return OptionFeatureSet(params=OptionFeatureParams(iv_rank_window=5))


@pytest.fixture(scope="module")
def built(chain: pl.DataFrame, small_rank: OptionFeatureSet) -> pl.DataFrame:
    return small_rank.build(chain)


def _joined(built: pl.DataFrame, chain: pl.DataFrame) -> pl.DataFrame:
    return built.join(chain, on=["instrument_token", "ts_event"], how="inner")


def test_option_features_recover_the_surface_iv_and_its_greeks(
    built: pl.DataFrame, chain: pl.DataFrame
) -> None:
    # Arrange
    rows = _joined(built, chain)
    forward, strike, years = (rows[c].to_numpy() for c in ("forward", "strike", "_years"))
    is_call = (rows["option_type"] == "CE").to_numpy()
    usable = rows["vega"].to_numpy() > 1e-3  # vega per vol point, in index points

    # Act
    expected = black76_greeks(
        forward, strike, years, rows["_vol"].to_numpy(), is_call, np.exp(-RATE * years)
    )

    # Assert
    assert built.height == chain.height
    np.testing.assert_allclose(
        rows["iv"].to_numpy()[usable], rows["_vol"].to_numpy()[usable], atol=1e-8
    )
    for name in ("delta", "gamma", "theta", "vega"):
        np.testing.assert_allclose(
            rows[name].to_numpy()[usable], getattr(expected, name)[usable], rtol=1e-6, atol=1e-12
        )
    np.testing.assert_allclose(rows["moneyness"].to_numpy(), np.log(strike / forward), rtol=1e-15)
    np.testing.assert_allclose(rows["time_to_expiry"].to_numpy(), years, rtol=1e-12)


def test_option_features_atm_iv_skips_expiry_day_for_next_expiry(
    built: pl.DataFrame, chain: pl.DataFrame
) -> None:
    # Arrange: on 2026-02-03 the Feb-03 expiry is hours away; ATM comes from Feb-10.
    later = chain.filter(pl.col("expiry") == dt.date(2026, 2, 10))
    nearest = later.filter(
        (pl.col("strike") / pl.col("forward")).log().abs()
        == (pl.col("strike") / pl.col("forward")).log().abs().min().over("ts_event")
    )
    expected = nearest.group_by("ts_event").agg(pl.col("_vol").mean().alias("expected"))

    # Act
    atm = built.select("ts_event", "atm_iv").unique().join(expected, on="ts_event")

    # Assert
    assert atm.height == chain["ts_event"].n_unique()
    np.testing.assert_allclose(atm["atm_iv"].to_numpy(), atm["expected"].to_numpy(), atol=1e-8)


def test_option_features_skew_is_put_minus_call_iv_at_25_delta(
    built: pl.DataFrame, chain: pl.DataFrame
) -> None:
    # Arrange: the expected skew from the surface, choosing strikes by the true deltas.
    rows = _joined(built, chain).with_columns(
        (pl.col("delta").abs() - 0.25).abs().alias("_distance")
    )
    group = ["expiry", "ts_event"]

    def wing(kind: str) -> pl.DataFrame:
        side = rows.filter(pl.col("option_type") == kind)
        return side.sort("_distance").group_by(group).agg(pl.col("_vol").first().alias(kind))

    expected = (
        wing("PE")
        .join(wing("CE"), on=group)
        .with_columns((pl.col("PE") - pl.col("CE")).alias("expected"))
    )

    # Act
    skew = rows.select(*group, "skew_25d").unique().join(expected, on=group)

    # Assert: puts are richer on this surface, and the value is the surface's difference.
    assert skew.height == 2 * chain["ts_event"].n_unique()
    assert (skew["skew_25d"] > 0).all()
    np.testing.assert_allclose(skew["skew_25d"].to_numpy(), skew["expected"].to_numpy(), atol=1e-8)


def test_option_features_iv_rank_ranks_atm_iv_in_its_window(
    built: pl.DataFrame, small_rank: OptionFeatureSet
) -> None:
    # Arrange
    series = built.select("ts_event", "atm_iv", "iv_rank_5").unique().sort("ts_event")
    atm = series["atm_iv"].to_numpy()
    window = small_rank.params.iv_rank_window

    # Act
    expected = [
        (atm[i] - atm[i - window + 1 : i + 1].min())
        / (atm[i - window + 1 : i + 1].max() - atm[i - window + 1 : i + 1].min())
        for i in range(window - 1, len(atm))
    ]

    # Assert
    rank = series["iv_rank_5"]
    assert rank.head(window - 1).is_null().all()
    np.testing.assert_allclose(rank.to_numpy()[window - 1 :], expected, atol=1e-12)
    assert small_rank.warmup_bars == window - 1


def test_option_features_after_warmup_are_a_valid_feature_frame(
    built: pl.DataFrame, small_rank: OptionFeatureSet
) -> None:
    # Act
    kept = small_rank.drop_warmup(built)

    # Assert: the first warmup_bars snapshots have no IV rank yet; after them every row with an
    # IV is kept (deep ITM options hours from expiry have no time value left, so no IV).
    FeatureFrame.validate(kept)
    snapshots = built["ts_event"].unique().sort()
    after = built.filter(pl.col("ts_event") >= snapshots[small_rank.warmup_bars])
    assert kept.equals(after.filter(pl.col("iv").is_not_nan()))
    assert after.filter(pl.col("iv").is_nan())["time_to_expiry"].max() < 1 / 365  # type: ignore[operator]


def test_option_features_price_without_iv_is_nan_and_dropped(
    chain: pl.DataFrame, small_rank: OptionFeatureSet
) -> None:
    # Arrange: one deep ITM call quoted below intrinsic.
    victim = chain.filter((pl.col("option_type") == "CE") & (pl.col("strike") == 22_000.0)).row(
        -1, named=True
    )
    broken = chain.with_columns(
        pl.when(
            (pl.col("instrument_token") == victim["instrument_token"])
            & (pl.col("ts_event") == victim["ts_event"])
        )
        .then(1.0)
        .otherwise(pl.col("last_price"))
        .alias("last_price")
    )

    # Act
    built = small_rank.build(broken)

    # Assert
    row = built.filter(
        (pl.col("instrument_token") == victim["instrument_token"])
        & (pl.col("ts_event") == victim["ts_event"])
    ).row(0, named=True)
    assert np.isnan(row["iv"])
    assert np.isnan(row["delta"])
    kept = small_rank.drop_warmup(built)
    assert kept.height == small_rank.drop_warmup(small_rank.build(chain)).height - 1


def test_option_features_without_forward_imply_it_from_put_call_parity(
    chain: pl.DataFrame, built: pl.DataFrame, small_rank: OptionFeatureSet
) -> None:
    # Act: the same chain as the Kite source gives it, without a forward column.
    implied = small_rank.build(chain.drop("forward"))

    # Assert: parity on exact prices gives the forward back, so the features barely move
    # (compared where the IV is well defined: vega at least 0.001 point per vol point).
    usable = built["vega"].is_not_nan() & (built["vega"] > 1e-3)  # polars orders NaN last
    for name in small_rank.columns:
        np.testing.assert_allclose(
            implied[name].filter(usable).to_numpy(),
            built[name].filter(usable).to_numpy(),
            rtol=1e-7,
            atol=1e-9,
            err_msg=name,
        )


def test_option_features_price_is_mid_quote_when_both_sides_quoted(
    chain: pl.DataFrame, built: pl.DataFrame, small_rank: OptionFeatureSet
) -> None:
    # Arrange: a stale last price, and a book around the model price (one side missing on
    # some rows, where the last price must be used).
    true_price = pl.col("last_price")
    quoted = chain.with_columns(
        (true_price * 0.99).alias("bid"),
        pl.when(pl.col("strike") == 24_000.0).then(None).otherwise(true_price * 1.01).alias("ask"),
        pl.when(pl.col("strike") == 24_000.0)
        .then(true_price)
        .otherwise(true_price * 1.1)
        .alias("last_price"),
    )

    # Act
    by_mid = small_rank.build(quoted)
    by_last = OptionFeatureSet(params=OptionFeatureParams(iv_rank_window=5, price_source="last"))
    stale = by_last.build(quoted)

    # Assert
    usable = built["vega"].is_not_nan() & (built["vega"] > 1e-3)  # polars orders NaN last
    np.testing.assert_allclose(
        by_mid["iv"].filter(usable).to_numpy(), built["iv"].filter(usable).to_numpy(), atol=1e-8
    )
    assert (stale["iv"].filter(usable) - built["iv"].filter(usable)).abs().max() > 1e-3  # type: ignore[operator]


def test_option_features_missing_price_gives_no_iv(
    chain: pl.DataFrame, small_rank: OptionFeatureSet
) -> None:
    gaps = chain.with_columns(
        pl.when(pl.col("strike") == 23_000.0)
        .then(None)
        .otherwise(pl.col("last_price"))
        .alias("last_price")
    )
    built = small_rank.build(gaps).join(gaps, on=["instrument_token", "ts_event"])
    assert built.filter(pl.col("strike") == 23_000.0)["iv"].is_nan().all()
    assert built.filter(pl.col("strike") == 24_000.0)["iv"].is_not_nan().all()


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=0, max_value=10))
def test_option_features_deleting_later_snapshots_changes_nothing_before(
    chain: pl.DataFrame, built: pl.DataFrame, small_rank: OptionFeatureSet, t: int
) -> None:
    cutoff = chain["ts_event"].unique().sort()[t]
    truncated = small_rank.build(chain.filter(pl.col("ts_event") <= cutoff))
    assert truncated.equals(built.filter(pl.col("ts_event") <= cutoff))


def test_option_features_latest_of_warmup_window_equals_full_history(
    chain: pl.DataFrame, built: pl.DataFrame, small_rank: OptionFeatureSet
) -> None:
    # Arrange: the last warmup_bars + 1 snapshots.
    snapshots = chain["ts_event"].unique().sort()
    window = chain.filter(pl.col("ts_event") >= snapshots[-(small_rank.warmup_bars + 1)])

    # Act
    latest = small_rank.latest(window)

    # Assert
    expected = small_rank.drop_warmup(built).filter(pl.col("ts_event") == snapshots[-1])
    assert latest.height == expected.height > 0
    assert latest.equals(expected)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("last_price"), "columns"),
        (lambda f: f.with_columns(pl.lit(None, dtype=pl.Int64).alias("underlying_token")), "set"),
        (lambda f: f.with_columns(pl.lit("CALL").alias("option_type")), "CE or PE"),
        (lambda f: pl.concat([f, f.head(1)]), "unique"),
        (lambda f: f.with_columns(pl.col("ts_event").dt.replace_time_zone(None)), "tz-aware"),
    ],
)
def test_option_features_malformed_chain_raises(
    chain: pl.DataFrame, change: object, message: str
) -> None:
    broken = change(chain.head(10))  # type: ignore[operator]  # a lambda from the table
    with pytest.raises(ContractError, match=message):
        OPTION_FEATURES.build(broken)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"iv_rank_window": 1}, "iv_rank_window"),
        ({"rate": -0.01}, "rate"),
        ({"skew_delta": 1.0}, "skew_delta"),
        ({"price_source": "close"}, "price_source"),
    ],
)
def test_option_feature_params_invalid_raise(change: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError, match=field):
        OptionFeatureParams(**change)  # type: ignore[arg-type]  # deliberately wrong


def test_option_feature_set_version_follows_parameters() -> None:
    assert OptionFeatureSet().version == OPTION_FEATURES.version
    assert (
        OptionFeatureSet(params=OptionFeatureParams(rate=0.05)).version != OPTION_FEATURES.version
    )
    assert OPTION_FEATURES.columns[-2:] == ("iv_rank_375", "skew_25d")
