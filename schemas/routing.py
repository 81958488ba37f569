"""The command table, as data: each command type's partition key and its chaincode call.

Partition key (the Kafka key, stored in "OutboxCommand"."partitionKey"): commands about the same
aggregate must reach the submitter in insertion order, so each type is keyed by the id of the
aggregate it changes:

| aggregate | key field | command types |
|---|---|---|
| system | the constant ``system`` | BOOTSTRAP_SYSTEM, INITIALIZE_COUNTRY, UPDATE_SYSTEM_PARAMETER, PAUSE_SYSTEM, RESUME_SYSTEM, APPOINT_ADMIN, ACTIVATE_TREASURY |
| user / wallet (a user's wallet has the user's id) | userId / walletId | CREATE_USER, FREEZE_WALLET, UNFREEZE_WALLET, APPLY_VELOCITY_TAX |
| the genesis pool's shard of the recipient | ``genesis-<shard>`` | DISTRIBUTE_GENESIS |
| sending wallet | fromWalletId | TRANSFER_TOKENS |
| organization | orgId | PROPOSE_ORGANIZATION, ENDORSE_MEMBERSHIP, ACTIVATE_ORGANIZATION, DEFINE_AUTH_RULE, INITIATE/APPROVE/EXECUTE_MULTISIG_TX |
| loan | loanId | APPLY_FOR_LOAN, APPROVE_LOAN |
| proposal | proposalId | SUBMIT_PROPOSAL, CAST_VOTE, EXECUTE_PROPOSAL |

Ordering across aggregates (e.g. BOOTSTRAP_SYSTEM before the first DISTRIBUTE_GENESIS, a user
before its genesis) is not implied by keys: the chaincode enforces it and rejects out-of-order
commands with a business error; a caller that needs it waits for the earlier command's result.

DISTRIBUTE_GENESIS is keyed by the genesis pool's shard it debits (the chaincode keeps the pool's
balance in SHARDS records and chooses the shard by the recipient: ``shard_of``): distributions
of one shard reach Fabric one at a time, those of different shards touch no common key, so a burst
of them never conflicts (MVCC) on the pool.

Chaincode call: ``Contract:Function`` with positional string arguments. The command's tenantId and
requestId always come first (the chaincode's idempotency key is the pair; it refuses the same pair
reused for another call with IDEMPOTENCY_CONFLICT), then the payload fields in the order listed.
Integers are passed in decimal, lists as JSON arrays. The chaincode (chaincode/gxtv3) implements
the same table.

The SQL function ``gx_partition_key`` (schemas/sql/001_outbox.sql) derives the same key for rows
inserted without one (the old system's INSERT); a test keeps the two in agreement.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.command_types import CommandType as T
from schemas.payloads import command_type as ctype_of
from schemas.payloads import validate_payload

SYSTEM_KEY = "system"
SHARDS = 16  # chaincode/gxtv3/lib/ledger.js: SHARDS


def shard_of(id_: str) -> int:
    """The shard of the pool (or a treasury) the chaincode uses for this counterparty: the first
    byte of SHA-256 of its UTF-8, modulo SHARDS (chaincode/gxtv3/lib/ledger.js: shardOf)."""
    return hashlib.sha256(id_.encode()).digest()[0] % SHARDS


@dataclass(frozen=True)
class Route:
    key_field: str | None  # None: the constant SYSTEM_KEY
    contract: str
    function: str
    args: tuple[str, ...]
    shard_prefix: str | None = None  # the key is "<prefix>-<shard_of(key field)>"

    def describe_key(self) -> str:
        """The Kafka key in words (``gxctl schemas``)."""
        if self.key_field is None:
            return SYSTEM_KEY
        return f"{self.shard_prefix}-<shard of {self.key_field}>" if self.shard_prefix else self.key_field


def _r(key: str | None, contract: str, function: str, *args: str, shard: str | None = None) -> Route:
    return Route(key, contract, function, args, shard)


ADMIN, IDENTITY, TOKEN, ORG, LOAN, GOV, TAX = (
    "AdminContract",
    "IdentityContract",
    "TokenomicsContract",
    "OrganizationContract",
    "LoanPoolContract",
    "GovernanceContract",
    "TaxContract",
)

ROUTES: Mapping[T, Route] = {
    T.BOOTSTRAP_SYSTEM: _r(None, ADMIN, "BootstrapSystem"),
    T.INITIALIZE_COUNTRY: _r(None, ADMIN, "InitializeCountry", "countryCode", "countryName"),
    T.UPDATE_SYSTEM_PARAMETER: _r(None, ADMIN, "UpdateSystemParameter", "parameter", "value"),
    T.PAUSE_SYSTEM: _r(None, ADMIN, "PauseSystem", "reason"),
    T.RESUME_SYSTEM: _r(None, ADMIN, "ResumeSystem"),
    T.APPOINT_ADMIN: _r(None, ADMIN, "AppointAdmin", "userId"),
    T.ACTIVATE_TREASURY: _r(None, ADMIN, "ActivateTreasury", "countryCode"),
    T.CREATE_USER: _r("userId", IDENTITY, "CreateUser", "userId", "email", "firstName", "lastName", "country"),
    T.DISTRIBUTE_GENESIS: _r("userId", TOKEN, "DistributeGenesis", "userId", "countryCode", "amount", shard="genesis"),
    T.TRANSFER_TOKENS: _r("fromWalletId", TOKEN, "TransferTokens", "fromWalletId", "toWalletId", "amount", "memo"),
    T.FREEZE_WALLET: _r("walletId", TOKEN, "FreezeWallet", "walletId", "reason"),
    T.UNFREEZE_WALLET: _r("walletId", TOKEN, "UnfreezeWallet", "walletId"),
    T.PROPOSE_ORGANIZATION: _r("orgId", ORG, "ProposeOrganization", "orgId", "name", "proposerId"),
    T.ENDORSE_MEMBERSHIP: _r("orgId", ORG, "EndorseMembership", "orgId", "userId", "approverIds"),
    T.ACTIVATE_ORGANIZATION: _r("orgId", ORG, "ActivateOrganization", "orgId", "approverIds"),
    T.DEFINE_AUTH_RULE: _r("orgId", ORG, "DefineAuthRule", "orgId", "requiredApprovals", "approverIds"),
    T.INITIATE_MULTISIG_TX: _r(
        "orgId", ORG, "InitiateMultiSigTx", "orgId", "multisigTxId", "initiatorId", "toWalletId", "amount"
    ),
    T.APPROVE_MULTISIG_TX: _r("orgId", ORG, "ApproveMultiSigTx", "orgId", "multisigTxId", "approverId"),
    T.EXECUTE_MULTISIG_TX: _r("orgId", ORG, "ExecuteMultiSigTx", "orgId", "multisigTxId"),
    T.APPLY_FOR_LOAN: _r("loanId", LOAN, "ApplyForLoan", "loanId", "borrowerId", "amount"),
    T.APPROVE_LOAN: _r("loanId", LOAN, "ApproveLoan", "loanId", "approverId"),
    T.SUBMIT_PROPOSAL: _r(
        "proposalId", GOV, "SubmitProposal", "proposalId", "proposerId", "title", "parameter", "value"
    ),
    T.CAST_VOTE: _r("proposalId", GOV, "CastVote", "proposalId", "voterId", "vote"),
    T.EXECUTE_PROPOSAL: _r("proposalId", GOV, "ExecuteProposal", "proposalId"),
    T.APPLY_VELOCITY_TAX: _r("walletId", TAX, "ApplyVelocityTax", "walletId"),
}


def partition_key(command_type: str, payload: Any) -> str:
    """The Kafka key of a command. Raises PayloadError if the payload is invalid for its type."""
    parsed = validate_payload(command_type, payload)
    route = ROUTES[ctype_of(command_type)]
    if route.key_field is None:
        return SYSTEM_KEY
    value = str(getattr(parsed, route.key_field))
    return f"{route.shard_prefix}-{shard_of(value)}" if route.shard_prefix else value


def _arg(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def to_invocation(command_type: str, request_id: str, payload: Any, tenant_id: str) -> tuple[str, str, list[str]]:
    """``(contract, function, args)`` for a command; args start with the tenantId and the requestId.

    Pure. Raises PayloadError (or UnknownCommandType) naming the bad field.
    """
    parsed = validate_payload(command_type, payload)
    route = ROUTES[ctype_of(command_type)]
    return route.contract, route.function, [tenant_id, request_id, *(_arg(getattr(parsed, f)) for f in route.args)]
