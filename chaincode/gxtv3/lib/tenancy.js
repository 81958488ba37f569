'use strict';
/*
 * Tenants and request ids: the idempotency key (tenantId, requestId) in one canonical, bounded form.
 *
 * A tenant id is what the outbox accepts for one (schemas/payloads.py Id: 1 to 128 of letters,
 * digits, _ . : -) and is compared lower-cased, so `acme` and `ACME` are one tenant, for
 * idempotency and for ownership alike (issue 31 finding 6). A request id is any text of 1 to 128
 * characters that can be a key part. Neither can be recorded when it is wrong (there is no key to
 * record it under), so both are thrown (INVALID_KEY), naming the field and echoing a bounded value.
 */
const { show } = require('./text');

const MAX_KEY_ID = 128;   // schemas/payloads.py: Id (max_length=128)
const TENANT = /^[A-Za-z0-9_.:-]+$/;

function invalid(field, text, rule) {
    return new Error(`INVALID_KEY: ${field} must be ${rule}, got ${show(text)}`);
}

/** The canonical form of a tenant id (lower case); throws INVALID_KEY. Pure. */
function canonicalTenant(text) {
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_KEY_ID || !TENANT.test(text)) {
        throw invalid('tenantId', text, `1 to ${MAX_KEY_ID} letters, digits, _ . : or -`);
    }
    return text.toLowerCase();
}

/** A request id as given, if it is 1 to 128 characters without U+0000 or U+10FFFF; throws INVALID_KEY. Pure. */
function requestIdOf(text) {
    if (typeof text !== 'string' || text.length === 0 || text.length > MAX_KEY_ID || /[\u0000\u{10FFFF}]/u.test(text)) {
        throw invalid('requestId', text, `1 to ${MAX_KEY_ID} characters without U+0000 or U+10FFFF`);
    }
    return text;
}

module.exports = { canonicalTenant, requestIdOf, MAX_KEY_ID };
