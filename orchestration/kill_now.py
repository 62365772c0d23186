"""The first thing ``kitepilot kill`` does, before anything slow is imported: record the kill
switch engaged, so the account is halted at once (approvals refused, entries vetoed) and a running
executor makes it flat in its next turn (``execution.orders.service``); the command then does the
whole of it itself too (``execution.orders.kill_switch.engage``), in case no executor is running.
"""

from __future__ import annotations

from data_contracts.clock import SystemClock
from data_contracts.config import KitepilotConfig
from data_contracts.enums import TradingMode
from data_contracts.ports import Clock
from data_contracts.validation import storable
from execution.store import OmsStore, SqlStore
from orchestration.paper_credentials import credentials, paper_root

__all__ = ["halt"]


def halt(config: KitepilotConfig, actor: str, reason: str) -> bool:
    """Record the kill switch engaged now (on the market's clock); False when it already was."""
    with SqlStore.open(config.storage.database_url) as store:
        oms = OmsStore.of(store)
        if oms.kill_switch().engaged:
            return False
        oms.record_kill_switch(True, _clock(config).now(), storable(actor), storable(reason))
    return True


def _clock(config: KitepilotConfig) -> Clock:
    """The market's clock without a broker login: the paper exchange's market time, else the
    system clock (``orchestration.execution_cli.market_clock`` for a logged-in session)."""
    if config.mode is TradingMode.LIVE:
        return SystemClock()
    from execution.paper.exchange_clock import ExchangeClock

    secret, _ = credentials(config)
    return ExchangeClock(paper_root(config), secret.admin_token)
