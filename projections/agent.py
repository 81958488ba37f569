"""Projection groups hosted in one Faust worker: gx.fabric.events -> each group's read models.

Each group runs in a thread of its own (projections.loop.GroupLoop) with its own Kafka consumer
(consumer group ``<app_id>-projector-<group>``, as when each group ran as its own worker), its own
database connection and its own checkpoints: a group whose writes fail stalls only itself. The
Faust app around them owns the process: /metrics, /healthz and /readyz (one readiness check per
group), the JSON logs, the signals; a group's unexpected error crashes the worker (a restart
replays from the database's checkpoints).

Why threads with confluent-kafka consumers and not one Faust agent per group: a Faust app is one
consumer group, so six agents in one app would share one committed offset per partition, and one
failing group would hold back the others' commits. librdkafka also fetches in its own thread: the
Python side only takes batches (measured: bench/results/levers-*.json).

Each loop reads every partition it is handed from right after the group's stored checkpoint
(projections.loop), so a database behind Kafka (a restored backup) replays from there and nothing
is committed to Kafka before the group joins (another member may still run: a rolling update); a
checkpoint moved while the worker runs is caught by the runner and replayed from Kafka.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import faust
import psycopg

from gxcommon import web
from gxcommon.kafka import Consumer, events_consumer_conf
from projections.kafka_io import DeadLetterSender, read_range
from projections.loop import GroupLoop
from projections.model import GroupSpec
from projections.runner import Projector


def group_id(app_id: str, group: str) -> str:
    """A projection group's Kafka consumer group (unchanged from one worker per group)."""
    return f"{app_id}-projector-{group}"


def install(
    app: faust.App,
    groups: Sequence[GroupSpec],
    topic: str,
    dlq_topic: str,
    dsn: str,
    bootstrap: str,
    app_id: str,
    *,
    channel: str = "gxchannel",
    batch: int = 2000,
    within: float = 0.1,
    auto_offset_reset: str = "earliest",
    session_timeout_s: float = 10.0,
) -> list[GroupLoop]:
    """Run ``groups`` in ``app``: one GroupLoop thread each, started with the app, stopped (what is
    in flight written and committed, the group left) before it shuts down. Returns the loops
    (created when the app starts)."""
    loops: list[GroupLoop] = []
    threads: list[threading.Thread] = []

    for g in groups:

        def check(name: str = g.name) -> str | None:
            loop = next((x for x in loops if x.name == name), None)
            if loop is None:
                return "not started"
            if loop.error is not None:
                return f"stopped: {type(loop.error).__name__}"
            if loop.runner.transient_failures >= 3:
                return f"batch not written after {loop.runner.transient_failures} attempt(s); retrying (see the log)"
            if not loop.assigned:
                return "no partitions assigned"
            return None

        web.add_check(app, f"projector-{g.name}", check)

    @app.task
    async def start() -> None:
        running = asyncio.get_running_loop()

        def crash(e: BaseException) -> None:
            asyncio.run_coroutine_threadsafe(app.crash(e), running)

        for g in groups:
            gid = group_id(app_id, g.name)
            runner = Projector(
                g,
                g.name,
                channel,
                topic,
                lambda: psycopg.connect(dsn, autocommit=True),
                lambda t, p, s, e: read_range(bootstrap, t, p, s, e),
                DeadLetterSender(bootstrap, dlq_topic, g.name),
            )
            consumer = Consumer(events_consumer_conf(bootstrap, gid, auto_offset_reset, session_timeout_s))
            loop = GroupLoop(runner, consumer, topic, gid, batch=batch, within=within, on_crash=crash)
            loops.append(loop)
            t = threading.Thread(target=loop.run, name=f"projector-{g.name}", daemon=True)
            threads.append(t)
            t.start()

    # (mypy cannot match a coroutine function to Faust's handler type, which names `signal`.)
    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop(app_: faust.App, **_: Any) -> None:
        for loop in loops:
            loop.stop()
        for t in threads:
            await asyncio.to_thread(t.join, 30)

    return loops
