"""Opening the gRPC channel to a Gateway peer: TLS with the peer's root, optionally mutual TLS."""

from __future__ import annotations

import grpc

# Keepalive as the Go client's examples set it, so a dead peer is noticed on long event streams.
# Reconnection backs off to 2 s at most (gRPC's default grows to 120 s): a peer that comes back
# after a long outage is reached again within about two seconds, not minutes.
KEEPALIVE = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 2_000),
)


def open_channel(
    endpoint: str,
    tls_root: bytes | None = None,
    server_name: str | None = None,
    client_cert: bytes | None = None,
    client_key: bytes | None = None,
    max_message_bytes: int | None = None,
) -> grpc.aio.Channel:
    """A grpc.aio channel to ``endpoint`` (host:port).

    ``tls_root`` (PEM) turns TLS on; without it the channel is plaintext (tests only).
    ``client_cert`` and ``client_key`` (PEM) add mutual TLS. ``server_name`` overrides the host
    name checked against the peer's certificate. ``max_message_bytes`` raises gRPC's 4 MiB limit
    on answers (a full block, a large query result).
    """
    opts: list[tuple[str, int | str]] = list(KEEPALIVE)
    if max_message_bytes:
        opts.append(("grpc.max_receive_message_length", max_message_bytes))
    if server_name:
        opts.append(("grpc.ssl_target_name_override", server_name))
    if tls_root is None:
        return grpc.aio.insecure_channel(endpoint, options=opts)
    creds = grpc.ssl_channel_credentials(
        root_certificates=tls_root, private_key=client_key, certificate_chain=client_cert
    )
    return grpc.aio.secure_channel(endpoint, creds, options=opts)
