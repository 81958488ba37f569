'use strict';
/*
 * AdminContract: the system's life cycle, and who may submit. Initialisation order (checked here,
 * documented in the README): BootstrapSystem (creates the genesis pool with the genesis supply)
 * before InitializeCountry, before ActivateTreasury and DistributeGenesis for that country.
 *
 * Every command here is administrative: an operator, or a submitter granted the scope `all`.
 * GrantSubmitter, RevokeSubmitter and SetOperatorMsps are the operator's alone and are not commands
 * of the pipeline (no tenant, no requestId): `gxctl stack up` grants the local submitter.
 */
const { GxContract, BusinessError, required, userId, GENESIS_POOL, SYSTEM_KEY, treasuryWallet, MAX_ID }
    = require('./ledger');
const { authorize, grantee, grantKey, settingKey, parseOperatorMsps, SCOPES } = require('./callers');
const { show } = require('./text');
const { parameterValue, defaults } = require('./params');

const GENESIS_SUPPLY = 1000000000000000n; // 10^15 smallest units
const ADMIN = { admin: true };

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
            const parameters = defaults();
            await state.put('system', parameters, 'params');
            return { event: 'SystemBootstrapped', payload: { poolWalletId: GENESIS_POOL, supply: GENESIS_SUPPLY,
                parameters } };
        }, ADMIN);
    }

    async InitializeCountry(ctx, tenantId, requestId, countryCode, countryName) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            required('countryCode', countryCode, MAX_ID);
            required('countryName', countryName);
            if (await state.get('country', countryCode)) {
                throw new BusinessError(`country ${show(countryCode)} is already initialized`, 'ALREADY_EXISTS');
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
                throw new BusinessError(`user ${show(user)} is already an admin`, 'ALREADY_EXISTS');
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
                throw new BusinessError(`treasury of ${show(countryCode)} is already active`, 'ALREADY_EXISTS');
            }
            const treasuryWalletId = treasuryWallet(countryCode);
            await state.createWallet(treasuryWalletId, countryCode);
            await state.put('country', { ...country, treasuryActive: true }, countryCode);
            return { event: 'TreasuryActivated', payload: { countryCode, treasuryWalletId, balance: 0n } };
        }, ADMIN);
    }

    /**
     * Operator only: let the holder of ``certPem`` (of ``mspId``) submit, with ``scope`` commands or
     * all. The grant is that certificate's (keyed by its fingerprint), not its subject's.
     */
    async GrantSubmitter(ctx, mspId, certPem, scope) {
        const operator = await authorize(ctx, 'operator');
        if (!SCOPES.includes(scope)) {
            throw new Error(`scope must be one of ${SCOPES.join(', ')}, got ${show(scope)}`);
        }
        const g = grantee(mspId, certPem);
        await ctx.stub.putState(grantKey(ctx.stub, mspId, g.fingerprint), Buffer.from(JSON.stringify(
            { mspId, id: g.id, fingerprint: g.fingerprint, scope, grantedBy: operator.id, txId: ctx.stub.getTxID() })));
        return JSON.stringify({ mspId, id: g.id, fingerprint: g.fingerprint, scope });
    }

    /** Operator only: the holder of ``certPem`` may no longer submit. */
    async RevokeSubmitter(ctx, mspId, certPem) {
        await authorize(ctx, 'operator');
        const g = grantee(mspId, certPem);
        await ctx.stub.deleteState(grantKey(ctx.stub, mspId, g.fingerprint));
        return JSON.stringify({ mspId, id: g.id, fingerprint: g.fingerprint, revoked: true });
    }

    /**
     * Operator only: the MSPs whose admins (node OU admin) operate, a JSON array that keeps the
     * caller's own MSP. Until it is set, the peer's own MSP operates (lib/callers.js).
     */
    async SetOperatorMsps(ctx, operatorMspsJson) {
        const operator = await authorize(ctx, 'operator');
        const operatorMsps = parseOperatorMsps(operatorMspsJson, operator.mspId);
        await ctx.stub.putState(settingKey(ctx.stub), Buffer.from(JSON.stringify(
            { operatorMsps, setBy: operator.id, txId: ctx.stub.getTxID() })));
        return JSON.stringify({ operatorMsps });
    }
}

module.exports = AdminContract;
module.exports.GENESIS_SUPPLY = GENESIS_SUPPLY;
