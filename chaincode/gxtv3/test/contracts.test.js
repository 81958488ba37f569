'use strict';
const { test, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { Ledger, FakeStub } = require('./fake');
const [Admin, Identity, Token, Org, Loan, Gov, Tax, Query] = require('../index').contracts.map((C) => new C());
const { GENESIS_SUPPLY } = require('../lib/admin');

let L;
let n = 0;
const rid = () => `req-${++n}`;
const bal = (id) => BigInt(L.get(`wallet:${id}`).balance);
const user = (id, country = 'MY') => L.invoke(Identity, 'CreateUser', rid(), id, `${id}@x.io`, 'F', 'L', country);

async function bootstrapped() {
    await L.invoke(Admin, 'BootstrapSystem', rid());
    await L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia');
    await user('alice');
    await user('bob');
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '1000');
}

beforeEach(() => {
    L = new Ledger();
});

test('every one of the 25 command functions exists on its contract', () => {
    const fns = {
        AdminContract: ['BootstrapSystem', 'InitializeCountry', 'UpdateSystemParameter', 'PauseSystem', 'ResumeSystem',
            'AppointAdmin', 'ActivateTreasury'],
        IdentityContract: ['CreateUser'],
        TokenomicsContract: ['DistributeGenesis', 'TransferTokens', 'FreezeWallet', 'UnfreezeWallet'],
        OrganizationContract: ['ProposeOrganization', 'EndorseMembership', 'ActivateOrganization', 'DefineAuthRule',
            'InitiateMultiSigTx', 'ApproveMultiSigTx', 'ExecuteMultiSigTx'],
        LoanPoolContract: ['ApplyForLoan', 'ApproveLoan'],
        GovernanceContract: ['SubmitProposal', 'CastVote', 'ExecuteProposal'],
        TaxContract: ['ApplyVelocityTax'],
    };
    const byName = Object.fromEntries([Admin, Identity, Token, Org, Loan, Gov, Tax].map((c) => [c.getName(), c]));
    let count = 0;
    for (const [name, list] of Object.entries(fns)) {
        for (const f of list) {
            assert.equal(typeof byName[name][f], 'function', `${name}:${f}`);
            count++;
        }
    }
    assert.equal(count, 25);
});

test('bootstrap mints the genesis supply into the pool, once', async () => {
    const r = await L.invoke(Admin, 'BootstrapSystem', 'boot-1');
    assert.equal(r.event, 'SystemBootstrapped');
    assert.equal(bal('SYSTEM_USER_GENESIS_POOL'), GENESIS_SUPPLY);
    await assert.rejects(L.invoke(Admin, 'BootstrapSystem', 'boot-2'), /already bootstrapped/);
});

test('initialisation order is enforced: nothing is minted before bootstrap', async () => {
    await user('alice');
    await assert.rejects(L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia'), /not bootstrapped/);
    await assert.rejects(L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '5'), /not bootstrapped/);
    await L.invoke(Admin, 'BootstrapSystem', rid());
    await assert.rejects(L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '5'), /country MY does not exist/);
});

test('an applied requestId returns the first result and changes nothing', async () => {
    await bootstrapped();
    const first = await L.invoke(Token, 'TransferTokens', 'xfer-1', 'alice', 'bob', '100', 'rent');
    const events = L.events.length;
    const again = await L.invoke(Token, 'TransferTokens', 'xfer-1', 'alice', 'bob', '100', 'rent');
    assert.deepEqual(again, first);
    assert.equal(bal('alice'), 900n);
    assert.equal(bal('bob'), 100n);
    assert.equal(L.events.length, events, 'a replay emits no second event');
});

test('balances never go negative', async () => {
    await bootstrapped();
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1001', ''),
        /insufficient balance in wallet alice: has 1000, needs 1001/);
    assert.equal(bal('alice'), 1000n);
});

test('amounts must be positive int64 integers', async () => {
    await bootstrapped();
    for (const bad of ['0', '-5', '1.5', 'abc', '9223372036854775808']) {
        await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', bad, ''), /amount must be/);
    }
});

test('a frozen wallet cannot send but can receive; unfreezing restores it', async () => {
    await bootstrapped();
    await L.invoke(Token, 'FreezeWallet', rid(), 'alice', 'audit');
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', ''), /alice is frozen/);
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '5');
    await L.invoke(Token, 'UnfreezeWallet', rid(), 'alice');
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', '');
    assert.equal(bal('alice'), 1004n);
});

test('a paused system refuses writes until resumed', async () => {
    await bootstrapped();
    await L.invoke(Admin, 'PauseSystem', rid(), 'maintenance');
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', ''), /system is paused/);
    await assert.rejects(user('carol'), /system is paused/);
    await L.invoke(Admin, 'ResumeSystem', rid());
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', '');
    assert.equal(bal('bob'), 1n);
});

test('one vote per voter; execution applies the parameter only with a majority', async () => {
    await bootstrapped();
    await L.invoke(Gov, 'SubmitProposal', rid(), 'P1', 'alice', 'raise tax', 'velocityTaxBps', '200');
    await L.invoke(Gov, 'CastVote', rid(), 'P1', 'alice', 'FOR');
    await assert.rejects(L.invoke(Gov, 'CastVote', rid(), 'P1', 'alice', 'AGAINST'), /already voted/);
    await L.invoke(Gov, 'CastVote', rid(), 'P1', 'bob', 'FOR');
    const r = await L.invoke(Gov, 'ExecuteProposal', rid(), 'P1');
    assert.equal(L.events.at(-1).payload.status, 'EXECUTED');
    assert.equal(r.event, 'ProposalExecuted');
    assert.equal(L.get('system:params').velocityTaxBps, '200');
    await assert.rejects(L.invoke(Gov, 'CastVote', rid(), 'P1', 'bob', 'FOR'), /not open/);
});

test('a multisig transaction executes only with its approvals', async () => {
    await bootstrapped();
    await L.invoke(Org, 'ProposeOrganization', rid(), 'ORG1', 'Coop', 'alice');
    await L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'bob');
    await L.invoke(Org, 'ActivateOrganization', rid(), 'ORG1');
    await L.invoke(Org, 'DefineAuthRule', rid(), 'ORG1', '2');
    await assert.rejects(L.invoke(Org, 'DefineAuthRule', rid(), 'ORG1', '3'), /exceeds the 2 members/);
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', 'ORG1', '300', 'fund');
    await L.invoke(Org, 'InitiateMultiSigTx', rid(), 'ORG1', 'M1', 'alice', 'bob', '250');
    await L.invoke(Org, 'ApproveMultiSigTx', rid(), 'ORG1', 'M1', 'alice');
    await assert.rejects(L.invoke(Org, 'ApproveMultiSigTx', rid(), 'ORG1', 'M1', 'alice'), /already approved/);
    await assert.rejects(L.invoke(Org, 'ExecuteMultiSigTx', rid(), 'ORG1', 'M1'), /has 1 of 2 required approvals/);
    await L.invoke(Org, 'ApproveMultiSigTx', rid(), 'ORG1', 'M1', 'bob');
    await L.invoke(Org, 'ExecuteMultiSigTx', rid(), 'ORG1', 'M1');
    assert.equal(bal('ORG1'), 50n);
    assert.equal(bal('bob'), 250n);
    await assert.rejects(L.invoke(Org, 'ExecuteMultiSigTx', rid(), 'ORG1', 'M1'), /already executed/);
});

test('loans: an admin approves and the pool pays the borrower', async () => {
    await bootstrapped();
    await L.invoke(Loan, 'ApplyForLoan', rid(), 'L1', 'bob', '500');
    await assert.rejects(L.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'alice'), /not an admin/);
    await L.invoke(Admin, 'AppointAdmin', rid(), 'alice');
    await L.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'alice');
    assert.equal(bal('bob'), 500n);
    assert.equal(L.get('loan:L1').status, 'APPROVED');
});

test('velocity tax moves the rate of a balance to the active treasury of the user country', async () => {
    await bootstrapped();
    await assert.rejects(L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice'), /treasury of MY is not active/);
    await L.invoke(Admin, 'ActivateTreasury', rid(), 'MY');
    await L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice');
    assert.equal(bal('alice'), 990n);
    assert.equal(bal('TREASURY_MY'), 10n);
});

test('events carry name, schema version, requestId and exact int64 amounts', async () => {
    await L.invoke(Admin, 'BootstrapSystem', 'r-boot');
    await L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia');
    await user('alice');
    await L.invoke(Token, 'DistributeGenesis', 'r-gen', 'alice', 'MY', '999999999999999');
    const ev = L.events.at(-1);
    assert.equal(ev.name, 'GenesisDistributed');
    assert.deepEqual(ev.payload, { schemaVersion: 1, requestId: 'r-gen', userId: 'alice', countryCode: 'MY',
        amount: 999999999999999 });
    assert.equal(L.events[0].payload.requestId, 'r-boot');
});

test('queries read one entity or a whole kind', async () => {
    await bootstrapped();
    const stub = { stub: new FakeStub(L.world, 'query') };
    assert.equal(JSON.parse(await Query.Get(stub, 'wallet', 'alice')).balance, '1000');
    assert.equal(await Query.Get(stub, 'user', 'nobody'), 'null');
    const users = JSON.parse(await Query.List(stub, 'user'));
    assert.deepEqual(users.map((u) => u.userId), ['alice', 'bob']);
    await assert.rejects(Query.Get(stub, 'widget', 'x'), /unknown kind/);
});

test('parameter and admin changes never write the key every transaction reads', async () => {
    await bootstrapped();
    const before = L.world.get('system:status').toString();
    await L.invoke(Admin, 'UpdateSystemParameter', rid(), 'velocityTaxBps', '50');
    await L.invoke(Admin, 'AppointAdmin', rid(), 'alice');
    assert.equal(L.world.get('system:status').toString(), before);
    await L.invoke(Admin, 'PauseSystem', rid(), 'x');
    assert.notEqual(L.world.get('system:status').toString(), before);
});

// --- idempotency that cannot be confused (issue 21) ---------------------------------------------

test('two tenants may use the same requestId: each command applies once', async () => {
    await bootstrapped();
    const a = await L.invokeAs('tenant-a', Token, 'TransferTokens', 'same-id', 'alice', 'bob', '10', '');
    const b = await L.invokeAs('tenant-b', Token, 'TransferTokens', 'same-id', 'alice', 'bob', '20', '');
    assert.notEqual(a.txId, b.txId);
    assert.equal(bal('bob'), 30n);
    assert.equal(L.record('tenant-a', 'same-id').answer, JSON.stringify(a));
});

test('one requestId reused for another command is refused as IDEMPOTENCY_CONFLICT, the first kept', async () => {
    await bootstrapped();
    const first = await L.invoke(Token, 'TransferTokens', 'dup', 'alice', 'bob', '10', '');
    await assert.rejects(L.invoke(Token, 'TransferTokens', 'dup', 'alice', 'bob', '11', ''),
        /IDEMPOTENCY_CONFLICT: request dup of tenant tenant-1 was already used for TokenomicsContract:TransferTokens/);
    await assert.rejects(L.invoke(Token, 'FreezeWallet', 'dup', 'bob', 'x'), /IDEMPOTENCY_CONFLICT/);
    assert.equal(bal('bob'), 10n);
    assert.deepEqual(await L.invoke(Token, 'TransferTokens', 'dup', 'alice', 'bob', '10', ''), first);
});

test('a rejection is recorded and replayed as the same answer, even after the state changed', async () => {
    await bootstrapped();
    await assert.rejects(L.invoke(Token, 'TransferTokens', 'poor', 'bob', 'alice', '50', ''),
        /INSUFFICIENT_FUNDS: insufficient balance in wallet bob: has 0, needs 50/);
    const recorded = L.record('tenant-1', 'poor');
    assert.equal(JSON.parse(recorded.answer).rejected.code, 'INSUFFICIENT_FUNDS');
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '100', '');  // now bob could pay
    const events = L.events.length;
    await assert.rejects(L.invoke(Token, 'TransferTokens', 'poor', 'bob', 'alice', '50', ''), /INSUFFICIENT_FUNDS/);
    assert.equal(bal('bob'), 100n, 'the replay did not run again against the new state');
    assert.equal(L.events.length, events);
    assert.equal(L.record('tenant-1', 'poor').txId, recorded.txId);
});

test('a rule that refuses after an earlier write leaves nothing but the record', async () => {
    const { GxContract, BusinessError } = require('../lib/ledger');
    class Half extends GxContract {
        constructor() {
            super('HalfContract');
        }
        async Half(ctx, tenantId, requestId) {
            return this._apply(ctx, tenantId, requestId, async (state) => {
                await state.put('country', { countryCode: 'ZZ' }, 'ZZ');
                throw new BusinessError('refused after a write', 'TEST');
            });
        }
    }
    await assert.rejects(L.invoke(new Half(), 'Half', 'h1'), /TEST: refused after a write/);
    assert.equal(L.get('country:ZZ'), null);
    assert.ok(L.record('tenant-1', 'h1'));
});

test('the test stub reads as Fabric does: a transaction never sees its own writes', async () => {
    const { FakeStub } = require('./fake');
    const world = new Map([['k', Buffer.from('old')]]);
    const stub = new FakeStub(world, 'tx', 'F', []);
    await stub.putState('k', Buffer.from('new'));
    assert.equal((await stub.getState('k')).toString(), 'old');
});

test('ids that cannot be keyed unambiguously are refused, not recorded', async () => {
    await bootstrapped();
    await assert.rejects(L.invoke(Token, 'TransferTokens', 'a\u0000b', 'alice', 'bob', '1', ''),
        /requestId cannot be used as a key/);
    await assert.rejects(L.invokeAs('t\u{10FFFF}', Token, 'TransferTokens', 'x', 'alice', 'bob', '1', ''),
        /tenantId cannot be used as a key/);
    assert.equal(bal('bob'), 0n);
});

test('the commands of a tenant are listed with their transaction and rejection', async () => {
    await bootstrapped();
    await L.invokeAs('t9', Token, 'TransferTokens', 'ok', 'alice', 'bob', '1', '');
    await assert.rejects(L.invokeAs('t9', Token, 'TransferTokens', 'no', 'bob', 'alice', '5', ''), /INSUFFICIENT/);
    await L.invokeAs('t10', Token, 'TransferTokens', 'other', 'alice', 'bob', '1', '');
    const listed = JSON.parse(await Query.ListRequests({ stub: new FakeStub(L.world, 'q', 'QueryContract:ListRequests',
        ['t9']) }, 't9'));
    assert.deepEqual(listed.map((r) => [r.requestId, r.function, Boolean(r.rejected)]).sort(),
        [['no', 'TokenomicsContract:TransferTokens', true], ['ok', 'TokenomicsContract:TransferTokens', false]]);
});
