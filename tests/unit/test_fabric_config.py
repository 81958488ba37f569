"""The network's configuration: every listener on loopback, our paths, the settings applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stack import fabric_config as fc
from stack.settings import StackSettings

S = StackSettings(state_dir=Path("/state"), batch_timeout_ms=250, batch_max_count=77, gateway_concurrency=321)
P = fc.Paths(Path("/state/fabric"))


def _addresses(overrides: dict[str, object]) -> dict[str, str]:
    return {
        k: str(v)
        for k, v in overrides.items()
        if k.lower().endswith(("address", "listenaddress", "bootstrap", "endpoint")) or k == "General.ListenAddress"
    }


@pytest.mark.parametrize(
    "overrides", [fc.peer_overrides(S, P, Path("/fabric/builders/ccaas")), fc.orderer_overrides(S, P)]
)
def test_every_listener_is_on_loopback(overrides: dict[str, object]) -> None:
    addrs = _addresses(overrides)
    assert len(addrs) >= 4
    for key, addr in addrs.items():
        assert addr.startswith("127.0.0.1") or addr == "", f"{key} = {addr}"


def test_peer_overrides_turn_docker_off_and_name_the_ccaas_builder() -> None:
    o = fc.peer_overrides(S, P, Path("/fabric/builders/ccaas"))
    assert o["vm.endpoint"] == ""
    assert o["chaincode.externalBuilders"][0]["path"] == "/fabric/builders/ccaas"
    assert o["peer.limits.concurrency.gatewayService"] == 321
    assert o["peer.tls.enabled"] is True
    assert o["operations.listenAddress"] == f"127.0.0.1:{S.peer_ops_port}" != f"127.0.0.1:{S.orderer_admin_port}"


def test_the_secure_stacks_operations_endpoints_serve_tls() -> None:
    """Issue 33, finding 9: the peer's (and the orderer's) operations endpoint served plain HTTP in
    the secure mode, /logspec included."""
    plain, secure = fc.peer_overrides(S, P, Path("/b")), fc.peer_overrides(S, P, Path("/b"), mutual_tls=True)
    assert plain["operations.tls.enabled"] is False and secure["operations.tls.enabled"] is True
    assert secure["operations.tls.cert.file"].endswith("peer0.org1.example.com/tls/server.crt")
    assert secure["operations.tls.clientAuthRequired"] is False  # /healthz for anyone; Fabric asks a cert for the rest
    assert secure["operations.tls.clientRootCAs.files"] == P.tls_cas
    o = fc.orderer_overrides(S, P, ops_tls=True)
    assert o["Operations.TLS.Enabled"] is True and o["Operations.TLS.ClientRootCAs"] == P.tls_cas
    assert fc.orderer_overrides(S, P)["Operations.TLS.Enabled"] is False


def test_overrides_apply_to_the_release_defaults_without_touching_them() -> None:
    release: dict[str, Any] = {
        "peer": {"listenAddress": "0.0.0.0:7051", "keepalive": {"interval": "7200s"}},
        "vm": {"endpoint": "unix:///x"},
    }
    out = fc.apply(release, fc.peer_overrides(S, P, Path("/b")))
    assert out["peer"]["listenAddress"] == f"127.0.0.1:{S.peer_port}"
    assert out["peer"]["keepalive"] == {"interval": "7200s"}  # untouched defaults stay
    assert out["vm"]["endpoint"] == ""
    assert release["peer"]["listenAddress"] == "0.0.0.0:7051"


def test_set_path_refuses_to_replace_a_scalar_with_a_mapping() -> None:
    with pytest.raises(ValueError, match=r"peer\.id\.x: id is not a mapping"):
        fc.set_path({"peer": {"id": "p0"}}, "peer.id.x", 1)


def test_configtx_carries_the_block_settings_and_short_raft_ticks() -> None:
    profile = fc.configtx(S, P)["Profiles"]["GXChannel"]
    orderer = profile["Orderer"]
    assert orderer["BatchTimeout"] == "250ms"
    assert orderer["BatchSize"]["MaxMessageCount"] == 77
    assert orderer["EtcdRaft"]["Options"]["TickInterval"] == "100ms"
    assert orderer["EtcdRaft"]["Consenters"][0]["Host"] == "127.0.0.1"
    assert "Addresses" not in orderer  # v3 refuses global orderer endpoints with the V3_0 capability
    assert orderer["Organizations"][0]["OrdererEndpoints"] == [f"127.0.0.1:{S.orderer_port}"]
    assert profile["Application"]["Organizations"][0]["ID"] == "Org1MSP"
