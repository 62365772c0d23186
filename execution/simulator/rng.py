"""Random streams keyed by what they are for: ``(seed, purpose, trading day, instrument)``.

Every random draw in the simulator comes from a generator built here, never from a shared
stateful one. That is what makes a single day computable on its own and byte-identical however
the days are visited, and what keeps one instrument's series unchanged when another is added to
the universe.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum

import numpy as np
import numpy.typing as npt

__all__ = ["Purpose", "keyed_normals", "stream"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class Purpose(IntEnum):
    """What a stream is used for (part of its key; never renumber)."""

    REGIME = 1
    DAILY = 2
    INTRADAY = 3
    OPTIONS = 4
    TICKS = 5
    CONTRACT = 6


def stream(seed: int, purpose: Purpose, day: date, *keys: int) -> np.random.Generator:
    """The generator for ``purpose`` on ``day`` (plus e.g. an exchange token), from ``seed``."""
    return np.random.default_rng([seed, int(purpose), day.toordinal(), *keys])


def keyed_normals(seed: int, purpose: Purpose, keys: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """One standard normal per key (e.g. per option token), the same whenever that key is asked
    for, computed in bulk: a SplitMix64 hash of ``(seed, purpose, key)`` gives two uniforms, and
    Box-Muller turns them into a normal. For persistent per-contract traits that must not depend
    on which other contracts exist on a day."""
    base = np.uint64(((seed * 1_000_003 + int(purpose)) * _GOLDEN) & _MASK)
    state = np.asarray(keys, dtype=np.uint64) * np.uint64(_GOLDEN) + base
    first, state = _splitmix(state)
    second, _ = _splitmix(state)
    u1 = ((first >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53  # (0, 1)
    u2 = (second >> np.uint64(11)).astype(np.float64) / 2.0**53
    normals: npt.NDArray[np.float64] = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return normals


def _splitmix(
    state: npt.NDArray[np.uint64],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """One SplitMix64 step (wrapping uint64 arithmetic): (output, next state)."""
    state = state + np.uint64(_GOLDEN)
    z = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31)), state
