"""Out-of-sample classification metrics of calibrated win probabilities.

Every metric is defined on any input, including empty and one-class input, and never NaN (see
``docs/training.md`` for the conventions): AUC is 0.5 when it is undefined, precision and recall
are 0 with nothing to count, and the error metrics are 0 on empty input.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.validation import integer, probability

__all__ = ["ECE_BINS", "calibration_table", "classification_metrics"]

_OWNER: Final = "classification_metrics"
ECE_BINS: Final = 10
# log_loss clips p to [eps, 1 - eps] as scikit-learn does, so a confident miss costs ~36, not inf.
_EPS: Final = float(np.finfo(np.float64).eps)


def classification_metrics(
    win: npt.ArrayLike, p_win: npt.ArrayLike, threshold: float
) -> dict[str, float]:
    """``auc, brier, log_loss, ece, precision, recall, base_rate, rows, predicted_positive``.

    ``precision``/``recall`` count rows with ``p_win >= threshold`` as predicted wins; ``ece`` is
    the expected calibration error over 10 equal-width bins of ``p_win``.
    """
    y, p = _inputs(_OWNER, win, p_win)
    probability(_OWNER, "threshold", threshold)
    rows = y.size
    positive = p >= threshold
    true_positive = int(np.sum(positive & y))
    predicted = int(positive.sum())
    wins = int(y.sum())
    if rows == 0:
        brier = log_loss = 0.0
    else:
        brier = float(np.mean((p - y) ** 2))
        clipped = np.clip(p, _EPS, 1.0 - _EPS)
        log_loss = float(-np.mean(np.where(y, np.log(clipped), np.log1p(-clipped))))
    return {
        "auc": _auc(y, p),
        "brier": brier,
        "log_loss": log_loss,
        "ece": _ece(y, p, ECE_BINS),
        "precision": true_positive / predicted if predicted else 0.0,
        "recall": true_positive / wins if wins else 0.0,
        "base_rate": wins / rows if rows else 0.0,
        "rows": float(rows),
        "predicted_positive": float(predicted),
    }


def calibration_table(win: npt.ArrayLike, p_win: npt.ArrayLike, bins: int = 10) -> pl.DataFrame:
    """Reliability table over ``bins`` equal-width bins of ``p_win`` on [0, 1].

    Columns ``bin`` (0-based), ``lower``, ``upper``, ``mean_predicted``, ``observed_rate``,
    ``rows``; every bin is listed, an empty bin with null means and ``rows = 0``.
    """
    y, p = _inputs("calibration_table", win, p_win)
    integer("calibration_table", "bins", bins, minimum=1)
    index = _bin_index(p, bins)
    rows = np.bincount(index, minlength=bins)
    predicted = np.bincount(index, weights=p, minlength=bins)
    observed = np.bincount(index, weights=y.astype(np.float64), minlength=bins)
    filled = rows > 0
    safe = np.where(filled, rows, 1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    return pl.DataFrame(
        {
            "bin": np.arange(bins, dtype=np.int64),
            "lower": edges[:-1],
            "upper": edges[1:],
            "mean_predicted": np.where(filled, predicted / safe, np.nan),
            "observed_rate": np.where(filled, observed / safe, np.nan),
            "rows": rows.astype(np.int64),
        },
        nan_to_null=True,
    )


def _inputs(
    owner: str, win: npt.ArrayLike, p_win: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    raw = np.asarray(win)
    p = np.asarray(p_win, dtype=np.float64)
    if raw.ndim != 1 or p.ndim != 1 or raw.shape != p.shape:
        raise ContractError(
            owner, "p_win", p.shape, f"must be 1-d and match win's shape {raw.shape}"
        )
    if raw.dtype != np.bool_:
        if raw.size and not np.all((raw == 0) | (raw == 1)):
            raise ContractError(owner, "win", raw[:5].tolist(), "must be booleans (or 0/1)")
    if p.size and not (np.all(np.isfinite(p)) and p.min() >= 0.0 and p.max() <= 1.0):
        raise ContractError(owner, "p_win", "out of range", "must be finite and within [0, 1]")
    return raw.astype(np.bool_), p


def _auc(y: npt.NDArray[np.bool_], p: npt.NDArray[np.float64]) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic with tied scores counted half."""
    wins = int(y.sum())
    losses = y.size - wins
    if wins == 0 or losses == 0:
        return 0.5
    order = np.argsort(p, kind="stable")
    sorted_p = p[order]
    # Mid-ranks: rows with equal scores share the mean of their ranks (1-based).
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    mid = first + (counts + 1) / 2.0
    ranks = np.empty(y.size)
    ranks[order] = np.repeat(mid, counts)
    rank_sum = float(ranks[y].sum())
    return (rank_sum - wins * (wins + 1) / 2.0) / (wins * losses)


def _ece(y: npt.NDArray[np.bool_], p: npt.NDArray[np.float64], bins: int) -> float:
    if y.size == 0:
        return 0.0
    index = _bin_index(p, bins)
    predicted = np.bincount(index, weights=p, minlength=bins)
    observed = np.bincount(index, weights=y.astype(np.float64), minlength=bins)
    return float(np.abs(predicted - observed).sum() / y.size)


def _bin_index(p: npt.NDArray[np.float64], bins: int) -> npt.NDArray[np.int64]:
    """Equal-width bin of each probability; p = 1 falls in the last bin."""
    return np.minimum((p * bins).astype(np.int64), bins - 1)
