"""Keeping the worker's long-lived startup objects out of the garbage collector's full passes.

A worker process holds ~0.4-0.7 M GC-tracked objects before its first bar (the imports of
Bytewax, MLflow, XGBoost, polars, numba; the live context; the champion), all of them alive for
the whole run. Python's full (generation 2) collection walks every one of them — 250-400 ms on
this VM, measured — and the flow's own allocations trigger one every few tens of thousands of
ticks: a pause the flow's thread (and so tick→proposal latency) waits for, finding no garbage in
that startup heap. ``gc.freeze()`` moves the objects tracked at that moment to a permanent
generation that collections skip; reference counting still frees them as usual, only a reference
cycle among them would no longer be collected (they live for the run anyway).

:func:`frozen_startup_heap` wraps a run (``streaming.run.run_flow``): it freezes the heap at the
start and unfreezes it at the end, so a process that runs flows among other work (the tests) gets
its collector back as it was. Inside it, :func:`freeze_startup_objects` freezes again once the
worker has loaded its context, champion and feature kernel (``WorkerRuntime``); outside a run it
does nothing.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["freeze_startup_objects", "frozen_startup_heap"]

_lock = threading.Lock()
_runs = 0  # frozen_startup_heap blocks open in this process


@contextmanager
def frozen_startup_heap() -> Iterator[None]:
    global _runs
    with _lock:
        _runs += 1
        gc.freeze()
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.unfreeze()


def freeze_startup_objects() -> None:
    """Freeze what is tracked now (the worker's startup objects), inside a run only."""
    with _lock:
        if _runs:
            gc.freeze()
