"""Secrets hygiene, the last test of the secure pass (marked ``last``: tests/conftest.py runs it
after every other test of the session): no password or private key the stacks made appears in
any log of either stack (plain and secure pass), in the output of any gxctl command that prints
JSON, in the connector config (rendered, and as Connect holds it), in the Kafka and Connect
configs the stack renders, or in a rendered Helm manifest outside its Secret.

The secrets are read from where the stacks keep them (0600 files under <state>/secrets, the
Fabric keystores); a private key counts as leaked if any line of its PEM body appears.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from gxcommon.http_auth import request
from stack import gotools
from stack.manager import Stack
from stack.settings import StackSettings
from tests.integration.conftest import GXCTL

# It reads the logs and outputs every other test of both passes produced.
pytestmark = pytest.mark.last

ROOT = Path(__file__).resolve().parents[3]
# gxctl commands that print JSON, with arguments for the ones that need some. Left out: `dlq
# replay` (re-sends a record) and the stack's own up/down (the session fixture owns them).
RID = f"hygiene-{uuid.uuid4().hex[:8]}"


def json_commands(tmp: Path) -> list[list[str]]:
    return [
        ["status"],
        ["check"],
        ["stack", "env"],
        ["stack", "status"],
        ["fabric", "check"],
        ["db", "migrate"],
        ["topics", "apply"],
        ["topics", "describe"],
        ["connectors", "apply"],
        ["connectors", "status"],
        ["schemas", "export", str(tmp / "schemas")],
        ["schemas", "list"],
        ["schemas", "show", "CREATE_USER"],
        ["commands", "enqueue", "hygiene", "test", "PAUSE_SYSTEM", RID, "{}"],
        ["projections", "wait", RID],
        ["commands", "show", RID],
        ["dlq", "list"],
        ["dlq", "show", "0", "0"],
        ["projections", "status"],
        ["projections", "rebuild", "loans"],
        ["verify"],
        ["report", str(tmp / "report")],
        ["demo"],
    ]


def _pem_lines(text: str) -> list[str]:
    body = re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END", text, re.S)
    return [ln.strip() for ln in body.group(1).split() if len(ln.strip()) >= 32] if body else []


def stack_secrets(state: Path) -> dict[str, str]:
    """name -> secret text, for every password and private key of the stack at ``state``."""
    out: dict[str, str] = {}
    sec = state / "secrets"
    if (sec / "pg_password").exists():
        out["postgres superuser"] = (sec / "pg_password").read_text().strip()
    for f, what in ((sec / "pg_roles.json", "postgres role"), (sec / "kafka" / "users.json", "kafka user")):
        if f.exists():
            out.update({f"{what} {k}": v for k, v in json.loads(f.read_text()).items()})
    for f in (sec / "connect").glob("*.password"):
        out[f"connect {f.stem}"] = f.read_text().strip()
    for f in [*sec.rglob("*"), *(state / "fabric").rglob("*")]:
        if f.is_file() and f.stat().st_size < 20000 and b"PRIVATE KEY" in f.read_bytes():
            for i, line in enumerate(_pem_lines(f.read_text())):
                out[f"private key {f.relative_to(state)} line {i}"] = line
    return out


def _forms(value: str) -> set[str]:
    """The ways a secret can be written out: as is, percent-encoded (in a URL), base64."""
    return {value, quote(value, safe=""), base64.b64encode(value.encode()).decode()}


def _hits(secrets: dict[str, str], where: str, text: str) -> list[str]:
    return [f"{name} in {where}" for name, value in secrets.items() if value and any(f in text for f in _forms(value))]


def test_no_secret_in_any_log_json_output_connector_config_or_helm_manifest(up: dict[str, str], tmp_path: Path) -> None:
    st = Stack()
    states = [st.s.state_dir]
    plain = Path(str(st.s.state_dir).removesuffix("-secure"))
    if plain != st.s.state_dir and plain.exists():
        states.append(plain)
    secrets = {f"{s.name}: {k}": v for s in states for k, v in stack_secrets(s).items()}
    assert sum("postgres role" in k for k in secrets) >= 6 and sum("kafka user" in k for k in secrets) >= 6
    assert sum("private key" in k for k in secrets) >= 10, "keys of Kafka's CA and broker and of Fabric's nodes"
    hits: list[str] = []
    scanned = 0

    # Every --json output (errors included: they are output too).
    for args in json_commands(tmp_path):
        proc = subprocess.run([*GXCTL, *args, "--json"], capture_output=True, text=True, timeout=600)
        hits += _hits(secrets, f"gxctl {' '.join(args)} --json", proc.stdout + proc.stderr)
        scanned += 1
    # The connector: as rendered by gxctl, and as Connect holds it.
    proc = subprocess.run([*GXCTL, "connectors", "render"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "gx_cdc" in proc.stdout
    hits += _hits(secrets, "gxctl connectors render", proc.stdout)
    with urllib.request.urlopen(request(f"{st.connect.endpoint}/connectors/gx-outbox"), timeout=10) as r:
        hits += _hits(secrets, "Connect's REST answer for gx-outbox", r.read().decode())
    # Every log of both stacks (components, workers, formats), after all of the above ran, and the
    # configs the stack renders for Kafka and Connect (their logins come through config providers).
    for state in states:
        files = [
            *(state / "logs").rglob("*"),
            state / "kafka" / "server.properties",
            *(state / "connect").glob("*.properties"),
        ]
        for f in files:
            if f.is_file():
                hits += _hits(secrets, str(f), f.read_text(errors="replace"))
                scanned += 1
    # Helm: the Postgres password (as given, and base64) appears only in the chart's Secret.
    helm = gotools.require("helm", StackSettings().cache_dir)
    password = f"hyg-{uuid.uuid4().hex}"
    secrets["helm postgres.password"] = password
    for values in ("values-testnet.yaml", "values-mainnet.yaml"):
        proc = subprocess.run(
            [
                str(helm),
                "template",
                "gx",
                str(ROOT / "helm" / "gx-pipeline"),
                "-f",
                str(ROOT / "helm" / "gx-pipeline" / values),
                "--set-string",
                f"postgres.password={password}",
                "--set",
                "chaincode.packageId=gxtv3:0",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        for doc in (d for d in yaml.safe_load_all(proc.stdout) if d):
            if doc["kind"] == "Secret":
                doc = {**doc, "data": {k: v for k, v in doc.get("data", {}).items() if k != "password"}}
            hits += _hits(secrets, f"helm {values}: {doc['kind']} {doc['metadata']['name']}", json.dumps(doc))
            scanned += 1
    assert scanned > 60
    assert hits == [], "secrets leaked:\n" + "\n".join(hits)
