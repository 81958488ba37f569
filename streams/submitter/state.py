"""One command's attempts so far: the value every step of streams.submitter.process reads and moves.

Its transitions are pure (no I/O, no clock), each a method below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from fabric_gateway import GatewayError, Status, Verdict
from schemas.envelopes import Attempt
from streams.submitter.answer import Answer
from streams.submitter.command import Command


@dataclass(frozen=True)
class Sent:
    """A transaction of the command sent to the orderer, with the answer its endorsement carried."""

    tx_id: str
    answer: Answer


@dataclass(frozen=True)
class Found:
    """A transaction of the command found committed (validly or not), and the answer to report."""

    status: Status
    answer: Answer


@dataclass
class AttemptState:
    command: Command
    attempt: int = 0  # attempts begun: the result's ``attempts``
    charged: int = 0  # attempts counted against the policy's max_attempts
    conflicts: int = 0  # MVCC and phantom conflicts, counted against max_conflicts instead
    # Transactions sent to the orderer, oldest first, whose fate is not known invalid.
    sent: list[Sent] = field(default_factory=list)
    # A send or a status read failed: a transaction of ``sent`` may have committed anyway, so it
    # is asked for before another one is endorsed.
    unsure: bool = False
    submitted_at: datetime | None = None  # when the last transaction was sent
    last_error: GatewayError | None = None  # of the last failed attempt
    log: list[Attempt] = field(default_factory=list)  # the attempt log the final result carries

    def begin(self) -> None:
        """A new attempt, charged until a failure says otherwise (:meth:`charge`)."""
        self.attempt += 1
        self.charged += 1

    def sending(self, tx_id: str, answer: Answer) -> None:
        """Transaction ``tx_id`` is about to be sent: from now on it may commit."""
        self.sent.append(Sent(tx_id, answer))
        self.unsure = True

    def settled(self) -> None:
        """The fate of the transactions sent so far was read: nothing is in doubt."""
        self.unsure = False

    def drop(self, tx_id: str) -> None:
        """``tx_id`` committed invalid: it can never apply the command."""
        self.sent = [s for s in self.sent if s.tx_id != tx_id]

    def newest_first(self) -> list[Sent]:
        return self.sent[::-1]

    def charge(self, verdict: Verdict, breaker_open: bool) -> None:
        """Account for the failed attempt just begun. An outage with the breaker open says nothing
        about the command, and a conflict has a budget of its own: neither is charged."""
        if verdict.outage and breaker_open:
            self.charged -= 1
        if verdict is Verdict.CONFLICT:
            self.conflicts += 1
            self.charged -= 1
