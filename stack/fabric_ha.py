"""The HA topology of the local Fabric network (`gxctl stack up --topology ha`, issue 34).

Three orderers in one etcdraft cluster, two peers of Org1 and one peer each of Org2 and Org3, the
gxtv3 chaincode as one service that every peer reaches (ccaas, the same package installed on each
peer), approved by the three organisations and committed under the channel's default endorsement
policy, ``MAJORITY Endorsement``: two of the three organisations. Each organisation has an anchor
peer in the channel's genesis block and each peer a gossip external endpoint, so that discovery
knows every peer and the Gateway of an Org1 peer collects the second organisation's endorsement
itself.

The single-node network (stack.fabric_net) is untouched; this module reuses its helpers and
configuration and overrides what is per node. Each node is a component of its own (``orderer0``,
``orderer1``, ``orderer2``, ``peer0-org1``, ``peer1-org1``, ``peer0-org2``, ``peer0-org3``,
``chaincode``): started, stopped, health-checked and restarted by the watchdog one by one, on
loopback ports of its own (from ``GX_HA_PORT_BASE``, 26000 by default, below the single network's).

The topology is chosen when the network is made and kept with it (``<state>/fabric/topology``);
the secure mode is not offered for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from stack import chaincode as cc
from stack import fabric_config as fc
from stack.errors import StackError
from stack.fabric_net import LAYOUT, CliError, FabricNet, _free, _until_leader, _wait_closed, ops_healthy
from stack.procs import Proc, port_open
from stack.settings import StackSettings

SINGLE, HA = "single", "ha"
TOPOLOGIES = (SINGLE, HA)
ORGS = (1, 2, 3)


@dataclass(frozen=True)
class OrdererSpec:
    index: int
    port: int
    admin_port: int
    ops_port: int

    @property
    def name(self) -> str:
        return f"orderer{self.index}"

    @property
    def host_name(self) -> str:
        return f"{self.name}.{fc.ORDERER_DOMAIN}"


@dataclass(frozen=True)
class PeerSpec:
    org: int
    index: int
    port: int
    chaincode_port: int
    ops_port: int

    @property
    def name(self) -> str:
        return f"peer{self.index}-org{self.org}"

    @property
    def domain(self) -> str:
        return f"org{self.org}.example.com"

    @property
    def msp(self) -> str:
        return f"Org{self.org}MSP"

    @property
    def host_name(self) -> str:
        return f"peer{self.index}.{self.domain}"


def orderers(s: StackSettings) -> list[OrdererSpec]:
    """orderer<i>: ports base+50+10i (listener, Raft's too), +1 (admin, osnadmin), +2 (operations)."""
    b = s.ha_port_base
    return [OrdererSpec(i, b + 50 + 10 * i, b + 51 + 10 * i, b + 52 + 10 * i) for i in range(3)]


def peers(s: StackSettings) -> list[PeerSpec]:
    """peer0-org1, peer1-org1, peer0-org2, peer0-org3: ports base+150+10k (peer, Gateway,
    Deliver), +1 (chaincode), +2 (operations)."""
    b = s.ha_port_base
    layout = [(1, 0), (1, 1), (2, 0), (3, 0)]
    return [PeerSpec(org, i, b + 150 + 10 * k, b + 151 + 10 * k, b + 152 + 10 * k) for k, (org, i) in enumerate(layout)]


def chaincode_port(s: StackSettings) -> int:
    return s.ha_port_base + 199


def gateway_peers(s: StackSettings) -> list[PeerSpec]:
    """The peers the pipeline's clients (Org1 identities) use as gateways: Org1's, in order."""
    return [p for p in peers(s) if p.org == 1]


@dataclass(frozen=True)
class HaPaths(fc.Paths):
    """fc.Paths (Org1's users and TLS CA, the orderer org) plus every node of the HA topology."""

    def org(self, org: int) -> Path:
        return self.crypto / "peerOrganizations" / f"org{org}.example.com"

    def peer(self, p: PeerSpec) -> Path:
        return self.org(p.org) / "peers" / p.host_name

    def orderer(self, o: OrdererSpec) -> Path:
        return self.orderer_org / "orderers" / o.host_name

    def admin(self, org: int) -> Path:
        return self.org(org) / "users" / f"Admin@org{org}.example.com"

    @property
    def peer_node(self) -> Path:  # Org1's first peer: its TLS CA is every Org1 peer's
        return self.org(1) / "peers" / f"peer0.{fc.PEER_DOMAIN}"

    @property
    def orderer_node(self) -> Path:  # the first orderer: its TLS CA is every orderer's
        return self.orderer_org / "orderers" / f"orderer0.{fc.ORDERER_DOMAIN}"

    @property
    def tls_cas(self) -> list[str]:
        return [str(self.org(o) / "tlsca" / f"tlsca.org{o}.example.com-cert.pem") for o in ORGS] + [
            str(self.orderer_node / "tls" / "ca.crt")
        ]


def crypto_config() -> dict[str, Any]:
    """cryptogen's input: three orderers of the orderer org; Org1 with two peers and the pipeline's
    three users, Org2 and Org3 with one peer and one user each; node OUs on."""
    single = fc.crypto_config()
    org1 = {**single["PeerOrgs"][0], "Template": {"Count": 2, "SANS": fc.SANS}}
    others = [
        {
            "Name": f"Org{o}",
            "Domain": f"org{o}.example.com",
            "EnableNodeOUs": True,
            "Template": {"Count": 1, "SANS": fc.SANS},
            "Users": {"Count": 1},
        }
        for o in ORGS[1:]
    ]
    orderer_org = {
        **single["OrdererOrgs"][0],
        "Specs": [{"Hostname": f"orderer{i}", "SANS": fc.SANS} for i in range(3)],
    }
    return {"OrdererOrgs": [orderer_org], "PeerOrgs": [org1, *others]}


def configtx(s: StackSettings, p: HaPaths) -> dict[str, Any]:
    """The single network's profile with three consenters, three application organisations (each
    with its anchor peer) and the channel's MAJORITY endorsement policy (two organisations of three)."""
    doc = fc.configtx(s, p)
    prof = doc["Profiles"]["GXChannel"]
    orderer = prof["Orderer"]
    orderer["EtcdRaft"]["Consenters"] = [
        {
            "Host": s.host,
            "Port": o.port,
            "ClientTLSCert": str(p.orderer(o) / "tls" / "server.crt"),
            "ServerTLSCert": str(p.orderer(o) / "tls" / "server.crt"),
        }
        for o in orderers(s)
    ]
    orderer["Organizations"][0]["OrdererEndpoints"] = [f"{s.host}:{o.port}" for o in orderers(s)]
    anchors = {org: next(pp for pp in peers(s) if pp.org == org) for org in ORGS}
    orgs = []
    for org in ORGS:
        msp = f"Org{org}MSP"
        orgs.append(
            {
                "Name": msp,
                "ID": msp,
                "MSPDir": str(p.org(org) / "msp"),
                "Policies": {
                    "Readers": fc._sig(f"OR('{msp}.admin', '{msp}.peer', '{msp}.client')"),
                    "Writers": fc._sig(f"OR('{msp}.admin', '{msp}.client')"),
                    "Admins": fc._sig(f"OR('{msp}.admin')"),
                    "Endorsement": fc._sig(f"OR('{msp}.peer')"),
                },
                "AnchorPeers": [{"Host": s.host, "Port": anchors[org].port}],
            }
        )
    prof["Application"]["Organizations"] = orgs
    return doc


def peer_overrides(s: StackSettings, p: HaPaths, spec: PeerSpec, builder_dir: Path) -> dict[str, Any]:
    """The single peer's overrides (fc.peer_overrides) for one HA peer: its ports, MSP, TLS, data;
    gossip bootstrapped from the other peer of its organisation (Org1), every peer its
    organisation's leader (each pulls blocks from the orderers itself: no election to wait for
    when one dies)."""
    own = s.model_copy(
        update={"peer_port": spec.port, "peer_chaincode_port": spec.chaincode_port, "peer_ops_port": spec.ops_port}
    )
    o = fc.peer_overrides(own, p, builder_dir)
    tls = p.peer(spec) / "tls"
    address = f"{s.host}:{spec.port}"
    same_org = [f"{s.host}:{q.port}" for q in peers(s) if q.org == spec.org and q != spec]
    o.update(
        {
            "peer.tls.clientRootCAs.files": [str(tls / "ca.crt")],
            "peer.id": spec.host_name,
            "peer.localMspId": spec.msp,
            "peer.mspConfigPath": str(p.peer(spec) / "msp"),
            "peer.fileSystemPath": str(p.root / "peers" / spec.name),
            "peer.tls.cert.file": str(tls / "server.crt"),
            "peer.tls.key.file": str(tls / "server.key"),
            "peer.tls.rootcert.file": str(tls / "ca.crt"),
            "peer.gossip.bootstrap": " ".join(same_org) or address,
            "peer.gossip.endpoint": address,
            "peer.gossip.externalEndpoint": address,
            "ledger.snapshots.rootDir": str(p.root / "peers" / spec.name / "snapshots"),
            "operations.tls.cert.file": str(tls / "server.crt"),
            "operations.tls.key.file": str(tls / "server.key"),
            "operations.tls.clientRootCAs.files": p.tls_cas,
        }
    )
    return o


def orderer_overrides(s: StackSettings, p: HaPaths, spec: OrdererSpec) -> dict[str, Any]:
    """The single orderer's overrides (fc.orderer_overrides) for one of the three: its ports, TLS
    identity (also its Raft cluster identity), MSP and ledger."""
    own = s.model_copy(
        update={"orderer_port": spec.port, "orderer_admin_port": spec.admin_port, "orderer_ops_port": spec.ops_port}
    )
    o = fc.orderer_overrides(own, p)
    tls = p.orderer(spec) / "tls"
    cert, key, ca = str(tls / "server.crt"), str(tls / "server.key"), str(tls / "ca.crt")
    data = p.root / "orderers" / spec.name
    for k in ("General.TLS", "Operations.TLS", "Admin.TLS"):
        o[f"{k}.PrivateKey"], o[f"{k}.Certificate"], o[f"{k}.RootCAs"] = key, cert, [ca]
    o.update(
        {
            "General.Cluster.ClientCertificate": cert,
            "General.Cluster.ClientPrivateKey": key,
            "General.LocalMSPDir": str(p.orderer(spec) / "msp"),
            "Admin.TLS.ClientRootCAs": [ca],
            "Operations.TLS.ClientRootCAs": p.tls_cas,
            "FileLedger.Location": str(data),
            "Consensus.WALDir": str(data / "etcdraft" / "wal"),
            "Consensus.SnapDir": str(data / "etcdraft" / "snapshot"),
        }
    )
    return o


def topology_file(s: StackSettings) -> Path:
    return s.fabric_dir / "topology"


def made_topology(s: StackSettings) -> str | None:
    """The topology the network in ``s.state_dir`` was made with, or None if none was made yet (a
    network made before topologies existed is the single one)."""
    f = topology_file(s)
    if f.exists():
        return f.read_text().strip()
    return SINGLE if fc.Paths(s.fabric_dir).genesis_block.exists() else None


def choose_topology(s: StackSettings) -> str:
    """The topology to run: the one the network was made with; StackError when ``s.topology`` asks
    for another (the network must be made again); else ``s.topology``, single by default."""
    made = made_topology(s)
    wanted = s.topology or None
    if wanted is not None and wanted not in TOPOLOGIES:
        raise StackError("fabric", f"unknown topology {wanted!r}", f"choose from: {', '.join(TOPOLOGIES)}")
    if made is not None and wanted is not None and made != wanted:
        raise StackError(
            "fabric",
            f"this stack's Fabric network was made with the {made} topology, not {wanted}",
            f"`gxctl stack down --purge`, then `gxctl stack up --topology {wanted}`",
        )
    return made or wanted or SINGLE


class HaNet(FabricNet):
    """The HA network's shared parts: crypto, the channel block, the admin CLI of each organisation."""

    def __init__(self, s: StackSettings) -> None:
        super().__init__(s)
        self.paths: HaPaths = HaPaths(s.fabric_dir)
        self.orderers = orderers(s)
        self.peers = peers(s)

    def ensure_artifacts(self) -> None:
        p = self.paths
        if p.genesis_block.exists():
            made = (p.root / "layout").read_text().strip() if (p.root / "layout").exists() else "1"
            if made != LAYOUT:
                raise StackError(
                    "fabric",
                    f"this network's ledger has gxtv3's state layout {made}; this version needs layout {LAYOUT}",
                    "gxctl down --purge   (then gxctl up makes a new network; the ledger starts empty)",
                )
            return
        cfg = p.root / "config"
        crypto_yaml = self._write_yaml(cfg / "crypto-config.yaml", crypto_config())
        if not p.crypto.exists():
            self.run(
                "fabric", [self.home.bin("cryptogen"), "generate", f"--config={crypto_yaml}", f"--output={p.crypto}"]
            )
        self._write_yaml(cfg / "configtx.yaml", configtx(self.s, p))
        tmp = p.genesis_block.with_suffix(".partial")
        self.run(
            "fabric",
            [
                self.home.bin("configtxgen"),
                "-configPath",
                str(cfg),
                "-profile",
                "GXChannel",
                "-channelID",
                self.s.channel,
                "-outputBlock",
                str(tmp),
            ],
        )
        tmp.rename(p.genesis_block)
        (p.root / "layout").write_text(LAYOUT + "\n")
        topology_file(self.s).write_text(HA + "\n")

    @property
    def mutual_tls(self) -> bool:
        return False

    def admin_env_for(self, spec: PeerSpec) -> dict[str, str]:
        """The peer CLI as ``spec``'s organisation's admin, talking TLS to ``spec``."""
        p = self.paths
        admin = p.admin(spec.org)
        return {
            "CORE_PEER_TLS_CLIENTAUTHREQUIRED": "false",
            "CORE_PEER_TLS_CLIENTCERT_FILE": str(admin / "tls" / "client.crt"),
            "CORE_PEER_TLS_CLIENTKEY_FILE": str(admin / "tls" / "client.key"),
            "FABRIC_CFG_PATH": str(p.root / spec.name),
            "CORE_PEER_LOCALMSPID": spec.msp,
            "CORE_PEER_MSPCONFIGPATH": str(admin / "msp"),
            "CORE_PEER_ADDRESS": f"{self.s.host}:{spec.port}",
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_ROOTCERT_FILE": str(p.peer(spec) / "tls" / "ca.crt"),
            "FABRIC_LOGGING_SPEC": "WARNING",
        }

    def peer_on(self, spec: PeerSpec, *args: str, timeout: float = 120) -> str:
        return self.run(spec.name, [self.home.bin("peer"), *args], self.admin_env_for(spec), timeout)

    def live_peer(self, org: int = 1) -> PeerSpec:
        """A peer of ``org`` that listens (the first one if none does)."""
        mine = [p for p in self.peers if p.org == org]
        return next((p for p in mine if port_open(self.s.host, p.port)), mine[0])

    def admin_env(self) -> dict[str, str]:
        return self.admin_env_for(self.live_peer())

    def orderer_flags(self) -> list[str]:
        """The CLI's orderer: the first one that listens (any of them forwards to the Raft leader)."""
        live = next((o for o in self.orderers if port_open(self.s.host, o.port)), self.orderers[0])
        return [
            "-o",
            f"{self.s.host}:{live.port}",
            "--tls",
            "--cafile",
            str(self.paths.orderer_node / "tls" / "ca.crt"),
        ]

    def peer_flags(self, specs: list[PeerSpec]) -> list[str]:
        out: list[str] = []
        for sp in specs:
            out += [
                "--peerAddresses",
                f"{self.s.host}:{sp.port}",
                "--tlsRootCertFiles",
                str(self.paths.peer(sp) / "tls" / "ca.crt"),
            ]
        return out

    def endorsers(self) -> list[PeerSpec]:
        """One listening peer of each organisation that has one (Org1's live one first)."""
        return [
            self.live_peer(org)
            for org in ORGS
            if any(port_open(self.s.host, p.port) for p in self.peers if p.org == org)
        ]

    def env(self) -> dict[str, str]:
        """The single network's GX_FABRIC_* with Org1's peers as the gateways, in order (the
        clients fail over from one to the next: fabric_gateway.failover)."""
        env = super().env()
        if env:
            env["GX_FABRIC_GATEWAY"] = ",".join(f"{self.s.host}:{p.port}" for p in gateway_peers(self.s))
        return env


class HaOrderer:
    def __init__(self, net: HaNet, spec: OrdererSpec) -> None:
        self.net, self.spec, self.s = net, spec, net.s
        self.proc = Proc(spec.name, self.s.run_dir, self.s.log_dir)

    def healthy(self) -> bool:
        return ops_healthy(self.s.host, self.spec.ops_port) and port_open(self.s.host, self.spec.admin_port)

    def up(self) -> None:
        sp = self.spec
        if self.proc.pid() is None:
            self.net.ensure_artifacts()
            _free(self.s, sp.name, {f"GX_HA_PORT_BASE ({sp.name})": p for p in (sp.port, sp.admin_port, sp.ops_port)})
            cfg = self.net.node_config(sp.name, "orderer.yaml", orderer_overrides(self.s, self.net.paths, sp))
            self.proc.start([self.net.home.bin("orderer")], env={**self.proc.marker_env(), "FABRIC_CFG_PATH": str(cfg)})
        self.proc.wait_healthy(
            self.healthy, 60, f"/healthz on {self.s.host}:{sp.ops_port} and admin port {sp.admin_port}"
        )
        self._join()

    def _osnadmin(self, *args: str) -> str:
        admin = self.net.paths.orderer_admin / "tls"
        return self.net.run(
            self.spec.name,
            [
                self.net.home.bin("osnadmin"),
                "channel",
                *args,
                "-o",
                f"{self.s.host}:{self.spec.admin_port}",
                "--ca-file",
                str(self.net.paths.orderer(self.spec) / "tls" / "ca.crt"),
                "--client-cert",
                str(admin / "client.crt"),
                "--client-key",
                str(admin / "client.key"),
            ],
        )

    def _join(self) -> None:
        listed = self._osnadmin("list")
        if f'"name": "{self.s.channel}"' in listed or f'"name":"{self.s.channel}"' in listed:
            return
        self._osnadmin("join", "--channelID", self.s.channel, "--config-block", str(self.net.paths.genesis_block))

    def down(self) -> bool:
        return self.proc.stop(timeout=30)


class HaPeer:
    def __init__(self, net: HaNet, spec: PeerSpec) -> None:
        self.net, self.spec, self.s = net, spec, net.s
        self.proc = Proc(spec.name, self.s.run_dir, self.s.log_dir)

    def healthy(self) -> bool:
        return ops_healthy(self.s.host, self.spec.ops_port) and port_open(self.s.host, self.spec.port)

    def up(self) -> None:
        sp = self.spec
        if self.proc.pid() is None:
            self.net.ensure_artifacts()
            _free(
                self.s, sp.name, {f"GX_HA_PORT_BASE ({sp.name})": p for p in (sp.port, sp.chaincode_port, sp.ops_port)}
            )
            overrides = peer_overrides(self.s, self.net.paths, sp, self.net.home.builder_dir)
            cfg = self.net.node_config(sp.name, "core.yaml", overrides)
            self.proc.start(
                [self.net.home.bin("peer"), "node", "start"],
                env={**self.proc.marker_env(), "FABRIC_CFG_PATH": str(cfg)},
            )
        self.proc.wait_healthy(self.healthy, 60, f"/healthz on {self.s.host}:{sp.ops_port} and port {sp.port}")
        if self.s.channel not in self.net.peer_on(sp, "channel", "list").split():
            self.net.peer_on(sp, "channel", "join", "-b", str(self.net.paths.genesis_block))

    def down(self) -> bool:
        return self.proc.stop(timeout=30)


class HaChaincode:
    """gxtv3 as one service every peer reaches: installed on the four peers, approved by the three
    organisations, committed under MAJORITY Endorsement; the pipeline's submitters granted."""

    def __init__(self, net: HaNet) -> None:
        self.net, self.s = net, net.s
        self.port = chaincode_port(self.s)
        self.proc = Proc("chaincode", self.s.run_dir, self.s.log_dir)
        self.id_file = self.s.run_dir / "chaincode.package-id"

    def healthy(self) -> bool:
        return port_open(self.s.host, self.port)

    @cached_property
    def source(self) -> Path:
        return self.s.chaincode_source or cc.SOURCE

    def up(self) -> None:
        self.net.ensure_artifacts()
        version = cc.source_hash(self.source)
        label = f"{self.s.chaincode}_{version}"
        package = cc.ccaas_package(label, f"{self.s.host}:{self.port}")
        pkg_id = cc.package_id(label, package)
        for sp in self.net.peers:
            if port_open(self.s.host, sp.port):
                self._install(sp, package, pkg_id)
        self._serve(pkg_id)
        committed = self._committed()
        if committed.get("version") != version:
            self._approve_and_commit(pkg_id, version, int(committed.get("sequence", 0)) + 1)
        for sp in self.net.peers:
            if port_open(self.s.host, sp.port):
                self.proc.wait_healthy(partial(self._answers, sp), 60, f"{sp.name} running a query on the chaincode")
        self._grant_submitter(fc.ADMIN_SUBMITTER, "all")
        self._grant_submitter(fc.COMMANDS_SUBMITTER, "commands")

    def _install(self, sp: PeerSpec, package: bytes, pkg_id: str) -> None:
        installed = json.loads(
            self.net.peer_on(sp, "lifecycle", "chaincode", "queryinstalled", "--output", "json") or "{}"
        )
        if any(p.get("package_id") == pkg_id for p in installed.get("installed_chaincodes", [])):
            return
        path = self.net.paths.root / "gxtv3.tar.gz"
        path.write_bytes(package)
        self.net.peer_on(sp, "lifecycle", "chaincode", "install", str(path))

    def _serve(self, pkg_id: str) -> None:
        running = self.proc.pid() is not None
        if running and self.id_file.exists() and self.id_file.read_text().strip() == pkg_id:
            return
        if running:
            self.proc.stop(timeout=10)
            _wait_closed(self.s.host, self.port, 10)
        _free(self.s, "chaincode", {"GX_HA_PORT_BASE (chaincode)": self.port})
        src = cc.prepare(self.s.cache_dir, self.source)
        self.proc.start(
            [
                str(src / "node_modules" / ".bin" / "fabric-chaincode-node"),
                "server",
                f"--chaincode-address={self.s.host}:{self.port}",
                f"--chaincode-id={pkg_id}",
            ],
            # Org1's admins operate the chaincode (lib/callers.js), whichever peer calls it.
            env={
                **self.proc.marker_env(),
                "CORE_CHAINCODE_LOGGING_LEVEL": "warning",
                "CORE_PEER_LOCALMSPID": fc.PEER_MSP,
            },
            cwd=src,
        )
        self.id_file.write_text(pkg_id + "\n")
        self.proc.wait_healthy(self.healthy, 30, f"the chaincode service on {self.s.host}:{self.port}")

    def _committed(self) -> dict[str, Any]:
        try:
            out = self.net.peer(
                "lifecycle",
                "chaincode",
                "querycommitted",
                "-C",
                self.s.channel,
                "-n",
                self.s.chaincode,
                "--output",
                "json",
            )
        except CliError as e:
            if "not defined" in e.log_tail or "not found" in e.log_tail:
                return {}
            raise
        return json.loads(out)

    @_until_leader
    def _approve_and_commit(self, pkg_id: str, version: str, sequence: int) -> None:
        common = [
            "--channelID",
            self.s.channel,
            "--name",
            self.s.chaincode,
            "--version",
            version,
            "--sequence",
            str(sequence),
        ]
        for org in ORGS:
            sp = self.net.live_peer(org)
            ready = self.net.peer_on(sp, "lifecycle", "chaincode", "checkcommitreadiness", *common, "--output", "json")
            if not json.loads(ready).get("approvals", {}).get(sp.msp):
                self.net.peer_on(
                    sp, "lifecycle", "chaincode", "approveformyorg", "--package-id", pkg_id, *common,
                    *self.net.orderer_flags(),
                )  # fmt: skip
        self.net.peer(
            "lifecycle", "chaincode", "commit", *common, *self.net.orderer_flags(),
            *self.net.peer_flags(self.net.endorsers()),
        )  # fmt: skip

    def _answers(self, sp: PeerSpec) -> bool:
        try:
            out = self.net.peer_on(
                sp, "chaincode", "query", "-C", self.s.channel, "-n", self.s.chaincode,
                "-c", '{"Args":["org.hyperledger.fabric:GetMetadata"]}', timeout=30,
            )  # fmt: skip
        except CliError:
            return False  # the peer's copy of the definition may be a block behind
        return "AdminContract" in out

    def _grant_submitter(self, user: str, scope: str) -> None:
        cert = (self.net.paths.user(user) / "msp" / "signcerts" / f"{user}@{fc.PEER_DOMAIN}-cert.pem").read_text()
        query = json.dumps({"Args": ["QueryContract:Submitter", fc.PEER_MSP, cert]})
        grant = json.loads(
            self.net.peer("chaincode", "query", "-C", self.s.channel, "-n", self.s.chaincode, "-c", query) or "null"
        )
        if grant and grant.get("scope") == scope:
            return
        self.net.peer(
            "chaincode", "invoke", *self.net.orderer_flags(), "-C", self.s.channel, "-n", self.s.chaincode,
            *self.net.peer_flags(self.net.endorsers()[:2]), "--waitForEvent",
            "-c", json.dumps({"Args": ["AdminContract:GrantSubmitter", fc.PEER_MSP, cert, scope]}),
        )  # fmt: skip

    def down(self) -> bool:
        self.id_file.unlink(missing_ok=True)
        return self.proc.stop(timeout=15)


def components(s: StackSettings) -> tuple[HaNet, dict[str, Any]]:
    """The HA network and its components, in start order."""
    net = HaNet(s)
    comps: dict[str, Any] = {o.name: HaOrderer(net, o) for o in net.orderers}
    comps.update({p.name: HaPeer(net, p) for p in net.peers})
    comps["chaincode"] = HaChaincode(net)
    return net, comps


def endpoints(s: StackSettings) -> dict[str, str]:
    """Each HA component's endpoint (gxctl stack status)."""
    out = {o.name: f"{s.host}:{o.port}" for o in orderers(s)}
    out.update({p.name: f"{s.host}:{p.port}" for p in peers(s)})
    out["chaincode"] = f"{s.host}:{chaincode_port(s)}"
    return out


def metric(text: str, name: str, channel: str) -> float | None:
    """The value of Prometheus metric ``name`` for ``channel`` in an exposition ``text``, or None."""
    for line in text.splitlines():
        if line.startswith(name + "{") and f'channel="{channel}"' in line:
            try:
                return float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                return None
    return None


def _metrics(host: str, port: int) -> str | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return None


def node_state(s: StackSettings) -> dict[str, dict[str, Any]]:
    """Each node's ledger height on the channel and, for an orderer, whether it leads the Raft
    cluster: from the nodes' own operations endpoints (/metrics: ``ledger_blockchain_height``,
    ``consensus_etcdraft_is_leader``). A node that does not answer has None for both."""
    out: dict[str, dict[str, Any]] = {}
    for o in orderers(s):
        text = _metrics(s.host, o.ops_port)
        height = metric(text, "ledger_blockchain_height", s.channel) if text else None
        leader = metric(text, "consensus_etcdraft_is_leader", s.channel) if text else None
        out[o.name] = {
            "height": None if height is None else int(height),
            "raft_leader": None if leader is None else leader == 1,
        }
    for p in peers(s):
        text = _metrics(s.host, p.ops_port)
        height = metric(text, "ledger_blockchain_height", s.channel) if text else None
        out[p.name] = {"height": None if height is None else int(height), "raft_leader": None}
    return out


def raft_leader(state: dict[str, dict[str, Any]]) -> str | None:
    """The orderer that says it leads (from :func:`node_state`), or None while none does."""
    leaders = [name for name, v in state.items() if v.get("raft_leader")]
    return leaders[0] if len(leaders) == 1 else None
