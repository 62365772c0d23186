"""Reading a replay day from the lake: the instruments dump, previous closes and seeded ticks.

The ``instruments`` table holds :func:`data_contracts.instruments.instruments_to_frame` frames;
``candles_1m`` holds ``CandleFrame`` bars (``ts_event`` = the bar's close), read without what
failed blocking checks (``candles_1m_quarantine``). Ticks are drawn inside
each bar with :func:`execution.simulator.ticks.bar_ticks` from the stream
``(seed, TICKS, day, token)`` — the simulator's own tick generator and stream keys.
"""

from __future__ import annotations

from datetime import date
from typing import Final

import numpy as np
import polars as pl

from data_contracts.enums import Exchange, InstrumentType
from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import Instrument
from execution.paper.market_book import InstrumentTicks
from execution.simulator.rng import Purpose, stream
from execution.simulator.ticks import MEAN_TICKS_PER_BAR, bar_ticks, ticks_frame
from models.data_quality.quarantine import CandleReader
from models.lake import Lake

__all__ = [
    "CANDLES_TABLE",
    "INSTRUMENTS_TABLE",
    "NO_TICK_GRID",
    "lake_closes",
    "lake_instruments",
    "lake_ticks",
    "tick_size",
]

_OWNER: Final = "MarketReplay"
INSTRUMENTS_TABLE: Final = "instruments"
CANDLES_TABLE: Final = "candles_1m"
# Instruments without a tick size in the dump (indices: 0.0) are replayed on a paisa grid.
NO_TICK_GRID: Final = 0.01
_WIDE_SPREAD_SHARE: Final = 0.3  # share of minutes quoted two ticks wide rather than one


def tick_size(instrument: Instrument) -> float:
    """The grid ticks are drawn on: the dump's tick size, or a paisa for indices."""
    return instrument.tick_size if instrument.tick_size > 0 else NO_TICK_GRID


def lake_instruments(lake: Lake, day: date) -> list[Instrument]:
    """The instruments dump of ``day``, or of the latest earlier day the lake has one for."""
    days = [d for d in lake.days(INSTRUMENTS_TABLE) if d <= day]
    if not days:
        raise ContractError(
            _OWNER, "day", day, f"must have an {INSTRUMENTS_TABLE} partition on or before it"
        )
    frame = lake.read(INSTRUMENTS_TABLE, days[-1])
    if frame is None:  # deleted between listing and reading
        raise ContractError(_OWNER, "day", days[-1], f"lost its {INSTRUMENTS_TABLE} partition")
    return [
        Instrument(
            instrument_token=InstrumentToken(row["instrument_token"]),
            exchange_token=row["exchange_token"],
            tradingsymbol=row["tradingsymbol"],
            name=row["name"] or "",
            exchange=Exchange(row["exchange"]),
            segment=row["segment"],
            instrument_type=InstrumentType(row["instrument_type"]),
            expiry=row["expiry"],
            strike=row["strike"],
            tick_size=row["tick_size"],
            lot_size=row["lot_size"],
            freeze_quantity=row.get("freeze_quantity"),
        )
        for row in frame.iter_rows(named=True)
    ]


def lake_closes(lake: Lake, day: date) -> dict[int, float]:
    """Each instrument's last close in the latest ``candles_1m`` partition before ``day``, of
    the bars no blocking check failed (read through
    :class:`~models.data_quality.quarantine.CandleReader`)."""
    earlier = [d for d in lake.days(CANDLES_TABLE) if d < day]
    if not earlier:
        return {}
    frame = CandleReader(lake, CANDLES_TABLE).read(earlier[-1], earlier[-1])
    if not frame.height:
        return {}
    last = frame.sort("ts_event").group_by("instrument_token").agg(pl.col("close").last())
    return {int(t): float(c) for t, c in last.iter_rows()}


def lake_ticks(
    instrument: Instrument,
    candles: pl.DataFrame,
    *,
    seed: int,
    day: date,
    previous: dict[int, float],
    mean_ticks: float = MEAN_TICKS_PER_BAR,
) -> InstrumentTicks:
    """Ticks inside one instrument's bars of the day (``candles`` in time order), ``mean_ticks``
    a bar on average. Bars whose high/low do not bound their open/close are widened to do so.
    Volumes are split in whole lots when every bar's volume is a multiple of the lot, else in
    units."""
    token = int(instrument.instrument_token)
    rng = stream(seed, Purpose.TICKS, day, token)
    size = candles.height
    o, h, lo, c = (candles[name].to_numpy() for name in ("open", "high", "low", "close"))
    volume = candles["volume"].fill_null(0).to_numpy()
    lot = max(instrument.lot_size, 1)
    unit = lot if instrument.is_tradable and not (volume % lot).any() else 1
    spread = (
        1 + (rng.random(size) < _WIDE_SPREAD_SHARE).astype(np.int64)
        if instrument.is_tradable
        else None
    )
    ticks = bar_ticks(
        rng,
        candles["ts_event"].dt.epoch("us").to_numpy(),
        o,
        np.maximum.reduce([o, h, lo, c]),
        np.minimum.reduce([o, h, lo, c]),
        c,
        volume,
        tick_size=tick_size(instrument),
        quantity_unit=unit,
        spread_ticks=spread,
        mean_ticks=mean_ticks,
    )
    oi_column = candles["oi"]
    oi = None if oi_column.null_count() == size else oi_column.forward_fill().fill_null(0)
    return InstrumentTicks(
        instrument_token=token,
        ticks=ticks_frame(token, ticks, None if oi is None else oi.to_numpy()),
        tick_size=tick_size(instrument),
        lot_size=instrument.lot_size,
        tradable=instrument.is_tradable,
        previous_close=previous.get(token),
    )
