"""The calls to Fabric one attempt makes for a command, over its AttemptState.

A committed command is never sent twice: every transaction sent is kept in ``state.sent``; after
a send or a status read that failed (the transaction may have committed anyway) the next attempt
first asks for their commit statuses, newest first, and endorses a new one only if none committed.
A new transaction carries the same requestId, so the chaincode applies the command at most once:
when it answers with an earlier transaction's result (that one applied the requestId, or recorded
its rejection), nothing is sent and that transaction is the one found.

While a sent transaction waits for its block, the same signed transaction is sent again when a
later one has committed first, or after ``resubmit_after`` seconds without its block
(fabric_gateway.commits): an orderer that died with it in its batch lost it, and nothing else
would tell before the commit timeout (a minute). A copy that is ordered too is only ever
DUPLICATE_TXID; the first copy's validation is the transaction's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fabric_gateway import CommitError, CommitStatusError, Endorsed, SubmitError
from gxcommon import logs
from streams.submitter.answer import Answer
from streams.submitter.hooks import Hooks
from streams.submitter.ports import CommitSource, Gateway
from streams.submitter.publish import Publisher
from streams.submitter.state import AttemptState, Found

log = logs.get("gx.submitter")


@dataclass
class Ledger:
    gateway: Gateway
    channel: str
    chaincode: str
    hooks: Hooks
    publisher: Publisher  # the SUBMITTED progress result after each send
    # Commit statuses of the transactions sent: from one block stream shared by the partitions,
    # or, when None, one CommitStatus call per transaction. Re-checks always call.
    commits: CommitSource | None = None
    recheck_timeout: float = 5.0  # how long a re-check waits for a transaction sent earlier
    commit_timeout: float = 60.0  # how long the block stream is waited on for a new one
    resubmit_after: float = 20.0  # seconds without its block before a transaction is sent again

    async def find(self, state: AttemptState) -> Found:
        """The command's transaction committed VALID: one in doubt from an earlier attempt, else
        a new one (:meth:`send`). CommitError if it committed invalid (no longer in ``state.sent``);
        any GatewayError of the calls."""
        found = await self.recheck(state) or await self.send(state)
        s = found.status
        if not s.successful:
            state.drop(s.tx_id)
            raise CommitError(s.tx_id, s.code, s.block)
        return found

    async def recheck(self, state: AttemptState) -> Found | None:
        """When ``state.unsure``: a sent transaction found VALID, or None (then nothing is in
        doubt any more). None at once otherwise. CommitStatusError as :meth:`committed_among`."""
        if not state.unsure:
            return None
        found = await self.committed_among(state)
        state.settled()
        return found

    async def send(self, state: AttemptState) -> Found:
        """Endorse a new transaction and, unless the chaincode answers that an earlier one applied
        the requestId (then that one's status), submit it and wait for its commit status.
        EndorseError, SubmitError, CommitStatusError: ``state.unsure`` stays set once it may
        have been sent."""
        cmd = state.command
        tx = await self.gateway.endorse(self.channel, self.chaincode, cmd.function, cmd.args)
        answer = Answer.read(tx.result, tx.tx_id)
        if answer.applied_by != tx.tx_id:
            # Committed already (endorsement reads committed state): nothing is sent again.
            status = await self.gateway.commit_status(answer.applied_by, self.channel, timeout=self.recheck_timeout)
            return Found(status, answer)
        state.sending(tx.tx_id, answer)
        # Expected before it is sent, so its block cannot pass unseen.
        waiter = self.commits.expect(tx.tx_id) if self.commits is not None else None
        try:
            if waiter is not None:
                waiter.submitted()
            await self.gateway.submit(tx)
            self.hooks.submitted()
            state.submitted_at = datetime.now(UTC)
            await self.publisher.progress(state, tx.tx_id)
            if waiter is not None:
                resend = lambda: self._resubmit(tx)  # noqa: E731
                status = await waiter.wait(self.commit_timeout, resend, self.resubmit_after)
            else:
                status = await self.gateway.commit_status(tx)
        finally:
            if waiter is not None:
                waiter.close()
        state.settled()
        return Found(status, answer)

    async def _resubmit(self, tx: Endorsed) -> None:
        """Send ``tx`` again (the same signed transaction). A failure is logged, not raised: the
        wait goes on, and the next chance to send it comes."""
        try:
            await self.gateway.submit(tx)
        except SubmitError as e:
            log.warning("transaction not sent again", txId=tx.tx_id, error=str(e)[:300])
            return
        self.hooks.resubmitted()
        log.info("transaction sent again: not in a block yet", txId=tx.tx_id)

    async def committed_among(self, state: AttemptState, quiet: bool = False) -> Found | None:
        """A transaction of ``state.sent`` that committed VALID (newest first), with the answer
        its endorsement carried (the result, or the rejection the chaincode recorded), or None.

        Those found invalid are dropped from ``state.sent``; one still not committed after
        ``recheck_timeout`` counts as not committed (a later one may conflict with it, never both
        apply). CommitStatusError if a status cannot be read at all (Fabric unreachable), unless
        ``quiet``.
        """
        for sent in state.newest_first():
            try:
                status = await self.gateway.commit_status(sent.tx_id, self.channel, timeout=self.recheck_timeout)
            except CommitStatusError as e:
                if quiet or (e.code is not None and e.code.name == "DEADLINE_EXCEEDED"):
                    continue
                raise
            if status.successful:
                # What this transaction recorded (its endorsement's answer): a rejection recorded
                # in it is the ledger's word on the command, whichever attempt finds it.
                return Found(status, sent.answer)
            state.drop(sent.tx_id)
        return None
