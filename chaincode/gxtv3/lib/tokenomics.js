'use strict';
/* TokenomicsContract: genesis distribution from the pool, transfers, freezing. */
const { GxContract, BusinessError, amount, required, GENESIS_POOL } = require('./ledger');

class TokenomicsContract extends GxContract {
    constructor() {
        super('TokenomicsContract');
    }

    async DistributeGenesis(ctx, tenantId, requestId, userId, countryCode, amountText) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            const value = amount('amount', amountText);
            const country = await state.must('country', 'country', countryCode);
            await state.must('user', 'user', userId);
            await state.move(GENESIS_POOL, userId, value);
            await state.put('country', { ...country,
                genesisDistributed: (BigInt(country.genesisDistributed) + value).toString() }, countryCode);
            return { event: 'GenesisDistributed', payload: { userId, countryCode, amount: value } };
        });
    }

    async TransferTokens(ctx, tenantId, requestId, fromWalletId, toWalletId, amountText, memo) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            required('fromWalletId', fromWalletId);
            required('toWalletId', toWalletId);
            const value = amount('amount', amountText);
            const { from } = await state.move(fromWalletId, toWalletId, value);
            return { event: 'TokensTransferred',
                payload: { fromWalletId, toWalletId, amount: value, memo: memo || '' },
                result: { balance: from.balance } };
        });
    }

    async FreezeWallet(ctx, tenantId, requestId, walletId, reason) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            required('reason', reason);
            const w = await state.wallet(walletId);
            if (w.frozen) {
                throw new BusinessError(`wallet ${walletId} is already frozen`);
            }
            await state.put('wallet', { ...w, frozen: true, frozenReason: reason }, walletId);
            return { event: 'WalletFrozen', payload: { walletId, reason } };
        });
    }

    async UnfreezeWallet(ctx, tenantId, requestId, walletId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const w = await state.wallet(walletId);
            if (!w.frozen) {
                throw new BusinessError(`wallet ${walletId} is not frozen`);
            }
            await state.put('wallet', { ...w, frozen: false, frozenReason: null }, walletId);
            return { event: 'WalletUnfrozen', payload: { walletId } };
        });
    }
}

module.exports = TokenomicsContract;
