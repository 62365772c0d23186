"""The one feature definition: candle features (TA-Lib-exact indicators) and option features."""

from models.features.definition import CANDLE_FEATURES, FeatureSet
from models.features.params import CandleFeatureParams

__all__ = ["CANDLE_FEATURES", "CandleFeatureParams", "FeatureSet"]
