"""The breaker in front of Fabric, shared by every partition, with waiting instead of polling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from streams.breaker import CircuitBreaker, State


class BreakerGate:
    """Admits attempts as the breaker (streams.breaker) allows, and records their outcomes.

    ``clock`` and ``sleep`` are injectable (tests move a fake clock). While the breaker is open,
    :meth:`acquire` sleeps until its probe time (at most a second at a time); while it is half-open
    with its probe slots taken, waiters sleep on a condition that every recorded outcome notifies.
    Every attempt :meth:`acquire` admitted ends in exactly one of :meth:`success`, :meth:`failure`
    or :meth:`release`.
    """

    def __init__(
        self, breaker: CircuitBreaker, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self.breaker, self.clock, self.sleep = breaker, clock, sleep
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        """Return when an attempt may start (reserving a probe slot when half-open)."""
        while not self.breaker.allow(self.clock()):
            if self.breaker.state is State.OPEN:
                await self.sleep(min(1.0, max(0.05, self.breaker.seconds_until_probe(self.clock()))))
            else:
                async with self._changed:
                    try:
                        await asyncio.wait_for(self._changed.wait(), 1.0)
                    except TimeoutError:
                        pass

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def success(self) -> None:
        """Fabric answered (a commit, or any answer that is not an outage)."""
        self.breaker.record_success(self.clock())
        await self._notify()

    async def failure(self) -> None:
        """An outage: Fabric unreachable or failing."""
        self.breaker.record_failure(self.clock())
        await self._notify()

    def release(self) -> None:
        """The attempt ended without an answer (cancelled, or failed outside Fabric)."""
        self.breaker.release()

    @property
    def open(self) -> bool:
        return self.breaker.state is State.OPEN
