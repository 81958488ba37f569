"""Record size limits, one place for every producer, topic and consumer of the pipeline.

- ``MAX_RECORD_BYTES``: every topic's ``max.message.bytes`` and every producer's
  ``message.max.bytes`` (Kafka's 1 MiB), so what one side accepts the next can hold;
- ``MAX_EVENT_BYTES``: the largest event envelope the block publisher publishes (it dead-letters a
  bigger one as EVENT_TOO_LARGE): a little under the record limit, which leaves room for the key
  and the headers, so a dead letter of any published event fits its dead-letter topic whole;
- ``MAX_REASON_BYTES``: a dead letter's ``reason`` header is cut to this (a database's message can
  quote a whole value).
"""

from __future__ import annotations

MAX_RECORD_BYTES = 1_048_576
MAX_EVENT_BYTES = 1_000_000
MAX_REASON_BYTES = 1000
# Room a record needs besides its key, value and headers (batch and record headers), kept free.
RECORD_OVERHEAD_BYTES = 1024
