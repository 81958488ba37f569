"""Who may write which command, and what each command needs on the ledger: the one table.

Every upstream service writes the command types of its own aggregates and no other; every command
type needs one scope of the chaincode's grants (chaincode/gxtv3/lib/callers.js, docs/chaincode-rules.md):
``all`` (administrative) or ``commands`` (user-level). A service is administrative or user-level,
never both, so a user-level service cannot reach an administrative function by any path:

- the outbox, in the secure mode, refuses its row (row-level security: each service writes as
  its own Postgres role, schemas/roles.py, and only rows of its own service and types);
- the submitter refuses (REJECTED, dead-lettered, no attempt) an envelope whose service may not
  send its type, whichever path brought it (streams/submitter/permissions.py);
- the submitter signs administrative types with the identity granted ``all`` and user-level ones
  with the identity granted ``commands`` (GX_FABRIC_COMMANDS_CERT/KEY), which the chaincode refuses
  (FORBIDDEN) for an administrative function.

The table is :data:`SERVICES` with :data:`SCOPES`; docs/security.md shows it as
:func:`markdown_table` makes it (a unit test keeps the two equal, and :data:`ADMINISTRATIVE` equal
to the chaincode's administrative functions).

Each command type has exactly one service (the owner of its aggregate), so :func:`service_of`
names who writes a type (the demo, the benchmarks and the tests write as that service).
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum

from schemas.command_types import CommandType as T


class Scope(StrEnum):
    """A grant's scope in the chaincode (lib/callers.js: SCOPES)."""

    ALL = "all"  # administrative: every function
    COMMANDS = "commands"  # user-level functions only


# The scope each command type needs (the chaincode's `_apply(..., {admin: true})`; a unit test
# reads the chaincode's source to keep them equal).
ADMINISTRATIVE: frozenset[T] = frozenset(
    {
        T.BOOTSTRAP_SYSTEM,
        T.INITIALIZE_COUNTRY,
        T.UPDATE_SYSTEM_PARAMETER,
        T.PAUSE_SYSTEM,
        T.RESUME_SYSTEM,
        T.APPOINT_ADMIN,
        T.ACTIVATE_TREASURY,
        T.FREEZE_WALLET,
        T.UNFREEZE_WALLET,
        T.APPROVE_LOAN,
    }
)

SCOPES: Mapping[T, Scope] = {t: Scope.ALL if t in ADMINISTRATIVE else Scope.COMMANDS for t in T}

SERVICES: Mapping[str, tuple[T, ...]] = {
    "svc-admin": (
        T.BOOTSTRAP_SYSTEM,
        T.INITIALIZE_COUNTRY,
        T.UPDATE_SYSTEM_PARAMETER,
        T.PAUSE_SYSTEM,
        T.RESUME_SYSTEM,
        T.APPOINT_ADMIN,
        T.ACTIVATE_TREASURY,
        T.FREEZE_WALLET,
        T.UNFREEZE_WALLET,
        T.APPROVE_LOAN,
    ),
    "svc-identity": (T.CREATE_USER,),
    "svc-tokenomics": (T.DISTRIBUTE_GENESIS, T.TRANSFER_TOKENS),
    "svc-organizations": (
        T.PROPOSE_ORGANIZATION,
        T.ENDORSE_MEMBERSHIP,
        T.ACTIVATE_ORGANIZATION,
        T.DEFINE_AUTH_RULE,
        T.INITIATE_MULTISIG_TX,
        T.APPROVE_MULTISIG_TX,
        T.EXECUTE_MULTISIG_TX,
    ),
    "svc-loans": (T.APPLY_FOR_LOAN,),
    "svc-governance": (T.SUBMIT_PROPOSAL, T.CAST_VOTE, T.EXECUTE_PROPOSAL),
    "svc-tax": (T.APPLY_VELOCITY_TAX,),
}

# A service name is also a Postgres role's suffix (schemas.roles.service_role): lower case,
# digits and single dashes, short enough for its role and policy names (63 bytes).
SERVICE_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
MAX_SERVICE_NAME = 24

_OWNER: Mapping[T, str] = {t: s for s, types in SERVICES.items() for t in types}


def scope_of(command_type: str) -> Scope:
    """The scope ``command_type`` needs on the ledger. ValueError for an unknown type."""
    return SCOPES[T(command_type)]


def service_scope(service: str) -> Scope:
    """The scope of ``service``'s commands (one scope per service). KeyError for an unknown service."""
    return SCOPES[SERVICES[service][0]]


def service_of(command_type: str) -> str:
    """The one service that writes ``command_type``. ValueError for an unknown type."""
    return _OWNER[T(command_type)]


def refusal(service: str, command_type: str) -> str | None:
    """Why ``service`` may not send ``command_type`` (one line naming both and the table), or None
    if it may. Compares the type as written (the envelope's text, upper case)."""
    if service not in SERVICES:
        return (
            f"service {service[:80]!r} is not in the service table (schemas/permissions.py): "
            f"it may send no command (known: {', '.join(SERVICES)})"
        )
    if command_type not in SERVICES[service]:
        try:
            owner = f"; {service_of(command_type)} writes it"
        except ValueError:
            owner = ""
        return f"service {service} may not send {command_type[:80]} (schemas/permissions.py){owner}"
    return None


def markdown_table() -> str:
    """The table as docs/security.md shows it (header, rule and one row per service)."""
    rows = ["| service | scope | command types |", "|---|---|---|"]
    rows += [f"| {s} | {service_scope(s)} | {', '.join(types)} |" for s, types in SERVICES.items()]
    return "\n".join(rows)
