"""The streaming worker's dataflow: feed → (refused at the boundary | keyed per shard of groups
→ candles, features, scores, proposals, exits) → store. Thin wiring: the logic is
``models.live``.

    feed ──► refused? ──yes──────────────────────────────► store (dead letters)
               └─no──► process (keyed by shard) ──────────► store (proposals, exits, ...)
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

__all__ = ["FLOW_ID", "build_flow"]

FLOW_ID = "kitepilot-stream"


def build_flow(
    source: Source[SourceItem],
    sink: Sink[Output],
    runtime: WorkerRuntime,
    *,
    flow_id: str = FLOW_ID,
) -> Dataflow:
    """The dataflow (run it with ``streaming.run``)."""
    flow = Dataflow(flow_id)
    feed = op.input("feed", flow, source)
    split = op.branch("accepted_at_boundary", feed, _accepted)
    refused = cast(Stream[Output], split.falses)  # what the boundary refused: dead letters
    processed = op.stateful_batch(
        "process", split.trues, lambda resume: ShardLogic(runtime, resume)
    )
    results = op.map("unkeyed", processed, _value)
    op.output("store", op.merge("results", refused, results), sink)
    return flow


def _accepted(item: SourceItem) -> TypeGuard[FeedItem]:
    return not isinstance(item, DeadLetter)


def _value(keyed: tuple[str, Output]) -> Output:
    return keyed[1]
