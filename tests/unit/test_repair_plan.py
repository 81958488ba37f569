"""The repair's pure core (projections.repair_plan), case by case of issue 32, defect 8: dead
letters that no replay can repair. The read models are given as the folds leave them after the
dead letter and the events that followed; the ledger's world state and events say what must be.
The plan rewrites exactly the rows that differ, with the ledger's values, group by group (each
under its group's checkpoint locks, in projections.repair), and inserts the missing history rows
through the folds' own idempotent statements (their balance moves with them).
"""

from __future__ import annotations

from datetime import UTC, datetime

from projections import repair_plan as rp
from projections.expected import compare, expected, expected_history
from projections.model import POSITION
from tests.unit.test_expected import _event

AT = datetime(2026, 12, 1, tzinfo=UTC)
P = (41, 2147483647, 2147483647)


def writes(table: str, stmts: list) -> list[tuple]:
    """The parameters of the statements that write ``table``."""
    return [s.params for s in stmts if s.sql.startswith(f"INSERT INTO {{{table}}}")]


def test_a_lost_loan_application_with_its_approval_a_no_op_is_written_approved() -> None:
    """LoanApplied dead-lettered, LoanApproved then a no-op (no row); replaying LoanApplied
    afterwards inserts it APPLIED, and the approval is lost for good."""
    ledger = {"loan": [{"loanId": "L1", "borrowerId": "u1", "amount": "50", "status": "APPROVED", "approverId": "a"}]}
    todo = rp.plan(compare(expected(ledger), {"Loan": {}}))
    assert todo.rows == {"loans": {"Loan": {("L1",)}}}
    stmts = rp.rewrite("Loan", list(expected(ledger)["Loan"].values()), P, AT)
    [params] = writes("Loan", stmts)
    assert params[:5] == ("L1", "u1", 50, "APPROVED", "a") and params[-3:] == P
    assert POSITION in stmts[0].sql and "ON CONFLICT" in stmts[0].sql


def test_a_lost_proposal_is_written_with_the_ledgers_tally_and_its_votes() -> None:
    """ProposalSubmitted dead-lettered: the votes were inserted but counted against nothing."""
    proposal = {
        "proposalId": "P1",
        "proposerId": "u1",
        "title": "t",
        "parameter": "x",
        "value": "1",
        "status": "OPEN",
        "votesFor": 2,
        "votesAgainst": 1,
    }
    votes = [{"proposalId": "P1", "voterId": v, "vote": w} for v, w in (("a", "FOR"), ("b", "FOR"), ("c", "AGAINST"))]
    want = expected({"proposal": [proposal], "vote": votes})
    have = {"Vote": {(v["proposalId"], v["voterId"]): v for v in votes}, "Proposal": {}}
    todo = rp.plan(compare(want, have))
    assert todo.rows == {"governance": {"Proposal": {("P1",)}}}
    # Its votes are written with it (in the same transaction): a vote the ledger counted that the
    # projector has yet to fold then finds its row and is not counted twice.
    assert rp.companions("Proposal") == ("Vote",)
    [params] = writes("Proposal", rp.rewrite("Proposal", list(want["Proposal"].values()), P, AT))
    assert params[:8] == ("P1", "u1", "t", "x", "1", "OPEN", 2, 1)


def test_an_activation_refused_by_the_position_guard_is_written_anyway() -> None:
    """OrganizationActivated dead-lettered, AuthRuleDefined applied (the row's position moved past
    the activation's): a replay of the activation is refused by the shared position guard."""
    org = {
        "orgId": "O1",
        "name": "Acme",
        "proposerId": "u1",
        "status": "ACTIVE",
        "members": ["u1", "u2"],
        "requiredApprovals": 2,
        "walletId": "@org:O1",
    }
    have_org = {**org, "status": "PROPOSED", "walletId": None}
    have_wallet = {"walletId": "@org:O1", "ownerId": "@org:O1", "ownerType": "UNKNOWN", "balance": 0, "frozen": False}
    wallet = {"walletId": "@org:O1", "ownerId": "O1", "ownerType": "ORGANIZATION", "balance": "0", "frozen": False}
    want = expected({"org": [org], "wallet": [wallet]})
    todo = rp.plan(compare(want, {"Organization": {("O1",): have_org}, "Wallet": {("@org:O1",): have_wallet}}))
    assert todo.rows == {"organizations": {"Organization": {("O1",)}}, "ledger": {"Wallet": {("@org:O1",)}}}
    [params] = writes("Organization", rp.rewrite("Organization", list(want["Organization"].values()), P, AT))
    assert params[:7] == ("O1", "Acme", "u1", "ACTIVE", '["u1", "u2"]', 2, "@org:O1")
    # The position is written, never lowered: a guard, not a condition on the write.
    sql = rp.rewrite("Organization", list(want["Organization"].values()), P, AT)[0].sql
    assert "WHERE" not in sql.split("DO UPDATE")[1] and "GREATEST" not in sql and "CASE WHEN" in sql
    # The balance is never written: it moves only with its history rows.
    wsql = rp.rewrite("Wallet", list(want["Wallet"].values()), P, AT)[0].sql
    assert "balance" not in wsql and '"ownerType"' in wsql


def test_an_event_the_publisher_never_published_is_repaired_from_the_blocks() -> None:
    """The publisher's own dead letters (EVENT_TOO_LARGE, UNDECODABLE_TRANSACTION) name no record on
    Kafka: nothing to replay. The move is in the ledger's blocks: its history row is inserted with
    the fold's own statement, so the balances move with it, once, whoever gets there first."""
    events = [_event("TokensTransferred", {"fromWalletId": "u1", "toWalletId": "u2", "amount": "7"}, 4)]
    want = expected_history(events)
    todo = rp.plan(compare(want, {"TransactionHistory": {}, "GenesisDistribution": {}}))
    assert {t: len(r) for t, r in todo.history.items()} == {"TransactionHistory": 1}
    [stmt] = rp.history(todo.history)
    assert "ON CONFLICT (id) DO NOTHING" in stmt.sql and "balance = t.balance + EXCLUDED.balance" in stmt.sql
    assert stmt.params[0] == ["tx4-0:0"] and stmt.params[7] == [7]


def test_text_with_nul_is_written_as_the_read_models_can_store_it_and_long_ids_are_left_out() -> None:
    long_id = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1000))
    org = {"orgId": "O2", "name": "Ac\x00me", "proposerId": "u1", "status": "PROPOSED", "members": ["u1"]}
    user = {"userId": long_id, "email": "e@x.io", "firstName": "A", "lastName": "B", "country": "MY"}
    want = expected({"org": [{**org, "requiredApprovals": 1}], "user": [{**user, "kycStatus": "PENDING"}]})
    todo = rp.plan(compare(want, {}))
    assert todo.rows == {"organizations": {"Organization": {("O2",)}}}
    assert sorted(d.table for d in todo.unrepresentable) == ["Application", "User"]
    [params] = writes("Organization", rp.rewrite("Organization", list(want["Organization"].values()), P, AT))
    assert params[1] == "Ac\ufffdme"


def test_rows_not_on_the_ledger_are_left_for_an_operator() -> None:
    have = {
        "Loan": {("L9",): {"loanId": "L9", "borrowerId": "u", "amount": 1, "status": "APPLIED", "approverId": None}}
    }
    todo = rp.plan(compare(expected({"loan": []}), have))
    assert todo.rows == {} and [d.key for d in todo.left] == ["L9"]
