"""One valid example payload per command type: for docs, JSON Schema examples, tests and demos.

Ids are placeholders; :func:`example` substitutes a suffix so callers get distinct aggregates.
"""

from __future__ import annotations

from typing import Any

from schemas.command_types import CommandType as T

EXAMPLES: dict[T, dict[str, Any]] = {
    T.BOOTSTRAP_SYSTEM: {},
    T.INITIALIZE_COUNTRY: {"countryCode": "MY", "countryName": "Malaysia"},
    T.UPDATE_SYSTEM_PARAMETER: {"parameter": "velocityTaxBps", "value": "50"},
    T.PAUSE_SYSTEM: {"reason": "maintenance"},
    T.RESUME_SYSTEM: {},
    T.APPOINT_ADMIN: {"userId": "USR-{n}"},
    T.ACTIVATE_TREASURY: {"countryCode": "MY"},
    # The old API's payload, accepted as it is.
    T.CREATE_USER: {
        "userId": "USR-{n}",
        "email": "user{n}@example.com",
        "firstName": "Test",
        "lastName": "User",
        "country": "MY",
    },
    T.DISTRIBUTE_GENESIS: {"userId": "USR-{n}", "countryCode": "MY", "amount": 1000},
    T.TRANSFER_TOKENS: {"fromWalletId": "USR-{n}", "toWalletId": "USR-{n}-b", "amount": 25, "memo": "rent"},
    T.FREEZE_WALLET: {"walletId": "USR-{n}", "reason": "court order"},
    T.UNFREEZE_WALLET: {"walletId": "USR-{n}"},
    T.PROPOSE_ORGANIZATION: {"orgId": "ORG-{n}", "name": "Coop {n}", "proposerId": "USR-{n}"},
    T.ENDORSE_MEMBERSHIP: {"orgId": "ORG-{n}", "userId": "USR-{n}-b"},
    T.ACTIVATE_ORGANIZATION: {"orgId": "ORG-{n}"},
    T.DEFINE_AUTH_RULE: {"orgId": "ORG-{n}", "requiredApprovals": 2},
    T.INITIATE_MULTISIG_TX: {
        "orgId": "ORG-{n}",
        "multisigTxId": "MS-{n}",
        "initiatorId": "USR-{n}",
        "toWalletId": "USR-{n}-b",
        "amount": 10,
    },
    T.APPROVE_MULTISIG_TX: {"orgId": "ORG-{n}", "multisigTxId": "MS-{n}", "approverId": "USR-{n}-b"},
    T.EXECUTE_MULTISIG_TX: {"orgId": "ORG-{n}", "multisigTxId": "MS-{n}"},
    T.APPLY_FOR_LOAN: {"loanId": "LOAN-{n}", "borrowerId": "USR-{n}", "amount": 500},
    T.APPROVE_LOAN: {"loanId": "LOAN-{n}", "approverId": "USR-{n}-b"},
    T.SUBMIT_PROPOSAL: {
        "proposalId": "PROP-{n}",
        "proposerId": "USR-{n}",
        "title": "Lower the tax",
        "parameter": "velocityTaxBps",
        "value": "40",
    },
    T.CAST_VOTE: {"proposalId": "PROP-{n}", "voterId": "USR-{n}", "vote": "FOR"},
    T.EXECUTE_PROPOSAL: {"proposalId": "PROP-{n}"},
    T.APPLY_VELOCITY_TAX: {"walletId": "USR-{n}"},
}


def example(ctype: T | str, n: object = 1) -> dict[str, Any]:
    """A fresh copy of the example payload of ``ctype`` with ``{n}`` replaced by ``n``."""
    return {k: (v.replace("{n}", str(n)) if isinstance(v, str) else v) for k, v in EXAMPLES[T(ctype)].items()}
