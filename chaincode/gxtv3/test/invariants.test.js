'use strict';
/*
 * The ledger's invariants, for any sequence of commands (issue 31): random sequences of all 25
 * command functions with random and hostile arguments, random callers (operators, submitters of
 * either scope, identities nobody granted, an admin of another MSP, a client whose subject text
 * holds "/OU=admin") and random tenants (in any case, and invalid ones), with the clock moving.
 * After every step:
 *   1. the sum of all balances (users, organisations, treasuries, the pool's shards) is what was
 *      minted (the genesis supply once bootstrapped, else 0);
 *   2. no balance is negative;
 *   3. genesis is paid at most once per user;
 *   4. a call either changes state and emits its event (named in its answer, with its requestId),
 *      or records a rejection and changes nothing else (only its record), or is thrown and changes
 *      nothing; a thrown error is only FORBIDDEN, INVALID_KEY, an unkeyable id or
 *      IDEMPOTENCY_CONFLICT (anything else is a bug: a rule must refuse by a recorded rejection);
 *   5. replaying a recorded requestId returns the recorded answer and changes nothing, emits nothing;
 *   6. an identity without the scope a function needs changes nothing (FORBIDDEN), and one with it
 *      is never refused as FORBIDDEN;
 *   7. a command changes no entity of another tenant (issue 31 finding 6).
 *
 * Budget: GX_PROPERTY_RUNS runs (default 300) of up to GX_PROPERTY_STEPS steps (default 60), from
 * the fixed seed GX_PROPERTY_SEED (default 31). A failure prints the seed and the shrunk path;
 * replay it with
 *   GX_PROPERTY_SEED=<seed> GX_PROPERTY_PATH=<path> node --test test/invariants.test.js
 * (NODE_PATH as scripts/test.sh sets it). GX_PROPERTY_SEED=random draws a new seed (printed).
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fc = require('fast-check');
const { Ledger, Rejected, identity, cert } = require('./fake');
const [Admin, Identity, Token, Org, Loan, Gov, Tax] = require('../index').contracts.map((C) => new C());
const { GENESIS_SUPPLY } = require('../lib/admin');
const { GENESIS_POOL, INT64_MAX } = require('../lib/ledger');

const RUNS = Number(process.env.GX_PROPERTY_RUNS || 300);
const STEPS = Number(process.env.GX_PROPERTY_STEPS || 60);
const SEED = process.env.GX_PROPERTY_SEED === 'random' ? Date.now() % 2147483647
    : Number(process.env.GX_PROPERTY_SEED || 31);
const PATH = process.env.GX_PROPERTY_PATH || undefined;
const STATS = new Map();   // function -> outcome -> count (GX_PROPERTY_STATS=1 prints them: what the runs reached)

function count(fn, outcome) {
    const row = STATS.get(fn) || {};
    row[outcome] = (row[outcome] || 0) + 1;
    STATS.set(fn, row);
}

// --- callers and what they may do ---------------------------------------------------------------
const CALLERS = {
    operator: { who: identity('admin'), scope: 'operator' },
    all: { who: identity('client'), scope: 'all' },
    commands: { who: identity('user2'), scope: 'commands' },
    collideA: { who: identity('collide-a'), scope: 'commands' },
    collideB: { who: identity('collide-b'), scope: 'none' },         // the same id text as collide-a
    org2admin: { who: identity('admin', 'Org2MSP'), scope: 'none' },  // an admin of an MSP that may not operate
    locality: { who: identity('locality'), scope: 'none' },           // L=x/OU=admin
    cn: { who: identity('cn'), scope: 'none' },
    twoous: { who: identity('twoous'), scope: 'none' },
    peer: { who: identity('peer'), scope: 'none' },
};
const ADMIN_FUNCTIONS = new Set(['BootstrapSystem', 'InitializeCountry', 'UpdateSystemParameter', 'PauseSystem',
    'ResumeSystem', 'AppointAdmin', 'ActivateTreasury', 'FreezeWallet', 'UnfreezeWallet', 'ApproveLoan']);

function mayCall(scope, fn) {
    return scope === 'operator' || scope === 'all' || (scope === 'commands' && !ADMIN_FUNCTIONS.has(fn));
}

// --- arguments ----------------------------------------------------------------------------------
const LONG = 'x'.repeat(300);
const hostile = fc.constantFrom('', LONG, 'a\u0000b', 'constructor', '__proto__', ' ', '@system:x');
const mix = (...pools) => fc.oneof({ arbitrary: fc.constantFrom(...pools), weight: 24 }, { arbitrary: hostile, weight: 1 });
const USERS = ['alice', 'bob', 'carol', 'dave'];
const user = mix(...USERS);
const wallet = mix(...USERS, ...USERS, '@org:O1', '@org:O2', GENESIS_POOL, '@treasury:MY', '@treasury:SG');
const country = mix('MY', 'SG', 'XX');
const amount = mix('1', '7', '100', '1000', '1', '7', '100', '1000', '1000000000', '62500000000000', '0', '-1', '1.5',
    '1e3', '9223372036854775807', '9223372036854775808');
const org = mix('O1', 'O2');
const approvers = mix('[]', '["alice"]', '["alice","bob"]', '["alice","bob"]', '["alice","bob","carol"]',
    '["bob","carol","dave"]', '["alice","alice"]', 'nope', '[1]');
const msig = mix('M1', 'M2');
const loan = mix('L1', 'L2');
const proposal = mix('P1', 'P2');
const text = mix('t', 'a "quoted" \u2028 text');
const param = mix('velocityTaxBps', 'velocityTaxBps', 'velocityTaxPeriodSeconds', 'genesisMaxPerUser', 'loanMaxAmount', 'proposalQuorum',
    'proposalVotingPeriodSeconds', 'proposalThresholdBps', 'demoRun', 'constructor', 'toString', 'hasOwnProperty');
const value = mix('0', '1', '2', '100', '1000', '5000', '9999', '604800', 'label', '1e2', '0100');

const FUNCTIONS = {
    BootstrapSystem: [Admin, []],
    InitializeCountry: [Admin, [country, text]],
    UpdateSystemParameter: [Admin, [param, value]],
    PauseSystem: [Admin, [text]],
    ResumeSystem: [Admin, []],
    AppointAdmin: [Admin, [user]],
    ActivateTreasury: [Admin, [country]],
    CreateUser: [Identity, [user, text, text, text, country]],
    DistributeGenesis: [Token, [user, country, amount]],
    TransferTokens: [Token, [wallet, wallet, amount, text]],
    FreezeWallet: [Token, [wallet, text]],
    UnfreezeWallet: [Token, [wallet]],
    ProposeOrganization: [Org, [org, text, user]],
    EndorseMembership: [Org, [org, user, approvers]],
    ActivateOrganization: [Org, [org, approvers]],
    DefineAuthRule: [Org, [org, mix('1', '2', '3', '0', '101'), approvers]],
    InitiateMultiSigTx: [Org, [org, msig, user, wallet, amount]],
    ApproveMultiSigTx: [Org, [org, msig, user]],
    ExecuteMultiSigTx: [Org, [org, msig]],
    ApplyForLoan: [Loan, [loan, user, amount]],
    ApproveLoan: [Loan, [loan, user]],
    SubmitProposal: [Gov, [proposal, user, text, param, value]],
    CastVote: [Gov, [proposal, user, mix('FOR', 'AGAINST', 'FOR', 'AGAINST', 'for', 'MAYBE')]],
    ExecuteProposal: [Gov, [proposal]],
    ApplyVelocityTax: [Tax, [wallet]],
};
const NAMES = Object.keys(FUNCTIONS);
assert.equal(NAMES.length, 25);

const tenant = fc.oneof({ arbitrary: fc.constantFrom('acme', 'acme', 'ACME', 'beta'), weight: 20 },
    { arbitrary: fc.constantFrom('', 'a b', 't'.repeat(129), 'Beta'), weight: 1 });
const callerName = fc.oneof({ arbitrary: fc.constantFrom('operator', 'all', 'commands'), weight: 10 },
    { arbitrary: fc.constantFrom(...Object.keys(CALLERS)), weight: 3 });
// A request id: mostly new; sometimes one used before (a replay, or a conflict if the arguments differ); rarely hostile.
const requestId = fc.oneof({ arbitrary: fc.constant({ fresh: true }), weight: 16 },
    { arbitrary: fc.nat().map((i) => ({ reuse: i })), weight: 3 },
    { arbitrary: fc.constantFrom('', 'r'.repeat(129), 'a\u0000b').map((id) => ({ id })), weight: 1 });

// Each function about equally often, but fewer of those that end a run's interest (pause) or only set it up.
const RARE = { PauseSystem: 1, BootstrapSystem: 1, InitializeCountry: 1, ActivateTreasury: 1, CreateUser: 2 };
const functionName = fc.oneof(...NAMES.map((fn) => ({ arbitrary: fc.constant(fn), weight: RARE[fn] || 3 })));
const command = functionName.chain((fn) => fc.record({
    kind: fc.constant('command'), fn: fc.constant(fn), tenant, caller: callerName, requestId,
    args: fc.tuple(...FUNCTIONS[fn][1]), replay: fc.nat(),
}));
const advance = fc.record({ kind: fc.constant('advance'), seconds: fc.constantFrom(1, 3600, 86400, 8 * 86400, 31 * 86400) });
const step = fc.oneof({ arbitrary: command, weight: 12 }, { arbitrary: advance, weight: 1 });

// A prelude that makes deep states reachable: the system, two countries, users of two tenants, money.
const PRELUDE = [
    ['BootstrapSystem', 'acme', []], ['InitializeCountry', 'acme', ['MY', 'Malaysia']],
    ['InitializeCountry', 'acme', ['SG', 'Singapore']], ['ActivateTreasury', 'acme', ['MY']],
    ['CreateUser', 'acme', ['alice', 'a@x.io', 'A', 'L', 'MY']], ['CreateUser', 'acme', ['bob', 'b@x.io', 'B', 'L', 'MY']],
    ['CreateUser', 'acme', ['carol', 'c@x.io', 'C', 'L', 'SG']], ['CreateUser', 'beta', ['dave', 'd@x.io', 'D', 'L', 'MY']],
    ['DistributeGenesis', 'acme', ['alice', 'MY', '1000000']], ['DistributeGenesis', 'beta', ['dave', 'MY', '500']],
    ['AppointAdmin', 'acme', ['bob']], ['ProposeOrganization', 'acme', ['O1', 'Coop', 'alice']],
    ['EndorseMembership', 'acme', ['O1', 'bob', '["alice"]']], ['ActivateOrganization', 'acme', ['O1', '["alice","bob"]']],
    ['TransferTokens', 'acme', ['alice', '@org:O1', '1000', 'fund']],
    ['SubmitProposal', 'acme', ['P1', 'alice', 'raise', 'velocityTaxBps', '200']],
    ['ApplyForLoan', 'acme', ['L1', 'carol', '100']], ['InitiateMultiSigTx', 'acme', ['O1', 'M1', 'alice', 'bob', '50']],
    ['ApproveMultiSigTx', 'acme', ['O1', 'M1', 'alice']], ['InitiateMultiSigTx', 'acme', ['O1', 'M2', 'bob', 'carol', '60']],
    ['ApproveMultiSigTx', 'acme', ['O1', 'M2', 'alice']], ['ApproveMultiSigTx', 'acme', ['O1', 'M2', 'bob']],
    ['FreezeWallet', 'acme', ['bob', 'audit']],
].map(([fn, t, args]) => ({ kind: 'command', fn, tenant: t, caller: 'operator', requestId: { fresh: true }, args,
    replay: 0 }));

// --- the world, read back -------------------------------------------------------------------------
function parts(k) {
    return k.split('\u0000').slice(1, -1);      // [kind, ...ids] of a composite key
}

function balances(world) {
    const out = [];
    for (const [k, v] of world) {
        const [kind] = parts(k);
        if (kind === 'wallet' || kind === 'walletshard') {
            const doc = JSON.parse(v.toString('utf8'));
            if (doc.balance !== undefined) {
                out.push([k, BigInt(doc.balance)]);
            }
        }
    }
    return out;
}

function changed(before, after) {
    const keys = new Set([...before.keys(), ...after.keys()]);
    return [...keys].filter((k) => before.get(k) !== after.get(k));   // the stub replaces values, never edits them
}

const THROWN = /^(FORBIDDEN|INVALID_KEY|IDEMPOTENCY_CONFLICT): |cannot be used as a key/;

/** Runs the steps on a new ledger, checking every invariant after each; throws on the first that fails. */
async function run(steps, withPrelude) {
    const L = new Ledger('acme');
    await L.call(Admin, 'GrantSubmitter', ['Org1MSP', cert('client'), 'all']);
    await L.call(Admin, 'GrantSubmitter', ['Org1MSP', cert('user2'), 'commands']);
    await L.call(Admin, 'GrantSubmitter', ['Org1MSP', cert('collide-a'), 'commands']);
    const recorded = [];     // {tenant, requestId, caller, fn, args, answer}
    let n = 0;
    const all = withPrelude ? [...PRELUDE, ...steps] : steps;
    for (const [i, s] of all.entries()) {
        if (s.kind === 'advance') {
            L.advance(s.seconds);
            continue;
        }
        let rid;
        if (s.requestId.fresh) {
            rid = `q${++n}`;
        } else if (s.requestId.reuse !== undefined) {
            rid = recorded.length > 0 ? recorded[s.requestId.reuse % recorded.length].requestId : `q${++n}`;
        } else {
            rid = s.requestId.id;
        }
        const where = `step ${i}: ${s.caller} ${s.fn}(${[s.tenant, rid, ...s.args].map((a) => JSON.stringify(a.length > 40 ? `${a.slice(0, 40)}...` : a)).join(', ')})`;
        const out = await step1(L, s, rid, where);
        if (out) {
            recorded.push(out);
        }
        check(L, where);
        // 5. a recorded command, replayed by its caller: its answer again, and nothing else.
        if (recorded.length > 0) {
            await replay(L, recorded[s.replay % recorded.length], where);
        }
    }
}

async function step1(L, s, rid, where) {
    const [C] = FUNCTIONS[s.fn];
    const { who, scope } = CALLERS[s.caller];
    const before = new Map(L.world);
    const events = L.events.length;
    const canonical = typeof s.tenant === 'string' ? s.tenant.toLowerCase() : s.tenant;
    let reqKey = null;
    try {
        reqKey = L.key('req', canonical, rid);
    } catch (e) {
        reqKey = null;   // an empty tenant or request id: no key (the chaincode must throw)
    }
    const seen = reqKey === null ? undefined : before.get(reqKey);
    let answer;
    let thrown;
    try {
        answer = await L.as(who).invokeAs(s.tenant, C, s.fn, rid, ...s.args);
    } catch (e) {
        if (e instanceof Rejected) {
            answer = e.answer;
        } else {
            thrown = e;
        }
    }
    const diff = changed(before, L.world);
    const emitted = L.events.slice(events);
    // 6. scope
    if (!mayCall(scope, s.fn)) {
        assert.ok(thrown && /^FORBIDDEN: /.test(thrown.message), `${where}: a ${scope} caller was not refused`);
    } else if (thrown) {
        assert.doesNotMatch(thrown.message, /^FORBIDDEN/, `${where}: a ${scope} caller was refused`);
    }
    // 4. thrown: only what cannot be recorded, and nothing changed
    count(s.fn, thrown ? thrown.message.split(':')[0].slice(0, 20) : seen ? 'replay' : answer.rejected ? answer.rejected.code
        : 'ok');
    if (thrown) {
        assert.match(thrown.message, THROWN, `${where}: threw ${thrown.stack}`);
        assert.deepEqual(diff, [], `${where}: a thrown call changed ${diff.length} key(s)`);
        assert.equal(emitted.length, 0, `${where}: a thrown call emitted an event`);
        return null;
    }
    if (seen) {  // 5. a replay (same arguments): the recorded answer, nothing changed
        assert.equal(JSON.stringify(answer), JSON.parse(seen.toString('utf8')).answer, `${where}: replay answered otherwise`);
        assert.deepEqual(diff, [], `${where}: a replay changed state`);
        assert.equal(emitted.length, 0, `${where}: a replay emitted an event`);
        return null;
    }
    assert.ok(diff.includes(reqKey), `${where}: the answer was not recorded`);
    if (answer.rejected) {
        assert.deepEqual(diff, [reqKey], `${where}: a rejection (${answer.rejected.code}) changed more than its record`);
        assert.equal(emitted.length, 0, `${where}: a rejection emitted an event`);
        assert.ok(answer.rejected.message.length <= 500, `${where}: a rejection message of ${answer.rejected.message.length}`);
        assert.match(answer.rejected.code, /^[A-Z_]+$/);
    } else {
        assert.ok(diff.length >= 2, `${where}: a success changed nothing but its record`);
        assert.equal(emitted.length, 1, `${where}: a success emitted ${emitted.length} events`);
        assert.equal(emitted[0].name, answer.event, `${where}: event ${emitted[0].name}, answer ${answer.event}`);
        assert.equal(emitted[0].payload.requestId, rid);
        assert.equal(emitted[0].payload.schemaVersion, 2);
        // 7. it changed no other tenant's entity
        for (const k of diff) {
            for (const v of [before.get(k), L.world.get(k)]) {
                const owner = v ? JSON.parse(v.toString('utf8')).tenantId : undefined;
                assert.ok(owner === undefined || owner === canonical, `${where}: changed ${parts(k).join('/')} of tenant ${owner}`);
            }
        }
    }
    return { tenant: s.tenant, requestId: rid, caller: s.caller, fn: s.fn, args: s.args, answer: JSON.stringify(answer) };
}

async function replay(L, r, where) {
    const before = new Map(L.world);
    const events = L.events.length;
    let answer;
    try {
        answer = await L.as(CALLERS[r.caller].who).invokeAs(r.tenant, FUNCTIONS[r.fn][0], r.fn, r.requestId, ...r.args);
    } catch (e) {
        assert.ok(e instanceof Rejected, `${where}: replaying ${r.fn} ${r.requestId} threw ${e.message}`);
        answer = e.answer;
    }
    assert.equal(JSON.stringify(answer), r.answer, `${where}: replaying ${r.fn} ${r.requestId} answered otherwise`);
    assert.deepEqual(changed(before, L.world), [], `${where}: replaying ${r.fn} ${r.requestId} changed state`);
    assert.equal(L.events.length, events, `${where}: replaying ${r.fn} ${r.requestId} emitted an event`);
}

function check(L, where) {
    const status = L.get('system', 'status');
    const minted = status && status.bootstrapped ? GENESIS_SUPPLY : 0n;
    const all = balances(L.world);
    const total = all.reduce((sum, [, b]) => sum + b, 0n);
    assert.equal(total, minted, `${where}: balances sum to ${total}, ${minted} was minted`);     // 1
    for (const [k, b] of all) {
        assert.ok(b >= 0n && b <= INT64_MAX, `${where}: balance ${b} of ${parts(k).join('/')}`);   // 2
    }
    const paid = new Map();                                                                       // 3
    for (const e of L.events.filter((ev) => ev.name === 'GenesisDistributed')) {
        paid.set(e.payload.userId, (paid.get(e.payload.userId) || 0) + 1);
        assert.equal(paid.get(e.payload.userId), 1, `${where}: genesis paid twice to ${e.payload.userId}`);
    }
}

test(`invariants hold for random sequences of the 25 functions (${RUNS} runs of up to ${STEPS} steps, seed ${SEED})`,
    async () => {
        const params = { seed: SEED, numRuns: PATH ? 1 : RUNS, ...(PATH ? { path: PATH } : {}) };
        try {
            const steps = fc.array(step, { minLength: Math.min(5, STEPS), maxLength: STEPS, size: 'max' });
            await fc.assert(fc.asyncProperty(steps, fc.constantFrom(true, true, true, false),
                async (steps, withPrelude) => run(steps, withPrelude)), params);
        } catch (e) {
            const m = /seed: (-?\d+), path: "([^"]*)"/.exec(e.message);
            console.error(`property failed; replay: GX_PROPERTY_SEED=${m ? m[1] : SEED} GX_PROPERTY_PATH=${m ? m[2] : '?'}`
                + ' node --test test/invariants.test.js');
            if (e.cause) {
                console.error(`the invariant that failed: ${e.cause.message}`);
            }
            throw e;
        }
        if (process.env.GX_PROPERTY_STATS) {
            for (const [fn, row] of [...STATS].sort()) {
                console.log(`${fn.padEnd(22)} ${Object.entries(row).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
            }
        }
    });

test('the invariant checks catch what they claim to: a ledger that mints or spends twice fails them', async () => {
    const L = new Ledger('acme');
    for (const [i, s] of PRELUDE.entries()) {
        await L.as(CALLERS.operator.who).invokeAs(s.tenant, FUNCTIONS[s.fn][0], s.fn, `p${i}`, ...s.args);
    }
    check(L, 'prelude');
    // Forge a balance (money from nowhere) and a second genesis event: each check must fail.
    const k = L.key('wallet', 'bob');
    const bob = JSON.parse(L.world.get(k).toString('utf8'));
    L.world.set(k, Buffer.from(JSON.stringify({ ...bob, balance: '5' })));
    assert.throws(() => check(L, 'forged'), /balances sum to/);
    L.world.set(k, Buffer.from(JSON.stringify(bob)));
    L.events.push({ name: 'GenesisDistributed', payload: { userId: 'alice' } });
    assert.throws(() => check(L, 'twice'), /genesis paid twice to alice/);
});
