"""The submitter's connection to Fabric: the gRPC channel, the Gateway client on it and the
commit-status block stream, made on first use inside the running event loop (a grpc.aio channel
must be) and shared by every partition."""

from __future__ import annotations

import grpc

from fabric_gateway import Gateway, Identity, Signer
from fabric_gateway.commits import CommitWatcher
from fabric_gateway.failover import ChannelPool
from gxcommon import logs
from gxcommon.fabric_settings import FabricSettings
from streams import metrics as m
from streams.submitter.permissions import ScopedGateway

log = logs.get("gx.submitter")


def _stream_broke(err: BaseException, seconds: float) -> None:
    m.COMMIT_STREAM_BREAKS.inc()
    log.warning(
        "commit status stream broke; commands wait for its return (or ask per transaction)",
        error=f"{type(err).__name__}: {err}"[:300],
        retry_in_s=round(seconds, 2),
    )


def _status_answered(source: str) -> None:
    m.COMMIT_STATUSES.labels(source).inc()


class FabricConnection:
    """``commit_stream``: read commit statuses from one block stream (else one call each).

    ``identity`` signs the administrative commands; the user-level ones are signed by the identity
    of GX_FABRIC_COMMANDS_CERT/KEY (read here, before the loop: SettingsError), else by ``identity``
    too (permissions.ScopedGateway)."""

    def __init__(self, f: FabricSettings, identity: Identity, signer: Signer, commit_stream: bool = True) -> None:
        self.f, self.identity, self.signer, self.commit_stream = f, identity, signer, commit_stream
        self.commands_identity = f.commands_identity()
        self.channel: grpc.aio.Channel | None = None
        self.gateway: Gateway | None = None
        self.scoped: ScopedGateway | None = None
        self.commits: CommitWatcher | None = None
        self.pool: ChannelPool | None = None  # several gateway endpoints: one channel each

    def open(self) -> ScopedGateway:
        """The Gateway, made (and the block stream started) on the first call. Inside the loop."""
        if self.scoped is None and len(self.f.gateways()) > 1:
            # Failover (fabric_gateway.failover): both identities and the commit stream move to the
            # next endpoint together when the current one is unreachable.
            identities = [(self.identity, self.signer)]
            if self.commands_identity is not None:
                identities.append(self.commands_identity)
            gateways, self.pool = self.f.failover(identities)
            self.gateway, commands = gateways[0], gateways[-1]
            self._scope(commands)
        elif self.scoped is None:
            self.channel = self.f.grpc_channel()
            self.gateway = Gateway(self.channel, self.identity, self.signer, tls_cert_hash=self.f.tls_cert_hash())
            commands = self.gateway
            if self.commands_identity is not None:
                commands = Gateway(self.channel, *self.commands_identity, tls_cert_hash=self.f.tls_cert_hash())
            self._scope(commands)
        assert self.scoped is not None
        return self.scoped

    def _scope(self, commands: Gateway) -> None:
        """The scoped gateway over both identities' clients, and the commit stream started."""
        assert self.gateway is not None
        self.scoped = ScopedGateway(self.gateway, commands)
        if self.commit_stream:
            self.commits = CommitWatcher(
                self.gateway,
                self.f.channel,
                on_break=_stream_broke,
                on_block=m.COMMIT_STREAM_BLOCK.set,
                on_answer=_status_answered,
            )
            self.commits.start()

    async def close(self) -> None:
        """Stop the block stream and close the channel (the Gateway cannot be used after)."""
        if self.commits is not None:
            await self.commits.stop()
        if self.channel is not None:
            await self.channel.close()
        if self.pool is not None:
            await self.pool.close()
