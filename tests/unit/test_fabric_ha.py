"""The HA topology's configuration (issue 34), as pure functions of the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stack import fabric_ha as ha
from stack.errors import StackError
from stack.settings import StackSettings

S = StackSettings(state_dir=Path("/state"), ha_port_base=26000)
P = ha.HaPaths(Path("/state/fabric"))
BUILDER = Path("/fabric/builders/ccaas")


def _ports(s: StackSettings) -> list[int]:
    out = [p for o in ha.orderers(s) for p in (o.port, o.admin_port, o.ops_port)]
    out += [p for q in ha.peers(s) for p in (q.port, q.chaincode_port, q.ops_port)]
    return [*out, ha.chaincode_port(s)]


def test_every_node_has_ports_of_its_own_apart_from_the_single_network() -> None:
    ports = _ports(S)
    assert len(ports) == len(set(ports)) == 3 * 3 + 4 * 3 + 1
    single = {S.orderer_port, S.orderer_admin_port, S.orderer_ops_port, S.peer_port, S.peer_chaincode_port}
    assert not single & set(ports) and all(p < 32768 for p in ports)
    assert [p.name for p in ha.peers(S)] == ["peer0-org1", "peer1-org1", "peer0-org2", "peer0-org3"]
    assert [p.port for p in ha.gateway_peers(S)] == [26150, 26160]


@pytest.mark.parametrize("spec", ha.peers(S), ids=lambda p: p.name)
def test_each_peer_listens_on_loopback_as_itself(spec: ha.PeerSpec) -> None:
    o = ha.peer_overrides(S, P, spec, BUILDER)
    assert o["peer.listenAddress"] == o["peer.gossip.externalEndpoint"] == f"127.0.0.1:{spec.port}"
    assert o["peer.chaincodeListenAddress"] == f"127.0.0.1:{spec.chaincode_port}"
    assert o["operations.listenAddress"] == f"127.0.0.1:{spec.ops_port}"
    assert o["peer.localMspId"] == spec.msp and o["peer.id"] == spec.host_name
    assert (
        o["peer.tls.cert.file"]
        == f"/state/fabric/crypto/peerOrganizations/{spec.domain}/peers/{spec.host_name}/tls/server.crt"
    )
    assert o["peer.fileSystemPath"] == f"/state/fabric/peers/{spec.name}"
    others = {"peer0-org1": "127.0.0.1:26160", "peer1-org1": "127.0.0.1:26150"}
    assert o["peer.gossip.bootstrap"] == others.get(spec.name, f"127.0.0.1:{spec.port}")


@pytest.mark.parametrize("spec", ha.orderers(S), ids=lambda o: o.name)
def test_each_orderer_listens_on_loopback_with_its_own_ledger_and_identity(spec: ha.OrdererSpec) -> None:
    o = ha.orderer_overrides(S, P, spec)
    assert (o["General.ListenAddress"], o["General.ListenPort"]) == ("127.0.0.1", spec.port)
    assert o["Admin.ListenAddress"] == f"127.0.0.1:{spec.admin_port}"
    assert o["Operations.ListenAddress"] == f"127.0.0.1:{spec.ops_port}"
    assert o["FileLedger.Location"] == f"/state/fabric/orderers/{spec.name}"
    assert o["General.Cluster.ClientCertificate"] == o["General.TLS.Certificate"]
    assert spec.host_name in o["General.TLS.Certificate"] and spec.host_name in o["Admin.TLS.Certificate"]


def test_the_channel_has_three_consenters_and_three_organisations_with_anchor_peers() -> None:
    prof = ha.configtx(S, P)["Profiles"]["GXChannel"]
    consenters = prof["Orderer"]["EtcdRaft"]["Consenters"]
    assert [c["Port"] for c in consenters] == [26050, 26060, 26070]
    assert prof["Orderer"]["Organizations"][0]["OrdererEndpoints"] == [
        "127.0.0.1:26050",
        "127.0.0.1:26060",
        "127.0.0.1:26070",
    ]
    orgs = prof["Application"]["Organizations"]
    assert [o["ID"] for o in orgs] == ["Org1MSP", "Org2MSP", "Org3MSP"]
    assert [o["AnchorPeers"] for o in orgs] == [
        [{"Host": "127.0.0.1", "Port": 26150}],
        [{"Host": "127.0.0.1", "Port": 26170}],
        [{"Host": "127.0.0.1", "Port": 26180}],
    ]
    assert prof["Application"]["Policies"]["Endorsement"] == {"Type": "ImplicitMeta", "Rule": "MAJORITY Endorsement"}
    crypto = ha.crypto_config()
    assert [s["Hostname"] for s in crypto["OrdererOrgs"][0]["Specs"]] == ["orderer0", "orderer1", "orderer2"]
    assert [(o["Name"], o["Template"]["Count"]) for o in crypto["PeerOrgs"]] == [("Org1", 2), ("Org2", 1), ("Org3", 1)]


def test_the_topology_is_kept_with_the_network(tmp_path: Path) -> None:
    s = StackSettings(state_dir=tmp_path)
    assert ha.choose_topology(s) == "single"
    assert ha.choose_topology(s.model_copy(update={"topology": "ha"})) == "ha"
    assert ha.choose_topology(s.model_copy(update={"topology": ""})) == "single"
    ha.topology_file(s).parent.mkdir(parents=True)
    ha.topology_file(s).write_text("ha\n")
    assert ha.choose_topology(s) == "ha"
    with pytest.raises(StackError, match="made with the ha topology, not single"):
        ha.choose_topology(s.model_copy(update={"topology": "single"}))
    with pytest.raises(StackError, match="unknown topology"):
        ha.choose_topology(s.model_copy(update={"topology": "mesh"}))


def test_a_network_made_before_topologies_is_the_single_one(tmp_path: Path) -> None:
    s = StackSettings(state_dir=tmp_path)
    (tmp_path / "fabric").mkdir()
    (tmp_path / "fabric" / "gxchannel.block").write_bytes(b"")
    assert ha.made_topology(s) == "single"
    with pytest.raises(StackError):
        ha.choose_topology(s.model_copy(update={"topology": "ha"}))


METRICS = """# HELP ledger_blockchain_height Height of the chain in blocks.
# TYPE ledger_blockchain_height gauge
ledger_blockchain_height{channel="other"} 3
ledger_blockchain_height{channel="gxchannel"} 12
consensus_etcdraft_is_leader{channel="gxchannel"} 1
"""


def test_heights_and_the_raft_leader_come_from_the_nodes_metrics() -> None:
    assert ha.metric(METRICS, "ledger_blockchain_height", "gxchannel") == 12
    assert ha.metric(METRICS, "ledger_blockchain_height", "other") == 3
    assert ha.metric(METRICS, "consensus_etcdraft_is_leader", "gxchannel") == 1
    assert ha.metric(METRICS, "consensus_etcdraft_is_leader", "nochannel") is None
    state: dict[str, dict[str, Any]] = {
        "orderer0": {"height": 12, "raft_leader": False},
        "orderer1": {"height": 12, "raft_leader": True},
        "orderer2": {"height": None, "raft_leader": None},
        "peer0-org1": {"height": 12, "raft_leader": None},
    }
    assert ha.raft_leader(state) == "orderer1"
    state["orderer0"]["raft_leader"] = True  # two say so (a term changing): none is named
    assert ha.raft_leader(state) is None


def test_the_harness_finds_the_raft_leader_and_a_follower_from_the_nodes_state() -> None:
    from bench.faults import FAULTS, PROFILES, pick_target

    nodes: dict[str, dict[str, Any]] = {
        "orderer0": {"height": 5, "raft_leader": False},
        "orderer1": {"height": 5, "raft_leader": True},
        "orderer2": {"height": 5, "raft_leader": False},
        "peer0-org1": {"height": 5, "raft_leader": None},
    }
    assert pick_target("@raft-leader", nodes) == "orderer1"
    assert pick_target("@raft-follower", nodes) == "orderer0"
    assert pick_target("peer0-org1", {}) == "peer0-org1"
    nodes["orderer1"]["raft_leader"] = False
    with pytest.raises(SystemExit, match="no single Raft leader"):
        pick_target("@raft-leader", nodes)
    assert set(PROFILES["ha-ci"]) <= set(PROFILES["ha"]) <= set(FAULTS)
    assert not set(PROFILES["ha"]) & set(PROFILES["full"])
