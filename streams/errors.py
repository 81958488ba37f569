"""The streams package's root error. Its leaves live beside what raises them: WindowError
(streams.window), PublisherFenced and ChainBroken (streams.block_publisher)."""

from __future__ import annotations

from gxerrors import GxError


class StreamsError(GxError):
    """Root of every error raised by streams/."""
