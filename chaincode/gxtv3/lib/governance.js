'use strict';
/*
 * GovernanceContract: proposals to change a governable system parameter (lib/params.js); one vote
 * per eligible voter while the proposal is open; after its voting period, ExecuteProposal decides
 * it by its quorum and threshold (lib/voting.js): EXECUTED sets the parameter, REJECTED leaves it.
 * A proposal's value goes through the same validator as UpdateSystemParameter's, when it is
 * submitted and again when it is executed.
 */
const { GxContract, BusinessError, required, userId, MAX_ID } = require('./ledger');
const { intParam } = require('./params');
const { newProposal, mayVote, decide } = require('./voting');
const { txMillis, iso } = require('./clock');
const { show } = require('./text');
const { proposableValue } = require('./params');

class GovernanceContract extends GxContract {
    constructor() {
        super('GovernanceContract');
    }

    async SubmitProposal(ctx, tenantId, requestId, proposalId, proposerId, title, parameter, value) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            required('proposalId', proposalId, MAX_ID);
            for (const [f, v] of Object.entries({ title, parameter, value })) {
                required(f, v);
            }
            const canonical = proposableValue(parameter, value);
            await state.must('user', 'user', userId('proposerId', proposerId));
            if (await state.get('proposal', proposalId)) {
                throw new BusinessError(`proposal ${show(proposalId)} already exists`, 'ALREADY_EXISTS');
            }
            const params = await state.parameters();
            const p = newProposal({ proposalId, tenantId: state.tenant, proposerId, title, parameter, value: canonical },
                txMillis(state.stub), intParam(params, 'proposalVotingPeriodSeconds'), intParam(params, 'proposalQuorum'),
                intParam(params, 'proposalThresholdBps'));
            await state.put('proposal', p, proposalId);
            return { event: 'ProposalSubmitted', payload: { proposalId, proposerId, title, parameter, value: canonical },
                result: { votingEndsAt: iso(p.votingEndsAt), quorum: p.quorum, thresholdBps: p.thresholdBps } };
        });
    }

    async CastVote(ctx, tenantId, requestId, proposalId, voterId, vote) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            if (vote !== 'FOR' && vote !== 'AGAINST') {
                throw new BusinessError(`vote must be FOR or AGAINST, got ${show(vote)}`, 'INVALID_ARGUMENT');
            }
            const p = await state.must('proposal', 'proposal', proposalId);
            const voter = await state.must('user', 'user', userId('voterId', voterId));
            mayVote(p, voter, txMillis(state.stub));
            if (await state.get('vote', proposalId, voterId)) {
                throw new BusinessError(`${show(voterId)} has already voted on proposal ${show(proposalId)}`,
                    'ALREADY_EXISTS');
            }
            await state.put('vote', { proposalId, voterId, tenantId: state.tenant, vote }, proposalId, voterId);
            const counts = vote === 'FOR' ? { votesFor: p.votesFor + 1 } : { votesAgainst: p.votesAgainst + 1 };
            await state.put('proposal', { ...p, ...counts }, proposalId);
            return { event: 'VoteCast', payload: { proposalId, voterId, vote } };
        });
    }

    /** Decides a proposal once its voting period is over: EXECUTED (the parameter is set) or REJECTED. */
    async ExecuteProposal(ctx, tenantId, requestId, proposalId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const p = await state.must('proposal', 'proposal', proposalId);
            const { status, reason } = decide(p, txMillis(state.stub));
            const value = status === 'EXECUTED' ? proposableValue(p.parameter, p.value) : p.value;
            await state.put('proposal', { ...p, status }, proposalId);
            if (status === 'EXECUTED') {
                await state.put('system', { ...(await state.parameters()), [p.parameter]: value }, 'params');
            }
            return { event: 'ProposalExecuted', payload: { proposalId, status, parameter: p.parameter,
                value, votesFor: p.votesFor, votesAgainst: p.votesAgainst }, result: { status, reason } };
        });
    }
}

module.exports = GovernanceContract;
