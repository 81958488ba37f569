"""The Faust agent's state: one PartitionSubmitter per assigned partition of gx.commands and of
gx.commands.direct (the direct path: gxsdk.produce; see streams.submitter.permissions).

- Commits: the partition's window alone decides the committed offset. Commands finish in any
  order, but their Faust events are acked strictly in offset order, only up to the window's
  committable offset (one past the finished prefix). faust-streaming 0.15.3 commits the end of
  the first run of acked offsets and checks a gap at the head with an off-by-one (with 10
  committed and 11-13 acked it commits 14 while 10 is in flight), so acking out of order lost
  commands on a crash; acking in order makes its commit exactly the window's.
- Revocation and shutdown are bounded: the app runs with ``stream_wait_empty=False`` (Faust would
  otherwise wait, without a deadline, for every taken record before revoking: with Fabric down
  nothing finishes and the member is evicted while it still holds commands). On revocation the
  partition's commands in flight are cancelled (within ``revoke_timeout``), then its exact
  committable offset is committed before the partition goes; the next owner resumes from there.
  A partition assigned again gets a new submitter, so an old completion can never ack a new event.
- Back-pressure per partition: each window admits commands up to its uncommitted span; beyond it
  records wait in that partition's backlog. When one partition's backlog reaches ``backlog_cap``
  that partition alone stops fetching (streams.submitter.faust_io.stop_fetching: Faust's own
  per-partition flow control); the agent never waits, so the other partitions go on. What Faust
  already fetched of it is still taken, so the cap is soft (by Faust's stream buffer and one fetch
  batch). Once its backlog is down to half the cap it fetches again, from where it stopped.
  Never ``pause_partitions``: faust-streaming 0.15.3 drops the records of a fetched batch whose
  partition was paused meanwhile, then takes the hole for a gap it counts as acked.
- The breaker: one for Fabric, shared by every partition. While it is open nothing is attempted;
  records already taken wait in windows and backlogs. The gateway's channel connecting again
  (the peer back) makes it probe at once (streams.submitter.gate.BreakerGate.wake).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import faust
from faust.types import TP

from fabric_gateway import Identity, Signer
from gxcommon import logs
from gxcommon.fabric_settings import FabricSettings
from streams import metrics as m
from streams.outcome import RetryPolicy
from streams.submitter.connection import FabricConnection
from streams.submitter.faust_io import FaustSink, commit_exactly, fetch_again, record_of, stop_fetching
from streams.submitter.gate import BreakerGate
from streams.submitter.partition import PartitionSubmitter
from streams.submitter.partition_hooks import PartitionHooks, Refusals, exit_now
from streams.window import SubmitWindow

log = logs.get("gx.submitter")


def tp_of(event: faust.EventT) -> TP:
    """The topic and partition of ``event``'s record."""
    return TP(event.message.topic, event.message.partition)


class Submitters:
    """``window``: commands in flight per partition; ``span``: a window's uncommitted span;
    ``backlog_cap``: records one partition's backlog holds before that partition is paused."""

    def __init__(
        self,
        app: faust.App,
        sink: FaustSink,
        f: FabricSettings,
        identity: Identity,
        signer: Signer,
        window: int,
        gate: BreakerGate,
        policy: RetryPolicy,
        backlog_cap: int = 1000,
        span: int = 5000,
        topics: tuple[str, ...] = ("gx.commands",),
        direct_topic: str | None = None,
        resubmit_after: float = 20.0,
        revoke_timeout: float = 10.0,
        publish_deadline: float = 300.0,
        on_fatal: Callable[[BaseException], None] = exit_now,
        progress: bool = False,
        commit_stream: bool = True,
        service_check: bool = False,
    ) -> None:
        self.app, self.sink, self.f, self.window, self.gate, self.policy = app, sink, f, window, gate, policy
        self.span, self.topics, self.revoke_timeout = span, topics, revoke_timeout
        self.direct_topic, self.resubmit_after = direct_topic, resubmit_after
        self.publish_deadline, self.on_fatal, self.progress = publish_deadline, on_fatal, progress
        self.backlog_cap, self.service_check = backlog_cap, service_check
        # The gateway's channel connecting again (the peer back) wakes an open breaker at once.
        self.fabric = FabricConnection(f, identity, signer, commit_stream, on_connected=gate.wake)
        # Keyed by topic and partition: partition 0 of gx.commands and of gx.commands.direct are two.
        self.subs: dict[TP, PartitionSubmitter] = {}
        self.events: dict[TP, dict[int, faust.EventT]] = {}
        self.paused: set[TP] = set()  # partitions not fetched: their backlog reached its cap
        self.breaker_open = False
        self.last_offset: dict[TP, int] = {}  # per partition, the last offset taken this assignment
        self.internal_errors_seen = 0  # of submitters already gone (revoked), for the counter
        self.refusals = Refusals()  # the chaincode's unrecorded refusals, for /readyz

    def submitter(self, tp: TP) -> PartitionSubmitter:
        """The partition's submitter, made on its first record of this assignment."""
        sub = self.subs.get(tp)
        if sub is None:
            gateway = self.fabric.open()
            events: dict[int, faust.EventT] = {}
            sub = PartitionSubmitter(
                gateway,
                self.sink,
                self.f.channel,
                self.f.chaincode,
                SubmitWindow(self.window, span=self.span),
                gate=self.gate,
                policy=self.policy,
                hooks=PartitionHooks(events, functools.partial(self._room, tp), self.on_fatal, self.refusals),
                publish_deadline=self.publish_deadline,
                progress=self.progress,
                commits=self.fabric.commits,
                commit_timeout=gateway.timeouts.commit_status,
                resubmit_after=self.resubmit_after,
                service_check=self.service_check,
                direct=tp.topic == self.direct_topic,
            )
            self.subs[tp], self.events[tp] = sub, events
        return sub

    def backlog(self) -> int:
        return sum(sub.backlog for sub in self.subs.values())

    def internal_errors(self) -> int:
        return self.internal_errors_seen + sum(sub.internal_errors for sub in self.subs.values())

    def stalled(self) -> float:
        """Seconds for which some final result has failed to publish (0: none)."""
        return max((sub.stalled() for sub in self.subs.values()), default=0.0)

    async def take(self, event: faust.EventT) -> None:
        """Hand one record to its partition's submitter. Never waits: when that partition's backlog
        is at its cap, the partition stops fetching (again, if Faust let it fetch meanwhile)."""
        sub = self.offer(event)
        if sub is not None and sub.backlog >= self.backlog_cap:
            self._pause(tp_of(event), sub.backlog)

    def offer(self, event: faust.EventT) -> PartitionSubmitter | None:
        """Register ``event`` and offer its record to its partition's submitter (which never raises
        for what a record holds). None, with nothing registered, for a record at or below the last
        offset taken of its partition in this assignment (offsets only move forward; a window
        refuses one that does not)."""
        msg, tp = event.message, tp_of(event)
        last = self.last_offset.get(tp)
        if last is not None and msg.offset <= last:
            log.warning(
                "record delivered again; already taken",
                topic=tp.topic,
                partition=tp.partition,
                offset=msg.offset,
                last=last,
            )
            return None
        rec = record_of(msg)
        sub = self.submitter(tp)
        self.events[tp][msg.offset] = event
        self.last_offset[tp] = msg.offset
        m.IN_FLIGHT.inc()
        sub.offer(rec)  # False: it waits in the partition's backlog
        return sub

    def _pause(self, tp: TP, backlog: int) -> None:
        stop_fetching(self.app.consumer, tp)  # every time: Faust may have let it fetch
        if tp not in self.paused:
            self.paused.add(tp)
            m.PARTITION_PAUSES.inc()
            m.PARTITIONS_PAUSED.set(len(self.paused))
            log.info(
                "partition paused: its backlog is full",
                topic=tp.topic,
                partition=tp.partition,
                backlog=backlog,
                cap=self.backlog_cap,
            )

    def _room(self, tp: TP) -> None:
        """Partition ``tp``'s backlog shrank (its submitter's hook; the watcher asks too): a paused
        partition fetches again once its backlog is down to half the cap."""
        sub = self.subs.get(tp)
        if tp not in self.paused or sub is None or sub.backlog > self.backlog_cap // 2:
            return
        fetch_again(self.app.consumer, tp)
        self.paused.discard(tp)
        m.PARTITION_RESUMES.inc()
        m.PARTITIONS_PAUSED.set(len(self.paused))
        log.info("partition resumed", topic=tp.topic, partition=tp.partition, backlog=sub.backlog)

    async def revoke(self, partitions: set[TP]) -> None:
        """Cancel the partitions' commands (bounded by ``revoke_timeout``), then commit each one's
        exact committable offset while this member still owns it."""
        offsets: dict[TP, int] = {}
        for tp in partitions:
            sub = self.subs.pop(tp, None)
            unfinished = self.events.pop(tp, {})
            self.last_offset.pop(tp, None)
            self.paused.discard(tp)  # a rebalance sets every assigned partition fetching again
            if sub is None:
                continue
            try:
                await asyncio.wait_for(sub.close(), self.revoke_timeout)
            except TimeoutError:
                log.error(
                    "commands still running after the revocation deadline",
                    topic=tp.topic,
                    partition=tp.partition,
                    seconds=self.revoke_timeout,
                )
            self.internal_errors_seen += sub.internal_errors
            m.IN_FLIGHT.dec(len(unfinished))
            if (c := sub.committable()) is not None:
                offsets[tp] = c
            log.info(
                "partition revoked", topic=tp.topic, partition=tp.partition, unfinished=len(unfinished), committed=c
            )
        m.PARTITIONS_PAUSED.set(len(self.paused))
        if offsets:
            await self._commit(offsets)

    async def _commit(self, offsets: dict[TP, int]) -> None:
        """Commit exactly ``offsets``. A failure is logged: the next owner then replays a little more."""
        try:
            await self.app.producer.flush()  # results before the offsets that say they are done
            ok = await commit_exactly(self.app.consumer, offsets)
        except Exception as e:
            log.warning(
                "commit on revocation failed; the next owner replays from the last commit",
                error=f"{type(e).__name__}: {e}",
            )
            return
        log.info(
            "committed on revocation", offsets={f"{tp.topic}:{tp.partition}": o for tp, o in offsets.items()}, ok=ok
        )

    def watch(self, assigned: set[TP]) -> None:
        """Breaker state, lag and internal errors, every half second."""
        open_ = self.gate.open
        m.BREAKER_STATE.labels("fabric").set(self.gate.breaker.state.value)
        if open_ != self.breaker_open:
            log.warning(
                "circuit breaker open: nothing is attempted" if open_ else "circuit breaker probing or closed",
                backlog=self.backlog(),
            )
            self.breaker_open = open_
        m.BACKLOG.set(self.backlog())
        for tp in list(self.paused):
            self._room(tp)
        for tp in assigned:
            try:
                high = self.app.consumer.highwater(tp)
            except Exception:  # not fetched yet
                continue
            if high is not None:
                lag = max(0, high - self.last_offset.get(tp, -1) - 1)
                m.CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)
        m.INTERNAL_ERRORS.set(self.internal_errors())
        m.PUBLISH_STALLED.set(self.stalled())

    async def close(self) -> None:
        """Revoke every partition (committing each exactly), then close the connection to Fabric."""
        await self.revoke(set(self.subs))
        await self.fabric.close()
