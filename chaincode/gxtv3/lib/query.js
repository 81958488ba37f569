'use strict';
/*
 * QueryContract: read-only functions for clients and `gxctl verify` (evaluate, never submitted),
 * open to every member of the channel.
 *
 * Get(kind, id) returns one entity as JSON or "null"; GetIn(kind, id, subId) one of a kind keyed by
 * two ids (a multisig transaction: GetIn("msig", orgId, multisigTxId); a vote: GetIn("vote",
 * proposalId, voterId)); List(kind) returns every entity of a kind. (fabric-contract-api checks the
 * number of arguments against the function's parameters, so a function cannot take a varying count.) Wallets are shown with their
 * balance (a sharded wallet's summed over its shards), countries with `genesisDistributed` (summed
 * likewise). GetRequest(tenantId, requestId) returns the chaincode's answer to that command (its
 * result, or its recorded rejection) or "null"; ListRequests(tenantId) lists every command of a
 * tenant the chaincode answered. Submitter(mspId, certPem) returns the grant of that identity or "null".
 */
const { Contract } = require('fabric-contract-api');
const { BusinessError, KINDS, SHARDS, key } = require('./ledger');
const { grantee, grantKey, operatorSetting, operatorMsps, peerMspOf } = require('./callers');
const { canonicalTenant, requestIdOf } = require('./tenancy');

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

async function each(iter, fn) {
    try {
        for (let r = await iter.next(); !r.done; r = await iter.next()) {
            await fn(r.value);
        }
    } finally {
        await iter.close();
    }
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

    async List(ctx, kind) {
        checkKind(kind);
        const out = [];
        await each(await ctx.stub.getStateByPartialCompositeKey(kind, []), async (v) => {
            out.push(await present(ctx.stub, kind, JSON.parse(v.value.toString('utf8'))));
        });
        return JSON.stringify(out);
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

    /** Every command of a tenant the chaincode has an answer for: [{requestId, function, txId, rejected?}]. */
    async ListRequests(ctx, tenantId) {
        const out = [];
        await each(await ctx.stub.getStateByPartialCompositeKey('req', [canonicalTenant(tenantId)]), async (v) => {
            const rec = JSON.parse(v.value.toString('utf8'));
            const answer = JSON.parse(rec.answer);
            out.push({ requestId: rec.requestId, function: rec.function, txId: rec.txId,
                ...(answer.rejected ? { rejected: answer.rejected } : {}) });
        });
        return JSON.stringify(out);
    }
}

module.exports = QueryContract;
