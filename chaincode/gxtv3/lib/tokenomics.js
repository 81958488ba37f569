'use strict';
/*
 * TokenomicsContract: genesis distribution from the pool, transfers, freezing.
 *
 * A plain transfer moves money only out of a user's wallet, into a user's or an organisation's:
 * the genesis pool pays only genesis distributions and approved loans, a treasury only receives
 * the velocity tax, and an organisation's funds move only through an executed multisig transaction.
 */
const { GxContract, BusinessError, amount, bounded, required, userId, walletKind, GENESIS_POOL, shardOf, MAX_ID,
    MAX_WALLET } = require('./ledger');
const { intParam } = require('./params');
const { show } = require('./text');

class TokenomicsContract extends GxContract {
    constructor() {
        super('TokenomicsContract');
    }

    /**
     * Pays a user's genesis from the pool (its shard of the user): once per user (a 'genesis'
     * record per user id), only in the user's own country (so a country's genesis total counts its
     * own users only) and at most genesisMaxPerUser (issue 31 finding 2: sixteen distributions of a
     * whole shard to one user once emptied the pool).
     */
    async DistributeGenesis(ctx, tenantId, requestId, user, countryCode, amountText) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            await state.requireBootstrapped();
            const value = amount('amount', amountText);
            await state.must('country', 'country', required('countryCode', countryCode, MAX_ID));
            const u = await state.must('user', 'user', userId('userId', user));
            if (u.country !== countryCode) {
                throw new BusinessError(`user ${show(user)} is of country ${show(u.country)}, not ${show(countryCode)}`,
                    'COUNTRY_MISMATCH');
            }
            const cap = intParam(await state.parameters(), 'genesisMaxPerUser');
            if (value > cap) {
                throw new BusinessError(`a genesis payment is at most genesisMaxPerUser ${cap}, got ${value}`,
                    'GENESIS_LIMIT');
            }
            const paid = await state.get('genesis', user);
            if (paid) {
                throw new BusinessError(`user ${show(user)} was paid genesis already (transaction ${paid.txId})`,
                    'GENESIS_ALREADY_PAID');
            }
            await state.move(GENESIS_POOL, user, value);  // the pool's shard of this user
            await state.put('genesis', { userId: user, tenantId: state.tenant, countryCode, amount: value.toString(),
                txId: state.stub.getTxID() }, user);
            // The country's total is kept per shard too, so distributions to different users never
            // write the same key (a burst of them would otherwise conflict: MVCC).
            const shard = String(shardOf(user));
            const counted = await state.get('countrygenesis', countryCode, shard);
            await state.put('countrygenesis', { distributed: ((counted ? BigInt(counted.distributed) : 0n) + value)
                .toString() }, countryCode, shard);
            return { event: 'GenesisDistributed', payload: { userId: user, countryCode, amount: value,
                fromWalletId: GENESIS_POOL } };
        });
    }

    async TransferTokens(ctx, tenantId, requestId, fromWalletId, toWalletId, amountText, memo) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            required('fromWalletId', fromWalletId, MAX_WALLET);
            required('toWalletId', toWalletId, MAX_WALLET);
            bounded('memo', memo || '', 500);
            if (walletKind(fromWalletId) !== 'USER') {
                throw new BusinessError(`a transfer moves money out of a user's wallet only, not out of ${show(fromWalletId)} `
                    + '(organisation funds move through an executed multisig transaction)', 'FORBIDDEN_SOURCE');
            }
            if (!['USER', 'ORGANIZATION'].includes(walletKind(toWalletId))) {
                throw new BusinessError(`a transfer pays a user's or an organisation's wallet only, not ${show(toWalletId)}`,
                    'FORBIDDEN_TARGET');
            }
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
            const w = await state.wallet(required('walletId', walletId, MAX_WALLET));
            if (!['USER', 'ORGANIZATION'].includes(w.ownerType)) {
                throw new BusinessError(`wallet ${show(walletId)} is a ${w.ownerType.toLowerCase()} wallet and cannot be frozen`,
                    'FORBIDDEN_TARGET');
            }
            if (w.frozen) {
                throw new BusinessError(`wallet ${show(walletId)} is already frozen`, 'CONFLICT');
            }
            await state.put('wallet', { ...w, frozen: true, frozenReason: reason }, walletId);
            return { event: 'WalletFrozen', payload: { walletId, reason } };
        }, { admin: true });
    }

    async UnfreezeWallet(ctx, tenantId, requestId, walletId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const w = await state.wallet(required('walletId', walletId, MAX_WALLET));
            if (!w.frozen) {
                throw new BusinessError(`wallet ${show(walletId)} is not frozen`, 'CONFLICT');
            }
            await state.put('wallet', { ...w, frozen: false, frozenReason: null }, walletId);
            return { event: 'WalletUnfrozen', payload: { walletId } };
        }, { admin: true });
    }
}

module.exports = TokenomicsContract;
