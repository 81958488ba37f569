'use strict';
/*
 * TaxContract: the velocity tax moves balance * velocityTaxBps / 10000 (rounded down) from a user's
 * wallet to the treasury of the user's country (`@treasury:<CC>`), which must be active. The rate
 * is the stored parameter, in its canonical form (lib/params.js). A wallet is taxed at most once
 * per velocityTaxPeriodSeconds, counted from the transaction timestamp of its last tax (a 'taxed'
 * record per wallet): issue 31 finding 7, a hundred taxes in a row once left a wallet under 37 %.
 */
const { GxContract, BusinessError, userId, treasuryWallet } = require('./ledger');
const { intParam } = require('./params');
const { txMillis, iso } = require('./clock');
const { show } = require('./text');

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
                throw new BusinessError(`treasury of ${show(user.country)} is not active`, 'CONFLICT');
            }
            const params = await state.parameters();
            const now = txMillis(state.stub);
            const last = await state.get('taxed', walletId);
            const next = last ? taxDueAt(last.at, intParam(params, 'velocityTaxPeriodSeconds')) : now;
            if (now < next) {
                throw new BusinessError(`wallet ${show(walletId)} was taxed at ${iso(last.at)}; the next velocity tax is `
                    + `due at ${iso(next)} (velocityTaxPeriodSeconds)`, 'TAX_NOT_DUE');
            }
            const tax = (BigInt(w.balance) * intParam(params, 'velocityTaxBps')) / 10000n;
            if (tax === 0n) {
                throw new BusinessError(`no velocity tax due on wallet ${show(walletId)} (balance ${w.balance})`,
                    'NOTHING_DUE');
            }
            const treasuryWalletId = treasuryWallet(user.country);
            await state.move(walletId, treasuryWalletId, tax);  // into the treasury's shard of this user
            await state.put('taxed', { walletId, at: now, txId: state.stub.getTxID() }, walletId);
            return { event: 'VelocityTaxApplied', payload: { walletId, treasuryWalletId, amount: tax } };
        });
    }
}

/** When a wallet taxed at ``lastMillis`` is due again: one whole period later. Pure. */
function taxDueAt(lastMillis, periodSeconds) {
    return lastMillis + Number(periodSeconds) * 1000;
}

module.exports = TaxContract;
module.exports.taxDueAt = taxDueAt;
