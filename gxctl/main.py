"""Entry point of `gxctl`.

- Commands are imported only when run (``gxctl --help`` imports none of them).
- With no ``GX_*`` connection variable set, the local stack's settings are used (as `gxctl stack
  env` prints them); ``--verbose`` says which were used.
- Every failure is one line on stderr (``error: ...``) with exit status 1; usage errors and bad
  input (a payload, a command type) exit 2; ``--debug`` or ``GX_DEBUG=1`` shows the traceback too
  (gxctl.errors).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

# name -> (module:attribute, one-line help shown by --help without importing the command)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("gxctl.up_cmd:up", "Start the stack, schema, topics, connector and every worker."),
    "down": ("gxctl.up_cmd:down", "Stop the workers, then the stack."),
    "status": ("gxctl.status_cmd:status", "The pipeline on one screen: health, connector, lag, breaker, DLQs."),
    "init": ("gxctl.up_cmd:init_cmd", "Migrations, topics and the connector against any deployment."),
    "demo": ("gxctl.demo_cmd:demo", "Run the demo story: all 25 command types through the pipeline."),
    "check": ("gxctl.check_cmd:check", "Probe Postgres, Kafka and Connect."),
    "stack": ("gxctl.stack_cmd:stack", "The local stack: up, down, status, env, logs."),
    "fabric": ("gxctl.fabric_cmd:fabric", "The installed Fabric release: check, install."),
    "db": ("gxctl.db_cmd:db", "Database migrations."),
    "topics": ("gxctl.topics_cmd:topics", "The pipeline's Kafka topics: apply, describe."),
    "connectors": ("gxctl.connectors_cmd:connectors", "The Debezium outbox connector: render, apply, status."),
    "schemas": ("gxctl.schemas_cmd:schemas", "Command types and their payloads: list, show, export."),
    "commands": ("gxctl.commands_cmd:commands", "Enqueue a command, or show a command's story."),
    "dlq": ("gxctl.dlq_cmd:dlq", "Dead letters: list, show, replay."),
    "projections": ("gxctl.projections_cmd:projections", "Read-model projectors: status, rebuild, wait."),
    "verify": ("gxctl.projections_cmd:verify_cmd", "Compare every read model with the chaincode's state."),
    "report": ("gxctl.report_cmd:report", "Draw the Grafana dashboards from Prometheus to PNG files."),
    "run": ("gxctl.run_cmd:run_cmd", "Run one worker in the foreground."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in COMMANDS.items()])

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, COMMANDS, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise click.UsageError(f"no such command {name!r}.{hint} (gxctl --help lists them)")
        return super().resolve_command(ctx, args)


def discover_settings(verbose: bool) -> None:
    """Fill unset GX_* connection variables from the local stack, when it has been set up here."""
    from stack.discover import use_local_stack

    used = use_local_stack()
    if verbose:
        click.echo(f"settings: {used}", err=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gx-pipeline")
    except PackageNotFoundError:
        return "unknown (not installed)"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(message="gxctl %(version)s", version=_version() if "--version" in sys.argv else "")
@click.option("--debug", is_flag=True, help="Show tracebacks (also GX_DEBUG=1).")
@click.option("--verbose", "-v", is_flag=True, help="Say which settings are used.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """GX Pipeline: outbox -> Kafka -> Fabric -> read models.

    With no GX_* variables set, commands use the local stack (`gxctl up`).
    """
    # --debug itself is read by gxctl.errors.run_cli, which prints the traceback
    from gxcommon.logs import configure_cli
    from gxctl.errors import quiet_kafka

    quiet_kafka()
    if ctx.invoked_subcommand != "run":  # a worker configures its own JSON lines
        configure_cli(verbose)
    # Not for the commands that manage the local stack: they know where it is, and a GX_PG_DSN
    # would tell them to use that Postgres instead of starting their own.
    if ctx.invoked_subcommand not in ("stack", "fabric", "up", "down", None):
        discover_settings(verbose)


def main() -> None:
    from gxctl.errors import run_cli

    run_cli(cli)


if __name__ == "__main__":
    main()
