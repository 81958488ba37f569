"""How a worker reaches Fabric (``GX_FABRIC_*``, printed by `gxctl stack env` once the network exists)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic_settings import SettingsConfigDict

from gxcommon.settings import GxSettings

if TYPE_CHECKING:
    from fabric_gateway import Gateway


class FabricSettings(GxSettings):
    model_config = SettingsConfigDict(env_prefix="GX_FABRIC_", frozen=True, extra="ignore")

    gateway: str | None = None          # host:port of the peer's Gateway service
    channel: str = "gxchannel"
    chaincode: str = "gxtv3"
    msp_id: str = "Org1MSP"
    cert: Path | None = None            # client X.509 certificate (PEM)
    key: Path | None = None             # its private key (PEM, P-256)
    tls_root: Path | None = None        # the peer's TLS CA; without it the channel is plaintext (tests only)
    tls_server_name: str | None = None  # overrides the TLS host name check (cryptogen names, not 127.0.0.1)

    def require(self) -> None:
        """Raise GxError unless the gateway endpoint and the client identity are set."""
        from gxcommon.errors import GxError

        if not (self.gateway and self.cert and self.key):
            raise GxError("GX_FABRIC_GATEWAY, GX_FABRIC_CERT and GX_FABRIC_KEY are not set, and no local stack was "
                          "found to take them from: `gxctl up` starts one; for another deployment, set them")

    def connect(self, max_message_mb: int = 256) -> "Gateway":
        """A Gateway client for this identity. Call inside the running event loop (grpc.aio).
        Large answers (a whole block, every wallet for `gxctl verify`) are allowed up to
        ``max_message_mb``."""
        from fabric_gateway import Gateway, load_identity, load_signer, open_channel

        self.require()
        assert self.gateway and self.cert and self.key
        channel = open_channel(self.gateway, self.tls_root.read_bytes() if self.tls_root else None,
                               self.tls_server_name, max_message_bytes=max_message_mb * 1024 * 1024)
        return Gateway(channel, load_identity(self.msp_id, self.cert), load_signer(self.key))
