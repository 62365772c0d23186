"""What every fuzz target shares: run a property over many hypothesis examples and count how
each input ended.

A *check* takes one generated input and returns the outcome as a short label — ``"tick"``,
``"dead letter: nan_price"``, ``"ContractError: Instrument.lot_size"`` — or a count of labels when
the input holds many items (a frame of packets), or raises
``AssertionError`` when an invariant broke. Any other exception is a crash: the input reached
code that did not expect it. Pytest runs the checks with ``@given`` (a crash fails the test and
hypothesis shrinks it); the runner runs them with :func:`explore`, which keeps going after a
crash so the report counts every outcome, crashes included, with a few examples of each.
"""

from __future__ import annotations

import reprlib
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

__all__ = ["Crash", "Exploration", "error_type", "explore", "label_error", "shown"]

_SHOW = reprlib.Repr()
_SHOW.maxstring = 80
_SHOW.maxother = 400
_SHOW.maxlist = 6
_SHOW.maxdict = 6
# Examples of each crash kept in a report.
_KEEP = 3


def shown(value: object) -> str:
    """A short, printable rendering of an input (for reports)."""
    try:
        return _SHOW.repr(value)
    except Exception:  # a value whose repr fails: its type is still worth showing
        return f"<unprintable {type(value).__name__}>"


def error_type(error: BaseException) -> str:
    """The exception's type, module-qualified unless built in (``_csv.Error``)."""
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")


def label_error(error: BaseException) -> str:
    """``"ContractError: Owner.field"`` for a contract error, else the exception type."""
    owner = getattr(error, "owner", None)
    name = getattr(error, "field", None)
    if owner and name:
        return f"{type(error).__name__}: {owner}.{name}"
    return type(error).__name__


@dataclass(frozen=True, slots=True)
class Crash:
    """An input that raised what the target's contract does not allow."""

    error: str
    example: str
    where: str  # the innermost frame: file:line function

    def as_dict(self) -> dict[str, str]:
        return {"error": self.error, "example": self.example, "where": self.where}


@dataclass(slots=True)
class Exploration:
    """The outcomes of one target over ``examples`` inputs."""

    target: str
    examples: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: list[Crash] = field(default_factory=list)
    violations: list[Crash] = field(default_factory=list)
    known_bugs: list[str] = field(default_factory=list)

    @property
    def crashed(self) -> int:
        return sum(n for label, n in self.outcomes.items() if label.startswith("CRASH "))

    @property
    def passed(self) -> bool:
        return not self.crashes and not self.violations

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "examples": self.examples,
            "passed": self.passed,
            "outcomes": dict(self.outcomes.most_common()),
            "crashes": [c.as_dict() for c in self.crashes],
            "violations": [v.as_dict() for v in self.violations],
            "known_bugs": list(self.known_bugs),
        }


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{'/'.join(last.filename.split('/')[-2:])}:{last.lineno} {last.name}"


def explore(
    target: str,
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], str | Mapping[str, int]],
    *,
    examples: int,
    seeds: Iterable[Any] = (),
    known_bugs: Iterable[str] = (),
) -> Exploration:
    """Run ``check`` on ``seeds`` and on ``examples`` generated inputs; count every outcome.

    Unlike a ``@given`` test this never stops at the first crash: a crash is counted (label
    ``CRASH <type>``) with the input, and the run goes on."""
    found = Exploration(target, known_bugs=list(known_bugs))

    def one(value: Any) -> None:
        found.examples += 1
        try:
            outcome = check(value)
        except AssertionError as violation:
            found.outcomes["VIOLATION"] += 1
            if len(found.violations) < _KEEP:
                found.violations.append(
                    Crash(str(violation)[:300], shown(value), _where(violation))
                )
            return
        except Exception as error:  # the point: count whatever the target let through
            kind = error_type(error)
            found.outcomes[f"CRASH {kind}"] += 1
            if sum(c.error.startswith(kind) for c in found.crashes) < _KEEP:
                text = f"{kind}: {str(error)[:200]}"
                found.crashes.append(Crash(text, shown(value), _where(error)))
            return
        if isinstance(outcome, str):
            found.outcomes[outcome] += 1
            if (
                outcome.startswith("CRASH ")
                and sum(c.error == outcome for c in found.crashes) < _KEEP
            ):  # a crash the check saw happen elsewhere (another thread, a server)
                found.crashes.append(Crash(outcome, shown(value), "reported by the check"))
        else:  # one input, many items (a frame of packets, a stream of ticks)
            found.outcomes.update(outcome)

    for seed in seeds:
        one(seed)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(value: Any) -> None:
        one(value)

    run()
    return found
