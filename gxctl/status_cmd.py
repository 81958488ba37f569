"""`gxctl status`: components, connector and tasks, consumer lag, breaker, dead letters and
projector checkpoints on one screen; ``--json`` for scripts, ``--watch`` to refresh."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from gxctl.output import json_option


def collect() -> dict[str, Any]:
    from connectors.render import load
    from gxcommon import health
    from gxcommon.settings import SettingsError, connection_settings
    from gxcommon.topics import TopicSettings
    from gxcommon.worker_settings import WorkerSettings
    from gxctl.errors import UP_HINT, describe
    from gxerrors import GxError
    from monitoring import overview as o
    from projections.groups import GROUPS
    from stack.pipeline import Pipeline

    s, t, app_id = connection_settings(), TopicSettings(), WorkerSettings().app_id
    pipeline = Pipeline()
    groups = [f"{app_id}-{w}" for w in ("submitter", "results-writer", "block-publisher")]
    groups += [f"{app_id}-projector-{g}" for g in GROUPS]

    def need(value: Any, name: str) -> Any:
        if not value:
            raise SettingsError(f"{name} is not set (and no local stack was found to take it from)", name)
        return value

    def kafka() -> str:
        """The bootstrap, once Kafka has answered (a down broker fails each section at once)."""
        if "kafka" not in probed:
            try:
                health.kafka(need(s.kafka_bootstrap, "GX_KAFKA_BOOTSTRAP"), timeout=3)
                probed["kafka"] = None
            except GxError as e:  # the probe's failure, or the setting missing
                probed["kafka"] = e
        failed = probed["kafka"]
        if failed:
            raise failed
        return s.kafka_bootstrap or ""

    probed: dict[str, GxError | None] = {}

    def one_line(e: BaseException) -> str:
        return describe(e).removesuffix(f"; {UP_HINT}")

    return {
        "components": o.section(lambda: o.components(pipeline), one_line),
        "connector": o.section(
            lambda: o.connector(need(s.connect_endpoint(), "GX_CONNECT_URL"), load()["name"]), one_line
        ),
        "consumer_lag": o.section(lambda: o.consumer_lag(kafka(), groups), one_line),
        "breaker": o.section(lambda: o.breaker(f"http://127.0.0.1:{pipeline.ports['submitter']}"), one_line),
        "dead_letters": o.section(lambda: o.dead_letters(kafka(), [t.commands_dlq, t.projections_dlq]), one_line),
        "projectors": o.section(lambda: o.projectors(s.dsn(), kafka(), t.fabric_events), one_line),
    }


@click.command("status")
@json_option
@click.option(
    "--watch",
    "watch",
    type=click.FloatRange(min=0.5),
    default=None,
    is_flag=False,
    flag_value=2.0,
    help="Refresh every N seconds (default 2) until Ctrl-C.",
)
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
