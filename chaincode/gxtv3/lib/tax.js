'use strict';
/*
 * TaxContract: the velocity tax moves balance * velocityTaxBps / 10000 (rounded down) from a user's
 * wallet to the treasury of the user's country, which must be active.
 */
const { GxContract, BusinessError } = require('./ledger');

class TaxContract extends GxContract {
    constructor() {
        super('TaxContract');
    }

    async ApplyVelocityTax(ctx, tenantId, requestId, walletId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            const w = await state.wallet(walletId);
            if (w.ownerType !== 'USER') {
                throw new BusinessError(`velocity tax applies to user wallets, ${walletId} is ${w.ownerType}`);
            }
            const user = await state.must('user', 'user', w.ownerId);
            const country = await state.must('country', 'country', user.country);
            if (!country.treasuryActive) {
                throw new BusinessError(`treasury of ${user.country} is not active`);
            }
            const bps = BigInt((await state.parameters()).velocityTaxBps || '0');
            const tax = (w.balance * bps) / 10000n;
            if (tax === 0n) {
                throw new BusinessError(`no velocity tax due on wallet ${walletId} (balance ${w.balance})`);
            }
            const treasuryWalletId = `TREASURY_${user.country}`;
            await state.move(walletId, treasuryWalletId, tax);
            return { event: 'VelocityTaxApplied', payload: { walletId, treasuryWalletId, amount: tax } };
        });
    }
}

module.exports = TaxContract;
