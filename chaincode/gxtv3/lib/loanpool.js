'use strict';
/*
 * LoanPoolContract: a user applies; an admin (a user appointed by AppointAdmin, named as the
 * approver: the API vouches it is them) approves, and only then is the loan paid, out of the
 * genesis pool (its shard of the borrower). Issue 31 finding 3: approving pays money, so it is an
 * administrative function (the scope `all`), a loan is at most loanMaxAmount (checked when applied
 * for and again when paid), and an approver is never the borrower.
 */
const { GxContract, BusinessError, amount, required, userId, GENESIS_POOL, MAX_ID } = require('./ledger');
const { intParam } = require('./params');
const { show } = require('./text');

/** A loan of ``value`` within the current loanMaxAmount; LOAN_LIMIT otherwise. Pure. */
function withinLimit(value, params) {
    const max = intParam(params, 'loanMaxAmount');
    if (value > max) {
        throw new BusinessError(`a loan is at most loanMaxAmount ${max}, got ${value}`, 'LOAN_LIMIT');
    }
    return value;
}

class LoanPoolContract extends GxContract {
    constructor() {
        super('LoanPoolContract');
    }

    async ApplyForLoan(ctx, tenantId, requestId, loanId, borrowerId, amountText) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            required('loanId', loanId, MAX_ID);
            const value = withinLimit(amount('amount', amountText), await state.parameters());
            await state.must('user', 'user', userId('borrowerId', borrowerId));
            if (await state.get('loan', loanId)) {
                throw new BusinessError(`loan ${show(loanId)} already exists`, 'ALREADY_EXISTS');
            }
            await state.put('loan', { loanId, tenantId: state.tenant, borrowerId, amount: value.toString(),
                status: 'APPLIED', approverId: null }, loanId);
            return { event: 'LoanApplied', payload: { loanId, borrowerId, amount: value } };
        });
    }

    /** Administrative (the scope `all`): a loan is paid on an administrator's act, not on a name. */
    async ApproveLoan(ctx, tenantId, requestId, loanId, approverId) {
        return this._apply(ctx, tenantId, requestId, async (state) => {
            const loan = await state.must('loan', 'loan', loanId);
            await state.must('user', 'user', userId('approverId', approverId));
            if (!(await state.admins()).includes(approverId)) {
                throw new BusinessError(`approver ${show(approverId)} is not an admin`, 'NOT_AN_ADMIN');
            }
            if (loan.status !== 'APPLIED') {
                throw new BusinessError(`loan ${show(loanId)} is already ${loan.status.toLowerCase()}`, 'CONFLICT');
            }
            if (approverId === loan.borrowerId) {
                throw new BusinessError(`approver ${show(approverId)} cannot approve their own loan`, 'CONFLICT');
            }
            const value = withinLimit(BigInt(loan.amount), await state.parameters());
            await state.move(GENESIS_POOL, loan.borrowerId, value);
            await state.put('loan', { ...loan, status: 'APPROVED', approverId }, loanId);
            return { event: 'LoanApproved', payload: { loanId, approverId, borrowerId: loan.borrowerId,
                fromWalletId: GENESIS_POOL, amount: value } };
        }, { admin: true });
    }
}

module.exports = LoanPoolContract;
