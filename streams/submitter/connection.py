"""The submitter's connection to Fabric: the gRPC channel, the Gateway client on it and the
commit-status block stream, made on first use inside the running event loop (a grpc.aio channel
must be) and shared by every partition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc

from fabric_gateway import Gateway, Identity, Signer
from fabric_gateway.commits import CommitWatcher
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
    """``commit_stream``: read commit statuses from one block stream (else one call each);
    ``on_connected``: called each time the channel becomes connected (READY) after it was not
    (the peer is reachable again).

    ``identity`` signs the administrative commands; the user-level ones are signed by the identity
    of GX_FABRIC_COMMANDS_CERT/KEY (read here, before the loop: SettingsError), else by ``identity``
    too (permissions.ScopedGateway)."""

    def __init__(
        self,
        f: FabricSettings,
        identity: Identity,
        signer: Signer,
        commit_stream: bool = True,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.f, self.identity, self.signer, self.commit_stream = f, identity, signer, commit_stream
        self.on_connected = on_connected
        self.commands_identity = f.commands_identity()
        self.channel: grpc.aio.Channel | None = None
        self.gateway: Gateway | None = None
        self.scoped: ScopedGateway | None = None
        self.commits: CommitWatcher | None = None
        self._watcher: asyncio.Task[None] | None = None

    def open(self) -> ScopedGateway:
        """The Gateway, made (and the block stream started) on the first call. Inside the loop."""
        if self.scoped is None:
            self.channel = self.f.grpc_channel()
            self.gateway = Gateway(self.channel, self.identity, self.signer, tls_cert_hash=self.f.tls_cert_hash())
            commands = self.gateway
            if self.commands_identity is not None:
                commands = Gateway(self.channel, *self.commands_identity, tls_cert_hash=self.f.tls_cert_hash())
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
            if self.on_connected is not None:
                self._watcher = asyncio.create_task(self._watch(self.channel, self.on_connected))
        return self.scoped

    async def connected(self, timeout: float) -> bool:
        """Whether the channel is connected (READY) within ``timeout`` seconds (it tries to connect).
        True before the channel is made: nothing to wait for."""
        if self.channel is None:
            return True
        try:
            await asyncio.wait_for(self.channel.channel_ready(), timeout)
        except TimeoutError:
            return False
        return True

    @staticmethod
    async def _watch(channel: grpc.aio.Channel, on_connected: Callable[[], None]) -> None:
        """Call ``on_connected`` at each move of ``channel`` to READY from another state. Waits on
        gRPC's state changes (no polling); asks an idle channel to connect, so that a peer that
        comes back is found by the channel's own reconnection (backoff capped at 2 s)."""
        ready = grpc.ChannelConnectivity.READY
        try:
            state = channel.get_state(try_to_connect=True)
            while True:
                await channel.wait_for_state_change(state)
                new = channel.get_state(try_to_connect=True)
                if new is ready and state is not ready:
                    log.info("gateway channel connected", was=state.name)
                    on_connected()
                state = new
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the channel closed under it: nothing more to watch
            log.warning("gateway channel no longer watched", error=f"{type(e).__name__}: {e}"[:300])

    async def close(self) -> None:
        """Stop the block stream and close the channel (the Gateway cannot be used after)."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        if self.commits is not None:
            await self.commits.stop()
        if self.channel is not None:
            await self.channel.close()
