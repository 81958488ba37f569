"""What a partition's submitter tells its owner: acks, back-pressure, metrics, a fatal failure.

One object instead of a callback each. The base class does nothing, so a test overrides only what
it watches; the Faust agent's is streams.submitter.partition_hooks.PartitionHooks. Every method is
called on the event loop, must return at once and must not raise.
"""

from __future__ import annotations

from fabric_gateway import GatewayError
from streams.submitter.record import Record


class Hooks:
    def done(self, rec: Record) -> None:
        """``rec``'s final result (and dead letter) were published; it is finished."""

    def committable(self, offset: int) -> None:
        """The finished prefix grew: ``offset`` (one past it) may now be committed."""

    def room(self) -> None:
        """Records of the backlog were admitted to the window: the owner may take more."""

    def attempt_failed(self, err: GatewayError, counted: bool) -> None:
        """An attempt failed with ``err``; ``counted``: the breaker counted it as an outage."""

    def submitted(self) -> None:
        """A transaction was sent to the orderer."""

    def resubmitted(self) -> None:
        """A transaction was sent again: it was overtaken, or long without its block."""

    def committed(self, seconds: float) -> None:
        """An attempt found the command's transaction committed VALID, ``seconds`` after it started."""

    def fatal(self, err: BaseException) -> None:
        """Final results could not be published for the publish deadline: the process cannot go on."""
