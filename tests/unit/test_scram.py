"""Role passwords go to Postgres as SCRAM-SHA-256 verifiers, never as the password (issue 33,
finding 9: `ALTER ROLE ... PASSWORD 'the password'`, which a statement log or an error report
could keep)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from psycopg import sql

from schemas import scram
from schemas.roles import role_statements

# RFC 7677, section 3: user "user", password "pencil".
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
NONCE = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
AUTH = f"n=user,r=rOprNGfwEbeRWgbNEkqO,r={NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={NONCE}".encode()
PROOF = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
SERVER_SIGNATURE = base64.b64decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


def test_the_verifier_checks_the_rfcs_exchange() -> None:
    """The verifier's keys are the ones that accept RFC 7677's client proof and make its server signature."""
    v = scram.verifier("pencil", SALT)
    method, _, rest = v.partition("$")
    head, _, keys = rest.partition("$")
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    assert method == "SCRAM-SHA-256" and head == "4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    assert hmac.new(server, AUTH, hashlib.sha256).digest() == SERVER_SIGNATURE
    client_signature = hmac.new(stored, AUTH, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(PROOF, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored
    assert scram.is_verifier(v) and not scram.is_verifier("pencil")


def test_saslprep_maps_as_postgres_does_and_falls_back_to_the_password() -> None:
    assert scram.saslprep("p@ss/w=rd%") == "p@ss/w=rd%"
    assert scram.saslprep("I\u00adX") == "IX"  # soft hyphen: mapped to nothing
    assert scram.saslprep("a\u00a0b") == "a b"  # no-break space: a space
    assert scram.saslprep("\u2168") == "IX"  # NFKC
    assert scram.saslprep("a\u0007b") == "a\u0007b"  # prohibited (a control character): used as it is
    assert scram.verifier("I\u00adX", SALT) == scram.verifier("IX", SALT)


def test_no_role_statement_holds_a_password() -> None:
    pw = "gxRole/pa=ss@%x"
    stmts = role_statements({"gx_results": pw}, {"gx_results": ""})
    text = " ".join(s.as_string(None) if isinstance(s, sql.Composed) else str(s) for s in stmts)
    assert pw not in text
    assert "PASSWORD 'SCRAM-SHA-256$4096:" in text
    literal = text.split("PASSWORD '")[1].split("'")[0]
    salt = base64.b64decode(literal.split("$")[1].split(":")[1])
    assert literal == scram.verifier(pw, salt)  # the role's own password, salted at random
