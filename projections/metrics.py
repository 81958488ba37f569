"""The projectors' Prometheus metrics, one label value per projection group."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram

from projections.model import Prepared

EVENTS = Counter("projector_events_processed", "Events folded into read models", ["projector", "event_type"])
ERRORS = Counter("projector_processing_errors", "Events dead-lettered", ["projector", "error_type"])
BATCH_SECONDS = Histogram(
    "projector_event_processing_duration_seconds",
    "One batch: write and commit",
    ["projector"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)
LAG_MS = Gauge(
    "projection_lag_milliseconds", "Commit of the newest event in the last batch to its projection", ["projector"]
)
CHECKPOINT_BLOCK = Gauge("projector_checkpoint_block_number", "Ledger block of the last checkpoint", ["projector"])
CHECKPOINT_EVENT = Gauge("projector_checkpoint_event_index", "Event index of the last checkpoint", ["projector"])
CHECKPOINT_OFFSET = Gauge("projector_checkpoint_offset", "Last applied offset", ["projector", "partition"])
BATCH_RETRIES = Gauge(
    "projector_batch_retries",
    "Failed attempts in a row at writing the same batch (about the database, not a record); 0 once written",
    ["projector"],
)
GAP_RECORDS = Counter("projector_gap_records_replayed", "Records read back because a checkpoint moved", ["projector"])


def observe(name: str, done: Prepared) -> None:
    """Count a batch written by projector ``name``."""
    for event_type, n in done.applied.items():
        EVENTS.labels(name, event_type).inc(n)
    for d in done.dead:
        ERRORS.labels(name, d.code).inc()
    for p, off in done.last_offset.items():
        CHECKPOINT_OFFSET.labels(name, str(p)).set(off)
    if done.position:
        block, _, idx = max(done.position.values())
        CHECKPOINT_BLOCK.labels(name).set(block)
        CHECKPOINT_EVENT.labels(name).set(idx)
    if done.last_commit_ms is not None:
        LAG_MS.labels(name).set(max(0.0, time.time() * 1000 - done.last_commit_ms))
