'use strict';
/*
 * Issue 32, defect 1: text that Postgres cannot store (NUL) and other control characters are
 * refused by the chaincode as they are by the command model, with a recorded rejection that names
 * the field, the character and where it is; nothing is stored and no event is emitted.
 */
const { test, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const { Ledger } = require('./fake');
const [Admin, Identity, Token, Org] = require('../index').contracts.map((C) => new C());

let L;
let n = 0;
const rid = () => `r32-${++n}`;

beforeEach(async () => {
    L = new Ledger();
    await L.invoke(Admin, 'BootstrapSystem', rid());
    await L.invoke(Admin, 'InitializeCountry', rid(), 'MY', 'Malaysia');
    await L.invoke(Identity, 'CreateUser', rid(), 'alice', 'alice@x.io', 'A', 'L', 'MY');
});

const controls = [['NUL', '\u0000'], ['ESC', '\u001b'], ['newline', '\n'], ['DEL', '\u007f'], ['NEL', '\u0085']];

for (const [name, ch] of controls) {
    test(`a ${name} in text is a recorded rejection naming the field and the character`, async () => {
        const events = L.events.length;
        const keys = L.world.size;
        const cp = `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
        await assert.rejects(L.invoke(Org, 'ProposeOrganization', rid(), 'ORG1', `Ac${ch}me`, 'alice'),
            (e) => e.answer && e.answer.rejected.code === 'INVALID_ARGUMENT'
                && e.message.includes('name') && e.message.includes(cp) && e.message.includes('position 2'));
        await assert.rejects(L.invoke(Identity, 'CreateUser', rid(), 'bob', 'bob@x.io', `B${ch}`, 'L', 'MY'),
            (e) => e.answer && e.answer.rejected.code === 'INVALID_ARGUMENT' && e.message.includes('firstName'));
        await assert.rejects(L.invoke(Token, 'FreezeWallet', rid(), 'alice', `why${ch}`),
            (e) => e.answer && e.answer.rejected.code === 'INVALID_ARGUMENT' && e.message.includes('reason'));
        assert.equal(L.events.length, events, 'no event');
        assert.equal(L.world.size, keys + 3, 'only the three recorded rejections');
    });
}

test('a lone surrogate is refused like a control character', async () => {
    await assert.rejects(L.invoke(Org, 'ProposeOrganization', rid(), 'ORG1', 'Ac\ud800me', 'alice'),
        (e) => e.answer && e.answer.rejected.code === 'INVALID_ARGUMENT' && e.message.includes('U+D800'));
});

test('printable text of any script is kept as it is', async () => {
    await L.invoke(Org, 'ProposeOrganization', rid(), 'ORG1', 'Coopérative 合作社 🌱', 'alice');
    assert.equal(L.events.at(-1).payload.name, 'Coopérative 合作社 🌱');
});

test('a control character in a free parameter\'s value is a recorded rejection, nothing stored', async () => {
    const events = L.events.length;
    await assert.rejects(L.invoke(Admin, 'UpdateSystemParameter', rid(), 'demoRun', 'a\u0000b\u0007'),
        (e) => e.answer && e.answer.rejected.code === 'INVALID_ARGUMENT'
            && e.message.includes('value') && e.message.includes('U+0000'));
    assert.equal(L.events.length, events, 'no event');
});
