'use strict';
/*
 * GovernanceContract: proposals to change a system parameter; one vote per voter; executing a
 * proposal with more FOR than AGAINST votes sets the parameter, otherwise rejects it. A proposal's
 * value goes through the same validator as UpdateSystemParameter's (lib/params.js), when it is
 * submitted and again when it is executed.
 */
const { GxContract, BusinessError, required, userId } = require('./ledger');
const { proposableValue } = require('./params');

class GovernanceContract extends GxContract {
    constructor() {
        super('GovernanceContract');
    }

    async SubmitProposal(ctx, tenantId, requestId, proposalId, proposerId, title, parameter, value) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            for (const [f, v] of Object.entries({ proposalId, title, parameter, value })) {
                required(f, v);
            }
            const canonical = proposableValue(parameter, value);
            await state.must('user', 'user', userId('proposerId', proposerId));
            if (await state.get('proposal', proposalId)) {
                throw new BusinessError(`proposal ${proposalId} already exists`, 'ALREADY_EXISTS');
            }
            await state.put('proposal', { proposalId, tenantId: state.tenant, proposerId, title, parameter, value: canonical, status: 'OPEN',
                votesFor: 0, votesAgainst: 0 }, proposalId);
            return { event: 'ProposalSubmitted', payload: { proposalId, proposerId, title, parameter, value: canonical } };
        });
    }

    async CastVote(ctx, tenantId, requestId, proposalId, voterId, vote) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            if (vote !== 'FOR' && vote !== 'AGAINST') {
                throw new BusinessError(`vote must be FOR or AGAINST, got ${JSON.stringify(vote)}`, 'INVALID_ARGUMENT');
            }
            const p = await state.must('proposal', 'proposal', proposalId);
            if (p.status !== 'OPEN') {
                throw new BusinessError(`proposal ${proposalId} is ${p.status.toLowerCase()}, not open`, 'CONFLICT');
            }
            await state.must('user', 'user', userId('voterId', voterId));
            if (await state.get('vote', proposalId, voterId)) {
                throw new BusinessError(`${voterId} has already voted on proposal ${proposalId}`, 'ALREADY_EXISTS');
            }
            await state.put('vote', { proposalId, voterId, tenantId: state.tenant, vote }, proposalId, voterId);
            const counts = vote === 'FOR' ? { votesFor: p.votesFor + 1 } : { votesAgainst: p.votesAgainst + 1 };
            await state.put('proposal', { ...p, ...counts }, proposalId);
            return { event: 'VoteCast', payload: { proposalId, voterId, vote } };
        });
    }

    async ExecuteProposal(ctx, tenantId, requestId, proposalId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const p = await state.must('proposal', 'proposal', proposalId);
            if (p.status !== 'OPEN') {
                throw new BusinessError(`proposal ${proposalId} is already ${p.status.toLowerCase()}`, 'CONFLICT');
            }
            const status = p.votesFor > p.votesAgainst ? 'EXECUTED' : 'REJECTED';
            const value = status === 'EXECUTED' ? proposableValue(p.parameter, p.value) : p.value;
            await state.put('proposal', { ...p, status }, proposalId);
            if (status === 'EXECUTED') {
                await state.put('system', { ...(await state.parameters()), [p.parameter]: value }, 'params');
            }
            return { event: 'ProposalExecuted', payload: { proposalId, status, parameter: p.parameter,
                value, votesFor: p.votesFor, votesAgainst: p.votesAgainst } };
        });
    }
}

module.exports = GovernanceContract;
