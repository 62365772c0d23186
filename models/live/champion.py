"""The champion model for the streaming worker: loaded from the registry, re-checked as the
market clock moves on (rate-limited by wall time), hot-swapped without a restart.

The alias is re-checked when the market clock (the bars' ``ts_event``) enters a *later*
``recheck`` slot (slots are whole multiples of ``recheck`` since the epoch) **and** at least
``min_wall_interval`` of wall time (the injected ``monotonic`` clock, seconds) has passed since the
last look-up. Live, slots are a wall minute apart, so the wall condition never holds a look-up
back: once a slot, as before. A fast replay runs many market minutes a wall second, and a look-up
(a registry round trip, ~1.5 ms with MLflow's SQLite store) per market minute would be a large part
of its time; rate-limited, a 100x replay looks up at most once a wall second.

The trade-off, for replays only: look-ups no longer fall on the same market times in every worker
process (which slot comes first after the wall interval depends on the process's speed), and a
champion promoted during a replay is picked up within ``min_wall_interval`` of wall time — on the
first later slot after it — rather than at the next market slot. Bars before the swap keep the old
model's version; a swap never goes back. ``min_wall_interval=timedelta(0)`` restores one look-up
per later slot.

A new champion whose feature version is not the worker's is refused: the current model stays, and
the refusal is kept in :attr:`ChampionScorer.problems` (a model must never score features it was
not trained on).

Once a champion is in use, the look-ups and the load of a new one run on a watcher thread (the
default, ``background=True``): a slot that asks for a look-up is still scored by the current
model, and the new champion is swapped in at the first later slot after the watcher has loaded it.
So the worker's decisions never wait for the registry (a look-up is ~1.5 ms on a quiet machine
and was measured at 3-20 ms on a loaded one; a load takes ~0.1-0.2 s).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.ports import ModelRegistry, RegisteredModel, Scorer
from data_contracts.timeutil import require_aware
from data_contracts.trading import FeatureContribution

__all__ = [
    "DEFAULT_MIN_WALL_INTERVAL",
    "ChampionScorer",
    "MatrixScorer",
    "ModelSwap",
    "ranked_contributions",
    "top_contributions",
    "top_contributions_many",
]

_OWNER: Final = "ChampionScorer"
log = logging.getLogger(__name__)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_MIN_WALL_INTERVAL: Final = timedelta(seconds=1)


class _Explainable(Protocol):
    def contributions(self, features: pl.DataFrame) -> pl.DataFrame: ...


@runtime_checkable
class MatrixScorer(Protocol):
    """A scorer that also takes rows in matrix form (float32, one column per
    ``feature_columns`` entry, in that order) — ``models.registry.RegistryScorer`` does — so the
    streaming worker scores and explains a round of bars without building a frame. Any other
    ``Scorer`` gets a frame of the same values."""

    @property
    def model_version(self) -> str: ...

    @property
    def feature_version(self) -> str: ...

    @property
    def feature_columns(self) -> tuple[str, ...]: ...

    def score_matrix(
        self, matrix: npt.NDArray[np.float32], feature_version: str
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

    def contributions_matrix(
        self, matrix: npt.NDArray[np.float32], feature_version: str
    ) -> npt.NDArray[np.float64] | None: ...


@dataclass(frozen=True, slots=True)
class ModelSwap:
    """The worker started scoring with ``to_version`` at ``at`` (``from_version`` before)."""

    at: datetime
    from_version: str | None
    to_version: str


class ChampionScorer:
    """The registry's ``champion`` as a ``Scorer`` that follows the alias (thread-safe).

    ``recheck``: the market-time slot (> 0); ``min_wall_interval``: the least wall time between
    two look-ups (>= 0); ``monotonic``: the wall clock in seconds (``time.monotonic``; tests inject
    a fake).

    ``background`` (default): once a champion is in use, the look-ups (a registry round trip,
    milliseconds — more on a loaded machine) and the load of a new champion run on a
    watcher thread, never on the caller's (the streaming worker's decisions). A later slot asks
    the watcher to look up, under the same slot and wall-interval rule; a champion the watcher
    has loaded is swapped in at the first later slot after that (so a swap lands a little later
    than inline: by the look-up and the load). A failed background look-up is kept in
    :attr:`problems` and the current model stays. Before the first champion, and with
    ``background=False``, the look-up and the load happen inline, in the call.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        feature_version: str,
        recheck: timedelta,
        min_wall_interval: timedelta = DEFAULT_MIN_WALL_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        if recheck <= timedelta(0):
            raise ContractError(_OWNER, "recheck", recheck, "must be > 0")
        if min_wall_interval < timedelta(0):
            raise ContractError(_OWNER, "min_wall_interval", min_wall_interval, "must be >= 0")
        if not callable(monotonic):
            raise ContractError(_OWNER, "monotonic", monotonic, "must be callable")
        self._registry = registry
        self._feature_version = feature_version
        self._recheck = recheck
        self._min_wall = min_wall_interval.total_seconds()
        self._monotonic = monotonic
        self._background = background
        self._lock = threading.Lock()
        self._slot: int | None = None  # the slot of the last look-up
        self._looked_up_at = 0.0  # the monotonic clock at the last look-up
        self._current: Scorer | None = None
        self._registered: RegisteredModel | None = None
        self._ready: tuple[RegisteredModel, Scorer] | None = None  # loaded by the watcher
        self._wake = threading.Event()
        self._watcher: threading.Thread | None = None
        self.swaps: list[ModelSwap] = []
        self.problems: list[str] = []

    @property
    def registered(self) -> RegisteredModel | None:
        """The registry entry of the model in use (None before the first champion)."""
        return self._registered

    def scorer(self, now: datetime) -> Scorer | None:
        """The model to score with at ``now`` (looking the alias up when ``now`` is in a later slot
        than the last look-up and ``min_wall_interval`` has passed since it); None while the
        registry has no usable champion."""
        slot = (require_aware(_OWNER, "now", now) - _EPOCH) // self._recheck
        with self._lock:
            # Only a later slot re-checks: groups of one worker interleave, so market time seen
            # here steps back and forth by a bar or two; re-checking on every change of slot
            # would query the registry at nearly every bar. A later slot that comes too soon in
            # wall time (a fast replay) is not remembered: the first call in a later slot than
            # the last look-up's once the interval has passed looks up.
            if self._slot is None or slot > self._slot:
                in_background = self._background and self._current is not None
                if in_background:
                    self._swap_in_ready(now)
                wall = self._monotonic()
                if self._slot is None or wall - self._looked_up_at >= self._min_wall:
                    self._slot, self._looked_up_at = slot, wall
                    if in_background:
                        self._ask_watcher()
                    else:
                        self._check(now)
            return self._current

    def _check(self, now: datetime) -> None:
        """Look the alias up and load a new champion, inline (the lock is held)."""
        found = self._new_champion(self._registry.champion(), self._registered)
        if found is not None:
            self._swap(found, self._registry.load(found), now)

    def _new_champion(
        self, champion: RegisteredModel | None, known: RegisteredModel | None
    ) -> RegisteredModel | None:
        """``champion`` when it should be loaded: not the one ``known``, and of the worker's
        feature version (another version is refused and kept in :attr:`problems`)."""
        if champion is None or (known is not None and champion.version == known.version):
            return None
        if champion.feature_version != self._feature_version:
            self._problem(
                f"champion v{champion.version} is trained on features {champion.feature_version!r}"
                f", the worker computes {self._feature_version!r}: not loaded"
            )
            return None
        return champion

    def _problem(self, problem: str) -> None:
        if not self.problems or self.problems[-1] != problem:
            self.problems.append(problem)

    def _swap(self, champion: RegisteredModel, loaded: Scorer, now: datetime) -> None:
        previous = self._registered.version if self._registered is not None else None
        self._current, self._registered = loaded, champion
        self.swaps.append(ModelSwap(at=now, from_version=previous, to_version=champion.version))

    def _swap_in_ready(self, now: datetime) -> None:
        """The champion the watcher loaded, from ``now`` on (the lock is held)."""
        ready, self._ready = self._ready, None
        if ready is not None and (
            self._registered is None or ready[0].version != self._registered.version
        ):
            self._swap(ready[0], ready[1], now)

    def _ask_watcher(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._watch, name="champion-watcher", daemon=True
            )
            self._watcher.start()
        self._wake.set()

    def _watch(self) -> None:
        """The watcher thread: a look-up each time it is asked, a load when the alias moved."""
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                with self._lock:
                    known = self._ready[0] if self._ready is not None else self._registered
                champion = self._registry.champion()
                with self._lock:
                    found = self._new_champion(champion, known)
                if found is None:
                    continue
                loaded = self._registry.load(found)
                with self._lock:
                    self._ready = (found, loaded)
            except Exception as error:  # the current model stays; the next later slot retries
                log.warning("champion look-up failed: %s", error)
                with self._lock:
                    self._problem(f"champion look-up failed: {error}")


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
    return [
        ranked_contributions(columns, shap, values, count)
        for shap, values in zip(shap_rows, features.iter_rows(named=True), strict=True)
    ]


def ranked_contributions(
    columns: tuple[str, ...],
    shap: Mapping[str, float],
    values: Mapping[str, float],
    count: int,
) -> tuple[FeatureContribution, ...]:
    """One row's ``count`` largest contributions by |SHAP value| (ties by name), zeros left
    out: the ranking of :func:`top_contributions`."""
    ranked = sorted(columns, key=lambda c: (-abs(shap[c]), c))[:count]
    return tuple(
        FeatureContribution(feature=c, value=float(values[c]), contribution=float(shap[c]))
        for c in ranked
        if shap[c] != 0.0
    )
