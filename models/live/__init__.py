"""The streaming side's logic, shared with the batch side and free of Bytewax: candles from
ticks, the feature window, the champion model, the live strategies, the exit monitor and the
per-key state machine the streaming worker runs (``docs/streaming.md``)."""

from models.live.candles import ONE_MINUTE, CandleBuilder, bar_close
from models.live.champion import (
    ChampionScorer,
    ModelSwap,
    top_contributions,
    top_contributions_many,
)
from models.live.exits import exit_for
from models.live.history import History, LakeHistory, SourceHistory
from models.live.processor import (
    SHARD_LAYOUT,
    SHARDS,
    ClockMark,
    Closed,
    FeatureRow,
    GroupProcessor,
    GroupState,
    LiveContext,
    Output,
    Suppressed,
    decide,
    group_of,
    shard_of,
)
from models.live.strategy import (
    EQUITY_STRATEGY,
    OPTIONS_STRATEGY,
    SWING_STRATEGY,
    Candidate,
    LiveStrategy,
    LiveStrategySettings,
    ScoredPoint,
    proposal_id,
)
from models.live.window import CandleWindow, load_feature_kernel

__all__ = [
    "EQUITY_STRATEGY",
    "ONE_MINUTE",
    "OPTIONS_STRATEGY",
    "SHARDS",
    "SHARD_LAYOUT",
    "SWING_STRATEGY",
    "Candidate",
    "CandleBuilder",
    "CandleWindow",
    "ChampionScorer",
    "ClockMark",
    "Closed",
    "FeatureRow",
    "GroupProcessor",
    "GroupState",
    "History",
    "LakeHistory",
    "LiveContext",
    "LiveStrategy",
    "LiveStrategySettings",
    "ModelSwap",
    "Output",
    "ScoredPoint",
    "SourceHistory",
    "Suppressed",
    "bar_close",
    "decide",
    "exit_for",
    "group_of",
    "load_feature_kernel",
    "proposal_id",
    "shard_of",
    "top_contributions",
    "top_contributions_many",
]
