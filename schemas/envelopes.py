"""Envelopes on the pipeline's topics (the topic contracts: docs/architecture.md).

``CommandEnvelope`` is the value on gx.commands, identical whether Debezium's outbox router or the
SDK's direct produce wrote it. Its ``payload`` is kept as a plain JSON object here: the payload is
validated against its command type separately (schemas.payloads), so a bad payload can be
dead-lettered with the field named rather than failing the envelope as a whole.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import PayloadError
from schemas.payloads import Id

# Kafka headers carried by every record on gx.commands (both paths alike).
COMMAND_HEADERS = ("id", "commandType", "requestId", "tenantId", "service")


class CommandEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    tenantId: Id
    service: Id
    commandType: str
    requestId: Id
    payload: dict[str, Any]
    key: str = Field(min_length=1)
    createdAt: datetime
    correlationId: str | None = None

    def headers(self) -> list[tuple[str, str | bytes | None]]:
        return [(h, str(getattr(self, h)).encode()) for h in COMMAND_HEADERS]


def parse_command(raw: bytes | str | dict[str, Any]) -> CommandEnvelope:
    """A command envelope from a record value. Raises PayloadError naming the bad fields."""
    try:
        if isinstance(raw, dict):
            return CommandEnvelope.model_validate(raw)
        return CommandEnvelope.model_validate_json(raw)
    except ValidationError as e:
        raise PayloadError.from_validation("command envelope", e) from None


class ResultStatus(StrEnum):
    """SUBMITTED is progress (sent to Fabric); the other three are final, one per command."""

    SUBMITTED = "SUBMITTED"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"

    @property
    def final(self) -> bool:
        return self is not ResultStatus.SUBMITTED


class Timings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivedAt: datetime | None = None
    submittedAt: datetime | None = None
    committedAt: datetime | None = None
    durationMs: float | None = None


class Attempt(BaseModel):
    """One attempt at a command: the transaction it used and how it ended (``gxctl commands show``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempt: int = Field(ge=1)
    txId: str | None = None
    outcome: str  # COMMITTED, RETRYABLE, PERMANENT, CHAINCODE_REJECTED
    errorClass: str | None = None  # EndorseError, SubmitError, CommitStatusError, CommitError
    code: str | None = None  # the gRPC status or the validation code
    message: str | None = None
    at: datetime


class CommandResult(BaseModel):
    """The value on gx.command-results (key = the command's key).

    ``sourceTopic``/``sourcePartition``/``sourceOffset`` locate the command (on gx.commands, or on
    gx.commands.direct: such a command has no outbox row, and its result moves none; a result
    without ``sourceTopic``, written before it existed or by the corrector, is the outbox's);
    ``attemptLog`` (final results only) tells each attempt's transaction and error class.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    commandId: str
    requestId: str
    tenantId: str
    key: str
    status: ResultStatus
    fabricTxId: str | None = None
    commitBlock: int | None = None
    validationCode: str | None = None
    errorCode: str | None = None
    error: str | None = None
    attempts: int = 0
    timings: Timings = Field(default_factory=Timings)
    sourceTopic: str | None = None
    sourcePartition: int | None = None
    sourceOffset: int | None = None
    attemptLog: list[Attempt] = Field(default_factory=list)


def parse_result(raw: bytes | str) -> CommandResult:
    """A result from a record value. Raises PayloadError naming the bad fields."""
    try:
        return CommandResult.model_validate_json(raw)
    except ValidationError as e:
        raise PayloadError.from_validation("command result", e) from None
