"""`gxctl schemas export DIR`."""

from __future__ import annotations

from pathlib import Path

import click

from gxctl.output import emit, json_option
from schemas.export import export


@click.group("schemas")
def schemas() -> None:
    """Payload and envelope models."""


@schemas.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
def export_cmd(directory: Path, as_json: bool) -> None:
    """Write a JSON Schema file per model into DIRECTORY."""
    paths = export(directory)
    emit([str(p) for p in paths], as_json, lambda ps: f"wrote {len(ps)} schemas to {directory}")
