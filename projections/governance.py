"""The governance group's fold: Proposal and Vote. Pure.

A vote counts once: its row is inserted ON CONFLICT DO NOTHING and the proposal's tally moves only
by the rows that statement actually inserted, and only while the proposal is OPEN. Execution sets
the final status and tally from the event, over an older ledger position only (migration 007), so
a vote or an execution delivered again out of order (a dead-letter replay) never changes the
result the ledger recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

from projections.model import IS_OLDER, POSITION, SET_POSITION, Event, GroupSpec, Stmt
from schemas.events import ProposalExecuted, ProposalSubmitted, VoteCast

SUBMITTED = (
    'INSERT INTO {Proposal} ("proposalId", "proposerId", title, parameter, value, status, "updatedAt", '
    + POSITION
    + ") VALUES (%s, %s, %s, %s, %s, 'OPEN', %s, %s, %s, %s)"
    ' ON CONFLICT ("proposalId") DO NOTHING'
)
VOTED = (
    'WITH v AS (INSERT INTO {Vote} ("proposalId", "voterId", vote, "castAt") VALUES (%s, %s, %s, %s)'
    " ON CONFLICT DO NOTHING RETURNING vote)"
    ' UPDATE {Proposal} SET "votesFor" = "votesFor" + (SELECT count(*) FROM v WHERE vote = \'FOR\'),'
    ' "votesAgainst" = "votesAgainst" + (SELECT count(*) FROM v WHERE vote = \'AGAINST\'), "updatedAt" = %s'
    " WHERE \"proposalId\" = %s AND status = 'OPEN' AND EXISTS (SELECT 1 FROM v)"
)
EXECUTED = (
    'UPDATE {Proposal} SET status = %s, "votesFor" = %s, "votesAgainst" = %s, "updatedAt" = %s, '
    + SET_POSITION
    + ' WHERE "proposalId" = %s AND '
    + IS_OLDER
)


def fold(events: Sequence[Event]) -> list[Stmt]:
    out = []
    for e in events:
        at = e.env.commitTime
        match e.payload:
            case ProposalSubmitted(proposalId=p, proposerId=who, title=t, parameter=k, value=v):
                out.append(Stmt(SUBMITTED, (p, who, t, k, v, at, *e.position)))
            case VoteCast(proposalId=p, voterId=who, vote=v):
                out.append(Stmt(VOTED, (p, who, v, at, at, p)))
            case ProposalExecuted(proposalId=p, status=s, votesFor=f, votesAgainst=a):
                out.append(Stmt(EXECUTED, (s, f, a, at, *e.position, p, *e.position)))
    return out


GROUP = GroupSpec(
    "governance", ("Proposal", "Vote"), frozenset({"ProposalSubmitted", "VoteCast", "ProposalExecuted"}), fold
)
