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


# Every field of a command is bounded (schemas.payloads), so a command is a few KiB at most; a
# record far larger is not one (and a copy of it on the dead-letter topic must still fit).
MAX_RECORD_BYTES = 128 * 1024


def unreadable(rec: Record) -> tuple[str, str] | None:
    """(error code, reason) if ``rec`` cannot be read as a command whatever its value says: no key,
    a key or a header value that is not UTF-8 text, or a record larger than any command can be.
    None if it can. Never raises: any bytes can arrive on gx.commands (the SDK path)."""
    if rec.size > MAX_RECORD_BYTES:
        return ErrorCode.RECORD_TOO_LARGE, (
            f"the record is {rec.size} bytes (key, value and headers), "
            f"over the {MAX_RECORD_BYTES} bytes a command can take"
        )
    if rec.key is None:
        return ErrorCode.INVALID_KEY, "the record has no key (gx.commands is keyed by the command's aggregate)"
    try:
        rec.key.decode()
    except UnicodeDecodeError as e:
        return (
            ErrorCode.INVALID_KEY,
            f"the record's key is not UTF-8 text ({e.reason} at byte {e.start}): {rec.key_text()[:200]}",
        )
    for name, value in rec.headers:
        try:
            value.decode()
        except UnicodeDecodeError as e:
            return ErrorCode.INVALID_HEADERS, f"header {name!r} is not UTF-8 text ({e.reason} at byte {e.start})"
    return None


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
