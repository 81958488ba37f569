"""The Fabric network of the local stack: one orderer, one peer with the Gateway, the gxtv3 chaincode.

Three components like the others (``up``, ``down``, ``healthy``, ``proc``), sharing :class:`FabricNet`:
the installed release, the crypto material and channel block (made once by cryptogen and
configtxgen), and the peer CLI's admin environment. Health comes from the nodes' operations
endpoints (/healthz); the chaincode is healthy when its service accepts connections and the peer
runs a query on it.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from stack import chaincode as cc
from stack import fabric_config as fc
from stack.environ import without_credentials
from stack.errors import StackError
from stack.fabric_home import FabricHome, locate
from stack.mode import is_secure
from stack.procs import Proc, port_open
from stack.settings import StackSettings


def ops_healthy(host: str, port: int, ca: Path | None = None) -> bool:
    """A node's operations endpoint answers /healthz with status OK (over TLS, verified with the
    CA file ``ca``, when given: the secure stack's)."""
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        with urllib.request.urlopen(
            f"{'https' if ca else 'http'}://{host}:{port}/healthz", timeout=2, context=context
        ) as r:
            return json.load(r).get("status") == "OK"
    except (OSError, ValueError):
        return False


class CliError(StackError):
    """A Fabric CLI call failed; carries its output."""


# The chaincode's state layout a network is made for. 2: composite keys, namespaced wallets, the
# callers checked (issue 21). 3: entities owned by a tenant, grants keyed by certificate fingerprint,
# users with createdAt, proposals with their voting rules (issue 31). A ledger written by another
# layout cannot be read by this chaincode.
LAYOUT = "3"


class FabricNet:
    def __init__(self, s: StackSettings) -> None:
        self.s = s
        self.paths = fc.Paths(s.fabric_dir)

    @cached_property
    def home(self) -> FabricHome:
        return locate(self.s)

    def _write_yaml(self, path: Path, doc: object) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def run(self, component: str, argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
        """Run a Fabric CLI; its stdout, or CliError with its output tail."""
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**without_credentials(os.environ), **(env or {})},
        )
        if proc.returncode != 0:
            out = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise CliError(
                component,
                f"`{Path(argv[0]).name} {' '.join(argv[1:3])}` failed (exit {proc.returncode})",
                "see the output below; `gxctl stack down --purge` rebuilds the network",
                out,
            )
        return proc.stdout

    def ensure_artifacts(self) -> None:
        """Crypto material and the channel's genesis block, made once per state directory. StackError
        for a network made with an older chaincode state layout (see ``LAYOUT``)."""
        p = self.paths
        layout = p.root / "layout"
        if p.genesis_block.exists():
            made = layout.read_text().strip() if layout.exists() else "1"
            if made != LAYOUT:
                raise StackError(
                    "fabric",
                    f"this network's ledger has gxtv3's state layout {made}; this version "
                    f"needs layout {LAYOUT} (tenant-owned entities, certificate-keyed grants)",
                    "gxctl down --purge   (then gxctl up makes a new network; the ledger starts empty)",
                )
            self._ensure_users()
            return
        cfg = p.root / "config"
        crypto_yaml = self._write_yaml(cfg / "crypto-config.yaml", fc.crypto_config())
        if not p.crypto.exists():
            self.run(
                "fabric", [self.home.bin("cryptogen"), "generate", f"--config={crypto_yaml}", f"--output={p.crypto}"]
            )
        self._ensure_users()
        self._write_yaml(cfg / "configtx.yaml", fc.configtx(self.s, p))
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
        layout.write_text(LAYOUT + "\n")

    def _ensure_users(self) -> None:
        """Every client user of ``crypto_config`` exists: a network made with fewer (before
        User3, the user-level submitter) gets the missing ones from its own CA (`cryptogen
        extend`, which keeps everything it finds)."""
        p = self.paths
        if all(p.user(f"User{n}").exists() for n in range(1, fc.USERS + 1)):
            return
        crypto_yaml = self._write_yaml(p.root / "config" / "crypto-config.yaml", fc.crypto_config())
        self.run("fabric", [self.home.bin("cryptogen"), "extend", f"--config={crypto_yaml}", f"--input={p.crypto}"])

    def node_config(self, name: str, base: str, overrides: dict[str, object]) -> Path:
        """FABRIC_CFG_PATH for a node: the release's ``base`` yaml with our overrides."""
        doc = yaml.safe_load((self.home.config_dir / base).read_text())
        self._write_yaml(self.paths.root / name / base, fc.apply(doc, overrides))
        return self.paths.root / name

    @property
    def mutual_tls(self) -> bool:
        """The peer requires client certificates, and the nodes' operations endpoints serve TLS
        (the secure stack, stack.mode)."""
        return is_secure(self.s)

    def ops_ca(self) -> Path | None:
        """The CA bundle the nodes' operations endpoints are verified with (written once), or None
        when they serve plain HTTP (not secure)."""
        if not self.mutual_tls:
            return None
        bundle = self.paths.ops_ca_bundle
        if not bundle.exists():
            bundle.write_text("".join(Path(ca).read_text() for ca in self.paths.tls_cas))
        return bundle

    def admin_env(self) -> dict[str, str]:
        """The peer CLI as the org's admin, talking TLS (mutual in the secure stack) to our peer."""
        p = self.paths
        tls = p.user("Admin") / "tls"
        return {
            "CORE_PEER_TLS_CLIENTAUTHREQUIRED": "true" if self.mutual_tls else "false",
            "CORE_PEER_TLS_CLIENTCERT_FILE": str(tls / "client.crt"),
            "CORE_PEER_TLS_CLIENTKEY_FILE": str(tls / "client.key"),
            "FABRIC_CFG_PATH": str(p.root / "peer"),
            "CORE_PEER_LOCALMSPID": fc.PEER_MSP,
            "CORE_PEER_MSPCONFIGPATH": str(p.user("Admin") / "msp"),
            "CORE_PEER_ADDRESS": f"{self.s.host}:{self.s.peer_port}",
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_ROOTCERT_FILE": str(p.peer_node / "tls" / "ca.crt"),
            "FABRIC_LOGGING_SPEC": "WARNING",
        }

    def orderer_flags(self) -> list[str]:
        return [
            "-o",
            f"{self.s.host}:{self.s.orderer_port}",
            "--tls",
            "--cafile",
            str(self.paths.orderer_node / "tls" / "ca.crt"),
        ]

    def peer(self, *args: str, timeout: float = 120) -> str:
        return self.run("peer", [self.home.bin("peer"), *args], self.admin_env(), timeout)

    def env(self) -> dict[str, str]:
        """GX_FABRIC_* for clients, once the crypto material exists: User1 of Org1 (granted `all`)
        as the client identity, User3 (granted `commands`) as the submitter's identity for the
        user-level commands."""
        p = self.paths
        user = p.user(fc.ADMIN_SUBMITTER) / "msp"
        commands = p.user(fc.COMMANDS_SUBMITTER) / "msp"
        if not user.exists():
            return {}
        return {
            "GX_FABRIC_GATEWAY": f"{self.s.host}:{self.s.peer_port}",
            "GX_FABRIC_CHANNEL": self.s.channel,
            "GX_FABRIC_CHAINCODE": self.s.chaincode,
            "GX_FABRIC_MSP_ID": fc.PEER_MSP,
            "GX_FABRIC_CERT": str(user / "signcerts" / f"{fc.ADMIN_SUBMITTER}@{fc.PEER_DOMAIN}-cert.pem"),
            "GX_FABRIC_KEY": str(user / "keystore" / "priv_sk"),
            "GX_FABRIC_COMMANDS_CERT": str(
                commands / "signcerts" / f"{fc.COMMANDS_SUBMITTER}@{fc.PEER_DOMAIN}-cert.pem"
            ),
            "GX_FABRIC_COMMANDS_KEY": str(commands / "keystore" / "priv_sk"),
            "GX_FABRIC_TLS_ROOT": str(p.peer_node / "tls" / "ca.crt"),
            # Mutual TLS: presented always, required by the secure stack's peer.
            "GX_FABRIC_TLS_CERT": str(p.user(fc.ADMIN_SUBMITTER) / "tls" / "client.crt"),
            "GX_FABRIC_TLS_KEY": str(p.user(fc.ADMIN_SUBMITTER) / "tls" / "client.key"),
        }


def _free(s: StackSettings, name: str, ports: dict[str, int]) -> None:
    for var, port in ports.items():
        if port_open(s.host, port):
            raise StackError(
                name,
                f"port {port} on {s.host} is taken by a process we did not start",
                f"stop that process, or set {var} to a free port",
            )


def _wait_closed(host: str, port: int, timeout: float) -> None:
    """Until nothing listens on host:port (a stopped service may hold its socket a moment longer)."""
    deadline = time.monotonic() + timeout
    while port_open(host, port) and time.monotonic() < deadline:
        time.sleep(0.2)


class Orderer:
    def __init__(self, net: FabricNet) -> None:
        self.net = net
        self.s = net.s
        self.proc = Proc("orderer", self.s.run_dir, self.s.log_dir)

    def healthy(self) -> bool:
        # /healthz can answer before the admin port (osnadmin's, used right after) listens.
        ops = ops_healthy(self.s.host, self.s.orderer_ops_port, self.net.ops_ca())
        return ops and port_open(self.s.host, self.s.orderer_admin_port)

    def up(self) -> None:
        if self.proc.pid() is None:
            self.net.ensure_artifacts()
            _free(
                self.s,
                "orderer",
                {
                    "GX_ORDERER_PORT": self.s.orderer_port,
                    "GX_ORDERER_ADMIN_PORT": self.s.orderer_admin_port,
                    "GX_ORDERER_OPS_PORT": self.s.orderer_ops_port,
                },
            )
            overrides = fc.orderer_overrides(self.s, self.net.paths, ops_tls=self.net.mutual_tls)
            cfg = self.net.node_config("orderer", "orderer.yaml", overrides)
            self.proc.start([self.net.home.bin("orderer")], env={**self.proc.marker_env(), "FABRIC_CFG_PATH": str(cfg)})
        self.proc.wait_healthy(
            self.healthy,
            60,
            f"/healthz on {self.s.host}:{self.s.orderer_ops_port} and "
            f"its admin port {self.s.orderer_admin_port} listening",
        )
        self._join()

    def _osnadmin(self, *args: str) -> str:
        admin = self.net.paths.orderer_admin / "tls"
        ca = self.net.paths.orderer_node / "tls" / "ca.crt"
        return self.net.run(
            "orderer",
            [
                self.net.home.bin("osnadmin"),
                "channel",
                *args,
                "-o",
                f"{self.s.host}:{self.s.orderer_admin_port}",
                "--ca-file",
                str(ca),
                "--client-cert",
                str(admin / "client.crt"),
                "--client-key",
                str(admin / "client.key"),
            ],
        )

    def _join(self) -> None:
        """Join the channel through the channel participation API (once)."""
        listed = self._osnadmin("list")
        if f'"name": "{self.s.channel}"' in listed or f'"name":"{self.s.channel}"' in listed:
            return
        self._osnadmin("join", "--channelID", self.s.channel, "--config-block", str(self.net.paths.genesis_block))

    def down(self) -> bool:
        return self.proc.stop(timeout=30)


class Peer:
    def __init__(self, net: FabricNet) -> None:
        self.net = net
        self.s = net.s
        self.proc = Proc("peer", self.s.run_dir, self.s.log_dir)

    def healthy(self) -> bool:
        # /healthz can answer before the gRPC port listens: `peer channel list` right after was
        # once refused there (connection refused), failing `gxctl up`.
        return ops_healthy(self.s.host, self.s.peer_ops_port, self.net.ops_ca()) and port_open(
            self.s.host, self.s.peer_port
        )

    def up(self) -> None:
        if self.proc.pid() is None:
            self.net.ensure_artifacts()
            _free(
                self.s,
                "peer",
                {
                    "GX_PEER_PORT": self.s.peer_port,
                    "GX_PEER_CHAINCODE_PORT": self.s.peer_chaincode_port,
                    "GX_PEER_OPS_PORT": self.s.peer_ops_port,
                },
            )
            cfg = self.net.node_config(
                "peer",
                "core.yaml",
                fc.peer_overrides(self.s, self.net.paths, self.net.home.builder_dir, mutual_tls=self.net.mutual_tls),
            )
            self.proc.start(
                [self.net.home.bin("peer"), "node", "start"],
                env={**self.proc.marker_env(), "FABRIC_CFG_PATH": str(cfg)},
            )
        self.proc.wait_healthy(
            self.healthy,
            60,
            f"/healthz on {self.s.host}:{self.s.peer_ops_port} and its port {self.s.peer_port} listening",
        )
        if self.s.channel not in self.net.peer("channel", "list").split():
            self.net.peer("channel", "join", "-b", str(self.net.paths.genesis_block))

    def down(self) -> bool:
        return self.proc.stop(timeout=30)


# The orderer elects its raft leader a moment after it joins; lifecycle calls fail until then.
_until_leader = retry(
    retry=retry_if_exception_type(CliError), stop=stop_after_delay(60), wait=wait_fixed(0.5), reraise=True
)


class Chaincode:
    """The gxtv3 chaincode as a service, installed, approved and committed (upgraded when its source changes)."""

    def __init__(self, net: FabricNet) -> None:
        self.net = net
        self.s = net.s
        self.proc = Proc("chaincode", self.s.run_dir, self.s.log_dir)
        self.id_file = self.s.run_dir / "chaincode.package-id"

    def healthy(self) -> bool:
        return port_open(self.s.host, self.s.chaincode_port)

    @property
    def source(self) -> Path:
        return self.s.chaincode_source or cc.SOURCE

    def up(self) -> None:
        self.net.ensure_artifacts()  # refuses a network of another state layout
        version = cc.source_hash(self.source)
        label = f"{self.s.chaincode}_{version}"
        package = cc.ccaas_package(label, f"{self.s.host}:{self.s.chaincode_port}")
        pkg_id = cc.package_id(label, package)
        self._install(package, pkg_id)
        self._serve(pkg_id)
        committed = self._committed()
        if committed.get("version") != version:
            sequence = int(committed.get("sequence", 0)) + 1
            self._approve_and_commit(pkg_id, version, sequence)
        self.proc.wait_healthy(self._answers, 60, "the peer running a query on the chaincode")
        self._grant_submitter(fc.ADMIN_SUBMITTER, "all")
        self._grant_submitter(fc.COMMANDS_SUBMITTER, "commands")

    def _grant_submitter(self, user: str, scope: str) -> None:
        """The pipeline's submitter identities: ``user`` may submit the commands of ``scope``
        (``all``: the administrative ones too; ``commands``: the user-level ones). The chaincode's
        operator (the org's Admin, node OU admin) grants it, once (again if the scope differs)."""
        cert = (self.net.paths.user(user) / "msp" / "signcerts" / f"{user}@{fc.PEER_DOMAIN}-cert.pem").read_text()
        grant = json.loads(
            self.net.peer(
                "chaincode",
                "query",
                "-C",
                self.s.channel,
                "-n",
                self.s.chaincode,
                "-c",
                json.dumps({"Args": ["QueryContract:Submitter", fc.PEER_MSP, cert]}),
            )
            or "null"
        )
        if grant and grant.get("scope") == scope:
            return
        self.net.peer(
            "chaincode",
            "invoke",
            *self.net.orderer_flags(),
            "-C",
            self.s.channel,
            "-n",
            self.s.chaincode,
            "--peerAddresses",
            f"{self.s.host}:{self.s.peer_port}",
            "--tlsRootCertFiles",
            str(self.net.paths.peer_node / "tls" / "ca.crt"),
            "--waitForEvent",
            "-c",
            json.dumps({"Args": ["AdminContract:GrantSubmitter", fc.PEER_MSP, cert, scope]}),
        )

    def _install(self, package: bytes, pkg_id: str) -> None:
        installed = json.loads(self.net.peer("lifecycle", "chaincode", "queryinstalled", "--output", "json") or "{}")
        if any(p.get("package_id") == pkg_id for p in installed.get("installed_chaincodes", [])):
            return
        path = self.net.paths.root / "gxtv3.tar.gz"
        path.write_bytes(package)
        self.net.peer("lifecycle", "chaincode", "install", str(path))

    def _serve(self, pkg_id: str) -> None:
        running = self.proc.pid() is not None
        if running and self.id_file.exists() and self.id_file.read_text().strip() == pkg_id:
            return
        if running:
            self.proc.stop(timeout=10)
            _wait_closed(self.s.host, self.s.chaincode_port, 10)
        _free(self.s, "chaincode", {"GX_CHAINCODE_PORT": self.s.chaincode_port})
        src = cc.prepare(self.s.cache_dir, self.source)
        self.proc.start(
            [
                str(src / "node_modules" / ".bin" / "fabric-chaincode-node"),
                "server",
                f"--chaincode-address={self.s.host}:{self.s.chaincode_port}",
                f"--chaincode-id={pkg_id}",
            ],
            # The peer's MSP: the chaincode lets that MSP's admins operate (lib/callers.js).
            env={
                **self.proc.marker_env(),
                "CORE_CHAINCODE_LOGGING_LEVEL": "warning",
                "CORE_PEER_LOCALMSPID": fc.PEER_MSP,
            },
            cwd=src,
        )
        self.id_file.write_text(pkg_id + "\n")
        self.proc.wait_healthy(self.healthy, 30, f"the chaincode service on {self.s.host}:{self.s.chaincode_port}")

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
            *self.net.orderer_flags(),
        ]
        approvals = self.net.peer(
            "lifecycle",
            "chaincode",
            "checkcommitreadiness",
            "--channelID",
            self.s.channel,
            "--name",
            self.s.chaincode,
            "--version",
            version,
            "--sequence",
            str(sequence),
            "--output",
            "json",
        )
        if not json.loads(approvals).get("approvals", {}).get(fc.PEER_MSP):
            self.net.peer("lifecycle", "chaincode", "approveformyorg", "--package-id", pkg_id, *common)
        self.net.peer(
            "lifecycle",
            "chaincode",
            "commit",
            *common,
            "--peerAddresses",
            f"{self.s.host}:{self.s.peer_port}",
            "--tlsRootCertFiles",
            str(self.net.paths.peer_node / "tls" / "ca.crt"),
        )

    def _answers(self) -> bool:
        """The peer reaches the chaincode: the contract metadata (GetMetadata) comes back."""
        out = self.net.peer(
            "chaincode",
            "query",
            "-C",
            self.s.channel,
            "-n",
            self.s.chaincode,
            "-c",
            '{"Args":["org.hyperledger.fabric:GetMetadata"]}',
            timeout=30,
        )
        return "AdminContract" in out

    def down(self) -> bool:
        self.id_file.unlink(missing_ok=True)
        return self.proc.stop(timeout=15)
