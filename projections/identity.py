"""The identity group's fold: User and Application (one KYC application per user). Pure.

Users are created once (ON CONFLICT DO NOTHING makes a replay harmless); an appointed admin is
flagged after the inserts of the same batch, and both events share the user's key, so its order.
A user row remembers the position of the event that last set it; an older one (a replay out of
order) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from projections.model import Event, GroupSpec, Stmt
from schemas.events import AdminAppointed, UserCreated

INSERT_USERS = (
    'INSERT INTO {User} ("userId", email, "firstName", "lastName", country, "kycStatus", "createdBlock", "updatedAt",'
    ' "lastBlock", "lastTxIndex", "lastEventIndex")'
    " SELECT u, e, f, l, c, 'PENDING', b, a, b, ti, ei FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[],"
    " %b::text[], %b::bigint[], %b::timestamptz[], %b::int[], %b::int[]) AS x(u, e, f, l, c, b, a, ti, ei)"
    ' ON CONFLICT ("userId") DO NOTHING'
)
INSERT_APPLICATIONS = (
    'INSERT INTO {Application} ("applicationId", "userId", kind, status, "updatedAt")'
    " SELECT 'KYC:' || u, u, 'KYC', 'PENDING', a FROM unnest(%b::text[], %b::timestamptz[]) AS x(u, a)"
    ' ON CONFLICT ("applicationId") DO NOTHING'
)
FLAG_ADMINS = (
    'UPDATE {User} SET "isAdmin" = true, "updatedAt" = GREATEST("updatedAt", a),'
    ' ("lastBlock", "lastTxIndex", "lastEventIndex") = (b, ti, ei)'
    " FROM unnest(%b::text[], %b::timestamptz[], %b::bigint[], %b::int[], %b::int[]) AS x(u, a, b, ti, ei)"
    ' WHERE "userId" = u AND ("lastBlock", "lastTxIndex", "lastEventIndex") < (b, ti, ei)'
)


def fold(events: Sequence[Event]) -> list[Stmt]:
    users: dict[str, tuple] = {}
    admins: dict[str, Event] = {}
    for e in events:
        match e.payload:
            case UserCreated(userId=u, email=em, firstName=f, lastName=last, country=c):
                users.setdefault(u, (u, em, f, last, c, e.env.block, e.env.commitTime, e.env.txIndex, e.env.eventIndex))
            case AdminAppointed(userId=u):
                if u not in admins or admins[u].position < e.position:
                    admins[u] = e
    out = []
    if users:
        cols = [list(c) for c in zip(*users.values())]
        out.append(Stmt(INSERT_USERS, tuple(cols)))
        out.append(Stmt(INSERT_APPLICATIONS, (cols[0], cols[6])))
    if admins:
        es = list(admins.values())
        out.append(
            Stmt(
                FLAG_ADMINS,
                (
                    list(admins),
                    [e.env.commitTime for e in es],
                    [e.env.block for e in es],
                    [e.env.txIndex for e in es],
                    [e.env.eventIndex for e in es],
                ),
            )
        )
    return out


GROUP = GroupSpec("identity", ("User", "Application"), frozenset({"UserCreated", "AdminAppointed"}), fold)
