'use strict';
/*
 * Who approves a change to an organisation (issue 31 finding 5), as pure functions of the
 * organisation's record and the `approverIds` a command names (the API in front of the outbox
 * vouches they are the authenticated members; the chaincode checks they are members, once each).
 *
 * - While PROPOSED, the organisation is its founders: a new member needs the approval of every
 *   current member (the proposer first, then each founder admitted), and activation needs every
 *   founder too. Activation sets the threshold (requiredApprovals) to the number of founders, so
 *   money first moves only with all of them; the organisation may lower it (DefineAuthRule).
 * - Once ACTIVE, a new member and a new threshold need at least `requiredApprovals` distinct
 *   current members.
 * So nobody joins without the approval the organisation's own rule asks for, and a member let in
 * later never moves its money alone unless the members chose a threshold of one.
 */
const { BusinessError } = require('./ledger');
const { show } = require('./text');

const MAX_APPROVERS = 100;   // schemas/payloads.py: Approvers (max_length=100)

/** The distinct approver ids of a JSON array argument; INVALID_ARGUMENT otherwise. Pure. */
function parseApprovers(json) {
    let approvers;
    try {
        approvers = JSON.parse(json || '[]');
    } catch (e) {
        approvers = null;
    }
    if (!Array.isArray(approvers) || approvers.length > MAX_APPROVERS || approvers.some((a) => typeof a !== 'string')) {
        throw new BusinessError(`approverIds must be a JSON array of at most ${MAX_APPROVERS} user ids, got ${show(json)}`,
            'INVALID_ARGUMENT');
    }
    return [...new Set(approvers)];
}

/** Throws NOT_A_MEMBER unless ``user`` is a member of ``org``. Pure. */
function member(org, user, role) {
    if (!org.members.includes(user)) {
        throw new BusinessError(`${role} ${show(user)} is not a member of organization ${show(org.orgId)}`, 'NOT_A_MEMBER');
    }
}

/**
 * The approvers of ``what`` in ``org`` (distinct members), if they are enough: every member while
 * the organisation is PROPOSED, requiredApprovals once ACTIVE; APPROVALS_MISSING otherwise. Pure.
 */
function approvedBy(org, approversJson, what) {
    const approvers = parseApprovers(approversJson);
    approvers.forEach((a) => member(org, a, 'approver'));
    if (org.status === 'PROPOSED') {
        const missing = org.members.filter((m) => !approvers.includes(m));
        if (missing.length > 0) {
            throw new BusinessError(`${what} of proposed organization ${show(org.orgId)} needs the approval of every `
                + `member (${org.members.map((m) => show(m)).join(', ')}), missing ${missing.length}`, 'APPROVALS_MISSING');
        }
        return approvers;
    }
    if (approvers.length < org.requiredApprovals) {
        throw new BusinessError(`${what} in active organization ${show(org.orgId)} needs ${org.requiredApprovals} member `
            + `approvals, got ${approvers.length}`, 'APPROVALS_MISSING');
    }
    return approvers;
}

module.exports = { parseApprovers, member, approvedBy, MAX_APPROVERS };
