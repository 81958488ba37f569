"""Structured logs: one JSON object per line for workers (structlog), so every line that concerns a
command carries its requestId (and txId, partition, offset where known) and can be grepped or
shipped as is.

    log = get("gx.submitter")
    log.info("submitted", requestId=..., txId=..., partition=3, offset=42)
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_json(level: str = "info") -> None:
    """JSON lines on stdout (a worker's log file), at ``level`` and above."""
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level.lower(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


def get(name: str, **bound: Any) -> Any:
    """A logger named ``name`` (the ``logger`` field of each line).

    Lazy: modules call this at import time, before the worker configures structlog, so nothing may
    be bound eagerly (``bind`` would freeze the default configuration).
    """
    return structlog.get_logger(logger_name=name, **bound)
