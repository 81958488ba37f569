"""Printing for every command: a table for people, ``--json`` for programs, errors to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click

from connectors.errors import ConnectorError
from fabric_gateway.errors import GatewayError
from gxcommon.errors import GxError
from projections.errors import ProjectionError
from schemas.errors import SchemaError

# The root errors of every package the CLI drives; their messages are written for operators.
OPERATOR_ERRORS = (GxError, ConnectorError, SchemaError, ProjectionError, GatewayError)

F = TypeVar("F", bound=Callable[..., Any])


def emit(data: Any, as_json: bool, table: Callable[[Any], str] | None = None) -> None:
    if as_json or table is None:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(table(data))


def rows_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    for r in rows:
        lines.append("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)))
    return "\n".join(lines)


def handle_errors(fn: F) -> F:
    """Turn our own errors (any package's root error) into a message on stderr and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OPERATOR_ERRORS as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
