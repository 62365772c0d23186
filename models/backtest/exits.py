"""The first bar of a window where a price series reaches a level, for many windows at once.

No loop over bars: a sparse table holds the minimum of every block of 2**k bars, and each window
is searched by binary lifting (``levels`` numpy passes over all windows, largest block first). A
window only ever reads bars inside itself, so a trade's exit depends on no bar after its exit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["MinTable"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class MinTable:
    """``blocks[k][i]`` = min(values[i : i + 2**k]) (clipped at the end of the array).

    Build once per series with enough levels for the longest window searched
    (``2**levels > longest``); memory is ``levels x len(values)`` float64.
    """

    def __init__(self, values: Floats, longest: int) -> None:
        levels = max(1, int(longest).bit_length())
        blocks = [values]
        for k in range(1, levels):
            half = 1 << (k - 1)
            previous = blocks[-1]
            current = previous.copy()
            np.minimum(previous[:-half], previous[half:], out=current[:-half])
            blocks.append(current)
        self._blocks = blocks

    def first_at_or_below(self, start: Ints, last: Ints, level: Floats) -> Ints:
        """For each window ``[start, last]``, the first index whose value is <= ``level``, or
        ``last + 1`` when there is none (an empty window, ``start > last``, gives ``start``).

        Greedy from the largest block down: a block that fits in the window and has no value at
        or below the level is skipped whole, so the position ends on the first hit.
        """
        position = start.copy()
        size = len(self._blocks[0])
        for k in range(len(self._blocks) - 1, -1, -1):
            width = 1 << k
            fits = position + (width - 1) <= last
            clear = self._blocks[k][np.minimum(position, size - 1)] > level
            position += np.where(fits & clear, width, 0)
        return position
