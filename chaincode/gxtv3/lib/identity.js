'use strict';
/* IdentityContract: users; each user gets a wallet with the user's id. */
const { GxContract, BusinessError, required } = require('./ledger');

class IdentityContract extends GxContract {
    constructor() {
        super('IdentityContract');
    }

    async CreateUser(ctx, tenantId, requestId, userId, email, firstName, lastName, country) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            for (const [f, v] of Object.entries({ userId, email, firstName, lastName, country })) {
                required(f, v);
            }
            if (await state.get('user', userId)) {
                throw new BusinessError(`user ${userId} already exists`, 'ALREADY_EXISTS');
            }
            if (await state.get('wallet', userId)) {
                throw new BusinessError(`wallet ${userId} already exists`, 'ALREADY_EXISTS');
            }
            await state.put('user', { userId, email, firstName, lastName, country, kycStatus: 'PENDING' }, userId);
            await state.put('wallet', { walletId: userId, ownerId: userId, ownerType: 'USER', balance: 0n,
                frozen: false, frozenReason: null }, userId);
            return { event: 'UserCreated', payload: { userId, email, firstName, lastName, country } };
        });
    }
}

module.exports = IdentityContract;
