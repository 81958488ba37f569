"""Printing for every command: a table for people, ``--json`` for programs, errors to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click


def operator_errors() -> tuple[type[BaseException], ...]:
    """The root errors of every package the CLI drives; their messages are written for operators.
    (Imported when an error happens, so that a quick command does not load every package.)"""
    from connectors.errors import ConnectorError
    from fabric_gateway.errors import GatewayError
    from gxcommon.errors import GxError
    from projections.errors import ProjectionError
    from schemas.errors import SchemaError

    return (GxError, ConnectorError, SchemaError, ProjectionError, GatewayError)


F = TypeVar("F", bound=Callable[..., Any])


def emit(data: Any, as_json: bool, table: Callable[[Any], str] | None = None) -> None:
    if as_json or table is None:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(table(data))


def cell(value: Any) -> str:
    """A value as people read it: ok/FAIL for booleans, - for nothing, JSON for structures."""
    if value is True:
        return "ok"
    if value is False:
        return "FAIL"
    if value is None or value == "":
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def rows_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    from tabulate import tabulate

    return tabulate(
        [[cell(r.get(c)) for c in columns] for r in rows],
        headers=list(columns),
        tablefmt="plain",
        disable_numparse=True,
    )


def handle_errors(fn: F) -> F:
    """Turn our own errors (any package's root error) into a message on stderr: exit status 2 for
    bad input (a payload or a command type), 1 for failures. Other errors reach gxctl.errors."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            from schemas.errors import PayloadError

            if isinstance(e, PayloadError):
                click.echo(f"error: {e}", err=True)
                sys.exit(2)
            if isinstance(e, operator_errors()):
                from gxctl.errors import describe

                click.echo(f"error: {describe(e)}", err=True)
                sys.exit(1)
            raise

    return wrapper  # type: ignore[return-value]


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
