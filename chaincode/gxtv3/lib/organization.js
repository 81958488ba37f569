'use strict';
/*
 * OrganizationContract: multi-signature accounts. An organization is proposed (its proposer is its
 * first member), gains founders with every member's approval, is activated by all its founders
 * (its wallet is `@org:<orgId>`, its threshold all of them), and moves funds only through a
 * multisig transaction with at least `requiredApprovals` distinct member approvals. Once active, a
 * new member or a new threshold needs `requiredApprovals` distinct current members (lib/membership.js).
 * Actors (proposer, initiator, approvers) are named as arguments: the API in front of the outbox
 * vouches that they are the authenticated users; the chaincode checks what it can see (they exist
 * in the command's tenant, they are members, each approves once).
 */
const { GxContract, BusinessError, amount, required, userId, orgWallet, walletKind, MAX_ID } = require('./ledger');
const { approvedBy, member } = require('./membership');
const { show } = require('./text');

async function activeOrg(state, orgId) {
    const org = await state.must('org', 'organization', orgId);
    if (org.status !== 'ACTIVE') {
        throw new BusinessError(`organization ${show(orgId)} is not active`, 'CONFLICT');
    }
    return org;
}

class OrganizationContract extends GxContract {
    constructor() {
        super('OrganizationContract');
    }

    async ProposeOrganization(ctx, tenantId, requestId, orgId, name, proposerId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            required('orgId', orgId, MAX_ID);
            required('name', name);
            await state.must('user', 'user', userId('proposerId', proposerId));
            if (await state.get('org', orgId)) {
                throw new BusinessError(`organization ${show(orgId)} already exists`, 'ALREADY_EXISTS');
            }
            await state.put('org', { orgId, tenantId: state.tenant, name, proposerId, status: 'PROPOSED', members: [proposerId],
                requiredApprovals: 1 }, orgId);
            return { event: 'OrganizationProposed', payload: { orgId, name, proposerId } };
        });
    }

    async EndorseMembership(ctx, tenantId, requestId, orgId, user, approverIds) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await state.must('org', 'organization', orgId);
            await state.must('user', 'user', userId('userId', user));
            if (org.members.includes(user)) {
                throw new BusinessError(`user ${show(user)} is already a member of organization ${show(orgId)}`, 'ALREADY_EXISTS');
            }
            const approvers = approvedBy(org, approverIds, `a new member (${show(user)})`);
            await state.put('org', { ...org, members: [...org.members, user] }, orgId);
            return { event: 'MembershipEndorsed', payload: { orgId, userId: user, approverIds: approvers } };
        });
    }

    /** The founders (every member of the proposed organisation) activate it; its threshold starts at all of them. */
    async ActivateOrganization(ctx, tenantId, requestId, orgId, approverIds) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await state.must('org', 'organization', orgId);
            if (org.status !== 'PROPOSED') {
                throw new BusinessError(`organization ${show(orgId)} is already ${org.status.toLowerCase()}`, 'CONFLICT');
            }
            const approvers = approvedBy(org, approverIds, 'activation');
            const walletId = orgWallet(orgId);
            await state.createWallet(walletId, orgId);
            const requiredApprovals = org.members.length;
            await state.put('org', { ...org, status: 'ACTIVE', walletId, requiredApprovals }, orgId);
            return { event: 'OrganizationActivated', payload: { orgId, walletId, requiredApprovals,
                approverIds: approvers } };
        });
    }

    async DefineAuthRule(ctx, tenantId, requestId, orgId, requiredApprovalsText, approverIds) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await activeOrg(state, orgId);
            const n = Number(amount('requiredApprovals', requiredApprovalsText));
            if (n > org.members.length) {
                throw new BusinessError(`requiredApprovals ${n} exceeds the ${org.members.length} members of ${show(orgId)}`,
                    'INVALID_ARGUMENT');
            }
            const approvers = approvedBy(org, approverIds, `a new approval threshold (${n})`);
            await state.put('org', { ...org, requiredApprovals: n }, orgId);
            return { event: 'AuthRuleDefined', payload: { orgId, requiredApprovals: n, approverIds: approvers } };
        });
    }

    async InitiateMultiSigTx(ctx, tenantId, requestId, orgId, multisigTxId, initiatorId, toWalletId, amountText) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const org = await activeOrg(state, orgId);
            member(org, initiatorId, 'initiator');
            required('multisigTxId', multisigTxId, MAX_ID);
            const value = amount('amount', amountText);
            if (!['USER', 'ORGANIZATION'].includes(walletKind(required('toWalletId', toWalletId)))) {
                throw new BusinessError(`a multisig payment goes to a user's or an organisation's wallet, not ${show(toWalletId)}`,
                    'FORBIDDEN_TARGET');
            }
            await state.wallet(toWalletId);
            if (await state.get('msig', orgId, multisigTxId)) {
                throw new BusinessError(`multisig transaction ${show(multisigTxId)} already exists in ${show(orgId)}`, 'ALREADY_EXISTS');
            }
            await state.put('msig', { orgId, tenantId: state.tenant, multisigTxId, initiatorId, toWalletId, amount: value.toString(),
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
                throw new BusinessError(`multisig transaction ${show(multisigTxId)} is already ${tx.status.toLowerCase()}`,
                    'CONFLICT');
            }
            if (tx.approvals.includes(approverId)) {
                throw new BusinessError(`${show(approverId)} already approved multisig transaction ${show(multisigTxId)}`,
                    'ALREADY_EXISTS');
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
                throw new BusinessError(`multisig transaction ${show(multisigTxId)} is already ${tx.status.toLowerCase()}`,
                    'CONFLICT');
            }
            const valid = tx.approvals.filter((a) => org.members.includes(a));  // a member who left no longer counts
            if (valid.length < org.requiredApprovals) {
                throw new BusinessError(`multisig transaction ${show(multisigTxId)} has ${valid.length} of `
                    + `${org.requiredApprovals} required approvals`, 'APPROVALS_MISSING');
            }
            const value = BigInt(tx.amount);
            const fromWalletId = orgWallet(orgId);
            await state.move(fromWalletId, tx.toWalletId, value);
            await state.put('msig', { ...tx, status: 'EXECUTED' }, orgId, multisigTxId);
            return { event: 'MultiSigTxExecuted',
                payload: { orgId, multisigTxId, fromWalletId, toWalletId: tx.toWalletId, amount: value } };
        });
    }
}

module.exports = OrganizationContract;
