'use strict';
/*
 * QueryContract: read-only functions for clients and `gxctl verify` (evaluate, never submitted),
 * open to every member of the channel.
 *
 * Get(kind, id) returns one entity as JSON or "null"; GetIn(kind, id, subId) one of a kind keyed by
 * two ids (a multisig transaction: GetIn("msig", orgId, multisigTxId); a vote: GetIn("vote",
 * proposalId, voterId)); List(kind, pageSize, bookmark) returns a page of a kind. (fabric-contract-api
 * checks the number of arguments against the function's parameters, so a function cannot take a
 * varying count.) Wallets are shown with their balance (a sharded wallet's summed over its shards),
 * countries with `genesisDistributed` (summed likewise). GetRequest(tenantId, requestId) returns the
 * chaincode's answer to that command (its result, or its recorded rejection) or "null";
 * ListRequests(tenantId, pageSize, bookmark) a page of the commands of a tenant the chaincode
 * answered. A page is {items, bookmark, partial}: `partial` says more follow, from `bookmark`.
 * Submitter(mspId, certPem) returns the grant of that certificate or "null"; Operators() the MSPs
 * whose admins operate.
 */
const { Contract } = require('fabric-contract-api');
const { BusinessError, KINDS, SHARDS, key } = require('./ledger');
const { grantee, grantKey, operatorSetting, operatorMsps, peerMspOf } = require('./callers');
const { canonicalTenant, requestIdOf } = require('./tenancy');
const { show } = require('./text');

function checkKind(kind) {
    if (!KINDS.includes(kind)) {
        throw new BusinessError(`unknown kind ${JSON.stringify(kind)}; one of ${KINDS.join(', ')}`);
    }
}

async function sumShards(stub, kind, ...ids) {
    let total = 0n;
    for (let i = 0; i < SHARDS; i++) {
        const raw = await stub.getState(key(stub, kind, ...ids, String(i)));
        if (raw && raw.length > 0) {
            const doc = JSON.parse(raw.toString('utf8'));
            total += BigInt(doc.balance ?? doc.distributed);
        }
    }
    return total.toString();
}

/** An entity as clients see it (balances and totals kept in shards, summed). */
async function present(stub, kind, obj) {
    if (kind === 'wallet' && obj.sharded) {
        return { ...obj, balance: await sumShards(stub, 'walletshard', obj.walletId) };
    }
    if (kind === 'country') {
        return { ...obj, genesisDistributed: await sumShards(stub, 'countrygenesis', obj.countryCode) };
    }
    return obj;
}

const MAX_PAGE = 1000;

/** The page size a caller asked for, 1 to MAX_PAGE; throws otherwise. Pure. */
function pageSizeOf(text) {
    if (typeof text !== 'string' || !/^[1-9][0-9]{0,3}$/.test(text) || Number(text) > MAX_PAGE) {
        throw new Error(`pageSize must be a whole number from 1 to ${MAX_PAGE}, got ${show(text)}`);
    }
    return Number(text);
}

/**
 * One page of the keys under (kind, attributes): {items, bookmark, partial}. The peer starts a
 * paged range at the bookmark, so a bookmark outside the range would read other kinds: refused.
 */
async function page(stub, kind, attributes, pageSizeText, bookmark, fn) {
    const size = pageSizeOf(pageSizeText);
    const prefix = stub.createCompositeKey(kind, attributes);
    if (typeof bookmark !== 'string' || (bookmark !== '' && !bookmark.startsWith(prefix))) {
        throw new Error(`bookmark is not one of this list's (use '' for the first page, then the bookmark returned)`);
    }
    const { iterator, metadata } = await stub.getStateByPartialCompositeKeyWithPagination(kind, attributes, size,
        bookmark);
    const items = [];
    try {
        for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
            items.push(await fn(r.value));
        }
    } finally {
        await iterator.close();
    }
    const next = metadata && metadata.bookmark ? metadata.bookmark : '';
    return { items, bookmark: next, partial: next !== '' };
}

class QueryContract extends Contract {
    constructor() {
        super('QueryContract');
    }

    async Get(ctx, kind, id) {
        return this._get(ctx, kind, [id]);
    }

    async GetIn(ctx, kind, id, subId) {
        return this._get(ctx, kind, [id, subId]);
    }

    async _get(ctx, kind, ids) {
        checkKind(kind);
        const raw = await ctx.stub.getState(key(ctx.stub, kind, ...ids));
        if (!raw || raw.length === 0) {
            return 'null';
        }
        return JSON.stringify(await present(ctx.stub, kind, JSON.parse(raw.toString('utf8'))));
    }

    /**
     * One page of a kind: {items, bookmark, partial}. ``pageSize`` 1 to 1000, ``bookmark`` '' for the
     * first page, else the one the page before returned; ``partial`` says more pages follow (issue
     * 31 finding 8: one unpaged read of a whole kind is cut short silently past the peer's total
     * query limit, which would make `gxctl verify` report differences that are not there).
     */
    async List(ctx, kind, pageSize, bookmark) {
        checkKind(kind);
        return JSON.stringify(await page(ctx.stub, kind, [], pageSize, bookmark,
            async (v) => present(ctx.stub, kind, JSON.parse(v.value.toString('utf8')))));
    }

    async Submitter(ctx, mspId, certPem) {
        const raw = await ctx.stub.getState(grantKey(ctx.stub, mspId, grantee(mspId, certPem).fingerprint));
        return raw && raw.length > 0 ? raw.toString('utf8') : 'null';
    }

    /** The MSPs whose admins operate, and where that comes from: the ledger setting or the peer's own MSP. */
    async Operators(ctx) {
        const setting = await operatorSetting(ctx.stub);
        return JSON.stringify({ operatorMsps: operatorMsps(setting, peerMspOf(ctx.stub)),
            source: setting ? 'ledger' : 'peer' });
    }

    async GetRequest(ctx, tenantId, requestId) {
        const raw = await ctx.stub.getState(ctx.stub.createCompositeKey('req', [canonicalTenant(tenantId),
            requestIdOf(requestId)]));
        return raw && raw.length > 0 ? JSON.parse(raw.toString('utf8')).answer : 'null';
    }

    /** One page of the commands of a tenant the chaincode answered: items [{requestId, function, txId, rejected?}]. */
    async ListRequests(ctx, tenantId, pageSize, bookmark) {
        return JSON.stringify(await page(ctx.stub, 'req', [canonicalTenant(tenantId)], pageSize, bookmark, async (v) => {
            const rec = JSON.parse(v.value.toString('utf8'));
            const answer = JSON.parse(rec.answer);
            return { requestId: rec.requestId, function: rec.function, txId: rec.txId,
                ...(answer.rejected ? { rejected: answer.rejected } : {}) };
        }));
    }
}

module.exports = QueryContract;
