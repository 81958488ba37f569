"""Event payload schemas, keys and partitions (schemas.events)."""

from __future__ import annotations

import json

import pytest

from schemas.errors import PayloadError
from schemas.events import (
    EVENTS,
    KEY_FIELDS,
    TokensTransferred,
    UnknownEventType,
    UnsupportedSchemaVersion,
    UserCreated,
    event_key,
    parse_event,
    partition_for,
)
from tests.unit.events_factory import envelope


def test_every_event_has_a_key_rule_and_every_rule_an_event() -> None:
    assert set(EVENTS) == set(KEY_FIELDS)
    assert len(EVENTS) == 25
    for name, field in KEY_FIELDS.items():
        if field is not None:
            assert field in EVENTS[name].model_fields, name


def test_keys_are_the_entity_and_system_events_share_one() -> None:
    assert event_key("TokensTransferred", {"fromWalletId": "A", "toWalletId": "B"}) == "A"
    assert event_key("VoteCast", {"proposalId": "P1", "voterId": "U"}) == "P1"
    assert event_key("SystemPaused", {"reason": "x"}) == "system"
    # a broken payload still gets a key (the name), so it is published and dead-lettered downstream
    assert event_key("TokensTransferred", {}) == "TokensTransferred"
    assert event_key("NoSuchEvent", {"x": 1}) == "NoSuchEvent"


def test_partition_is_stable_crc32_of_the_key() -> None:
    import zlib

    assert partition_for("U1", 6) == zlib.crc32(b"U1") % 6
    assert {partition_for(f"U{i}", 6) for i in range(100)} == set(range(6))


def test_newer_schema_version_and_unknown_type_are_named() -> None:
    with pytest.raises(UnsupportedSchemaVersion, match="schemaVersion: version 3 is newer"):
        parse_event(json.dumps(envelope("WalletUnfrozen", {"walletId": "W"}, 1, version=3)))
    with pytest.raises(UnknownEventType, match="unknown event type 'Minted'"):
        parse_event(json.dumps(envelope("Minted", {}, 1)))


def test_a_payload_that_fails_names_the_field() -> None:
    with pytest.raises(PayloadError, match="TokensTransferred payload: amount"):
        parse_event(
            json.dumps(envelope("TokensTransferred", {"fromWalletId": "A", "toWalletId": "B", "amount": "1e2"}, 1))
        )


def test_version_2_amounts_are_decimal_strings_and_wallets_are_references() -> None:
    """gxtv3's events since issue 21: exact amounts as decimal strings, namespaced wallets; version 1
    (integers) is still read."""
    _env, p = parse_event(
        json.dumps(
            envelope(
                "TokensTransferred",
                {
                    "fromWalletId": "alice",
                    "toWalletId": "@org:ORG1",
                    "amount": "9007199254740993",
                    "memo": 'x"__int64__1',
                },
                1,
                version=2,
            )
        )
    )
    assert isinstance(p, TokensTransferred)
    assert (p.amount, p.toWalletId, p.memo) == (9007199254740993, "@org:ORG1", 'x"__int64__1')
    _, old = parse_event(
        json.dumps(envelope("TokensTransferred", {"fromWalletId": "a", "toWalletId": "b", "amount": 10}, 1))
    )
    assert isinstance(old, TokensTransferred) and old.amount == 10
    with pytest.raises(PayloadError, match="amount"):
        parse_event(
            json.dumps(
                envelope("TokensTransferred", {"fromWalletId": "a", "toWalletId": "b", "amount": "-1"}, 1, version=2)
            )
        )


def test_an_event_the_ledger_committed_is_never_refused_for_what_the_outbox_would_refuse() -> None:
    """Issue 22: the event models were stricter than the chaincode (an email pattern, a two-letter
    country, an id alphabet), so an event the ledger committed could be dead-lettered for good."""
    _, p = parse_event(
        json.dumps(
            envelope(
                "UserCreated",
                {
                    "userId": "user with spaces/and:slashes",
                    "email": "not-an-email",
                    "firstName": "A",
                    "lastName": "B",
                    "country": "Malaysia",
                },
                1,
                version=2,
            )
        )
    )
    assert isinstance(p, UserCreated)
    assert (p.userId, p.email, p.country) == ("user with spaces/and:slashes", "not-an-email", "Malaysia")
    for corrupt in ({"userId": 5}, {"userId": ""}, {}):
        with pytest.raises(PayloadError):
            parse_event(
                json.dumps(
                    envelope(
                        "UserCreated",
                        {"email": "e", "firstName": "A", "lastName": "B", "country": "MY", **corrupt},
                        1,
                        version=2,
                    )
                )
            )
