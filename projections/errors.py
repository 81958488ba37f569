"""The projections package's errors: one root, leaves that carry where it happened."""

from __future__ import annotations

from gxerrors import GxError


class ProjectionError(GxError):
    """Root of every error raised by projections/."""


class CheckpointMoved(ProjectionError):
    """The stored checkpoints are not where the batch assumed (a rebuild swapped tables, the
    database was restored, another instance applied the partition). Nothing was written."""

    def __init__(self, topic: str, stored: dict[int, int]) -> None:
        self.topic = topic
        self.stored = stored
        super().__init__(f"{topic}: checkpoints moved to {stored}")


class GapReadError(ProjectionError):
    """Records between a checkpoint and a batch could not be read back from Kafka."""

    def __init__(self, topic: str, partition: int, start: int, end: int, problem: str) -> None:
        self.topic, self.partition, self.start, self.end = topic, partition, start, end
        super().__init__(f"{topic}[{partition}] offsets {start}..{end - 1}: {problem}")


class WaitTimeout(ProjectionError):
    """A read-your-writes wait ran out of time; says what was still missing."""


class WaitDeadLettered(ProjectionError):
    """A read-your-writes wait found events of the command dead-lettered (or never published):
    the read models lack them. ``result`` is the wait's result, ``deadLettered`` naming them."""

    def __init__(self, message: str, result: object) -> None:
        self.result = result
        super().__init__(message)


class WaitError(ProjectionError):
    """A read-your-writes wait cannot start (no outbox row and no tenant to find the command by)."""


class RebuildError(ProjectionError):
    """A rebuild could not finish; the live tables are untouched."""


class VerifyError(ProjectionError):
    """The ledger or the read models could not be read for a comparison."""
