"""The Faust agent's hooks on one partition's submitter: acks in offset order, room, metrics, exit."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

import faust

from fabric_gateway import GatewayError
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


class PartitionHooks(Hooks):
    """``events``: the partition's Faust events not acked yet, by offset; ``room``: set when the
    backlog shrank; ``on_fatal``: what to do when the worker cannot go on (:func:`exit_now`)."""

    def __init__(
        self, events: dict[int, faust.EventT], room: asyncio.Event, on_fatal: Callable[[BaseException], None]
    ) -> None:
        self.events, self.room_event, self.on_fatal = events, room, on_fatal

    def done(self, rec: Record) -> None:
        m.IN_FLIGHT.dec()

    def committable(self, offset: int) -> None:
        # Acked strictly in offset order, up to the window's committable offset: Faust's commit is
        # then the window's (streams.submitter.partitions).
        ack_through(self.events, offset)

    def room(self) -> None:
        self.room_event.set()

    def attempt_failed(self, err: GatewayError, counted: bool) -> None:
        m.ENDORSE_FAILURES.labels(type(err).__name__).inc()
        if counted:
            m.BREAKER_FAILURES.labels("fabric").inc()

    def submitted(self) -> None:
        m.TX_SUBMITTED.inc()

    def committed(self, seconds: float) -> None:
        m.TX_DURATION.observe(seconds)

    def fatal(self, err: BaseException) -> None:
        self.on_fatal(err)
