'use strict';
/* IdentityContract: users; each user gets a wallet with the user's id (a user id never begins with '@'). */
const { GxContract, BusinessError, required, userId } = require('./ledger');
const { show } = require('./text');
const { txMillis } = require('./clock');

class IdentityContract extends GxContract {
    constructor() {
        super('IdentityContract');
    }

    async CreateUser(ctx, tenantId, requestId, user, email, firstName, lastName, country) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            userId('userId', user);
            for (const [f, v] of Object.entries({ email, firstName, lastName, country })) {
                required(f, v);
            }
            if (await state.get('user', user)) {
                throw new BusinessError(`user ${show(user)} already exists`, 'ALREADY_EXISTS');
            }
            // createdAt (the transaction timestamp): who may vote on a proposal is who existed when it was submitted.
            await state.put('user', { userId: user, tenantId: state.tenant, email, firstName, lastName, country,
                kycStatus: 'PENDING', createdAt: txMillis(state.stub) }, user);
            await state.createWallet(user, user);
            return { event: 'UserCreated', payload: { userId: user, email, firstName, lastName, country } };
        });
    }
}

module.exports = IdentityContract;
