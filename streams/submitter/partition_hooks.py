"""The Faust agent's hooks on one partition's submitter: acks in offset order, room, metrics, exit,
and the chaincode's refusals told to readiness."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable

import faust

from fabric_gateway import GatewayError, Verdict, verdict
from fabric_gateway.classify import chaincode_message
from streams import metrics as m
from streams.submitter.hooks import Hooks
from streams.submitter.record import Record

EXIT_CANNOT_GO_ON = 70  # EX_SOFTWARE: the supervisor (gxctl's watchdog, Kubernetes) restarts it


def exit_now(err: BaseException) -> None:
    """The process cannot go on: exit at once (no Faust shutdown, which would wait on the very
    producer that fails); nothing unfinished was acked, so the restarted worker replays it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_CANNOT_GO_ON)


def ack_through(events: dict[int, faust.EventT], offset: int) -> None:
    """Ack and forget the events below ``offset``, in offset order (``events`` holds them in the
    order taken, which is offset order)."""
    while events:
        first = next(iter(events))
        if first >= offset:
            break
        events.pop(first).ack()


_CODE = re.compile(r"chaincode response \d+, ([A-Z][A-Z0-9_]+):")


def refusal_code(message: str) -> str:
    """The chaincode's own code at the head of its message (FORBIDDEN, ...), else ERROR."""
    found = _CODE.search(message)
    return found.group(1) if found else "ERROR"


class Refusals:
    """The chaincode's refusals that it recorded nowhere (it threw: FORBIDDEN, a bug), shared by the
    partitions, for /readyz: said from the last one until a command commits again or ``window``
    seconds pass without another."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: float = 60.0) -> None:
        self.clock, self.window = clock, window
        self.since_commit = 0
        self.last: float | None = None
        self.message = ""

    def refused(self, message: str) -> None:
        self.since_commit += 1
        self.last, self.message = self.clock(), message

    def committed(self) -> None:
        self.since_commit, self.last = 0, None

    def reason(self) -> str | None:
        """Why the worker is not ready, or None."""
        if self.last is None or self.clock() - self.last > self.window:
            return None
        return (
            f"{self.since_commit} refusals by the chaincode, recorded nowhere, since the last commit; the last "
            f"{self.clock() - self.last:.0f} s ago: {self.message[:300]}. Commands are retried, then dead-lettered "
            "as CHAINCODE_REFUSED: fix the deployment (the submitter's grant, the chaincode), then `gxctl dlq replay`"
        )


class PartitionHooks(Hooks):
    """``events``: the partition's Faust events not acked yet, by offset; ``on_room``: called when
    the backlog shrank; ``on_fatal``: what to do when the worker cannot go on (:func:`exit_now`);
    ``refusals``: where the chaincode's unrecorded refusals are told (readiness)."""

    def __init__(
        self,
        events: dict[int, faust.EventT],
        on_room: Callable[[], None],
        on_fatal: Callable[[BaseException], None],
        refusals: Refusals | None = None,
    ) -> None:
        self.events, self.on_room, self.on_fatal = events, on_room, on_fatal
        self.refusals = refusals or Refusals()

    def done(self, rec: Record) -> None:
        m.IN_FLIGHT.dec()

    def committable(self, offset: int) -> None:
        # Acked strictly in offset order, up to the window's committable offset: Faust's commit is
        # then the window's (streams.submitter.partitions).
        ack_through(self.events, offset)

    def room(self) -> None:
        self.on_room()

    def attempt_failed(self, err: GatewayError, counted: bool) -> None:
        m.ENDORSE_FAILURES.labels(type(err).__name__).inc()
        if counted:
            m.BREAKER_FAILURES.labels("fabric").inc()
        if verdict(err) is Verdict.REFUSED:
            message = chaincode_message(err) or str(err)
            m.CHAINCODE_REFUSALS.labels(refusal_code(message)).inc()
            self.refusals.refused(message)

    def submitted(self) -> None:
        m.TX_SUBMITTED.inc()

    def resubmitted(self) -> None:
        m.TX_RESUBMITTED.inc()

    def committed(self, seconds: float) -> None:
        m.TX_DURATION.observe(seconds)
        self.refusals.committed()

    def fatal(self, err: BaseException) -> None:
        self.on_fatal(err)
