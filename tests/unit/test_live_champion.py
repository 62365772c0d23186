"""The champion follower: load on first use, re-check on a later slot of the market clock once the
wall interval (an injected monotonic clock) has passed, hot-swap, refuse another feature version;
and the top feature contributions of a score."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_contracts.errors import ContractError
from data_contracts.ports import RegisteredModel, Scores
from data_contracts.trading import FeatureContribution
from models.live import ChampionScorer, ModelSwap, top_contributions
from models.live.champion import DEFAULT_MIN_WALL_INTERVAL
from tests.factories import T0

FEATURE_VERSION = "candles-abc"
RECHECK = timedelta(minutes=5)
SLOT_START = T0  # 04:00 UTC: a whole multiple of 5 minutes since the epoch
WALL_INTERVAL = DEFAULT_MIN_WALL_INTERVAL.total_seconds()  # 1 s


@dataclass
class FakeWall:
    """A monotonic clock in seconds; each reading moves it on by ``step`` (60: live, a wall minute
    between slots; 0: a replay far faster than the wall interval)."""

    now: float = 1_000.0
    step: float = 0.0

    def __call__(self) -> float:
        reading = self.now
        self.now += self.step
        return reading


@dataclass
class FakeScorer:
    model_version: str
    feature_version: str = FEATURE_VERSION
    p_win: float = 0.7
    model: object | None = None

    def score(self, features: pl.DataFrame) -> Scores:
        return Scores(p_win=[self.p_win] * features.height, expected_return=[0.1] * features.height)


@dataclass
class FakeRegistry:
    """The registry's champion alias, switchable; counts alias look-ups and loads."""

    current: RegisteredModel | None = None
    lookups: int = 0
    loaded: list[str] = field(default_factory=list)
    wall: FakeWall | None = None  # when set, the wall time of every look-up is kept
    looked_up_at: list[float] = field(default_factory=list)

    def champion(self) -> RegisteredModel | None:
        self.lookups += 1
        if self.wall is not None:
            self.looked_up_at.append(self.wall.now)
        return self.current

    def load(self, model: RegisteredModel) -> FakeScorer:
        self.loaded.append(model.version)
        return FakeScorer(model.version, model.feature_version)

    def promote(self, version: str) -> RegisteredModel:
        raise NotImplementedError


def _model(version: str, feature_version: str = FEATURE_VERSION) -> RegisteredModel:
    return RegisteredModel("kitepilot", version, feature_version, promoted_at=T0)


def _champion(registry: FakeRegistry, wall: FakeWall | None = None) -> ChampionScorer:
    """A follower whose wall clock runs a minute a reading (live) unless ``wall`` is given; it
    looks up inline, so the tests of the look-up rule see each look-up as it happens (the
    background watcher follows the same rule: see the end of this file)."""
    return ChampionScorer(
        registry,
        feature_version=FEATURE_VERSION,
        recheck=RECHECK,
        monotonic=FakeWall(step=60.0) if wall is None else wall,
        background=False,
    )


def _slot(n: int) -> datetime:
    """A time inside the n-th slot after ``SLOT_START`` (a bar's close, 1 minute in)."""
    return SLOT_START + n * RECHECK + timedelta(minutes=1)


@pytest.mark.parametrize("recheck", [timedelta(0), -RECHECK])
def test_champion_scorer_non_positive_recheck_raises(recheck: timedelta) -> None:
    with pytest.raises(ContractError, match="recheck"):
        ChampionScorer(FakeRegistry(), feature_version=FEATURE_VERSION, recheck=recheck)


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("min_wall_interval", {"min_wall_interval": timedelta(seconds=-1)}),
        ("monotonic", {"monotonic": 12.0}),
    ],
)
def test_champion_scorer_bad_wall_settings_raise(field: str, overrides: dict[str, object]) -> None:
    with pytest.raises(ContractError) as raised:
        ChampionScorer(
            FakeRegistry(),
            feature_version=FEATURE_VERSION,
            recheck=RECHECK,
            **overrides,  # type: ignore[arg-type]  # deliberately wrong values
        )

    assert raised.value.field == field


def test_champion_scorer_first_call_loads_the_champion() -> None:
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry)

    scorer = champion.scorer(SLOT_START)

    assert scorer is not None
    assert scorer.model_version == "3"
    assert registry.loaded == ["3"]
    assert champion.registered == _model("3")
    assert champion.swaps == [ModelSwap(at=SLOT_START, from_version=None, to_version="3")]


def test_champion_scorer_does_not_recheck_within_the_same_slot() -> None:
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry)
    champion.scorer(SLOT_START)
    registry.current = _model("4")

    scorers = [champion.scorer(SLOT_START + RECHECK - timedelta(seconds=s)) for s in (240, 1)]

    assert registry.lookups == 1
    assert [s.model_version for s in scorers if s is not None] == ["3", "3"]


def test_champion_scorer_times_stepping_back_a_slot_do_not_recheck() -> None:
    # Groups of one worker interleave, so the bar times it sees go back and forth.
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry)
    later = SLOT_START + RECHECK

    for at in (SLOT_START, later, SLOT_START, later, SLOT_START + timedelta(seconds=1)):
        champion.scorer(at)

    assert registry.lookups == 2  # the first slot, then the later one; never back


def test_champion_scorer_swaps_to_a_new_alias_in_a_later_slot() -> None:
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry)
    champion.scorer(SLOT_START)
    registry.current = _model("4")
    later = SLOT_START + RECHECK

    swapped = champion.scorer(later)
    after = champion.scorer(later + timedelta(minutes=1))

    assert swapped is not None
    assert after is swapped
    assert swapped.model_version == "4"
    assert swapped.score(pl.DataFrame({"x": [1.0]})).p_win == [0.7]
    assert champion.swaps[-1] == ModelSwap(at=later, from_version="3", to_version="4")
    assert registry.loaded == ["3", "4"]


def test_champion_scorer_same_alias_in_a_later_slot_is_not_reloaded() -> None:
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry)
    first = champion.scorer(SLOT_START)

    again = champion.scorer(SLOT_START + 3 * RECHECK)

    assert again is first
    assert (registry.lookups, registry.loaded, len(champion.swaps)) == (2, ["3"], 1)


def test_champion_scorer_refuses_a_champion_of_another_feature_version() -> None:
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry)
    champion.scorer(SLOT_START)
    registry.current = _model("4", feature_version="candles-other")

    kept = champion.scorer(SLOT_START + RECHECK)

    assert kept is not None
    assert kept.model_version == "3"
    assert champion.registered == _model("3")
    assert registry.loaded == ["3"]
    assert len(champion.problems) == 1
    assert "candles-other" in champion.problems[0]


def test_champion_scorer_refuses_a_first_champion_of_another_feature_version() -> None:
    registry = FakeRegistry(_model("3", feature_version="candles-other"))
    champion = _champion(registry)

    assert champion.scorer(SLOT_START) is None
    assert champion.problems != []


def test_champion_scorer_without_a_champion_is_none_until_one_is_promoted() -> None:
    registry = FakeRegistry(None)
    champion = _champion(registry)

    before = champion.scorer(SLOT_START)
    registry.current = _model("1")
    after = champion.scorer(SLOT_START + RECHECK)

    assert before is None
    assert champion.registered is not None
    assert after is not None
    assert after.model_version == "1"
    assert champion.problems == []


# --- the wall interval (fast replays) -----------------------------------------------------------


def test_champion_scorer_within_the_wall_interval_does_not_look_up_across_many_slots() -> None:
    wall = FakeWall()
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry, wall)
    champion.scorer(_slot(0))
    registry.current = _model("4")

    scorers = []
    for n in range(1, 101):  # a 100-slot replay within 0.99 s of wall time
        wall.now += 0.0099
        scorers.append(champion.scorer(_slot(n)))

    assert registry.lookups == 1
    assert {s.model_version for s in scorers if s is not None} == {"3"}
    assert len(champion.swaps) == 1


@pytest.mark.parametrize(("elapsed", "lookups"), [(0.999, 1), (1.0, 2), (30.0, 2)])
def test_champion_scorer_looks_up_on_a_later_slot_once_the_wall_interval_has_passed(
    elapsed: float, lookups: int
) -> None:
    wall = FakeWall()
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry, wall)
    champion.scorer(_slot(0))
    champion.scorer(_slot(1))  # too soon: not looked up, and slot 1 is not spent

    wall.now += elapsed
    champion.scorer(_slot(1))

    assert registry.lookups == lookups


def test_champion_scorer_after_the_wall_interval_a_later_slot_looks_up_only_once() -> None:
    wall = FakeWall()
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry, wall)
    champion.scorer(_slot(0))
    wall.now += WALL_INTERVAL

    for n in (1, 2, 3):
        champion.scorer(_slot(n))

    assert registry.lookups == 2  # slot 0, then slot 1; slots 2 and 3 come within the interval


@pytest.mark.parametrize("back", [0, 1, 5])
def test_champion_scorer_slots_going_back_never_look_up_whatever_the_wall_time(back: int) -> None:
    wall = FakeWall()
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry, wall)
    champion.scorer(_slot(5))

    wall.now += 3_600.0
    champion.scorer(_slot(5 - back))

    assert registry.lookups == 1


def test_champion_scorer_picks_up_a_swap_once_the_wall_interval_has_passed() -> None:
    wall = FakeWall()
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry, wall)
    champion.scorer(_slot(0))
    registry.current = _model("4")  # promoted mid-replay
    held = [champion.scorer(_slot(n)) for n in (1, 2)]

    wall.now += WALL_INTERVAL
    swapped = champion.scorer(_slot(3))

    assert [s.model_version for s in held if s is not None] == ["3", "3"]
    assert swapped is not None
    assert swapped.model_version == "4"
    assert champion.swaps[-1] == ModelSwap(at=_slot(3), from_version="3", to_version="4")
    assert registry.loaded == ["3", "4"]


def test_champion_scorer_rate_limited_refuses_a_champion_of_another_feature_version() -> None:
    wall = FakeWall()
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry, wall)
    champion.scorer(_slot(0))
    registry.current = _model("4", feature_version="candles-other")

    wall.now += WALL_INTERVAL
    kept = [champion.scorer(_slot(n)) for n in (1, 2)]
    wall.now += WALL_INTERVAL
    kept.append(champion.scorer(_slot(3)))

    assert [s.model_version for s in kept if s is not None] == ["3", "3", "3"]
    assert (registry.lookups, registry.loaded) == (3, ["3"])
    assert len(champion.problems) == 1  # the same refusal is kept once
    assert "candles-other" in champion.problems[0]


def test_champion_scorer_zero_wall_interval_looks_up_on_every_later_slot() -> None:
    registry = FakeRegistry(_model("3"))
    champion = ChampionScorer(
        registry,
        feature_version=FEATURE_VERSION,
        recheck=RECHECK,
        min_wall_interval=timedelta(0),
        monotonic=FakeWall(),
        background=False,
    )

    for n in range(5):
        champion.scorer(_slot(n))

    assert registry.lookups == 5


@given(
    calls=st.lists(
        st.tuples(st.integers(-3, 6), st.floats(0.0, 0.7, allow_nan=False)),
        min_size=1,
        max_size=60,
    )
)
def test_champion_scorer_look_ups_are_a_wall_interval_apart_at_later_slots(
    calls: list[tuple[int, float]],
) -> None:
    wall = FakeWall()
    registry = FakeRegistry(_model("3"), wall=wall)
    champion = _champion(registry, wall)
    slot, slots_looked_up = 0, []

    for step, elapsed in calls:
        slot += step
        wall.now += elapsed
        before = registry.lookups
        champion.scorer(_slot(slot))
        if registry.lookups > before:
            slots_looked_up.append(slot)

    gaps = [b - a for a, b in pairwise(registry.looked_up_at)]
    assert slots_looked_up[0] == calls[0][0]  # the first call always looks up
    assert all(gap >= WALL_INTERVAL for gap in gaps)
    assert slots_looked_up == sorted(set(slots_looked_up))  # strictly later slots only


class YieldingWall(FakeWall):
    """A wall clock that lets other threads run while it is read (widens any race)."""

    def __call__(self) -> float:
        time.sleep(0)
        return super().__call__()


def test_champion_scorer_threads_in_a_later_slot_look_up_once() -> None:
    registry = FakeRegistry(_model("3"))
    champion = _champion(registry, YieldingWall(step=60.0))
    champion.scorer(_slot(0))
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        for _ in range(200):
            champion.scorer(_slot(1))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert registry.lookups == 2


def test_champion_scorer_naive_clock_raises() -> None:
    champion = _champion(FakeRegistry(_model("3")))

    with pytest.raises(ContractError):
        champion.scorer(SLOT_START.replace(tzinfo=None))


# --- in the background (the streaming worker's default) ---------------------------------------


@dataclass
class ThreadedRegistry(FakeRegistry):
    """A registry that notes which thread looks up and loads; a load may wait for ``released``,
    and a look-up raises while ``failing`` is set."""

    threads: list[str] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    failing: bool = False

    def champion(self) -> RegisteredModel | None:
        self.threads.append(threading.current_thread().name)
        if self.failing:
            raise OSError("registry unreachable")
        return super().champion()

    def load(self, model: RegisteredModel) -> FakeScorer:
        self.threads.append(threading.current_thread().name)
        if self.loaded:  # the first load (at start-up) never waits
            self.released.wait(timeout=10)
        return super().load(model)


def _watched(registry: FakeRegistry) -> ChampionScorer:
    return ChampionScorer(
        registry, feature_version=FEATURE_VERSION, recheck=RECHECK, monotonic=FakeWall(step=60.0)
    )


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_champion_in_background_loads_a_new_champion_off_the_callers_thread() -> None:
    registry = ThreadedRegistry(_model("3"))
    registry.released.set()
    champion = _watched(registry)
    champion.scorer(_slot(0))  # the first champion is loaded inline
    registry.current = _model("4")

    asked = champion.scorer(_slot(1))  # a later slot asks the watcher, and goes on with v3
    _wait_for(lambda: registry.loaded == ["3", "4"])
    same_slot = champion.scorer(_slot(1))
    swapped = champion.scorer(_slot(2))

    assert [s.model_version for s in (asked, same_slot, swapped) if s is not None] == [
        "3",
        "3",
        "4",
    ]
    assert champion.swaps[-1] == ModelSwap(at=_slot(2), from_version="3", to_version="4")
    caller = threading.current_thread().name
    assert registry.threads[:2] == [caller, caller]  # start-up: inline
    assert registry.threads[2:] == ["champion-watcher", "champion-watcher"]


def test_champion_in_background_a_slow_load_never_holds_the_caller() -> None:
    registry = ThreadedRegistry(_model("3"))
    champion = _watched(registry)
    champion.scorer(_slot(0))
    registry.current = _model("4")

    started = time.monotonic()
    held = [champion.scorer(_slot(n)) for n in range(1, 6)]  # the watcher's load is stuck
    spent = time.monotonic() - started
    registry.released.set()
    _wait_for(lambda: registry.loaded == ["3", "4"])
    swapped = champion.scorer(_slot(6))

    assert spent < 1.0
    assert {s.model_version for s in held if s is not None} == {"3"}
    assert swapped is not None
    assert swapped.model_version == "4"


def test_champion_in_background_a_failed_look_up_keeps_the_model_and_says_why() -> None:
    registry = ThreadedRegistry(_model("3"))
    champion = _watched(registry)
    champion.scorer(_slot(0))
    registry.failing = True

    kept = champion.scorer(_slot(1))
    _wait_for(lambda: bool(champion.problems))
    later = champion.scorer(_slot(2))

    assert [s.model_version for s in (kept, later) if s is not None] == ["3", "3"]
    assert champion.problems == ["champion look-up failed: registry unreachable"]


def test_champion_in_background_refuses_another_feature_version() -> None:
    registry = ThreadedRegistry(_model("3"))
    registry.released.set()
    champion = _watched(registry)
    champion.scorer(_slot(0))
    registry.current = _model("4", feature_version="candles-other")

    champion.scorer(_slot(1))
    _wait_for(lambda: bool(champion.problems))
    kept = champion.scorer(_slot(2))

    assert kept is not None
    assert kept.model_version == "3"
    assert registry.loaded == ["3"]
    assert "candles-other" in champion.problems[0]


# --- top_contributions ------------------------------------------------------------------------

COLUMNS = ("rsi_14", "macd_hist_rel", "atr_14_rel", "roc_20")


@dataclass
class FakeExplainer:
    shap: dict[str, float]
    seen: list[int] = field(default_factory=list)

    def contributions(self, features: pl.DataFrame) -> pl.DataFrame:
        self.seen.append(features.height)
        return pl.DataFrame({c: [self.shap[c]] * features.height for c in COLUMNS} | {"bias": 0.1})


def _features(rows: int = 1) -> pl.DataFrame:
    """Row r has value ``n + 1 + 10 r`` in the n-th column."""
    return pl.DataFrame({c: [n + 1.0 + 10 * r for r in range(rows)] for n, c in enumerate(COLUMNS)})


def test_top_contributions_ranks_by_absolute_shap_value() -> None:
    explainer = FakeExplainer(
        {"rsi_14": 0.05, "macd_hist_rel": -0.4, "atr_14_rel": 0.2, "roc_20": 0.0}
    )
    scorer = FakeScorer("3", model=explainer)

    top = top_contributions(scorer, _features(3), COLUMNS, count=2)

    assert top == (
        FeatureContribution("macd_hist_rel", 2.0, -0.4),
        FeatureContribution("atr_14_rel", 3.0, 0.2),
    )
    assert explainer.seen == [1]  # only the first row is explained


def test_top_contributions_leaves_out_features_that_did_not_contribute() -> None:
    explainer = FakeExplainer(
        {"rsi_14": 0.0, "macd_hist_rel": 0.3, "atr_14_rel": 0.0, "roc_20": 0.0}
    )

    top = top_contributions(FakeScorer("3", model=explainer), _features(), COLUMNS, count=3)

    assert [c.feature for c in top] == ["macd_hist_rel"]


@pytest.mark.parametrize("model", [None, object()])
def test_top_contributions_of_a_model_that_cannot_explain_is_empty(model: object | None) -> None:
    assert top_contributions(FakeScorer("3", model=model), _features(), COLUMNS) == ()
