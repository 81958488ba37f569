"""Rows as a plain-text table for people: what `gxctl` prints, and the `gxctl status` screen
(monitoring.overview) draws."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


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
    """``columns`` of ``rows`` (a missing key shows as -), with a header line."""
    from tabulate import tabulate  # only a command that prints a table pays for it

    return tabulate(
        [[cell(r.get(c)) for c in columns] for r in rows],
        headers=list(columns),
        tablefmt="plain",
        disable_numparse=True,
    )
