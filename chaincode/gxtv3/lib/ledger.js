'use strict';
/*
 * The state layer every contract shares: typed keys, JSON with exact int64 amounts, the one
 * chaincode event a transaction may carry, and requestId idempotency.
 *
 * Contract:  every write transaction runs through `GxContract._apply(ctx, requestId, fn)`:
 *   - a requestId already applied returns the first result and writes nothing (no event either);
 *   - a paused system refuses every write but ResumeSystem;
 *   - `fn(state)` returns {event, payload, result}; the event gets schemaVersion and requestId.
 * Errors: BusinessError (the peer answers "chaincode response 500, <message>").
 */
const { Contract } = require('fabric-contract-api');

const SCHEMA_VERSION = 1;
const INT64_MAX = (1n << 63n) - 1n;
const GENESIS_POOL = 'SYSTEM_USER_GENESIS_POOL';
const SYSTEM_KEY = 'status';

class BusinessError extends Error {}

// Key prefixes; ':' then the id, so one kind is one key range (prefix ':' .. prefix ';').
const KINDS = ['system', 'country', 'user', 'wallet', 'org', 'msig', 'loan', 'proposal', 'vote', 'req'];
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
        throw new BusinessError(`${field} must be a positive integer, got ${JSON.stringify(text)}`);
    }
    const v = BigInt(text);
    if (v <= 0n || v > INT64_MAX) {
        throw new BusinessError(`${field} must be between 1 and ${INT64_MAX}, got ${text}`);
    }
    return v;
}

function required(field, text) {
    if (typeof text !== 'string' || text.length === 0) {
        throw new BusinessError(`${field} is required`);
    }
    return text;
}

/** Reads and writes of one transaction; amounts in wallets are BigInt in memory, integers on the ledger. */
class State {
    constructor(ctx) {
        this.stub = ctx.stub;
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
            throw new BusinessError(`${what} ${ids.join(':')} does not exist`);
        }
        return obj;
    }

    async put(kind, obj, ...ids) {
        const stored = kind === 'wallet' ? { ...obj, balance: obj.balance.toString() } : obj;
        await this.stub.putState(key(kind, ...ids), Buffer.from(JSON.stringify(stored)));
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
            throw new BusinessError('system is not bootstrapped (BootstrapSystem must come first)');
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
            throw new BusinessError(`wallet ${fromId} is frozen and cannot send`);
        }
        if (from.balance < value) {
            throw new BusinessError(`insufficient balance in wallet ${fromId}: has ${from.balance}, needs ${value}`);
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
     * Runs one write transaction with requestId idempotency and the pause rule.
     * `fn(state, sys)` returns {event, payload, result}; returns the result as JSON text.
     */
    async _apply(ctx, requestId, fn, { allowWhenPaused = false } = {}) {
        required('requestId', requestId);
        const stub = ctx.stub;
        const seen = await stub.getState(key('req', requestId));
        if (seen && seen.length > 0) {
            return seen.toString('utf8');
        }
        const state = new State(ctx);
        const sys = await state.system();
        if (sys.paused && !allowWhenPaused) {
            throw new BusinessError(`system is paused (${sys.pauseReason}); writes are refused until ResumeSystem`);
        }
        const out = await fn(state, sys);
        const payload = { schemaVersion: SCHEMA_VERSION, requestId, ...out.payload };
        stub.setEvent(out.event, Buffer.from(toJson(payload)));
        const result = toJson({ requestId, txId: stub.getTxID(), event: out.event, ...(out.result || {}) });
        await stub.putState(key('req', requestId), Buffer.from(result));
        return result;
    }
}

module.exports = {
    GxContract, State, BusinessError, key, toJson, amount, required, KINDS,
    SCHEMA_VERSION, INT64_MAX, GENESIS_POOL, SYSTEM_KEY,
};
