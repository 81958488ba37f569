"""Results out: a final result (and its dead letter) retried until delivered, progress best-effort."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gxcommon import logs
from streams.submitter import results
from streams.submitter.hooks import Hooks
from streams.submitter.ports import ResultsSink
from streams.submitter.record import Final, Record
from streams.submitter.state import AttemptState

log = logs.get("gx.submitter")


@dataclass
class Publisher:
    """Publishes one partition's results through ``sink``.

    A final result is retried with backoff (from a quarter second up to three times ``max_delay``,
    jittered) for as long as it fails, holding its command's slot. Once one has failed for
    ``deadline`` seconds, ``hooks.fatal`` is called with the error (the worker exits), and the
    retries go on until the process ends.
    """

    sink: ResultsSink
    hooks: Hooks
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    rand: Callable[[], float]
    max_delay: float = 10.0
    deadline: float = 300.0
    progress_results: bool = False  # publish a SUBMITTED result after each send
    failures: int = 0  # failed attempts to publish a final result, since start
    _unpublished: dict[int, float] = field(default_factory=dict)  # offset -> first failure's time

    def stalled(self) -> float:
        """Seconds since the oldest final result that still cannot be published first failed (0: none)."""
        return self.clock() - min(self._unpublished.values()) if self._unpublished else 0.0

    async def final(self, rec: Record, final: Final) -> None:
        """Publish the dead letter (if any), then the final result; return once both are out.
        Never raises but CancelledError."""
        failures, dead_letter, r = 0, final.dead_letter, final.result
        while True:
            try:
                if dead_letter:
                    await self.sink.dead_letter(rec, r.error or "", r.errorCode or "", r.attempts)
                    dead_letter = False
                await self.sink.result(rec.key or r.key.encode(), r)
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                failures += 1
                await self._failed(rec, r.requestId, failures, e)
        if self._unpublished.pop(rec.offset, None) is not None:
            log.info("final result published after failures", requestId=r.requestId, failures=failures)
        log.info(
            "final",
            status=r.status.value,
            txId=r.fabricTxId,
            block=r.commitBlock,
            errorCode=r.errorCode,
            attempts=r.attempts,
            requestId=r.requestId,
            partition=rec.partition,
            offset=rec.offset,
        )

    async def _failed(self, rec: Record, request_id: str, failures: int, e: Exception) -> None:
        """Count and log the ``failures``-th failure to publish ``rec``'s result; past the deadline
        say that the process cannot go on; then wait before the next try."""
        self.failures += 1
        first = self._unpublished.setdefault(rec.offset, self.clock())
        log.warning(
            "final result not published, retrying",
            requestId=request_id,
            partition=rec.partition,
            offset=rec.offset,
            failures=failures,
            error=f"{type(e).__name__}: {e}"[:300],
        )
        if self.clock() - first >= self.deadline:
            log.critical(
                "final results cannot be published; the worker cannot go on",
                seconds=round(self.clock() - first),
                error=f"{type(e).__name__}: {e}"[:300],
            )
            self.hooks.fatal(e)
        await self.sleep(min(self.max_delay * 3, 0.25 * 2 ** min(failures, 7)) * (0.5 + self.rand() / 2))

    async def progress(self, state: AttemptState, tx_id: str) -> None:
        """After ``tx_id`` was sent: the SUBMITTED result, if progress results are on. Progress
        only, so a failure to publish it is logged, never raised."""
        ctx = state.command.ctx
        log.debug("submitted", txId=tx_id, attempt=state.attempt, **ctx)
        if not self.progress_results:
            return
        try:
            await self.sink.result(state.command.key, results.progress(state, tx_id, datetime.now(UTC)))
        except Exception as e:
            log.warning("SUBMITTED result not published", error=f"{type(e).__name__}: {e}", **ctx)
