"""The submitter's Faust edge: records in, results and dead letters out, exact offsets committed,
a partition's fetch stopped and started again.

What this relies on in faust-streaming 0.15.3 (its private ``Consumer._commit``; the records
``Consumer.getmany`` yields of a partition whose fetch stopped) is pinned by
tests/unit/test_submitter_faust_io.py, which fails if Faust changes it.
"""

from __future__ import annotations

from collections.abc import Mapping

import faust
from faust.types import TP, ConsumerT
from faust.types.tuples import Message

from gxcommon.dlq import dead_letter_headers
from schemas.envelopes import CommandResult
from streams import metrics as m
from streams.submitter.record import Record


def record_of(msg: Message) -> Record:
    """The Record of a consumed message; header values that are not bytes are encoded as text (a
    header without a value: empty). Never raises."""
    raw = msg.headers.items() if isinstance(msg.headers, Mapping) else (msg.headers or [])
    return Record(
        msg.topic,
        msg.partition,
        msg.offset,
        msg.key,
        msg.value or b"",
        tuple((str(k), v if isinstance(v, bytes) else b"" if v is None else str(v).encode()) for k, v in raw),
    )


# What a record batch adds to its records' bytes, and our own headers, with room to spare.
DEAD_LETTER_OVERHEAD = 4096


class FaustSink:
    """Results and dead letters through the app's producer; final ones are awaited until delivered
    (the ResultsSink port). A send's errors are the producer's (e.g. a KafkaTimeoutError).

    ``max_bytes``: the largest record the producer sends (Faust's producer_max_request_size). A
    dead letter that would be larger (a record near the size limit, plus the headers that say why)
    is sent without the value, which stays on its source topic (``valueOmitted`` names its size,
    the reason where to read it): it could never be sent whole, and retrying it would stop its
    partition for good.
    """

    def __init__(self, results: faust.TopicT, dlq: faust.TopicT, max_bytes: int = 1_000_000) -> None:
        self.results, self.dlq, self.max_bytes = results, dlq, max_bytes

    async def result(self, key: bytes, result: CommandResult) -> None:
        # force=True: never attach the send to whichever Faust event happens to be current.
        fut = await self.results.send(key=key, value=result.model_dump_json().encode(), force=True)
        if not result.status.final:
            return
        await fut  # delivered before the command's record can be acked
        m.COMMANDS_PROCESSED.labels(result.status.value).inc()
        if result.attempts:
            m.ATTEMPTS.observe(result.attempts)
        if result.timings.durationMs is not None:
            m.COMMAND_DURATION.observe(result.timings.durationMs / 1000)

    async def dead_letter(self, record: Record, reason: str, error_code: str, attempts: int) -> None:
        # The original headers (id, commandType, requestId, tenantId, service) stay, so that
        # `gxctl dlq replay` can re-send the record as it was; ours say why and from where.
        value: bytes | None = record.value
        if record.size + len(reason) + DEAD_LETTER_OVERHEAD > self.max_bytes:
            reason = (
                f"{reason}; the value ({len(record.value)} bytes) is too large to copy here: "
                f"read it at {record.topic}[{record.partition}]@{record.offset}"
            )
            value = None
        headers = dict(record.headers) | dead_letter_headers(
            reason, error_code, record.topic, record.partition, record.offset, attempts
        )
        if value is None:
            headers["valueOmitted"] = str(len(record.value)).encode()
        await (await self.dlq.send(key=record.key, value=value, headers=headers, force=True))
        m.DEAD_LETTERS.labels(error_code).inc()


async def commit_exactly(consumer: ConsumerT, offsets: Mapping[TP, int]) -> bool:
    """Commit exactly ``offsets`` (per partition, the next offset to read) of the partitions this
    member is still assigned; True if Kafka took them. False when Kafka refused (the group already
    rebalanced) or the driver failed (Faust logs it); other errors raise.

    This calls Faust's private ``Consumer._commit`` because faust-streaming 0.15.3 has no public
    call that commits given offsets: the public ``Consumer.commit(topics)`` commits what Faust's
    own ack bookkeeping allows, and Faust drops that bookkeeping for revoked partitions
    (``Consumer.on_partitions_revoked``, transport/consumer.py ~662) before the app's
    ``on_partitions_revoked`` signal runs, so there it would commit nothing. ``_commit`` is the
    step Faust's own commit path ends in (``_commit_offsets``): the driver's commit of exactly
    these offsets. tests/unit/test_submitter_faust_io.py fails if its shape changes.
    """
    return await consumer._commit(offsets)  # type: ignore[attr-defined]  # ConsumerT does not declare it


def stop_fetching(consumer: ConsumerT, tp: TP) -> None:
    """Stop fetching partition ``tp`` without losing a record of it: what the consumer already
    fetched of it is still handed to the streams (the caller takes it), nothing more is fetched
    until :func:`fetch_again`. Idempotent: call it again whenever Faust may have let the partition
    fetch meanwhile.

    This is Faust's own per-partition flow control, ``Consumer.on_buffer_full`` (what its
    conductor calls when a stream's buffer is under pressure): the partition leaves the set
    fetched from and joins the "buffered" ones, whose records of a batch already fetched
    ``Consumer.getmany`` still yields (transport/consumer.py ~757-761). Never
    ``pause_partitions``: getmany drops the records of a batch already fetched whose partition was
    paused meanwhile (the fetcher's position is already past them), and the next record delivered
    then looks like a gap, which Faust counts as acknowledged, so its commit would pass records
    never processed (tests/unit/test_submitter_faust_io.py shows both on Faust's own code). A
    rebalance sets every assigned partition fetching again; a partition assigned again starts so.
    """
    consumer.on_buffer_full(tp)


def fetch_again(consumer: ConsumerT, tp: TP) -> None:
    """Fetch partition ``tp`` again after :func:`stop_fetching`, from where the consumer stopped
    (``Consumer.on_buffer_drop``)."""
    consumer.on_buffer_drop(tp)
