"""``python -m tests.reliability`` (``make chaos``): every reliability scenario at full size.

Writes ``var/reliability/results.json`` (the figures docs/RELIABILITY.md records, with the date,
commit and machine) and ``var/reliability/summary.html`` (tables and plots); each run's folder
(stores, exchange database, audit log, process logs) stays under ``var/reliability/runs/``.

``--only crash,faults,killswitch`` picks scenarios (part B's: ``fuzz``, ``dirty``, ``security`` —
every module ``tests/reliability/<name>*.py`` with a ``run`` function); ``--runs N`` repeats each
picked scenario N times with consecutive seeds; ``--kills`` sets the crash scenario's kill count;
``--small`` plays only the first half hour (a quick look, not the recorded figures).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import os
import pkgutil
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tests.reliability import crash, faults, killswitch
from tests.reliability.harness import REPO_ROOT, reliability_world
from tests.reliability.report import write_summary

OURS: Final = ("crash", "faults", "killswitch")
PART_B: Final = ("fuzz", "dirty", "security")
_SMALL_UNTIL: Final = dt_time(9, 50)
console = Console()


def _machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - fixed git arguments
            ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain")),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _ours(name: str, args: argparse.Namespace, seed: int, out: Path) -> dict[str, Any]:
    world = reliability_world(args.out)
    small: dict[str, Any] = {"until": _SMALL_UNTIL} if args.small else {}
    config = tuple(args.config)
    if name == "crash":
        kills = min(args.kills, 3) if args.small else args.kills
        crash_plan = crash.CrashPlan(kills=kills, seed=seed, config=config, **small)
        return crash.run(world, out, crash_plan, baseline=not args.small)
    if name == "faults":
        return faults.run(world, out, faults.FaultsPlan(seed=seed, config=config, **small))
    default = killswitch.KillPlan()
    fire_at = (dt_time(9, 35),) if args.small else default.fire_at
    plan = killswitch.KillPlan(
        fire_at=fire_at, via=default.via[: len(fire_at)], config=default.config + config
    )
    return killswitch.run(world, out, plan)


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected SECTION__KEY=value, got {text!r}")
    return key.removeprefix("KITEPILOT_"), value


def _part_b(name: str, out: Path) -> dict[str, Any]:
    """Every ``tests/reliability/<name>*.py`` module with a ``run`` function (part B's)."""
    package = Path(__file__).parent
    found: dict[str, Any] = {}
    for module in sorted(m.name for m in pkgutil.iter_modules([str(package)])):
        if not module.startswith(name):
            continue
        loaded = importlib.import_module(f"tests.reliability.{module}")
        runner: Callable[..., dict[str, Any]] | None = getattr(loaded, "run", None)
        if runner is None:
            continue
        accepts_folder = "folder" in inspect.signature(runner).parameters
        found[module] = runner(folder=out / module) if accepts_folder else runner()
    if not found:
        return {"skipped": f"no tests/reliability/{name}*.py module with a run() yet"}
    # The part's goal is every module's: a fuzzer that crashed fails `make chaos` too.
    found["goal_met"] = all(r.get("goal_met", True) for r in found.values())
    return found


def _previous(path: Path) -> dict[str, Any]:
    if path.is_file():
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        loaded.setdefault("results", {})
        return loaded
    return {"results": {}}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__)
    parser.add_argument("--only", default=",".join(OURS + PART_B), help="comma-separated")
    parser.add_argument("--runs", type=int, default=1, help="runs of each scenario")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--kills", type=int, default=20, help="kill -9s in the crash run")
    parser.add_argument("--small", action="store_true", help="the first half hour only")
    parser.add_argument(
        "--config",
        type=_key_value,
        action="append",
        default=[],
        help="extra config key for every run, e.g. EXECUTION__RECONCILE_SECONDS=900",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "var" / "reliability")
    args = parser.parse_args(argv)
    args.names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(args.names) - set(OURS + PART_B))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(OURS + PART_B)}")
    return args


def _table(results: dict[str, list[dict[str, Any]]]) -> Table:
    table = Table(title="Reliability (goal met?)")
    for column in ("scenario", "run", "goal met", "wall s", "what"):
        table.add_column(column)
    for name, runs in results.items():
        for n, result in enumerate(runs, start=1):
            met = result.get("goal_met")
            shown = "[green]yes[/]" if met else "[red]no[/]" if met is False else "-"
            counts = result.get("integrity") or {}
            what = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or (
                "store = exchange" if counts else str(result.get("skipped", ""))
            )
            table.add_row(name, str(n), shown, str(result.get("wall_seconds", "")), str(what))
    return table


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=args.out / "harness.log",
        level=logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    machine = _machine()
    results: dict[str, list[dict[str, Any]]] = {}
    document = _previous(args.out / "results.json")  # other scenarios' latest runs are kept
    document.update({"machine": machine, "small": args.small})
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        for name in args.names:
            for run in range(args.runs):
                seed = args.seed + run
                task = progress.add_task(f"{name} (run {run + 1}/{args.runs}, seed {seed})")
                began = time.monotonic()
                out = args.out / "runs" / f"{name}-{seed}"
                shutil.rmtree(out, ignore_errors=True)  # a run never reuses an earlier store
                try:
                    result = _ours(name, args, seed, out) if name in OURS else _part_b(name, out)
                except Exception:  # one scenario's failure is its result; the others still run
                    result = {"goal_met": False, "error": traceback.format_exc()}
                result.setdefault("wall_seconds", round(time.monotonic() - began, 1))
                result["machine"] = machine
                results.setdefault(name, []).append(result)
                document["results"][name] = results[name]
                progress.update(task, description=f"{name} run {run + 1}: done", completed=1)
                progress.stop_task(task)
                (args.out / "results.json").write_text(
                    json.dumps(document, indent=2, default=str), encoding="utf-8"
                )
    summary = write_summary(args.out / "summary.html", document)
    console.print(_table(results))
    console.print(f"results: {args.out / 'results.json'} · summary: {summary}", soft_wrap=True)
    return 0 if all(r.get("goal_met", True) for rs in results.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
