"""The streaming worker's dataflow: feed → (refused at the boundary | keyed per shard of groups
→ candles, features, scores, proposals, exits) → store. Thin wiring: the logic is
``models.live``.

    feed ──► refused? ──yes──────────────────────────────► store (dead letters)
               └─no──► process (keyed by shard) ──────────► store (proposals, exits, ...)

The store is a partitioned sink keyed by shard (``streaming.sinks``): its writes run off the
flow's thread and each epoch ends only when they are done.
"""

from __future__ import annotations

from typing import TypeGuard, cast

from bytewax import operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.outputs import Sink

from data_contracts.feed import DeadLetter
from execution.replay_feed import FeedItem
from models.live import Output
from streaming.sources import SourceItem
from streaming.step import ShardLogic, WorkerRuntime

__all__ = ["BOUNDARY_KEY", "FLOW_ID", "build_flow"]

FLOW_ID = "kitepilot-stream"
BOUNDARY_KEY = "boundary"  # the sink's key of what the boundary refused


def build_flow(
    source: Source[SourceItem],
    sink: Sink[tuple[str, Output]],
    runtime: WorkerRuntime,
    *,
    flow_id: str = FLOW_ID,
) -> Dataflow:
    """The dataflow (run it with ``streaming.run``)."""
    flow = Dataflow(flow_id)
    feed = op.input("feed", flow, source)
    # (shard, tick | clock mark) | dead letter
    split = op.branch("accepted_at_boundary", feed, _accepted)
    refused = op.key_on("refused_keyed", cast(Stream[Output], split.falses), _boundary)
    # ("boundary", dead letter): what the boundary refused
    processed = op.stateful_batch(
        "process", split.trues, lambda resume: ShardLogic(runtime, resume)
    )
    # (shard, dead letter | feature row | scored point | proposal | exit | suppressed)
    op.output("store", op.merge("results", refused, processed), sink)
    return flow


def _accepted(item: SourceItem) -> TypeGuard[FeedItem]:
    return not isinstance(item, DeadLetter)


def _boundary(_letter: Output) -> str:
    return BOUNDARY_KEY
