"""The secure stack end to end: every hop authenticated, every identity allowed its job only.

Postgres (schemas.roles), Kafka Connect's REST API (basic auth) and the peer (mutual TLS) are
checked here against the running pipeline; Kafka's SCRAM and ACLs in test_kafka_security.py.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import psutil
import psycopg
import pytest

from gxcommon.dsn import password, pg_parts, pg_url
from gxcommon.http_auth import request, with_credentials
from schemas import roles
from stack.manager import Stack
from stack.pipeline import Pipeline
from tests.waiting import wait_until

IDENTITY = roles.service_role("svc-identity")


@pytest.fixture(scope="module")
def stack(up: dict[str, str]) -> Stack:
    s = Stack()
    assert s.postgres.secure and s.kafka.secure, "the secure pass must run on a --secure stack"
    return s


def _attempt(dsn: str, sql: str, params: tuple = ()) -> str:
    """'ok', or the error's class and first line."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql, params)
        return "ok"
    except psycopg.Error as e:
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"


def test_postgres_refuses_a_client_without_the_right_password(stack: Stack) -> None:
    p = pg_parts(stack.postgres.role_dsn(roles.CDC))
    bare = pg_url(p["user"], "", p["host"], p["port"], p["dbname"])
    assert "no password supplied" in _attempt(bare, "SELECT 1")
    wrong = pg_url(p["user"], "not-the-password", p["host"], p["port"], p["dbname"])
    assert f'password authentication failed for user "{roles.CDC}"' in _attempt(wrong, "SELECT 1")


@pytest.fixture
def outbox_row(stack: Stack) -> Iterator[str]:
    """A command enqueued through the SDK as the identity service's role (as that upstream service
    would), twice: the second call reads the first back (idempotence) with the role's privileges
    only. Removed after."""
    from gxsdk import enqueue

    rid = f"sec-{uuid.uuid4().hex[:10]}"
    results = []
    for _ in range(2):
        with psycopg.connect(stack.postgres.role_dsn(IDENTITY)) as conn, conn.transaction():
            results.append(
                enqueue(
                    conn,
                    tenant_id="sec-test",
                    service="svc-identity",
                    command_type="CREATE_USER",
                    request_id=rid,
                    payload={
                        "userId": rid,
                        "email": f"{rid}@example.com",
                        "firstName": "Sec",
                        "lastName": "Test",
                        "country": "MY",
                    },
                )
            )
    assert [r.created for r in results] == [True, False] and results[0].id == results[1].id
    yield results[0].id
    with psycopg.connect(stack.postgres.role_dsn(roles.OWNER), autocommit=True) as conn:
        conn.execute('DELETE FROM "OutboxCommand" WHERE id = %s', (results[0].id,))


def test_each_postgres_role_does_its_job_and_nothing_else(stack: Stack, outbox_row: str) -> None:
    dsn = stack.postgres.role_dsn
    denied_outbox = "InsufficientPrivilege: permission denied for table OutboxCommand"
    set_status = """UPDATE "OutboxCommand" SET status = 'FAILED', error = 'x' WHERE id = %s"""
    # Debezium's role reads the outbox and replicates; it cannot change a row.
    assert _attempt(dsn(roles.CDC), 'SELECT payload FROM "OutboxCommand" WHERE id = %s', (outbox_row,)) == "ok"
    assert _attempt(dsn(roles.CDC), set_status, (outbox_row,)) == denied_outbox
    assert _attempt(dsn(roles.CDC), 'DELETE FROM "OutboxCommand" WHERE id = %s', (outbox_row,)) == denied_outbox
    # A service's role inserts (fixture); it cannot update, nor read the pipeline's columns.
    assert _attempt(dsn(IDENTITY), set_status, (outbox_row,)) == denied_outbox
    assert _attempt(dsn(IDENTITY), 'SELECT error FROM "OutboxCommand"') == denied_outbox
    # The results writer updates status columns only.
    assert _attempt(dsn(roles.RESULTS), set_status, (outbox_row,)) == "ok"
    assert (
        _attempt(dsn(roles.RESULTS), """UPDATE "OutboxCommand" SET payload = '{"a": 1}' WHERE id = %s""", (outbox_row,))
        == denied_outbox
    )
    assert (
        _attempt(dsn(roles.RESULTS), 'INSERT INTO "OutboxCommand" SELECT * FROM "OutboxCommand" LIMIT 0')
        == denied_outbox
    )
    # A projector writes its own tables and checkpoints, nobody else's.
    ledger = dsn(roles.projector_role("ledger"))
    assert _attempt(ledger, 'UPDATE "Wallet" SET "updatedAt" = "updatedAt" WHERE false') == "ok"
    assert (
        _attempt(ledger, 'UPDATE "User" SET "updatedAt" = "updatedAt" WHERE false')
        == "InsufficientPrivilege: permission denied for table User"
    )
    assert _attempt(ledger, 'SELECT 1 FROM "OutboxCommand"') == denied_outbox
    checkpoint = (
        'INSERT INTO "ProjectorState" ("projectorName", channel, topic, "partition", "offset", "lastBlock",'
        ' "lastEventIndex") VALUES (%s, %s, %s, 0, 0, 0, 0)'
    )
    touch = 'UPDATE "ProjectorState" SET "updatedAt" = now() WHERE "projectorName" = %s AND channel = %s RETURNING 1'
    chan = f"sec-{uuid.uuid4().hex[:8]}"
    try:
        assert _attempt(ledger, checkpoint, ("ledger", chan, "t")) == "ok"
        assert "violates row-level security policy" in _attempt(ledger, checkpoint, ("identity", chan, "t"))
        with psycopg.connect(ledger, autocommit=True) as conn:
            assert conn.execute(touch, ("ledger", chan)).fetchall() == [(1,)]
        with psycopg.connect(dsn(roles.projector_role("identity")), autocommit=True) as conn:
            assert conn.execute(touch, ("ledger", chan)).fetchall() == [], "another projector's rows are invisible"
    finally:
        with psycopg.connect(dsn(roles.OWNER), autocommit=True) as conn:
            conn.execute('DELETE FROM "ProjectorState" WHERE channel = %s', (chan,))
    # Only the owner changes the schema.
    assert "must be owner of table OutboxCommand" in _attempt(
        dsn(roles.RESULTS), 'ALTER TABLE "OutboxCommand" ADD COLUMN x INT'
    )


def test_workers_and_debezium_log_in_as_their_own_identities(stack: Stack) -> None:
    """The running processes, not the configuration: each worker's environment names its own
    Postgres role and Kafka principal and holds no password, and Debezium streams as gx_cdc."""
    from stack.kafka_security import principal

    pipeline = Pipeline(stack)
    for name in pipeline.wanted():  # the secure mode's workers: a projector per group
        env = psutil.Process(pipeline.workers[name].pid()).environ()
        assert pg_parts(env["GX_PG_DSN"])["user"] == roles.worker_role(name), name
        assert env["GX_KAFKA_USERNAME"] == principal(name), name
        assert not any(k.endswith("PASSWORD") for k in env if k.startswith("GX_")), name
        assert pg_parts(env["GX_PG_DSN"])["password"] == "", name

    # Sessions come and go (a reconnect, a probe): look until both show, for at most 30 s.
    def sessions() -> tuple[list[tuple[str]], set[str]]:
        with psycopg.connect(stack.postgres.role_dsn(roles.OWNER)) as conn:
            streaming = conn.execute("SELECT usename FROM pg_stat_replication").fetchall()
            holders = {u for (u,) in conn.execute("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'gx'")}
        return streaming, holders

    wait_until(
        sessions,
        "the CDC role streaming and the results writer's and ledger projector's roles connected",
        until=lambda s: s[0] == [(roles.CDC,)] and s[1] >= {roles.RESULTS, roles.projector_role("ledger")},
        timeout=30,
        interval=1,
    )


def _http(url: str) -> int:
    try:
        with urllib.request.urlopen(request(url), timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_connect_rest_api_requires_basic_auth_and_never_returns_the_password(stack: Stack) -> None:
    url = stack.connect.url
    assert _http(f"{url}/connectors") == 401
    assert _http(with_credentials(url, "gx-admin", "wrong") + "/connectors") == 401
    assert _http(f"{stack.connect.endpoint}/connectors") == 200
    with urllib.request.urlopen(request(f"{stack.connect.endpoint}/connectors/gx-outbox/config"), timeout=10) as r:
        config = json.load(r)
    assert config["database.user"] == roles.CDC
    assert config["database.password"].startswith("${file:")
    secret = password(stack.postgres.role_dsn(roles.CDC))
    assert secret and secret not in json.dumps(config)


def test_the_peer_requires_a_client_certificate_bound_to_every_request(stack: Stack) -> None:
    from fabric_gateway import Gateway, GatewayError, load_identity
    from gxcommon.fabric_settings import FabricSettings

    f = FabricSettings()
    assert f.tls_cert and f.tls_key
    without = f.model_copy(update={"tls_cert": None, "tls_key": None})

    async def go() -> tuple[bool, object, str]:
        ch = without.grpc_channel()
        try:
            await asyncio.wait_for(ch.channel_ready(), 5)
            handshake = True
        except TimeoutError:
            handshake = False
        finally:
            await ch.close()
        gw = f.connect()
        answer = json.loads(await gw.evaluate(f.channel, f.chaincode, "QueryContract:Get", ["system", "status"]))
        # A Deliver request signed without the TLS certificate's hash is refused.
        assert f.cert is not None  # the secure stack's settings name the client certificate
        unbound = Gateway(gw.channel, load_identity(f.msp_id, f.cert), f.signer())
        try:
            await asyncio.wait_for(anext(unbound.blocks(f.channel, 0)), 10)
            deliver = "delivered"
        except GatewayError as e:
            deliver = str(e)
        finally:
            await gw.close()
        return handshake, answer, deliver

    handshake, answer, deliver = asyncio.run(go())
    assert not handshake, "a client without a certificate completed the TLS handshake"
    assert answer, "a query over mutual TLS answers"
    assert "BAD_REQUEST" in deliver


def test_a_rebuild_gives_the_new_tables_the_projectors_grants(stack: Stack) -> None:
    from tests.integration.conftest import gxctl

    proc = gxctl("projections", "rebuild", "loans", "--json", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    touch = 'UPDATE "Loan" SET "updatedAt" = "updatedAt" WHERE false'
    assert _attempt(stack.postgres.role_dsn(roles.projector_role("loans")), touch) == "ok"
    assert (
        _attempt(stack.postgres.role_dsn(roles.projector_role("ledger")), touch)
        == "InsufficientPrivilege: permission denied for table Loan"
    )


def test_gxctl_db_roles_creates_the_roles_from_password_files(stack: Stack, tmp_path) -> None:
    """What an operator runs once per cluster (as a superuser) before `gxctl db migrate`."""
    from stack.postgres import USER
    from tests.integration.conftest import gxctl

    pw = tmp_path / "passwords"
    pw.mkdir()
    for role, secret in stack.postgres.role_passwords().items():
        (pw / role).write_text(secret + "\n")
    superuser = {"GX_PG_DSN": stack.postgres.role_dsn(USER)}
    proc = gxctl("db", "roles", "--passwords-dir", str(pw), "--json", env=superuser, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["roles"] == sorted(stack.postgres.role_passwords())
    assert _attempt(stack.postgres.role_dsn(roles.CDC), "SELECT 1") == "ok"  # same passwords: still logs in
    (pw / IDENTITY).unlink()
    proc = gxctl("db", "roles", "--passwords-dir", str(pw), env=superuser, check=False)
    assert (
        proc.returncode != 0
        and proc.stderr.strip() == f"error: --passwords-dir {pw}: no password file for gx_svc_identity"
    )


def test_a_refused_login_is_one_line_naming_the_settings_to_check(stack: Stack, tmp_path) -> None:
    from tests.integration.conftest import gxctl

    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-it\n")
    wrong.chmod(0o600)
    kafka = gxctl("topics", "describe", env={"GX_KAFKA_PASSWORD_FILE": str(wrong)}, check=False)
    assert kafka.returncode == 1 and len(kafka.stderr.strip().splitlines()) == 1, kafka.stderr
    assert "refused the login: SASL authentication error" in kafka.stderr and "GX_KAFKA_PASSWORD_FILE" in kafka.stderr
    connect = gxctl("connectors", "status", env={"GX_CONNECT_PASSWORD_FILE": str(wrong)}, check=False)
    assert connect.returncode == 1, connect.stderr
    assert connect.stderr.splitlines()[0].endswith(
        "refused the login (HTTP 401): check GX_CONNECT_USERNAME and GX_CONNECT_PASSWORD_FILE"
    ), connect.stderr


def _enqueue_as(stack: Stack, service: str, tenant: str, ctype: str, payload: dict, as_service: str = "") -> str:
    """Enqueue through the SDK as ``service``'s own Postgres role (the row names ``as_service``
    when given); the requestId. Raises what the database raises."""
    from gxsdk import enqueue

    rid = f"{tenant}-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.postgres.role_dsn(roles.service_role(service))) as conn, conn.transaction():
        enqueue(
            conn, tenant_id=tenant, service=as_service or service, command_type=ctype, request_id=rid, payload=payload
        )
    return rid


def _outbox(stack: Stack, tenant: str) -> dict[str, tuple[str, str | None, str | None]]:
    with psycopg.connect(stack.postgres.role_dsn(roles.OWNER)) as conn:
        rows = conn.execute(
            'SELECT "requestId", status::text, "errorCode", error FROM "OutboxCommand" WHERE "tenantId" = %s', (tenant,)
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _settled(stack: Stack, tenant: str, n: int) -> dict[str, tuple[str, str | None, str | None]]:
    return wait_until(
        lambda: _outbox(stack, tenant),
        f"{n} final outbox rows of {tenant}",
        until=lambda rows: len(rows) >= n and all(r[0] in ("CONFIRMED", "FAILED") for r in rows.values()),
        timeout=120,
        interval=0.3,
    )


def test_a_user_level_service_cannot_get_an_administrative_command_onto_the_ledger_by_any_path(
    stack: Stack, up: dict[str, str]
) -> None:
    """svc-loans (user-level) wants its own loan approved (APPROVE_LOAN, administrative): its
    outbox row is refused; straight to Kafka it cannot write gx.commands, and on the direct path's
    topic its envelope is REJECTED by the submitter even when it names svc-admin (issue 31: the
    direct path's service is only the producer's word); and its ledger identity (scope `commands`)
    is FORBIDDEN by the chaincode. The loan stays
    unpaid until svc-admin approves it, which goes through."""
    from fabric_gateway import EndorseError, Gateway
    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.kafka import Producer
    from gxsdk.outbox import IdempotencyConflict
    from gxsdk.produce import produce
    from schemas.envelopes import CommandEnvelope
    from tests.integration.fabric_helpers import CC_ARGS, ensure, gateway, rid, wallet
    from tests.integration.kafka_helpers import TopicReader

    tenant = f"lp-{uuid.uuid4().hex[:8]}"
    borrower, approver, loan = f"b-{tenant}", f"a-{tenant}", f"loan-{tenant}"

    async def system() -> None:
        async with gateway() as gw:
            await ensure(gw, "AdminContract:BootstrapSystem", rid("boot"))
            await ensure(gw, "AdminContract:InitializeCountry", rid("country"), "MY", "Malaysia")

    asyncio.run(system())
    for user in (borrower, approver):
        person = {"userId": user, "email": f"{user}@example.com", "firstName": "L", "lastName": "P", "country": "MY"}
        _enqueue_as(stack, "svc-identity", tenant, "CREATE_USER", person)
    _settled(stack, tenant, 2)
    _enqueue_as(stack, "svc-admin", tenant, "APPOINT_ADMIN", {"userId": approver})
    applied = _enqueue_as(
        stack, "svc-loans", tenant, "APPLY_FOR_LOAN", {"loanId": loan, "borrowerId": borrower, "amount": 100}
    )
    rows = _settled(stack, tenant, 4)
    assert {r[0] for r in rows.values()} == {"CONFIRMED"}, rows
    approve = {"loanId": loan, "approverId": approver}

    # 1. The outbox: the service's role may write neither another type nor another service's row.
    refused = 'new row violates row-level security policy {} for table "OutboxCommand"'
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as own_name:
        _enqueue_as(stack, "svc-loans", tenant, "APPROVE_LOAN", approve)
    assert str(own_name.value).splitlines()[0] == refused.format('"svc-loans may write only its command types"')
    # A row in the administrative service's name: refused (Postgres names the first policy that
    # refuses it, in the order of their names), and so is one of its own type in that name.
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as admin_name:
        _enqueue_as(stack, "svc-loans", tenant, "APPROVE_LOAN", approve, as_service="svc-admin")
    assert str(admin_name.value).startswith('new row violates row-level security policy "svc-loans may write only ')
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as other_name:
        loan2 = {"loanId": f"{loan}-2", "borrowerId": borrower, "amount": 1}
        _enqueue_as(stack, "svc-loans", tenant, "APPLY_FOR_LOAN", loan2, as_service="svc-admin")
    assert str(other_name.value).splitlines()[0] == refused.format('"svc-loans may write only service svc-loans"')
    # Another service's requestId is taken, and its row unreadable: a conflict naming no command.
    with pytest.raises(IdempotencyConflict, match="already used by a command of another service"):
        from gxsdk import enqueue

        with psycopg.connect(stack.postgres.role_dsn(IDENTITY)) as conn, conn.transaction():
            enqueue(
                conn,
                tenant_id=tenant,
                service="svc-identity",
                command_type="CREATE_USER",
                request_id=applied,
                payload={
                    "userId": f"x-{tenant}",
                    "email": "x@example.com",
                    "firstName": "X",
                    "lastName": "Y",
                    "country": "MY",
                },
            )
    assert len(_outbox(stack, tenant)) == 4

    # 2. Straight to Kafka (gxsdk.produce), logged in as the direct path's principal (gx-producer,
    # which every direct producer shares, so the envelope's `service` is only its word): it cannot
    # write gx.commands at all, and on its own topic the submitter refuses an administrative type
    # whatever service the envelope names, svc-admin included; a user-level type of another
    # service is refused by the service table.
    kafka = stack.kafka
    direct_login = {**kafka.client_conf("gx-producer"), "bootstrap.servers": up["GX_KAFKA_BOOTSTRAP"]}

    def send(
        topic: str, service: str, ctype: str, request_id: str, payload: dict
    ) -> tuple[CommandEnvelope, str | None]:
        producer = Producer({**direct_login, "enable.idempotence": True, "partitioner": "murmur2_random"})
        errors: list = []
        env = produce(
            producer,
            topic,
            tenant_id=tenant,
            service=service,
            command_type=ctype,
            request_id=request_id,
            payload=payload,
            on_delivery=lambda e, m: errors.append(e),
        )
        producer.flush(30)
        return env, (errors[0].name() if errors and errors[0] else None)

    _, denied = send("gx.commands", "svc-admin", "APPROVE_LOAN", f"{tenant}-sdk-outbox-topic", approve)
    assert denied == "TOPIC_AUTHORIZATION_FAILED"
    sent_rid = f"{tenant}-sdk"
    as_admin, error = send("gx.commands.direct", "svc-admin", "APPROVE_LOAN", sent_rid, approve)
    assert error is None
    as_loans, error = send("gx.commands.direct", "svc-loans", "APPROVE_LOAN", f"{tenant}-sdk-2", approve)
    assert error is None
    ids = {as_admin.id, as_loans.id}
    with TopicReader(
        up["GX_KAFKA_BOOTSTRAP"], "gx.command-results", lambda r: r.value and r.value.get("commandId") in ids
    ) as results:
        got = {r.value["commandId"]: r.value for r in results.read_until(lambda recs: len(recs) >= 2, 90)}
    for result in got.values():
        assert (result["status"], result["errorCode"], result["attempts"]) == ("REJECTED", "SERVICE_NOT_ALLOWED", 0)
    assert got[as_admin.id]["error"] == (
        "APPROVE_LOAN is administrative: it comes only through the outbox, whose row-level security "
        "checks the writing service (the direct path names its service itself)"
    )
    assert got[as_loans.id]["error"] == (
        "APPROVE_LOAN is administrative: it comes only through the outbox, whose row-level security "
        "checks the writing service (the direct path names its service itself)"
    )
    with TopicReader(up["GX_KAFKA_BOOTSTRAP"], "gx.commands.dlq", lambda r: r.headers.get("id") in ids) as dlq:
        assert len(dlq.read_until(lambda recs: len(recs) >= 2, 60)) == 2
    # A user-level type of another service, on the same path: refused by the service table.
    person = {"userId": f"d-{tenant}", "email": "d@example.com", "firstName": "D", "lastName": "P", "country": "MY"}
    other, error = send("gx.commands.direct", "svc-loans", "CREATE_USER", f"{tenant}-sdk-3", person)
    assert error is None
    with TopicReader(
        up["GX_KAFKA_BOOTSTRAP"], "gx.command-results", lambda r: r.value and r.value.get("commandId") == other.id
    ) as results:
        [wrong_service] = results.read_until(lambda recs: bool(recs), 90)
    assert (wrong_service.value["errorCode"], wrong_service.value["error"]) == (
        "SERVICE_NOT_ALLOWED",
        "service svc-loans may not send CREATE_USER (schemas/permissions.py); svc-identity writes it",
    )

    # 3. Even on the ledger: the identity the submitter signs user-level commands with is refused.
    async def as_user_level() -> tuple[str, str, dict]:
        f = FabricSettings()
        commands = f.commands_identity()
        assert commands is not None, "the stack gives the submitter a user-level identity"
        channel = f.grpc_channel()
        try:
            gw = Gateway(channel, *commands, tls_cert_hash=f.tls_cert_hash())
            with pytest.raises(EndorseError) as forbidden:
                await gw.submit_and_wait(*CC_ARGS, "LoanPoolContract:ApproveLoan", [tenant, rid(), loan, approver])
            recorded = await gw.evaluate(*CC_ARGS, "QueryContract:GetRequest", [tenant, sent_rid])
        finally:
            await channel.close()
        async with gateway() as admin:
            return (
                str(forbidden.value),
                recorded.decode() if isinstance(recorded, bytes) else str(recorded),
                await wallet(admin, borrower),
            )

    forbidden, recorded, paid = asyncio.run(as_user_level())
    assert "FORBIDDEN: Org1MSP identity" in forbidden and "CN=User3@org1.example.com" in forbidden
    assert "may not submit administrative commands" in forbidden
    assert recorded in ("", "null"), recorded  # the SDK's command never reached the chaincode
    assert paid["balance"] == "0"

    # The administrative service's own path works: the loan is approved and paid.
    approved = _enqueue_as(stack, "svc-admin", tenant, "APPROVE_LOAN", approve)
    assert _settled(stack, tenant, 5)[approved][0] == "CONFIRMED"

    async def balance() -> str:
        async with gateway() as gw:
            return str((await wallet(gw, borrower))["balance"])

    assert asyncio.run(balance()) == "100"
