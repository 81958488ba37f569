'use strict';
const { test, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { Ledger, FakeStub, identity, cert } = require('./fake');
const [Admin, Identity, Token, Org, Loan, Gov, Tax, Query] = require('../index').contracts.map((C) => new C());
const { GENESIS_SUPPLY } = require('../lib/admin');
const { GENESIS_POOL, SHARDS, shardOf } = require('../lib/ledger');

let L;
let n = 0;
const rid = () => `req-${++n}`;
const bal = async (ref) => BigInt((await L.query('Get', 'wallet', ref)).balance);
const user = (id, country = 'MY') => L.invoke(Identity, 'CreateUser', rid(), id, `${id}@x.io`, 'F', 'L', country);
const ORG1 = '@org:ORG1';

async function bootstrapped() {
    await L.invoke(Admin, 'BootstrapSystem', rid());
    await L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia');
    await user('alice');
    await user('bob');
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '1000');
}

async function activeOrg() {
    await L.invoke(Org, 'ProposeOrganization', rid(), 'ORG1', 'Coop', 'alice');
    await L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'bob', '["alice"]');
    await L.invoke(Org, 'ActivateOrganization', rid(), 'ORG1', '["alice","bob"]');   // threshold: both
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
    assert.equal(await bal(GENESIS_POOL), GENESIS_SUPPLY);
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
    assert.equal(await bal('alice'), 900n);
    assert.equal(await bal('bob'), 100n);
    assert.equal(L.events.length, events, 'a replay emits no second event');
});

test('balances never go negative', async () => {
    await bootstrapped();
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1001', ''),
        /insufficient balance in wallet alice: has 1000, needs 1001/);
    assert.equal(await bal('alice'), 1000n);
});

test('amounts must be positive int64 integers', async () => {
    await bootstrapped();
    for (const bad of ['0', '-5', '1.5', 'abc', '9223372036854775808', '1e2']) {
        await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', bad, ''), /amount must be/);
    }
});

test('a frozen wallet cannot send but can receive; unfreezing restores it', async () => {
    await bootstrapped();
    await L.invoke(Token, 'FreezeWallet', rid(), 'alice', 'audit');
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', ''), /alice is frozen/);
    await L.invoke(Token, 'DistributeGenesis', rid(), 'bob', 'MY', '5');
    await L.invoke(Token, 'TransferTokens', rid(), 'bob', 'alice', '5', '');
    await L.invoke(Token, 'UnfreezeWallet', rid(), 'alice');
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', '');
    assert.equal(await bal('alice'), 1004n);
});

test('a paused system refuses writes until resumed', async () => {
    await bootstrapped();
    await L.invoke(Admin, 'PauseSystem', rid(), 'maintenance');
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', ''), /system is paused/);
    await assert.rejects(user('carol'), /system is paused/);
    await L.invoke(Admin, 'ResumeSystem', rid());
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', '');
    assert.equal(await bal('bob'), 1n);
});

test('one vote per voter; execution applies the parameter only with a majority', async () => {
    await bootstrapped();
    await user('carol');
    await L.invoke(Gov, 'SubmitProposal', rid(), 'P1', 'alice', 'raise tax', 'velocityTaxBps', '200');
    await L.invoke(Gov, 'CastVote', rid(), 'P1', 'alice', 'FOR');
    await assert.rejects(L.invoke(Gov, 'CastVote', rid(), 'P1', 'alice', 'AGAINST'), /already voted/);
    await L.invoke(Gov, 'CastVote', rid(), 'P1', 'bob', 'FOR');
    await L.invoke(Gov, 'CastVote', rid(), 'P1', 'carol', 'AGAINST');
    L.advance(7 * 24 * 3600);
    const r = await L.invoke(Gov, 'ExecuteProposal', rid(), 'P1');
    assert.equal(L.events.at(-1).payload.status, 'EXECUTED');
    assert.equal(r.event, 'ProposalExecuted');
    assert.equal(L.get('system', 'params').velocityTaxBps, '200');
    await assert.rejects(L.invoke(Gov, 'CastVote', rid(), 'P1', 'bob', 'FOR'), /not open/);
});

test('a multisig transaction executes only with its approvals', async () => {
    await bootstrapped();
    await activeOrg();
    await L.invoke(Org, 'DefineAuthRule', rid(), 'ORG1', '2', '["alice","bob"]');
    await assert.rejects(L.invoke(Org, 'DefineAuthRule', rid(), 'ORG1', '3', '["alice","bob"]'), /exceeds the 2 members/);
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', ORG1, '300', 'fund');
    await L.invoke(Org, 'InitiateMultiSigTx', rid(), 'ORG1', 'M1', 'alice', 'bob', '250');
    await L.invoke(Org, 'ApproveMultiSigTx', rid(), 'ORG1', 'M1', 'alice');
    await assert.rejects(L.invoke(Org, 'ApproveMultiSigTx', rid(), 'ORG1', 'M1', 'alice'), /already approved/);
    await assert.rejects(L.invoke(Org, 'ExecuteMultiSigTx', rid(), 'ORG1', 'M1'), /has 1 of 2 required approvals/);
    await L.invoke(Org, 'ApproveMultiSigTx', rid(), 'ORG1', 'M1', 'bob');
    await L.invoke(Org, 'ExecuteMultiSigTx', rid(), 'ORG1', 'M1');
    assert.equal(await bal(ORG1), 50n);
    assert.equal(await bal('bob'), 250n);
    await assert.rejects(L.invoke(Org, 'ExecuteMultiSigTx', rid(), 'ORG1', 'M1'), /already executed/);
});

test('loans: an admin approves and only then does the pool pay the borrower', async () => {
    await bootstrapped();
    await L.invoke(Loan, 'ApplyForLoan', rid(), 'L1', 'bob', '500');
    assert.equal(await bal('bob'), 0n);
    await assert.rejects(L.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'alice'), /not an admin/);
    await L.invoke(Admin, 'AppointAdmin', rid(), 'alice');
    await assert.rejects(L.invoke(Loan, 'ApproveLoan', rid(), 'NOPE', 'alice'), /loan NOPE does not exist/);
    await L.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'alice');
    assert.equal(await bal('bob'), 500n);
    assert.equal(L.get('loan', 'L1').status, 'APPROVED');
    await assert.rejects(L.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'alice'), /already approved/);
    assert.equal(await bal('bob'), 500n);
});

test('velocity tax moves the rate of a balance to the active treasury of the user country', async () => {
    await bootstrapped();
    await assert.rejects(L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice'), /treasury of MY is not active/);
    await L.invoke(Admin, 'ActivateTreasury', rid(), 'MY');
    await L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice');
    assert.equal(await bal('alice'), 990n);
    assert.equal(await bal('@treasury:MY'), 10n);
});

test('events carry name, schema version, requestId and exact int64 amounts as decimal strings', async () => {
    await L.invoke(Admin, 'BootstrapSystem', 'r-boot');
    await L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia');
    await user('alice');
    await L.invoke(Admin, 'UpdateSystemParameter', rid(), 'genesisMaxPerUser', '62500000000000');
    await L.invoke(Token, 'DistributeGenesis', 'r-gen', 'alice', 'MY', '62499999999999');
    const ev = L.events.at(-1);
    assert.equal(ev.name, 'GenesisDistributed');
    assert.deepEqual(ev.payload, { schemaVersion: 2, requestId: 'r-gen', userId: 'alice', countryCode: 'MY',
        amount: '62499999999999', fromWalletId: GENESIS_POOL });
    assert.equal(L.events[0].payload.requestId, 'r-boot');
    assert.equal((await L.query('Get', 'country', 'MY')).genesisDistributed, '62499999999999');
});

test('queries read one entity or a whole kind', async () => {
    await bootstrapped();
    assert.equal((await L.query('Get', 'wallet', 'alice')).balance, '1000');
    assert.equal(await L.query('Get', 'user', 'nobody'), null);
    const users = (await L.query('List', 'user', '1000', '')).items;
    assert.deepEqual(users.map((u) => u.userId), ['alice', 'bob']);
    const wallets = (await L.query('List', 'wallet', '1000', '')).items;
    assert.deepEqual(wallets.map((w) => [w.walletId, w.ownerType]).sort(),
        [[GENESIS_POOL, 'SYSTEM'], ['alice', 'USER'], ['bob', 'USER']]);
    await assert.rejects(L.query('Get', 'widget', 'x'), /unknown kind/);
});

test('parameter and admin changes never write the key every transaction reads', async () => {
    await bootstrapped();
    const before = JSON.stringify(L.get('system', 'status'));
    await L.invoke(Admin, 'UpdateSystemParameter', rid(), 'velocityTaxBps', '50');
    await L.invoke(Admin, 'AppointAdmin', rid(), 'alice');
    assert.equal(JSON.stringify(L.get('system', 'status')), before);
    await L.invoke(Admin, 'PauseSystem', rid(), 'x');
    assert.notEqual(JSON.stringify(L.get('system', 'status')), before);
});

// --- idempotency that cannot be confused --------------------------------------------------------

test('two tenants may use the same requestId: each command applies once', async () => {
    await bootstrapped();
    for (const t of ['tenant-a', 'tenant-b']) {
        await L.invokeAs(t, Identity, 'CreateUser', rid(), `${t}-x`, 'x@x.io', 'F', 'L', 'MY');
        await L.invokeAs(t, Identity, 'CreateUser', rid(), `${t}-y`, 'y@x.io', 'F', 'L', 'MY');
        await L.invokeAs(t, Token, 'DistributeGenesis', rid(), `${t}-x`, 'MY', '100');
    }
    const a = await L.invokeAs('tenant-a', Token, 'TransferTokens', 'same-id', 'tenant-a-x', 'tenant-a-y', '10', '');
    const b = await L.invokeAs('tenant-b', Token, 'TransferTokens', 'same-id', 'tenant-b-x', 'tenant-b-y', '20', '');
    assert.notEqual(a.txId, b.txId);
    assert.equal(await bal('tenant-a-y'), 10n);
    assert.equal(await bal('tenant-b-y'), 20n);
    assert.equal(L.record('tenant-a', 'same-id').answer, JSON.stringify(a));
});

test('one requestId reused for another command is refused as IDEMPOTENCY_CONFLICT, the first kept', async () => {
    await bootstrapped();
    const first = await L.invoke(Token, 'TransferTokens', 'dup', 'alice', 'bob', '10', '');
    await assert.rejects(L.invoke(Token, 'TransferTokens', 'dup', 'alice', 'bob', '11', ''),
        /IDEMPOTENCY_CONFLICT: request dup of tenant tenant-1 was already used for TokenomicsContract:TransferTokens/);
    await assert.rejects(L.invoke(Token, 'FreezeWallet', 'dup', 'bob', 'x'), /IDEMPOTENCY_CONFLICT/);
    assert.equal(await bal('bob'), 10n);
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
    assert.equal(await bal('bob'), 100n, 'the replay did not run again against the new state');
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
    assert.equal(L.get('country', 'ZZ'), null);
    assert.ok(L.record('tenant-1', 'h1'));
});

test('the test stub reads as Fabric does: a transaction never sees its own writes', async () => {
    const world = new Map([['k', Buffer.from('old')]]);
    const stub = new FakeStub(world, 'tx', 'F', []);
    await stub.putState('k', Buffer.from('new'));
    assert.equal((await stub.getState('k')).toString(), 'old');
});

test('ids that cannot be keyed unambiguously are refused, not recorded', async () => {
    await bootstrapped();
    await assert.rejects(L.invoke(Token, 'TransferTokens', 'a\u0000b', 'alice', 'bob', '1', ''),
        /INVALID_KEY: requestId must be 1 to 128 characters without U\+0000/);
    await assert.rejects(L.invokeAs('t\u{10FFFF}', Token, 'TransferTokens', 'x', 'alice', 'bob', '1', ''),
        /INVALID_KEY: tenantId must be 1 to 128 letters/);
    // A NUL in an id argument: refused as text no read model can store (a recorded rejection),
    // before it could reach a key.
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'b\u0000ob', '1', ''),
        /INVALID_ARGUMENT: toWalletId must not contain control characters: U\+0000/);
    assert.equal(await bal('bob'), 0n);
});

test('the commands of a tenant are listed with their transaction and rejection', async () => {
    await bootstrapped();
    await L.invokeAs('t9', Identity, 'CreateUser', 'ok', 'u9', 'u9@x.io', 'F', 'L', 'MY');
    await assert.rejects(L.invokeAs('t9', Identity, 'CreateUser', 'no', 'u9', 'u9@x.io', 'F', 'L', 'MY'),
        /ALREADY_EXISTS/);
    await L.invokeAs('t10', Identity, 'CreateUser', 'other', 'u10', 'u10@x.io', 'F', 'L', 'MY');
    const listed = (await L.query('ListRequests', 't9', '1000', '')).items;
    assert.deepEqual(listed.map((r) => [r.requestId, r.function, Boolean(r.rejected)]).sort(),
        [['no', 'IdentityContract:CreateUser', true], ['ok', 'IdentityContract:CreateUser', false]]);
});

// --- keys and namespaces ------------------------------------------------------------------------

test("ids holding ':' never alias: org A:B's multisig C is not org A's multisig B:C", async () => {
    await bootstrapped();
    await user('carol');
    for (const [org, who] of [['A', 'alice'], ['A:B', 'carol']]) {
        await L.invoke(Org, 'ProposeOrganization', rid(), org, org, who);
        await L.invoke(Org, 'ActivateOrganization', rid(), org, JSON.stringify([who]));
    }
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', '@org:A', '100', '');
    await L.invoke(Org, 'InitiateMultiSigTx', rid(), 'A', 'B:C', 'alice', 'bob', '40');
    await L.invoke(Org, 'InitiateMultiSigTx', rid(), 'A:B', 'C', 'carol', 'bob', '1');
    // carol, a member of A:B only, approves A:B's C: that must not approve A's B:C.
    await L.invoke(Org, 'ApproveMultiSigTx', rid(), 'A:B', 'C', 'carol');
    assert.deepEqual(L.get('msig', 'A', 'B:C').approvals, []);
    await assert.rejects(L.invoke(Org, 'ApproveMultiSigTx', rid(), 'A', 'B:C', 'carol'), /carol is not a member of organization A/);
    await assert.rejects(L.invoke(Org, 'ExecuteMultiSigTx', rid(), 'A', 'B:C'), /has 0 of 1 required approvals/);
    assert.equal(await bal('@org:A'), 100n);
});

test('a user can never take a system or organisation wallet, and no wallet is overwritten', async () => {
    await user('SYSTEM_USER_GENESIS_POOL');     // once blocked bootstrap for good
    await user('TREASURY_MY');                  // once lost its balance when the treasury was activated
    await assert.rejects(user('@org:ORG1'), /reserved namespace/);
    await assert.rejects(user('@system:SYSTEM_USER_GENESIS_POOL'), /reserved namespace/);
    await L.invoke(Admin, 'BootstrapSystem', rid());
    await L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia');
    await L.invoke(Token, 'DistributeGenesis', rid(), 'TREASURY_MY', 'MY', '70');
    await L.invoke(Admin, 'ActivateTreasury', rid(), 'MY');
    assert.equal(await bal('TREASURY_MY'), 70n);
    assert.equal(await bal('@treasury:MY'), 0n);
    assert.equal(await bal(GENESIS_POOL), GENESIS_SUPPLY - 70n);
    await assert.rejects(L.invoke(Admin, 'ActivateTreasury', rid(), 'MY'), /already active/);
    assert.deepEqual(L.events.find((e) => e.name === 'TreasuryActivated').payload,
        { schemaVersion: 2, requestId: L.events.find((e) => e.name === 'TreasuryActivated').payload.requestId,
            countryCode: 'MY', treasuryWalletId: '@treasury:MY', balance: '0' });
});

// --- money moves only by the rules --------------------------------------------------------------

test('a plain transfer cannot send from the pool, a treasury or an organisation, nor pay the pool', async () => {
    await bootstrapped();
    await activeOrg();
    await L.invoke(Admin, 'ActivateTreasury', rid(), 'MY');
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', ORG1, '100', '');
    for (const from of [GENESIS_POOL, '@treasury:MY', ORG1]) {
        await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), from, 'bob', '1', ''), /FORBIDDEN_SOURCE/);
    }
    for (const to of [GENESIS_POOL, '@treasury:MY']) {
        await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', to, '1', ''), /FORBIDDEN_TARGET/);
    }
    assert.equal(await bal(ORG1), 100n);
    assert.equal(await bal('bob'), 0n);
});

test("an active organisation's membership and threshold change only with its approval", async () => {
    await bootstrapped();
    await user('carol');
    await activeOrg();
    assert.equal(L.get('org', 'ORG1').requiredApprovals, 2);                   // both founders, from activation
    await assert.rejects(L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'carol', '[]'),
        /APPROVALS_MISSING: a new member \(carol\) in active organization ORG1 needs 2 member approvals, got 0/);
    await assert.rejects(L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'carol', '["alice","alice"]'),
        /needs 2 member approvals, got 1/);
    await assert.rejects(L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'carol', '["alice","carol"]'),
        /approver carol is not a member/);
    await L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'carol', '["alice","bob"]');
    assert.deepEqual(L.get('org', 'ORG1').members, ['alice', 'bob', 'carol']);
    await assert.rejects(L.invoke(Org, 'DefineAuthRule', rid(), 'ORG1', '1', '["carol"]'), /needs 2 member approvals/);
});

// --- who may do what ----------------------------------------------------------------------------

test('only granted submitters write; administrative functions need the scope all; grants are the operator\'s', async () => {
    const certPem = cert('user2');
    await bootstrapped();
    const stranger = L.as(identity('user2'));
    const events = L.events.length;
    await assert.rejects(stranger.invoke(Token, 'TransferTokens', 'by-user2', 'alice', 'bob', '1', ''),
        /FORBIDDEN: Org1MSP identity "x509::.*CN=User2@org1.example.com.*" may not submit commands/);
    assert.equal(L.record('tenant-1', 'by-user2'), null, 'a refused caller records nothing');
    await assert.rejects(stranger.call(Admin, 'GrantSubmitter', ['Org1MSP', certPem, 'all']), /may not manage submitters/);
    await L.call(Admin, 'GrantSubmitter', ['Org1MSP', certPem, 'commands']);
    await stranger.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', '');
    await assert.rejects(stranger.invoke(Admin, 'PauseSystem', rid(), 'x'), /may not submit administrative commands/);
    await assert.rejects(stranger.invoke(Token, 'FreezeWallet', rid(), 'bob', 'x'), /administrative/);
    await L.call(Admin, 'GrantSubmitter', ['Org1MSP', certPem, 'all']);
    await stranger.invoke(Admin, 'PauseSystem', rid(), 'x');
    await L.call(Admin, 'RevokeSubmitter', ['Org1MSP', certPem]);
    await assert.rejects(stranger.invoke(Admin, 'ResumeSystem', rid()), /FORBIDDEN/);
    assert.equal(L.events.length, events + 2);
    assert.ok(await stranger.query('Get', 'wallet', 'alice'), 'any member may read');
    await assert.rejects(L.as(identity('peer')).invoke(Token, 'TransferTokens', rid(),
        'alice', 'bob', '1', ''), /FORBIDDEN/);
});

// --- values and events --------------------------------------------------------------------------

test('parameters are parsed once, the same way wherever they are set', async () => {
    await bootstrapped();
    for (const bad of ['1e2', '100.0', '0100', '-1', '1001', '10000', ' 100']) {
        await assert.rejects(L.invoke(Admin, 'UpdateSystemParameter', rid(), 'velocityTaxBps', bad),
            /INVALID_PARAMETER: velocityTaxBps must be an integer number of basis points from 0 to 1000/);
        await assert.rejects(L.invoke(Gov, 'SubmitProposal', rid(), `P-${bad}`, 'alice', 't', 'velocityTaxBps', bad),
            /INVALID_PARAMETER/);
    }
    await assert.rejects(L.invoke(Admin, 'UpdateSystemParameter', rid(), 'Velocity Tax', '1'), /unknown parameter/);
    await L.invoke(Admin, 'UpdateSystemParameter', rid(), 'velocityTaxBps', '250');
    await L.invoke(Admin, 'UpdateSystemParameter', rid(), 'demoRun', 'any label');
    await L.invoke(Admin, 'ActivateTreasury', rid(), 'MY');
    await L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice');
    assert.equal(await bal('@treasury:MY'), 25n, 'the tax reads the value as it was checked');
});

test('hostile memos and names reach the event exactly, and the event is valid JSON', async () => {
    await bootstrapped();
    const memo = 'x"__int64__1 \\ "}{ \u2028 __int64__7';
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '7', memo);
    const ev = L.events.at(-1);
    assert.equal(JSON.parse(ev.raw).memo, memo);
    assert.equal(ev.payload.amount, '7');
    await L.invoke(Identity, 'CreateUser', rid(), 'eve', 'eve@x.io', '__int64__42', '"}', 'MY');
    assert.deepEqual([L.events.at(-1).payload.firstName, L.events.at(-1).payload.lastName], ['__int64__42', '"}']);
});

// --- hot keys -----------------------------------------------------------------------------------

test('genesis distributions to users of different shards write disjoint keys (no MVCC conflict)', async () => {
    await L.invoke(Admin, 'BootstrapSystem', rid());
    await L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia');
    const users = [];
    for (let i = 0; users.length < SHARDS; i++) {
        if (!users.some((u) => shardOf(u) === shardOf(`u${i}`))) {
            users.push(`u${i}`);
        }
    }
    const written = [];
    for (const u of users) {
        await user(u);
        await L.invoke(Token, 'DistributeGenesis', rid(), u, 'MY', '10');
        written.push(new Set(L.lastWrites.filter((k) => !k.includes('req'))));
    }
    for (let i = 0; i < written.length; i++) {
        for (let j = i + 1; j < written.length; j++) {
            assert.deepEqual([...written[i]].filter((k) => written[j].has(k)), [], `${users[i]} and ${users[j]}`);
        }
    }
    assert.equal(await bal(GENESIS_POOL), GENESIS_SUPPLY - 10n * BigInt(SHARDS));
    assert.equal((await L.query('Get', 'country', 'MY')).genesisDistributed, String(10 * SHARDS));
});

test('every kept text is bounded, so no command makes an event larger than a record may be', async () => {
    await bootstrapped();
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', 'm'.repeat(501)),
        /INVALID_ARGUMENT: memo is 501 characters, over the 500 allowed/);
    await assert.rejects(L.invoke(Identity, 'CreateUser', rid(), 'zed', 'z@x.io', 'F'.repeat(1001), 'L', 'MY'),
        /firstName is 1001 characters/);
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', 'bob', '1', 'm'.repeat(500));
});
