"""The label-leakage guard flags a feature that is (nearly) the label, and nothing honest."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from data_contracts.errors import ContractError
from models.leakage import leaking_features


def _frame(rows: int = 500, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    honest = rng.normal(size=rows)
    net_return = 0.1 * honest + rng.normal(size=rows)
    return pl.DataFrame(
        {
            "honest": honest,
            "noise": rng.normal(size=rows),
            "net_return_pct": net_return,
            "win": net_return > 0,
        }
    )


def test_honest_features_are_not_flagged():
    assert leaking_features(_frame(), ("honest", "noise")) == []


@pytest.mark.parametrize(
    "leak",
    [
        pl.col("net_return_pct"),  # the label itself
        pl.col("net_return_pct") * -3 + 1,  # a monotone transform of it
        pl.col("win").cast(pl.Float64),  # the classifier target
        pl.col("net_return_pct") + pl.col("noise") * 0.05,  # the label, slightly blurred
    ],
)
def test_a_feature_made_from_the_label_is_flagged(leak):
    frame = _frame().with_columns(leak.alias("leak"))

    found = leaking_features(frame, ("honest", "leak"))

    assert [f.feature for f in found] == ["leak"]
    assert "leak" in str(found[0])


def test_too_few_rows_flag_nothing():
    frame = _frame(rows=20).with_columns(pl.col("net_return_pct").alias("leak"))

    assert leaking_features(frame, ("leak",)) == []


def test_missing_columns_raise_naming_them():
    with pytest.raises(ContractError, match="absent"):
        leaking_features(_frame(), ("absent",))
