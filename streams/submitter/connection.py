"""The submitter's connection to Fabric: the gRPC channel, the Gateway client on it and the
commit-status block stream, made on first use inside the running event loop (a grpc.aio channel
must be) and shared by every partition."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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
    """``commit_stream``: read commit statuses from one block stream (else one call each);
    ``on_connected``: called each time a channel becomes connected (READY) after it was not
    (a peer is reachable again). With several gateway endpoints (GX_FABRIC_GATEWAY=a,b) there is a
    channel per endpoint (fabric_gateway.failover), each watched.

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
        self.pool: ChannelPool | None = None  # several gateway endpoints: one channel each
        self._watchers: list[asyncio.Task[None]] = []

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
        """The scoped gateway over both identities' clients, the commit stream started and the
        channels watched."""
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
        if self.on_connected is not None:
            self._watchers = [asyncio.create_task(self._watch(ch, self.on_connected)) for ch in self._channels()]

    def _channels(self) -> list[grpc.aio.Channel]:
        """Every endpoint's channel (opened if not yet)."""
        if self.pool is not None:
            return [self.pool.get(i) for i in range(len(self.pool.names))]
        return [self.channel] if self.channel is not None else []

    async def connected(self, timeout: float) -> bool:
        """Whether some endpoint's channel is connected (READY) within ``timeout`` seconds (each
        tries to connect). True before the channels are made: nothing to wait for."""
        channels = self._channels() if self.scoped is not None else []
        if not channels:
            return True
        waits = [asyncio.ensure_future(ch.channel_ready()) for ch in channels]
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        return any(not w.cancelled() and w.exception() is None for w in done)

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
        for w in self._watchers:
            w.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        if self.commits is not None:
            await self.commits.stop()
        if self.channel is not None:
            await self.channel.close()
        if self.pool is not None:
            await self.pool.close()
