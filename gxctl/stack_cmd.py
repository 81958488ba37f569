"""`gxctl stack up|down|status|env|logs|smoke`: the local stack."""

from __future__ import annotations

import shlex
import sys

import click

from gxcommon.tables import rows_table
from gxctl.output import emit, json_option
from stack.manager import Stack
from stack.procs import tail
from stack.settings import StackSettings

topology_option = click.option(
    "--topology",
    type=click.Choice(["single", "ha"]),
    default=None,
    help="The Fabric network's shape, for a new network (kept with it; default: the existing one, else "
    "single): ha = three Raft orderers, two Org1 peers, one peer of Org2 and of Org3, MAJORITY endorsement.",
)
only_option = click.option("--only", multiple=True, help="Act on this component only (repeatable).")


@click.group("stack")
def stack() -> None:
    """The docker-free local stack (Postgres, Kafka, Kafka Connect + Debezium, Fabric orderer, peer and chaincode)."""


SECURE_HELP = (
    "A new stack with every hop authenticated and encrypted and a least-privilege identity per "
    "process (docs/security.md); kept with the stack."
)


@stack.command("up")
@only_option
@click.option(
    "--with-monitoring",
    is_flag=True,
    help="Also run Prometheus (scraping workers, Connect and Fabric, alert rules loaded).",
)
@click.option("--secure", is_flag=True, help=SECURE_HELP)
@topology_option
def up(only: tuple[str, ...], with_monitoring: bool, secure: bool, topology: str | None) -> None:
    """Start every component (idempotent) and wait until each is healthy."""
    st = Stack(StackSettings(topology=topology) if topology else None)
    st.up(list(only) or None, say=lambda line: click.echo(line, err=True), monitoring=with_monitoring, secure=secure)
    click.echo(rows_table(st.status(), ["component", "pid", "healthy", "endpoint"]))


@stack.command("down")
@only_option
@click.option("--purge", is_flag=True, help="Also delete all data of the local stack.")
def down(only: tuple[str, ...], purge: bool) -> None:
    """Stop what `up` started, by pid."""
    stopped = Stack().down(list(only) or None, purge=purge)
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}" + (" (data purged)" if purge else ""))


@stack.command("status")
@json_option
def status(as_json: bool) -> None:
    """Each component's pid and health; exit status 1 unless all are healthy."""
    rows = Stack().status()
    ha = ["height", "raft_leader"] if any("height" in r for r in rows) else []
    emit(rows, as_json, lambda r: rows_table(r, ["component", "pid", "healthy", "endpoint", *ha, "log"]))
    sys.exit(0 if all(r["healthy"] for r in rows) else 1)


@stack.command("env")
@json_option
@click.option("--export", "export", is_flag=True, help="Prefix each line with `export `.")
def env(as_json: bool, export: bool) -> None:
    """Shell-sourceable KEY=VALUE lines every process reads: eval "$(gxctl stack env --export)"."""
    data = Stack().env()
    prefix = "export " if export else ""
    emit(data, as_json, lambda d: "\n".join(f"{prefix}{k}={shlex.quote(v)}" for k, v in d.items()))


@stack.command("logs")
@click.argument("name")
@click.option("-n", "--lines", default=60, show_default=True)
def logs(name: str, lines: int) -> None:
    """The last lines of a component's log."""
    from pathlib import Path

    click.echo(tail(Path(Stack().log_file(name)), lines))
