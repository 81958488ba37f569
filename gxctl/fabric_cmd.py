"""`gxctl fabric install|check`: the installed Fabric release the local stack runs."""

from __future__ import annotations

from pathlib import Path

import click

from gxctl.output import emit, json_option


@click.group("fabric")
def fabric() -> None:
    """The Fabric release (peer, orderer, tools, ccaas builder) the local stack uses."""


@fabric.command("install")
@click.option(
    "--from",
    "source",
    type=click.Path(path_type=Path),
    help="A release tarball or an unpacked release directory already on disk (instead of downloading).",
)
def install(source: Path | None) -> None:
    """Install the pinned Fabric release into GX_FABRIC_HOME (default ~/.cache/gx-pipeline/fabric-VERSION)."""
    from stack import fabric_home as fh
    from stack.settings import StackSettings

    dest = fh.install(StackSettings(), source)
    click.echo(f"Fabric v{fh.VERSION} installed in {dest}")


@fabric.command("check")
@json_option
def check(as_json: bool) -> None:
    """Where the Fabric release is and its version; exit 1 with the fix when it is missing or another version."""
    from stack import fabric_home as fh
    from stack.settings import StackSettings

    home = fh.locate(StackSettings())
    data = {
        "version": fh.VERSION,
        "bin": str(home.bin_dir),
        "config": str(home.config_dir),
        "ccaas_builder": str(home.builder_dir),
    }
    emit(data, as_json, lambda d: f"Fabric v{d['version']}: {d['bin']}")
