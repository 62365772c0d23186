"""The one feature definition: candle features (TA-Lib-exact indicators, one compiled kernel for
batch and streaming) and option features.

See ``docs/features.md`` for every column, the warm-up and the version hash.
"""

from models.features.definition import (
    CANDLE_FEATURES,
    FeatureSet,
    FeatureState,
    history_start,
    settle_bars,
    trading_days_to_expiry,
)
from models.features.options import (
    CHAIN_COLUMNS,
    OPTION_FEATURES,
    OptionFeatureParams,
    OptionFeatureSet,
)
from models.features.params import CandleFeatureParams

__all__ = [
    "CANDLE_FEATURES",
    "CHAIN_COLUMNS",
    "OPTION_FEATURES",
    "CandleFeatureParams",
    "FeatureSet",
    "FeatureState",
    "OptionFeatureParams",
    "OptionFeatureSet",
    "history_start",
    "settle_bars",
    "trading_days_to_expiry",
]
