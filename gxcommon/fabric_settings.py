"""How a worker reaches Fabric (``GX_FABRIC_*``, printed by `gxctl stack env` once the network exists)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic_settings import SettingsConfigDict

from gxcommon.settings import GxSettings, SettingsError

if TYPE_CHECKING:
    from collections.abc import Callable

    import grpc

    from fabric_gateway import Gateway, Identity, Signer
    from fabric_gateway.failover import ChannelPool


class FabricSettings(GxSettings):
    model_config = SettingsConfigDict(env_prefix="GX_FABRIC_", frozen=True, extra="ignore")

    # host:port of the peer's Gateway service; several, comma-separated (host1:port,host2:port),
    # for failover in that order (fabric_gateway.failover): the peers of the client's organisation.
    gateway: str | None = None
    channel: str = "gxchannel"
    chaincode: str = "gxtv3"
    msp_id: str = "Org1MSP"
    cert: Path | None = None  # client X.509 certificate (PEM)
    key: Path | None = None  # its private key (PEM, P-256)
    # The submitter's second identity, granted the chaincode's scope `commands`: it signs the
    # user-level commands, and the identity above (granted `all`) only the administrative ones
    # (schemas.permissions). Unset: the identity above signs every command.
    commands_cert: Path | None = None
    commands_key: Path | None = None
    tls_root: Path | None = None  # the peer's TLS CA: required (see insecure_plaintext)
    # A channel without TLS to a peer that has none (a test's fake gateway): refused unless this
    # says so, since the peer would be unauthenticated and every proposal readable on the wire.
    insecure_plaintext: bool = False
    # Mutual TLS (a peer with clientAuthRequired): this client's TLS certificate and key (PEM).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_server_name: str | None = None  # overrides the TLS host name check (cryptogen names, not 127.0.0.1)

    def require(self) -> None:
        """Raise SettingsError unless the gateway endpoint and the client identity are set."""
        if not (self.gateway and self.cert and self.key):
            raise SettingsError(
                "GX_FABRIC_GATEWAY, GX_FABRIC_CERT and GX_FABRIC_KEY are not set, and no local stack was "
                "found to take them from: `gxctl up` starts one; for another deployment, set them",
                "GX_FABRIC_GATEWAY",
                "GX_FABRIC_CERT",
                "GX_FABRIC_KEY",
            )

    def signer(self) -> Signer:
        """The identity's signer. SettingsError if GX_FABRIC_KEY is unset, shared with others or unreadable."""
        from fabric_gateway.identity import KeyFileError, load_signer

        self.require()
        assert self.key
        try:
            return load_signer(self.key)
        except KeyFileError as e:
            raise SettingsError(f"GX_FABRIC_KEY={e}", "GX_FABRIC_KEY") from None

    def commands_identity(self) -> tuple[Identity, Signer] | None:
        """The user-level identity and its signer (GX_FABRIC_COMMANDS_CERT/KEY), or None when
        neither is set. SettingsError when only one is, or for a key others can read."""
        from fabric_gateway import load_identity
        from fabric_gateway.identity import KeyFileError, load_signer

        if self.commands_cert is None and self.commands_key is None:
            return None
        if self.commands_cert is None or self.commands_key is None:
            raise SettingsError(
                "GX_FABRIC_COMMANDS_CERT and GX_FABRIC_COMMANDS_KEY go together (the identity of the "
                "user-level commands): set both or neither",
                "GX_FABRIC_COMMANDS_CERT",
                "GX_FABRIC_COMMANDS_KEY",
            )
        try:
            signer = load_signer(self.commands_key)
        except KeyFileError as e:
            raise SettingsError(f"GX_FABRIC_COMMANDS_KEY={e}", "GX_FABRIC_COMMANDS_KEY") from None
        return load_identity(self.msp_id, self.commands_cert), signer

    def gateways(self) -> list[str]:
        """The gateway endpoints, in order (GX_FABRIC_GATEWAY split at commas)."""
        from fabric_gateway.failover import parse_endpoints

        return parse_endpoints(self.gateway)

    def grpc_channel(self, max_message_mb: int | None = None, endpoint: str | None = None) -> grpc.aio.Channel:
        """The gRPC channel to the gateway: TLS with the peer's root, mutual TLS with a client
        certificate and key; plaintext only with GX_FABRIC_INSECURE_PLAINTEXT. To ``endpoint``, else
        the first of GX_FABRIC_GATEWAY. Call inside the
        running event loop. Raises SettingsError naming the variable of a TLS key others can read
        (or that is missing), a certificate without its key, or a missing TLS root."""
        from fabric_gateway import open_channel
        from fabric_gateway.identity import KeyFileError, read_private_key

        if not self.gateway:
            raise SettingsError("GX_FABRIC_GATEWAY is not set", "GX_FABRIC_GATEWAY")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError(
                "GX_FABRIC_TLS_CERT and GX_FABRIC_TLS_KEY go together (mutual TLS): set both or neither",
                "GX_FABRIC_TLS_CERT",
                "GX_FABRIC_TLS_KEY",
            )
        try:
            client_key = read_private_key(self.tls_key) if self.tls_key else None
        except KeyFileError as e:
            raise SettingsError(f"GX_FABRIC_TLS_KEY={e}", "GX_FABRIC_TLS_KEY") from None
        if self.tls_root is None and not self.insecure_plaintext:
            raise SettingsError(
                "GX_FABRIC_TLS_ROOT is not set: the channel to the peer would be plaintext (the peer not "
                "authenticated, every proposal readable on the wire); set it to the peer's TLS CA "
                "(GX_FABRIC_INSECURE_PLAINTEXT=1 only for a test peer without TLS)",
                "GX_FABRIC_TLS_ROOT",
                "GX_FABRIC_INSECURE_PLAINTEXT",
            )
        return open_channel(
            endpoint or self.gateways()[0],
            self.tls_root.read_bytes() if self.tls_root else None,
            self.tls_server_name,
            client_cert=self.tls_cert.read_bytes() if self.tls_cert else None,
            client_key=client_key,
            max_message_bytes=max_message_mb * 1024 * 1024 if max_message_mb else None,
        )

    def tls_cert_hash(self) -> bytes:
        """The client TLS certificate's hash for message headers (empty without mutual TLS)."""
        from fabric_gateway.identity import tls_cert_hash

        return tls_cert_hash(self.tls_cert.read_bytes()) if self.tls_cert else b""

    def connect(self, max_message_mb: int = 256) -> Gateway:
        """A Gateway client for this identity (see :meth:`grpc_channel`, :meth:`signer`). Large answers
        (a whole block, every wallet for `gxctl verify`) are allowed up to ``max_message_mb``.
        With several gateway endpoints, one that fails over between them (:meth:`failover`)."""
        from fabric_gateway import Gateway, load_identity

        self.require()
        assert self.cert
        signer = self.signer()
        identity = load_identity(self.msp_id, self.cert)
        if len(self.gateways()) > 1:
            return self.failover([(identity, signer)], max_message_mb)[0][0]  # close() closes every channel
        return Gateway(self.grpc_channel(max_message_mb), identity, signer, tls_cert_hash=self.tls_cert_hash())

    def failover(
        self, identities: list[tuple[Identity, Signer]], max_message_mb: int | None = None
    ) -> tuple[list[Gateway], ChannelPool]:
        """One failover Gateway per identity over the gateway endpoints, sharing their channels and
        the choice of endpoint (a switch made by one is made for all), and the channel pool to close
        (fabric_gateway.failover). Inside the running event loop."""
        from fabric_gateway import Gateway
        from fabric_gateway.failover import ChannelPool, Endpoints, FailoverGateway
        from gxcommon import logs

        log = logs.get("gx.fabric")
        endpoints = Endpoints(
            self.gateways(),
            on_switch=lambda old, new: log.warning("gateway peer unreachable: failing over", endpoint=old, to=new),
        )
        pool = ChannelPool(endpoints.names, lambda e: self.grpc_channel(max_message_mb, endpoint=e))
        tls_hash = self.tls_cert_hash()

        def maker(identity: Identity, signer: Signer) -> Callable[[int], Gateway]:
            return lambda i: Gateway(pool.get(i), identity, signer, tls_cert_hash=tls_hash)

        gateways: list[Gateway] = [FailoverGateway(endpoints, maker(ident, sig), pool) for ident, sig in identities]
        return gateways, pool
