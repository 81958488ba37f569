import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.command_types import CommandType
from schemas.envelopes import parse_command
from schemas.errors import PayloadError, UnknownCommandType
from schemas.examples import EXAMPLES, example
from schemas.payloads import PAYLOADS, validate_payload

OLD_CREATE_USER = {
    "userId": "USR001",
    "email": "test@example.com",
    "firstName": "Test",
    "lastName": "User",
    "country": "MY",
}


def test_every_command_type_has_a_model_and_an_example() -> None:
    assert set(PAYLOADS) == set(CommandType) == set(EXAMPLES)
    assert len(CommandType) == 25
    for ctype in CommandType:
        validate_payload(ctype, example(ctype, 7))


def test_the_old_apis_payloads_are_accepted_as_they_are() -> None:
    assert validate_payload("CREATE_USER", OLD_CREATE_USER).model_dump() == OLD_CREATE_USER
    assert validate_payload("BOOTSTRAP_SYSTEM", {}).model_dump() == {}


@pytest.mark.parametrize(
    ("ctype", "payload", "field", "words"),
    [
        ("CREATE_USER", {**OLD_CREATE_USER, "nickname": "x"}, "nickname", "Extra inputs"),
        ("CREATE_USER", {**OLD_CREATE_USER, "userId": ""}, "userId", "at least 1"),
        ("CREATE_USER", {**OLD_CREATE_USER, "userId": "  "}, "userId", "pattern"),
        ("CREATE_USER", {**OLD_CREATE_USER, "email": "nope"}, "email", "pattern"),
        ("CREATE_USER", {**OLD_CREATE_USER, "country": "Malaysia"}, "country", "pattern"),
        ("CREATE_USER", {k: v for k, v in OLD_CREATE_USER.items() if k != "lastName"}, "lastName", "required"),
        ("TRANSFER_TOKENS", {"fromWalletId": "a", "toWalletId": "b", "amount": 0}, "amount", "greater than 0"),
        ("TRANSFER_TOKENS", {"fromWalletId": "a", "toWalletId": "b", "amount": -5}, "amount", "greater than 0"),
        ("TRANSFER_TOKENS", {"fromWalletId": "a", "toWalletId": "b", "amount": "10"}, "amount", "valid integer"),
        ("TRANSFER_TOKENS", {"fromWalletId": "a", "toWalletId": "b", "amount": 1.5}, "amount", "valid integer"),
        ("TRANSFER_TOKENS", {"fromWalletId": "a", "toWalletId": "b", "amount": 2**63}, "amount", "less than or equal"),
        ("TRANSFER_TOKENS", {"fromWalletId": 5, "toWalletId": "b", "amount": 1}, "fromWalletId", "valid string"),
        ("CAST_VOTE", {"proposalId": "p", "voterId": "v", "vote": "MAYBE"}, "vote", "'FOR' or 'AGAINST'"),
        ("BOOTSTRAP_SYSTEM", {"force": True}, "force", "Extra inputs"),
    ],
)
def test_bad_payloads_are_refused_with_the_field_named(ctype: str, payload: dict, field: str, words: str) -> None:
    with pytest.raises(PayloadError) as e:
        validate_payload(ctype, payload)
    assert field in e.value.fields
    assert f"{field}: " in str(e.value) and words in str(e.value)
    assert str(e.value).startswith(f"{ctype} payload")


@pytest.mark.parametrize("payload, got", [([1, 2], "an array"), (None, "null"), (5, "a number"), ("s", "a string")])
def test_a_non_object_payload_is_refused_in_json_words(payload: object, got: str) -> None:
    with pytest.raises(PayloadError, match=f"payload: must be a JSON object, got {got}"):
        validate_payload("CREATE_USER", payload)


def test_command_types_are_case_insensitive_and_typos_get_suggestions() -> None:
    from schemas.payloads import command_type
    from schemas.routing import partition_key

    assert command_type("create_user").value == "CREATE_USER" == command_type("Create-User").value
    assert partition_key("transfer_tokens", {"fromWalletId": "A", "toWalletId": "B", "amount": 1}) == "A"
    with pytest.raises(PayloadError, match="did you mean CREATE_USER"):
        command_type("CREATE_USR")
    with pytest.raises(PayloadError, match="one of: CREATE_USER, TRANSFER_TOKENS"):
        command_type("zzz")


def test_an_unknown_command_type_is_named() -> None:
    with pytest.raises(UnknownCommandType, match="commandType: unknown command type 'MINT_MONEY'"):
        validate_payload("MINT_MONEY", {})


def test_envelope_errors_name_the_field() -> None:
    with pytest.raises(PayloadError) as e:
        parse_command(
            b'{"id": "x", "tenantId": "t", "service": "s", "commandType": "CREATE_USER",'
            b' "payload": {}, "key": "k", "createdAt": "2026-01-01T00:00:00Z"}'
        )
    assert e.value.fields == ["requestId"]
    with pytest.raises(PayloadError, match="Invalid JSON"):
        parse_command(b"not json")


@given(st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=10), st.none()), max_size=6))
def test_validation_never_raises_anything_but_payload_error(payload: dict) -> None:
    for ctype in ("CREATE_USER", "TRANSFER_TOKENS", "BOOTSTRAP_SYSTEM"):
        try:
            validate_payload(ctype, payload)
        except PayloadError as e:
            assert e.fields


# Issue 32, defect 1: `Text` was `pattern=r"\S"` (a search): a NUL or any control character passed,
# the chaincode committed it, and Postgres cannot store NUL. Both paths validate with this model.
ORG = {"orgId": "org-1", "name": "Acme", "proposerId": "u1"}


@pytest.mark.parametrize(
    ("ctype", "payload", "field", "char"),
    [
        ("PROPOSE_ORGANIZATION", {**ORG, "name": "Ac\x00me"}, "name", "U+0000"),
        ("PROPOSE_ORGANIZATION", {**ORG, "name": "\x1b[31mAcme"}, "name", "U+001B"),
        ("CREATE_USER", {**OLD_CREATE_USER, "lastName": "Us\ner"}, "lastName", "U+000A"),
        ("CREATE_USER", {**OLD_CREATE_USER, "email": "a\x00b@example.com"}, "email", "U+0000"),
        ("FREEZE_WALLET", {"walletId": "w", "reason": "fraud\x7f"}, "reason", "U+007F"),
        ("PAUSE_SYSTEM", {"reason": "\x85"}, "reason", "U+0085"),
        ("TRANSFER_TOKENS", {"fromWalletId": "a", "toWalletId": "b", "amount": 1, "memo": "m\x00"}, "memo", "U+0000"),
    ],
)
def test_text_with_nul_or_control_characters_is_refused_naming_the_field(
    ctype: str, payload: dict, field: str, char: str
) -> None:
    with pytest.raises(PayloadError) as e:
        validate_payload(ctype, payload)
    assert e.value.fields == [field]
    assert f"{field}: " in str(e.value) and char in str(e.value) and "control character" in str(e.value)


def test_printable_text_is_still_accepted_unchanged() -> None:
    name = "Société Générale 株式会社 — ok!"
    assert validate_payload("PROPOSE_ORGANIZATION", {**ORG, "name": name}).model_dump()["name"] == name
    with pytest.raises(PayloadError, match=r"name: .*blank"):
        validate_payload("PROPOSE_ORGANIZATION", {**ORG, "name": "   "})
    with pytest.raises(PayloadError, match=r"name: .*unicode"):  # a lone surrogate has no UTF-8 form
        validate_payload("PROPOSE_ORGANIZATION", {**ORG, "name": "a\ud800"})


def test_both_paths_refuse_nul_before_anything_is_sent_or_written() -> None:
    """The SDK's produce (no database) and the outbox's enqueue (the caller's transaction)."""
    from gxsdk.outbox import enqueue
    from gxsdk.produce import produce

    class Never:
        def produce(self, *a: object, **k: object) -> None:
            raise AssertionError("sent")

        def execute(self, *a: object, **k: object) -> None:
            raise AssertionError("written")

    bad = {**ORG, "name": "Ac\x00me"}
    common = {"tenant_id": "t", "service": "s", "command_type": "PROPOSE_ORGANIZATION", "request_id": "r"}
    with pytest.raises(PayloadError, match=r"name: .*U\+0000"):
        produce(Never(), "gx.commands", payload=bad, **common)  # type: ignore[arg-type]
    with pytest.raises(PayloadError, match=r"name: .*U\+0000"):
        enqueue(Never(), payload=bad, **common)  # type: ignore[arg-type]


def test_the_exported_json_schema_refuses_control_characters_too(tmp_path) -> None:
    """Services in other languages validate with the exported schema before writing."""
    import json

    import jsonschema

    from schemas.export import export

    export(tmp_path)
    schema = json.loads((tmp_path / "payload.PROPOSE_ORGANIZATION.schema.json").read_text())
    jsonschema.validate(ORG, schema)
    with pytest.raises(jsonschema.ValidationError, match="does not match"):
        jsonschema.validate({**ORG, "name": "Ac\x00me"}, schema)
