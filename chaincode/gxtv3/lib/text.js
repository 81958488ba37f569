'use strict';
/*
 * The text the chaincode echoes back. Every value a message names goes through `show`, bounded,
 * so no argument (a 200,000-character id, issue 31 finding 8) can make an answer, a recorded
 * rejection or a thrown error large; `clamp` bounds a whole message as a last resort.
 */
const SHOWN = 80;          // characters of a value a message shows
const MAX_MESSAGE = 500;   // characters of a message, at most

/**
 * ``value`` as a message shows it: a short plain id (letters, digits, _ . : @ -) as it is, anything
 * else JSON-quoted, cut at ``max`` characters with the full length said. Pure.
 */
function show(value, max = SHOWN) {
    const text = typeof value === 'string' ? value : String(value);
    if (text.length <= max && /^[A-Za-z0-9_.:@-]+$/.test(text)) {
        return text;
    }
    if (text.length <= max) {
        return JSON.stringify(text);
    }
    return `${JSON.stringify(text.slice(0, max))}... (${text.length} characters)`;
}

/** ``message`` cut to MAX_MESSAGE characters. Pure. */
function clamp(message) {
    return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 3)}...`;
}

module.exports = { show, clamp, SHOWN, MAX_MESSAGE };
