"""A trading day (or several) from the lake, as the live feed would deliver it: ticks in market
time order and the clock marks that close quiet instruments' bars.

The ticks inside each 1-minute bar are the paper exchange's (:func:`execution.paper.market_lake.
lake_ticks`, seeded per day and instrument), so a candle rebuilt from them is the lake's candle and
a replay is the same at any speed, in any number of partitions. After each minute ``M`` the feed
emits, for every group it serves, a :class:`~models.live.ClockMark` at ``M + mark_delay`` (every
minute of the session, whether or not anything traded) before any later tick, so a quiet
instrument's bar closes, and at the same point of the stream in any partitioning.

Items are ``(key, Tick | ClockMark)`` with ``key`` the group (``str``) the streaming worker keys by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from data_contracts.errors import ContractError
from data_contracts.ids import InstrumentToken
from data_contracts.instruments import Instrument
from data_contracts.market import Tick
from data_contracts.nse_calendar import NseCalendar
from data_contracts.timeutil import IST, UTC
from execution.paper.market_lake import CANDLES_TABLE, lake_closes, lake_ticks
from execution.simulator.ticks import MEAN_TICKS_PER_BAR
from models.data_quality.quarantine import CandleReader
from models.lake import Lake
from models.live import ClockMark

__all__ = ["FeedItem", "LakeReplay"]

FeedItem = tuple[str, Tick | ClockMark]
_US_PER_MINUTE: Final = 60_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _DayTicks:
    token: npt.NDArray[np.int64]
    ts_us: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    quantity: npt.NDArray[np.int64]
    volume: npt.NDArray[np.int64]
    bid: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]
    bid_quantity: npt.NDArray[np.int64]
    ask_quantity: npt.NDArray[np.int64]
    oi: npt.NDArray[np.int64]  # -1: none


class LakeReplay:
    """The feed of ``days`` for ``instruments`` (those with candles in the lake that day), up
    to the bar closing at ``until`` (IST) each day when given."""

    def __init__(
        self,
        lake: Lake,
        days: Sequence[date],
        instruments: Sequence[Instrument],
        *,
        seed: int,
        calendar: NseCalendar,
        key_of: Callable[[int], int],
        mark_delay: timedelta = timedelta(seconds=5),
        until: time | None = None,
        mean_ticks: float = MEAN_TICKS_PER_BAR,
    ) -> None:
        if not days:
            raise ContractError("LakeReplay", "days", days, "must name at least one day")
        self._lake = lake
        self._days = tuple(sorted(days))
        self._instruments = {int(i.instrument_token): i for i in instruments}
        self._seed = seed
        self._calendar = calendar
        self._key_of = key_of
        self._mark_delay_us = int(mark_delay / timedelta(microseconds=1))
        self._until = until
        self._mean_ticks = mean_ticks  # the paper exchange's; a benchmark sets a live feed's
        self._keys = sorted({key_of(t) for t in self._instruments})

    @property
    def keys(self) -> list[int]:
        return list(self._keys)

    def items(self, skip: int = 0) -> Iterator[FeedItem]:
        """Every item of the replay in order, after the first ``skip`` (to resume)."""
        emitted = 0
        for day in self._days:
            for item in self._day_items(day):
                if emitted >= skip:
                    yield item
                emitted += 1

    def ticks(self, day: date) -> pl.DataFrame:
        """The day's ticks as one frame in feed order (for tests and benchmarks)."""
        ticks = self._ticks(day)
        if ticks is None:
            return pl.DataFrame()
        return pl.DataFrame(
            {"instrument_token": ticks.token, "ts_us": ticks.ts_us, "last_price": ticks.price}
        )

    def _day_items(self, day: date) -> Iterator[FeedItem]:
        ticks = self._ticks(day)
        if ticks is None:
            return
        keys = [str(k) for k in self._keys]
        group = {t: str(self._key_of(t)) for t in self._instruments}
        token, ts_us, price = ticks.token.tolist(), ticks.ts_us.tolist(), ticks.price.tolist()
        quantity, volume = ticks.quantity.tolist(), ticks.volume.tolist()
        bid, ask = ticks.bid.tolist(), ticks.ask.tolist()
        bid_q, ask_q, oi = (
            ticks.bid_quantity.tolist(),
            ticks.ask_quantity.tolist(),
            ticks.oi.tolist(),
        )
        marks = self._marks(day)
        m = 0
        for n, ts in enumerate(ts_us):
            while m < len(marks) and ts > marks[m]:
                mark = ClockMark(_at(marks[m]))
                for key in keys:
                    yield key, mark
                m += 1
            stamp = _at(ts)
            b, a = bid[n], ask[n]
            yield (
                group[token[n]],
                Tick(
                    instrument_token=InstrumentToken(token[n]),
                    ts_event=stamp,
                    ts_init=stamp,
                    last_price=price[n],
                    last_quantity=quantity[n],
                    volume=volume[n],
                    bid=None if b != b else b,  # NaN: no book (the index)
                    ask=None if a != a else a,
                    bid_quantity=bid_q[n],
                    ask_quantity=ask_q[n],
                    oi=None if oi[n] < 0 else oi[n],
                ),
            )
        for due in marks[m:]:
            mark = ClockMark(_at(due))
            for key in keys:
                yield key, mark

    def _marks(self, day: date) -> list[int]:
        """Every minute close of the day's session, plus the delay (microseconds since the
        epoch): the same schedule in every partition, whatever ticks it serves."""
        session = self._calendar.session(day)
        if session is None:
            return []
        close = session.close
        if self._until is not None:
            close = min(close, datetime.combine(day, self._until, tzinfo=IST))
        first = (session.open - _EPOCH) // timedelta(microseconds=1)
        last = (close - _EPOCH) // timedelta(microseconds=1)
        return list(
            range(
                first + _US_PER_MINUTE + self._mark_delay_us,
                last + _US_PER_MINUTE + self._mark_delay_us,
                _US_PER_MINUTE,
            )
        )

    def _ticks(self, day: date) -> _DayTicks | None:
        if not self._lake.partition_path(CANDLES_TABLE, day).is_file():
            return None
        candles = CandleReader(self._lake, CANDLES_TABLE).read(day, day)
        if self._until is not None:
            last = datetime.combine(day, self._until, tzinfo=IST).astimezone(UTC)
            candles = candles.filter(pl.col("ts_event") <= last)
        previous = lake_closes(self._lake, day)
        frames = []
        for token in sorted(
            set(candles["instrument_token"].unique().to_list()) & set(self._instruments)
        ):
            bars = candles.filter(pl.col("instrument_token") == token).sort("ts_event")
            made = lake_ticks(
                self._instruments[token],
                bars,
                seed=self._seed,
                day=day,
                previous=previous,
                mean_ticks=self._mean_ticks,
            )
            frames.append(made.ticks)
        if not frames:
            return None
        frame = (
            pl.concat(frames)
            .with_columns(pl.col("ts_event").dt.epoch("us").alias("_ts_us"))
            .sort("_ts_us", "instrument_token", maintain_order=True)
        )
        return _DayTicks(
            token=frame["instrument_token"].to_numpy(),
            ts_us=frame["_ts_us"].to_numpy(),
            price=frame["last_price"].to_numpy(),
            quantity=frame["last_quantity"].to_numpy(),
            volume=frame["volume"].to_numpy(),
            bid=frame["bid"].fill_null(np.nan).to_numpy(),
            ask=frame["ask"].fill_null(np.nan).to_numpy(),
            bid_quantity=frame["bid_quantity"].to_numpy(),
            ask_quantity=frame["ask_quantity"].to_numpy(),
            oi=frame["oi"].fill_null(-1).to_numpy(),
        )


def _at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)
