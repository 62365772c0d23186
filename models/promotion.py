"""The promotion gate: may a newly trained model (the challenger) take the ``champion`` alias?

A pure function of the two models' recorded out-of-sample metrics, the configured criteria and
whether the data the challenger was trained on passed its checks. The Dagster check
``beats_champion`` calls it; so does ``kitepilot train``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from data_contracts.errors import ContractError
from data_contracts.validation import finite, probability

__all__ = ["PRIMARY_METRICS", "PromotionCriteria", "PromotionDecision", "decide_promotion"]

# Out-of-sample metrics a challenger may be ranked by; all are "higher is better".
PRIMARY_METRICS: Final = ("net_pnl", "sharpe", "auc")
_OWNER: Final = "PromotionCriteria"


@dataclass(frozen=True, slots=True)
class PromotionCriteria:
    """The config's ``promotion`` section."""

    primary_metric: str = "net_pnl"
    min_improvement: float = 0.0
    min_auc: float = 0.52
    max_calibration_error: float = 0.05
    min_net_pnl: float = 0.0

    def __post_init__(self) -> None:
        if self.primary_metric not in PRIMARY_METRICS:
            rule = f"must be one of {{{', '.join(PRIMARY_METRICS)}}}"
            raise ContractError(_OWNER, "primary_metric", self.primary_metric, rule)
        finite(_OWNER, "min_improvement", self.min_improvement)
        if self.min_improvement < 0:
            raise ContractError(_OWNER, "min_improvement", self.min_improvement, "must be >= 0")
        probability(_OWNER, "min_auc", self.min_auc)
        probability(_OWNER, "max_calibration_error", self.max_calibration_error)
        finite(_OWNER, "min_net_pnl", self.min_net_pnl)


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    """Whether to promote, and every reason that decided it (for the check's metadata)."""

    promote: bool
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        verdict = "promote to champion" if self.promote else "keep as challenger"
        return f"{verdict}: " + "; ".join(self.reasons)


def decide_promotion(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    criteria: PromotionCriteria,
    *,
    data_checks_passed: bool,
) -> PromotionDecision:
    """Promote only if the data checks passed, the challenger clears every absolute floor, and
    (when there is a champion) it beats the champion's primary metric by ``min_improvement``.

    Metrics are the out-of-sample ones logged with each model: ``auc``, ``ece`` (calibration
    error), ``net_pnl`` (following the model in the walk-forward backtest, after charges) and
    ``sharpe``. A missing or non-finite metric fails its criterion rather than passing silently.
    """
    failures: list[str] = []
    passes: list[str] = []

    def require(ok: bool, text: str) -> None:
        (passes if ok else failures).append(text)

    require(
        data_checks_passed, "data checks passed" if data_checks_passed else "data checks failed"
    )
    auc, ece, pnl = (_metric(challenger, name) for name in ("auc", "ece", "net_pnl"))
    require(auc >= criteria.min_auc, f"auc {auc:.4f} vs floor {criteria.min_auc:.4f}")
    require(
        ece <= criteria.max_calibration_error,
        f"calibration error {ece:.4f} vs ceiling {criteria.max_calibration_error:.4f}",
    )
    require(pnl >= criteria.min_net_pnl, f"net P&L {pnl:.2f} vs floor {criteria.min_net_pnl:.2f}")
    name = criteria.primary_metric
    if champion is None:
        passes.append("no current champion")
    else:
        mine, theirs = _metric(challenger, name), _metric(champion, name)
        require(
            mine >= theirs + criteria.min_improvement and not math.isinf(theirs),
            f"{name} {mine:.4f} vs champion {theirs:.4f} (+{criteria.min_improvement:g} needed)",
        )
    if failures:
        return PromotionDecision(False, tuple(f"FAILED {f}" for f in failures) + tuple(passes))
    return PromotionDecision(True, tuple(passes))


def _metric(metrics: Mapping[str, float], name: str) -> float:
    value = metrics.get(name)
    if value is None or not math.isfinite(value):
        # Worst possible for "higher is better" metrics; ece is "lower is better".
        return math.inf if name == "ece" else -math.inf
    return float(value)
