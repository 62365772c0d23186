"""The streaming worker's metrics: counters, dead letters by reason, latency percentiles and
histogram, the snapshot for the store, and the Prometheus text format."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from streaming.metrics import LATENCY_BUCKETS_US, StreamMetrics
from tests.factories import T0

# One sample line of the text exposition format: name{labels} value
_SAMPLE = re.compile(r'^[a-z_:][a-z0-9_:]*\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\} -?[0-9.e+]+$')


def _metrics() -> StreamMetrics:
    metrics = StreamMetrics()
    metrics.count("ticks", 1_000)
    metrics.count("ticks", 500)
    metrics.count("proposals")
    metrics.dead_letter("out_of_order")
    metrics.dead_letter("out_of_order")
    metrics.dead_letter("crossed_book")
    for micros in (80, 300, 300, 4_000, 2e6):
        metrics.latency(micros)
    metrics.feed_lag_seconds = 0.25
    return metrics


def test_metrics_count_and_dead_letters_by_reason() -> None:
    metrics = _metrics()

    assert (metrics.counts["ticks"], metrics.counts["proposals"]) == (1_500, 1)
    assert metrics.merged_dead_letters() == {"out_of_order": 2, "crossed_book": 1}


@pytest.mark.parametrize(
    ("q", "value"), [(0, 80), (30, 300), (50, 300), (79, 4_000), (95, 2e6), (100, 2e6)]
)
def test_metrics_percentile_is_the_nearest_rank_of_the_latencies(q: float, value: float) -> None:
    """Five samples 80, 300, 300, 4000, 2e6 (µs): p30 is the 2nd, p79 the 4th, p95 the 5th."""
    assert _metrics().percentile(q) == value


def test_metrics_percentile_without_latencies_is_zero() -> None:
    assert StreamMetrics().percentile(95) == 0.0


def test_metrics_latency_falls_in_the_first_bucket_at_or_above_it() -> None:
    metrics = StreamMetrics()

    for micros in (100, 101, 1e9):
        metrics.latency(micros)

    expected = [0] * len(LATENCY_BUCKETS_US)
    expected[LATENCY_BUCKETS_US.index(100)] += 1  # the bound is inclusive (le)
    expected[LATENCY_BUCKETS_US.index(250)] += 1
    expected[-1] += 1
    assert metrics.latency_buckets == expected


def test_metrics_latency_of_days_lands_in_the_last_bucket() -> None:
    metrics = StreamMetrics()

    metrics.latency(3 * 86_400 * 1e6)  # e.g. a past session replayed through a live feed

    assert metrics.latency_buckets[-1] == 1
    assert sum(metrics.latency_buckets) == 1


def test_metrics_snapshot_flattens_counts_dead_letters_rates_and_percentiles() -> None:
    metrics = _metrics()
    metrics.snapshot(T0)
    metrics.count("ticks", 600)

    snapshot = metrics.snapshot(T0 + timedelta(seconds=2))

    assert snapshot["ticks"] == 2_100.0
    assert snapshot["proposals"] == 1.0
    assert snapshot["dead_letters.out_of_order"] == 2.0
    assert snapshot["dead_letters.crossed_book"] == 1.0
    assert snapshot["dead_letters"] == 3.0
    assert snapshot["ticks_per_second"] == 300.0  # 600 ticks in 2 s
    assert snapshot["feed_lag_seconds"] == 0.25
    assert (
        snapshot["tick_to_proposal_p50_us"],
        snapshot["tick_to_proposal_p95_us"],
        snapshot["tick_to_proposal_p99_us"],
    ) == (300.0, 2e6, 2e6)


def test_metrics_first_snapshot_has_no_rate_yet() -> None:
    assert _metrics().snapshot(T0)["ticks_per_second"] == 0.0


def test_metrics_prometheus_text_lines() -> None:
    text = _metrics().prometheus_text("stream-0")

    lines = [line for line in text.splitlines() if not line.startswith("# ")]
    assert text.endswith("\n")
    assert all(_SAMPLE.match(line) for line in lines), lines
    assert 'kitepilot_stream_ticks_total{worker="stream-0"} 1500' in lines
    assert 'kitepilot_stream_proposals_total{worker="stream-0"} 1' in lines
    assert 'kitepilot_stream_dead_letters_total{worker="stream-0",reason="out_of_order"} 2' in lines
    assert 'kitepilot_stream_dead_letters_total{worker="stream-0",reason="crossed_book"} 1' in lines
    assert 'kitepilot_stream_feed_lag_seconds{worker="stream-0"} 0.25' in lines


def test_metrics_prometheus_histogram_is_cumulative_in_seconds_up_to_inf() -> None:
    lines = _metrics().prometheus_text("w").splitlines()

    buckets = [line for line in lines if "_bucket{" in line]
    bounds = [re.search(r'le="([^"]+)"', line).group(1) for line in buckets]  # type: ignore[union-attr]
    counts = [int(line.rsplit(" ", 1)[1]) for line in buckets]
    assert len(buckets) == len(LATENCY_BUCKETS_US)
    assert bounds[0] == "0.0001"  # 100 us
    assert bounds[-1] == "+Inf"
    assert counts == sorted(counts)
    assert counts[-1] == 5
    assert counts[bounds.index("0.0001")] == 1  # 80 us
    assert counts[bounds.index("0.0005")] == 3  # + two of 300 us
