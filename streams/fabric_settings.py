"""How a worker reaches Fabric (``GX_FABRIC_*``, printed by `gxctl stack env` once the network exists)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class FabricSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GX_FABRIC_", frozen=True, extra="ignore")

    gateway: str | None = None          # host:port of the peer's Gateway service
    channel: str = "gxchannel"
    chaincode: str = "gxtv3"
    msp_id: str = "Org1MSP"
    cert: Path | None = None            # client X.509 certificate (PEM)
    key: Path | None = None             # its private key (PEM, P-256)
    tls_root: Path | None = None        # the peer's TLS CA; without it the channel is plaintext (tests only)
    tls_server_name: str | None = None  # overrides the TLS host name check (cryptogen names, not 127.0.0.1)
