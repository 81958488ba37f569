"""The network's configuration, as pure functions of the settings.

core.yaml and orderer.yaml start from the installed release's defaults (``config/``) and get the
overrides below: every listener on loopback, TLS on, our paths, Docker off, the ccaas builder.
configtx.yaml and crypto-config.yaml are ours: one orderer org (etcdraft, one consenter, channel
participation), one peer org, channel ``gxchannel``.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack.settings import StackSettings

ORDERER_DOMAIN = "example.com"
PEER_DOMAIN = "org1.example.com"
# The org's client users: the pipeline's submitter identities and one nobody grants.
USERS = 3
ADMIN_SUBMITTER = "User1"  # granted scope `all`: signs the administrative commands
UNGRANTED = "User2"  # a member of the channel nobody grants (the tests' outsider)
COMMANDS_SUBMITTER = "User3"  # granted scope `commands`: signs the user-level commands
PEER_MSP = "Org1MSP"
ORDERER_MSP = "OrdererMSP"
PEER_NAME = f"peer0.{PEER_DOMAIN}"
ORDERER_NAME = f"orderer.{ORDERER_DOMAIN}"
SANS = ["localhost", "127.0.0.1"]


@dataclass(frozen=True)
class Paths:
    """Where cryptogen's output and the nodes' data live, under the state directory."""

    root: Path

    @property
    def crypto(self) -> Path:
        return self.root / "crypto"

    @property
    def orderer_org(self) -> Path:
        return self.crypto / "ordererOrganizations" / ORDERER_DOMAIN

    @property
    def peer_org(self) -> Path:
        return self.crypto / "peerOrganizations" / PEER_DOMAIN

    @property
    def orderer_node(self) -> Path:
        return self.orderer_org / "orderers" / ORDERER_NAME

    @property
    def peer_node(self) -> Path:
        return self.peer_org / "peers" / PEER_NAME

    def user(self, name: str) -> Path:
        return self.peer_org / "users" / f"{name}@{PEER_DOMAIN}"

    @property
    def orderer_admin(self) -> Path:
        return self.orderer_org / "users" / f"Admin@{ORDERER_DOMAIN}"

    @property
    def genesis_block(self) -> Path:
        return self.root / "gxchannel.block"

    @property
    def tls_cas(self) -> list[str]:
        """Both organisations' TLS CAs (the peer's and the orderer's)."""
        return [str(self.peer_node / "tls" / "ca.crt"), str(self.orderer_node / "tls" / "ca.crt")]

    @property
    def ops_ca_bundle(self) -> Path:
        """Both TLS CAs in one file: what a client of both nodes' operations endpoints trusts."""
        return self.root / "ops-ca-bundle.pem"

    @property
    def ops_client(self) -> Path:
        """The TLS client identity that reads the nodes' /metrics in the secure stack (User2's: a
        member of the org that nobody granted anything on the ledger)."""
        return self.user("User2") / "tls"


def set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, creating levels as needed."""
    *parents, leaf = dotted.split(".")
    node = doc
    for p in parents:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        elif not isinstance(nxt, dict):
            raise ValueError(f"{dotted}: {p} is not a mapping")
        node = nxt
    node[leaf] = value


def apply(doc: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = deepcopy(doc)
    for k, v in overrides.items():
        set_path(out, k, v)
    return out


def peer_overrides(s: StackSettings, p: Paths, builder_dir: Path, mutual_tls: bool = False) -> dict[str, Any]:
    """The peer's core.yaml overrides. ``mutual_tls`` (the secure stack): every client must present
    a certificate of the org's TLS CA, the peer then using its own certificate as a client too, and
    the operations endpoint serves TLS: /healthz to anyone, /metrics and /logspec to a client
    certificate of either organisation's TLS CA only (Fabric's rule when its TLS is on)."""
    h = s.host
    tls = p.peer_node / "tls"
    return {
        "peer.tls.clientAuthRequired": mutual_tls,
        "peer.tls.clientRootCAs.files": [str(tls / "ca.crt")],
        "peer.id": PEER_NAME,
        "peer.listenAddress": f"{h}:{s.peer_port}",
        "peer.address": f"{h}:{s.peer_port}",
        "peer.chaincodeListenAddress": f"{h}:{s.peer_chaincode_port}",
        "peer.chaincodeAddress": f"{h}:{s.peer_chaincode_port}",
        "peer.localMspId": PEER_MSP,
        "peer.mspConfigPath": str(p.peer_node / "msp"),
        "peer.fileSystemPath": str(p.root / "peer-data"),
        "peer.tls.enabled": True,
        "peer.tls.cert.file": str(tls / "server.crt"),
        "peer.tls.key.file": str(tls / "server.key"),
        "peer.tls.rootcert.file": str(tls / "ca.crt"),
        # One peer that leads its org. The Gateway finds endorsers through discovery, which knows a
        # peer only by its gossip external endpoint: without one, "no combination of peers".
        "peer.gossip.bootstrap": f"{h}:{s.peer_port}",
        "peer.gossip.endpoint": f"{h}:{s.peer_port}",
        "peer.gossip.externalEndpoint": f"{h}:{s.peer_port}",
        "peer.gossip.useLeaderElection": False,
        "peer.gossip.orgLeader": True,
        "peer.profile.enabled": False,
        "peer.profile.listenAddress": f"{h}:0",
        "peer.limits.concurrency.gatewayService": s.gateway_concurrency,
        "peer.gateway.enabled": True,
        # No Docker: chaincode runs only as a service through the ccaas builder.
        "vm.endpoint": "",
        "chaincode.externalBuilders": [
            {
                "name": "ccaas_builder",
                "path": str(builder_dir),
                "propagateEnvironment": ["CHAINCODE_AS_A_SERVICE_BUILDER_CONFIG"],
            }
        ],
        "ledger.state.stateDatabase": "goleveldb",
        "operations.listenAddress": f"{h}:{s.peer_ops_port}",
        "operations.tls.enabled": mutual_tls,
        "operations.tls.cert.file": str(tls / "server.crt"),
        "operations.tls.key.file": str(tls / "server.key"),
        "operations.tls.clientAuthRequired": False,
        "operations.tls.clientRootCAs.files": p.tls_cas,
        "metrics.provider": "prometheus",
    }


def orderer_overrides(s: StackSettings, p: Paths, ops_tls: bool = False) -> dict[str, Any]:
    """The orderer's orderer.yaml overrides; ``ops_tls`` (the secure stack): its operations endpoint
    serves TLS, as the peer's (:func:`peer_overrides`)."""
    h = s.host
    tls = p.orderer_node / "tls"
    cert, key, ca = str(tls / "server.crt"), str(tls / "server.key"), str(tls / "ca.crt")
    return {
        "General.ListenAddress": h,
        "General.ListenPort": s.orderer_port,
        "General.TLS.Enabled": True,
        "General.TLS.PrivateKey": key,
        "General.TLS.Certificate": cert,
        "General.TLS.RootCAs": [ca],
        "General.TLS.ClientAuthRequired": False,
        # Raft's cluster traffic shares the main listener (no separate cluster port to bind).
        "General.Cluster.ClientCertificate": cert,
        "General.Cluster.ClientPrivateKey": key,
        "General.BootstrapMethod": "none",
        "General.LocalMSPDir": str(p.orderer_node / "msp"),
        "General.LocalMSPID": ORDERER_MSP,
        "General.Profile.Enabled": False,
        "General.Profile.Address": f"{h}:0",
        "FileLedger.Location": str(p.root / "orderer-data"),
        "Consensus.WALDir": str(p.root / "orderer-data" / "etcdraft" / "wal"),
        "Consensus.SnapDir": str(p.root / "orderer-data" / "etcdraft" / "snapshot"),
        "Operations.ListenAddress": f"{h}:{s.orderer_ops_port}",
        "Operations.TLS.Enabled": ops_tls,
        "Operations.TLS.PrivateKey": key,
        "Operations.TLS.Certificate": cert,
        "Operations.TLS.RootCAs": [ca],
        "Operations.TLS.ClientAuthRequired": False,
        "Operations.TLS.ClientRootCAs": p.tls_cas,
        "Metrics.Provider": "prometheus",
        "Admin.ListenAddress": f"{h}:{s.orderer_admin_port}",
        "Admin.TLS.Enabled": True,
        "Admin.TLS.PrivateKey": key,
        "Admin.TLS.Certificate": cert,
        "Admin.TLS.RootCAs": [ca],
        "Admin.TLS.ClientAuthRequired": True,
        "Admin.TLS.ClientRootCAs": [ca],
        "ChannelParticipation.Enabled": True,
    }


def crypto_config() -> dict[str, Any]:
    """cryptogen's input: one orderer, one peer, three client users (User1 and User3 are the
    pipeline's submitters, granted `all` and `commands`; User2 a member nobody granted); node OUs
    on (roles in certs: the chaincode reads them)."""
    return {
        "OrdererOrgs": [
            {
                "Name": "Orderer",
                "Domain": ORDERER_DOMAIN,
                "EnableNodeOUs": True,
                "Specs": [{"Hostname": "orderer", "SANS": SANS}],
            }
        ],
        "PeerOrgs": [
            {
                "Name": "Org1",
                "Domain": PEER_DOMAIN,
                "EnableNodeOUs": True,
                "Template": {"Count": 1, "SANS": SANS},
                "Users": {"Count": USERS},
            }
        ],
    }


def _sig(rule: str) -> dict[str, str]:
    return {"Type": "Signature", "Rule": rule}


def _meta(rule: str) -> dict[str, str]:
    return {"Type": "ImplicitMeta", "Rule": rule}


def configtx(s: StackSettings, p: Paths) -> dict[str, Any]:
    """configtxgen's input with one profile, ``GXChannel`` (an application channel with its orderer)."""
    orderer_tls = str(p.orderer_node / "tls" / "server.crt")
    orderer_org = {
        "Name": "OrdererOrg",
        "ID": ORDERER_MSP,
        "MSPDir": str(p.orderer_org / "msp"),
        "OrdererEndpoints": [f"{s.host}:{s.orderer_port}"],
        "Policies": {
            "Readers": _sig(f"OR('{ORDERER_MSP}.member')"),
            "Writers": _sig(f"OR('{ORDERER_MSP}.member')"),
            "Admins": _sig(f"OR('{ORDERER_MSP}.admin')"),
        },
    }
    peer_org = {
        "Name": PEER_MSP,
        "ID": PEER_MSP,
        "MSPDir": str(p.peer_org / "msp"),
        "Policies": {
            "Readers": _sig(f"OR('{PEER_MSP}.admin', '{PEER_MSP}.peer', '{PEER_MSP}.client')"),
            "Writers": _sig(f"OR('{PEER_MSP}.admin', '{PEER_MSP}.client')"),
            "Admins": _sig(f"OR('{PEER_MSP}.admin')"),
            "Endorsement": _sig(f"OR('{PEER_MSP}.peer')"),
        },
    }
    common = {"Readers": _meta("ANY Readers"), "Writers": _meta("ANY Writers"), "Admins": _meta("MAJORITY Admins")}
    orderer = {
        "OrdererType": "etcdraft",
        "EtcdRaft": {
            "Consenters": [
                {"Host": s.host, "Port": s.orderer_port, "ClientTLSCert": orderer_tls, "ServerTLSCert": orderer_tls}
            ],
            # Short ticks: leader election in about a second after a (re)start, not 5-10 s.
            "Options": {
                "TickInterval": "100ms",
                "ElectionTick": 10,
                "HeartbeatTick": 1,
                "MaxInflightBlocks": 5,
                "SnapshotIntervalSize": "16 MB",
            },
        },
        "BatchTimeout": f"{s.batch_timeout_ms}ms",
        "BatchSize": {"MaxMessageCount": s.batch_max_count, "AbsoluteMaxBytes": "99 MB", "PreferredMaxBytes": "2 MB"},
        "Organizations": [orderer_org],
        "Policies": {**common, "BlockValidation": _meta("ANY Writers")},
        "Capabilities": {"V2_0": True},
    }
    application = {
        "Organizations": [peer_org],
        "Policies": {
            **common,
            "LifecycleEndorsement": _meta("MAJORITY Endorsement"),
            "Endorsement": _meta("MAJORITY Endorsement"),
        },
        "Capabilities": {"V2_5": True},
    }
    return {
        "Profiles": {
            "GXChannel": {
                "Policies": common,
                "Capabilities": {"V3_0": True},
                "Orderer": orderer,
                "Application": application,
            }
        }
    }
