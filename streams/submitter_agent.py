"""The submitter as a Faust agent: gx.commands -> Fabric -> gx.command-results (+ gx.commands.dlq).

One PartitionSubmitter (streams/submitter.py) per assigned partition, each with its own map from
offsets to Faust events.

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
  records wait in that partition's backlog. Only when one partition's backlog reaches
  ``backlog_cap`` does the agent stop taking records (Faust's buffer fills and it stops fetching).
  Partitions are never paused through Faust: faust-streaming 0.15.3 drops records already fetched
  for a partition paused before they are handed over, then fills the hole as if it were acked.
- The breaker: one for Fabric, shared by every partition. While it is open nothing is attempted;
  records already taken wait in windows and backlogs.
- A final result that cannot be published is retried (holding its slot); when it keeps failing
  for ``publish_deadline`` seconds the process exits (status 70) to be restarted.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import faust
import grpc
from faust.types import TP

from fabric_gateway import Gateway, Identity, Signer, load_identity
from fabric_gateway.commits import CommitWatcher
from gxcommon import logs, web
from gxcommon.dlq import dead_letter_headers
from gxcommon.fabric_settings import FabricSettings
from schemas.envelopes import CommandResult
from streams import metrics as m
from streams.breaker import CircuitBreaker, State
from streams.outcome import RetryPolicy
from streams.submitter import BreakerGate, PartitionSubmitter, Record
from streams.window import SubmitWindow

log = logs.get("gx.submitter")

EXIT_CANNOT_GO_ON = 70  # EX_SOFTWARE: the supervisor (gxctl's watchdog, Kubernetes) restarts it


class FaustSink:
    """Results and dead letters through the app's producer; final ones are awaited until delivered."""

    def __init__(self, results: faust.TopicT, dlq: faust.TopicT) -> None:
        self.results, self.dlq = results, dlq

    async def result(self, key: bytes, result: CommandResult) -> None:
        # force=True: never attach the send to whichever Faust event happens to be current.
        fut = await self.results.send(key=key, value=result.model_dump_json().encode(), force=True)
        if not result.status.final:
            return
        await fut  # delivered before the command's record can be acked
        m.COMMANDS_PROCESSED.labels(result.status.value).inc()
        if result.attempts:
            m.ATTEMPTS.observe(result.attempts)
        if result.timings.durationMs is not None:
            m.COMMAND_DURATION.observe(result.timings.durationMs / 1000)

    async def dead_letter(self, record: Record, reason: str, error_code: str, attempts: int) -> None:
        # The original headers (id, commandType, requestId, tenantId, service) stay, so that
        # `gxctl dlq replay` can re-send the record as it was; ours say why and from where.
        headers = dict(record.headers) | dead_letter_headers(
            reason, error_code, record.topic, record.partition, record.offset, attempts
        )
        await (await self.dlq.send(key=record.key, value=record.value, headers=headers, force=True))
        m.DEAD_LETTERS.labels(error_code).inc()


def _stream_broke(err: BaseException, seconds: float) -> None:
    m.COMMIT_STREAM_BREAKS.inc()
    log.warning(
        "commit status stream broke; commands wait for its return (or ask per transaction)",
        error=f"{type(err).__name__}: {err}"[:300],
        retry_in_s=round(seconds, 2),
    )


def exit_now(err: BaseException) -> None:
    """The process cannot go on: exit at once (no Faust shutdown, which would wait on the very
    producer that fails); nothing unfinished was acked, so the restarted worker replays it."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_CANNOT_GO_ON)


class Submitters:
    """The agent's state: one submitter per assigned partition, the backlog caps, the shared gateway."""

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
        topic: str = "gx.commands",
        revoke_timeout: float = 10.0,
        publish_deadline: float = 300.0,
        on_fatal: Any = exit_now,
        progress: bool = False,
        commit_stream: bool = True,
    ) -> None:
        self.app, self.sink, self.f = app, sink, f
        self.identity, self.signer, self.window, self.gate, self.policy = identity, signer, window, gate, policy
        self.span, self.topic, self.revoke_timeout = span, topic, revoke_timeout
        self.publish_deadline, self.on_fatal, self.progress = publish_deadline, on_fatal, progress
        self.subs: dict[int, PartitionSubmitter] = {}
        self.events: dict[int, dict[int, faust.EventT]] = {}
        self.backlog_cap = backlog_cap
        self.room = asyncio.Event()  # set whenever a backlog shrank (or a partition went)
        self.breaker_open = False
        self.channel: grpc.aio.Channel | None = None
        self.gateway: Gateway | None = None
        self.commit_stream = commit_stream
        self.commits: CommitWatcher | None = None
        self.last_offset: dict[int, int] = {}
        self.internal_errors_seen = 0  # of submitters already gone (revoked), for the counter

    def _gateway(self) -> Gateway:
        if self.gateway is None:  # the channel must be made inside the running event loop
            self.channel = self.f.grpc_channel()
            self.gateway = Gateway(self.channel, self.identity, self.signer, tls_cert_hash=self.f.tls_cert_hash())
            if self.commit_stream:
                self.commits = CommitWatcher(
                    self.gateway,
                    self.f.channel,
                    on_break=_stream_broke,
                    on_block=m.COMMIT_STREAM_BLOCK.set,
                    on_answer=lambda source: m.COMMIT_STATUSES.labels(source).inc(),
                )
                self.commits.start()
        return self.gateway

    def submitter(self, partition: int) -> PartitionSubmitter:
        sub = self.subs.get(partition)
        if sub is None:
            events: dict[int, faust.EventT] = {}

            def done(rec: Record) -> None:
                m.IN_FLIGHT.dec()

            def committable(offset: int) -> None:
                # Ack strictly in offset order, up to the window's committable offset: Faust's
                # commit then equals the window's (see the module doc).
                while events:
                    first = next(iter(events))
                    if first >= offset:
                        break
                    events.pop(first).ack()

            def room() -> None:
                self.room.set()

            def failed(err: Exception, counted: bool) -> None:
                m.ENDORSE_FAILURES.labels(type(err).__name__).inc()
                if counted:
                    m.BREAKER_FAILURES.labels("fabric").inc()

            sub = PartitionSubmitter(
                self._gateway(),
                self.sink,
                self.f.channel,
                self.f.chaincode,
                SubmitWindow(self.window, span=self.span),
                gate=self.gate,
                policy=self.policy,
                on_done=done,
                on_committable=committable,
                on_room=room,
                on_attempt_failed=failed,
                on_committed=m.TX_DURATION.observe,
                on_submitted=m.TX_SUBMITTED.inc,
                on_fatal=self.on_fatal,
                publish_deadline=self.publish_deadline,
                progress=self.progress,
                commits=self.commits,
                commit_timeout=self.gateway.timeouts.commit_status,
            )
            self.subs[partition], self.events[partition] = sub, events
        return sub

    def backlog(self) -> int:
        return sum(sub.backlog for sub in self.subs.values())

    def internal_errors(self) -> int:
        return self.internal_errors_seen + sum(sub.internal_errors for sub in self.subs.values())

    def stalled(self) -> float:
        """Seconds for which some final result has failed to publish (0: none)."""
        return max((sub.stalled() for sub in self.subs.values()), default=0.0)

    async def take(self, event: faust.EventT) -> None:
        """Hand one record to its partition's submitter; wait while that partition's backlog is at its cap."""
        sub = self.offer(event)
        while sub.backlog >= self.backlog_cap and self.subs.get(event.message.partition) is sub:
            self.room.clear()
            await self.room.wait()

    def offer(self, event: faust.EventT) -> PartitionSubmitter:
        msg = event.message
        raw = msg.headers.items() if isinstance(msg.headers, dict) else (msg.headers or [])
        rec = Record(
            msg.topic,
            msg.partition,
            msg.offset,
            msg.key,
            msg.value or b"",
            tuple((k, v if isinstance(v, bytes) else str(v).encode()) for k, v in raw),
        )
        sub = self.submitter(msg.partition)
        self.events[msg.partition][msg.offset] = event
        self.last_offset[msg.partition] = msg.offset
        m.IN_FLIGHT.inc()
        sub.offer(rec)  # False: it waits in the partition's backlog
        return sub

    async def revoke(self, partitions: set[int]) -> None:
        """Cancel the partitions' commands (bounded by ``revoke_timeout``), then commit each one's
        exact committable offset while this member still owns it."""
        offsets: dict[TP, int] = {}
        for p in partitions:
            sub = self.subs.pop(p, None)
            unfinished = self.events.pop(p, {})
            self.last_offset.pop(p, None)
            if sub is None:
                continue
            try:
                await asyncio.wait_for(sub.close(), self.revoke_timeout)
            except TimeoutError:
                log.error(
                    "commands still running after the revocation deadline", partition=p, seconds=self.revoke_timeout
                )
            self.internal_errors_seen += sub.internal_errors
            m.IN_FLIGHT.dec(len(unfinished))
            if (c := sub.committable()) is not None:
                offsets[TP(self.topic, p)] = c
            log.info("partition revoked", partition=p, unfinished=len(unfinished), committed=c)
        if offsets:
            await self._commit(offsets)
        self.room.set()  # its backlog is gone: a waiting agent may take records again

    async def _commit(self, offsets: dict[TP, int]) -> None:
        """Commit exactly ``offsets`` (Faust dropped its own bookkeeping of revoked partitions
        before our handler runs). A failure is logged: the next owner then replays a little more."""
        try:
            await self.app.producer.flush()  # results before the offsets that say they are done
            ok = await self.app.consumer._commit(offsets)
        except Exception as e:
            log.warning(
                "commit on revocation failed; the next owner replays from the last commit",
                error=f"{type(e).__name__}: {e}",
            )
            return
        log.info("committed on revocation", offsets={str(tp.partition): o for tp, o in offsets.items()}, ok=ok)

    def watch(self, assigned: set[TP]) -> None:
        """Breaker state, lag and internal errors, every half second."""
        state = self.gate.breaker.state
        m.BREAKER_STATE.labels("fabric").set(state.value)
        open_ = state is State.OPEN
        if open_ != self.breaker_open:
            log.warning(
                "circuit breaker open: nothing is attempted" if open_ else "circuit breaker probing or closed",
                backlog=self.backlog(),
            )
            self.breaker_open = open_
        m.BACKLOG.set(self.backlog())
        for tp in assigned:
            try:
                high = self.app.consumer.highwater(tp)
            except Exception:  # not fetched yet
                continue
            if high is not None:
                m.CONSUMER_LAG.labels(str(tp.partition)).set(max(0, high - self.last_offset.get(tp.partition, -1) - 1))
        m.INTERNAL_ERRORS.set(self.internal_errors())
        m.PUBLISH_STALLED.set(self.stalled())

    async def close(self) -> None:
        await self.revoke(set(self.subs))
        if self.commits is not None:
            await self.commits.stop()
        if self.channel is not None:
            await self.channel.close()


def install(
    app: faust.App,
    commands_topic: str,
    results_topic: str,
    dlq_topic: str,
    f: FabricSettings,
    window: int = 80,
    breaker: CircuitBreaker | None = None,
    policy: RetryPolicy | None = None,
    span: int = 5000,
    backlog_cap: int = 1000,
    publish_deadline: float = 300.0,
    progress: bool = False,
    commit_stream: bool = True,
) -> Any:
    """Register the submitter agent and its watcher on ``app``; returns the agent.

    ``app`` must run with ``stream_wait_empty=False`` (gxcommon.faust_app.make_app(wait_empty=False)).
    The client identity is read here, before the event loop runs (ValueError if a setting is missing).
    """
    if not (f.gateway and f.cert and f.key):
        raise ValueError("GX_FABRIC_GATEWAY, GX_FABRIC_CERT and GX_FABRIC_KEY must be set")
    if app.conf.stream_wait_empty:
        raise ValueError("the submitter's app must not wait for its streams to empty (stream_wait_empty=False)")
    topic = app.topic(commands_topic, key_type=bytes, value_type=bytes)
    sink = FaustSink(
        app.topic(results_topic, key_type=bytes, value_type=bytes),
        app.topic(dlq_topic, key_type=bytes, value_type=bytes),
    )
    gate = BreakerGate(breaker or CircuitBreaker(), time.monotonic, asyncio.sleep)
    state = Submitters(
        app,
        sink,
        f,
        load_identity(f.msp_id, f.cert),
        f.signer(),
        window,
        gate,
        policy or RetryPolicy(),
        backlog_cap=backlog_cap,
        span=span,
        topic=commands_topic,
        publish_deadline=publish_deadline,
        progress=progress,
        commit_stream=commit_stream,
    )
    web.add_check(
        app,
        "submitter",
        lambda: (
            f"final results have failed to publish for {s:.0f} s (see the log)"
            if (s := state.stalled()) >= 10
            else None
        ),
    )

    @app.agent(topic, name="submitter")
    async def submitter(stream: faust.Stream) -> None:
        async for event in stream.noack().events():
            await state.take(event)

    @app.task
    async def open_gateway() -> None:
        state._gateway()  # and the commit status stream, so it follows from before the first command

    @app.timer(0.5)
    async def watch() -> None:
        state.watch({tp for tp in app.consumer.assignment() if tp.topic == commands_topic})

    @app.on_partitions_revoked.connect
    async def revoked(app_: faust.App, revoked: set[TP], **_: Any) -> None:
        await state.revoke({tp.partition for tp in revoked if tp.topic == commands_topic})

    @app.on_before_shutdown.connect
    async def shutdown(app_: faust.App, **_: Any) -> None:
        await state.close()

    return submitter
