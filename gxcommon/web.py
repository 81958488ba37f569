"""/metrics, /healthz and /readyz on every worker, through Faust's own web server (loopback).

/healthz: the process and its event loop answer. /readyz: the consumer has joined its group and
holds partitions, and no rebalance is under way (for a worker that consumes), and every check the
worker added passes (503 otherwise, with the reason). /metrics: the
prometheus-client registry of this process; with a token (GX_WEB_TOKEN_FILE, the chart's
web.metricsAuth) only for a request that carries it (``Authorization: Bearer TOKEN``, 401
otherwise). Faust's own pages (its router, tables, graph and statistics) are not served
(gxcommon.faust_app); the probes stay open, for the kubelet.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

import faust
from faust.web import Request, Response, View
from prometheus_client import generate_latest

# Prometheus' text format; aiohttp refuses a charset inside content_type (it is UTF-8 anyway).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


Check = Callable[[], "str | None"]


def add_check(app: faust.App, name: str, check: Check) -> None:
    """A readiness condition of the worker: ``check()`` returns None when fine, else the reason."""
    checks: dict[str, Check] = app.__dict__.setdefault("_gx_ready_checks", {})
    checks[name] = check


def failing_checks(app: faust.App) -> dict[str, str]:
    out = {}
    for name, check in app.__dict__.get("_gx_ready_checks", {}).items():
        try:
            reason = check()
        except Exception as e:  # a check that cannot run is a failing check, with its reason
            reason = f"{type(e).__name__}: {e}"
        if reason:
            out[name] = reason
    return out


def authorized(header: str | None, token: str | None) -> bool:
    """Whether a request's Authorization ``header`` carries ``token`` as a bearer token (compared in
    constant time); any request is, when there is no token."""
    if token is None:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def install(app: faust.App, token: str | None = None) -> None:
    """The three pages on ``app``'s web server; /metrics only with ``token`` when one is given."""

    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        if not authorized(request.headers.get("Authorization"), token):
            return self.json(
                {"error": "unauthorized: send Authorization: Bearer <token>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="gx-pipeline metrics"'},
            )
        return self.bytes(generate_latest(), content_type=METRICS_CONTENT_TYPE)

    @app.page("/healthz")
    async def healthz(self: View, request: Request) -> Response:
        return self.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(self: View, request: Request) -> Response:
        consumes = app.__dict__.get("_gx_consumes", True)
        assigned = sorted(f"{tp.topic}[{tp.partition}]" for tp in app.consumer.assignment()) if consumes else []
        if consumes and (app.rebalancing or not assigned):
            reason = "rebalancing" if app.rebalancing else "no partitions assigned"
            return self.json({"status": "not ready", "reason": reason}, status=503)
        failing = failing_checks(app)
        if failing:
            return self.json(
                {
                    "status": "not ready",
                    "reason": "; ".join(f"{k}: {v}" for k, v in failing.items()),
                    "checks": failing,
                },
                status=503,
            )
        return self.json({"status": "ready", "partitions": assigned})
