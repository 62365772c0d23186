"""Running the dataflow: in this process, or as ``processes`` cooperating processes (Bytewax's
cluster mode, keyed by group so each process owns a share of the instruments), with recovery
snapshots under ``recovery_dir`` (``var/recovery`` by default).

After a crash, a restart with the same recovery directory resumes every group's state and every
input partition from the last snapshot; the store's idempotent writes absorb what is replayed
between that snapshot and the crash, so no proposal is written twice or lost.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bytewax.dataflow import Dataflow
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import cluster_main, run_main

__all__ = ["is_interruption", "recovery_config", "run_flow"]

FlowFactory = Callable[[], Dataflow]


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
            run_main(build(), epoch_interval=epoch_interval, recovery_config=recovery)
        except BytewaxRuntimeError as error:
            # Bytewax turns Ctrl-C into this error (directly, or caused by the KeyboardInterrupt
            # Python code was in); to the caller it is an interruption.
            if is_interruption(error):
                raise KeyboardInterrupt from None
            raise
        return
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
    if failed:
        raise RuntimeError("; ".join(failed))


def _cluster_process(
    build: FlowFactory,
    addresses: list[str],
    process_id: int,
    epoch_interval: timedelta,
    recovery_dir: Path | None,
) -> None:
    recovery = None if recovery_dir is None else RecoveryConfig(str(recovery_dir))
    cluster_main(
        build(),
        addresses,
        process_id,
        epoch_interval=epoch_interval,
        recovery_config=recovery,
    )


def is_interruption(error: BaseException) -> bool:
    """True when ``error`` is Bytewax reporting Ctrl-C (its own message, or a KeyboardInterrupt
    somewhere in the chain of causes), not a failure."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt) or "signal received" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
