"""schemas.permissions: the service/type table is whole, one scope per service, equal to the
chaincode's administrative functions and to the table docs/security.md shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas import permissions as p
from schemas.command_types import CommandType as T
from schemas.routing import ROUTES

ROOT = Path(__file__).resolve().parents[2]
METHOD = re.compile(r"^    async ([A-Z]\w*)\(ctx", re.M)


def chaincode_administrative_functions() -> set[str]:
    """The chaincode's command functions that run with ``{admin: true}`` (directly or through
    ``ADMIN``), read from its source: each method's body up to the next method."""
    found: set[str] = set()
    for path in sorted((ROOT / "chaincode" / "gxtv3" / "lib").glob("*.js")):
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in METHOD.finditer(text)]
        for i, (start, name) in enumerate(starts):
            body = text[start : starts[i + 1][0] if i + 1 < len(starts) else len(text)]
            if re.search(r"\bADMIN\b|admin: true", body):
                found.add(name)
    return found


def test_every_command_type_has_exactly_one_service_and_one_scope() -> None:
    written = [t for types in p.SERVICES.values() for t in types]
    assert sorted(written) == sorted(T) and len(written) == len(set(written)) == 25
    assert {p.service_of(t) for t in T} == set(p.SERVICES)
    assert p.service_of("APPROVE_LOAN") == "svc-admin" and p.service_of("CREATE_USER") == "svc-identity"
    for service, types in p.SERVICES.items():
        assert {p.SCOPES[t] for t in types} == {p.service_scope(service)}, service
    assert [s for s in p.SERVICES if p.service_scope(s) is p.Scope.ALL] == ["svc-admin"]
    assert sum(1 for t in T if p.scope_of(t) is p.Scope.COMMANDS) == 15


def test_the_administrative_types_are_the_chaincodes() -> None:
    functions = {ROUTES[t].function for t in p.ADMINISTRATIVE}
    assert functions == chaincode_administrative_functions() - {"GrantSubmitter", "RevokeSubmitter", "SetOperatorMsps"}
    assert "ApproveLoan" in functions and "DistributeGenesis" not in functions


def test_service_names_make_whole_role_names() -> None:
    for service in p.SERVICES:
        assert p.SERVICE_NAME.fullmatch(service) and len(service) <= p.MAX_SERVICE_NAME, service


def test_refusal_names_the_service_the_type_and_who_may() -> None:
    assert p.refusal("svc-tax", "APPLY_VELOCITY_TAX") is None
    assert p.refusal("svc-tax", "APPROVE_LOAN") == (
        "service svc-tax may not send APPROVE_LOAN (schemas/permissions.py); svc-admin writes it"
    )
    assert p.refusal("svc-admin", "CREATE_USER") == (
        "service svc-admin may not send CREATE_USER (schemas/permissions.py); svc-identity writes it"
    )
    assert p.refusal("svc-tax", "NO_SUCH_TYPE") == "service svc-tax may not send NO_SUCH_TYPE (schemas/permissions.py)"
    unknown = p.refusal("svc-test", "CREATE_USER")
    assert unknown is not None and unknown.startswith(
        "service 'svc-test' is not in the service table (schemas/permissions.py):"
        " it may send no command (known: svc-admin,"
    )
    # The type as written: the envelope's lower-case type is not the table's.
    assert (
        p.refusal("svc-identity", "create_user")
        == "service svc-identity may not send create_user (schemas/permissions.py)"
    )


def test_docs_security_shows_the_table() -> None:
    doc = (ROOT / "docs" / "security.md").read_text()
    assert p.markdown_table() in doc
    assert p.markdown_table().splitlines()[2] == (
        "| svc-admin | all | BOOTSTRAP_SYSTEM, INITIALIZE_COUNTRY, UPDATE_SYSTEM_PARAMETER, PAUSE_SYSTEM,"
        " RESUME_SYSTEM, APPOINT_ADMIN, ACTIVATE_TREASURY, FREEZE_WALLET, UNFREEZE_WALLET, APPROVE_LOAN |"
    )


@pytest.mark.parametrize("bad", ["NOPE", ""])
def test_an_unknown_type_has_no_scope(bad: str) -> None:
    with pytest.raises(ValueError):
        p.scope_of(bad)
