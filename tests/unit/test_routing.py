import pytest

from schemas.command_types import CommandType
from schemas.errors import PayloadError
from schemas.examples import example
from schemas.routing import ROUTES, SYSTEM_KEY, partition_key, to_invocation


def test_the_table_covers_all_25_types_with_existing_fields() -> None:
    from schemas.payloads import PAYLOADS

    assert set(ROUTES) == set(CommandType)
    for ctype, route in ROUTES.items():
        fields = set(PAYLOADS[ctype].model_fields)
        assert set(route.args) <= fields, ctype
        assert route.key_field is None or route.key_field in fields, ctype
        assert route.contract.endswith("Contract") and route.function[0].isupper()


def test_bootstrap_is_admin_contract_with_only_the_tenant_and_request_id() -> None:
    assert to_invocation("BOOTSTRAP_SYSTEM", "req-1", {}, "t1") == ("AdminContract", "BootstrapSystem", ["t1", "req-1"])


def test_arguments_are_strings_in_table_order_after_the_tenant_and_request_id() -> None:
    contract, fn, args = to_invocation("TRANSFER_TOKENS", "req-9", example("TRANSFER_TOKENS", 3), "t1")
    assert (contract, fn) == ("TokenomicsContract", "TransferTokens")
    assert args == ["t1", "req-9", "USR-3", "USR-3-b", "25", "rent"]
    _, _, args = to_invocation("CREATE_USER", "r", example("CREATE_USER", 1), "t2")
    assert args == ["t2", "r", "USR-1", "user1@example.com", "Test", "User", "MY"]


def test_keys_follow_the_aggregate() -> None:
    assert partition_key("TRANSFER_TOKENS", example("TRANSFER_TOKENS", 5)) == "USR-5"  # the sending wallet
    assert partition_key("CAST_VOTE", example("CAST_VOTE", 5)) == "PROP-5"
    assert partition_key("APPROVE_MULTISIG_TX", example("APPROVE_MULTISIG_TX", 5)) == "ORG-5"
    assert partition_key("APPROVE_LOAN", example("APPROVE_LOAN", 5)) == "LOAN-5"
    for t in ("BOOTSTRAP_SYSTEM", "PAUSE_SYSTEM", "INITIALIZE_COUNTRY", "APPOINT_ADMIN"):
        assert partition_key(t, example(t, 5)) == SYSTEM_KEY


def test_invalid_payloads_fail_before_any_mapping() -> None:
    with pytest.raises(PayloadError, match="amount"):
        to_invocation("TRANSFER_TOKENS", "r", {"fromWalletId": "a", "toWalletId": "b", "amount": 0}, "t")


def test_a_payload_that_is_not_an_object_is_a_payload_error_naming_the_field() -> None:
    import pytest

    from schemas.errors import PayloadError
    from schemas.routing import partition_key, to_invocation

    for bad in (None, 5, [1, 2], "str", []):
        with pytest.raises(PayloadError, match="payload: must be a JSON object"):
            partition_key("TRANSFER_TOKENS", bad)
        with pytest.raises(PayloadError, match="payload: must be a JSON object"):
            to_invocation("TRANSFER_TOKENS", "r1", bad, "t")
