"""`gxctl demo`: the demo load of `make run`, through the outbox, with a summary."""

from __future__ import annotations

import sys

import click

from gxctl.output import emit, json_option


@click.command("demo")
@json_option
def demo(as_json: bool) -> None:
    """Run the demo story (all 25 command types, a few bad on purpose) and summarise it.

    Exit status 1 if any command failed that was not expected to.
    """
    from gxcommon.settings import connection_settings
    from stack.demo import run_demo

    say = (lambda line: None) if as_json else click.echo
    try:
        summary = run_demo(connection_settings().dsn(), say)
    except TimeoutError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    emit(summary, as_json, _text)
    sys.exit(1 if summary["unexpected"] else 0)


def _text(s: dict) -> str:
    lines = [f"\ndemo run {s['run']}: {s['commands']} commands of {s['types']} types in {s['seconds']}s: {s['counts']}"]
    for f in s["failed"]:
        tag = "expected" if f["expected"] else "UNEXPECTED"
        lines.append(
            f"  {f['status']:<8} {f['commandType']:<20} {f['requestId']:<32} ({tag}) "
            f"{f['errorCode']}: {(f['error'] or '')[:140]}"
        )
    lines.append("where to look next:")
    lines.append(f"  a command's story:  gxctl commands show demo-{s['run']}-xfer-frozen")
    lines.append("  dead letters:       gxctl dlq list")
    lines.append("  every component:    gxctl status")
    return "\n".join(lines)
