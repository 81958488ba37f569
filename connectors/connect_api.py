"""A thin client of Kafka Connect's REST API: apply a config idempotently, read status, delete."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from connectors.errors import ConnectApiError
from gxcommon import http_auth


def _call(url: str, method: str, path: str, body: Any = None, name: str = "", timeout: float = 30) -> tuple[int, Any]:
    req = http_auth.request(
        url.rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise ConnectApiError(
                name,
                f"Kafka Connect at {http_auth.public(url)} refused the login (HTTP 401): "
                "check GX_CONNECT_USERNAME and GX_CONNECT_PASSWORD_FILE",
                e.code,
            ) from None
        raw = e.read().decode("utf-8", "replace")
        try:
            msg = json.loads(raw).get("message", raw)
        except ValueError:
            msg = raw
        return e.code, msg
    except OSError as e:
        reason = getattr(e, "reason", None) or e  # urllib wraps the socket error
        raise ConnectApiError(
            name,
            f"Kafka Connect at {http_auth.public(url)} is unreachable ({getattr(reason, 'strerror', None) or reason});"
            " is the stack up? (gxctl up; gxctl status)",
        ) from e


def status(url: str, name: str) -> dict[str, Any] | None:
    """Connect's status document for ``name`` (connector and task states), or None if absent."""
    code, body = _call(url, "GET", f"/connectors/{name}/status", name=name)
    if code == 404:
        return None
    if code != 200:
        raise ConnectApiError(name, f"status request failed: {body}", code)
    return body


def apply(url: str, name: str, config: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    """PUT the config (creates or updates), then wait until the connector and every task is RUNNING.

    Returns the final status. Raises ConnectApiError with the task's trace if one FAILED, or if the
    config was refused (Connect validates it first) or time ran out.
    """
    code, body = _call(url, "PUT", f"/connectors/{name}/config", config, name=name)
    if code not in (200, 201):
        raise ConnectApiError(name, f"config refused ({code}): {body}", code)
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        last = status(url, name)
        if last:
            conn_state = last["connector"]["state"]
            tasks = last.get("tasks", [])
            for t in tasks:
                if t["state"] == "FAILED":
                    raise ConnectApiError(name, f"task {t['id']} FAILED", trace=t.get("trace", ""))
            if conn_state == "FAILED":
                raise ConnectApiError(name, "connector FAILED", trace=last["connector"].get("trace", ""))
            if conn_state == "RUNNING" and tasks and all(t["state"] == "RUNNING" for t in tasks):
                return last
        time.sleep(0.5)
    raise ConnectApiError(name, f"not RUNNING after {timeout:.0f}s; last status: {json.dumps(last)}")


def delete(url: str, name: str) -> bool:
    """Delete the connector; False if it did not exist."""
    code, body = _call(url, "DELETE", f"/connectors/{name}", name=name)
    if code == 404:
        return False
    if code not in (200, 204):
        raise ConnectApiError(name, f"delete failed: {body}", code)
    return True


def stop(url: str, name: str, timeout: float = 60) -> None:
    """Stop the connector (Connect 3.5+: tasks shut down, config kept) and wait for STOPPED."""
    code, body = _call(url, "PUT", f"/connectors/{name}/stop", name=name)
    if code not in (200, 202, 204):
        raise ConnectApiError(name, f"stop failed: {body}", code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(url, name)
        if st and st["connector"]["state"] == "STOPPED":
            return
        time.sleep(0.3)
    raise ConnectApiError(name, f"not STOPPED after {timeout:.0f}s")


def remove(url: str, name: str, reset_offsets: bool = False) -> bool:
    """Delete the connector; with ``reset_offsets`` first forget its source offsets.

    Connect keeps a deleted connector's offsets: a new connector of the same name would resume at
    the stored LSN, which is gone once its replication slot was dropped. Reset them whenever the
    slot is dropped too. Returns False if the connector did not exist.
    """
    if status(url, name) is None:
        return False
    if reset_offsets:
        stop(url, name)
        code, body = _call(url, "DELETE", f"/connectors/{name}/offsets", name=name)
        if code not in (200, 202, 204):
            raise ConnectApiError(name, f"offset reset failed: {body}", code)
    return delete(url, name)
