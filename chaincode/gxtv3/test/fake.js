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

/*
 * A ledger: invoke() runs one transaction and commits its writes only if it succeeds. Write
 * functions get the ledger's tenant before their arguments (tests pass the requestId first, as
 * the pipeline's routing table lists them); a recorded rejection commits its record and is
 * thrown as Rejected, so `assert.rejects(L.invoke(...), /rule/)` reads as before.
 */
class Ledger {
    constructor(tenant = 'tenant-1') {
        this.world = new Map();
        this.n = 0;
        this.events = [];
        this.tenant = tenant;
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
        const out = await contract[fn]({ stub }, ...params);
        for (const [k, v] of stub.writes) {
            this.world.set(k, v);
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
    get(k) {
        const v = this.world.get(k);
        return v ? JSON.parse(v.toString('utf8')) : null;
    }
    record(tenant, requestId) {
        return this.get(ChaincodeStub.prototype.createCompositeKey.call(null, 'req', [tenant, requestId]));
    }
}

module.exports = { Ledger, FakeStub, Rejected };
