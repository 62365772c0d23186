"""What every fuzz target shares: run a property over many hypothesis examples and count how
each input ended.

A *check* takes one generated input and returns the outcome as a short label — ``"tick"``,
``"dead letter: nan_price"``, ``"ContractError: Instrument.lot_size"`` — or a count of labels when
the input holds many items (a frame of packets), or raises
``AssertionError`` when an invariant broke. Any other exception is a crash: the input reached
code that did not expect it. Pytest runs the checks with ``@given`` (a crash fails the test and
hypothesis shrinks it); the runner runs them with :func:`explore`, which keeps going after a
crash so the report counts every outcome, crashes included, with a few examples of each.

A :class:`Seed` is an input the runner always tries first, named after the finding it once
reproduced (``B1`` … in docs/RELIABILITY.md, "Fuzzing"): the report states what each of those
inputs ends as *now* (``regression_seeds``), so a fixed finding that comes back shows up as a
crash or a violation next to its name.

An :class:`OpenFinding` is a crash found and not fixed yet, pinned by a strict ``xfail`` test: the
runner still counts it as a crash (the goal is not met) and labels it with the finding's name;
``tolerating`` lets a ``@given`` test pass over exactly that crash — any other still fails it.
"""

from __future__ import annotations

import reprlib
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

__all__ = [
    "ANY_CHARACTER",
    "Crash",
    "Exploration",
    "OpenFinding",
    "Seed",
    "any_text",
    "error_type",
    "explore",
    "label_error",
    "shown",
    "tolerating",
]

_SHOW = reprlib.Repr()
_SHOW.maxstring = 80
_SHOW.maxother = 400
_SHOW.maxlist = 6
_SHOW.maxdict = 6
# Examples of each crash kept in a report.
_KEEP = 3

# Every code point a Python str can hold, lone surrogates included: JSON's "\ud800" escape, a
# browser's broken string and os.environ's surrogateescape (bytes that are not UTF-8) all make
# them. Hypothesis's default alphabet leaves them out, so they are drawn on their own as well.
ANY_CHARACTER: st.SearchStrategy[str] = st.characters(exclude_categories=()) | st.characters(
    categories=["Cs"]
)


def any_text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    """Strings of any code points: half of them drawn character by character from
    :data:`ANY_CHARACTER` (most of those hold a lone surrogate), half by ``st.text`` (which
    merges the alphabets and draws a surrogate in about 1 string of 250), so the code behind a
    text check is explored as well."""
    every = st.characters(exclude_categories=())
    return st.text(every, min_size=min_size, max_size=max_size) | st.lists(
        ANY_CHARACTER, min_size=min_size, max_size=max_size
    ).map("".join)


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


@dataclass(frozen=True, slots=True)
class Seed:
    """An input that reproduced a finding (``B1`` …) before its fix: always run first."""

    finding: str
    what: str  # the input in words (the value itself may be megabytes)
    value: Any


@dataclass(frozen=True, slots=True)
class OpenFinding:
    """A crash found and not fixed yet: ``error`` (as :func:`error_type` names it) raised with
    ``where`` (``"orchestration/settings.py _read_yaml"``: a file and function) on the stack,
    its message containing ``message``. A broken invariant is ``error="AssertionError"`` with
    the check's assertion message."""

    finding: str
    what: str
    error: str
    where: str
    message: str = ""

    def matches(self, error: BaseException) -> bool:
        if error_type(error) != self.error or self.message not in str(error):
            return False
        file, _, function = self.where.partition(" ")
        frames = traceback.extract_tb(error.__traceback__)
        return any(f.filename.endswith(file) and f.name == function for f in frames)

    def as_dict(self) -> dict[str, str]:
        return {"finding": self.finding, "what": self.what, "error": self.error, "at": self.where}


@contextmanager
def tolerating(findings: Iterable[OpenFinding]) -> Iterator[None]:
    """Pass over exactly the crashes of ``findings`` (each pinned by a strict xfail elsewhere)."""
    try:
        yield
    except Exception as error:
        if not any(f.matches(error) for f in findings):
            raise


@dataclass(slots=True)
class Exploration:
    """The outcomes of one target over ``examples`` inputs."""

    target: str
    examples: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: list[Crash] = field(default_factory=list)
    violations: list[Crash] = field(default_factory=list)
    # Per regression seed: {"finding", "input", "outcome"} — what the input ends as now.
    regression_seeds: list[dict[str, str]] = field(default_factory=list)
    # Crashes found and not fixed yet that this run hit: {"finding", "what", "error", "at", "hits"}.
    open_findings: list[dict[str, Any]] = field(default_factory=list)

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
            "regression_seeds": list(self.regression_seeds),
            "open_findings": list(self.open_findings),
        }


def _where(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{'/'.join(last.filename.split('/')[-2:])}:{last.lineno} {last.name}"


def _run_seeds(seeds: Iterable[Seed | Any], one: Callable[[Any], str]) -> list[dict[str, str]]:
    """Run every seed; what each :class:`Seed` ended as."""
    ended: list[dict[str, str]] = []
    for seed in seeds:
        if isinstance(seed, Seed):
            ended.append({"finding": seed.finding, "input": seed.what, "outcome": one(seed.value)})
        else:
            one(seed)
    return ended


def explore(
    target: str,
    strategy: st.SearchStrategy[Any],
    check: Callable[[Any], str | Mapping[str, int]],
    *,
    examples: int,
    seeds: Iterable[Seed | Any] = (),
    open_findings: Iterable[OpenFinding] = (),
) -> Exploration:
    """Run ``check`` on ``seeds`` and on ``examples`` generated inputs; count every outcome.

    Unlike a ``@given`` test this never stops at the first crash: a crash is counted (label
    ``CRASH <type>``) with the input, and the run goes on. A :class:`Seed` also records what it
    ended as under ``regression_seeds``; a crash of one of ``open_findings`` is labelled with the
    finding's name (``CRASH UnicodeDecodeError (open finding B13)``)."""
    found = Exploration(target)
    known = tuple(open_findings)
    hits: Counter[OpenFinding] = Counter()

    def named(label: str, error: BaseException) -> str:
        """``label``, with the name of the open finding ``error`` is (counted), if any."""
        finding = next((f for f in known if f.matches(error)), None)
        if finding is None:
            return label
        hits[finding] += 1
        return f"{label} (open finding {finding.finding})"

    def one(value: Any) -> str:
        found.examples += 1
        try:
            outcome = check(value)
        except AssertionError as violation:
            label = named("VIOLATION", violation)
            found.outcomes[label] += 1
            if len(found.violations) < _KEEP:
                found.violations.append(
                    Crash(str(violation)[:300], shown(value), _where(violation))
                )
            return f"{label}: {str(violation)[:200]}"
        except Exception as error:  # the point: count whatever the target let through
            kind = named(error_type(error), error)
            found.outcomes[f"CRASH {kind}"] += 1
            if sum(c.error.startswith(kind) for c in found.crashes) < _KEEP:
                text = f"{kind}: {str(error)[:200]}"
                found.crashes.append(Crash(text, shown(value), _where(error)))
            return f"CRASH {kind} at {_where(error)}"
        if isinstance(outcome, str):
            found.outcomes[outcome] += 1
            if (
                outcome.startswith("CRASH ")
                and sum(c.error == outcome for c in found.crashes) < _KEEP
            ):  # a crash the check saw happen elsewhere (another thread, a server)
                found.crashes.append(Crash(outcome, shown(value), "reported by the check"))
            return outcome
        # One input, many items (a frame of packets, a stream of ticks).
        found.outcomes.update(outcome)
        return ", ".join(f"{label}: {n}" for label, n in sorted(outcome.items()))

    found.regression_seeds = _run_seeds(seeds, one)

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
    found.open_findings = [f.as_dict() | {"hits": hits[f]} for f in known if hits[f]]
    return found
