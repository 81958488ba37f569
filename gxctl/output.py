"""Printing for every command: a table for people, ``--json`` for programs. (A failure is printed
by gxctl.errors, as one line on stderr.)"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click


def emit(data: Any, as_json: bool, table: Callable[[Any], str] | None = None) -> None:
    """``data`` as JSON, or as ``table`` draws it for people (gxcommon.tables)."""
    if as_json or table is None:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(table(data))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
