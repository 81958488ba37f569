'use strict';
/*
 * System parameters: one validator per parameter, used wherever a value is set or checked
 * (UpdateSystemParameter, SubmitProposal, ExecuteProposal) and giving the one canonical text that
 * is stored, so a value is parsed once and the same way where it is checked and where it is used.
 *
 * Known parameters are integers within bounds (the table below); BootstrapSystem stores every
 * default, and a rule reads a parameter through `intParam` (the stored value, or its default).
 * Only `governable` ones may be changed by a proposal: the caps on money paid out (genesis, loans)
 * and the rules of governance itself are the administrators' (UpdateSystemParameter, admin scope),
 * so user-level commands can never raise them. Any other name (a lower-camel-case word, e.g.
 * `demoRun`) is a free label of up to 200 characters that no rule reads. Names are looked up as own
 * properties only: `constructor`, `toString`, `__proto__`... are refused (issue 31 finding 8: they
 * once read Object.prototype and threw a TypeError instead of a recorded rejection).
 */
const { BusinessError, bounded } = require('./ledger');
const { show } = require('./text');

const MAX_TAX_BPS = 1000;                  // 10 %: a velocity tax above it is refused, however it is proposed
const SHARD_OF_SUPPLY = 62500000000000n;   // 10^15 / 16: one pool shard, the most one payment can take
const YEAR_SECONDS = 366 * 24 * 3600;

function integer(min, max, describe, fallback, governable = false) {
    return { min: BigInt(min), max: BigInt(max), describe, default: String(fallback), governable };
}

const PARAMETERS = new Map(Object.entries({
    velocityTaxBps: integer(0, MAX_TAX_BPS, `an integer number of basis points from 0 to ${MAX_TAX_BPS}`, 100, true),
    velocityTaxPeriodSeconds: integer(1, YEAR_SECONDS, `a whole number of seconds from 1 to ${YEAR_SECONDS}`,
        30 * 24 * 3600),
    genesisMaxPerUser: integer(1, SHARD_OF_SUPPLY, `a whole amount from 1 to ${SHARD_OF_SUPPLY}`, 1000000000),
    loanMaxAmount: integer(1, SHARD_OF_SUPPLY, `a whole amount from 1 to ${SHARD_OF_SUPPLY}`, 1000000000),
    proposalVotingPeriodSeconds: integer(1, YEAR_SECONDS, `a whole number of seconds from 1 to ${YEAR_SECONDS}`,
        7 * 24 * 3600),
    proposalQuorum: integer(1, 1000000, 'a whole number of votes from 1 to 1000000', 3),
    proposalThresholdBps: integer(5000, 9999, 'an integer number of basis points from 5000 to 9999 (FOR must be '
        + 'more than this share of the votes cast)', 5000),
}));

const LABEL_NAME = /^[a-z][A-Za-z0-9]{0,63}$/;
const INTEGER = /^(0|[1-9][0-9]{0,18})$/;

/** The definition of known parameter ``name``, or undefined (own entries only). Pure. */
function known(name) {
    return PARAMETERS.get(name);
}

/** The canonical text of ``value`` for parameter ``name``; BusinessError INVALID_PARAMETER otherwise. Pure. */
function parameterValue(name, value) {
    if (typeof name !== 'string' || typeof value !== 'string') {
        throw new BusinessError('parameter and value are required', 'INVALID_PARAMETER');
    }
    const def = known(name);
    if (def) {
        if (!INTEGER.test(value) || BigInt(value) < def.min || BigInt(value) > def.max) {
            throw new BusinessError(`${name} must be ${def.describe}, got ${show(value)}`, 'INVALID_PARAMETER');
        }
        return value;
    }
    if (!LABEL_NAME.test(name) || name in Object.prototype) {
        throw new BusinessError(`unknown parameter ${show(name)}: known are ${[...PARAMETERS.keys()].join(', ')}; `
            + 'other names must be lower-camel-case words, not a name every object has', 'INVALID_PARAMETER');
    }
    if (value.length === 0 || value.length > 200) {
        throw new BusinessError(`parameter ${name} must be 1 to 200 characters`, 'INVALID_PARAMETER');
    }
    return bounded('value', value, 200); // no control character or lone surrogate, as every text
}

/** As parameterValue, for a proposal: a known parameter must be governable. Pure. */
function proposableValue(name, value) {
    const canonical = parameterValue(name, value);
    const def = known(name);
    if (def && !def.governable) {
        throw new BusinessError(`${name} is set by the administrators only (UpdateSystemParameter), not by a proposal`,
            'INVALID_PARAMETER');
    }
    return canonical;
}

/** Every known parameter's default (canonical texts), as BootstrapSystem stores them. Pure. */
function defaults() {
    return Object.fromEntries([...PARAMETERS].map(([name, def]) => [name, def.default]));
}

/** The value (BigInt) of known parameter ``name`` in the stored ``params``, or its default. Pure. */
function intParam(params, name) {
    const def = known(name);
    if (!def) {
        throw new Error(`no known parameter ${name}`);  // a bug: rules read known parameters only
    }
    const stored = Object.prototype.hasOwnProperty.call(params, name) ? params[name] : def.default;
    return BigInt(stored);
}

module.exports = { parameterValue, proposableValue, defaults, intParam, known, PARAMETERS, MAX_TAX_BPS };
