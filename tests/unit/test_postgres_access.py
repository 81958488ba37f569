"""Who may connect to the local stack's Postgres, and how (issue 33, finding 2): no physical
replication for anyone, Debezium's role to the pipeline's database only."""

from __future__ import annotations

from stack.postgres import DBNAME, hba


def _rules(text: str) -> list[list[str]]:
    return [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def test_no_rule_allows_physical_replication() -> None:
    """Before: `host replication all 127.0.0.1/32 scram-sha-256`: gx_cdc's login (REPLICATION) could
    pg_basebackup the whole cluster, every database and pg_authid's password hashes included."""
    assert not any(r[1] == "replication" for r in _rules(hba("127.0.0.1")))


def test_debeziums_role_matches_its_database_first_and_is_rejected_anywhere_else() -> None:
    rules = _rules(hba("127.0.0.1"))
    cdc = [r for r in rules if r[2] == "gx_cdc"]
    assert cdc[0] == ["host", DBNAME, "gx_cdc", "127.0.0.1/32", "scram-sha-256"]
    assert [r[-1] for r in cdc[1:]] == ["reject", "reject"] and {r[0] for r in cdc[1:]} == {"local", "host"}
    first_other = next(i for i, r in enumerate(rules) if r[2] == "all")
    assert all(rules.index(r) < first_other for r in cdc)  # first match wins: its rules come first
    assert all(r[-1] in ("scram-sha-256", "reject") for r in rules)  # never trust, never md5
    assert all(r[0] == "local" or r[3] in ("127.0.0.1/32", "all") for r in rules)
