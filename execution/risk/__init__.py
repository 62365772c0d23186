"""The risk engine: the only gate between an intent (entry, exit, flatten) and the broker.

Pure functions over a frozen account snapshot; see ``docs/risk.md``.
"""

from execution.risk.engine import (
    REDUCE_ONLY_BREAKERS,
    CheckResult,
    RiskVerdict,
    check_entry,
    check_exit,
    circuit_breaker,
)
from execution.risk.limits import MAX_ORDER_SLICES, RiskLimits
from execution.risk.state import AccountState, Exposure

__all__ = [
    "MAX_ORDER_SLICES",
    "REDUCE_ONLY_BREAKERS",
    "AccountState",
    "CheckResult",
    "Exposure",
    "RiskLimits",
    "RiskVerdict",
    "check_entry",
    "check_exit",
    "circuit_breaker",
]
