"""The dependencies a worker's /readyz requires: Kafka, Postgres with every migration applied and,
for the workers that talk to the ledger, the Fabric gateway.

Probes run in the background (an app task, blocking calls in the default executor) every
``every`` seconds, so /readyz answers at once from the last result and a slow dependency never
stalls the event loop. Until the first probe has finished, a dependency counts as not ready.
``dependency_up{dependency}`` (1/0) exports the same facts to Prometheus.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Gauge

from gxcommon import health, web

DEPENDENCY_UP = Gauge("dependency_up", "1 when the worker's last probe of the dependency succeeded", ["dependency"])

Probe = Callable[[], Awaitable[None]]  # returns when fine, raises with the reason otherwise


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text or type(e).__name__


def kafka_probe(bootstrap: str, timeout: float = 3) -> Probe:
    async def probe() -> None:
        await asyncio.get_running_loop().run_in_executor(None, health.kafka, bootstrap, timeout)

    return probe


def postgres_probe(dsn: str, timeout: float = 3) -> Probe:
    """Connects and checks that the newest migration in schemas/sql is recorded as applied."""

    def check() -> None:
        import psycopg

        from schemas.migrate import discover

        need = discover()[-1].version
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            try:
                row = conn.execute('SELECT max(version) FROM "_gx_migrations"').fetchone()
                have = row[0] if row else None
            except psycopg.errors.UndefinedTable:
                raise RuntimeError("no migration applied (run `gxctl db migrate`)") from None
        if have is None or have < need:
            raise RuntimeError(
                f"migrations applied up to {have or 0}, this worker needs {need} (run `gxctl db migrate`)"
            )

    async def probe() -> None:
        await asyncio.get_running_loop().run_in_executor(None, check)

    return probe


def fabric_probe(endpoint: str, open_channel: Callable[[], Any], timeout: float = 3) -> Probe:
    """The gateway's gRPC channel (a new one from ``open_channel`` each time) becomes ready: TCP
    and the TLS handshake, mutual when the channel carries a client certificate."""

    async def probe() -> None:
        channel = open_channel()
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            raise RuntimeError(f"gateway {endpoint} not reachable within {timeout:g}s") from None
        finally:
            await channel.close()

    return probe


def any_of(probes: list[Probe]) -> Probe:
    """A probe that passes when one of ``probes`` does (tried in order); else the last one's error."""

    async def probe() -> None:
        err: BaseException | None = None
        for p in probes:
            try:
                await p()
                return
            except Exception as e:
                err = e
        assert err is not None
        raise err

    return probe


class Dependencies:
    """The last result of each probe: ``failing()`` maps a dependency to why it is not ready."""

    def __init__(self, probes: dict[str, Probe]) -> None:
        self.probes = probes
        self.reasons: dict[str, str | None] = dict.fromkeys(probes, "not probed yet")

    async def probe_all(self) -> None:
        results = await asyncio.gather(*(p() for p in self.probes.values()), return_exceptions=True)
        for name, result in zip(self.probes, results):
            self.reasons[name] = _reason(result) if isinstance(result, BaseException) else None
            DEPENDENCY_UP.labels(name).set(0 if self.reasons[name] else 1)

    def reason(self, name: str) -> str | None:
        return self.reasons.get(name)


def install(app: Any, probes: dict[str, Probe], every: float = 5.0) -> Dependencies:
    """Probe ``probes`` every ``every`` seconds and make each a readiness check of ``app``."""
    deps: Dependencies = app.__dict__.get("_gx_dependencies") or Dependencies({})
    app.__dict__["_gx_dependencies"] = deps
    fresh = not deps.probes
    deps.probes.update(probes)
    for name in probes:
        deps.reasons[name] = "not probed yet"
        web.add_check(app, name, functools.partial(deps.reason, name))
    if fresh:

        @app.task
        async def probe_dependencies() -> None:
            while True:
                await deps.probe_all()
                await asyncio.sleep(every)

    return deps
