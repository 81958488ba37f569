"""One strict pydantic model per command type's payload.

Strict means: unknown fields, wrong JSON types (``"10"`` for an amount), non-positive amounts and
empty or blank ids are refused, each error naming its field. Amounts are integers in the token's
smallest unit (no floats on a ledger).

Wallets are named by reference: a user's wallet has the user's id (``walletId == userId``); an
organisation's is ``@org:<orgId>`` (ids never hold '@', so no user can take that name). A transfer
or a multisig payment pays a user's or an organisation's wallet; a frozen wallet is a user's or an
organisation's; the pool and the treasuries (``@system:...``, ``@treasury:<CC>``) move only by
their own rules.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from schemas.command_types import CommandType
from schemas.errors import PayloadError, UnknownCommandType

# Ids are never stripped or rewritten: the database derives the partition key from the raw JSON, so
# an id must be exactly what is stored. Whitespace and other odd characters are refused instead.
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
# Characters no text of a command may hold: the C0 and C1 controls, NUL among them (Postgres cannot
# store it, in text or jsonb). Names, reasons and titles are one line of printable text; what the
# command model refuses never reaches the ledger. (pydantic refuses lone surrogates already.)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
# The same rule for JSON Schema users (ECMA-262).
_PRINTABLE = r"^[^\u0000-\u001f\u007f-\u009f]*$"


def _printable(text: str) -> str:
    """``text`` unchanged; ValueError naming the first control character and where it is."""
    m = _CONTROL.search(text)
    if m is not None:
        raise ValueError(f"must not contain control characters: U+{ord(m.group()):04X} at position {m.start()}")
    return text


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


_PLAIN = Field(json_schema_extra={"pattern": _PRINTABLE})
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(_printable), AfterValidator(_not_blank), _PLAIN
]
Memo = Annotated[str, StringConstraints(max_length=500), AfterValidator(_printable), _PLAIN]
# int64 like the chaincode's balances, and exactly representable through Debezium's JSON expansion.
Amount = Annotated[int, Field(gt=0, le=2**63 - 1)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
# A user's wallet (its id) or an organisation's (``@org:<orgId>``).
WalletRef = Annotated[str, StringConstraints(min_length=1, max_length=133, pattern=r"^(@org:)?[A-Za-z0-9_.:\-]+$")]
# The members who approve a change to an active organisation (its membership, its threshold).
Approvers = Annotated[list[Id], Field(max_length=100)]
Email = Annotated[
    str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), AfterValidator(_printable)
]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class CreateUser(Payload):
    userId: Id
    email: Email
    firstName: Text
    lastName: Text
    country: Country


class TransferTokens(Payload):
    fromWalletId: Id
    toWalletId: WalletRef
    amount: Amount
    memo: Memo = ""


class BootstrapSystem(Payload):
    pass


class InitializeCountry(Payload):
    countryCode: Country
    countryName: Text


class DistributeGenesis(Payload):
    userId: Id
    countryCode: Country
    amount: Amount


class FreezeWallet(Payload):
    walletId: WalletRef
    reason: Text


class UnfreezeWallet(Payload):
    walletId: WalletRef


class ProposeOrganization(Payload):
    orgId: Id
    name: Text
    proposerId: Id


class EndorseMembership(Payload):
    orgId: Id
    userId: Id
    approverIds: Approvers = []  # needed once the organisation is active


class ActivateOrganization(Payload):
    orgId: Id
    approverIds: Approvers = []  # every founding member (the chaincode refuses an activation without them)


class DefineAuthRule(Payload):
    orgId: Id
    requiredApprovals: Annotated[int, Field(gt=0, le=100)]
    approverIds: Approvers = []  # at least the current threshold of members


class InitiateMultisigTx(Payload):
    orgId: Id
    multisigTxId: Id
    initiatorId: Id
    toWalletId: WalletRef
    amount: Amount


class ApproveMultisigTx(Payload):
    orgId: Id
    multisigTxId: Id
    approverId: Id


class ExecuteMultisigTx(Payload):
    orgId: Id
    multisigTxId: Id


class ApplyForLoan(Payload):
    loanId: Id
    borrowerId: Id
    amount: Amount


class ApproveLoan(Payload):
    loanId: Id
    approverId: Id


class SubmitProposal(Payload):
    proposalId: Id
    proposerId: Id
    title: Text
    parameter: Id
    value: Text


class CastVote(Payload):
    proposalId: Id
    voterId: Id
    vote: Literal["FOR", "AGAINST"]


class ExecuteProposal(Payload):
    proposalId: Id


class UpdateSystemParameter(Payload):
    parameter: Id
    value: Text


class PauseSystem(Payload):
    reason: Text


class ResumeSystem(Payload):
    pass


class AppointAdmin(Payload):
    userId: Id


class ActivateTreasury(Payload):
    countryCode: Country


class ApplyVelocityTax(Payload):
    walletId: Id


PAYLOADS: dict[CommandType, type[Payload]] = {
    CommandType.CREATE_USER: CreateUser,
    CommandType.TRANSFER_TOKENS: TransferTokens,
    CommandType.BOOTSTRAP_SYSTEM: BootstrapSystem,
    CommandType.INITIALIZE_COUNTRY: InitializeCountry,
    CommandType.DISTRIBUTE_GENESIS: DistributeGenesis,
    CommandType.FREEZE_WALLET: FreezeWallet,
    CommandType.UNFREEZE_WALLET: UnfreezeWallet,
    CommandType.PROPOSE_ORGANIZATION: ProposeOrganization,
    CommandType.ENDORSE_MEMBERSHIP: EndorseMembership,
    CommandType.ACTIVATE_ORGANIZATION: ActivateOrganization,
    CommandType.DEFINE_AUTH_RULE: DefineAuthRule,
    CommandType.INITIATE_MULTISIG_TX: InitiateMultisigTx,
    CommandType.APPROVE_MULTISIG_TX: ApproveMultisigTx,
    CommandType.EXECUTE_MULTISIG_TX: ExecuteMultisigTx,
    CommandType.APPLY_FOR_LOAN: ApplyForLoan,
    CommandType.APPROVE_LOAN: ApproveLoan,
    CommandType.SUBMIT_PROPOSAL: SubmitProposal,
    CommandType.CAST_VOTE: CastVote,
    CommandType.EXECUTE_PROPOSAL: ExecuteProposal,
    CommandType.UPDATE_SYSTEM_PARAMETER: UpdateSystemParameter,
    CommandType.PAUSE_SYSTEM: PauseSystem,
    CommandType.RESUME_SYSTEM: ResumeSystem,
    CommandType.APPOINT_ADMIN: AppointAdmin,
    CommandType.ACTIVATE_TREASURY: ActivateTreasury,
    CommandType.APPLY_VELOCITY_TAX: ApplyVelocityTax,
}


def command_type(value: str) -> CommandType:
    """The CommandType named ``value``, in any case and with ``-`` for ``_`` (``create-user`` is
    CREATE_USER). UnknownCommandType (field ``commandType``) otherwise, suggesting close names."""
    try:
        return CommandType(value)
    except ValueError:
        pass
    canonical = str(value).strip().upper().replace("-", "_")
    if canonical in CommandType.__members__:
        return CommandType(canonical)
    import difflib

    names = [t.value for t in CommandType]
    close = difflib.get_close_matches(canonical, names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; one of: {', '.join(names)}"
    raise UnknownCommandType(
        "command", [("commandType", f"unknown command type {value!r}{hint} (gxctl schemas list)")]
    ) from None


def validate_payload(ctype: str, payload: Any) -> Payload:
    """The payload parsed by its type's model. Raises PayloadError naming each bad field."""
    model = PAYLOADS[command_type(ctype)]
    ctype = command_type(ctype).value
    if not isinstance(payload, dict):
        got = {
            type(None): "null",
            bool: "a boolean",
            int: "a number",
            float: "a number",
            str: "a string",
            list: "an array",
        }.get(type(payload), type(payload).__name__)
        raise PayloadError(f"{ctype} payload", [("payload", f"must be a JSON object, got {got}")])
    try:
        return model.model_validate(payload)
    except ValidationError as e:
        raise PayloadError.from_validation(f"{ctype} payload", e) from None
