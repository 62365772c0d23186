"""The champion model for the streaming worker: loaded from the registry, re-checked on a grid
of the injected clock, hot-swapped without a restart.

The alias is re-checked when the clock enters a new ``recheck`` slot (slots are whole multiples of
``recheck`` since the epoch, so every worker process re-checks at the same market times in a
replay). A new champion whose feature version is not the worker's is refused: the current model
stays, and the refusal is kept in :attr:`ChampionScorer.problems` (a model must never score
features it was not trained on).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import polars as pl

from data_contracts.errors import ContractError
from data_contracts.ports import ModelRegistry, RegisteredModel, Scorer
from data_contracts.timeutil import require_aware
from data_contracts.trading import FeatureContribution

__all__ = ["ChampionScorer", "ModelSwap", "top_contributions", "top_contributions_many"]

_OWNER: Final = "ChampionScorer"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class _Explainable(Protocol):
    def contributions(self, features: pl.DataFrame) -> pl.DataFrame: ...


@dataclass(frozen=True, slots=True)
class ModelSwap:
    """The worker started scoring with ``to_version`` at ``at`` (``from_version`` before)."""

    at: datetime
    from_version: str | None
    to_version: str


class ChampionScorer:
    """The registry's ``champion`` as a ``Scorer`` that follows the alias (thread-safe)."""

    def __init__(
        self, registry: ModelRegistry, *, feature_version: str, recheck: timedelta
    ) -> None:
        if recheck <= timedelta(0):
            raise ContractError(_OWNER, "recheck", recheck, "must be > 0")
        self._registry = registry
        self._feature_version = feature_version
        self._recheck = recheck
        self._lock = threading.Lock()
        self._slot: int | None = None
        self._current: Scorer | None = None
        self._registered: RegisteredModel | None = None
        self.swaps: list[ModelSwap] = []
        self.problems: list[str] = []

    @property
    def registered(self) -> RegisteredModel | None:
        """The registry entry of the model in use (None before the first champion)."""
        return self._registered

    def scorer(self, now: datetime) -> Scorer | None:
        """The model to score with at ``now`` (re-checking the alias when a new slot starts);
        None while the registry has no usable champion."""
        slot = (require_aware(_OWNER, "now", now) - _EPOCH) // self._recheck
        with self._lock:
            # Only a later slot re-checks: groups of one worker interleave, so market time seen
            # here steps back and forth by a bar or two; re-checking on every change of slot
            # would query the registry at nearly every bar.
            if self._slot is None or slot > self._slot:
                self._slot = slot
                self._check(now)
            return self._current

    def _check(self, now: datetime) -> None:
        champion = self._registry.champion()
        if champion is None or (
            self._registered is not None and champion.version == self._registered.version
        ):
            return
        if champion.feature_version != self._feature_version:
            problem = (
                f"champion v{champion.version} is trained on features {champion.feature_version!r}"
                f", the worker computes {self._feature_version!r}: not loaded"
            )
            if not self.problems or self.problems[-1] != problem:
                self.problems.append(problem)
            return
        loaded = self._registry.load(champion)
        previous = self._registered.version if self._registered is not None else None
        self._current, self._registered = loaded, champion
        self.swaps.append(ModelSwap(at=now, from_version=previous, to_version=champion.version))


def top_contributions(
    scorer: Scorer, features: pl.DataFrame, columns: tuple[str, ...], count: int = 3
) -> tuple[FeatureContribution, ...]:
    """The ``count`` features that pushed the (first) row's p_win most, by |SHAP value|, for the
    approval card; empty when the model cannot explain itself."""
    explained = top_contributions_many(scorer, features.head(1), columns, count)
    return explained[0] if explained else ()


def top_contributions_many(
    scorer: Scorer, features: pl.DataFrame, columns: tuple[str, ...], count: int = 3
) -> list[tuple[FeatureContribution, ...]]:
    """:func:`top_contributions` of every row, in one SHAP call."""
    model = getattr(scorer, "model", None)
    if model is None or not callable(getattr(model, "contributions", None)):
        return [() for _ in range(features.height)]
    explainable: _Explainable = model
    shap_rows = explainable.contributions(features).iter_rows(named=True)
    out = []
    for shap, values in zip(shap_rows, features.iter_rows(named=True), strict=True):
        ranked = sorted(columns, key=lambda c: (-abs(shap[c]), c))[:count]
        out.append(
            tuple(
                FeatureContribution(feature=c, value=float(values[c]), contribution=float(shap[c]))
                for c in ranked
                if shap[c] != 0.0
            )
        )
    return out
