'use strict';
/*
 * An in-memory ChaincodeStub for unit tests that behaves as Fabric's does where the contracts can
 * tell: reads see the world state before the transaction (a transaction never reads its own
 * writes), writes commit only if the transaction succeeds, one event per transaction, composite
 * keys as fabric-shim builds them, and getFunctionAndParameters() naming the call.
 */
const { ChaincodeStub } = require('fabric-shim');

class FakeStub {
    constructor(world, txId, fcn, params) {
        this.world = world;
        this.writes = new Map();
        this.txId = txId;
        this.fcn = fcn;
        this.params = params;
        this.event = null;
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
        return this._iterate((k) => k >= start && k < end);
    }
    async getStateByPartialCompositeKey(type, attributes) {
        const prefix = this.createCompositeKey(type, attributes);
        return this._iterate((k) => k.startsWith(prefix));
    }
    _iterate(keep) {
        const keys = [...this.world.keys()].filter(keep).sort();
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
}

/** A command the chaincode refused and recorded (its transaction committed the record). */
class Rejected extends Error {
    constructor(answer) {
        super(`${answer.rejected.code}: ${answer.rejected.message}`);
        this.answer = answer;
    }
}

/** A caller as ctx.clientIdentity shows it: its MSP and its id (x509::<subject>::<issuer>). */
function identity(cn, ou = 'client', mspId = 'Org1MSP') {
    const id = `x509::/C=US/ST=California/L=San Francisco/OU=${ou}/CN=${cn}::/C=US/ST=California/L=San Francisco/`
        + 'O=org1.example.com/CN=ca.org1.example.com';
    return { getMSPID: () => mspId, getID: () => id };
}

const OPERATOR = identity('Admin@org1.example.com', 'admin');

/*
 * A ledger: invoke() runs one transaction and commits its writes only if it succeeds. Write
 * functions get the ledger's tenant before their arguments (tests pass the requestId first, as
 * the pipeline's routing table lists them); a recorded rejection commits its record and is
 * thrown as Rejected, so `assert.rejects(L.invoke(...), /rule/)` reads as before. The caller is
 * the operator unless ``as`` says otherwise.
 */
class Ledger {
    constructor(tenant = 'tenant-1') {
        this.world = new Map();
        this.n = 0;
        this.events = [];
        this.tenant = tenant;
        this.caller = OPERATOR;
        this.lastWrites = [];
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
    async call(contract, fn, params) {
        const stub = new FakeStub(this.world, `tx${++this.n}`, `${contract.getName()}:${fn}`, params.map(String));
        const out = await contract[fn]({ stub, clientIdentity: this.caller }, ...params);
        this.lastWrites = [...stub.writes.keys()];
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
        const stub = new FakeStub(this.world, 'query', `QueryContract:${fn}`, args);
        return JSON.parse(await new Query()[fn]({ stub, clientIdentity: this.caller }, ...args));
    }
}

module.exports = { Ledger, FakeStub, Rejected, identity, OPERATOR };
