"""The submitter as a Faust agent: gx.commands -> Fabric -> gx.command-results (+ gx.commands.dlq).

One PartitionSubmitter (streams/submitter.py) per assigned partition, each with its own map from
offsets to Faust events. Events are consumed without auto-ack and acked when their command's final
result is published, in any order; Faust commits each partition only up to its first unacked
offset (its committed offset stops at the first gap), which is the window's committable offset.

- Revocation: the partition's submitter is closed (its commands in flight are cancelled, none is
  acked) before the partition goes; the next owner resumes from the committed offset and replays
  them (harmless: the chaincode applies a requestId once). A partition assigned again gets a new
  submitter, so an old command's completion can never ack a new event.
- Back-pressure: when a partition's window is full its records wait in that partition's backlog
  and the other partitions go on. When the backlogs together reach ``backlog_cap`` records, the
  agent stops taking records until one drains, so Faust's buffer fills and it stops fetching.
  Partitions are never paused through Faust: faust-streaming 0.15.3 drops records already fetched
  for a partition paused before they are handed over, then fills the hole in the offsets as if it
  were acked and commits past it (a command was lost that way in a test here).
- The breaker: one for Fabric, shared by every partition. While it is open nothing is attempted;
  records already taken wait in windows and backlogs, and the cap stops consumption.
- Shutdown: the gRPC channel is closed and the submitters are closed (nothing unfinished is acked).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
import grpc
from faust.types import TP

from fabric_gateway import Gateway, Identity, Signer, load_identity
from gxcommon import logs, web
from gxcommon.dlq import dead_letter_headers
from schemas.envelopes import CommandResult
from streams import metrics as m
from streams.breaker import CircuitBreaker, State
from gxcommon.fabric_settings import FabricSettings
from streams.outcome import RetryPolicy
from streams.submitter import BreakerGate, PartitionSubmitter, Record
from streams.window import SubmitWindow

log = logs.get("gx.submitter")


class FaustSink:
    """Results and dead letters through the app's producer; final ones are awaited until delivered."""

    def __init__(self, results: faust.TopicT, dlq: faust.TopicT) -> None:
        self.results, self.dlq = results, dlq

    async def result(self, key: bytes, result: CommandResult) -> None:
        if result.status.final:
            m.COMMANDS_PROCESSED.labels(result.status.value).inc()
            if result.attempts:
                m.ATTEMPTS.observe(result.attempts)
            if result.timings.durationMs is not None:
                m.COMMAND_DURATION.observe(result.timings.durationMs / 1000)
        else:
            m.TX_SUBMITTED.inc()
        # force=True: never attach the send to whichever Faust event happens to be current.
        fut = await self.results.send(key=key, value=result.model_dump_json().encode(), force=True)
        if result.status.final:
            await fut  # delivered before the command's record is acked

    async def dead_letter(self, record: Record, reason: str, error_code: str, attempts: int) -> None:
        m.DEAD_LETTERS.labels(error_code).inc()
        # The original headers (id, commandType, requestId, tenantId, service) stay, so that
        # `gxctl dlq replay` can re-send the record as it was; ours say why and from where.
        headers = dict(record.headers) | dead_letter_headers(
            reason, error_code, record.topic, record.partition, record.offset, attempts)
        await (await self.dlq.send(key=record.key, value=record.value, headers=headers, force=True))


def gateway_channel(f: FabricSettings) -> grpc.aio.Channel:
    return f.grpc_channel()


class Submitters:
    """The agent's state: one submitter per assigned partition, the backlog cap, the shared gateway."""

    def __init__(self, app: faust.App, sink: FaustSink, f: FabricSettings, identity: Identity,
                 signer: Signer, window: int, gate: BreakerGate, policy: RetryPolicy, backlog_cap: int = 2000) -> None:
        self.app, self.sink, self.f = app, sink, f
        self.identity, self.signer, self.window, self.gate, self.policy = identity, signer, window, gate, policy
        self.subs: dict[int, PartitionSubmitter] = {}
        self.events: dict[int, dict[int, faust.EventT]] = {}
        self.backlog_cap = backlog_cap
        self.room = asyncio.Event()       # set whenever a backlog shrank (or a partition went)
        self.breaker_open = False
        self.channel: grpc.aio.Channel | None = None
        self.gateway: Gateway | None = None
        self.last_offset: dict[int, int] = {}

    def _gateway(self) -> Gateway:
        if self.gateway is None:  # the channel must be made inside the running event loop
            self.channel = gateway_channel(self.f)
            self.gateway = Gateway(self.channel, self.identity, self.signer, tls_cert_hash=self.f.tls_cert_hash())
        return self.gateway

    def submitter(self, partition: int) -> PartitionSubmitter:
        sub = self.subs.get(partition)
        if sub is None:
            events: dict[int, faust.EventT] = {}

            def done(rec: Record) -> None:
                m.IN_FLIGHT.dec()
                ev = events.pop(rec.offset, None)
                if ev is not None:
                    ev.ack()

            def room() -> None:
                self.room.set()

            def failed(err: Exception, counted: bool) -> None:
                m.ENDORSE_FAILURES.labels(type(err).__name__).inc()
                if counted:
                    m.BREAKER_FAILURES.labels("fabric").inc()

            sub = PartitionSubmitter(self._gateway(), self.sink, self.f.channel, self.f.chaincode,
                                     SubmitWindow(self.window), gate=self.gate, policy=self.policy,
                                     on_done=done, on_room=room, on_attempt_failed=failed,
                                     on_committed=m.TX_DURATION.observe)
            self.subs[partition], self.events[partition] = sub, events
        return sub

    def backlog(self) -> int:
        return sum(sub.backlog for sub in self.subs.values())

    def internal_errors(self) -> int:
        return sum(sub.internal_errors for sub in self.subs.values())

    async def take(self, event: faust.EventT) -> None:
        """Hand one record to its partition's submitter; wait while the backlogs are at the cap."""
        self.offer(event)
        while self.backlog() >= self.backlog_cap:
            self.room.clear()
            await self.room.wait()

    def offer(self, event: faust.EventT) -> None:
        msg = event.message
        raw = msg.headers.items() if isinstance(msg.headers, dict) else (msg.headers or [])
        rec = Record(msg.topic, msg.partition, msg.offset, msg.key, msg.value or b"",
                     tuple((k, v if isinstance(v, bytes) else str(v).encode()) for k, v in raw))
        sub = self.submitter(msg.partition)
        self.events[msg.partition][msg.offset] = event
        self.last_offset[msg.partition] = msg.offset
        m.IN_FLIGHT.inc()
        sub.offer(rec)  # False: it waits in the partition's backlog

    async def revoke(self, partitions: set[int]) -> None:
        for p in partitions:
            sub = self.subs.pop(p, None)
            unfinished = self.events.pop(p, {})
            self.last_offset.pop(p, None)
            if sub is not None:
                await sub.close()
                m.IN_FLIGHT.dec(len(unfinished))
                log.info("partition revoked", partition=p, unfinished=len(unfinished))
        self.room.set()  # its backlog is gone: a waiting agent may take records again

    def watch(self, assigned: set[TP]) -> None:
        """Breaker state, lag and internal errors, every half second."""
        state = self.gate.breaker.state
        m.BREAKER_STATE.labels("fabric").set(state.value)
        open_ = state is State.OPEN
        if open_ != self.breaker_open:
            log.warning("circuit breaker open: nothing is attempted" if open_ else
                        "circuit breaker probing or closed", backlog=self.backlog())
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

    async def close(self) -> None:
        await self.revoke(set(self.subs))
        if self.channel is not None:
            await self.channel.close()


def install(app: faust.App, commands_topic: str, results_topic: str, dlq_topic: str, f: FabricSettings,
            window: int = 80, breaker: CircuitBreaker | None = None, policy: RetryPolicy | None = None) -> Any:
    """Register the submitter agent and its watcher on ``app``; returns the agent.

    The client identity is read here, before the event loop runs (ValueError if a setting is missing).
    """
    if not (f.gateway and f.cert and f.key):
        raise ValueError("GX_FABRIC_GATEWAY, GX_FABRIC_CERT and GX_FABRIC_KEY must be set")
    topic = app.topic(commands_topic, key_type=bytes, value_type=bytes)
    sink = FaustSink(app.topic(results_topic, key_type=bytes, value_type=bytes),
                     app.topic(dlq_topic, key_type=bytes, value_type=bytes))
    gate = BreakerGate(breaker or CircuitBreaker(), time.monotonic, asyncio.sleep)
    state = Submitters(app, sink, f, load_identity(f.msp_id, f.cert), f.signer(), window,
                       gate, policy or RetryPolicy())
    web.add_check(app, "submitter", lambda: (
        f"{n} command(s) stuck by an internal error (see the log); restart the worker to replay them"
        if (n := state.internal_errors()) else None))

    @app.agent(topic, name="submitter")
    async def submitter(stream: faust.Stream) -> None:
        async for event in stream.noack().events():
            await state.take(event)

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
