"""The submitter's metrics, under the names operators already chart."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS_PROCESSED = Counter("outbox_commands_processed", "Commands with a final result", ["status"])
COMMAND_DURATION = Histogram(
    "outbox_commands_processing_duration_seconds",
    "Receipt to final result",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
ATTEMPTS = Histogram(
    "outbox_command_attempts",
    "Fabric attempts a command took until its final result (1 = no retry)",
    buckets=(1, 2, 3, 4, 5, 10),
)
TX_SUBMITTED = Counter("fabric_transactions_submitted", "Transactions sent to the orderer")
TX_RESUBMITTED = Counter(
    "fabric_transactions_resubmitted",
    "Transactions sent again, the same signed one: overtaken by a later one, or long without their block",
)
TX_DURATION = Histogram(
    "fabric_transaction_submission_duration_seconds",
    "Endorse to commit status, one attempt",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30),
)
ENDORSE_FAILURES = Counter("fabric_endorsement_failures", "Failed attempts", ["kind"])
CHAINCODE_REFUSALS = Counter(
    "submitter_chaincode_refusals",
    "Attempts the chaincode refused by throwing, recording nothing (FORBIDDEN: a grant missing or "
    "rotated; ERROR: an unexpected error), by the chaincode's code; retried, then dead-lettered as CHAINCODE_REFUSED",
    ["code"],
)
for _code in ("FORBIDDEN", "ERROR"):  # exported at 0 from the start, so the first refusals are an increase
    CHAINCODE_REFUSALS.labels(_code)
BREAKER_STATE = Gauge("circuit_breaker_state", "0 closed, 1 open, 2 half-open", ["name"])
BREAKER_FAILURES = Counter("circuit_breaker_failures", "Transient failures counted by the breaker", ["name"])
IN_FLIGHT = Gauge("submitter_commands_in_flight", "Commands being submitted, all partitions")
DEAD_LETTERS = Counter("submitter_dead_letters", "Records sent to the commands DLQ", ["error_code"])
CONSUMER_LAG = Gauge(
    "submitter_consumer_lag",
    "Records on gx.commands (and gx.commands.direct) not yet consumed, per partition",
    ["topic", "partition"],
)
INTERNAL_ERRORS = Gauge("submitter_internal_errors", "Unexpected errors inside attempts since start (each retried)")
PUBLISH_STALLED = Gauge("submitter_publish_stalled_seconds", "How long a final result has failed to publish (0: none)")
BACKLOG = Gauge("submitter_backlog", "Records taken but waiting for a free window slot, all partitions")
PARTITIONS_PAUSED = Gauge(
    "submitter_partitions_paused", "Partitions of gx.commands not fetched: their backlog reached its cap"
)
PARTITION_PAUSES = Counter(
    "submitter_partition_pauses", "Times a partition stopped fetching: its backlog reached its cap"
)
PARTITION_RESUMES = Counter(
    "submitter_partition_resumes", "Times a paused partition fetched again (its backlog down to half the cap)"
)
COMMIT_STREAM_BREAKS = Counter(
    "submitter_commit_stream_breaks", "Times the commit status block stream failed and was opened again"
)
COMMIT_STREAM_BLOCK = Gauge("submitter_commit_stream_block", "The last block the commit status stream read")
COMMIT_STATUSES = Counter(
    "submitter_commit_statuses",
    "Commit statuses of transactions sent, by where they came from "
    "(stream: the block stream; call: a CommitStatus call, before the stream was up)",
    ["source"],
)
AGENT_STARTS = Counter(
    "submitter_agent_starts",
    "Times the submitter's agent started: 1 for the process, more if Faust's supervisor restarted it after a crash",
)
