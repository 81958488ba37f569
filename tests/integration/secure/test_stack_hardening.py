"""The local secure stack's processes as they run (issue 33): their environments
(/proc/PID/environ), the files their credentials are in, the state folder's modes, and what their
HTTP endpoints serve. Each case reads the running processes, not the code that starts them."""

from __future__ import annotations

import re
import stat
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest

from gxcommon.dsn import pg_parts
from schemas import roles
from stack.manager import Stack
from stack.pipeline import Pipeline

# A variable that holds or names a secret or a login (the same rule as stack.environ, written out
# here so that the test does not trust the code it checks).
CREDENTIAL = re.compile(r"^GX_\w*(PASSWORD\w*|_DSN|_USERNAME|_KEY|_CERT|SECRETS_DIR|TOKEN\w*)$")
FABRIC_IDENTITY = {"GX_FABRIC_CERT", "GX_FABRIC_KEY", "GX_FABRIC_TLS_CERT", "GX_FABRIC_TLS_KEY"}


@pytest.fixture(scope="module")
def stack(up: dict[str, str]) -> Stack:
    s = Stack()
    assert s.postgres.secure and s.kafka.secure, "the secure pass must run on a --secure stack"
    return s


def _environ(pid: int | None, name: str) -> dict[str, str]:
    assert pid is not None, f"{name} is not running"
    return psutil.Process(pid).environ()


# -- finding 5: each process only its own credentials ---------------------------------------------


def test_each_worker_holds_only_its_own_credentials(stack: Stack) -> None:
    """Before: every worker had the stack's whole environment (Connect's REST login, Debezium's DSN,
    the Fabric key for the results writer and the projectors) and one password file holding every
    role's password and the superuser's."""
    pipeline = Pipeline(stack)
    for name in pipeline.wanted():
        env = _environ(pipeline.workers[name].pid(), name)
        held = {k for k in env if CREDENTIAL.match(k)}
        own = {"GX_PG_DSN", "GX_KAFKA_USERNAME", "GX_KAFKA_PASSWORD_FILE"}
        fabric = FABRIC_IDENTITY | {"GX_FABRIC_COMMANDS_CERT", "GX_FABRIC_COMMANDS_KEY"}
        allowed = own | (fabric if name in ("submitter", "block-publisher") else set())
        assert held <= allowed, f"{name} holds {sorted(held - allowed)}"
        assert ("GX_FABRIC_KEY" in env) == (name in ("submitter", "block-publisher")), name
        role = roles.worker_role(name)
        passfile = Path(pg_parts(env["GX_PG_DSN"])["query"]["passfile"])
        lines = passfile.read_text().splitlines()
        assert [ln.split(":")[3] for ln in lines] == [role], f"{name}'s password file {passfile} holds {len(lines)}"
        assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        kafka_password = Path(env["GX_KAFKA_PASSWORD_FILE"])
        assert kafka_password.name == f"{env['GX_KAFKA_USERNAME']}.password" == f"gx-{name}.password"


def test_no_component_of_the_stack_holds_a_credential_variable(stack: Stack) -> None:
    """Kafka, Connect, Postgres, the Fabric nodes, the chaincode and the watchdog read their own
    secrets from their own files; none gets a GX_* credential from whoever started it."""
    procs = {name: c.proc for name, c in stack.components.items()} | {"watchdog": stack.watchdog}
    seen = 0
    for name, proc in procs.items():
        pid = proc.pid()
        if pid is None:
            continue
        env = _environ(pid, name)
        held = sorted(k for k in env if CREDENTIAL.match(k))
        assert held == [], f"{name} (pid {pid}) holds {held}"
        seen += 1
    assert seen >= 7, seen


# -- finding 7: the workers' web port ----------------------------------------------------------------


def _get(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_workers_serve_no_faust_page(stack: Stack) -> None:
    """Before: /router/ answered 200 with the app's topology, /table/ its tables, to anyone who
    reached the port."""
    pipeline = Pipeline(stack)
    for name in pipeline.wanted():
        base = f"http://127.0.0.1:{pipeline.ports[name]}"
        assert _get(f"{base}/readyz") == 200 and _get(f"{base}/metrics") == 200, name
        for page in ("/router/", "/table/", "/graph/", "/stats/"):
            assert _get(base + page) == 404, f"{name} serves {page}"


def test_metrics_with_a_token_answer_only_the_request_that_carries_it(stack: Stack, tmp_path: Path) -> None:
    """GX_WEB_TOKEN_FILE (the chart's web.metricsAuth): /metrics needs Authorization: Bearer."""
    from tests.integration.workers import Worker

    token = tmp_path / "token"
    token.write_text("t0ken-" + uuid.uuid4().hex + "\n")
    token.chmod(0o600)
    # As the test session's own logins (the admin's: a group of its own is its to join).
    app_id = f"gx-test-web-{uuid.uuid4().hex[:6]}"
    w = Worker("results-writer", app_id, tmp_path, GX_WEB_TOKEN_FILE=str(token))
    w.start()
    try:
        url = f"{w.url}/metrics"
        assert _get(url) == 401
        assert _get(url, {"Authorization": "Bearer wrong"}) == 401
        assert _get(url, {"Authorization": f"Bearer {token.read_text().strip()}"}) == 200
        assert _get(f"{w.url}/readyz") == 200 and _get(f"{w.url}/router/") == 404
    finally:
        w.stop()


# -- finding 9: the state folder, Kafka's data and the logs are the owner's only ---------------------


def test_the_state_folder_kafkas_data_and_the_logs_are_private(stack: Stack) -> None:
    """Before: the state folder was 0755, and Kafka's data and the logs readable by anyone."""
    state = stack.s.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    roots = [state / "kafka" / "data", state / "logs", state / "secrets"]
    files = [p for root in roots for p in root.rglob("*") if not p.is_symlink()]
    assert len(files) > 20, "nothing to check"
    shared = [f"{oct(stat.S_IMODE(p.stat().st_mode))} {p}" for p in files if p.exists() and p.stat().st_mode & 0o077]
    assert shared == [], shared[:10]


# -- finding 9: the Fabric nodes' operations endpoints serve TLS in the secure mode ---------------


def test_the_fabric_nodes_operations_endpoints_serve_tls_and_metrics_to_a_client_certificate_only(
    stack: Stack,
) -> None:
    """Before: plain HTTP on the peer's and the orderer's operations ports, /logspec (which changes
    the node's log levels) answering anyone who reached it."""
    import ssl

    from stack.fabric_config import Paths

    paths = Paths(stack.s.fabric_dir)
    cas = "".join((node / "tls" / "ca.crt").read_text() for node in (paths.peer_node, paths.orderer_node))
    ca = ssl.create_default_context(cadata=cas)
    client = ssl.create_default_context(cadata=cas)
    user = paths.user("User2") / "tls"  # a member of the org's TLS CA, granted nothing on the ledger
    client.load_cert_chain(user / "client.crt", user / "client.key")

    def call(url: str, context: ssl.SSLContext | None, method: str = "GET") -> int:
        req = urllib.request.Request(url, method=method, data=b'{"spec":"debug"}' if method == "PUT" else None)
        try:
            with urllib.request.urlopen(req, timeout=5, context=context) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, ConnectionError) as e:
            return -1 if "SSL" in str(e) or isinstance(e, ConnectionError) else -2

    for node, port in (("peer", stack.s.peer_ops_port), ("orderer", stack.s.orderer_ops_port)):
        base = f"127.0.0.1:{port}"
        assert call(f"http://{base}/healthz", None) in (400, -1), f"{node} answers plain HTTP"
        assert call(f"https://{base}/healthz", ca) == 200, node
        assert call(f"https://{base}/metrics", ca) in (401, 403), f"{node}'s metrics without a client certificate"
        assert call(f"https://{base}/metrics", client) == 200, node
        assert call(f"https://{base}/logspec", ca, "PUT") in (401, 403), f"{node}'s log levels without a certificate"


# -- finding 3: replays are counted, by the results writer as its own principal ----------------------


def test_the_results_writer_counts_the_replays_recorded_on_the_audit_topic(stack: Stack, up: dict[str, str]) -> None:
    """``dlq_replays_recorded`` is the audit topic's end as gx-results-writer sees it. Before, a
    results writer its ACLs kept from the topic reported 0 replays, silently."""
    import time

    from gxcommon.kafka import Producer
    from gxcommon.topics import TopicSettings
    from streams import replay_audit
    from tests.integration.workers import metric_value

    topic = TopicSettings().dlq_replays
    bootstrap = up["GX_KAFKA_BOOTSTRAP"]
    # One record on the audit topic, as the session's admin (marked as the test's, not a replay).
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, key=b"test_stack_hardening", value=b'{"test": "not a replay"}')
    assert p.flush(30) == 0
    want = replay_audit.recorded(bootstrap, topic)  # as the admin
    assert want >= 1
    pipeline = Pipeline(stack)
    url = f"http://127.0.0.1:{pipeline.ports['results-writer']}"
    deadline = time.monotonic() + 60  # the gauge is refreshed every 15 s
    while metric_value(url, "dlq_replays_recorded") < want and time.monotonic() < deadline:
        time.sleep(1)
    assert metric_value(url, "dlq_replays_recorded") >= want
    log = pipeline.workers["results-writer"].log_file.read_text(errors="replace")
    assert "dead-letter replays not counted" not in log
