"""`gxctl projections status | rebuild | repair | wait` and `gxctl verify`."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from gxcommon.settings import connection_settings
from gxcommon.tables import rows_table
from gxcommon.topics import TopicSettings
from gxctl.errors import CommandError
from gxctl.output import emit, json_option


@click.group("projections")
def projections() -> None:
    """The read-model projectors."""


@projections.command("status")
@json_option
def status_cmd(as_json: bool) -> None:
    """Each projector's checkpoint per partition and its lag in events and milliseconds."""
    from projections.status import status as projector_status

    s = connection_settings()
    s.require("pg_dsn", "kafka_bootstrap")
    rows = projector_status(s.dsn(), s.kafka_bootstrap or "", TopicSettings().fabric_events)
    emit(
        rows,
        as_json,
        lambda r: (
            rows_table(r, ["projector", "partition", "offset", "lastBlock", "lastEventIndex", "lag_events", "lag_ms"])
            if r
            else "no projector has a checkpoint yet"
        ),
    )


@projections.command("rebuild")
@click.argument("group")
@json_option
def rebuild_cmd(group: str, as_json: bool) -> None:
    """Replay GROUP from offset 0 into shadow tables and swap them in (reads go on meanwhile)."""
    from gxcommon.fabric_settings import FabricSettings
    from projections.groups import GROUPS
    from projections.rebuild import rebuild

    if group not in GROUPS:
        raise CommandError(f"unknown projection group {group!r}; one of {', '.join(GROUPS)}")
    s = connection_settings()
    s.require("pg_dsn", "kafka_bootstrap")
    say = (lambda line: None) if as_json else (lambda line: click.echo(f"  {line}", err=True))
    t = TopicSettings()
    out = rebuild(
        s.dsn(),
        s.kafka_bootstrap or "",
        GROUPS[group],
        t.fabric_events,
        FabricSettings().channel,
        t.projections_dlq,
        say,
    )
    emit(
        out,
        as_json,
        lambda o: (
            f"rebuilt {o['group']} from {o['records']} records: "
            + ", ".join(f"{t} {n} rows" for t, n in o["rows"].items())
            + (f"; {o['dead_letters_sent']} dead letter(s) sent" if o["dead_letters_sent"] else "")
        ),
    )


@projections.command("repair")
@json_option
def repair_cmd(as_json: bool) -> None:
    """Re-derive from the ledger every read-model row that differs from it (the repair for every
    dead letter), while the projectors run; exit 1 if a difference is left for an operator."""
    import sys

    from gxcommon.fabric_settings import FabricSettings
    from projections.repair import repair_with

    s = connection_settings()
    s.require("pg_dsn")
    t = TopicSettings()
    report = asyncio.run(repair_with(s.dsn(), FabricSettings(), t.fabric_events, t.partitions))
    click.echo(report.summary(), err=True)
    for line in report.unrepresentable:
        click.echo(f"note: {line}", err=True)
    emit(report.__dict__, as_json, lambda r: "\n".join(report.left) if report.left else "read models repaired")
    if report.left:
        sys.exit(1)


@projections.command("wait")
@click.option("--request-id", required=True, help="The command's requestId.")
@click.option("--tenant", default=None, help="The command's tenant (needed only without an outbox row).")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds before giving up (exit 1).")
@json_option
def wait_cmd(request_id: str, tenant: str | None, timeout: float, as_json: bool) -> None:
    """Return once every read model the command touches shows its effect; exit 1 naming the
    events of the command that were dead-lettered or never published."""
    from gxcommon.fabric_settings import FabricSettings
    from projections.wait import wait_for_request

    s = connection_settings()
    s.require("pg_dsn", "kafka_bootstrap")
    f = FabricSettings()
    t = TopicSettings()

    async def go() -> Any:
        gw = f.connect()
        try:
            return await wait_for_request(
                request_id,
                s.dsn(),
                gw,
                f.channel,
                f.chaincode,
                t.fabric_events,
                t.partitions,
                timeout,
                tenant_id=tenant,
                bootstrap=s.bootstrap(),
                dlq_topic=t.projections_dlq,
            )
        finally:
            await gw.close()

    from projections.errors import WaitDeadLettered

    try:
        r = asyncio.run(go())
    except WaitDeadLettered as e:
        if as_json:  # the result too, with its deadLettered events, for scripts
            emit(e.result.__dict__, True)
        raise
    emit(
        r.__dict__,
        as_json,
        lambda d: (
            f"{d['requestId']}: {d['status']}, nothing to wait for"
            if not d["events"]
            else f"{d['requestId']}: applied by "
            + ", ".join(sorted({g for e in d["events"] for g in e["groups"]}))
            + f" (block {d['block']}, {d['waited_ms']} ms)"
        ),
    )


@click.command("verify")
@click.option(
    "--settle",
    default=10.0,
    show_default=True,
    help="Seconds to let in-flight changes land before a difference counts.",
)
@json_option
def verify_cmd(settle: float, as_json: bool) -> None:
    """Compare every read model with the chaincode's state; print each difference, exit 1 if any."""
    import sys

    from gxcommon.fabric_settings import FabricSettings
    from projections.verify import verify_with

    s = connection_settings()
    s.require("pg_dsn")
    report = asyncio.run(verify_with(s.dsn(), FabricSettings(), settle))
    diffs = report.differences
    click.echo(report.summary(), err=True)  # what was compared; stdout keeps the differences
    for d in report.unrepresentable:  # the read models' limit, not drift: said, not counted
        click.echo(f"note: {d.line()}", err=True)
    emit(
        [d.__dict__ for d in diffs],
        as_json,
        lambda _: "\n".join(d.line() for d in diffs) if diffs else "read models match the ledger",
    )
    if diffs:
        sys.exit(1)
