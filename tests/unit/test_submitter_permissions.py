"""streams.submitter.permissions: a command its service may not send is REJECTED before any
attempt (with the check on), and each command is endorsed by the identity of its scope."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import cast

from fabric_gateway import Gateway
from schemas.envelopes import ResultStatus
from schemas.permissions import SERVICES, service_of
from schemas.routing import ROUTES
from streams.submitter import Final, Record
from streams.submitter.permissions import ADMINISTRATIVE_FUNCTIONS, ScopedGateway, refusal
from tests.unit.test_submitter import command
from tests.unit.test_submitter_steps import StubGateway, parts


def envelope(ctype: str, service: str) -> bytes:
    return command(ctype, 1, f"r-{ctype}").replace(b'"service":"s"', f'"service":"{service}"'.encode())


def test_a_service_may_send_its_own_types_only() -> None:
    from schemas.envelopes import parse_command

    assert refusal(parse_command(envelope("CREATE_USER", "svc-identity"))) is None
    assert refusal(parse_command(envelope("APPROVE_LOAN", "svc-loans"))) == (
        "service svc-loans may not send APPROVE_LOAN (schemas/permissions.py); svc-admin writes it"
    )


def test_with_the_check_a_command_its_service_may_not_send_is_rejected_without_an_attempt() -> None:
    p = parts()
    checked = replace(p.processor, service_check=True)
    refused = Record("gx.commands", 0, 9, b"loan-1", envelope("APPROVE_LOAN", "svc-loans"))
    out = checked.admit(refused)
    assert isinstance(out, Final) and out.dead_letter
    assert (out.result.status, out.result.errorCode, out.result.error, out.result.attempts) == (
        ResultStatus.REJECTED,
        "SERVICE_NOT_ALLOWED",
        "service svc-loans may not send APPROVE_LOAN (schemas/permissions.py); svc-admin writes it",
        0,
    )
    unknown = checked.admit(Record("gx.commands", 0, 10, b"k", envelope("CREATE_USER", "s")))
    assert isinstance(unknown, Final) and unknown.result.errorCode == "SERVICE_NOT_ALLOWED"
    # Every type from its own service is admitted; without the check, any service is.
    for ctype in ROUTES:
        assert not isinstance(
            checked.admit(Record("gx.commands", 0, 1, b"k", envelope(ctype, service_of(ctype)))), Final
        )
    assert not isinstance(p.processor.admit(refused), Final)
    assert p.gw.calls == []


def test_on_the_direct_path_an_administrative_type_is_refused_whatever_service_it_names() -> None:
    """Issue 31: a direct producer names its service itself (every one logs in as gx-producer), so
    `service: svc-admin` on gx.commands.direct proved nothing and PAUSE_SYSTEM was signed with the
    identity granted `all`. There an administrative type is REJECTED before any attempt; user-level
    types of their own service still pass, and the outbox's topic is unchanged."""
    from schemas.permissions import ADMINISTRATIVE

    p = parts()
    direct = replace(p.processor, service_check=True, direct=True)
    outbox = replace(p.processor, service_check=True)
    for ctype in ROUTES:
        rec = Record("gx.commands.direct", 2, 7, b"k", envelope(ctype, service_of(ctype)))
        out = direct.admit(rec)
        if ctype in ADMINISTRATIVE:
            assert isinstance(out, Final) and out.dead_letter, ctype
            assert (out.result.status, out.result.errorCode, out.result.attempts) == (
                ResultStatus.REJECTED,
                "SERVICE_NOT_ALLOWED",
                0,
            )
            assert out.result.error == (
                f"{ctype} is administrative: it comes only through the outbox, whose row-level "
                "security checks the writing service (the direct path names its service itself)"
            )
            assert not isinstance(outbox.admit(rec), Final), ctype  # from the outbox: admitted
        else:
            assert not isinstance(out, Final), ctype
    assert p.gw.calls == []


def test_each_command_is_endorsed_by_the_identity_of_its_scope() -> None:
    admin, commands = StubGateway(), StubGateway()
    scoped = ScopedGateway(cast(Gateway, admin), cast(Gateway, commands))
    functions = {t: f"{r.contract}:{r.function}" for t, r in ROUTES.items()}

    async def go() -> None:
        for function in functions.values():
            tx = await scoped.endorse("ch", "cc", function, ["t", "r"])
            await scoped.submit(tx)
            await scoped.commit_status(tx, "ch", 1.0)

    asyncio.run(go())
    endorsed_by_admin = sum(c[0] == "endorse" for c in admin.calls)
    endorsed_by_commands = sum(c[0] == "endorse" for c in commands.calls)
    assert (endorsed_by_admin, endorsed_by_commands) == (10, 15)
    assert ADMINISTRATIVE_FUNCTIONS == {functions[t] for t in SERVICES["svc-admin"]}
    assert scoped.client_for("LoanPoolContract:ApproveLoan") is admin
    assert scoped.client_for("LoanPoolContract:ApplyForLoan") is commands
    assert scoped.client_for("NoSuch:Function") is commands  # never the wider identity by default
    # Submitted and asked for their status through one client (a transaction carries its signature).
    assert [c[0] for c in commands.calls] == ["endorse"] * 15
    assert sum(c[0] == "submit" for c in admin.calls) == sum(c[0] == "status" for c in admin.calls) == 25


def test_the_user_level_identity_is_both_files_or_none(tmp_path) -> None:
    import pytest

    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.settings import SettingsError
    from tests.identities import throwaway_identity

    cert, key = throwaway_identity(tmp_path)
    assert FabricSettings(commands_cert=None, commands_key=None).commands_identity() is None
    identity, _signer = FabricSettings(commands_cert=cert, commands_key=key).commands_identity() or (None, None)
    assert identity is not None and (identity.msp_id, identity.certificate) == ("Org1MSP", cert.read_bytes())
    with pytest.raises(SettingsError, match="GX_FABRIC_COMMANDS_CERT and GX_FABRIC_COMMANDS_KEY go together"):
        FabricSettings(commands_cert=cert, commands_key=None).commands_identity()
    key.chmod(0o644)
    with pytest.raises(SettingsError, match=r"GX_FABRIC_COMMANDS_KEY=.*make it private"):
        FabricSettings(commands_cert=cert, commands_key=key).commands_identity()
