"""Where the broker is and as whom (:class:`BrokerEndpoints`), on its own: the kill switch, the
executor and the streaming worker all need it, and importing it must not pull in either side's
stack (this module imports nothing heavier than the contracts' error type)."""

from __future__ import annotations

from dataclasses import dataclass, field

from data_contracts.errors import ContractError

__all__ = ["BrokerEndpoints"]


@dataclass(frozen=True)
class BrokerEndpoints:
    """Where the live feed connects and as whom (paper exchange or Kite; secrets stay here)."""

    api_key: str
    access_token: str = field(repr=False)
    rest_root: str | None  # None: Kite's own
    ticker_root: str | None

    def __post_init__(self) -> None:
        if not self.access_token:
            rule = "must be a logged-in session"
            raise ContractError("BrokerEndpoints", "access_token", "", rule)
