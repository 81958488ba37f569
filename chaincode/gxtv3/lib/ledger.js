'use strict';
/*
 * The state layer every contract shares: composite keys, wallets in namespaces, exact int64
 * amounts, the one chaincode event a transaction may carry, who may call what, and idempotency per
 * (tenantId, requestId).
 *
 * Keys: every key is a composite key (kind, id parts...) as fabric-shim builds it, so an id that
 * holds ':' can never be read as two ids; a key part holding U+0000 or U+10FFFF is refused.
 *
 * Wallets live in namespaces, written as wallet references: a user's wallet is the user's id
 * (which may not begin with '@'); an organisation's is `@org:<orgId>`, a country's treasury
 * `@treasury:<CC>`, the genesis pool `@system:SYSTEM_USER_GENESIS_POOL`. No user can take a
 * system or organisation wallet's name, and no wallet is ever overwritten. The pool and the
 * treasuries, which many commands credit or debit at once, keep their balance in SHARDS records
 * chosen by the id of the other party (shardOf), so those commands do not conflict.
 *
 * Callers (lib/callers.js: authorize): an operator, a submitter granted the scope `commands` or
 * `all`, or a reader. A refused caller is thrown out (FORBIDDEN) before anything is recorded.
 *
 * Contract:  every write transaction runs through `GxContract._apply(ctx, tenantId, requestId, fn)`:
 *   - the command's record is kept under ('req', tenantId, requestId) with a digest of the
 *     function and its arguments;
 *   - a command seen before, with the same digest, returns its recorded answer and writes nothing
 *     (no event either): the first result, or the first rejection;
 *   - the same (tenantId, requestId) with another function or other arguments is refused with
 *     IDEMPOTENCY_CONFLICT (thrown, not recorded: the first command keeps its record);
 *   - a business rule that refuses the command (a BusinessError) is recorded as its answer in a
 *     transaction that commits: `{requestId, txId, rejected: {code, message}}` with status 200,
 *     so a replay after a crash or a rebalance gets the same rejection, never a later success;
 *   - a paused system refuses every write but ResumeSystem (recorded like any rejection);
 *   - `fn(state)` returns {event, payload, result}; the event gets schemaVersion and requestId.
 *     Amounts are decimal strings in events and answers (JSON numbers would round beyond 2^53).
 * Errors thrown (the peer answers "chaincode response 500, <message>"): FORBIDDEN, an id that
 * cannot be keyed, IDEMPOTENCY_CONFLICT, and anything unexpected (a bug); none is recorded.
 */
const crypto = require('crypto');
const { Contract } = require('fabric-contract-api');
const { authorize, caller, SCOPES } = require('./callers');
const { canonicalTenant, requestIdOf } = require('./tenancy');
const { show, clamp } = require('./text');

const SCHEMA_VERSION = 2;
const INT64_MAX = (1n << 63n) - 1n;
const SHARDS = 16;
const GENESIS_POOL = '@system:SYSTEM_USER_GENESIS_POOL';
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
        throw new Error(`${field} cannot be used as a key: ${show(text)}`);
    }
    return text;
}

// Kinds of entities, each a composite-key namespace; QueryContract lists them.
const KINDS = ['system', 'country', 'user', 'wallet', 'org', 'msig', 'loan', 'proposal', 'vote'];

function key(stub, kind, ...ids) {
    return stub.createCompositeKey(kind, ids.map((id, i) => keyPart(i === 0 ? `${kind} id` : `${kind} id part`, id)));
}

// --- wallet references --------------------------------------------------------------------------
const ORG_WALLET = '@org:';
const TREASURY_WALLET = '@treasury:';

function orgWallet(orgId) {
    return ORG_WALLET + orgId;
}

function treasuryWallet(countryCode) {
    return TREASURY_WALLET + countryCode;
}

/** The namespace of a wallet reference: USER, ORGANIZATION, TREASURY or SYSTEM. */
function walletKind(ref) {
    if (!ref.startsWith('@')) {
        return 'USER';
    }
    if (ref.startsWith(ORG_WALLET)) {
        return 'ORGANIZATION';
    }
    if (ref.startsWith(TREASURY_WALLET)) {
        return 'TREASURY';
    }
    return 'SYSTEM';
}

/** A user id: not empty, and not in a reserved namespace (it would be read as another wallet). */
function userId(field, text) {
    required(field, text, MAX_ID);
    if (text.startsWith('@')) {
        throw new BusinessError(`${field} ${show(text)} is in a reserved namespace ('@...')`,
            'INVALID_ARGUMENT');
    }
    return text;
}

/** The shard of a sharded wallet (the pool, a treasury) a command with this counterparty uses. */
function shardOf(id) {
    return crypto.createHash('sha256').update(id, 'utf8').digest()[0] % SHARDS;
}

// JSON with BigInt amounts as decimal strings (JSON.stringify refuses BigInt; numbers lose digits).
function toJson(obj) {
    return JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

function amount(field, text) {
    if (typeof text !== 'string' || !/^[0-9]{1,19}$/.test(text)) {
        throw new BusinessError(`${field} must be a positive integer, got ${show(text)}`, 'INVALID_ARGUMENT');
    }
    const v = BigInt(text);
    if (v <= 0n || v > INT64_MAX) {
        throw new BusinessError(`${field} must be between 1 and ${INT64_MAX}, got ${text}`, 'INVALID_ARGUMENT');
    }
    return v;
}

// Every text the chaincode keeps is bounded, so no command can make an event larger than a Kafka
// record may be (the block publisher dead-letters one that still is).
const MAX_TEXT = 1000;
const MAX_ID = 256;   // an id (user, organisation, loan, proposal, ...): the outbox allows 128
const MAX_WALLET = MAX_ID + 16;   // a wallet reference: an id, or '@org:' and an organisation's id

function required(field, text, max = MAX_TEXT) {
    if (typeof text !== 'string' || text.length === 0) {
        throw new BusinessError(`${field} is required`, 'INVALID_ARGUMENT');
    }
    return bounded(field, text, max);
}

// What no text the chaincode keeps may hold: the C0 and C1 controls (NUL among them, which Postgres'
// text cannot store, so a read model could never hold it) and lone surrogates (no UTF-8 for them).
// The command model (schemas/payloads.py) refuses the same controls on both of its paths.
const UNSTORABLE = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function bounded(field, text, max = MAX_TEXT) {
    if (typeof text !== 'string') {
        return text;
    }
    if (text.length > max) {
        throw new BusinessError(`${field} is ${text.length} characters, over the ${max} allowed`, 'INVALID_ARGUMENT');
    }
    const bad = UNSTORABLE.exec(text);
    if (bad) {
        const cp = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
        throw new BusinessError(`${field} must not contain control characters: U+${cp} at position ${bad.index}`,
            'INVALID_ARGUMENT');
    }
    return text;
}

// --- state ---------------------------------------------------------------------------------------
/**
 * Reads and writes of one transaction; wallet balances are BigInt in memory, decimal strings on the
 * ledger. Writes are buffered and reach the stub only through `flush()`, after the command
 * succeeded: a rule that refuses the command after an earlier `put` leaves no trace but the
 * recorded rejection. Fabric's GetState never sees the transaction's own writes; State reads its
 * buffer first, so a command that touches one key twice sees its own change.
 */
class State {
    constructor(ctx, tenant) {
        this.stub = ctx.stub;
        this.tenant = tenant;   // the command's tenant, canonical: every entity it creates is stamped with it
        this.writes = new Map();
    }

    async flush() {
        for (const [k, v] of this.writes) {
            await this.stub.putState(k, v);
        }
        this.writes.clear();
    }

    async _raw(k) {
        if (this.writes.has(k)) {
            return this.writes.get(k);
        }
        const raw = await this.stub.getState(k);
        return raw && raw.length > 0 ? raw : null;
    }

    async get(kind, ...ids) {
        const raw = await this._raw(key(this.stub, kind, ...ids));
        return raw === null ? null : JSON.parse(raw.toString('utf8'));
    }

    /**
     * The entity, which must exist (NOT_FOUND) and, if it belongs to a tenant, belong to this
     * command's (OTHER_TENANT): no command acts on another tenant's users, wallets, organisations,
     * loans, proposals or votes. Ids are one namespace for all tenants (the read models key them
     * alone), so an id another tenant holds is taken, never shared.
     */
    async must(kind, what, ...ids) {
        const obj = await this.get(kind, ...ids);
        if (obj === null) {
            throw new BusinessError(`${what} ${ids.map((id) => show(id)).join(' / ')} does not exist`, 'NOT_FOUND');
        }
        if (obj.tenantId !== undefined && obj.tenantId !== this.tenant) {
            throw new BusinessError(`${what} ${ids.map((id) => show(id)).join(' / ')} belongs to another tenant`,
                'OTHER_TENANT');
        }
        return obj;
    }

    async put(kind, obj, ...ids) {
        this.writes.set(key(this.stub, kind, ...ids), Buffer.from(toJson(obj)));
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

    /** A new wallet; refused if one exists under that reference (a wallet is never overwritten). */
    async createWallet(ref, ownerId, balance = 0n) {
        if (await this.get('wallet', ref)) {
            throw new BusinessError(`wallet ${show(ref)} already exists`, 'ALREADY_EXISTS');
        }
        const kind = walletKind(ref);
        const sharded = kind === 'TREASURY' || kind === 'SYSTEM';
        // A user's or an organisation's wallet is its tenant's; the pool and the treasuries are the system's.
        await this.put('wallet', { walletId: ref, ownerId, ownerType: kind, frozen: false, frozenReason: null, sharded,
            ...(sharded ? {} : { balance: balance.toString(), tenantId: this.tenant }) }, ref);
        if (sharded) {
            const share = balance / BigInt(SHARDS);
            for (let i = 0; i < SHARDS; i++) {
                const extra = i === 0 ? balance - share * BigInt(SHARDS) : 0n;
                await this.put('walletshard', { balance: (share + extra).toString() }, ref, String(i));
            }
        }
    }

    async wallet(ref) {
        return this.must('wallet', 'wallet', ref);
    }

    /** The balance of a wallet (of one shard of a sharded one, chosen by ``counterparty``). */
    async _balance(w, counterparty) {
        if (!w.sharded) {
            return { value: BigInt(w.balance), put: async (v) => this.put('wallet', { ...w, balance: v.toString() },
                w.walletId) };
        }
        const shard = String(shardOf(counterparty));
        const s = await this.must('walletshard', 'wallet shard', w.walletId, shard);
        return { value: BigInt(s.balance), put: async (v) => this.put('walletshard', { balance: v.toString() },
            w.walletId, shard) };
    }

    /**
     * Moves `value` from one wallet to another: the sender must exist, not be frozen and cover it
     * (for a sharded wallet: the shard of the other party). Returns the wallets after the move.
     */
    async move(fromRef, toRef, value) {
        if (fromRef === toRef) {
            throw new BusinessError(`cannot transfer from wallet ${show(fromRef)} to itself`, 'INVALID_ARGUMENT');
        }
        const from = await this.wallet(fromRef);
        const to = await this.wallet(toRef);
        if (from.frozen) {
            throw new BusinessError(`wallet ${show(fromRef)} is frozen and cannot send`, 'WALLET_FROZEN');
        }
        const out = await this._balance(from, toRef);
        if (out.value < value) {
            throw new BusinessError(`insufficient balance in wallet ${show(fromRef)}: has ${out.value}, needs ${value}`,
                'INSUFFICIENT_FUNDS');
        }
        const into = await this._balance(to, fromRef);
        if (into.value + value > INT64_MAX) {
            throw new BusinessError(`wallet ${show(toRef)} would exceed the int64 balance limit`, 'LIMIT');
        }
        await out.put(out.value - value);
        await into.put(into.value + value);
        return { from: { ...from, balance: out.value - value }, to: { ...to, balance: into.value + value } };
    }
}

class GxContract extends Contract {
    /**
     * Runs one write transaction for an authorized caller, with idempotency per (tenantId,
     * requestId) and the pause rule (see the module's doc). `fn(state, sys)` returns {event,
     * payload, result}; returns the JSON answer. `admin`: an administrative function.
     */
    async _apply(ctx, tenantId, requestId, fn, { allowWhenPaused = false, admin = false } = {}) {
        await authorize(ctx, admin ? 'admin' : 'command');
        const tenant = canonicalTenant(tenantId);
        requestIdOf(requestId);
        const stub = ctx.stub;
        const reqKey = stub.createCompositeKey('req', [tenant, requestId]);
        const { fcn, params } = stub.getFunctionAndParameters();
        const digest = crypto.createHash('sha256').update(JSON.stringify([fcn, ...params.slice(2)])).digest('hex');
        const seen = await stub.getState(reqKey);
        if (seen && seen.length > 0) {
            const record = JSON.parse(seen.toString('utf8'));
            if (record.digest !== digest) {
                throw new Error(`IDEMPOTENCY_CONFLICT: request ${show(requestId)} of tenant ${tenant} was already used for `
                    + `${record.function} with other arguments (transaction ${record.txId})`);
            }
            return record.answer;
        }
        let answer;
        const state = new State(ctx, tenant);
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
            answer = JSON.stringify({ requestId, txId: stub.getTxID(), rejected: { code: e.code, message: clamp(e.message) } });
        }
        // The answer is kept as text, exactly as it was returned.
        const record = { tenantId: tenant, requestId, function: fcn, digest, txId: stub.getTxID(), answer };
        await stub.putState(reqKey, Buffer.from(JSON.stringify(record)));
        return answer;
    }
}

module.exports = {
    GxContract, State, BusinessError, key, keyPart, toJson, amount, required, bounded, userId, KINDS, SCOPES,
    SCHEMA_VERSION, INT64_MAX, GENESIS_POOL, SYSTEM_KEY, SHARDS, shardOf, orgWallet, treasuryWallet, walletKind, MAX_ID, MAX_WALLET,
    caller, authorize,
};
