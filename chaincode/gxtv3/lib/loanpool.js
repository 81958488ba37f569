'use strict';
/*
 * LoanPoolContract: a user applies; an admin (a user appointed by AppointAdmin, named as the
 * approver: the API vouches it is them) approves, and only then is the loan paid, out of the
 * genesis pool (its shard of the borrower).
 */
const { GxContract, BusinessError, amount, required, userId, GENESIS_POOL } = require('./ledger');

class LoanPoolContract extends GxContract {
    constructor() {
        super('LoanPoolContract');
    }

    async ApplyForLoan(ctx, tenantId, requestId, loanId, borrowerId, amountText) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            required('loanId', loanId);
            const value = amount('amount', amountText);
            await state.must('user', 'user', userId('borrowerId', borrowerId));
            if (await state.get('loan', loanId)) {
                throw new BusinessError(`loan ${loanId} already exists`, 'ALREADY_EXISTS');
            }
            await state.put('loan', { loanId, tenantId: state.tenant, borrowerId, amount: value.toString(), status: 'APPLIED',
                approverId: null }, loanId);
            return { event: 'LoanApplied', payload: { loanId, borrowerId, amount: value } };
        });
    }

    async ApproveLoan(ctx, tenantId, requestId, loanId, approverId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const loan = await state.must('loan', 'loan', loanId);
            if (!(await state.admins()).includes(approverId)) {
                throw new BusinessError(`approver ${approverId} is not an admin`, 'NOT_AN_ADMIN');
            }
            if (loan.status !== 'APPLIED') {
                throw new BusinessError(`loan ${loanId} is already ${loan.status.toLowerCase()}`, 'CONFLICT');
            }
            if (approverId === loan.borrowerId) {
                throw new BusinessError(`approver ${approverId} cannot approve their own loan`, 'CONFLICT');
            }
            const value = BigInt(loan.amount);
            await state.move(GENESIS_POOL, loan.borrowerId, value);
            await state.put('loan', { ...loan, status: 'APPROVED', approverId }, loanId);
            return { event: 'LoanApproved', payload: { loanId, approverId, borrowerId: loan.borrowerId,
                fromWalletId: GENESIS_POOL, amount: value } };
        });
    }
}

module.exports = LoanPoolContract;
