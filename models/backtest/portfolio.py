"""The portfolio: capital, sizing inputs, and which simulated trades a real account could take.

:func:`accept` keeps one open position per instrument, at most ``max_concurrent`` positions, and
margin within capital plus realised P&L, judging candidates in entry-time order. It first takes,
per instrument, the next signal after the previous exit in numpy passes (:func:`accept_unlimited`);
when neither limit binds on that answer, it is the answer. Otherwise :func:`accept_in_order` walks
the candidates (a Python loop over accepted trades and exit events, not over bars or every signal).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

from data_contracts.enums import ChargeSegment
from data_contracts.errors import ContractError
from data_contracts.validation import instance_of, integer, positive

__all__ = [
    "ACCEPTED",
    "SKIP_REASONS",
    "Candidates",
    "Portfolio",
    "accept",
    "accept_in_order",
    "accept_unlimited",
    "size_lots",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_OWNER: Final = "Portfolio"
# floor() of a ratio that should be a whole number can land just below it in float arithmetic.
_WHOLE_TOLERANCE: Final = 1e-9
ACCEPTED: Final = -1
# Codes of the reasons a simulated trade is not taken (index into this tuple).
SKIP_REASONS: Final = ("position_open", "max_concurrent", "insufficient_capital")
_POSITION_OPEN, _MAX_CONCURRENT, _INSUFFICIENT_CAPITAL = range(3)


def _default_leverage() -> Mapping[str, float]:
    return MappingProxyType({ChargeSegment.INTRADAY.value: 5.0})


@dataclass(frozen=True, slots=True)
class Portfolio:
    """The account a backtest trades.

    ``capital``: rupees at the start. ``per_trade_risk``: rupees lost if a stop is hit, which
    sizes an entry without ``lots``. ``max_concurrent``: open positions across instruments (None:
    unlimited). ``leverage``: notional per rupee of capital, keyed by ChargeSegment value; a
    missing segment has 1.0 (the whole notional is blocked). ``max_position_notional``: the most
    rupees one position may commit at its limit price (None: no cap besides capital) — the risk
    engine's exposure limits, so that a sized entry is one the risk engine accepts.
    """

    capital: float
    per_trade_risk: float
    max_concurrent: int | None = None
    leverage: Mapping[str, float] = field(default_factory=_default_leverage)
    max_position_notional: float | None = None

    def __post_init__(self) -> None:
        positive(_OWNER, "capital", self.capital)
        positive(_OWNER, "per_trade_risk", self.per_trade_risk)
        if self.max_concurrent is not None:
            integer(_OWNER, "max_concurrent", self.max_concurrent, minimum=1)
        if self.max_position_notional is not None:
            positive(_OWNER, "max_position_notional", self.max_position_notional)
        instance_of(_OWNER, "leverage", self.leverage, Mapping)
        allowed = {segment.value for segment in ChargeSegment}
        for segment, value in self.leverage.items():
            if segment not in allowed:
                rule = f"keys must be one of {{{', '.join(sorted(allowed))}}}"
                raise ContractError(_OWNER, "leverage", segment, rule)
            positive(_OWNER, "leverage", value, subject=str(segment))
        # Frozen in content as well as in its attributes.
        object.__setattr__(self, "leverage", MappingProxyType(dict(self.leverage)))

    def leverage_of(self, segment: str) -> float:
        return float(self.leverage.get(segment, 1.0))


@dataclass(frozen=True, slots=True)
class Candidates:
    """Simulated trades, one element each: entry and exit times (any sortable int64 clock),
    instrument, margin blocked while open, and net P&L realised at the exit."""

    entry_ts: Ints
    exit_ts: Ints
    instrument: Ints
    margin: Floats
    net_pnl: Floats


def size_lots(
    entry: npt.ArrayLike,
    stop_loss: npt.ArrayLike,
    lot_size: npt.ArrayLike,
    leverage: npt.ArrayLike,
    portfolio: Portfolio,
) -> Ints:
    """Lots of each trade: floor(per-trade risk / loss per lot at the stop), capped so that the
    notional is within capital x leverage and within the portfolio's position cap; 0 when not
    even one lot fits. The backtest, labels and the streaming proposals size with this one rule.

    ``entry`` is the order's limit price — the worst price it can fill at, which is where the
    risk engine measures the capital at risk and the exposure of a proposal.
    """
    entry_, stop_, lot_ = (np.asarray(a, dtype=np.float64) for a in (entry, stop_loss, lot_size))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        loss_per_lot = np.abs(entry_ - stop_) * lot_
        notional_per_lot = entry_ * lot_
        by_risk = np.floor(portfolio.per_trade_risk / loss_per_lot + _WHOLE_TOLERANCE)
        by_capital = np.floor(
            portfolio.capital * np.asarray(leverage, dtype=np.float64) / notional_per_lot
            + _WHOLE_TOLERANCE
        )
        sized = np.minimum(by_risk, by_capital)
        if portfolio.max_position_notional is not None:
            by_exposure = np.floor(
                portfolio.max_position_notional / notional_per_lot + _WHOLE_TOLERANCE
            )
            sized = np.minimum(sized, by_exposure)
        sized = np.nan_to_num(sized, nan=0.0, posinf=0.0)
    lots: Ints = np.maximum(sized, 0).astype(np.int64)
    return lots


def accept(candidates: Candidates, portfolio: Portfolio) -> Ints:
    """For each candidate, ACCEPTED or the index into SKIP_REASONS of why it was not taken.

    Candidates are considered in entry-time order (ties: input order), and exits at or before an
    entry's time are released first, so a position closed at a bar frees its slot, cash and
    instrument for an entry at that bar's close. Each candidate is judged on the state at its own
    time. The answer of :func:`accept_in_order`, in numpy passes when no limit binds
    (:func:`accept_unlimited`).
    """
    fast = accept_unlimited(candidates, portfolio)
    return accept_in_order(candidates, portfolio) if fast is None else fast


def accept_in_order(candidates: Candidates, portfolio: Portfolio) -> Ints:
    """:func:`accept` as an event loop over acceptances and exits, skipping runs of signals in
    one step; exact whatever binds."""
    return _Book(candidates, portfolio).run()


def accept_unlimited(candidates: Candidates, portfolio: Portfolio) -> Ints | None:
    """:func:`accept` in numpy passes when neither ``max_concurrent`` nor capital refuses a
    trade; None when one would (then :func:`accept_in_order` has the answer).

    With one position per instrument as the only rule, an instrument takes its first signal, then
    its first signal at or after that trade's exit, and so on; the rest are ``position_open``.
    That answer is then replayed in the event loop's order of entries and exits, with the loop's
    float operations in the loop's order: when no entry finds every slot taken or its margin
    above the free cash, the loop decides every candidate the same way (up to its first refusal
    the two see the same state, and there is none).
    """
    taken = _chains(candidates)
    if not _within_limits(candidates, portfolio, np.flatnonzero(taken)):
        return None
    return np.where(taken, ACCEPTED, _POSITION_OPEN).astype(np.int64)


def _chains(c: Candidates) -> npt.NDArray[np.bool_]:
    """Per candidate: taken when one position per instrument is the only rule.

    In (instrument, entry time, input order) order, each candidate points at the one its
    instrument takes after it (the first at or after its exit, and after itself); the taken ones
    are those reachable from each instrument's first. Reachability by pointer doubling: with jump
    tables of 1, 2, 4, ..., 2^k steps, adding to the set of instrument starts the targets of the
    2^k-step table, then of the 2^(k-1)-step one, ..., then of the 1-step one, reaches every
    chain position below 2^(k+1).
    """
    n = len(c.entry_ts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    by_instrument = np.lexsort((np.arange(n), c.entry_ts, c.instrument))
    instrument = c.instrument[by_instrument]
    first = np.r_[True, instrument[1:] != instrument[:-1]]
    block = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    # A time as its place among all entry times (entry >= exit <=> place(entry) >= place(exit)),
    # so that (block, place) is one int64 key, ascending in this order.
    entry_times = np.sort(c.entry_ts)
    key = block * (n + 1) + np.searchsorted(entry_times, c.entry_ts[by_instrument])
    wanted = block * (n + 1) + np.searchsorted(entry_times, c.exit_ts[by_instrument])
    # The last of an instrument's chain points at the next instrument's first (taken anyway).
    following = np.maximum(np.arange(1, n + 1), np.searchsorted(key, wanted))
    jump = np.r_[following, n]  # n: past the end
    reached = np.zeros(n + 1, dtype=bool)
    reached[starts] = True
    longest = int(np.diff(np.r_[starts, n]).max())
    tables = [jump]
    while 2 ** len(tables) < longest:
        tables.append(tables[-1][tables[-1]])
    for table in reversed(tables):
        reached[table[reached]] = True
    taken = np.zeros(n, dtype=bool)
    taken[by_instrument] = reached[:n]
    return taken


def _within_limits(c: Candidates, portfolio: Portfolio, taken: Ints) -> bool:
    """Whether every entry of ``taken`` (candidate numbers, ascending) finds a free slot and
    enough cash, with the entries and exits in the event loop's order: by time, exits first,
    exits by candidate, entries in input order; an exit not after its own entry comes right after
    that entry."""
    m = len(taken)
    entry, exit_ = c.entry_ts[taken], c.exit_ts[taken]
    held = exit_ > entry
    time = np.r_[entry, np.where(held, exit_, entry)]
    kind = np.r_[np.full(m, _ENTRY), np.where(held, _EXIT, _ENTRY)]
    after_entry = np.r_[np.zeros(m, dtype=bool), ~held]
    order = np.lexsort((after_entry, np.r_[taken, taken], kind, time))
    is_entry = order < m
    margin = c.margin[taken]
    change = np.r_[-margin, margin + c.net_pnl[taken]][order]
    # The cash before each event, added up one event at a time as the loop does (cumsum is
    # sequential, and a - b is a + (-b) in IEEE arithmetic).
    cash = np.cumsum(np.r_[float(portfolio.capital), change])[:-1]
    if (margin[order[is_entry]] > cash[is_entry]).any():
        return False
    limit = portfolio.max_concurrent
    if limit is None:
        return True
    step = np.where(is_entry, 1, -1)
    open_before = (np.cumsum(step) - step)[is_entry]
    return not bool((open_before >= limit).any())


class _Book:
    """An event loop over a heap of exits and of each instrument's next undecided candidate.

    Skipping ahead is exact because the state only tightens between exits. After an acceptance,
    the instrument's signals before that trade's exit are ``position_open`` (final). After a
    rejection, free slots and cash can only shrink until the next exit, so the instrument's
    signals that could not fit now are skipped *provisionally* (kept as ranges, not written); the
    next exit makes the part before it final and rewinds the instrument to its first skipped
    signal at or after the exit, which is judged again on the new state.
    """

    def __init__(self, candidates: Candidates, portfolio: Portfolio) -> None:
        c = self.candidates = candidates
        self.portfolio = portfolio
        n = len(c.entry_ts)
        order = np.lexsort((np.arange(n), c.entry_ts))
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[order] = np.arange(n)
        by_instrument = order[np.argsort(c.instrument[order], kind="stable")]
        cuts = np.flatnonzero(np.diff(c.instrument[by_instrument])) + 1
        # Per instrument: its candidates in time order, and their entry times.
        self.queues = np.split(by_instrument, cuts) if n else []
        self.times = [c.entry_ts[q] for q in self.queues]
        self.ranks = [self.rank[q] for q in self.queues]
        self.margins = [_BlockMinima(c.margin[q]) for q in self.queues]
        self.pointer = [0] * len(self.queues)
        self.version = [0] * len(self.queues)
        # Per instrument: provisionally skipped ranges of its queue, with the reason.
        self.skipped: dict[int, list[tuple[int, int, int]]] = {}
        self.outcome = np.full(n, ACCEPTED, dtype=np.int64)
        self.events: list[tuple[int, int, int, int, int]] = []
        self.open = 0
        self.cash = float(portfolio.capital)  # capital + realised P&L - margin in use
        # Rank of the acceptance that filled every slot (None: a slot is free). Until the next
        # exit, a signal after it is refused for max_concurrent, which comes before capital.
        self.full_after: int | None = None

    def run(self) -> Ints:
        for u in range(len(self.queues)):
            self._schedule(u)
        while self.events:
            time, kind, key, u, version = heapq.heappop(self.events)
            if kind == _EXIT:
                self._exit(time, key)
            elif version == self.version[u]:
                self._decide(u)
        for u in list(self.skipped):
            self._finalise(u, before=len(self.queues[u]))
        return self.outcome

    def _schedule(self, u: int) -> None:
        at = self.pointer[u]
        if at < len(self.queues[u]):
            i = int(self.queues[u][at])
            event = (int(self.times[u][at]), _ENTRY, int(self.rank[i]), u, self.version[u])
            heapq.heappush(self.events, event)

    def _finalise(self, u: int, before: int) -> None:
        """Write the provisional skips of instrument ``u`` up to queue position ``before``."""
        queue = self.queues[u]
        for lo, hi, reason in self.skipped.pop(u, []):
            end = min(hi, before)
            self.outcome[queue[lo:end]] = reason
            if reason == _INSUFFICIENT_CAPITAL and self.full_after is not None:
                full = lo + int(np.searchsorted(self.ranks[u][lo:end], self.full_after))
                self.outcome[queue[full:end]] = _MAX_CONCURRENT

    def _exit(self, time: int, i: int) -> None:
        c = self.candidates
        self.open -= 1
        self.cash += float(c.margin[i]) + float(c.net_pnl[i])
        for u in list(self.skipped):
            first, stop = self.skipped[u][0][0], self.pointer[u]
            # Skipped signals that come after this exit (at or after its time, and after the
            # trade's own entry when it exits at the bar it entered) are judged again.
            rewind = first + max(
                int(np.searchsorted(self.times[u][first:stop], time)),
                int(np.searchsorted(self.ranks[u][first:stop], self.rank[i], side="right")),
            )
            self._finalise(u, before=rewind)
            if rewind < self.pointer[u]:
                self.pointer[u] = rewind
                self.version[u] += 1
                self._schedule(u)
        self.full_after = None

    def _decide(self, u: int) -> None:
        c, queue, at = self.candidates, self.queues[u], self.pointer[u]
        i = int(queue[at])
        limit = self.portfolio.max_concurrent
        if limit is not None and self.open >= limit:
            resume, reason = len(queue), _MAX_CONCURRENT
        elif c.margin[i] > self.cash:
            # The next signal that fits the cash free now; none before it can fit until an exit.
            resume, reason = (
                self.margins[u].first_at_or_below(at + 1, self.cash),
                _INSUFFICIENT_CAPITAL,
            )
        else:
            self._finalise(u, before=at)
            self.open += 1
            self.cash -= float(c.margin[i])
            if limit is not None and self.open >= limit:
                self.full_after = int(self.rank[i])
            heapq.heappush(self.events, (int(c.exit_ts[i]), _EXIT, i, -1, -1))
            resume = max(at + 1, int(np.searchsorted(self.times[u], c.exit_ts[i])))
            self.outcome[queue[at + 1 : resume]] = _POSITION_OPEN
            self.pointer[u] = resume
            self._schedule(u)
            return
        self.skipped.setdefault(u, []).append((at, resume, reason))
        self.pointer[u] = resume
        self._schedule(u)


_EXIT, _ENTRY = 0, 1  # at equal times exits go first
_BLOCK = 128


class _BlockMinima:
    """The first position at or after ``start`` whose value is <= a level, in a few numpy calls:
    the rest of ``start``'s block, then the minima of the later blocks, then the block found."""

    def __init__(self, values: Floats) -> None:
        self.values = values
        self.minima = np.minimum.reduceat(values, np.arange(0, len(values), _BLOCK))

    def first_at_or_below(self, start: int, level: float) -> int:
        size = len(self.values)
        block = start // _BLOCK
        head = self.values[start : min(size, (block + 1) * _BLOCK)]
        if len(head) and head.min() <= level:
            return start + int(np.argmax(head <= level))
        later = self.minima[block + 1 :] <= level
        if not later.any():
            return size
        first = (block + 1 + int(np.argmax(later))) * _BLOCK
        return first + int(np.argmax(self.values[first : first + _BLOCK] <= level))
