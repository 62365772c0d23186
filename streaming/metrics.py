"""The streaming worker's metrics: ticks/s, dead letters by reason, tick→proposal latency, feed
lag. Exported to the store for the dashboard, and as Prometheus text (``prometheus_text``)."""

from __future__ import annotations

import bisect
import math
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Final

__all__ = ["LATENCY_BUCKETS_US", "StreamMetrics"]

# Upper bounds (microseconds) of the tick→proposal latency histogram.
LATENCY_BUCKETS_US: Final = (100, 250, 500, 1_000, 2_000, 5_000, 10_000, 25_000, 100_000, math.inf)


class StreamMetrics:
    """Counters of one worker process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self.latency_buckets = [0] * len(LATENCY_BUCKETS_US)
        self.latencies_us: list[float] = []  # kept for percentiles (bounded)
        self.feed_lag_seconds = 0.0
        self.model_version = ""
        self._rate_mark: tuple[datetime, int] | None = None
        self.ticks_per_second = 0.0

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def dead_letter(self, reason: str) -> None:
        with self._lock:
            self.dead_letters[reason] += 1

    def latency(self, micros: float) -> None:
        with self._lock:
            bucket = min(
                bisect.bisect_left(LATENCY_BUCKETS_US, micros), len(LATENCY_BUCKETS_US) - 1
            )
            self.latency_buckets[bucket] += 1
            if len(self.latencies_us) < 100_000:
                self.latencies_us.append(micros)

    def percentile(self, q: float) -> float:
        with self._lock:
            values = sorted(self.latencies_us)
        if not values:
            return 0.0
        rank = math.ceil(q / 100 * len(values))  # nearest rank
        return values[min(max(rank, 1), len(values)) - 1]

    def snapshot(self, now: datetime) -> dict[str, float]:
        """Flat name → value (what the store keeps per worker), with ticks/s since the last one."""
        with self._lock:
            ticks = self.counts["ticks"]
            if self._rate_mark is not None:
                seconds = (now - self._rate_mark[0]).total_seconds()
                if seconds > 0:
                    self.ticks_per_second = (ticks - self._rate_mark[1]) / seconds
            self._rate_mark = (now, ticks)
            out: dict[str, float] = {name: float(n) for name, n in self.counts.items()}
            out.update({f"dead_letters.{r}": float(n) for r, n in self.dead_letters.items()})
            out["dead_letters"] = float(sum(self.dead_letters.values()))
            out["ticks_per_second"] = self.ticks_per_second
            out["feed_lag_seconds"] = self.feed_lag_seconds
        for q in (50, 95, 99):
            out[f"tick_to_proposal_p{q}_us"] = self.percentile(q)
        return out

    def prometheus_text(self, worker: str) -> str:
        """The metrics in Prometheus' text exposition format."""
        label = f'worker="{worker}"'
        lines = []
        latency = "kitepilot_stream_tick_to_proposal_seconds"
        with self._lock:
            for name, n in sorted(self.counts.items()):
                lines.append(f"# TYPE kitepilot_stream_{name}_total counter")
                lines.append(f"kitepilot_stream_{name}_total{{{label}}} {n}")
            lines.append("# TYPE kitepilot_stream_dead_letters_total counter")
            for reason, n in sorted(self.dead_letters.items()):
                lines.append(
                    f'kitepilot_stream_dead_letters_total{{{label},reason="{reason}"}} {n}'
                )
            lines.append(f"# TYPE {latency} histogram")
            cumulative = 0
            for bound, n in zip(LATENCY_BUCKETS_US, self.latency_buckets, strict=True):
                cumulative += n
                le = "+Inf" if math.isinf(bound) else f"{bound / 1e6:g}"
                lines.append(f'{latency}_bucket{{{label},le="{le}"}} {cumulative}')
            lines.append(f"{latency}_sum{{{label}}} {sum(self.latencies_us) / 1e6:g}")
            lines.append(f"{latency}_count{{{label}}} {cumulative}")
            lines.append("# TYPE kitepilot_stream_feed_lag_seconds gauge")
            lines.append(f"kitepilot_stream_feed_lag_seconds{{{label}}} {self.feed_lag_seconds}")
        return "\n".join(lines) + "\n"

    def merged_dead_letters(self) -> Mapping[str, int]:
        with self._lock:
            return dict(self.dead_letters)
