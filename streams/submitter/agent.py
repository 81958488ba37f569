"""The submitter as a Faust agent: gx.commands and gx.commands.direct -> Fabric -> gx.command-results
(+ gx.commands.dlq).

The agent takes records in offset order and hands them to streams.submitter.partitions.Submitters
(one PartitionSubmitter per assigned partition: commits, revocation, back-pressure). A final
result that cannot be published is retried (holding its slot); when it keeps failing for
``publish_deadline`` seconds the process exits (status 70) to be restarted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
from faust.types import TP, AgentT

from fabric_gateway import load_identity
from gxcommon import web
from gxcommon.fabric_settings import FabricSettings
from streams import metrics as m
from streams.breaker import CircuitBreaker
from streams.outcome import RetryPolicy
from streams.submitter.faust_io import FaustSink
from streams.submitter.gate import BreakerGate
from streams.submitter.partitions import Submitters


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
    probe_wait: float = 2.0,
    service_check: bool = False,
    direct_topic: str | None = None,
    resubmit_after: float = 20.0,
) -> AgentT:
    """Register the submitter agent and its watcher on ``app``; returns the agent.

    ``app`` must run with ``stream_wait_empty=False`` (gxcommon.faust_app.make_app(wait_empty=False)).
    The client identities are read here, before the event loop runs (GX_FABRIC_CERT/KEY signs the
    administrative commands, GX_FABRIC_COMMANDS_CERT/KEY, when set, the user-level ones).
    ``service_check``: refuse a command whose service may not send its type (permissions.py), and
    an administrative one that came on ``direct_topic``, the direct path (gxsdk.produce), which the
    submitter also consumes. ``resubmit_after``: seconds a sent transaction waits for its block
    before the same transaction is sent again (sooner when a later one commits first).
    ValueError if a setting is missing or the app waits for its streams to empty.
    """
    if not (f.gateway and f.cert and f.key):
        raise ValueError("GX_FABRIC_GATEWAY, GX_FABRIC_CERT and GX_FABRIC_KEY must be set")
    if app.conf.stream_wait_empty:
        raise ValueError("the submitter's app must not wait for its streams to empty (stream_wait_empty=False)")
    topics = (commands_topic, direct_topic) if direct_topic else (commands_topic,)
    topic = app.topic(*topics, key_type=bytes, value_type=bytes)
    sink = FaustSink(
        app.topic(results_topic, key_type=bytes, value_type=bytes),
        app.topic(dlq_topic, key_type=bytes, value_type=bytes),
        app.conf.producer_max_request_size,
    )
    gate = BreakerGate(breaker or CircuitBreaker(), time.monotonic, asyncio.sleep, probe_wait=probe_wait)
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
        topics=topics,
        direct_topic=direct_topic,
        resubmit_after=resubmit_after,
        publish_deadline=publish_deadline,
        progress=progress,
        commit_stream=commit_stream,
        service_check=service_check,
    )
    gate.ready = state.fabric.connected  # a probe first waits for the channel (cheap: no endorsement)
    web.add_check(
        app,
        "submitter",
        lambda: (
            f"final results have failed to publish for {s:.0f} s (see the log)"
            if (s := state.stalled()) >= 10
            else None
        ),
    )
    # Errors the chaincode throws and records nowhere (FORBIDDEN: the grant is missing or rotated).
    web.add_check(app, "chaincode", state.refusals.reason)

    # (Faust passes a Stream; its agent type names StreamT, which lacks noack.)
    @app.agent(topic, name="submitter")  # type: ignore[arg-type]
    async def submitter(stream: faust.Stream) -> None:
        # Counted so that a restart by Faust's supervisor (the agent crashed) shows: it must not
        # happen, whatever a record holds.
        m.AGENT_STARTS.inc()
        async for event in stream.noack().events():
            await state.take(event)

    @app.task
    async def open_gateway() -> None:
        state.fabric.open()  # and the commit status stream, so it follows from before the first command

    @app.timer(0.5)
    async def watch() -> None:
        state.watch({tp for tp in app.consumer.assignment() if tp.topic in topics})

    # (mypy cannot match a coroutine function to Faust's handler type, which names `signal`.)
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def revoked(app_: faust.App, revoked: set[TP], **_: Any) -> None:
        await state.revoke({tp for tp in revoked if tp.topic in topics})

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def shutdown(app_: faust.App, **_: Any) -> None:
        await state.close()

    return submitter
