"""Settings of the local stack, one frozen object (env prefix ``GX_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from gxcommon.settings import ConnectionSettings

DEFAULT_CACHE = Path.home() / ".cache" / "gx-pipeline"


class StackSettings(ConnectionSettings):
    """Where the stack lives and which loopback ports it takes.

    Ports default to uncommon numbers because 5432/9092/8083 may be taken by other servers, and
    all lie below Linux's ephemeral range (32768-60999): a listening port inside it can be taken at
    any moment by an outgoing connection's local port (a worker failed to bind that way).
    ``pg_dsn`` set means: use that existing Postgres instead of starting our own.
    """

    model_config = SettingsConfigDict(env_prefix="GX_", frozen=True, extra="ignore")

    cache_dir: Path = DEFAULT_CACHE
    state_dir: Path = DEFAULT_CACHE / "state"
    host: str = "127.0.0.1"
    pg_port: int = 25432
    kafka_port: int = 29092
    kafka_controller_port: int = 29093
    connect_port: int = 28083
    connect_metrics_port: int = 28084  # Connect's and Debezium's JMX metrics (the JMX exporter agent)
    prometheus_port: int = 29090  # `gxctl stack up --with-monitoring`
    # Workers' web ports (/metrics, /healthz, /readyz): base, base + 1, ... in stack.pipeline.WORKERS order.
    worker_port_base: int = 28091
    # Fabric: an installed release (bin/, config/, builders/ccaas/bin/), found as on a user's machine.
    fabric_home: Path | None = None  # default: cache_dir / fabric-<version>, else the binaries on PATH
    fabric_release_url: str = "https://github.com/hyperledger/fabric/releases/download"
    fabric_sha256: str | None = None  # pin of the release tarball, checked by `gxctl fabric install`
    orderer_port: int = 27050
    orderer_admin_port: int = 27053  # channel participation API (osnadmin), mutual TLS
    orderer_ops_port: int = 27443  # /healthz, /metrics
    peer_port: int = 27051  # peer + Gateway + Deliver
    peer_chaincode_port: int = 27052
    peer_ops_port: int = 27444  # not 9443: that is the orderer's default admin port
    chaincode_port: int = 27099  # the gxtv3 chaincode service (ccaas)
    # The Fabric network's shape, chosen when it is made and kept with it (stack.fabric_ha):
    # "single" (one orderer, one peer; the default) or "ha" (three Raft orderers, four peers of
    # three organisations, MAJORITY endorsement). None: the one the state dir holds, else single.
    topology: str | None = None
    ha_port_base: int = 26000  # the HA network's loopback ports: base+50.. orderers, base+150.. peers
    chaincode_source: Path | None = None  # default: chaincode/gxtv3 of this checkout
    channel: str = "gxchannel"
    chaincode: str = "gxtv3"
    # Blocks are cut after BatchTimeout or MaxMessageCount, whichever comes first.
    batch_timeout_ms: int = 200
    batch_max_count: int = 500
    # The peer rejects gateway calls past this many at once (it does not queue).
    gateway_concurrency: int = 500
    # Heaps for a 2-core, 24 GiB machine that also runs Postgres, Fabric and Python workers.
    kafka_heap: str = "768m"
    connect_heap: str = "768m"
    start_timeout_s: float = 120.0

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def fabric_dir(self) -> Path:
        """The network's crypto, configs and ledgers (state, not cache)."""
        return self.state_dir / "fabric"

    @property
    def jars_dir(self) -> Path:
        return self.cache_dir / "jars"
