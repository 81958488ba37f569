"""Printing for every command: a table for people, ``--json`` for programs. (A failure is printed
by gxctl.errors, as one line on stderr.)"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click


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


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
