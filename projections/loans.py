"""The loans group's fold: Loan. Pure. Both events are keyed by the loanId; an approval applies only
over an older ledger position (migration 007)."""

from __future__ import annotations

from collections.abc import Sequence

from projections.model import IS_OLDER, POSITION, SET_POSITION, Event, GroupSpec, Stmt
from schemas.events import LoanApplied, LoanApproved

APPLIED = (
    'INSERT INTO {Loan} ("loanId", "borrowerId", amount, status, "updatedAt", ' + POSITION + ")"
    " VALUES (%s, %s, %s, 'APPLIED', %s, %s, %s, %s) ON CONFLICT (\"loanId\") DO NOTHING"
)
APPROVED = (
    'UPDATE {Loan} SET status = \'APPROVED\', "approverId" = %s, "updatedAt" = %s, '
    + SET_POSITION
    + ' WHERE "loanId" = %s AND '
    + IS_OLDER
)


def fold(events: Sequence[Event]) -> list[Stmt]:
    out = []
    for e in events:
        match e.payload:
            case LoanApplied(loanId=loan, borrowerId=b, amount=n):
                out.append(Stmt(APPLIED, (loan, b, n, e.env.commitTime, *e.position)))
            case LoanApproved(loanId=loan, approverId=a):
                out.append(Stmt(APPROVED, (a, e.env.commitTime, *e.position, loan, *e.position)))
    return out


GROUP = GroupSpec("loans", ("Loan",), frozenset({"LoanApplied", "LoanApproved"}), fold)
