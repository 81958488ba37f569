"""The submitter: each command of gx.commands endorsed, submitted and confirmed on Fabric, its
result published to gx.command-results (and, when it cannot be applied, its record to the
dead-letter topic). The core names no transport (its ports are Protocols); Faust is at the edge.

Per command: read the record (a key and headers in UTF-8, no larger than a command can be) and
validate its envelope and payload (otherwise: REJECTED and dead-lettered with the reason, no
attempt, in its place in the window); map it to its chaincode call; endorse, submit (a SUBMITTED
progress result only when asked for), read the commit status. A committed transaction's answer is
the command's result: CONFIRMED, or FAILED with the rejection the chaincode recorded in it. Only
that, a requestId recorded for another command and a transaction committed invalid are final;
anything else (an error the chaincode throws included) is retried, up to the policy's limits,
then FAILED and dead-lettered. A committed command is never reported FAILED and never sent twice.
A record finishes only when its final result (and dead letter) is published; its offset is never
committed before. One INFO log line per command: its final result.

The core, one concept a module:
    record.py           Record (a consumed record) and Final (its final result)
    ports.py            the Gateway, CommitSource and ResultsSink ports (Protocols)
    hooks.py            Hooks: what a partition's submitter tells its owner
    gate.py             BreakerGate: the breaker shared by the partitions, waited on
    command.py          a record read as a command (validated, mapped to its chaincode call)
    permissions.py      who may send which command, and which identity signs it
    answer.py           what the chaincode's response says
    state.py            AttemptState: one command's attempts so far, and its pure transitions
    results.py          the results a command ends in (pure)
    ledger.py           the calls to Fabric an attempt makes
    process.py          CommandProcessor: one command from its record to its final result
    publish.py          Publisher: final results retried until delivered, progress best-effort
    partition.py        PartitionSubmitter: a partition's window, backlog and tasks
The Faust edge:
    faust_io.py         records in, results out, exact offsets committed
    partition_hooks.py  the agent's hooks: acks in offset order, room, metrics, exit
    connection.py       the channel, Gateway client and commit-status stream
    partitions.py       Submitters: a PartitionSubmitter per assigned partition, revocation
    agent.py            install(): the Faust agent, its watcher and its signals
"""

from streams.submitter.gate import BreakerGate
from streams.submitter.hooks import Hooks
from streams.submitter.partition import PartitionSubmitter
from streams.submitter.ports import CommitSource, CommitWaiter, Gateway, ResultsSink
from streams.submitter.record import Final, Record

__all__ = [
    "BreakerGate",
    "CommitSource",
    "CommitWaiter",
    "Final",
    "Gateway",
    "Hooks",
    "PartitionSubmitter",
    "Record",
    "ResultsSink",
]
