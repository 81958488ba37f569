"""`gxctl status`: components, connector and tasks, consumer lag, breaker, dead letters and
projector checkpoints on one screen; ``--json`` for scripts, ``--watch`` to refresh."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from gxctl.output import handle_errors, json_option


def collect() -> dict[str, Any]:
    from connectors.render import load
    from gxcommon.settings import connection_settings
    from gxcommon.topics import TopicSettings
    from gxcommon.worker_settings import WorkerSettings
    from monitoring import overview as o
    from projections.groups import GROUPS
    from stack.pipeline import Pipeline

    s, t, app_id = connection_settings(), TopicSettings(), WorkerSettings().app_id
    pipeline = Pipeline()
    groups = [f"{app_id}-{w}" for w in ("submitter", "results-writer", "block-publisher")]
    groups += [f"{app_id}-projector-{g}" for g in GROUPS]

    def need(value: Any, name: str) -> Any:
        if not value:
            raise RuntimeError(f"{name} is not set (and no local stack was found to take it from)")
        return value

    return {
        "components": o._section(lambda: o.components(pipeline)),
        "connector": o._section(lambda: o.connector(need(s.connect_url, "GX_CONNECT_URL"), load()["name"])),
        "consumer_lag": o._section(lambda: o.consumer_lag(need(s.kafka_bootstrap, "GX_KAFKA_BOOTSTRAP"), groups)),
        "breaker": o._section(lambda: o.breaker(f"http://127.0.0.1:{pipeline.ports['submitter']}")),
        "dead_letters": o._section(lambda: o.dead_letters(need(s.kafka_bootstrap, "GX_KAFKA_BOOTSTRAP"),
                                                          [t.commands_dlq, t.projections_dlq])),
        "projectors": o._section(lambda: o.projectors(s.dsn(), need(s.kafka_bootstrap, "GX_KAFKA_BOOTSTRAP"),
                                                      t.fabric_events)),
    }


@click.command("status")
@json_option
@click.option("--watch", "watch", type=float, default=None, is_flag=False, flag_value=2.0,
              help="Refresh every N seconds (default 2) until Ctrl-C.")
@handle_errors
def status(as_json: bool, watch: float | None) -> None:
    """The pipeline on one screen; exit status 1 unless everything is healthy."""
    import json

    from gxctl.errors import quiet_kafka
    from monitoring.overview import healthy, render

    quiet_kafka()
    while True:
        view = collect()
        text = json.dumps(view, indent=2, default=str) if as_json else render(view)
        if watch:
            click.clear()
            click.echo(f"gxctl status  {time.strftime('%H:%M:%S')}  (every {watch:g}s, Ctrl-C to stop)")
        click.echo(text)
        if not watch:
            sys.exit(0 if healthy(view) else 1)
        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            sys.exit(0)
