"""The champion follower: load on first use, re-check per slot of the injected clock, hot-swap,
refuse another feature version; and the top feature contributions of a score."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl
import pytest

from data_contracts.errors import ContractError
from data_contracts.ports import RegisteredModel, Scores
from data_contracts.trading import FeatureContribution
from models.live import ChampionScorer, ModelSwap, top_contributions
from tests.factories import T0

FEATURE_VERSION = "candles-abc"
RECHECK = timedelta(minutes=5)
SLOT_START = T0  # 04:00 UTC: a whole multiple of 5 minutes since the epoch


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

    def champion(self) -> RegisteredModel | None:
        self.lookups += 1
        return self.current

    def load(self, model: RegisteredModel) -> FakeScorer:
        self.loaded.append(model.version)
        return FakeScorer(model.version, model.feature_version)

    def promote(self, version: str) -> RegisteredModel:
        raise NotImplementedError


def _model(version: str, feature_version: str = FEATURE_VERSION) -> RegisteredModel:
    return RegisteredModel("kitepilot", version, feature_version, promoted_at=T0)


def _champion(registry: FakeRegistry) -> ChampionScorer:
    return ChampionScorer(registry, feature_version=FEATURE_VERSION, recheck=RECHECK)


@pytest.mark.parametrize("recheck", [timedelta(0), -RECHECK])
def test_champion_scorer_non_positive_recheck_raises(recheck: timedelta) -> None:
    with pytest.raises(ContractError, match="recheck"):
        ChampionScorer(FakeRegistry(), feature_version=FEATURE_VERSION, recheck=recheck)


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


def test_champion_scorer_naive_clock_raises() -> None:
    champion = _champion(FakeRegistry(_model("3")))

    with pytest.raises(ContractError):
        champion.scorer(SLOT_START.replace(tzinfo=None))


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
