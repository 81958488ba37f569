"""The circuit breaker in front of Fabric: a pure state machine with an injected clock.

CLOSED: attempts flow; ``failure_threshold`` consecutive transient failures open it.
OPEN: no attempts (the agent pauses its partitions instead of burning attempts); after a probe
delay it lets probes through (HALF_OPEN). The first delay of an outage is ``first_probe_delay``
(about a second), each failed probe doubles it, up to ``max_probe_delay``; each is jittered by up
to a fifth either way (``rand``), so the workers of a fleet do not probe in step. A one-second
blip so costs about a second; a Fabric that stays down is asked about once a minute.
HALF_OPEN: up to ``half_open_probes`` attempts at once; ``success_threshold`` successes close it
(and the next outage starts from ``first_probe_delay`` again), one transient failure opens it again.
:meth:`probe_now` (the gateway's channel connected again) makes an open breaker probe at once and
start its delays over: a peer back after a long outage is not left waiting for a minute.

Only transient failures that say Fabric is unreachable or slow (UNAVAILABLE, DEADLINE_EXCEEDED,
RESOURCE_EXHAUSTED, an unknown commit status) count. Any other answer (a chaincode rejection, a
permission or policy error, an MVCC conflict) is Fabric answering: it counts as a success for
the breaker, so business errors never trip it.

Every attempt that :meth:`allow` admitted must end in exactly one of :meth:`record_success`,
:meth:`record_failure` or :meth:`release` (an attempt abandoned without an answer, e.g. cancelled
on a rebalance): otherwise a half-open breaker would keep its probe slot reserved for ever.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class State(Enum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    max_probe_delay: float = 60.0
    success_threshold: int = 2
    half_open_probes: int = 1
    first_probe_delay: float = 1.0
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        self.state = State.CLOSED
        self._failures = 0
        self._successes = 0
        self._opened_at = 0.0
        self._probes = 0
        self._reopens = 0  # failed probes since the breaker last closed
        self._delay = 0.0  # the current probe delay (jittered)

    def allow(self, now: float) -> bool:
        """May an attempt start now? (Reserves a probe slot when half-open.)"""
        if self.state is State.OPEN and now - self._opened_at >= self._delay:
            self.state, self._successes, self._probes = State.HALF_OPEN, 0, 0
        if self.state is State.CLOSED:
            return True
        if self.state is State.HALF_OPEN and self._probes < self.half_open_probes:
            self._probes += 1
            return True
        return False

    def record_success(self, now: float) -> None:
        if self.state is State.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            self._successes += 1
            if self._successes >= self.success_threshold:
                self.state, self._failures, self._reopens = State.CLOSED, 0, 0
        else:
            self._failures = 0

    def release(self) -> None:
        """An admitted attempt ended without an answer: give its probe slot back."""
        if self.state is State.HALF_OPEN:
            self._probes = max(0, self._probes - 1)

    def record_failure(self, now: float) -> None:
        """A transient failure. Returns nothing; check ``state``."""
        if self.state is State.HALF_OPEN:
            self._reopens += 1
            self._open(now)
            return
        self._failures += 1
        if self.state is State.CLOSED and self._failures >= self.failure_threshold:
            self._open(now)

    def _open(self, now: float) -> None:
        self.state, self._opened_at, self._probes, self._successes = State.OPEN, now, 0, 0
        self._delay = probe_delay(self._reopens, self.first_probe_delay, self.max_probe_delay, self.rand())

    def probe_now(self) -> None:
        """The way to Fabric came back (the gateway's channel is connected again): an open breaker
        lets its next probe through at once, and backs off from ``first_probe_delay`` again if it
        fails. A half-open or closed breaker is left as it is."""
        if self.state is State.OPEN:
            # -1: the probe this lets through, if it fails, counts as the outage's first opening.
            self._reopens, self._delay = -1, 0.0

    def seconds_until_probe(self, now: float) -> float:
        return max(0.0, self._delay - (now - self._opened_at)) if self.state is State.OPEN else 0.0


def probe_delay(failed_probes: int, first: float, cap: float, rand: float) -> float:
    """Seconds from the breaker opening to its next probe: ``first`` doubled per failed probe,
    jittered by ``rand`` (0..1) within a fifth either way, never above ``cap``."""
    return round(min(cap, first * 2.0 ** min(failed_probes, 30) * (0.8 + 0.4 * rand)), 6)
