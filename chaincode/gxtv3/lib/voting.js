'use strict';
/*
 * The rules of a vote, as pure functions of a proposal record, a user record and a time (issue 31
 * finding 4). A proposal keeps what it was submitted under: `submittedAt` and `votingEndsAt`
 * (transaction timestamps, milliseconds) and the `quorum` and `thresholdBps` in force then, so a
 * parameter changed during the vote does not change its rules.
 *
 * - Only users who existed when it was submitted vote (created strictly before `submittedAt`):
 *   users made for the vote a moment later count for nothing.
 * - Votes are cast while it is open (before `votingEndsAt`); it is decided only after that.
 * - It passes when at least `quorum` votes were cast and FOR is more than `thresholdBps` of them
 *   (5000: more than half; a tie fails). Otherwise it is REJECTED, and the parameter is untouched.
 */
const { BusinessError } = require('./ledger');
const { iso } = require('./clock');
const { show } = require('./text');

/** The record a new proposal starts with. Pure. */
function newProposal(fields, now, periodSeconds, quorum, thresholdBps) {
    return { ...fields, status: 'OPEN', votesFor: 0, votesAgainst: 0, submittedAt: now,
        votingEndsAt: now + Number(periodSeconds) * 1000, quorum: Number(quorum), thresholdBps: Number(thresholdBps) };
}

/** Throws unless ``voter`` may vote on ``p`` at ``now``. Pure. */
function mayVote(p, voter, now) {
    if (p.status !== 'OPEN') {
        throw new BusinessError(`proposal ${show(p.proposalId)} is ${p.status.toLowerCase()}, not open`, 'CONFLICT');
    }
    if (now >= p.votingEndsAt) {
        throw new BusinessError(`voting on proposal ${show(p.proposalId)} closed at ${iso(p.votingEndsAt)}`,
            'VOTING_CLOSED');
    }
    if (typeof voter.createdAt !== 'number' || voter.createdAt >= p.submittedAt) {
        throw new BusinessError(`voter ${show(voter.userId)} was created after proposal ${show(p.proposalId)} was `
            + 'submitted: only users who existed then may vote', 'NOT_ELIGIBLE');
    }
}

/** {status, reason} of ``p`` decided at ``now``; throws VOTING_OPEN before its period ends. Pure. */
function decide(p, now) {
    if (p.status !== 'OPEN') {
        throw new BusinessError(`proposal ${show(p.proposalId)} is already ${p.status.toLowerCase()}`, 'CONFLICT');
    }
    if (now < p.votingEndsAt) {
        throw new BusinessError(`proposal ${show(p.proposalId)} is open for votes until ${iso(p.votingEndsAt)}`,
            'VOTING_OPEN');
    }
    const cast = p.votesFor + p.votesAgainst;
    if (cast < p.quorum) {
        return { status: 'REJECTED', reason: `${cast} vote(s) cast, the quorum is ${p.quorum}` };
    }
    if (BigInt(p.votesFor) * 10000n <= BigInt(p.thresholdBps) * BigInt(cast)) {
        return { status: 'REJECTED', reason: `${p.votesFor} of ${cast} votes FOR is not more than `
            + `${p.thresholdBps / 100} %` };
    }
    return { status: 'EXECUTED', reason: `${p.votesFor} of ${cast} votes FOR, quorum ${p.quorum}` };
}

module.exports = { newProposal, mayVote, decide };
