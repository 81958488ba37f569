'use strict';
/*
 * AdminContract: the system's life cycle. Initialisation order (checked here, documented in the
 * README): BootstrapSystem (creates SYSTEM_USER_GENESIS_POOL with the genesis supply) before
 * InitializeCountry, before ActivateTreasury and DistributeGenesis for that country.
 */
const { GxContract, BusinessError, required, GENESIS_POOL, SYSTEM_KEY } = require('./ledger');

const GENESIS_SUPPLY = 1000000000000000n; // 10^15 smallest units

class AdminContract extends GxContract {
    constructor() {
        super('AdminContract');
    }

    async BootstrapSystem(ctx, tenantId, requestId) {
        return this._apply(ctx, tenantId, requestId, async (state, sys) => {
            if (sys.bootstrapped || await state.get('wallet', GENESIS_POOL)) {
                throw new BusinessError('already bootstrapped');
            }
            const pool = { walletId: GENESIS_POOL, ownerId: 'SYSTEM', ownerType: 'SYSTEM', balance: GENESIS_SUPPLY,
                frozen: false, frozenReason: null };
            await state.put('wallet', pool, GENESIS_POOL);
            await state.put('system', { ...sys, bootstrapped: true }, SYSTEM_KEY);
            const parameters = { velocityTaxBps: '100' };
            await state.put('system', parameters, 'params');
            return { event: 'SystemBootstrapped', payload: { poolWalletId: GENESIS_POOL, supply: GENESIS_SUPPLY,
                parameters } };
        });
    }

    async InitializeCountry(ctx, tenantId, requestId, countryCode, countryName) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            required('countryCode', countryCode);
            required('countryName', countryName);
            if (await state.get('country', countryCode)) {
                throw new BusinessError(`country ${countryCode} is already initialized`);
            }
            await state.put('country', { countryCode, countryName, treasuryActive: false, genesisDistributed: '0' },
                countryCode);
            return { event: 'CountryInitialized', payload: { countryCode, countryName } };
        });
    }

    async UpdateSystemParameter(ctx, tenantId, requestId, parameter, value) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            required('parameter', parameter);
            required('value', value);
            if (parameter === 'velocityTaxBps') {
                const bps = Number(value);
                if (!Number.isInteger(bps) || bps < 0 || bps > 10000) {
                    throw new BusinessError(`velocityTaxBps must be an integer 0..10000, got ${value}`);
                }
            }
            await state.put('system', { ...(await state.parameters()), [parameter]: value }, 'params');
            return { event: 'SystemParameterUpdated', payload: { parameter, value } };
        });
    }

    async PauseSystem(ctx, tenantId, requestId, reason) {
        return this._apply(ctx, tenantId, requestId, async (state, sys) => {
            await state.requireBootstrapped();
            required('reason', reason);
            await state.put('system', { ...sys, paused: true, pauseReason: reason }, SYSTEM_KEY);
            return { event: 'SystemPaused', payload: { reason } };
        });
    }

    async ResumeSystem(ctx, tenantId, requestId) {
        return this._apply(ctx, tenantId, requestId, async (state, sys) => {
            if (!sys.paused) {
                throw new BusinessError('system is not paused');
            }
            await state.put('system', { ...sys, paused: false, pauseReason: null }, SYSTEM_KEY);
            return { event: 'SystemResumed', payload: {} };
        }, { allowWhenPaused: true });
    }

    async AppointAdmin(ctx, tenantId, requestId, userId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            await state.must('user', 'user', userId);
            const admins = await state.admins();
            if (admins.includes(userId)) {
                throw new BusinessError(`user ${userId} is already an admin`);
            }
            await state.put('system', [...admins, userId], 'admins');
            return { event: 'AdminAppointed', payload: { userId } };
        });
    }

    async ActivateTreasury(ctx, tenantId, requestId, countryCode) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            const country = await state.must('country', 'country', countryCode);
            if (country.treasuryActive) {
                throw new BusinessError(`treasury of ${countryCode} is already active`);
            }
            const treasuryWalletId = `TREASURY_${countryCode}`;
            await state.put('wallet', { walletId: treasuryWalletId, ownerId: countryCode, ownerType: 'TREASURY',
                balance: 0n, frozen: false, frozenReason: null }, treasuryWalletId);
            await state.put('country', { ...country, treasuryActive: true }, countryCode);
            return { event: 'TreasuryActivated', payload: { countryCode, treasuryWalletId } };
        });
    }
}

module.exports = AdminContract;
module.exports.GENESIS_SUPPLY = GENESIS_SUPPLY;
