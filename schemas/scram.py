"""SCRAM-SHA-256 verifiers as Postgres stores them (RFC 5802, RFC 7677), made on the client.

`ALTER ROLE r PASSWORD 'x'` sends the password itself to the server, where a statement log,
pg_stat_statements or an error report can keep it; given a verifier
(``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``, base64), Postgres stores it as is
and the password never leaves the client. The verifier lets the server check a login but not log
in itself.

As Postgres does, the password is first normalised with SASLprep (RFC 4013) and used as it is when
that fails (e.g. a prohibited character). Pure functions; :func:`verifier` takes the salt as an
argument for tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

ITERATIONS = 4096  # Postgres' default (scram_iterations)
SALT_BYTES = 16
_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
    stringprep.in_table_a1,
)


def saslprep(password: str) -> str:
    """RFC 4013's SASLprep of ``password``, or ``password`` itself where Postgres would use it
    unprepared (a prohibited or unassigned character, mixed-direction text, an empty result)."""
    if password.isascii() and all(" " <= c <= "~" for c in password):
        return password  # printable ASCII: SASLprep changes nothing
    mapped = "".join(" " if stringprep.in_table_c12(c) else "" if stringprep.in_table_b1(c) else c for c in password)
    out = unicodedata.normalize("NFKC", mapped)
    if not out or any(check(c) for c in out for check in _PROHIBITED):
        return password
    if any(stringprep.in_table_d1(c) for c in out) and (
        any(stringprep.in_table_d2(c) for c in out)
        or not (stringprep.in_table_d1(out[0]) and stringprep.in_table_d1(out[-1]))
    ):
        return password
    return out


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes, bytes]:
    """(ClientKey, StoredKey, ServerKey) of ``password``."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
    client = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return client, hashlib.sha256(client).digest(), server


def verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier of ``password`` in Postgres' format (a random salt by default)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    _, stored, server = _keys(password, salt, iterations)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


def is_verifier(text: str) -> bool:
    """Whether ``text`` has the form of a SCRAM-SHA-256 verifier (what Postgres stores as is)."""
    head, _, keys = text.partition("$")[2].partition("$")
    iterations, _, salt = head.partition(":")
    stored, _, server = keys.partition(":")
    return text.startswith("SCRAM-SHA-256$") and iterations.isdigit() and all((salt, stored, server))
