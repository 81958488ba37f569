"""The submitter as a Faust agent: gx.commands -> Fabric -> gx.command-results (+ gx.commands.dlq).

One PartitionSubmitter (streams/submitter.py) per assigned partition. Events are consumed without
auto-ack and acked when their command has finished, in any order; Faust commits each partition's
offset only up to the first unacked one (its ``_new_offset`` stops at the first gap), which is
exactly the window's committable offset. Across a rebalance, acks for a revoked partition are
dropped by Faust and the new owner resumes from the committed offset, so unfinished commands are
consumed again and none is skipped (a replay is harmless: the chaincode applies a requestId once).

While any partition's breaker is open, every assigned partition is paused (no new records are
fetched, no attempts burnt) and resumed when the breaker lets probes through again.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import grpc
from faust.types import TP

from fabric_gateway import Gateway, load_identity, load_signer, open_channel
from gxcommon.dlq import dead_letter_headers
from schemas.envelopes import CommandResult
from streams import metrics as m
from streams.breaker import CircuitBreaker, State
from streams.outcome import RetryPolicy
from streams.fabric_settings import FabricSettings
from streams.submitter import PartitionSubmitter, Record
from streams.window import SubmitWindow

log = logging.getLogger("gx.submitter")


class FaustSink:
    """Results and dead letters through the app's producer."""

    def __init__(self, results: faust.TopicT, dlq: faust.TopicT) -> None:
        self.results, self.dlq = results, dlq

    async def result(self, key: bytes, result: CommandResult) -> None:
        if result.status.final:
            m.COMMANDS_PROCESSED.labels(result.status.value).inc()
            if result.timings.durationMs is not None:
                m.COMMAND_DURATION.observe(result.timings.durationMs / 1000)
        else:
            m.TX_SUBMITTED.inc()
        await self.results.send(key=key, value=result.model_dump_json().encode())
        log.info("result", extra={"commandId": result.commandId, "requestId": result.requestId,
                                  "status": result.status.value, "txid": result.fabricTxId})

    async def dead_letter(self, record: Record, reason: str, error_code: str, attempts: int) -> None:
        m.DEAD_LETTERS.labels(error_code).inc()
        # The original headers (id, commandType, requestId, tenantId, service) stay, so that
        # `gxctl dlq replay` can re-send the record as it was; ours say why and from where.
        headers = dict(record.headers) | dead_letter_headers(
            reason, error_code, record.topic, record.partition, record.offset, attempts)
        await self.dlq.send(key=record.key, value=record.value, headers=headers)


def gateway_channel(f: FabricSettings) -> grpc.aio.Channel:
    assert f.gateway
    return open_channel(f.gateway, f.tls_root.read_bytes() if f.tls_root else None, f.tls_server_name)


def install(app: faust.App, commands_topic: str, results_topic: str, dlq_topic: str, f: FabricSettings,
            window: int = 500, breaker: CircuitBreaker | None = None, policy: RetryPolicy | None = None,
            park_failed_keys: bool = False) -> Any:
    """Register the submitter agent and its breaker watcher on ``app``.

    One breaker guards Fabric for every partition (it is one resource).
    """
    if not (f.gateway and f.cert and f.key):
        raise ValueError("GX_FABRIC_GATEWAY, GX_FABRIC_CERT and GX_FABRIC_KEY must be set")
    topic = app.topic(commands_topic, key_type=bytes, value_type=bytes)
    sink = FaustSink(app.topic(results_topic, key_type=bytes, value_type=bytes),
                     app.topic(dlq_topic, key_type=bytes, value_type=bytes))
    subs: dict[int, PartitionSubmitter] = {}
    pending: dict[tuple[int, int], faust.EventT] = {}
    state: dict[str, Any] = {}
    shared_breaker = breaker or CircuitBreaker()

    def submitter_for(partition: int) -> PartitionSubmitter:
        if partition not in subs:
            if "gateway" not in state:
                state["gateway"] = Gateway(gateway_channel(f), load_identity(f.msp_id, f.cert),
                                           load_signer(f.key))

            def done(rec: Record) -> None:
                ev = pending.pop((rec.partition, rec.offset), None)
                m.IN_FLIGHT.dec()
                if ev is not None:
                    ev.ack()

            def failed(err: Exception, counted: bool) -> None:
                m.ENDORSE_FAILURES.labels(type(err).__name__).inc()
                if counted:
                    m.BREAKER_FAILURES.labels("fabric").inc()

            subs[partition] = PartitionSubmitter(
                state["gateway"], sink, f.channel, f.chaincode, SubmitWindow(window),
                breaker=shared_breaker, policy=policy or RetryPolicy(), park_failed_keys=park_failed_keys,
                on_done=done, on_attempt_failed=failed, on_committed=m.TX_DURATION.observe)
        return subs[partition]

    @app.agent(topic, name="submitter")
    async def submitter(stream: faust.Stream) -> None:
        async for event in stream.noack().events():
            msg = event.message
            raw_headers = msg.headers.items() if isinstance(msg.headers, dict) else (msg.headers or [])
            rec = Record(msg.topic, msg.partition, msg.offset, msg.key, msg.value or b"",
                         tuple((k, v if isinstance(v, bytes) else str(v).encode()) for k, v in raw_headers))
            pending[(msg.partition, msg.offset)] = event
            m.IN_FLIGHT.inc()
            await submitter_for(msg.partition).offer(rec)

    @app.timer(0.5)
    async def watch_breakers() -> None:
        m.BREAKER_STATE.labels("fabric").set(shared_breaker.state.value)
        assigned = {tp for tp in app.consumer.assignment() if tp.topic == commands_topic}
        paused = shared_breaker.state is State.OPEN
        if paused and not state.get("paused"):
            log.warning("circuit breaker open: pausing %d partitions", len(assigned))
            app.consumer.pause_partitions(assigned)
            state["paused"] = True
        elif not paused and state.get("paused"):
            log.warning("circuit breaker probing/closed: resuming partitions")
            app.consumer.resume_partitions(assigned)
            state["paused"] = False

    @app.on_partitions_revoked.connect
    async def revoked(app_: faust.App, revoked: set[TP], **_: Any) -> None:
        for tp in revoked:
            if tp.topic == commands_topic:
                subs.pop(tp.partition, None)  # its offsets stay at the last committable point

    return submitter
