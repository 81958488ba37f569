'use strict';
/*
 * Issue 31, "the ledger's rules, part two": one test per finding (each failed on the chaincode
 * before its fix), on the stub that behaves like Fabric's reads.
 */
const { test, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { Ledger, identity, cert } = require('./fake');
const [Admin, Identity, Token, Org, Loan, Gov, Tax] = require('../index').contracts.map((C) => new C());
const { GENESIS_SUPPLY } = require('../lib/admin');
const { GENESIS_POOL } = require('../lib/ledger');

let L;
let n = 0;
const rid = () => `r31-${++n}`;
const user = (id, country = 'MY') => L.invoke(Identity, 'CreateUser', rid(), id, `${id}@x.io`, 'F', 'L', country);

async function bootstrapped() {
    await L.invoke(Admin, 'BootstrapSystem', rid());
    await L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia');
    await user('alice');
    await user('bob');
}

beforeEach(() => {
    L = new Ledger();
});

// --- 1: who is an operator --------------------------------------------------------------------

test('finding 1: operator status comes from the parsed certificate and an allowed MSP, never the subject text', async () => {
    await bootstrapped();
    // The subject *text* of each holds "/OU=admin"; the certificate's node OU is client.
    for (const name of ['locality', 'cn', 'twoous']) {
        const who = L.as(identity(name));
        await assert.rejects(who.call(Admin, 'GrantSubmitter', ['Org1MSP', cert(name), 'all']),
            /FORBIDDEN: Org1MSP identity .* may not manage submitters/, name);
        await assert.rejects(who.invoke(Admin, 'PauseSystem', rid(), 'x'), /FORBIDDEN/, name);
    }
    await L.invoke(Admin, 'PauseSystem', rid(), 'maintenance');
    // An admin (node OU admin) of an organisation that may not operate.
    await assert.rejects(L.as(identity('admin', 'Org2MSP')).invoke(Admin, 'ResumeSystem', rid()),
        /FORBIDDEN: Org2MSP identity .* may not submit administrative commands/);
    assert.equal(L.get('system', 'status').paused, true);
    await L.invoke(Admin, 'ResumeSystem', rid());      // the admin of the peer's own MSP is the operator
    assert.equal(L.get('system', 'status').paused, false);
});

test('finding 1: the MSPs that may operate are a ledger setting, by default the peer\'s own', async () => {
    const org2 = L.as(identity('admin', 'Org2MSP'));
    await assert.rejects(org2.call(Admin, 'SetOperatorMsps', ['["Org2MSP"]']), /FORBIDDEN: Org2MSP .* may not manage/);
    await assert.rejects(L.call(Admin, 'SetOperatorMsps', ['["Org2MSP"]']), /must keep the caller's own MSP Org1MSP/);
    assert.deepEqual((await L.call(Admin, 'SetOperatorMsps', ['["Org1MSP","Org2MSP"]'])).operatorMsps,
        ['Org1MSP', 'Org2MSP']);
    await org2.invoke(Admin, 'BootstrapSystem', rid());
    assert.equal(L.get('system', 'status').bootstrapped, true);
    // A chaincode process that does not know its peer's MSP, on a ledger without the setting: nobody operates.
    const fresh = new Ledger();
    fresh.peerMsp = null;
    await assert.rejects(fresh.invoke(Admin, 'BootstrapSystem', rid()), /FORBIDDEN: .*no MSP may operate/);
});

test('finding 1: a grant belongs to one certificate, not to the subject text fabric-shim writes for it', async () => {
    await bootstrapped();
    // fabric-shim escapes only the first '/' of a subject field: these two certificates get one getID().
    const a = L.as(identity('collide-a'));
    const b = L.as(identity('collide-b'));
    await L.call(Admin, 'GrantSubmitter', ['Org1MSP', cert('collide-a'), 'commands']);
    await user('carol');
    await a.invoke(Identity, 'CreateUser', rid(), 'dave', 'd@x.io', 'F', 'L', 'MY');
    await assert.rejects(b.invoke(Identity, 'CreateUser', rid(), 'erin', 'e@x.io', 'F', 'L', 'MY'), /FORBIDDEN/);
    assert.equal(L.get('user', 'erin'), null);
    assert.equal(await L.query('Submitter', 'Org1MSP', cert('collide-b')), null);
});

// --- 8: smaller ones --------------------------------------------------------------------------

test('finding 8: a parameter named constructor, toString or __proto__ is a recorded rejection, not a TypeError', async () => {
    await bootstrapped();
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
        const id = rid();
        await assert.rejects(L.invoke(Admin, 'UpdateSystemParameter', id, name, '1'),
            (e) => e.answer && e.answer.rejected.code === 'INVALID_PARAMETER', name);
        assert.equal(JSON.parse(L.record('tenant-1', id).answer).rejected.code, 'INVALID_PARAMETER');
        await assert.rejects(L.invoke(Gov, 'SubmitProposal', rid(), `P-${name}`, 'alice', 't', name, '1'),
            (e) => e.answer && e.answer.rejected.code === 'INVALID_PARAMETER', name);
    }
    assert.deepEqual(Object.keys(L.get('system', 'params')).filter((k) => k in Object.prototype), []);
});

// --- 2: genesis -------------------------------------------------------------------------------

test('finding 2: genesis is paid once per user, in the user\'s country, within genesisMaxPerUser', async () => {
    await bootstrapped();
    await L.invoke(Admin, 'InitializeCountry', rid(), 'SG', 'Singapore');
    await user('sam', 'SG');
    const pool = async () => BigInt((await L.query('Get', 'wallet', GENESIS_POOL)).balance);
    await assert.rejects(L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '1000000001'),
        /GENESIS_LIMIT: a genesis payment is at most genesisMaxPerUser 1000000000, got 1000000001/);
    await assert.rejects(L.invoke(Token, 'DistributeGenesis', rid(), 'sam', 'MY', '10'),
        /COUNTRY_MISMATCH: user sam is of country SG, not MY/);
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '1000000000');
    await assert.rejects(L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '1'),
        /GENESIS_ALREADY_PAID: user alice was paid genesis already/);
    // The attack: sixteen distributions of a whole shard. One per user now, however high the cap.
    await L.invoke(Admin, 'UpdateSystemParameter', rid(), 'genesisMaxPerUser', '62500000000000');
    for (let i = 0; i < 16; i++) {
        await assert.rejects(L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '62500000000000'),
            /GENESIS_ALREADY_PAID/);
    }
    assert.equal(await pool(), GENESIS_SUPPLY - 1000000000n);
    assert.equal((await L.query('Get', 'country', 'MY')).genesisDistributed, '1000000000');
    assert.equal((await L.query('Get', 'country', 'SG')).genesisDistributed, '0');
    assert.equal(L.events.filter((e) => e.name === 'GenesisDistributed').length, 1);
});

// --- 3: loans ---------------------------------------------------------------------------------

test('finding 3: paying a loan is an administrative act, bounded by loanMaxAmount, never approved by the borrower', async () => {
    await bootstrapped();
    await L.invoke(Admin, 'AppointAdmin', rid(), 'alice');
    await L.call(Admin, 'GrantSubmitter', ['Org1MSP', cert('client'), 'commands']);
    const pipeline = L.as(identity('client'));            // a user-level submitter
    await pipeline.invoke(Loan, 'ApplyForLoan', rid(), 'L1', 'bob', '500');
    await assert.rejects(pipeline.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'alice'),
        /FORBIDDEN: .* may not submit administrative commands/);
    assert.equal(L.get('loan', 'L1').status, 'APPLIED');
    await assert.rejects(pipeline.invoke(Loan, 'ApplyForLoan', rid(), 'L2', 'bob', '1000000001'),
        /LOAN_LIMIT: a loan is at most loanMaxAmount 1000000000, got 1000000001/);
    await L.invoke(Admin, 'AppointAdmin', rid(), 'bob');
    await assert.rejects(L.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'bob'), /bob cannot approve their own loan/);
    // The bound holds at approval too: a loan applied for under a higher cap is not paid above the current one.
    await L.invoke(Admin, 'UpdateSystemParameter', rid(), 'loanMaxAmount', '400');
    await assert.rejects(L.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'alice'), /LOAN_LIMIT/);
    await L.invoke(Admin, 'UpdateSystemParameter', rid(), 'loanMaxAmount', '500');
    await L.invoke(Loan, 'ApproveLoan', rid(), 'L1', 'alice');
    assert.equal(BigInt((await L.query('Get', 'wallet', 'bob')).balance), 500n);
});

// --- 4: governance ----------------------------------------------------------------------------

test('finding 4: a proposal is decided after its voting period, by a quorum and a threshold of users who existed at submission', async () => {
    await bootstrapped();
    await user('carol');
    await user('dave');
    const WEEK = 7 * 24 * 3600;
    const params = () => L.get('system', 'params');
    // The attack: submit, the proposer votes FOR, execute at once.
    const submitted = await L.invoke(Gov, 'SubmitProposal', rid(), 'P1', 'alice', 'raise', 'velocityTaxBps', '1000');
    assert.equal(submitted.votingEndsAt, new Date(L.get('proposal', 'P1').votingEndsAt).toISOString());
    await L.invoke(Gov, 'CastVote', rid(), 'P1', 'alice', 'FOR');
    await assert.rejects(L.invoke(Gov, 'ExecuteProposal', rid(), 'P1'), /VOTING_OPEN: proposal P1 is open for votes until/);
    assert.equal(L.get('proposal', 'P1').status, 'OPEN', 'an early execution does not close it for good');
    await user('sybil');                        // created for the vote, after the submission
    await assert.rejects(L.invoke(Gov, 'CastVote', rid(), 'P1', 'sybil', 'FOR'),
        /NOT_ELIGIBLE: voter sybil was created after proposal P1 was submitted/);
    L.advance(WEEK);
    await assert.rejects(L.invoke(Gov, 'CastVote', rid(), 'P1', 'bob', 'FOR'), /VOTING_CLOSED: voting on proposal P1 closed at/);
    const r = await L.invoke(Gov, 'ExecuteProposal', rid(), 'P1');
    assert.equal(r.status, 'REJECTED');
    assert.match(r.reason, /1 vote\(s\) cast, the quorum is 3/);
    assert.equal(L.events.at(-1).payload.status, 'REJECTED');
    assert.equal(params().velocityTaxBps, '100');
    // A tie is not more than proposalThresholdBps (50 %): rejected.
    await L.invoke(Gov, 'SubmitProposal', rid(), 'P2', 'bob', 'raise', 'velocityTaxBps', '200');
    for (const [who, v] of [['alice', 'FOR'], ['bob', 'FOR'], ['carol', 'AGAINST'], ['dave', 'AGAINST']]) {
        await L.invoke(Gov, 'CastVote', rid(), 'P2', who, v);
    }
    L.advance(WEEK);
    assert.equal((await L.invoke(Gov, 'ExecuteProposal', rid(), 'P2')).status, 'REJECTED');
    assert.equal(params().velocityTaxBps, '100');
    // Quorum met, more than half FOR: executed, after its period only.
    await L.invoke(Gov, 'SubmitProposal', rid(), 'P3', 'carol', 'raise', 'velocityTaxBps', '300');
    for (const [who, v] of [['alice', 'FOR'], ['bob', 'FOR'], ['dave', 'AGAINST']]) {
        await L.invoke(Gov, 'CastVote', rid(), 'P3', who, v);
    }
    L.advance(WEEK);
    assert.equal((await L.invoke(Gov, 'ExecuteProposal', rid(), 'P3')).status, 'EXECUTED');
    assert.equal(params().velocityTaxBps, '300');
    // The caps and the rules of governance are not a proposal's to change.
    await assert.rejects(L.invoke(Gov, 'SubmitProposal', rid(), 'P4', 'alice', 't', 'proposalQuorum', '1'),
        /INVALID_PARAMETER: proposalQuorum is set by the administrators only/);
});

// --- 5: organisations -------------------------------------------------------------------------

test('finding 5: a proposed organisation grows only with all its members\' approval, activation names them, a newcomer never moves its money alone', async () => {
    await bootstrapped();
    await user('carol');
    await user('mallory');
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '1000');
    await L.invoke(Org, 'ProposeOrganization', rid(), 'ORG1', 'Coop', 'alice');
    // The attack: an outsider joins a proposed organisation with no approval, or its own.
    await assert.rejects(L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'mallory', '[]'),
        /APPROVALS_MISSING: a new member \(mallory\) of proposed organization ORG1 needs the approval of every member \(alice\)/);
    await assert.rejects(L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'mallory', '["mallory"]'),
        /NOT_A_MEMBER: approver mallory is not a member of organization ORG1/);
    await L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'bob', '["alice"]');
    await assert.rejects(L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'carol', '["alice"]'),
        /needs the approval of every member \(alice, bob\)/);
    await L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'carol', '["alice","bob"]');
    // Activation is the founders' act: all of them, and the threshold starts at all of them.
    await assert.rejects(L.invoke(Org, 'ActivateOrganization', rid(), 'ORG1', '[]'), /APPROVALS_MISSING/);
    await assert.rejects(L.invoke(Org, 'ActivateOrganization', rid(), 'ORG1', '["alice","bob"]'), /APPROVALS_MISSING/);
    await L.invoke(Org, 'ActivateOrganization', rid(), 'ORG1', '["alice","bob","carol"]');
    assert.equal(L.get('org', 'ORG1').requiredApprovals, 3);
    assert.deepEqual(L.events.at(-1).payload, { schemaVersion: 2, requestId: L.events.at(-1).payload.requestId,
        orgId: 'ORG1', walletId: '@org:ORG1', requiredApprovals: 3, approverIds: ['alice', 'bob', 'carol'] });
    await L.invoke(Token, 'TransferTokens', rid(), 'alice', '@org:ORG1', '300', '');
    // A member let in later (by the threshold) initiates, approves and executes a payment to itself: refused.
    await L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'mallory', '["alice","bob","carol"]');
    await L.invoke(Org, 'InitiateMultiSigTx', rid(), 'ORG1', 'M1', 'mallory', 'mallory', '300');
    await L.invoke(Org, 'ApproveMultiSigTx', rid(), 'ORG1', 'M1', 'mallory');
    await assert.rejects(L.invoke(Org, 'ExecuteMultiSigTx', rid(), 'ORG1', 'M1'), /has 1 of 3 required approvals/);
    assert.equal(BigInt((await L.query('Get', 'wallet', '@org:ORG1')).balance), 300n);
});

// --- 6: tenants -------------------------------------------------------------------------------

test('finding 6: entities belong to a tenant; no command acts on another tenant\'s entities', async () => {
    await bootstrapped();                                   // tenant-1: alice, bob
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '1000');
    await L.invoke(Admin, 'ActivateTreasury', rid(), 'MY');
    const B = (C, fn, ...args) => L.invokeAs('tenant-b', C, fn, rid(), ...args);
    await B(Identity, 'CreateUser', 'mallory', 'm@x.io', 'F', 'L', 'MY');
    await B(Identity, 'CreateUser', 'trudy', 't@x.io', 'F', 'L', 'MY');
    const other = /OTHER_TENANT: .* belongs to another tenant/;
    await assert.rejects(B(Token, 'TransferTokens', 'alice', 'mallory', '10', ''), other);   // out of tenant-1's wallet
    await assert.rejects(B(Token, 'TransferTokens', 'mallory', 'alice', '1', ''), other);    // into it
    await assert.rejects(L.invoke(Token, 'TransferTokens', rid(), 'alice', 'mallory', '10', ''), other);
    await assert.rejects(B(Token, 'DistributeGenesis', 'alice', 'MY', '5'), other);
    await assert.rejects(B(Token, 'FreezeWallet', 'alice', 'x'), other);
    await assert.rejects(B(Tax, 'ApplyVelocityTax', 'alice'), other);
    await assert.rejects(B(Admin, 'AppointAdmin', 'alice'), other);
    await assert.rejects(B(Org, 'ProposeOrganization', 'ORGB', 'B', 'alice'), other);
    await assert.rejects(B(Loan, 'ApplyForLoan', 'LB', 'alice', '5'), other);
    await assert.rejects(B(Gov, 'SubmitProposal', 'PB', 'alice', 't', 'velocityTaxBps', '5'), other);
    // tenant-1's organisation: no other tenant's user joins, and no other tenant acts on it
    await L.invoke(Org, 'ProposeOrganization', rid(), 'ORG1', 'Coop', 'alice');
    await assert.rejects(L.invoke(Org, 'EndorseMembership', rid(), 'ORG1', 'mallory', '["alice"]'), other);
    await assert.rejects(B(Org, 'EndorseMembership', 'ORG1', 'trudy', '["alice"]'), other);
    await assert.rejects(B(Org, 'ActivateOrganization', 'ORG1', '["alice"]'), other);
    // an id another tenant holds is taken, never taken over
    await assert.rejects(B(Identity, 'CreateUser', 'alice', 'a@evil.io', 'F', 'L', 'MY'), /ALREADY_EXISTS/);
    assert.equal(L.get('user', 'alice').email, 'alice@x.io');
    assert.equal(L.get('user', 'alice').tenantId, 'tenant-1');
    assert.equal(BigInt((await L.query('Get', 'wallet', 'alice')).balance), 1000n);
    assert.equal(L.get('wallet', 'alice').frozen, false);
});

test('finding 6: tenant ids are compared in one canonical form', async () => {
    L = new Ledger('acme');
    await bootstrapped();
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '100');
    const first = await L.invokeAs('ACME', Token, 'TransferTokens', 'same', 'alice', 'bob', '10', '');
    const again = await L.invokeAs('acme', Token, 'TransferTokens', 'same', 'alice', 'bob', '10', '');
    assert.deepEqual(again, first);
    assert.equal(BigInt((await L.query('Get', 'wallet', 'bob')).balance), 10n, 'the command applied once');
    await assert.rejects(L.invokeAs('Acme', Token, 'TransferTokens', 'same', 'alice', 'bob', '11', ''),
        /IDEMPOTENCY_CONFLICT/);
    assert.equal(L.record('ACME', 'same'), null);
    assert.equal(L.record('acme', 'same').tenantId, 'acme');
    assert.deepEqual(await L.query('GetRequest', 'AcMe', 'same'), first);
});

// --- 7: the velocity tax ------------------------------------------------------------------------

test('finding 7: the velocity tax applies at most once per velocityTaxPeriodSeconds per wallet', async () => {
    await bootstrapped();
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '100000');
    await L.invoke(Admin, 'ActivateTreasury', rid(), 'MY');
    await L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice');
    const bal = async (w) => BigInt((await L.query('Get', 'wallet', w)).balance);
    assert.equal(await bal('alice'), 99000n);
    for (let i = 0; i < 100; i++) {
        await assert.rejects(L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice'), /TAX_NOT_DUE: wallet alice was taxed/);
    }
    assert.equal(await bal('alice'), 99000n);
    L.advance(30 * 24 * 3600 - 200);           // the 101 transactions above took 101 seconds of the clock
    await assert.rejects(L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice'), /TAX_NOT_DUE/);
    L.advance(100);
    await L.invoke(Tax, 'ApplyVelocityTax', rid(), 'alice');
    assert.equal(await bal('alice'), 98010n);
    assert.equal(await bal('@treasury:MY'), 1990n);
});

test('finding 8: tenantId and requestId are bounded, and every message echoes a bounded value', async () => {
    await bootstrapped();
    await L.invoke(Token, 'DistributeGenesis', rid(), 'alice', 'MY', '100');
    const long = 'r'.repeat(200000);
    const events = L.events.length;
    const keys = L.world.size;
    const short = (e) => e.message.length < 400;
    await assert.rejects(L.invoke(Token, 'TransferTokens', long, 'alice', 'bob', '1', ''),
        (e) => /INVALID_KEY: requestId must be 1 to 128 characters/.test(e.message) && short(e));
    await assert.rejects(L.invokeAs('t'.repeat(129), Token, 'TransferTokens', rid(), 'alice', 'bob', '1', ''),
        (e) => /INVALID_KEY: tenantId must be 1 to 128/.test(e.message) && short(e));
    assert.equal(L.events.length, events);
    assert.equal(L.world.size, keys, 'nothing stored under an unbounded key');
    // A 200,000-character value in any field: a recorded rejection with a bounded message.
    const cases = [
        [Token, 'TransferTokens', [long, 'bob', '1', '']], [Token, 'TransferTokens', ['alice', long, '1', '']],
        [Token, 'TransferTokens', ['alice', 'bob', long, '']], [Token, 'FreezeWallet', [long, 'x']],
        [Identity, 'CreateUser', [long, 'e@x.io', 'F', 'L', 'MY']], [Loan, 'ApproveLoan', [long, 'alice']],
        [Gov, 'CastVote', [long, 'alice', 'FOR']], [Gov, 'CastVote', ['P', 'alice', long]],
        [Org, 'EndorseMembership', [long, 'bob', '[]']], [Org, 'EndorseMembership', ['ORG1', 'bob', long]],
        [Admin, 'UpdateSystemParameter', ['velocityTaxBps', long]], [Admin, 'UpdateSystemParameter', [long, '1']],
        [Tax, 'ApplyVelocityTax', [long]], [Admin, 'ActivateTreasury', [long]],
    ];
    for (const [C, fn, args] of cases) {
        const id = rid();
        await assert.rejects(L.invoke(C, fn, id, ...args), (e) => Boolean(e.answer), `${fn}(${args.map((a) => a.length)})`);
        const answer = L.record('tenant-1', id).answer;
        assert.ok(answer.length < 800, `${fn}: an answer of ${answer.length} characters`);
    }
    assert.ok([...L.world.keys()].every((k) => k.length < 1000));
});

test('finding 8: List and ListRequests are paged and say when a result is partial', async () => {
    await bootstrapped();
    for (const u of ['carol', 'dave', 'erin']) {
        await user(u);
    }
    L.queryLimit = 3;        // the peer's total query limit: a plain range query would stop at 3, silently
    const all = async (fn, ...args) => {
        const items = [];
        let bookmark = '';
        for (;;) {
            const page = await L.query(fn, ...args, '2', bookmark);
            assert.ok(page.items.length <= 2);
            items.push(...page.items);
            if (!page.partial) {
                assert.equal(page.bookmark, '');
                return items;
            }
            bookmark = page.bookmark;
        }
    };
    const first = await L.query('List', 'user', '2', '');
    assert.deepEqual([first.items.map((u) => u.userId), first.partial], [['alice', 'bob'], true]);
    assert.deepEqual((await all('List', 'user')).map((u) => u.userId), ['alice', 'bob', 'carol', 'dave', 'erin']);
    const requests = await all('ListRequests', 'tenant-1');
    assert.equal(requests.length, 7);
    assert.ok(requests.every((r) => r.function && r.txId));
    await assert.rejects(L.query('List', 'user', '2', L.key('acl', 'x')), /bookmark is not one of this list's/);
    await assert.rejects(L.query('ListRequests', 'tenant-1', '2', L.key('req', 'tenant-2', 'x')), /bookmark/);
    for (const bad of ['0', '1001', '1e2', '']) {
        await assert.rejects(L.query('List', 'user', bad, ''), /pageSize must be a whole number from 1 to 1000/);
    }
});
