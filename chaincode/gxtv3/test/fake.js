'use strict';
// An in-memory ChaincodeStub for unit tests: world state as a sorted map, one event per transaction.
class FakeStub {
    constructor(world, txId) {
        this.world = world;
        this.writes = new Map();
        this.txId = txId;
        this.event = null;
    }
    async getState(k) {
        return this.writes.has(k) ? this.writes.get(k) : this.world.get(k) || Buffer.alloc(0);
    }
    async putState(k, v) {
        this.writes.set(k, Buffer.from(v));
    }
    async getStateByRange(start, end) {
        const keys = [...this.world.keys()].filter((k) => k >= start && k < end).sort();
        let i = 0;
        return {
            next: async () => (i < keys.length ? { done: false, value: { key: keys[i], value: this.world.get(keys[i++]) } }
                : { done: true }),
            close: async () => {},
        };
    }
    setEvent(name, payload) {
        this.event = { name, payload: JSON.parse(payload.toString('utf8')) };
    }
    getTxID() {
        return this.txId;
    }
}

// A ledger: invoke() runs one transaction and commits its writes only if it succeeds.
class Ledger {
    constructor() {
        this.world = new Map();
        this.n = 0;
        this.events = [];
    }
    async invoke(contract, fn, ...args) {
        const stub = new FakeStub(this.world, `tx${++this.n}`);
        const out = await contract[fn]({ stub }, ...args);
        for (const [k, v] of stub.writes) {
            this.world.set(k, v);
        }
        if (stub.event) {
            this.events.push(stub.event);
        }
        return typeof out === 'string' ? JSON.parse(out) : out;
    }
    get(k) {
        const v = this.world.get(k);
        return v ? JSON.parse(v.toString('utf8')) : null;
    }
}

module.exports = { Ledger, FakeStub };
