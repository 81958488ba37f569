"""A record read as a command: its envelope validated and mapped to its chaincode call. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.envelopes import CommandEnvelope, parse_command
from schemas.errors import PayloadError, UnknownCommandType
from schemas.routing import to_invocation
from streams.outcome import ErrorCode
from streams.submitter.record import Record


@dataclass(frozen=True)
class Command:
    """A record whose envelope and payload are valid, with the chaincode call that applies it."""

    rec: Record
    env: CommandEnvelope
    function: str  # "Contract:Function"
    args: list[str]  # the tenantId and the requestId first
    received: datetime

    @property
    def key(self) -> bytes:
        """The results' key: the record's, else the envelope's."""
        return self.rec.key or self.env.key.encode()

    @property
    def ctx(self) -> dict[str, str | int]:
        """What every log line about the command carries."""
        return {
            "requestId": self.env.requestId,
            "commandId": self.env.id,
            "partition": self.rec.partition,
            "offset": self.rec.offset,
        }


def parse(rec: Record, received: datetime) -> Command:
    """The command in ``rec``, received at ``received``. PayloadError (UnknownCommandType for an
    unknown command type) naming what is invalid in the envelope or the payload."""
    env = parse_command(rec.value)
    contract, function, args = to_invocation(env.commandType, env.requestId, env.payload, env.tenantId)
    return Command(rec, env, f"{contract}:{function}", args, received)


def rejection_code(err: PayloadError) -> str:
    """The error code of a record :func:`parse` refused."""
    if isinstance(err, UnknownCommandType):
        return ErrorCode.UNKNOWN_COMMAND_TYPE
    return ErrorCode.INVALID_ENVELOPE if err.what == "command envelope" else ErrorCode.INVALID_PAYLOAD
