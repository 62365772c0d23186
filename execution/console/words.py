"""Numbers and explanations in the operator's words: rupees, IST clock times, and each feature
contribution of a proposal's explanation as one plain sentence.

The feature names are the columns of ``models.features.CANDLE_FEATURES`` (and the option
features), whose periods come from their parameters (``ema_12_rel``, ``rsi_14``), so the table
below matches name *patterns* and reads the period out of the name. A name it does not know is
shown as itself (underscores as spaces), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from data_contracts.timeutil import to_ist
from data_contracts.trading import FeatureContribution
from data_contracts.validation import finite

__all__ = ["contribution_words", "friendly_name", "ist", "rupees", "signed"]

MINUS: Final = "\u2212"  # the typographic minus sign (U+2212), as in rupees(-12) and signed()
SIGMA: Final = "\u03c3"  # standard deviations
TIMES: Final = "\u00d7"  # a ratio, "1.35x"
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def signed(value: float, decimals: int = 2, suffix: str = "") -> str:
    """``+0.12``, ``0.00``, or the minus sign U+2212 and ``0.05``: always a sign unless the shown
    value is zero."""
    shown = f"{abs(value):.{decimals}f}"
    if float(shown) == 0:
        return f"{shown}{suffix}"
    return f"{'+' if value > 0 else MINUS}{shown}{suffix}"


def rupees(x: float) -> str:
    """``₹1,234.50``; a negative amount with the minus sign U+2212 before the ``₹`` (an amount that
    rounds to zero is ``₹0.00``)."""
    value = finite("rupees", "x", x)
    body = f"{abs(value):,.2f}"
    if value < 0 and body != "0.00":
        return f"{MINUS}₹{body}"
    return f"₹{body}"


def ist(ts: datetime) -> str:
    """``09:31:05 IST`` (a naive time is refused; which day it is, is the caller's business)."""
    return f"{to_ist(ts):%H:%M:%S} IST"


# -- features ---------------------------------------------------------------------------------


def _pct(value: float) -> str:  # a fraction shown as a signed percentage
    return signed(100 * value, 2, "%")


def _pct_points(value: float) -> str:  # already in percent
    return signed(value, 2, "%")


def _vol(value: float) -> str:  # an annualised volatility fraction
    return f"{100 * value:.1f}%"


def _level(value: float) -> str:
    return f"{value:.1f}"


def _two(value: float) -> str:
    return f"{value:.2f}"


def _z(value: float) -> str:
    return signed(value, 2, SIGMA)


def _times(value: float) -> str:
    return f"{value:.2f}{TIMES}"


def _minutes(value: float) -> str:
    return f"{value:.0f} min"


def _weekday(value: float) -> str:
    day = round(value)
    return _WEEKDAYS[day] if 0 <= day < len(_WEEKDAYS) and day == value else f"{value:g}"


def _sessions(value: float) -> str:
    return f"{value:.0f}"


def _years_as_days(value: float) -> str:
    return f"{365 * value:.1f} days"


def _general(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True, slots=True)
class _Name:
    pattern: re.Pattern[str]
    label: str  # ``{n}``: the period read from the name
    value: Callable[[float], str]


def _name(pattern: str, label: str, value: Callable[[float], str]) -> _Name:
    return _Name(re.compile(pattern), label, value)


# The feature columns (docs/features.md) in words; ``(?P<n>\d+)`` is the period.
_NAMES: Final = (
    _name(r"ema_(?P<n>\d+)_rel", "price vs {n}-bar EMA", _pct),
    _name(r"macd_rel", "MACD line (vs price)", _pct),
    _name(r"macd_signal_rel", "MACD signal line (vs price)", _pct),
    _name(r"macd_hist_rel", "MACD histogram (vs price)", _pct),
    _name(r"rsi_(?P<n>\d+)", "RSI ({n})", _level),
    _name(r"adx_(?P<n>\d+)", "ADX trend strength ({n})", _level),
    _name(r"bb_position_(?P<n>\d+)", "place in the {n}-bar Bollinger band (0 low, 1 high)", _two),
    _name(r"zscore_(?P<n>\d+)", "price z-score ({n} bars)", _z),
    _name(r"roc_(?P<n>\d+)", "{n}-bar price change", _pct_points),
    _name(r"atr_(?P<n>\d+)_rel", "{n}-bar average true range (vs price)", _pct),
    _name(r"std_(?P<n>\d+)_rel", "{n}-bar price swings (std dev vs price)", _pct),
    _name(r"hv_(?P<n>\d+)", "{n}-bar historical volatility (annualised)", _vol),
    _name(r"volume_ratio_(?P<n>\d+)", "volume vs its {n}-bar average", _times),
    _name(r"volume_zscore_(?P<n>\d+)", "volume z-score ({n} bars)", _z),
    _name(r"minute_of_day", "time since the open", _minutes),
    _name(r"day_of_week", "day of the week", _weekday),
    _name(r"days_to_expiry", "trading days to the weekly expiry", _sessions),
    # option features (models.features.OPTION_FEATURES)
    _name(r"iv", "implied volatility", _vol),
    _name(r"delta", "option delta", _two),
    _name(r"gamma", "option gamma", lambda v: f"{v:.4f}"),
    _name(r"theta", "option theta (per day)", _two),
    _name(r"vega", "option vega (per vol point)", _two),
    _name(r"moneyness", "moneyness ln(strike / forward)", lambda v: signed(v, 3)),
    _name(r"time_to_expiry", "time left to expiry", _years_as_days),
    _name(r"atm_iv", "at-the-money implied volatility", _vol),
    _name(r"iv_rank_(?P<n>\d+)", "IV rank over {n} snapshots (0 low, 1 high)", _two),
    _name(r"skew_25d", "25-delta skew (put minus call IV)", lambda v: signed(100 * v, 2, " pts")),
)


def _lookup(feature: str) -> tuple[str, Callable[[float], str]] | None:
    for entry in _NAMES:
        match = entry.pattern.fullmatch(feature)
        if match is not None:
            return entry.label.format(**match.groupdict()), entry.value
    return None


def friendly_name(feature: str) -> str:
    """The feature column in words (``ema_12_rel`` → ``price vs 12-bar EMA``); an unknown name is
    shown as itself with spaces for underscores."""
    found = _lookup(feature)
    return found[0] if found is not None else feature.replace("_", " ")


def contribution_words(c: FeatureContribution) -> str:
    """One contribution as a sentence: ``RSI (14) at 72.4 pushed the win chance up (+0.12)``.

    The number in brackets is the contribution in the model's score units (its SHAP value, in
    log-odds for the classifier): the size of the push, comparable across features.
    """
    found = _lookup(c.feature)
    label, value = found if found is not None else (c.feature.replace("_", " "), _general)
    decimals = 2 if c.contribution == 0 or abs(c.contribution) >= 0.005 else 3
    amount = signed(c.contribution, decimals)
    if float(f"{abs(c.contribution):.{decimals}f}") == 0:
        effect = "barely moved the win chance"
    elif c.contribution > 0:
        effect = "pushed the win chance up"
    else:
        effect = "pulled the win chance down"
    return f"{label} at {value(c.value)} {effect} ({amount})"
