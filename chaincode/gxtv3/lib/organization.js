'use strict';
/*
 * OrganizationContract: multi-signature accounts. An organization is proposed (its proposer is its
 * first member), gains members, is activated (its wallet has the org's id), and moves funds only
 * through a multisig transaction with at least `requiredApprovals` distinct member approvals.
 */
const { GxContract, BusinessError, amount, required } = require('./ledger');

async function activeOrg(state, orgId) {
    const org = await state.must('org', 'organization', orgId);
    if (org.status !== 'ACTIVE') {
        throw new BusinessError(`organization ${orgId} is not active`);
    }
    return org;
}

function member(org, userId, role) {
    if (!org.members.includes(userId)) {
        throw new BusinessError(`${role} ${userId} is not a member of organization ${org.orgId}`);
    }
}

class OrganizationContract extends GxContract {
    constructor() {
        super('OrganizationContract');
    }

    async ProposeOrganization(ctx, tenantId, requestId, orgId, name, proposerId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            required('orgId', orgId);
            required('name', name);
            await state.must('user', 'user', proposerId);
            if (await state.get('org', orgId)) {
                throw new BusinessError(`organization ${orgId} already exists`, 'ALREADY_EXISTS');
            }
            await state.put('org', { orgId, name, proposerId, status: 'PROPOSED', members: [proposerId],
                requiredApprovals: 1 }, orgId);
            return { event: 'OrganizationProposed', payload: { orgId, name, proposerId } };
        });
    }

    async EndorseMembership(ctx, tenantId, requestId, orgId, userId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await state.must('org', 'organization', orgId);
            await state.must('user', 'user', userId);
            if (org.members.includes(userId)) {
                throw new BusinessError(`user ${userId} is already a member of organization ${orgId}`);
            }
            await state.put('org', { ...org, members: [...org.members, userId] }, orgId);
            return { event: 'MembershipEndorsed', payload: { orgId, userId } };
        });
    }

    async ActivateOrganization(ctx, tenantId, requestId, orgId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await state.must('org', 'organization', orgId);
            if (org.status !== 'PROPOSED') {
                throw new BusinessError(`organization ${orgId} is already ${org.status.toLowerCase()}`);
            }
            if (await state.get('wallet', orgId)) {
                throw new BusinessError(`wallet ${orgId} already exists`, 'ALREADY_EXISTS');
            }
            await state.put('wallet', { walletId: orgId, ownerId: orgId, ownerType: 'ORGANIZATION', balance: 0n,
                frozen: false, frozenReason: null }, orgId);
            await state.put('org', { ...org, status: 'ACTIVE' }, orgId);
            return { event: 'OrganizationActivated', payload: { orgId, walletId: orgId } };
        });
    }

    async DefineAuthRule(ctx, tenantId, requestId, orgId, requiredApprovalsText) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await activeOrg(state, orgId);
            const n = Number(amount('requiredApprovals', requiredApprovalsText));
            if (n > org.members.length) {
                throw new BusinessError(`requiredApprovals ${n} exceeds the ${org.members.length} members of ${orgId}`);
            }
            await state.put('org', { ...org, requiredApprovals: n }, orgId);
            return { event: 'AuthRuleDefined', payload: { orgId, requiredApprovals: n } };
        });
    }

    async InitiateMultiSigTx(ctx, tenantId, requestId, orgId, multisigTxId, initiatorId, toWalletId, amountText) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await activeOrg(state, orgId);
            member(org, initiatorId, 'initiator');
            required('multisigTxId', multisigTxId);
            const value = amount('amount', amountText);
            await state.wallet(toWalletId);
            if (await state.get('msig', orgId, multisigTxId)) {
                throw new BusinessError(`multisig transaction ${multisigTxId} already exists in ${orgId}`, 'ALREADY_EXISTS');
            }
            await state.put('msig', { orgId, multisigTxId, initiatorId, toWalletId, amount: value.toString(),
                approvals: [], status: 'PENDING' }, orgId, multisigTxId);
            return { event: 'MultiSigTxInitiated',
                payload: { orgId, multisigTxId, initiatorId, toWalletId, amount: value } };
        });
    }

    async ApproveMultiSigTx(ctx, tenantId, requestId, orgId, multisigTxId, approverId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await activeOrg(state, orgId);
            member(org, approverId, 'approver');
            const tx = await state.must('msig', 'multisig transaction', orgId, multisigTxId);
            if (tx.status !== 'PENDING') {
                throw new BusinessError(`multisig transaction ${multisigTxId} is already ${tx.status.toLowerCase()}`);
            }
            if (tx.approvals.includes(approverId)) {
                throw new BusinessError(`${approverId} already approved multisig transaction ${multisigTxId}`);
            }
            const approvals = [...tx.approvals, approverId];
            await state.put('msig', { ...tx, approvals }, orgId, multisigTxId);
            return { event: 'MultiSigTxApproved',
                payload: { orgId, multisigTxId, approverId, approvals: approvals.length } };
        });
    }

    async ExecuteMultiSigTx(ctx, tenantId, requestId, orgId, multisigTxId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await activeOrg(state, orgId);
            const tx = await state.must('msig', 'multisig transaction', orgId, multisigTxId);
            if (tx.status !== 'PENDING') {
                throw new BusinessError(`multisig transaction ${multisigTxId} is already ${tx.status.toLowerCase()}`);
            }
            if (tx.approvals.length < org.requiredApprovals) {
                throw new BusinessError(`multisig transaction ${multisigTxId} has ${tx.approvals.length} of `
                    + `${org.requiredApprovals} required approvals`);
            }
            const value = BigInt(tx.amount);
            await state.move(orgId, tx.toWalletId, value);
            await state.put('msig', { ...tx, status: 'EXECUTED' }, orgId, multisigTxId);
            return { event: 'MultiSigTxExecuted',
                payload: { orgId, multisigTxId, fromWalletId: orgId, toWalletId: tx.toWalletId, amount: value } };
        });
    }
}

module.exports = OrganizationContract;
