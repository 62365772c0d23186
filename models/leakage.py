"""A guard against label leakage: a feature that predicts its own row's label far too well.

Labels are the only code allowed to look ahead, so a feature column that is (nearly) a function
of the label has leaked the future into the training set. Genuine market features explain a
small part of a trade's outcome; a rank correlation with the net return near 1, or a single
feature separating winners from losers almost perfectly, does not happen honestly. The training
set's blocking check (``no_label_leakage``) runs this on every partition.

The AUC bound is deliberately extreme (AUC > 0.99 or < 0.01): after charges, volatility alone
separates winners from losers well (a wider ATR stop and target make a trade big enough to pay
its fixed brokerage), so an honest ATR feature reaches an AUC of ~0.93 on simulated days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.validation import probability

__all__ = ["LeakFinding", "leaking_features"]

_OWNER: Final = "leaking_features"
# Enough rows for a rank statistic to mean something; fewer and nothing is flagged.
MIN_ROWS: Final = 50


@dataclass(frozen=True, slots=True)
class LeakFinding:
    """A feature flagged as leaking: its rank correlation with the return and its win AUC."""

    feature: str
    rank_correlation: float
    win_auc: float

    def __str__(self) -> str:
        return (
            f"{self.feature}: rank correlation with net_return_pct {self.rank_correlation:+.3f}, "
            f"AUC for win {self.win_auc:.3f}"
        )


def leaking_features(
    frame: pl.DataFrame,
    feature_columns: tuple[str, ...],
    *,
    max_abs_rank_correlation: float = 0.9,
    max_auc_distance: float = 0.49,
) -> list[LeakFinding]:
    """Features whose |Spearman correlation| with ``net_return_pct`` exceeds the bound, or whose
    AUC for ``win`` is further than ``max_auc_distance`` from 0.5 (either direction)."""
    probability(_OWNER, "max_abs_rank_correlation", max_abs_rank_correlation)
    probability(_OWNER, "max_auc_distance", max_auc_distance)
    missing = [c for c in (*feature_columns, "net_return_pct", "win") if c not in frame.columns]
    if missing:
        raise ContractError(_OWNER, "frame", missing, "missing columns")
    if frame.height < MIN_ROWS:
        return []
    positives = int(frame["win"].sum())
    negatives = frame.height - positives
    target_rank = pl.col("net_return_pct").rank("average")
    stats = frame.select(
        *(
            pl.corr(pl.col(c).rank("average"), target_rank).alias(f"corr:{c}")
            for c in feature_columns
        ),
        *(
            pl.col(c).rank("average").filter(pl.col("win")).sum().alias(f"ranks:{c}")
            for c in feature_columns
        ),
    ).row(0, named=True)
    found = []
    for column in feature_columns:
        correlation = stats[f"corr:{column}"]
        correlation = 0.0 if correlation is None or correlation != correlation else correlation
        auc = _auc(stats[f"ranks:{column}"], positives, negatives)
        if abs(correlation) > max_abs_rank_correlation or abs(auc - 0.5) > max_auc_distance:
            found.append(LeakFinding(column, float(correlation), auc))
    return found


def _auc(positive_rank_sum: float | None, positives: int, negatives: int) -> float:
    """Mann-Whitney AUC from the rank sum of the positives (0.5 when one class is missing)."""
    if not positives or not negatives or positive_rank_sum is None:
        return 0.5
    return float((positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives))
