'use strict';
/*
 * TaxContract: the velocity tax moves balance * velocityTaxBps / 10000 (rounded down) from a user's
 * wallet to the treasury of the user's country (`@treasury:<CC>`), which must be active. The rate
 * is the stored parameter, in its canonical form (lib/params.js).
 */
const { GxContract, BusinessError, userId, treasuryWallet } = require('./ledger');
const { intParam } = require('./params');

class TaxContract extends GxContract {
    constructor() {
        super('TaxContract');
    }

    async ApplyVelocityTax(ctx, tenantId, requestId, walletId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            const w = await state.wallet(userId('walletId', walletId));
            const user = await state.must('user', 'user', w.ownerId);
            const country = await state.must('country', 'country', user.country);
            if (!country.treasuryActive) {
                throw new BusinessError(`treasury of ${user.country} is not active`, 'CONFLICT');
            }
            const bps = intParam(await state.parameters(), 'velocityTaxBps');
            const tax = (BigInt(w.balance) * bps) / 10000n;
            if (tax === 0n) {
                throw new BusinessError(`no velocity tax due on wallet ${walletId} (balance ${w.balance})`, 'NOTHING_DUE');
            }
            const treasuryWalletId = treasuryWallet(user.country);
            await state.move(walletId, treasuryWalletId, tax);  // into the treasury's shard of this user
            return { event: 'VelocityTaxApplied', payload: { walletId, treasuryWalletId, amount: tax } };
        });
    }
}

module.exports = TaxContract;
