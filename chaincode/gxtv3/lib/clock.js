'use strict';
/*
 * The time of a transaction: its timestamp (the channel header's, set by the submitting client and
 * the same on every endorser), in milliseconds since the epoch. Rules that need a time (a voting
 * period, the velocity tax's period, when a user was created) read it here, never the peer's clock,
 * which differs between endorsers. Fabric does not check the timestamp against its own clock: it
 * is the submitter's word, like the rest of a command.
 */

/** Milliseconds since the epoch of the transaction's timestamp (fabric-shim: seconds as a Long, and nanos). */
function txMillis(stub) {
    const ts = stub.getTxTimestamp();
    return Number(ts.seconds.toString()) * 1000 + Math.floor(Number(ts.nanos || 0) / 1e6);
}

/** ``millis`` as an ISO-8601 text (for messages). Pure. */
function iso(millis) {
    return new Date(millis).toISOString();
}

module.exports = { txMillis, iso };
