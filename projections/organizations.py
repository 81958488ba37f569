"""The organizations group's fold: Organization (members, auth rule) and MultiSigTx. Pure.

Every event of an organization and its multisig transactions is keyed by the orgId, so they come
in ledger order; each statement is idempotent (insert once, append a member or an approval only if
absent, set a status), so replaying a suffix converges to the same rows. A row's status, wallet
and threshold are set only by an event newer than the one that last set them (the row's ledger
position, migration 007), so an old event delivered again out of order (a dead-letter replay)
never undoes a later one; adding a member or an approval commutes and needs no guard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from projections.model import IS_OLDER, POSITION, SET_POSITION, Event, GroupSpec, Stmt
from schemas.events import (
    AuthRuleDefined,
    MembershipEndorsed,
    MultiSigTxApproved,
    MultiSigTxExecuted,
    MultiSigTxInitiated,
    OrganizationActivated,
    OrganizationProposed,
)

PROPOSED = (
    'INSERT INTO {Organization} ("orgId", name, "proposerId", status, members, "requiredApprovals",'
    ' "updatedAt", ' + POSITION + ") VALUES (%s, %s, %s, 'PROPOSED', %s::jsonb, 1, %s, %s, %s, %s)"
    ' ON CONFLICT ("orgId") DO NOTHING'
)
ENDORSED = (
    'UPDATE {Organization} SET members = members || jsonb_build_array(%s::text), "updatedAt" = %s'
    ' WHERE "orgId" = %s AND NOT members ? %s'
)
ACTIVATED = (
    'UPDATE {Organization} SET status = \'ACTIVE\', "walletId" = %s, "requiredApprovals" = %s,'
    ' "updatedAt" = %s, ' + SET_POSITION + ' WHERE "orgId" = %s AND ' + IS_OLDER
)
AUTH_RULE = (
    'UPDATE {Organization} SET "requiredApprovals" = %s, "updatedAt" = %s, '
    + SET_POSITION
    + ' WHERE "orgId" = %s AND '
    + IS_OLDER
)
INITIATED = (
    'INSERT INTO {MultiSigTx} ("orgId", "multisigTxId", "initiatorId", "toWalletId", amount, status,'
    ' "updatedAt", ' + POSITION + ") VALUES (%s, %s, %s, %s, %s, 'PENDING', %s, %s, %s, %s)"
    " ON CONFLICT DO NOTHING"
)
APPROVED = (
    'UPDATE {MultiSigTx} SET approvals = approvals || jsonb_build_array(%s::text), "updatedAt" = %s'
    ' WHERE "orgId" = %s AND "multisigTxId" = %s AND NOT approvals ? %s'
)
EXECUTED = (
    "UPDATE {MultiSigTx} SET status = 'EXECUTED', \"updatedAt\" = %s, "
    + SET_POSITION
    + ' WHERE "orgId" = %s AND "multisigTxId" = %s AND '
    + IS_OLDER
)


def fold(events: Sequence[Event]) -> list[Stmt]:
    out = []
    for e in events:
        at, pos = e.env.commitTime, e.position
        match e.payload:
            case OrganizationProposed(orgId=o, name=n, proposerId=p):
                out.append(Stmt(PROPOSED, (o, n, p, json.dumps([p]), at, *pos)))
            case MembershipEndorsed(orgId=o, userId=u):
                out.append(Stmt(ENDORSED, (u, at, o, u)))
            case OrganizationActivated(orgId=o, walletId=w, requiredApprovals=n):
                out.append(Stmt(ACTIVATED, (w, n, at, *pos, o, *pos)))
            case AuthRuleDefined(orgId=o, requiredApprovals=n):
                out.append(Stmt(AUTH_RULE, (n, at, *pos, o, *pos)))
            case MultiSigTxInitiated(orgId=o, multisigTxId=m, initiatorId=i, toWalletId=w, amount=n):
                out.append(Stmt(INITIATED, (o, m, i, w, n, at, *pos)))
            case MultiSigTxApproved(orgId=o, multisigTxId=m, approverId=a):
                out.append(Stmt(APPROVED, (a, at, o, m, a)))
            case MultiSigTxExecuted(orgId=o, multisigTxId=m):
                out.append(Stmt(EXECUTED, (at, *pos, o, m, *pos)))
    return out


GROUP = GroupSpec(
    "organizations",
    ("Organization", "MultiSigTx"),
    frozenset(
        {
            "OrganizationProposed",
            "MembershipEndorsed",
            "OrganizationActivated",
            "AuthRuleDefined",
            "MultiSigTxInitiated",
            "MultiSigTxApproved",
            "MultiSigTxExecuted",
        }
    ),
    fold,
)
