"""The workers `gxctl up` runs beside the stack: their names, which ones each mode runs, their ports.

Read by the pipeline (stack.pipeline), which starts them, and by Prometheus' configuration
(stack.prometheus), which scrapes them.
"""

from __future__ import annotations

from stack.settings import StackSettings

# Every worker `up` may start; each gets the web port worker_port_base + its index here.
WORKERS: tuple[str, ...] = (
    "results-writer",
    "submitter",
    "block-publisher",
    "projectors",
    "projector-identity",
    "projector-ledger",
    "projector-organizations",
    "projector-governance",
    "projector-loans",
    "projector-system",
)


def workers_for(secure: bool) -> tuple[str, ...]:
    """The workers `up` starts, in order: the projection groups in one process (`projectors`),
    or, in the secure mode, one per group (each its own Kafka principal and Postgres role)."""
    if secure:
        return tuple(w for w in WORKERS if w != "projectors")
    return tuple(w for w in WORKERS if not w.startswith("projector-"))


def ports(s: StackSettings) -> dict[str, int]:
    """Every worker's web port (StackSettings.worker_port_base + its index)."""
    return {name: s.worker_port_base + i for i, name in enumerate(WORKERS)}
