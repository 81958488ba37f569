"""The demo load of `make run`: a realistic story through the outbox, then a summary.

Every one of the 25 command types goes through the real path (outbox -> Debezium -> Kafka ->
submitter -> Fabric -> results -> outbox row). Commands of one stage may run at once; a stage
starts when the one before it has final results, because the ledger enforces an order across
aggregates (bootstrap before genesis, a user before their transfers). A few commands are bad on
purpose and marked expected: a transfer from a frozen wallet, a transfer above the balance, a
payload with an unknown field (inserted by raw SQL, as an old service would). On a second run the
system set-up (bootstrap, country, treasury) fails with "already ...", which is expected too.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from gxsdk import enqueue
from schemas.permissions import service_of

TENANT = "demo"
# The demo's proposals are decided this many seconds after they are submitted (the chaincode's
# proposalVotingPeriodSeconds, 7 days unless set; the set-up sets it for the demo's ledger).
VOTING_SECONDS = 10
REJECTED_CODES = ("INVALID_PAYLOAD", "INVALID_ENVELOPE", "UNKNOWN_COMMAND_TYPE")
RAW = (
    'INSERT INTO "OutboxCommand" (id, "tenantId", service, "commandType", "requestId", payload, status, attempts,'
    ' "createdAt", "updatedAt") VALUES (%s, %s, %s, %s, %s, %s, \'PENDING\', 0, now(), now())'
)


@dataclass(frozen=True)
class Step:
    ctype: str
    payload: dict[str, Any]
    name: str
    expect_failure: bool = False  # a bad command on purpose
    raw: bool = False  # inserted by raw SQL, past the SDK's validation
    after: float = 0.0  # seconds to wait before its stage starts (a proposal's voting period)


def stages(run: str) -> list[tuple[str, list[Step]]]:
    u = {n: f"{n}-{run}" for n in ("alice", "bob", "carol", "dave")}
    org, prop, loan, msig = f"org-{run}", f"prop-{run}", f"loan-{run}", f"msig-{run}"

    def xfer(a: str, b: str, amount: int, name: str, expect: bool = False) -> Step:
        return Step(
            "TRANSFER_TOKENS", {"fromWalletId": a, "toWalletId": b, "amount": amount, "memo": name}, name, expect
        )

    def user(n: str) -> Step:
        return Step(
            "CREATE_USER",
            {"userId": u[n], "email": f"{n}@example.com", "firstName": n.title(), "lastName": "Demo", "country": "MY"},
            f"create-{n}",
        )

    return [
        (
            "system set-up",
            [
                Step("BOOTSTRAP_SYSTEM", {}, "bootstrap"),
                Step("INITIALIZE_COUNTRY", {"countryCode": "MY", "countryName": "Malaysia"}, "country"),
                Step("ACTIVATE_TREASURY", {"countryCode": "MY"}, "treasury"),
                Step(
                    "UPDATE_SYSTEM_PARAMETER",
                    {"parameter": "proposalVotingPeriodSeconds", "value": str(VOTING_SECONDS)},
                    "voting-period",
                ),
            ],
        ),
        (
            "users",
            [user(n) for n in u]
            + [Step("CREATE_USER", {"userId": f"mallory-{run}", "nickname": "m"}, "bad-payload", True, raw=True)],
        ),
        (
            "genesis for alice",
            [
                Step(
                    "DISTRIBUTE_GENESIS", {"userId": u["alice"], "countryCode": "MY", "amount": 10_000}, "genesis-alice"
                )
            ],
        ),
        (
            "genesis for bob",
            [Step("DISTRIBUTE_GENESIS", {"userId": u["bob"], "countryCode": "MY", "amount": 5_000}, "genesis-bob")],
        ),
        (
            "transfers and an admin",
            [
                xfer(u["alice"], u["bob"], 250, "xfer-1"),
                xfer(u["bob"], u["carol"], 100, "xfer-2"),
                xfer(u["dave"], u["alice"], 999_999, "xfer-too-much", True),
                Step("APPOINT_ADMIN", {"userId": u["dave"]}, "admin"),
            ],
        ),
        ("a freeze", [Step("FREEZE_WALLET", {"walletId": u["carol"], "reason": "KYC review"}, "freeze")]),
        ("a frozen wallet tries to send", [xfer(u["carol"], u["bob"], 10, "xfer-frozen", True)]),
        (
            "unfreeze, proposal, organisation, loan",
            [
                Step("UNFREEZE_WALLET", {"walletId": u["carol"]}, "unfreeze"),
                Step(
                    "SUBMIT_PROPOSAL",
                    {
                        "proposalId": prop,
                        "proposerId": u["bob"],
                        "title": "Raise the velocity tax",
                        "parameter": "velocityTaxBps",
                        "value": "150",
                    },
                    "proposal",
                ),
                Step(
                    "PROPOSE_ORGANIZATION", {"orgId": org, "name": "Demo Cooperative", "proposerId": u["alice"]}, "org"
                ),
                Step("APPLY_FOR_LOAN", {"loanId": loan, "borrowerId": u["carol"], "amount": 2_000}, "loan"),
            ],
        ),
        # Every vote in the stage after the proposal: the voting period is short (VOTING_SECONDS).
        (
            "votes, membership, loan approval",
            [
                Step("CAST_VOTE", {"proposalId": prop, "voterId": u["alice"], "vote": "FOR"}, "vote-alice"),
                Step("CAST_VOTE", {"proposalId": prop, "voterId": u["bob"], "vote": "FOR"}, "vote-bob"),
                Step("CAST_VOTE", {"proposalId": prop, "voterId": u["carol"], "vote": "AGAINST"}, "vote-carol"),
                # While proposed, every member approves a new one (the chaincode's membership rule).
                Step(
                    "ENDORSE_MEMBERSHIP", {"orgId": org, "userId": u["bob"], "approverIds": [u["alice"]]}, "member-bob"
                ),
                Step("APPROVE_LOAN", {"loanId": loan, "approverId": u["dave"]}, "approve-loan"),
            ],
        ),
        (
            "activation",
            [Step("ACTIVATE_ORGANIZATION", {"orgId": org, "approverIds": [u["alice"], u["bob"]]}, "activate-org")],
        ),
        (
            "the rule",
            [
                # Active now: a new threshold needs the organisation's approval (its current threshold: both founders).
                Step(
                    "DEFINE_AUTH_RULE",
                    {"orgId": org, "requiredApprovals": 2, "approverIds": [u["alice"], u["bob"]]},
                    "auth-rule",
                )
            ],
        ),
        (
            "execute the proposal, fund the organisation",
            [
                # Decided once its voting period is over (the chaincode refuses it before: VOTING_OPEN).
                Step("EXECUTE_PROPOSAL", {"proposalId": prop}, "execute-proposal", after=VOTING_SECONDS + 1),
                xfer(u["alice"], f"@org:{org}", 1_000, "fund-org"),
            ],
        ),
        (
            "a multisig payment",
            [
                Step(
                    "INITIATE_MULTISIG_TX",
                    {
                        "orgId": org,
                        "multisigTxId": msig,
                        "initiatorId": u["alice"],
                        "toWalletId": u["dave"],
                        "amount": 300,
                    },
                    "msig-initiate",
                )
            ],
        ),
        (
            "first approval",
            [
                Step(
                    "APPROVE_MULTISIG_TX",
                    {"orgId": org, "multisigTxId": msig, "approverId": u["alice"]},
                    "msig-approve-1",
                )
            ],
        ),
        (
            "second approval",
            [
                Step(
                    "APPROVE_MULTISIG_TX",
                    {"orgId": org, "multisigTxId": msig, "approverId": u["bob"]},
                    "msig-approve-2",
                )
            ],
        ),
        (
            "execution, tax, a parameter",
            [
                Step("EXECUTE_MULTISIG_TX", {"orgId": org, "multisigTxId": msig}, "msig-execute"),
                Step("APPLY_VELOCITY_TAX", {"walletId": u["alice"]}, "tax"),
                Step("UPDATE_SYSTEM_PARAMETER", {"parameter": "demoRun", "value": run}, "parameter"),
            ],
        ),
        # Alone: while paused the ledger refuses every other write (same key, so in this order).
        (
            "a maintenance window",
            [Step("PAUSE_SYSTEM", {"reason": "demo maintenance window"}, "pause"), Step("RESUME_SYSTEM", {}, "resume")],
        ),
    ]


def _rows(conn: psycopg.Connection[Any], rids: list[str]) -> dict[str, dict[str, Any]]:
    cur = conn.execute(
        'SELECT "requestId", "commandType"::text, status::text, "errorCode", error FROM "OutboxCommand"'
        ' WHERE "tenantId" = %s AND "requestId" = ANY(%s)',
        (TENANT, rids),
    )
    return {r[0]: {"commandType": r[1], "status": r[2], "errorCode": r[3], "error": r[4]} for r in cur.fetchall()}


def shown_status(row: dict[str, Any]) -> str:
    return "REJECTED" if row["status"] == "FAILED" and row["errorCode"] in REJECTED_CODES else row["status"]


def run_demo(dsn: str, say: Callable[[str], None], stage_timeout: float = 120) -> dict[str, Any]:
    """Enqueue the story stage by stage, waiting for each; returns the summary.

    Raises TimeoutError (naming the stage and what is missing) if a stage does not finish in time.
    """
    run = uuid.uuid4().hex[:6]
    plan = stages(run)
    outcome: dict[str, dict[str, Any]] = {}
    expected: set[str] = set()
    t0 = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i, (title, steps) in enumerate(plan, 1):
            time.sleep(max((st.after for st in steps), default=0.0))
            s0 = time.monotonic()
            rids = []
            for st in steps:
                rid = f"demo-{run}-{st.name}"
                if st.raw:
                    conn.execute(RAW, (rid, TENANT, service_of(st.ctype), st.ctype, rid, json.dumps(st.payload)))
                else:
                    with conn.transaction():
                        enqueue(
                            conn,
                            tenant_id=TENANT,
                            service=service_of(st.ctype),
                            command_type=st.ctype,
                            request_id=rid,
                            payload=st.payload,
                        )
                rids.append(rid)
                if st.expect_failure or st.ctype in ("BOOTSTRAP_SYSTEM", "INITIALIZE_COUNTRY", "ACTIVATE_TREASURY"):
                    expected.add(rid)
            while True:
                rows = _rows(conn, rids)
                if len(rows) == len(rids) and all(r["status"] in ("CONFIRMED", "FAILED") for r in rows.values()):
                    break
                if time.monotonic() - s0 > stage_timeout:
                    waiting = [rid for rid in rids if rows.get(rid, {}).get("status") not in ("CONFIRMED", "FAILED")]
                    raise TimeoutError(
                        f"stage {i} ({title}) not finished after {stage_timeout:.0f}s; waiting for "
                        f"{', '.join(waiting)}: check `gxctl status` and the submitter's log"
                    )
                time.sleep(0.1)
            outcome.update(rows)
            counts = _counts(rows.values())
            say(f"stage {i:>2}/{len(plan)} {title:<48} {len(steps)} command(s)  {counts}  {time.monotonic() - s0:.1f}s")
    # On a re-run the set-up fails with "already ...": expected. A first run must confirm it.
    unexpected = {
        rid: r
        for rid, r in outcome.items()
        if r["status"] == "FAILED"
        and (
            rid not in expected
            or (
                r["commandType"] in ("BOOTSTRAP_SYSTEM", "INITIALIZE_COUNTRY", "ACTIVATE_TREASURY")
                and "already" not in (r["error"] or "")
            )
        )
    }
    return {
        "run": run,
        "tenant": TENANT,
        "seconds": round(time.monotonic() - t0, 1),
        "commands": len(outcome),
        "types": len({r["commandType"] for r in outcome.values()}),
        "counts": _counts(outcome.values()),
        "failed": [
            {
                "requestId": rid,
                "status": shown_status(r),
                "commandType": r["commandType"],
                "errorCode": r["errorCode"],
                "error": r["error"],
                "expected": rid not in unexpected,
            }
            for rid, r in outcome.items()
            if r["status"] == "FAILED"
        ],
        "unexpected": sorted(unexpected),
    }


def _counts(rows: Any) -> str:
    c: dict[str, int] = {}
    for r in rows:
        c[shown_status(r)] = c.get(shown_status(r), 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(c.items()))
