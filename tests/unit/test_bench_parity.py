"""The backtest bench's parity check (``bench/backtest.py``) on a small case.

The bench times our engine against vectorbt only after both produce the same trades; this runs
that check on 20 k bars. vectorbt is in the ``bench`` dependency group, which ``make bench``
installs and ``make test`` does not, so the vectorbt test usually skips; that is expected.
"""

from __future__ import annotations

import polars as pl
import pytest

from bench.backtest import ours_trades, parity, run_ours, synthetic_case, vectorbt_parity


@pytest.mark.parametrize("seed", [11, 12])
def test_bench_parity_small_case_same_trades_as_vectorbt(seed: int) -> None:
    pytest.importorskip("vectorbt")
    case = synthetic_case(4, 5_000, seed=seed)

    result = vectorbt_parity(case)

    assert result.ok, result.describe()
    assert result.ours > 100


@pytest.mark.parametrize(
    ("column", "change"),
    [("exit_price", 0.05), ("exit_bar", 1), ("pnl", 1.0)],
)
def test_bench_parity_one_trade_changed_mismatch(column: str, change: float) -> None:
    case = synthetic_case(2, 2_000)
    ours = ours_trades(case, run_ours(case))
    changed = ours.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.col(column) + change)
        .otherwise(pl.col(column))
        .cast(ours.schema[column])
    )

    result = parity(ours, changed, "changed")

    assert not result.ok
    assert parity(ours, ours, "itself").ok
