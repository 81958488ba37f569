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
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level.lower(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


def configure_cli(verbose: bool = False) -> None:
    """Readable lines on stderr for `gxctl` (warnings, or everything with ``verbose``): a user's
    terminal gets ``2026-... [warning] batch not written, retrying  projector=ledger ...``."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO if verbose else logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def get(name: str, **bound: Any) -> Any:
    """A logger named ``name`` (the ``logger_name`` field of each line).

    Lazy: modules call this at import time, before the worker configures structlog, so nothing may
    be bound eagerly (``bind`` would freeze the default configuration).
    """
    return structlog.get_logger(logger_name=name, **bound)


def stdlib_json_config(level: str = "info") -> dict[str, Any]:
    """A logging.config dict that writes every standard-library log line (Faust, aiokafka,
    librdkafka through gxcommon.kafka) as the same JSON objects as ours, on stdout."""

    def logger_name(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        record = event.get("_record")
        event["logger_name"] = record.name if record is not None else None  # the key our own lines use
        return event

    pre_chain = [logger_name, structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processor": structlog.processors.JSONRenderer(),
                "foreign_pre_chain": pre_chain,
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
                "level": level.upper(),
            }
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
    }
