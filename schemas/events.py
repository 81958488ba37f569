"""Ledger events: the envelope on gx.fabric.events and the versioned payloads the chaincode emits.

Every chaincode event's payload is a JSON object carrying ``schemaVersion`` and the command's
``requestId`` beside its fields; the block publisher wraps it in an :class:`EventEnvelope`
(key = the entity the event is about). Projections and outside consumers validate both.

Only the identity and ledger events are defined so far (the chaincode is blocked; see README).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import PayloadError
from schemas.payloads import Amount, Country, Email, Id, Text

SCHEMA_VERSION = 1


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    block: int = Field(ge=0)
    txId: str
    txIndex: int = Field(ge=0)
    eventIndex: int = Field(ge=0)
    name: str
    payload: dict[str, Any]
    commitTime: datetime
    schemaVersion: int = Field(ge=1)
    requestId: str | None = None


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    schemaVersion: int = Field(ge=1, le=SCHEMA_VERSION)
    requestId: str


class UserCreated(EventPayload):
    userId: Id
    email: Email
    firstName: Text
    lastName: Text
    country: Country


class GenesisDistributed(EventPayload):
    userId: Id
    countryCode: Country
    amount: Amount


class TokensTransferred(EventPayload):
    fromWalletId: Id
    toWalletId: Id
    amount: Amount
    memo: str = ""


class WalletFrozen(EventPayload):
    walletId: Id
    reason: Text


class WalletUnfrozen(EventPayload):
    walletId: Id


class VelocityTaxApplied(EventPayload):
    walletId: Id
    treasuryWalletId: Id
    amount: Amount


EVENTS: dict[str, type[EventPayload]] = {m.__name__: m for m in (
    UserCreated, GenesisDistributed, TokensTransferred, WalletFrozen, WalletUnfrozen, VelocityTaxApplied)}


class UnknownEventType(PayloadError):
    """An event name no projection knows."""


def parse_event(raw: bytes | str) -> tuple[EventEnvelope, EventPayload]:
    """Envelope and typed payload. Raises UnknownEventType or PayloadError naming the bad field."""
    try:
        env = EventEnvelope.model_validate_json(raw)
    except ValidationError as e:
        raise PayloadError.from_validation("event envelope", e) from None
    model = EVENTS.get(env.name)
    if model is None:
        raise UnknownEventType("event", [("name", f"unknown event type {env.name!r}")])
    try:
        return env, model.model_validate(env.payload)
    except ValidationError as e:
        raise PayloadError.from_validation(f"{env.name} payload", e) from None
