'use strict';
/*
 * System parameters: one validator per parameter, used wherever a value is set or checked
 * (UpdateSystemParameter, SubmitProposal, ExecuteProposal) and giving the one canonical text that
 * is stored, so a value is parsed once and the same way where it is checked and where it is used.
 *
 * Known parameters are typed; any other name (a lower-camel-case word, e.g. `demoRun`) is a free
 * label of up to 200 characters that no rule reads.
 */
const { BusinessError } = require('./ledger');

const MAX_TAX_BPS = 1000; // 10 %: a velocity tax above it is refused, however it is proposed

const PARAMETERS = {
    velocityTaxBps: {
        describe: `an integer number of basis points from 0 to ${MAX_TAX_BPS}`,
        canonical(text) {
            if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > MAX_TAX_BPS) {
                return null;
            }
            return String(Number(text));
        },
    },
};

const LABEL_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;

/** The canonical text of ``value`` for parameter ``name``; BusinessError INVALID_PARAMETER otherwise. */
function parameterValue(name, value) {
    if (typeof name !== 'string' || typeof value !== 'string') {
        throw new BusinessError('parameter and value are required', 'INVALID_PARAMETER');
    }
    const known = PARAMETERS[name];
    if (known) {
        const v = known.canonical(value);
        if (v === null) {
            throw new BusinessError(`${name} must be ${known.describe}, got ${JSON.stringify(value)}`, 'INVALID_PARAMETER');
        }
        return v;
    }
    if (!LABEL_NAME.test(name)) {
        throw new BusinessError(`unknown parameter ${JSON.stringify(name)}: known are ${Object.keys(PARAMETERS).join(', ')}; `
            + 'other names must be lower-camel-case words', 'INVALID_PARAMETER');
    }
    if (value.length === 0 || value.length > 200) {
        throw new BusinessError(`parameter ${name} must be 1 to 200 characters`, 'INVALID_PARAMETER');
    }
    return value;
}

module.exports = { parameterValue, PARAMETERS, MAX_TAX_BPS };
