"""The organizations group's fold: Organization (members, auth rule) and MultiSigTx. Pure.

Every event of an organization and its multisig transactions is keyed by the orgId, so they come
in ledger order; each statement is idempotent (insert once, append a member or an approval only if
absent, set a status), so replaying a suffix converges to the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from projections.model import Event, GroupSpec, Stmt
from schemas.events import (
    AuthRuleDefined,
    MembershipEndorsed,
    MultiSigTxApproved,
    MultiSigTxExecuted,
    MultiSigTxInitiated,
    OrganizationActivated,
    OrganizationProposed,
)

PROPOSED = ('INSERT INTO {Organization} ("orgId", name, "proposerId", status, members, "requiredApprovals",'
            " \"updatedAt\") VALUES (%s, %s, %s, 'PROPOSED', %s::jsonb, 1, %s) ON CONFLICT (\"orgId\") DO NOTHING")
ENDORSED = ('UPDATE {Organization} SET members = members || jsonb_build_array(%s::text), "updatedAt" = %s'
            ' WHERE "orgId" = %s AND NOT members ? %s')
ACTIVATED = ('UPDATE {Organization} SET status = \'ACTIVE\', "walletId" = %s, "updatedAt" = %s WHERE "orgId" = %s')
AUTH_RULE = 'UPDATE {Organization} SET "requiredApprovals" = %s, "updatedAt" = %s WHERE "orgId" = %s'
INITIATED = ('INSERT INTO {MultiSigTx} ("orgId", "multisigTxId", "initiatorId", "toWalletId", amount, status,'
             " \"updatedAt\") VALUES (%s, %s, %s, %s, %s, 'PENDING', %s) ON CONFLICT DO NOTHING")
APPROVED = ('UPDATE {MultiSigTx} SET approvals = approvals || jsonb_build_array(%s::text), "updatedAt" = %s'
            ' WHERE "orgId" = %s AND "multisigTxId" = %s AND NOT approvals ? %s')
EXECUTED = ('UPDATE {MultiSigTx} SET status = \'EXECUTED\', "updatedAt" = %s'
            ' WHERE "orgId" = %s AND "multisigTxId" = %s')


def fold(events: Sequence[Event]) -> list[Stmt]:
    out = []
    for e in events:
        at = e.env.commitTime
        match e.payload:
            case OrganizationProposed(orgId=o, name=n, proposerId=p):
                out.append(Stmt(PROPOSED, (o, n, p, json.dumps([p]), at)))
            case MembershipEndorsed(orgId=o, userId=u):
                out.append(Stmt(ENDORSED, (u, at, o, u)))
            case OrganizationActivated(orgId=o, walletId=w):
                out.append(Stmt(ACTIVATED, (w, at, o)))
            case AuthRuleDefined(orgId=o, requiredApprovals=n):
                out.append(Stmt(AUTH_RULE, (n, at, o)))
            case MultiSigTxInitiated(orgId=o, multisigTxId=m, initiatorId=i, toWalletId=w, amount=n):
                out.append(Stmt(INITIATED, (o, m, i, w, n, at)))
            case MultiSigTxApproved(orgId=o, multisigTxId=m, approverId=a):
                out.append(Stmt(APPROVED, (a, at, o, m, a)))
            case MultiSigTxExecuted(orgId=o, multisigTxId=m):
                out.append(Stmt(EXECUTED, (at, o, m)))
    return out


GROUP = GroupSpec("organizations", ("Organization", "MultiSigTx"), frozenset({
    "OrganizationProposed", "MembershipEndorsed", "OrganizationActivated", "AuthRuleDefined", "MultiSigTxInitiated",
    "MultiSigTxApproved", "MultiSigTxExecuted"}), fold)
