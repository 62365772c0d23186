"""Running the dataflow: in this process, or as ``processes`` cooperating processes (Bytewax's
cluster mode, keyed by group so each process owns a share of the instruments), with recovery
snapshots under ``recovery_dir`` (``var/recovery`` by default).

After a crash, a restart with the same recovery directory resumes every group's state and every
input partition from the last snapshot; the store's idempotent writes absorb what is replayed
between that snapshot and the crash, so no proposal is written twice or lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Final

from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import cluster_main, run_main

from streaming.heap import frozen_startup_heap

__all__ = [
    "GIL_SWITCH_SECONDS",
    "is_interruption",
    "recovery_config",
    "run_flow",
    "short_gil_switch",
]

FlowFactory = Callable[[], Dataflow]
GIL_SWITCH_SECONDS: Final = 0.001  # the worker's GIL switch interval (see short_gil_switch)


def recovery_config(directory: Path, partitions: int) -> RecoveryConfig:
    """Bytewax recovery in ``directory``, creating its partitions on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    if not any(directory.glob("part-*.sqlite3")):
        init_db_dir(directory, partitions)
    return RecoveryConfig(str(directory))


def run_flow(
    build: FlowFactory,
    *,
    processes: int = 1,
    recovery_dir: Path | None = None,
    epoch_interval: timedelta = timedelta(seconds=5),
) -> None:
    """Run the flow ``build()`` makes until its inputs end (a live feed: until interrupted).

    ``processes > 1`` starts that many processes (``build`` must be picklable: a module-level
    function or a ``functools.partial`` of one); this process waits for them and raises if one
    failed.
    """
    recovery = None if recovery_dir is None else recovery_config(recovery_dir, max(processes, 1))
    if processes <= 1:
        try:
            with short_gil_switch(), frozen_startup_heap():
                run_main(build(), epoch_interval=epoch_interval, recovery_config=recovery)
        except BytewaxRuntimeError as error:
            # Bytewax turns Ctrl-C into this error (directly, or caused by the KeyboardInterrupt
            # Python code was in); to the caller it is an interruption.
            if is_interruption(error):
                raise KeyboardInterrupt from None
            raise
        return
    for attempt in range(1, _CLUSTER_ATTEMPTS + 1):
        failed = _run_cluster(build, processes, epoch_interval, recovery_dir)
        if not failed:
            return
        if attempt < _CLUSTER_ATTEMPTS:
            # Bytewax 0.21's cluster sometimes ends with a "Send thread panic" in both processes
            # (timely's network threads at shutdown; bytewax issue #318). Running again is safe:
            # every write the flow makes is idempotent, and a live run resumes from its snapshots.
            log.warning("stream cluster failed (%s); running it again", "; ".join(failed))
    raise RuntimeError("; ".join(failed))


def _run_cluster(
    build: FlowFactory, processes: int, epoch_interval: timedelta, recovery_dir: Path | None
) -> list[str]:
    """Run the processes of one cluster to the end; what failed (empty: all exited cleanly)."""
    addresses = [f"127.0.0.1:{_free_port()}" for _ in range(processes)]
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(
            target=_cluster_process,
            args=(build, addresses, n, epoch_interval, recovery_dir),
            name=f"kitepilot-stream-{n}",
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    failed = []
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            failed.append(f"{worker.name} exited with {worker.exitcode}")
    return failed


def _cluster_process(
    build: FlowFactory,
    addresses: list[str],
    process_id: int,
    epoch_interval: timedelta,
    recovery_dir: Path | None,
) -> None:
    recovery = None if recovery_dir is None else RecoveryConfig(str(recovery_dir))
    with short_gil_switch(), frozen_startup_heap():
        cluster_main(
            build(),
            addresses,
            process_id,
            epoch_interval=epoch_interval,
            recovery_config=recovery,
        )


@contextmanager
def short_gil_switch(interval: float = GIL_SWITCH_SECONDS) -> Iterator[None]:
    """Python's GIL switch interval at most ``interval`` while the flow runs (restored after).

    The keyed step shares the GIL with the store's writer thread and the champion's watcher
    (``streaming.sinks``, ``models.live.champion``); with Python's default 5 ms a batch's worth
    of the writer's Python work (SQL parameters, audit JSON) could hold a decision up to 5 ms
    whenever both want to run. 1 ms bounds that wait at a small cost in thread switches."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def is_interruption(error: BaseException) -> bool:
    """True when ``error`` is Bytewax reporting Ctrl-C (its own message, or a KeyboardInterrupt
    somewhere in the chain of causes), not a failure."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt) or "signal received" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_CLUSTER_ATTEMPTS: Final = 3
log = logging.getLogger(__name__)

# Below Linux's ephemeral range (32768-60999): an outgoing connection — or another server asking
# the OS for "any free port" — can take a port between our probe and Bytewax's bind only there.
_CLUSTER_PORTS: Final = range(20_000, 32_000)


def _free_port() -> int:
    """A port free now on 127.0.0.1, outside the ephemeral range (see _CLUSTER_PORTS)."""
    for port in random.sample(_CLUSTER_PORTS, 50):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # crowded: let the OS choose
        probe.bind(("127.0.0.1", 0))
        chosen: int = probe.getsockname()[1]
        return chosen
