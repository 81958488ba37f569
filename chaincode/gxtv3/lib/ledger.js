'use strict';
/*
 * The state layer every contract shares: typed keys, JSON with exact int64 amounts, the one
 * chaincode event a transaction may carry, and idempotency per (tenantId, requestId).
 *
 * Contract:  every write transaction runs through `GxContract._apply(ctx, tenantId, requestId, fn)`:
 *   - the command's record is kept under the composite key ('req', tenantId, requestId) with a
 *     digest of the function and its arguments;
 *   - a command seen before, with the same digest, returns its recorded answer and writes nothing
 *     (no event either): the first result, or the first rejection;
 *   - the same (tenantId, requestId) with another function or other arguments is refused with
 *     IDEMPOTENCY_CONFLICT (thrown, not recorded: the first command keeps its record);
 *   - a business rule that refuses the command (a BusinessError) is recorded as its answer in a
 *     transaction that commits: `{requestId, txId, rejected: {code, message}}` with status 200,
 *     so a replay after a crash or a rebalance gets the same rejection, never a later success;
 *   - a paused system refuses every write but ResumeSystem (recorded like any rejection);
 *   - `fn(state)` returns {event, payload, result}; the event gets schemaVersion and requestId.
 * Errors thrown (the peer answers "chaincode response 500, <message>"): an id that cannot be keyed,
 * IDEMPOTENCY_CONFLICT, and anything unexpected (a bug), none of which is recorded.
 */
const crypto = require('crypto');
const { Contract } = require('fabric-contract-api');

const SCHEMA_VERSION = 1;
const INT64_MAX = (1n << 63n) - 1n;
const GENESIS_POOL = 'SYSTEM_USER_GENESIS_POOL';
const SYSTEM_KEY = 'status';

/** A business rule refused the command; `code` names the rule (recorded as the command's answer). */
class BusinessError extends Error {
    constructor(message, code = 'RULE') {
        super(message);
        this.code = code;
    }
}

/** A key part that would make composite keys ambiguous (U+0000, U+10FFFF) or is empty. Thrown, not recorded. */
function keyPart(field, text) {
    if (typeof text !== 'string' || text.length === 0 || /[\u0000\u{10FFFF}]/u.test(text)) {
        throw new Error(`${field} cannot be used as a key: ${JSON.stringify(text)}`);
    }
    return text;
}

// Key prefixes; ':' then the id, so one kind is one key range (prefix ':' .. prefix ';'). Commands'
// records ('req') use composite keys (tenantId, requestId), read with QueryContract:GetRequest.
const KINDS = ['system', 'country', 'user', 'wallet', 'org', 'msig', 'loan', 'proposal', 'vote'];
function key(kind, ...ids) {
    return `${kind}:${ids.join(':')}`;
}

// JSON with BigInt amounts written as plain integers (JSON.stringify refuses BigInt; Number loses digits).
function toJson(obj) {
    return JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? `__int64__${v}` : v))
        .replace(/"__int64__(-?\d+)"/g, '$1');
}

function amount(field, text) {
    if (typeof text !== 'string' || !/^[0-9]{1,19}$/.test(text)) {
        throw new BusinessError(`${field} must be a positive integer, got ${JSON.stringify(text)}`, 'INVALID_ARGUMENT');
    }
    const v = BigInt(text);
    if (v <= 0n || v > INT64_MAX) {
        throw new BusinessError(`${field} must be between 1 and ${INT64_MAX}, got ${text}`, 'INVALID_ARGUMENT');
    }
    return v;
}

function required(field, text) {
    if (typeof text !== 'string' || text.length === 0) {
        throw new BusinessError(`${field} is required`, 'INVALID_ARGUMENT');
    }
    return text;
}

/**
 * Reads and writes of one transaction; amounts in wallets are BigInt in memory, integers on the ledger.
 * Writes are buffered and reach the stub only through `flush()`, after the command succeeded: a rule
 * that refuses the command after an earlier `put` leaves no trace but the recorded rejection. Reads
 * see the state before the transaction, as Fabric's do (a transaction never reads its own writes).
 */
class State {
    constructor(ctx) {
        this.stub = ctx.stub;
        this.writes = new Map();
    }

    async flush() {
        for (const [k, v] of this.writes) {
            await this.stub.putState(k, v);
        }
        this.writes.clear();
    }

    async get(kind, ...ids) {
        const raw = await this.stub.getState(key(kind, ...ids));
        if (!raw || raw.length === 0) {
            return null;
        }
        const obj = JSON.parse(raw.toString('utf8'));
        if (kind === 'wallet') {
            obj.balance = BigInt(obj.balance);
        }
        return obj;
    }

    async must(kind, what, ...ids) {
        const obj = await this.get(kind, ...ids);
        if (obj === null) {
            throw new BusinessError(`${what} ${ids.join(':')} does not exist`, 'NOT_FOUND');
        }
        return obj;
    }

    async put(kind, obj, ...ids) {
        const stored = kind === 'wallet' ? { ...obj, balance: obj.balance.toString() } : obj;
        this.writes.set(key(kind, ...ids), Buffer.from(JSON.stringify(stored)));
    }

    // The system's state is three keys, so that the one every transaction reads (status: the
    // bootstrap and pause flags) changes only when the system is bootstrapped, paused or resumed;
    // a parameter or an admin change would otherwise invalidate every transaction in flight (MVCC).
    async system() {
        return (await this.get('system', SYSTEM_KEY)) || { bootstrapped: false, paused: false, pauseReason: null };
    }

    async parameters() {
        return (await this.get('system', 'params')) || {};
    }

    async admins() {
        return (await this.get('system', 'admins')) || [];
    }

    async requireBootstrapped() {
        const sys = await this.system();
        if (!sys.bootstrapped) {
            throw new BusinessError('system is not bootstrapped (BootstrapSystem must come first)', 'NOT_BOOTSTRAPPED');
        }
        return sys;
    }

    async wallet(walletId) {
        return this.must('wallet', 'wallet', walletId);
    }

    /** Moves `value` between two wallets: the sender must exist, not be frozen and cover it. */
    async move(fromId, toId, value) {
        if (fromId === toId) {
            throw new BusinessError(`cannot transfer from wallet ${fromId} to itself`);
        }
        const from = await this.wallet(fromId);
        const to = await this.wallet(toId);
        if (from.frozen) {
            throw new BusinessError(`wallet ${fromId} is frozen and cannot send`, 'WALLET_FROZEN');
        }
        if (from.balance < value) {
            throw new BusinessError(`insufficient balance in wallet ${fromId}: has ${from.balance}, needs ${value}`,
                'INSUFFICIENT_FUNDS');
        }
        if (to.balance + value > INT64_MAX) {
            throw new BusinessError(`wallet ${toId} would exceed the int64 balance limit`);
        }
        from.balance -= value;
        to.balance += value;
        await this.put('wallet', from, fromId);
        await this.put('wallet', to, toId);
        return { from, to };
    }
}

class GxContract extends Contract {
    /**
     * Runs one write transaction with idempotency per (tenantId, requestId) and the pause rule (see
     * the module's doc). `fn(state, sys)` returns {event, payload, result}; returns the JSON answer.
     */
    async _apply(ctx, tenantId, requestId, fn, { allowWhenPaused = false } = {}) {
        keyPart('tenantId', tenantId);
        keyPart('requestId', requestId);
        const stub = ctx.stub;
        const reqKey = stub.createCompositeKey('req', [tenantId, requestId]);
        const { fcn, params } = stub.getFunctionAndParameters();
        const digest = crypto.createHash('sha256').update(JSON.stringify([fcn, ...params.slice(2)])).digest('hex');
        const seen = await stub.getState(reqKey);
        if (seen && seen.length > 0) {
            const record = JSON.parse(seen.toString('utf8'));
            if (record.digest !== digest) {
                throw new Error(`IDEMPOTENCY_CONFLICT: request ${requestId} of tenant ${tenantId} was already used for `
                    + `${record.function} with other arguments (transaction ${record.txId})`);
            }
            return record.answer;
        }
        let answer;
        const state = new State(ctx);
        try {
            const sys = await state.system();
            if (sys.paused && !allowWhenPaused) {
                throw new BusinessError(`system is paused (${sys.pauseReason}); writes are refused until ResumeSystem`,
                    'PAUSED');
            }
            const out = await fn(state, sys);
            await state.flush();
            const payload = { schemaVersion: SCHEMA_VERSION, requestId, ...out.payload };
            stub.setEvent(out.event, Buffer.from(toJson(payload)));
            answer = toJson({ requestId, txId: stub.getTxID(), event: out.event, ...(out.result || {}) });
        } catch (e) {
            if (!(e instanceof BusinessError)) {
                throw e;
            }
            // The rejection is the command's answer, recorded in this (committing) transaction. The
            // writes fn buffered before it refused are dropped: only the record is written.
            answer = JSON.stringify({ requestId, txId: stub.getTxID(), rejected: { code: e.code, message: e.message } });
        }
        // The answer is kept as text: parsing it back would round amounts beyond 2^53.
        const record = { tenantId, requestId, function: fcn, digest, txId: stub.getTxID(), answer };
        await stub.putState(reqKey, Buffer.from(JSON.stringify(record)));
        return answer;
    }
}

module.exports = {
    GxContract, State, BusinessError, key, keyPart, toJson, amount, required, KINDS,
    SCHEMA_VERSION, INT64_MAX, GENESIS_POOL, SYSTEM_KEY,
};
