"""The breaker in front of Fabric, shared by every partition, with waiting instead of polling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from gxcommon import logs
from streams.breaker import CircuitBreaker, State

log = logs.get("gx.submitter")


class BreakerGate:
    """Admits attempts as the breaker (streams.breaker) allows, and records their outcomes.

    ``clock`` and ``sleep`` are injectable (tests move a fake clock). While the breaker is open,
    :meth:`acquire` sleeps until its probe time (at most a second at a time); while it is half-open
    with its probe slots taken, waiters sleep on a condition that every recorded outcome notifies.
    Every attempt :meth:`acquire` admitted ends in exactly one of :meth:`success`, :meth:`failure`
    or :meth:`release`.

    A probe is cheap: with ``ready`` (the gateway's channel connected, waited on for at most
    ``probe_wait`` seconds), a half-open probe first waits for the channel, and a channel that does
    not connect is a failed probe with no endorsement sent. :meth:`wake` (the channel connected
    again) makes an open breaker probe at once.
    """

    def __init__(
        self,
        breaker: CircuitBreaker,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        ready: Callable[[float], Awaitable[bool]] | None = None,
        probe_wait: float = 2.0,
    ) -> None:
        self.breaker, self.clock, self.sleep, self.ready, self.probe_wait = breaker, clock, sleep, ready, probe_wait
        self._changed = asyncio.Condition()
        self.unready_probes = 0  # probes failed without an endorsement: the channel did not connect

    async def acquire(self) -> None:
        """Return when an attempt may start (reserving a probe slot when half-open)."""
        while True:
            while not self.breaker.allow(self.clock()):
                if self.breaker.state is State.OPEN:
                    await self.sleep(min(1.0, max(0.05, self.breaker.seconds_until_probe(self.clock()))))
                else:
                    async with self._changed:
                        try:
                            await asyncio.wait_for(self._changed.wait(), 1.0)
                        except TimeoutError:
                            pass
            if self.breaker.state is not State.HALF_OPEN or self.ready is None:
                return
            try:
                connected = await self.ready(self.probe_wait)
            except BaseException:
                self.release()
                raise
            if connected:
                return  # the probe: one attempt
            self.unready_probes += 1
            log.info("breaker probe failed: the gateway's channel is not connected; no endorsement sent")
            await self.failure()

    def wake(self) -> None:
        """The way to Fabric came back (the gateway's channel connected again): probe at once."""
        if self.breaker.state is State.OPEN:
            log.info("the gateway's channel connected again: the breaker probes now")
        self.breaker.probe_now()

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
