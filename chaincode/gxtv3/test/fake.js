'use strict';
/*
 * An in-memory ChaincodeStub for unit tests that behaves as Fabric's does where the contracts can
 * tell: reads see the world state before the transaction (a transaction never reads its own
 * writes), writes commit only if the transaction succeeds, one event per transaction, composite
 * keys as fabric-shim builds them, getFunctionAndParameters() naming the call, the transaction's
 * timestamp (the client's clock, as Fabric passes it), the peer's MSP (CORE_PEER_LOCALMSPID), and
 * range queries as the peer answers them: a plain one cut short silently at the peer's total query
 * limit, a paged one with the bookmark LevelDB gives (the next key, or '' when none is left).
 *
 * Callers are real certificates (test/certs, made by make.sh) read by fabric-shim's own
 * ClientIdentity, as fabric-contract-api builds ctx.clientIdentity.
 */
const fs = require('fs');
const path = require('path');
const Long = require('long');
const { ChaincodeStub, ClientIdentity } = require('fabric-shim');

const MAX_UNICODE = '\u{10FFFF}';

/** Keys in the order LevelDB keeps them (bytes of UTF-8). */
function byteOrder(a, b) {
    return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

class FakeStub {
    constructor(world, txId, fcn, params, { creator, millis = 0, peerMsp = 'Org1MSP', queryLimit = Infinity } = {}) {
        this.world = world;
        this.writes = new Map();
        this.txId = txId;
        this.fcn = fcn;
        this.params = params;
        this.event = null;
        this.creator = creator;
        this.millis = millis;
        this.peerMsp = peerMsp;
        this.queryLimit = queryLimit;
    }
    async getState(k) {
        return this.world.get(k) || Buffer.alloc(0);
    }
    async putState(k, v) {
        this.writes.set(k, Buffer.from(v));
    }
    async deleteState(k) {
        this.writes.set(k, null);
    }
    async getStateByRange(start, end) {
        return this._iterate(start, end, this.queryLimit);
    }
    async getStateByPartialCompositeKey(type, attributes) {
        const prefix = this.createCompositeKey(type, attributes);
        return this._iterate(prefix, prefix + MAX_UNICODE, this.queryLimit);
    }
    /** As the peer answers: the bookmark, when given, is where the range starts (inclusive). */
    async getStateByPartialCompositeKeyWithPagination(type, attributes, pageSize, bookmark) {
        const prefix = this.createCompositeKey(type, attributes);
        const keys = this._keys(bookmark || prefix, prefix + MAX_UNICODE);
        const page = keys.slice(0, pageSize);
        return { iterator: this._over(page), metadata: { fetchedRecordsCount: page.length,
            bookmark: keys.length > pageSize ? keys[pageSize] : '' } };
    }
    _keys(start, end) {
        return [...this.world.keys()].filter((k) => byteOrder(k, start) >= 0 && byteOrder(k, end) < 0).sort(byteOrder);
    }
    _iterate(start, end, limit) {
        return this._over(this._keys(start, end).slice(0, limit));
    }
    _over(keys) {
        let i = 0;
        return {
            next: async () => (i < keys.length ? { done: false, value: { key: keys[i], value: this.world.get(keys[i++]) } }
                : { done: true }),
            close: async () => {},
        };
    }
    createCompositeKey(type, attributes) {
        return ChaincodeStub.prototype.createCompositeKey.call(this, type, attributes);
    }
    splitCompositeKey(k) {
        return ChaincodeStub.prototype.splitCompositeKey.call(this, k);
    }
    getFunctionAndParameters() {
        return { fcn: this.fcn, params: this.params };
    }
    setEvent(name, payload) {
        this.event = { name, raw: payload.toString('utf8'), payload: JSON.parse(payload.toString('utf8')) };
    }
    getTxID() {
        return this.txId;
    }
    getChannelID() {
        return 'gxchannel';
    }
    getCreator() {
        return this.creator;
    }
    getMspID() {
        if (!this.peerMsp) {
            throw new Error('CORE_PEER_LOCALMSPID is unset in chaincode process');
        }
        return this.peerMsp;
    }
    /** As fabric-shim gives it: seconds as an unsigned Long, and nanos. */
    getTxTimestamp() {
        return { seconds: Long.fromNumber(Math.floor(this.millis / 1000), true), nanos: (this.millis % 1000) * 1e6 };
    }
    getDateTimestamp() {
        return new Date(this.millis);
    }
}

/** A command the chaincode refused and recorded (its transaction committed the record). */
class Rejected extends Error {
    constructor(answer) {
        super(`${answer.rejected.code}: ${answer.rejected.message}`);
        this.answer = answer;
    }
}

const pems = new Map();
/** The PEM of test certificate ``name`` (test/certs/<name>.pem, or user2-cert.pem). */
function cert(name) {
    if (!pems.has(name)) {
        const file = name === 'user2' ? path.join(__dirname, 'user2-cert.pem') : path.join(__dirname, 'certs', `${name}.pem`);
        pems.set(name, fs.readFileSync(file, 'utf8'));
    }
    return pems.get(name);
}

/** A caller as the peer hands it to the chaincode (the proposal's creator): an MSP and a certificate. */
function identity(name, mspId = 'Org1MSP') {
    return { mspid: mspId, idBytes: Buffer.from(cert(name)), name };
}

const OPERATOR = identity('admin');      // Admin@org1: node OU admin, of the peer's own MSP

/*
 * A ledger: invoke() runs one transaction and commits its writes only if it succeeds. Write
 * functions get the ledger's tenant before their arguments (tests pass the requestId first, as
 * the pipeline's routing table lists them); a recorded rejection commits its record and is
 * thrown as Rejected, so `assert.rejects(L.invoke(...), /rule/)` reads as before. The caller is
 * the operator unless ``as`` says otherwise. Every transaction's timestamp is one second after
 * the one before (``advance`` moves the clock further).
 */
class Ledger {
    constructor(tenant = 'tenant-1') {
        // Shared by the views ``as`` makes, so they see one world, one clock, one transaction count.
        this.s = { world: new Map(), n: 0, events: [], lastWrites: [], millis: Date.UTC(2026, 0, 1),
            peerMsp: 'Org1MSP', queryLimit: Infinity };
        this.tenant = tenant;
        this.caller = OPERATOR;
    }
    get world() {
        return this.s.world;
    }
    get events() {
        return this.s.events;
    }
    get lastWrites() {
        return this.s.lastWrites;
    }
    get now() {
        return this.s.millis;
    }
    /** The peer's MSP (CORE_PEER_LOCALMSPID of the chaincode process; null: unset). */
    set peerMsp(v) {
        this.s.peerMsp = v;
    }
    /** The peer's total query limit: a plain range query returns at most this many records, silently. */
    set queryLimit(v) {
        this.s.queryLimit = v;
    }
    advance(seconds) {
        this.s.millis += seconds * 1000;
    }
    as(who) {
        const other = Object.create(this);
        other.caller = who;
        return other;
    }
    async invoke(contract, fn, ...args) {
        const params = contract.getName() === 'QueryContract' ? args : [this.tenant, ...args];
        return this.call(contract, fn, params);
    }
    async invokeAs(tenant, contract, fn, ...args) {
        return this.call(contract, fn, [tenant, ...args]);
    }
    _stub(txId, fcn, params) {
        return new FakeStub(this.world, txId, fcn, params, { creator: this.caller, millis: this.s.millis,
            peerMsp: this.s.peerMsp, queryLimit: this.s.queryLimit });
    }
    /** ctx as fabric-contract-api makes it: the stub, and ClientIdentity read from the creator. */
    _ctx(stub) {
        return { stub, clientIdentity: new ClientIdentity(stub) };
    }
    async call(contract, fn, params) {
        const stub = this._stub(`tx${++this.s.n}`, `${contract.getName()}:${fn}`, params.map(String));
        this.s.millis += 1000;
        const out = await contract[fn](this._ctx(stub), ...params);
        this.s.lastWrites = [...stub.writes.keys()];
        for (const [k, v] of stub.writes) {
            if (v === null) {
                this.world.delete(k);
            } else {
                this.world.set(k, v);
            }
        }
        if (stub.event) {
            this.events.push(stub.event);
        }
        const answer = typeof out === 'string' ? JSON.parse(out) : out;
        if (answer && answer.rejected) {
            throw new Rejected(answer);
        }
        return answer;
    }
    key(kind, ...ids) {
        return ChaincodeStub.prototype.createCompositeKey.call(null, kind, ids);
    }
    get(kind, ...ids) {
        const v = this.world.get(this.key(kind, ...ids));
        return v ? JSON.parse(v.toString('utf8')) : null;
    }
    record(tenant, requestId) {
        return this.get('req', tenant, requestId);
    }
    /** A query, as a client would evaluate it (QueryContract). */
    async query(fn, ...args) {
        const { contracts } = require('../index');
        const Query = contracts.find((C) => C.name === 'QueryContract');
        const stub = this._stub('query', `QueryContract:${fn}`, args.map(String));
        return JSON.parse(await new Query()[fn](this._ctx(stub), ...args));
    }
}

module.exports = { Ledger, FakeStub, Rejected, identity, cert, OPERATOR };
