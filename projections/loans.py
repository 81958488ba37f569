"""The loans group's fold: Loan. Pure. Both events are keyed by the loanId."""

from __future__ import annotations

from collections.abc import Sequence

from projections.model import Event, GroupSpec, Stmt
from schemas.events import LoanApplied, LoanApproved

APPLIED = ('INSERT INTO {Loan} ("loanId", "borrowerId", amount, status, "updatedAt")'
           " VALUES (%s, %s, %s, 'APPLIED', %s) ON CONFLICT (\"loanId\") DO NOTHING")
APPROVED = 'UPDATE {Loan} SET status = \'APPROVED\', "approverId" = %s, "updatedAt" = %s WHERE "loanId" = %s'


def fold(events: Sequence[Event]) -> list[Stmt]:
    out = []
    for e in events:
        match e.payload:
            case LoanApplied(loanId=loan, borrowerId=b, amount=n):
                out.append(Stmt(APPLIED, (loan, b, n, e.env.commitTime)))
            case LoanApproved(loanId=loan, approverId=a):
                out.append(Stmt(APPROVED, (a, e.env.commitTime, loan)))
    return out


GROUP = GroupSpec("loans", ("Loan",), frozenset({"LoanApplied", "LoanApproved"}), fold)
