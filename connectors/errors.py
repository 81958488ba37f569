"""Errors of the connectors package."""

from __future__ import annotations

from gxerrors import GxError


class ConnectorError(GxError):
    """Root of this package's errors."""


class RenderError(ConnectorError):
    """A placeholder in the YAML has no value. ``placeholder`` names it."""

    def __init__(self, placeholder: str, where: str) -> None:
        self.placeholder = placeholder
        super().__init__(f"no value for ${{{placeholder}}} (in {where})")


class ConnectApiError(ConnectorError):
    """Kafka Connect's REST API refused a request or a connector/task failed.

    ``connector`` names it; ``status`` is the HTTP status (0 if unreachable); ``trace`` holds the
    failed task's stack trace from Connect when there is one.
    """

    def __init__(self, connector: str, message: str, status: int = 0, trace: str = "") -> None:
        self.connector = connector
        self.status = status
        self.trace = trace
        text = f"connector {connector}: {message}"
        if trace:
            text += "\n  task trace (first lines):\n    " + "\n    ".join(trace.strip().splitlines()[:12])
        super().__init__(text)
