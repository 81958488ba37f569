'use strict';
/*
 * Who calls. The chaincode reads its caller as the peer passed it (ctx.clientIdentity: an MSP id
 * and a certificate) and parses the certificate (node's X509Certificate); it never matches the
 * subject as text. Issue 31 finding 1: fabric-shim's id text (x509::<subject>::<issuer>) escapes
 * only the first '/' of each field and a CA keeps the locality a client asks for, so a client
 * enrolled with locality `x/OU=admin` looked like an admin, and two different certificates can
 * get one id text.
 *
 * - operator: the certificate's node OU is `admin` (Fabric's NodeOUs: exactly one of client, peer,
 *   admin, orderer among its OU values, as the MSP itself requires; this relies on NodeOUs being
 *   enabled, as cryptogen and Fabric CA do) and its MSP may operate: one listed by the ledger
 *   setting ('aclconfig', 'operators'), which an operator sets (SetOperatorMsps); while nobody set
 *   it, the peer's own MSP (CORE_PEER_LOCALMSPID of the chaincode process). Without either,
 *   nobody operates.
 * - submitter: an identity an operator granted (GrantSubmitter) the scope `commands` (the
 *   user-level functions) or `all` (the administrative ones too). A grant is keyed by the MSP and
 *   the certificate's SHA-256 fingerprint: it belongs to that certificate and no other.
 * - anyone else on the channel may only read (QueryContract).
 * A refused caller is thrown out (FORBIDDEN) before anything is recorded.
 */
const crypto = require('crypto');
const { show } = require('./text');

const NODE_OUS = ['client', 'peer', 'admin', 'orderer'];
const SCOPES = ['commands', 'all'];
const MSP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_OPERATOR_MSPS = 16;

/** The node OU of a parsed subject (toLegacyObject): the one of NODE_OUS among its OU values, or null. Pure. */
function nodeOU(subject) {
    const ous = subject && subject.OU !== undefined ? [].concat(subject.OU) : [];
    const found = NODE_OUS.filter((ou) => ous.includes(ou));
    return found.length === 1 ? found[0] : null;
}

/** The MSPs that may operate: the ledger setting if there is one, else the peer's own MSP (if known). Pure. */
function operatorMsps(setting, peerMsp) {
    if (setting) {
        return setting.operatorMsps;
    }
    return peerMsp ? [peerMsp] : [];
}

// A certificate is parsed once per chaincode process (the pipeline's few identities call again and again).
const parsed = new Map();
const PARSED_MAX = 64;

/** {fingerprint, nodeOU} of a PEM (or DER) certificate; throws if it is not one. */
function certificate(pem) {
    const text = Buffer.isBuffer(pem) || pem instanceof Uint8Array ? Buffer.from(pem).toString('latin1') : String(pem);
    let c = parsed.get(text);
    if (!c) {
        const x = new crypto.X509Certificate(Buffer.from(text, 'latin1'));
        c = { fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase(), nodeOU: nodeOU(x.toLegacyObject().subject) };
        if (parsed.size >= PARSED_MAX) {
            parsed.delete(parsed.keys().next().value);
        }
        parsed.set(text, c);
    }
    return c;
}

function peerMspOf(stub) {
    try {
        return stub.getMspID();
    } catch (e) {
        return null;  // CORE_PEER_LOCALMSPID is unset in the chaincode process
    }
}

function settingKey(stub) {
    return stub.createCompositeKey('aclconfig', ['operators']);
}

async function operatorSetting(stub) {
    const raw = await stub.getState(settingKey(stub));
    return raw && raw.length > 0 ? JSON.parse(raw.toString('utf8')) : null;
}

function grantKey(stub, mspId, fingerprint) {
    return stub.createCompositeKey('acl', [mspId, fingerprint]);
}

/** The calling identity: its MSP, fabric-shim's id (shown in messages), its certificate and whether it operates. */
async function caller(ctx) {
    const ci = ctx.clientIdentity;
    const mspId = ci.getMSPID();
    const cert = certificate(ci.getIDBytes());
    const who = { mspId, id: ci.getID(), fingerprint: cert.fingerprint, nodeOU: cert.nodeOU, operator: false,
        operatorMsps: null };
    if (cert.nodeOU === 'admin') {
        who.operatorMsps = operatorMsps(await operatorSetting(ctx.stub), peerMspOf(ctx.stub));
        who.operator = who.operatorMsps.includes(mspId);
    }
    return who;
}

const WHAT = { command: 'submit commands', admin: 'submit administrative commands', operator: 'manage submitters' };

/** Throws FORBIDDEN unless the caller may do ``level`` ('command', 'admin' or 'operator'); returns the caller. */
async function authorize(ctx, level) {
    const who = await caller(ctx);
    if (who.operator) {
        return who;
    }
    if (level !== 'operator') {
        const raw = await ctx.stub.getState(grantKey(ctx.stub, who.mspId, who.fingerprint));
        const grant = raw && raw.length > 0 ? JSON.parse(raw.toString('utf8')) : null;
        if (grant && (grant.scope === 'all' || (grant.scope === 'commands' && level === 'command'))) {
            return who;
        }
    }
    const none = who.operatorMsps && who.operatorMsps.length === 0
        ? ' (no MSP may operate: the chaincode process has no CORE_PEER_LOCALMSPID and the ledger no operator setting)'
        : '';
    throw new Error(`FORBIDDEN: ${show(who.mspId)} identity ${show(who.id, 300)} may not ${WHAT[level]}${none}`);
}

/** The grant identity of ``certPem`` in ``mspId``: fabric-shim's id text and the fingerprint. Throws if not a certificate. */
function grantee(mspId, certPem) {
    if (typeof mspId !== 'string' || !MSP_ID.test(mspId)) {
        throw new Error(`mspId must be an MSP id (letters, digits, . _ -; up to 128), got ${show(mspId)}`);
    }
    let cert;
    try {
        cert = certificate(certPem);
    } catch (e) {
        throw new Error('certPem must be an X.509 certificate (PEM)');
    }
    const { ClientIdentity } = require('fabric-shim');
    const stub = { getChannelID: () => '', getTxID: () => '', getCreator: () => ({ mspid: mspId,
        idBytes: Buffer.from(certPem) }) };
    return { mspId, id: new ClientIdentity(stub).getID(), fingerprint: cert.fingerprint };
}

/** The operator MSP list a SetOperatorMsps argument names; throws naming what is wrong. Pure. */
function parseOperatorMsps(json, callerMsp) {
    let list;
    try {
        list = JSON.parse(json);
    } catch (e) {
        list = null;
    }
    if (!Array.isArray(list) || list.length === 0 || list.length > MAX_OPERATOR_MSPS
        || list.some((m) => typeof m !== 'string' || !MSP_ID.test(m)) || new Set(list).size !== list.length) {
        throw new Error(`operatorMsps must be a JSON array of 1 to ${MAX_OPERATOR_MSPS} distinct MSP ids, got ${show(json)}`);
    }
    if (!list.includes(callerMsp)) {
        throw new Error(`operatorMsps must keep the caller's own MSP ${callerMsp} (an operator cannot lock its own organisation out)`);
    }
    return list;
}

module.exports = { caller, authorize, grantee, grantKey, settingKey, operatorSetting, operatorMsps, peerMspOf,
    parseOperatorMsps, nodeOU, certificate, SCOPES, NODE_OUS };
