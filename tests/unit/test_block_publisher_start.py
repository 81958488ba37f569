"""The block publisher's start (streams.block_publisher.Publisher._start): where it resumes, and
what its gauge says before any new block comes."""

from __future__ import annotations

from typing import Any

import pytest

from streams import block_publisher
from streams.block_publisher import LAST_BLOCK, Publisher, PublisherConfig

CFG = PublisherConfig("127.0.0.1:1", "gx.fabric.events", "gx.fabric.blocks", "gxchannel", 6, "tx-id")


def _start(monkeypatch: pytest.MonkeyPatch, last: tuple[int, bytes] | None) -> tuple[Publisher, int]:
    monkeypatch.setattr(block_publisher, "last_marker", lambda *a, **k: last)
    monkeypatch.setattr(Publisher, "_new_producer", lambda self: object())

    async def no_blocks(start: int) -> Any:
        if False:
            yield start

    p = Publisher(CFG, no_blocks)
    return p, p._start()


def test_a_restarted_publisher_says_the_last_block_on_kafka_before_any_new_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a restart on an idle ledger no block comes for a while: the gauge (and the alert on
    unpublished events that reads it) must say the block already on Kafka, not 0."""
    LAST_BLOCK.set(0)
    p, start = _start(monkeypatch, (1872, b"h"))
    assert start == 1873 and p.last_block == 1872
    assert LAST_BLOCK._value.get() == 1872


def test_a_publisher_on_an_empty_topic_starts_at_block_0(monkeypatch: pytest.MonkeyPatch) -> None:
    p, start = _start(monkeypatch, None)
    assert start == 0 and p.last_block is None
