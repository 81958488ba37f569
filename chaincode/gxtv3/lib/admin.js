'use strict';
/*
 * AdminContract: the system's life cycle, and who may submit. Initialisation order (checked here,
 * documented in the README): BootstrapSystem (creates the genesis pool with the genesis supply)
 * before InitializeCountry, before ActivateTreasury and DistributeGenesis for that country.
 *
 * Every function here but the submitter grants is administrative: an operator, or a submitter
 * granted the scope `all`. GrantSubmitter and RevokeSubmitter are the operator's alone and are not
 * commands of the pipeline (no tenant, no requestId): `gxctl stack up` grants the local submitter.
 */
const { ClientIdentity } = require('fabric-shim');
const { GxContract, BusinessError, authorize, key, required, userId, GENESIS_POOL, SCOPES, SYSTEM_KEY,
    treasuryWallet } = require('./ledger');
const { parameterValue } = require('./params');

const GENESIS_SUPPLY = 1000000000000000n; // 10^15 smallest units
const ADMIN = { admin: true };

/** The id fabric-shim gives the holder of ``certPem`` when it calls (ctx.clientIdentity.getID()). */
function identityOf(mspId, certPem) {
    const stub = { getChannelID: () => '', getTxID: () => '', getCreator: () => ({ mspid: mspId,
        idBytes: Buffer.from(certPem) }) };
    return new ClientIdentity(stub).getID();
}

class AdminContract extends GxContract {
    constructor() {
        super('AdminContract');
    }

    async BootstrapSystem(ctx, tenantId, requestId) {
        return this._apply(ctx, tenantId, requestId, async (state, sys) => {
            if (sys.bootstrapped) {
                throw new BusinessError('already bootstrapped', 'ALREADY_EXISTS');
            }
            await state.createWallet(GENESIS_POOL, 'SYSTEM', GENESIS_SUPPLY);
            await state.put('system', { ...sys, bootstrapped: true }, SYSTEM_KEY);
            const parameters = { velocityTaxBps: '100' };
            await state.put('system', parameters, 'params');
            return { event: 'SystemBootstrapped', payload: { poolWalletId: GENESIS_POOL, supply: GENESIS_SUPPLY,
                parameters } };
        }, ADMIN);
    }

    async InitializeCountry(ctx, tenantId, requestId, countryCode, countryName) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            required('countryCode', countryCode);
            required('countryName', countryName);
            if (await state.get('country', countryCode)) {
                throw new BusinessError(`country ${countryCode} is already initialized`, 'ALREADY_EXISTS');
            }
            await state.put('country', { countryCode, countryName, treasuryActive: false }, countryCode);
            return { event: 'CountryInitialized', payload: { countryCode, countryName } };
        }, ADMIN);
    }

    async UpdateSystemParameter(ctx, tenantId, requestId, parameter, value) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            const canonical = parameterValue(parameter, value);
            await state.put('system', { ...(await state.parameters()), [parameter]: canonical }, 'params');
            return { event: 'SystemParameterUpdated', payload: { parameter, value: canonical } };
        }, ADMIN);
    }

    async PauseSystem(ctx, tenantId, requestId, reason) {
        return this._apply(ctx, tenantId, requestId, async (state, sys) => {
            await state.requireBootstrapped();
            required('reason', reason);
            await state.put('system', { ...sys, paused: true, pauseReason: reason }, SYSTEM_KEY);
            return { event: 'SystemPaused', payload: { reason } };
        }, ADMIN);
    }

    async ResumeSystem(ctx, tenantId, requestId) {
        return this._apply(ctx, tenantId, requestId, async (state, sys) => {
            if (!sys.paused) {
                throw new BusinessError('system is not paused', 'CONFLICT');
            }
            await state.put('system', { ...sys, paused: false, pauseReason: null }, SYSTEM_KEY);
            return { event: 'SystemResumed', payload: {} };
        }, { ...ADMIN, allowWhenPaused: true });
    }

    async AppointAdmin(ctx, tenantId, requestId, user) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            await state.must('user', 'user', userId('userId', user));
            const admins = await state.admins();
            if (admins.includes(user)) {
                throw new BusinessError(`user ${user} is already an admin`, 'ALREADY_EXISTS');
            }
            await state.put('system', [...admins, user], 'admins');
            return { event: 'AdminAppointed', payload: { userId: user } };
        }, ADMIN);
    }

    async ActivateTreasury(ctx, tenantId, requestId, countryCode) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            const country = await state.must('country', 'country', countryCode);
            if (country.treasuryActive) {
                throw new BusinessError(`treasury of ${countryCode} is already active`, 'ALREADY_EXISTS');
            }
            const treasuryWalletId = treasuryWallet(countryCode);
            await state.createWallet(treasuryWalletId, countryCode);
            await state.put('country', { ...country, treasuryActive: true }, countryCode);
            return { event: 'TreasuryActivated', payload: { countryCode, treasuryWalletId, balance: 0n } };
        }, ADMIN);
    }

    /** Operator only: let the holder of ``certPem`` (of ``mspId``) submit, with ``scope`` commands or all. */
    async GrantSubmitter(ctx, mspId, certPem, scope) {
        const operator = await authorize(ctx, 'operator');
        if (!SCOPES.includes(scope)) {
            throw new Error(`scope must be one of ${SCOPES.join(', ')}, got ${JSON.stringify(scope)}`);
        }
        const id = identityOf(required('mspId', mspId), required('certPem', certPem));
        await ctx.stub.putState(key(ctx.stub, 'acl', mspId, id), Buffer.from(JSON.stringify(
            { mspId, id, scope, grantedBy: operator.id, txId: ctx.stub.getTxID() })));
        return JSON.stringify({ mspId, id, scope });
    }

    /** Operator only: the holder of ``certPem`` may no longer submit. */
    async RevokeSubmitter(ctx, mspId, certPem) {
        await authorize(ctx, 'operator');
        const id = identityOf(required('mspId', mspId), required('certPem', certPem));
        await ctx.stub.deleteState(key(ctx.stub, 'acl', mspId, id));
        return JSON.stringify({ mspId, id, revoked: true });
    }
}

module.exports = AdminContract;
module.exports.GENESIS_SUPPLY = GENESIS_SUPPLY;
module.exports.identityOf = identityOf;
