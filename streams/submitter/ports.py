"""The submitter's ports: what it needs of the Fabric gateway, of a commit-status source and of the
results' destination. Protocols, so that the core names no transport: production passes
fabric_gateway.Gateway, fabric_gateway.commits.CommitWatcher and streams.submitter.faust_io.FaustSink;
tests pass fakes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from fabric_gateway.client import Endorsed, Status
from schemas.envelopes import CommandResult
from streams.submitter.record import Record


class Gateway(Protocol):
    """The Fabric Gateway's steps, each a separate call (fabric_gateway.Gateway).

    Failures raise fabric_gateway's typed errors (GatewayError and its subclasses).
    """

    async def endorse(self, channel: str, chaincode: str, function: str, args: Sequence[str | bytes] = ...) -> Endorsed:
        """A new transaction, endorsed and signed, with the chaincode's result. EndorseError."""
        ...

    async def submit(self, tx: Endorsed) -> None:
        """Send it to the orderer. SubmitError (the transaction may still have been sent)."""
        ...

    async def commit_status(self, tx: Endorsed | str, channel: str | None = ..., timeout: float | None = ...) -> Status:
        """Wait for its commit: validation code and block. CommitStatusError (DEADLINE_EXCEEDED
        when it has not committed within ``timeout``)."""
        ...


class CommitWaiter(Protocol):
    """One expected transaction's commit (fabric_gateway.commits.Waiter)."""

    def submitted(self) -> None:
        """The transaction was just sent (the order it is expected in, against later ones)."""
        ...

    async def wait(
        self,
        timeout: float,
        resubmit: Callable[[], Awaitable[None]] | None = None,
        resubmit_after: float = 20.0,
    ) -> Status:
        """Its validation code and block, ``resubmit`` awaited when it is overtaken or long
        without its block. CommitStatusError (DEADLINE_EXCEEDED) after ``timeout``."""
        ...

    def close(self) -> None:
        """Done with it, answered or not."""
        ...


class CommitSource(Protocol):
    """Commit statuses read once for all transactions (fabric_gateway.commits.CommitWatcher)."""

    def expect(self, tx_id: str) -> CommitWaiter:
        """Register ``tx_id`` before it is submitted, so its block cannot pass unseen."""
        ...


class ResultsSink(Protocol):
    """Where results and dead letters go. A dead letter or a final result returns only once
    delivered; a progress (SUBMITTED) result may return before. Each raises when it cannot deliver."""

    async def result(self, key: bytes, result: CommandResult) -> None: ...

    async def dead_letter(self, record: Record, reason: str, error_code: str, attempts: int) -> None: ...
