'use strict';
/*
 * QueryContract: read-only functions for clients and `gxctl verify` (evaluate, never submitted).
 * Get(kind, id) returns one entity as JSON or "null" (a composite id is joined with ':', e.g. a multisig
 * transaction's "ORG1:M1"); List(kind) returns every entity of a kind; GetRequest(tenantId, requestId)
 * returns the chaincode's answer to that command (its result, or its recorded rejection) or "null";
 * ListRequests(tenantId) lists every command of a tenant the chaincode answered.
 */
const { Contract } = require('fabric-contract-api');
const { BusinessError, KINDS, key, keyPart } = require('./ledger');

function checkKind(kind) {
    if (!KINDS.includes(kind)) {
        throw new BusinessError(`unknown kind ${JSON.stringify(kind)}; one of ${KINDS.join(', ')}`);
    }
}

class QueryContract extends Contract {
    constructor() {
        super('QueryContract');
    }

    async Get(ctx, kind, id) {
        checkKind(kind);
        const raw = await ctx.stub.getState(key(kind, id));
        return raw && raw.length > 0 ? raw.toString('utf8') : 'null';
    }

    async GetRequest(ctx, tenantId, requestId) {
        const raw = await ctx.stub.getState(ctx.stub.createCompositeKey('req', [keyPart('tenantId', tenantId),
            keyPart('requestId', requestId)]));
        return raw && raw.length > 0 ? JSON.parse(raw.toString('utf8')).answer : 'null';
    }

    /** Every command of a tenant the chaincode has an answer for: [{requestId, function, txId, rejected?}]. */
    async ListRequests(ctx, tenantId) {
        const out = [];
        const iter = await ctx.stub.getStateByPartialCompositeKey('req', [keyPart('tenantId', tenantId)]);
        try {
            for (let r = await iter.next(); !r.done; r = await iter.next()) {
                const rec = JSON.parse(r.value.value.toString('utf8'));
                const answer = JSON.parse(rec.answer);
                out.push({ requestId: rec.requestId, function: rec.function, txId: rec.txId,
                    ...(answer.rejected ? { rejected: answer.rejected } : {}) });
            }
        } finally {
            await iter.close();
        }
        return JSON.stringify(out);
    }

    async List(ctx, kind) {
        checkKind(kind);
        const out = [];
        const iter = await ctx.stub.getStateByRange(`${kind}:`, `${kind};`);
        try {
            for (let r = await iter.next(); !r.done; r = await iter.next()) {
                out.push(JSON.parse(r.value.value.toString('utf8')));
            }
        } finally {
            await iter.close();
        }
        return JSON.stringify(out);
    }
}

module.exports = QueryContract;
