"""The submitter agent on the real Kafka and outbox, with a gateway address where nothing listens
(fault injection; the real network's outage is in test_write_path.py): an invalid command from the
outbox is REJECTED and dead-lettered without any attempt, and with the gateway unreachable the
breaker opens, the partitions pause and no command is marked FAILED.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from gxsdk import enqueue
from schemas.examples import example
from tests.identities import throwaway_identity
from tests.integration.kafka_helpers import TopicReader
from tests.integration.workers import free_port, get, metric_value, stop_process
from tests.waiting import wait_until

RAW = (
    'INSERT INTO "OutboxCommand" (id, "tenantId", service, "commandType", "requestId", payload, status, attempts,'
    ' "createdAt", "updatedAt") VALUES (%s, %s, %s, %s, %s, %s, \'PENDING\', 0, now(), now())'
)


def test_invalid_commands_are_rejected_and_an_unreachable_fabric_opens_the_breaker(
    pipeline: dict[str, str], tmp_path: Path
) -> None:
    cert, key = throwaway_identity(tmp_path)
    web, dead_gateway = free_port(), free_port()  # nothing listens on dead_gateway
    env = {
        **os.environ,
        "GX_APP_ID": f"gx-test-{uuid.uuid4().hex[:6]}",
        "GX_WEB_PORT": str(web),
        "GX_AUTO_OFFSET_RESET": "latest",
        "GX_FABRIC_GATEWAY": f"127.0.0.1:{dead_gateway}",
        "GX_FABRIC_CERT": str(cert),
        "GX_FABRIC_KEY": str(key),
        "GX_BREAKER_FIRST_PROBE_S": "600",  # the breaker stays open for the whole test
        "GX_BREAKER_MAX_PROBE_S": "600",
    }
    log = open(tmp_path / "submitter.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gxctl.main", "run", "submitter"], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    t = f"so-{uuid.uuid4().hex[:8]}"
    url = f"http://127.0.0.1:{web}"

    def checks() -> dict[str, str]:
        """What /readyz says is not ready (nothing while it answers something else than 503)."""
        assert proc.poll() is None, (tmp_path / "submitter.log").read_text()[-3000:]
        code, body = get(f"{url}/readyz")
        return json.loads(body).get("checks", {}) if code == 503 else {}

    try:
        # Not ready, and for the gateway alone, once the consumer holds its partitions: /readyz
        # names the unreachable Fabric gateway while the submitter consumes (and rejects, and
        # opens its breaker).
        failing = wait_until(
            checks, "the submitter to join its group", until=lambda c: set(c) == {"fabric"}, timeout=90, interval=0.5
        )
        assert f"gateway 127.0.0.1:{dead_gateway} not reachable" in failing["fabric"], failing
        with psycopg.connect(pipeline["GX_PG_DSN"], autocommit=True) as conn:
            conn.execute(RAW, (f"{t}-bad", t, "svc-old", "CREATE_USER", f"{t}-bad", '{"userId": "U1", "oops": true}'))
            for i in range(3):
                with conn.transaction():
                    enqueue(
                        conn,
                        tenant_id=t,
                        service="s",
                        command_type="CREATE_USER",
                        request_id=f"{t}-ok{i}",
                        payload=example("CREATE_USER", f"{t}-{i}"),
                    )
        results = TopicReader(
            pipeline["GX_KAFKA_BOOTSTRAP"],
            "gx.command-results",
            lambda r: isinstance(r.value, dict) and r.value.get("tenantId") == t,
        )
        dlq = TopicReader(pipeline["GX_KAFKA_BOOTSTRAP"], "gx.commands.dlq", lambda r: r.headers.get("tenantId") == t)
        try:
            results.read_until(lambda rs: any(r.value["status"] == "REJECTED" for r in rs), 90)
            dead = dlq.read_until(lambda rs: bool(rs), 60)
            # The breaker opens on the valid commands' UNAVAILABLE attempts: five failures of three
            # commands, so they were retried, not failed; with it open they wait, in flight.
            wait_until(
                lambda: metric_value(url, "circuit_breaker_state", {"name": "fabric"}),
                "the breaker open",
                until=lambda state: state == 1,
                timeout=90,
                interval=0.5,
            )
            wait_until(
                lambda: metric_value(url, "submitter_commands_in_flight"),
                "the three valid commands waiting",
                until=lambda n: n >= 3,
                timeout=30,
            )
            got = results.read_to_end()
        finally:
            results.close()
            dlq.close()
        rejected = [r.value for r in got if r.value["status"] == "REJECTED"]
        assert len(rejected) == 1 and rejected[0]["requestId"] == f"{t}-bad"
        assert rejected[0]["errorCode"] == "INVALID_PAYLOAD" and rejected[0]["attempts"] == 0
        assert "oops: Extra inputs are not permitted" in rejected[0]["error"]
        assert dead[0].headers["errorCode"] == "INVALID_PAYLOAD"
        assert dead[0].headers["sourceTopic"] == "gx.commands" and dead[0].headers["id"] == f"{t}-bad"
        # At least the failures that opened it (5), each an EndorseError with UNAVAILABLE.
        assert metric_value(url, "fabric_endorsement_failures_total", {"kind": "EndorseError"}) >= 5
        # Nothing was marked FAILED because Fabric is down: the valid commands wait.
        assert metric_value(url, "outbox_commands_processed_total", {"status": "FAILED"}) == 0
        assert [r.value["requestId"] for r in got if r.value["status"] == "FAILED"] == []
    finally:
        stop_process(proc)
        log.close()
