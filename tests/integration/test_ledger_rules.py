"""The ledger's own rules on the real network (issue 21): who may call, and, through the outbox as a
user sends commands, idempotency per tenant, namespaces, money movement, parameters and hostile
values. The whole pipeline runs (`gxctl up`), so the read models are checked against the ledger too.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest

from fabric_gateway import EndorseError, Gateway, load_identity, load_signer
from gxcommon.fabric_settings import FabricSettings
from gxsdk import enqueue
from schemas.permissions import service_of
from tests.integration.conftest import gxctl
from tests.integration.db import scalar
from tests.integration.fabric_helpers import CC_ARGS, TENANT, ensure, funded_users, gateway, rid, wallet
from tests.waiting import wait_until

POOL = "@system:SYSTEM_USER_GENESIS_POOL"


@asynccontextmanager
async def as_user(name: str) -> AsyncIterator[Gateway]:
    """A gateway client with another identity of Org1 (``User2``, ``Admin``) from the stack's crypto."""
    from stack.settings import StackSettings

    f = FabricSettings()
    msp = (
        StackSettings().fabric_dir / "crypto/peerOrganizations/org1.example.com/users" / f"{name}@org1.example.com/msp"
    )
    channel = f.grpc_channel()
    try:
        yield Gateway(
            channel,
            load_identity(f.msp_id, next((msp / "signcerts").glob("*.pem"))),
            load_signer(msp / "keystore" / "priv_sk"),
            tls_cert_hash=f.tls_cert_hash(),
        )
    finally:
        await channel.close()


def user2_cert() -> str:
    from stack.settings import StackSettings

    return next(
        (
            StackSettings().fabric_dir / "crypto/peerOrganizations/org1.example.com/users/User2@org1.example.com"
            "/msp/signcerts"
        ).glob("*.pem")
    ).read_text()


async def test_a_member_nobody_granted_is_refused_and_a_grant_has_its_scope(pipeline: dict[str, str]) -> None:
    """The chaincode reads its caller: User2, a client of the channel's own organisation, may read
    but not write until the operator (the org's admin) grants it; the scope `commands` does not
    cover the administrative functions."""
    async with gateway() as gw:
        [alice, bob] = await funded_users(gw, 2, amount=10)
    async with as_user("User2") as u2:
        assert json.loads(await u2.evaluate(*CC_ARGS, "QueryContract:Get", ["wallet", alice]))["balance"] == "10"
        with pytest.raises(EndorseError) as refused:
            await u2.submit_and_wait(
                *CC_ARGS, "TokenomicsContract:TransferTokens", [TENANT, rid(), alice, bob, "1", ""]
            )
        assert "chaincode response 500, FORBIDDEN: Org1MSP identity" in str(refused.value)
        assert "CN=User2@org1.example.com" in str(refused.value) and "may not submit commands" in str(refused.value)
        async with as_user("User1") as u1:  # a submitter is not an operator
            with pytest.raises(EndorseError, match="may not manage submitters"):
                await u1.submit_and_wait(*CC_ARGS, "AdminContract:GrantSubmitter", ["Org1MSP", user2_cert(), "all"])
        async with as_user("Admin") as admin:
            await admin.submit_and_wait(*CC_ARGS, "AdminContract:GrantSubmitter", ["Org1MSP", user2_cert(), "commands"])
            try:
                await u2.submit_and_wait(
                    *CC_ARGS, "TokenomicsContract:TransferTokens", [TENANT, rid(), alice, bob, "1", ""]
                )
                with pytest.raises(EndorseError, match="may not submit administrative commands"):
                    await u2.submit_and_wait(*CC_ARGS, "AdminContract:PauseSystem", [TENANT, rid(), "x"])
            finally:
                await admin.submit_and_wait(*CC_ARGS, "AdminContract:RevokeSubmitter", ["Org1MSP", user2_cert()])
        with pytest.raises(EndorseError, match="FORBIDDEN"):
            await u2.submit_and_wait(
                *CC_ARGS, "TokenomicsContract:TransferTokens", [TENANT, rid(), alice, bob, "1", ""]
            )
    async with gateway() as gw:
        assert (await wallet(gw, bob))["balance"] == "1"


def _rows(dsn: str, tenant: str) -> dict[str, dict]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            'SELECT "requestId", status::text, "errorCode", error, "fabricTxId" FROM "OutboxCommand"'
            ' WHERE "tenantId" = %s',
            (tenant,),
        )
        return {r[0]: {"status": r[1], "errorCode": r[2], "error": r[3], "tx": r[4]} for r in cur.fetchall()}


def _final(dsn: str, tenant: str, n: int, timeout: float = 120) -> dict[str, dict]:
    """Until the tenant has at least ``n`` rows, each final; the rows."""
    return wait_until(
        lambda: _rows(dsn, tenant),
        f"{n} final rows of {tenant}",
        until=lambda rows: len(rows) >= n and all(r["status"] in ("CONFIRMED", "FAILED") for r in rows.values()),
        timeout=timeout,
        interval=0.3,
    )


def _enqueue(dsn: str, tenant: str, ctype: str, payload: dict, request_id: str | None = None) -> str:
    """Through the outbox as the service that writes ``ctype`` (schemas.permissions); the requestId."""
    r = request_id or f"{tenant}-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn) as conn:
        enqueue(conn, tenant_id=tenant, service=service_of(ctype), command_type=ctype, request_id=r, payload=payload)
        conn.commit()
    return r


def _person(user: str, country: str = "MY") -> dict:
    return {"userId": user, "email": f"{user}@example.com", "firstName": "T", "lastName": "U", "country": country}


def _tenant_users(dsn: str, tenant: str, n: int, amount: int) -> list[str]:
    """``n`` new users of ``tenant`` (country MY), made through the outbox; the first holds
    ``amount`` of genesis. The system, MY and its treasury are set up first (once per ledger)."""
    _system()
    users = [f"{tenant}-u{i}-{uuid.uuid4().hex[:4]}" for i in range(n)]
    done = len(_rows(dsn, tenant))
    for u in users:
        _enqueue(dsn, tenant, "CREATE_USER", _person(u))
    _final(dsn, tenant, done + n)
    _enqueue(dsn, tenant, "DISTRIBUTE_GENESIS", {"userId": users[0], "countryCode": "MY", "amount": amount})
    rows = _final(dsn, tenant, done + n + 1)
    assert all(r["status"] == "CONFIRMED" for r in rows.values()), rows
    return users


def _system() -> None:
    async def go() -> None:
        async with gateway() as gw:
            await ensure(gw, "AdminContract:BootstrapSystem", rid("boot"))
            await ensure(gw, "AdminContract:InitializeCountry", rid("country"), "MY", "Malaysia")
            await ensure(gw, "AdminContract:InitializeCountry", rid("country"), "SG", "Singapore")
            await ensure(gw, "AdminContract:ActivateTreasury", rid("treasury"), "MY")

    asyncio.run(go())


def _users(n: int, amount: int) -> list[str]:
    async def go() -> list[str]:
        async with gateway() as gw:
            return await funded_users(gw, n, amount)

    return asyncio.run(go())


def _balance(ref: str) -> int:
    async def go() -> int:
        async with gateway() as gw:
            return int((await wallet(gw, ref))["balance"])

    return asyncio.run(go())


def test_through_the_outbox_the_ledger_keeps_its_rules(up: dict[str, str]) -> None:
    dsn = up["GX_PG_DSN"]
    a, b = f"rules-a-{uuid.uuid4().hex[:6]}", f"rules-b-{uuid.uuid4().hex[:6]}"
    # Each tenant owns its users (issue 31: no command acts on another tenant's entities).
    alice, bob = _tenant_users(dsn, a, 2, amount=100)
    carol, dave = _tenant_users(dsn, b, 2, amount=100)
    pool_before = _balance(POOL)
    # Two tenants, one requestId: both apply (the bare requestId collided before: the second was
    # CONFIRMED with the first one's result and its own effect silently dropped).
    _enqueue(dsn, a, "TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": bob, "amount": 10}, "same-id")
    _enqueue(dsn, b, "TRANSFER_TOKENS", {"fromWalletId": carol, "toWalletId": dave, "amount": 20}, "same-id")
    # A transfer "out of the genesis pool" by its old name, and one out of an organisation's wallet:
    # a plain transfer never moves money out of them (both were CONFIRMED before).
    org = f"org-{uuid.uuid4().hex[:6]}"
    _enqueue(dsn, a, "PROPOSE_ORGANIZATION", {"orgId": org, "name": "Coop", "proposerId": alice})
    _final(dsn, a, 5)
    _enqueue(dsn, a, "ACTIVATE_ORGANIZATION", {"orgId": org, "approverIds": [alice]})
    _final(dsn, a, 6)
    _enqueue(dsn, a, "TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": f"@org:{org}", "amount": 30})
    _final(dsn, a, 7)
    pool = _enqueue(
        dsn, a, "TRANSFER_TOKENS", {"fromWalletId": "SYSTEM_USER_GENESIS_POOL", "toWalletId": bob, "amount": 5}
    )
    drain = _enqueue(dsn, a, "TRANSFER_TOKENS", {"fromWalletId": org, "toWalletId": bob, "amount": 5})
    # A tax rate in exponent notation passed the check before and broke every tax call after.
    rate = _enqueue(dsn, a, "UPDATE_SYSTEM_PARAMETER", {"parameter": "velocityTaxBps", "value": "1e2"})
    # A memo that broke the event's JSON: the transfer committed, its event was dead-lettered.
    memo = 'x"__int64__1'
    hostile = _enqueue(dsn, a, "TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": bob, "amount": 1, "memo": memo})
    rows = {**_final(dsn, a, 11), **{f"b:{k}": v for k, v in _final(dsn, b, 4).items()}}
    assert rows["same-id"]["status"] == rows["b:same-id"]["status"] == "CONFIRMED"
    assert rows["same-id"]["tx"] != rows["b:same-id"]["tx"]
    assert (rows[pool]["status"], rows[pool]["errorCode"]) == ("FAILED", "CHAINCODE_REJECTED")
    assert "NOT_FOUND: wallet SYSTEM_USER_GENESIS_POOL does not exist" in rows[pool]["error"]
    assert (rows[drain]["status"], rows[drain]["errorCode"]) == ("FAILED", "CHAINCODE_REJECTED")
    assert (rows[rate]["status"], rows[rate]["error"]) == (
        "FAILED",
        "INVALID_PARAMETER: velocityTaxBps must be an integer number of basis points from 0 to 1000, got 1e2",
    )
    assert rows[hostile]["status"] == "CONFIRMED"
    assert _balance(bob) == 10 + 1 and _balance(dave) == 20 and _balance(f"@org:{org}") == 30
    assert _balance(POOL) == pool_before

    # The read models hold the same: the hostile memo's transfer was folded, not dead-lettered.
    def history_rows() -> int:
        with psycopg.connect(dsn) as conn:
            return scalar(conn, 'SELECT count(*) FROM "TransactionHistory" WHERE "requestId" = %s', (hostile,))

    wait_until(history_rows, "the hostile memo's transfer in the read model", until=lambda n: n == 1, timeout=60)
    out = gxctl("verify", "--json", check=False, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr


def test_a_burst_of_genesis_distributions_never_conflicts(up: dict[str, str], tmp_path: Path) -> None:
    """Every distribution debits the genesis pool: keyed by the pool's shard they debit, 300 in a
    burst all confirm, with no MVCC conflict (before, a burst made some FAIL after their retries)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.hot_keys", "--n", "300", "--modes", "shard", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [path] = tmp_path.glob("hot_keys-*.json")
    result = json.loads(path.read_text())
    [run] = result["runs"]
    assert (run["commands"], run["finals"], run["failed"], run["mvcc_conflicts"]) == (300, 300, 0, 0), run


# --- Issue 31's findings 2-7 through the outbox, as the upstream services write them ---------------
# Each command goes in as the service that writes its type; each row ends with the ledger's answer
# (a refused one FAILED with the chaincode's code), and a refused command changes nothing on the
# ledger nor in the read models (each test checks its entities in both; `gxctl verify` compares all).


def _outcome(row: dict) -> str:
    """CONFIRMED, or FAILED with the chaincode's rejection code (else the submitter's errorCode)."""
    if row["status"] == "CONFIRMED":
        return "CONFIRMED"
    code = row["error"].split(":", 1)[0] if row["errorCode"] == "CHAINCODE_REJECTED" else row["errorCode"]
    return f"{row['status']} {code}"


class Tenant:
    """Commands of one tenant through the outbox, each waited for (rows are final in the order sent)."""

    def __init__(self, dsn: str, name: str = "") -> None:
        self.dsn, self.name = dsn, name or f"rules31-{uuid.uuid4().hex[:8]}"

    def send(self, ctype: str, payload: dict, request_id: str | None = None) -> str:
        return _enqueue(self.dsn, self.name, ctype, payload, request_id)

    def run(self, ctype: str, payload: dict, request_id: str | None = None) -> str:
        """Send one command and wait for its row's end; its :func:`_outcome`."""
        rid_ = self.send(ctype, payload, request_id)
        return _outcome(self.settle(rid_)[rid_])

    def settle(self, *rids: str) -> dict[str, dict]:
        """Until the rows of ``rids`` are final; those rows."""
        return wait_until(
            lambda: {k: v for k, v in _rows(self.dsn, self.name).items() if k in rids},
            f"rows {rids} final",
            until=lambda rows: (
                len(rows) == len(rids) and all(r["status"] in ("CONFIRMED", "FAILED") for r in rows.values())
            ),
            timeout=120,
            interval=0.2,
        )

    def users(self, n: int, country: str = "MY") -> list[str]:
        users = [f"{self.name}-{uuid.uuid4().hex[:6]}" for _ in range(n)]
        rows = self.settle(*(self.send("CREATE_USER", _person(u, country)) for u in users))
        assert {_outcome(r) for r in rows.values()} == {"CONFIRMED"}, rows
        return users


def _ledger(kind: str, id_: str) -> dict:
    async def go() -> dict:
        async with gateway() as gw:
            return json.loads(await gw.evaluate(*CC_ARGS, "QueryContract:Get", [kind, id_]))

    return asyncio.run(go())


def _params() -> dict:
    return _ledger("system", "params")


def _read_model(dsn: str, sql: str, args: tuple) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


def _folded(dsn: str, sql: str, args: tuple, want: list[tuple]) -> None:
    """Until the read model answers ``sql`` with ``want`` (the projectors follow the ledger)."""
    wait_until(
        lambda: _read_model(dsn, sql, args), f"read model {sql} {args}", until=lambda rows: rows == want, timeout=60
    )


def test_finding_2_genesis_once_per_user_in_the_users_country_within_the_cap(up: dict[str, str]) -> None:
    dsn = up["GX_PG_DSN"]
    _system()
    t = Tenant(dsn)
    [alice, bob] = t.users(2)
    [sam] = t.users(1, country="SG")
    cap = int(_params()["genesisMaxPerUser"])
    my_before = int(_ledger("country", "MY")["genesisDistributed"])
    assert t.run("DISTRIBUTE_GENESIS", {"userId": alice, "countryCode": "MY", "amount": 1000}) == "CONFIRMED"
    assert (
        t.run("DISTRIBUTE_GENESIS", {"userId": alice, "countryCode": "MY", "amount": 1})
        == "FAILED GENESIS_ALREADY_PAID"
    )
    assert t.run("DISTRIBUTE_GENESIS", {"userId": sam, "countryCode": "MY", "amount": 10}) == "FAILED COUNTRY_MISMATCH"
    over = {"userId": bob, "countryCode": "MY", "amount": cap + 1}
    assert t.run("DISTRIBUTE_GENESIS", over) == "FAILED GENESIS_LIMIT"
    assert [_balance(u) for u in (alice, bob, sam)] == [1000, 0, 0]
    assert int(_ledger("country", "MY")["genesisDistributed"]) - my_before == 1000
    _folded(
        dsn,
        'SELECT "userId", amount FROM "GenesisDistribution" WHERE "userId" = ANY(%s)',
        ([alice, bob, sam],),
        [(alice, 1000)],
    )
    _folded(
        dsn,
        'SELECT "walletId", balance FROM "Wallet" WHERE "walletId" = ANY(%s) ORDER BY balance DESC, "walletId"',
        ([alice, bob, sam],),
        [(alice, 1000), *sorted([(bob, 0), (sam, 0)])],
    )


def test_finding_3_a_loan_is_approved_by_an_admin_scope_naming_an_admin_who_is_not_the_borrower(
    up: dict[str, str],
) -> None:
    dsn = up["GX_PG_DSN"]
    _system()
    t = Tenant(dsn)
    [admin, borrower, other] = t.users(3)
    cap = int(_params()["loanMaxAmount"])
    assert t.run("APPOINT_ADMIN", {"userId": admin}) == "CONFIRMED"
    loan = f"loan-{t.name}"
    assert t.run("APPLY_FOR_LOAN", {"loanId": loan, "borrowerId": borrower, "amount": 100}) == "CONFIRMED"
    too_much = {"loanId": f"{loan}-2", "borrowerId": borrower, "amount": cap + 1}
    assert t.run("APPLY_FOR_LOAN", too_much) == "FAILED LOAN_LIMIT"
    assert t.run("APPROVE_LOAN", {"loanId": loan, "approverId": other}) == "FAILED NOT_AN_ADMIN"
    assert t.run("APPOINT_ADMIN", {"userId": borrower}) == "CONFIRMED"
    own = t.send("APPROVE_LOAN", {"loanId": loan, "approverId": borrower})
    row = t.settle(own)[own]
    assert _outcome(row) == "FAILED CONFLICT" and "cannot approve their own loan" in row["error"]

    # The submitter's user-level identity (what signs every user-level command) cannot pay it.
    async def as_user_level() -> str:
        f = FabricSettings()
        commands = f.commands_identity()
        assert commands is not None, "the stack gives the submitter a user-level identity (GX_FABRIC_COMMANDS_*)"
        channel = f.grpc_channel()
        try:
            gw = Gateway(channel, *commands, tls_cert_hash=f.tls_cert_hash())
            with pytest.raises(EndorseError) as refused:
                await gw.submit_and_wait(*CC_ARGS, "LoanPoolContract:ApproveLoan", [t.name, rid(), loan, admin])
            return str(refused.value)
        finally:
            await channel.close()

    refused = asyncio.run(as_user_level())
    assert "FORBIDDEN" in refused and "CN=User3@org1.example.com" in refused
    assert "may not submit administrative commands" in refused
    assert (_ledger("loan", loan)["status"], _balance(borrower)) == ("APPLIED", 0)
    _folded(dsn, 'SELECT status, "approverId" FROM "Loan" WHERE "loanId" = %s', (loan,), [("APPLIED", None)])
    # The administrative service's approval, signed with the admin-scope identity, pays it.
    assert t.run("APPROVE_LOAN", {"loanId": loan, "approverId": admin}) == "CONFIRMED"
    assert (_ledger("loan", loan)["status"], _balance(borrower)) == ("APPROVED", 100)
    assert _ledger("loan", f"{loan}-2") is None
    _folded(
        dsn,
        'SELECT status, "approverId" FROM "Loan" WHERE "loanId" = ANY(%s)',
        ([loan, f"{loan}-2"],),
        [("APPROVED", admin)],
    )


def test_finding_4_a_proposal_is_decided_after_its_period_by_a_quorum_of_users_who_existed(up: dict[str, str]) -> None:
    import time

    dsn = up["GX_PG_DSN"]
    _system()
    t = Tenant(dsn)
    # A short voting period for this ledger, as the demo sets (a proposal keeps the rules it was submitted under).
    assert t.run("UPDATE_SYSTEM_PARAMETER", {"parameter": "proposalVotingPeriodSeconds", "value": "20"}) == "CONFIRMED"
    quorum, rate_before = int(_params()["proposalQuorum"]), _params()["velocityTaxBps"]
    assert quorum >= 2, "the test needs a quorum above one vote"
    voters = t.users(quorum)
    label = f"rules{uuid.uuid4().hex[:6]}"
    lone, passing = f"p1-{t.name}", f"p2-{t.name}"
    # The attack: submit, the proposer votes FOR, execute at once.
    raise_tax = {
        "proposalId": lone,
        "proposerId": voters[0],
        "title": "raise",
        "parameter": "velocityTaxBps",
        "value": "1000",
    }
    assert t.run("SUBMIT_PROPOSAL", raise_tax) == "CONFIRMED"
    label_it = {"proposalId": passing, "proposerId": voters[0], "title": "label", "parameter": label, "value": "yes"}
    assert t.run("SUBMIT_PROPOSAL", label_it) == "CONFIRMED"
    assert t.run("CAST_VOTE", {"proposalId": lone, "voterId": voters[0], "vote": "FOR"}) == "CONFIRMED"
    assert t.run("EXECUTE_PROPOSAL", {"proposalId": lone}) == "FAILED VOTING_OPEN"
    assert _ledger("proposal", lone)["status"] == "OPEN"
    [sybil] = t.users(1)  # created for the vote, after the submission
    assert t.run("CAST_VOTE", {"proposalId": lone, "voterId": sybil, "vote": "FOR"}) == "FAILED NOT_ELIGIBLE"
    votes = [t.send("CAST_VOTE", {"proposalId": passing, "voterId": v, "vote": "FOR"}) for v in voters]
    assert {_outcome(r) for r in t.settle(*votes).values()} == {"CONFIRMED"}
    ends = max(_ledger("proposal", p)["votingEndsAt"] for p in (lone, passing)) / 1000  # ms since the epoch
    wait_until(time.time, "the voting periods to end", until=lambda now: now > ends + 1, timeout=60, interval=0.5)
    assert t.run("CAST_VOTE", {"proposalId": lone, "voterId": voters[1], "vote": "FOR"}) == "FAILED VOTING_CLOSED"
    assert t.run("EXECUTE_PROPOSAL", {"proposalId": lone}) == "CONFIRMED"
    assert t.run("EXECUTE_PROPOSAL", {"proposalId": passing}) == "CONFIRMED"
    assert (_ledger("proposal", lone)["status"], _ledger("proposal", passing)["status"]) == ("REJECTED", "EXECUTED")
    assert (_params()["velocityTaxBps"], _params()[label]) == (rate_before, "yes")
    _folded(
        dsn,
        'SELECT "proposalId", status, "votesFor" FROM "Proposal" WHERE "proposalId" = ANY(%s) ORDER BY "proposalId"',
        ([lone, passing],),
        [(lone, "REJECTED", 1), (passing, "EXECUTED", quorum)],
    )
    _folded(dsn, 'SELECT count(*) FROM "Vote" WHERE "voterId" = %s', (sybil,), [(0,)])


def test_finding_5_a_proposed_organisation_grows_only_with_its_members_approval(up: dict[str, str]) -> None:
    dsn = up["GX_PG_DSN"]
    _system()
    t = Tenant(dsn)
    [alice, bob, mallory] = t.users(3)
    assert t.run("DISTRIBUTE_GENESIS", {"userId": alice, "countryCode": "MY", "amount": 1000}) == "CONFIRMED"
    org = f"org-{t.name}"
    assert t.run("PROPOSE_ORGANIZATION", {"orgId": org, "name": "Coop", "proposerId": alice}) == "CONFIRMED"
    # The attack: an outsider joins the proposed organisation with no approval, or its own.
    join = {"orgId": org, "userId": mallory}
    assert t.run("ENDORSE_MEMBERSHIP", {**join, "approverIds": []}) == "FAILED APPROVALS_MISSING"
    assert t.run("ENDORSE_MEMBERSHIP", {**join, "approverIds": [mallory]}) == "FAILED NOT_A_MEMBER"
    assert t.run("ENDORSE_MEMBERSHIP", {"orgId": org, "userId": bob, "approverIds": [alice]}) == "CONFIRMED"
    assert t.run("ACTIVATE_ORGANIZATION", {"orgId": org, "approverIds": []}) == "FAILED APPROVALS_MISSING"
    assert t.run("ACTIVATE_ORGANIZATION", {"orgId": org, "approverIds": [alice, bob]}) == "CONFIRMED"
    assert (_ledger("org", org)["members"], _ledger("org", org)["requiredApprovals"]) == ([alice, bob], 2)
    assert t.run("TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": f"@org:{org}", "amount": 300}) == "CONFIRMED"
    # A member let in later (with the others' approval) cannot move the money alone.
    assert t.run("ENDORSE_MEMBERSHIP", {**join, "approverIds": [alice, bob]}) == "CONFIRMED"
    msig = {"orgId": org, "multisigTxId": f"m-{t.name}"}
    assert (
        t.run("INITIATE_MULTISIG_TX", {**msig, "initiatorId": mallory, "toWalletId": mallory, "amount": 300})
        == "CONFIRMED"
    )
    assert t.run("APPROVE_MULTISIG_TX", {**msig, "approverId": mallory}) == "CONFIRMED"
    assert t.run("EXECUTE_MULTISIG_TX", msig) == "FAILED APPROVALS_MISSING"
    assert (_balance(f"@org:{org}"), _balance(mallory)) == (300, 0)
    _folded(
        dsn,
        'SELECT status, members, "requiredApprovals" FROM "Organization" WHERE "orgId" = %s',
        (org,),
        [("ACTIVE", [alice, bob, mallory], 2)],
    )
    _folded(
        dsn,
        'SELECT "walletId", balance FROM "Wallet" WHERE "walletId" = ANY(%s) ORDER BY "walletId"',
        ([f"@org:{org}", mallory],),
        sorted([(f"@org:{org}", 300), (mallory, 0)]),
    )


def test_finding_6_no_command_acts_on_another_tenants_entities(up: dict[str, str]) -> None:
    dsn = up["GX_PG_DSN"]
    _system()
    a, b = Tenant(dsn), Tenant(dsn)
    [alice, bob] = a.users(2)
    [mallory] = b.users(1)
    assert a.run("DISTRIBUTE_GENESIS", {"userId": alice, "countryCode": "MY", "amount": 1000}) == "CONFIRMED"
    assert (
        b.run("TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": mallory, "amount": 10}) == "FAILED OTHER_TENANT"
    )
    assert (
        a.run("TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": mallory, "amount": 10}) == "FAILED OTHER_TENANT"
    )
    assert b.run("APPLY_VELOCITY_TAX", {"walletId": alice}) == "FAILED OTHER_TENANT"
    assert b.run("FREEZE_WALLET", {"walletId": alice, "reason": "x"}) == "FAILED OTHER_TENANT"
    # An id another tenant holds is taken, never taken over.
    squat = {"userId": alice, "email": "a@evil.example.com", "firstName": "E", "lastName": "V", "country": "MY"}
    assert b.run("CREATE_USER", squat) == "FAILED ALREADY_EXISTS"
    assert (_ledger("user", alice)["email"], _ledger("user", alice)["tenantId"]) == (f"{alice}@example.com", a.name)
    assert (_balance(alice), _balance(mallory), _ledger("wallet", alice)["frozen"]) == (1000, 0, False)
    # One tenant whatever its case (the outbox keys rows by the tenant as written, the ledger by its
    # lower case): the same requestId in "RULES31-..." is the recorded answer; with other arguments
    # in "Rules31-...", a conflict.
    pay = {"fromWalletId": alice, "toWalletId": bob, "amount": 10}
    first = a.send("TRANSFER_TOKENS", pay, f"{a.name}-same")
    upper = Tenant(dsn, a.name.upper())
    again = upper.send("TRANSFER_TOKENS", pay, f"{a.name}-same")
    rows = {**a.settle(first), "upper": upper.settle(again)[again]}
    assert (_outcome(rows[first]), _outcome(rows["upper"])) == ("CONFIRMED", "CONFIRMED")
    assert rows["upper"]["tx"] == rows[first]["tx"], "the recorded answer, not a second transfer"
    title = Tenant(dsn, a.name.capitalize())
    assert title.run("TRANSFER_TOKENS", {**pay, "amount": 11}, f"{a.name}-same") == "FAILED IDEMPOTENCY_CONFLICT"
    assert (_balance(alice), _balance(bob)) == (990, 10)
    _folded(dsn, 'SELECT "userId", email FROM "User" WHERE "userId" = %s', (alice,), [(alice, f"{alice}@example.com")])
    _folded(
        dsn,
        'SELECT "walletId", balance, frozen FROM "Wallet" WHERE "walletId" = ANY(%s) ORDER BY "walletId"',
        ([alice, bob, mallory],),
        sorted([(alice, 990, False), (bob, 10, False), (mallory, 0, False)]),
    )


def test_finding_7_the_velocity_tax_applies_once_per_period(up: dict[str, str]) -> None:
    dsn = up["GX_PG_DSN"]
    _system()
    t = Tenant(dsn)
    [alice] = t.users(1)
    assert t.run("DISTRIBUTE_GENESIS", {"userId": alice, "countryCode": "MY", "amount": 100_000}) == "CONFIRMED"
    bps, period = int(_params()["velocityTaxBps"]), int(_params()["velocityTaxPeriodSeconds"])
    assert period >= 3600, "the test needs a period longer than itself"
    treasury = _balance("@treasury:MY")
    assert t.run("APPLY_VELOCITY_TAX", {"walletId": alice}) == "CONFIRMED"
    taxed = 100_000 * bps // 10_000
    again = [t.send("APPLY_VELOCITY_TAX", {"walletId": alice}) for _ in range(5)]
    assert {_outcome(r) for r in t.settle(*again).values()} == {"FAILED TAX_NOT_DUE"}
    assert (_balance(alice), _balance("@treasury:MY") - treasury) == (100_000 - taxed, taxed)
    _folded(
        dsn,
        'SELECT count(*), sum(amount) FROM "TransactionHistory" WHERE kind = %s AND "fromWalletId" = %s',
        ("TAX", alice),
        [(1, taxed)],
    )
