"""The limits the statistical checks hold candle data to (see ``docs/data-quality.md``)."""

from __future__ import annotations

from dataclasses import dataclass

from data_contracts.errors import ContractError
from data_contracts.validation import integer, positive, probability

__all__ = [
    "DEFAULT_BLOCKING",
    "IMPORT_CHECKS",
    "STATISTICAL_CHECKS",
    "STRUCTURAL_CHECKS",
    "QualityThresholds",
]

IMPORT_CHECKS = ("import_rejections",)
"""Checks of what an importer dropped before the frame existed (warn unless made blocking)."""

STRUCTURAL_CHECKS = (
    "columns_and_types",
    "no_nulls",
    "positive_instrument_token",
    "positive_prices",
    "non_negative_volume",
    "prices_finite",
    "ohlc_high_is_highest",
    "ohlc_low_is_lowest",
    "unique_instrument_ts",
    "ordered",
    "within_session_hours",
)
"""Blocking checks (pandera's CandleFrame plus ordering and session hours), in report order."""

STATISTICAL_CHECKS = (
    "missing_sessions",
    "truncated_sessions",
    "intraday_gaps",
    "bars_on_non_session_days",
    "calendar_coverage",
    "stale_runs",
    "price_jumps",
    "split_like_jumps",
    "zero_volume_bars",
    "volume_missing",
    "volume_spikes",
    "price_precision",
    "timezone_shift",
)
"""Checks run as a great-expectations suite over per-session and per-instrument aggregates."""

DEFAULT_BLOCKING = frozenset({"split_like_jumps", "timezone_shift"})
"""Statistical checks that block by default, because what they find is wrong data rather than an
unusual market: an unadjusted split (every price before or after it is on another scale) and
timestamps shifted by a fixed offset (every bar of the instrument is somewhere else). Every other
statistical check warns: gaps, stale runs, jumps and volume spikes happen in real markets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityThresholds:
    """Limits for the statistical checks; every field has a default, override what you need.

    ``blocking`` names the statistical (or import) checks that block downstream work like a
    structural failure does; by default :data:`DEFAULT_BLOCKING` (``split_like_jumps`` and
    ``timezone_shift``), every other one only warns. It replaces the default: escalate with
    ``DEFAULT_BLOCKING | {"price_jumps"}``, or pass ``frozenset()`` to make every statistical check
    warn.
    """

    max_truncated_slots_per_session: int = 0
    """Bar slots allowed missing at the start or end of a session (late first, early last bar)."""
    max_gap_slots_per_session: int = 0
    """Bar slots allowed missing between a session's first and last bar."""
    stale_run_bars: int = 5
    """A run of this many consecutive bars with one close and zero/no volume is stale."""
    jump_sigma: float = 10.0
    """A log return beyond this many robust sigmas (1.4826 x trailing median |return|) is a jump."""
    max_jump_session_share: float = 0.10
    """The share of instrument-sessions allowed to contain a jump before ``price_jumps`` fails.
    Minute returns are fat-tailed: real NIFTY 1-minute bars (2024) have a 10-sigma move in 8.7 %
    of sessions, so the jumps are always listed, but only a higher share fails the check."""
    jump_window: int = 250
    """Trailing returns (of the same kind: intraday or overnight) the robust sigma is taken over."""
    jump_min_periods: int = 20
    """Returns (and, for volume, traded bars) needed before a sigma exists; earlier ones are not
    judged."""
    jump_sigma_floor: float = 1e-4
    """The robust sigma never drops below this (log-return units), so a flat stretch cannot make
    an ordinary tick look like a jump."""
    split_tolerance: float = 0.02
    """An overnight (or daily) price ratio within this relative distance of a split or bonus ratio
    (1:2, 1:5, 2:3, ...) is named a split-like jump, however few returns came before it: the
    smallest such move is -33 % (2:3) or +50 % (3:2), large by itself."""
    max_zero_volume_bars_per_session: int = 0
    """Zero-volume bars allowed per session (for instruments that report volume at all)."""
    volume_sigma: float = 6.0
    """log(1 + volume) beyond this many robust sigmas above its trailing median is a spike."""
    volume_window: int = 250
    """Trailing bars the volume median and MAD are taken over."""
    volume_sigma_floor: float = 0.1
    """The robust sigma of log volume never drops below this."""
    price_tick: float = 0.01
    """Prices must be multiples of this (NSE's finest equity tick); off-grid prices are float
    artefacts or adjusted prices."""
    tz_min_outside_fraction: float = 0.5
    """An instrument is examined for a time-zone shift when at least this share of its bars is
    outside session hours ..."""
    tz_min_inside_after_shift: float = 0.9
    """... and a shift is suspected when moving them by a whole multiple of 30 minutes puts at
    least this share on the session grid."""
    sample_rows: int = 5
    """Sample rows kept per check."""
    blocking: frozenset[str] = DEFAULT_BLOCKING

    def __post_init__(self) -> None:
        owner = "QualityThresholds"
        for name in (
            "max_truncated_slots_per_session",
            "max_gap_slots_per_session",
            "max_zero_volume_bars_per_session",
        ):
            integer(owner, name, getattr(self, name), minimum=0)
        integer(owner, "stale_run_bars", self.stale_run_bars, minimum=2)
        for name in ("jump_window", "jump_min_periods", "volume_window"):
            integer(owner, name, getattr(self, name), minimum=2)
        integer(owner, "sample_rows", self.sample_rows, minimum=1)
        for name in (
            "jump_sigma",
            "jump_sigma_floor",
            "volume_sigma",
            "volume_sigma_floor",
            "price_tick",
        ):
            positive(owner, name, getattr(self, name))
        for name in (
            "split_tolerance",
            "tz_min_outside_fraction",
            "tz_min_inside_after_shift",
            "max_jump_session_share",
        ):
            probability(owner, name, getattr(self, name))
        if self.jump_min_periods > self.jump_window:
            raise ContractError(
                owner, "jump_min_periods", self.jump_min_periods, "must be <= jump_window"
            )
        unknown = set(self.blocking) - {*STATISTICAL_CHECKS, *IMPORT_CHECKS}
        if not isinstance(self.blocking, frozenset) or unknown:
            raise ContractError(
                owner,
                "blocking",
                self.blocking,
                "must be a frozenset of statistical or import check names "
                f"({', '.join((*STATISTICAL_CHECKS, *IMPORT_CHECKS))})",
            )
