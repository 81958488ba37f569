"""The HA Fabric network (`gxctl stack up --topology ha`) in a state folder of the tests' own:
started fresh for a module, stopped and purged after it (issue 34).

``GX_HA_STATE_DIR`` names the folder (scripts/test.sh's HA pass: the tests' state folder with
``-ha``; default ``~/.cache/gx-pipeline/state-ha-test``), never the plain or secure pass's, which a
purge here would destroy. Its Fabric ports are the HA topology's (``GX_HA_PORT_BASE``); Postgres,
Kafka and Connect take the tests' ports, so the HA pass runs after the other passes have stopped
their stacks.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import transaction_pb2

from gxcommon.fabric_settings import FabricSettings
from stack.settings import DEFAULT_CACHE, StackSettings
from tests.integration.conftest import gxctl

FABRIC = ("orderer0", "orderer1", "orderer2", "peer0-org1", "peer1-org1", "peer0-org2", "peer0-org3", "chaincode")


def state_dir() -> Path:
    return Path(os.environ.get("GX_HA_STATE_DIR") or DEFAULT_CACHE / "state-ha-test")


@dataclass(frozen=True)
class HaStack:
    env: dict[str, str]  # the variables to run gxctl with (GX_STATE_DIR)
    stack_env: dict[str, str]  # `gxctl stack env`
    cold_start_s: float

    def settings(self) -> StackSettings:
        return StackSettings(state_dir=Path(self.env["GX_STATE_DIR"]))

    def fabric(self, **overrides: Any) -> FabricSettings:
        """The clients' Fabric settings from `gxctl stack env` (GX_FABRIC_*), with ``overrides``."""
        values = {
            k.removeprefix("GX_FABRIC_").lower(): v for k, v in self.stack_env.items() if k.startswith("GX_FABRIC_")
        }
        return FabricSettings(**{**values, **overrides})

    def running_pid(self, name: str) -> int | None:
        """The pid of the process the stack started for component ``name``, None when it does not
        run (a zombie does not: `stack status`)."""
        rows = json.loads(gxctl("stack", "status", "--json", check=False, env=self.env).stdout)
        [row] = [r for r in rows if r["component"] == name]
        return int(row["pid"]) if row["pid"] else None

    def pid(self, name: str) -> int:
        pid = self.running_pid(name)
        assert pid is not None, f"{name} is not running"
        return pid


@contextmanager
def ha_stack(
    components: tuple[str, ...] = FABRIC, extra_env: dict[str, str] | None = None, pipeline: bool = False
) -> Iterator[HaStack]:
    """A fresh HA stack (``components`` of it: the Fabric network by default; with ``pipeline``
    the whole pipeline, `gxctl up`), purged afterwards."""
    env = {"GX_STATE_DIR": str(state_dir()), "GX_TOPOLOGY": "", **(extra_env or {})}
    gxctl("down", "--purge", check=False, env=env)
    only = [a for c in components for a in ("--only", c)]
    t0 = time.monotonic()
    if pipeline:
        up = gxctl("up", "--topology", "ha", check=False, env=env)
    else:
        up = gxctl("stack", "up", "--topology", "ha", *only, check=False, env=env)
    cold = time.monotonic() - t0
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        stack_env = json.loads(gxctl("stack", "env", "--json", env=env).stdout)
        yield HaStack(env, stack_env, cold)
    finally:
        gxctl("down", "--purge", check=False, env=env)


def endorsing_msps(envelope: common_pb2.Envelope) -> list[str]:
    """The MSP ids of the endorsements in a prepared transaction, in order."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    out = []
    for action in tx.actions:
        cap = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        out += [identities_pb2.SerializedIdentity.FromString(e.endorser).mspid for e in cap.action.endorsements]
    return out
