"""Building Postgres connection strings safely.

The old system broke on a password containing ``/`` and ``=`` until it was percent-encoded;
every URL we build goes through :func:`pg_url`, and every consumer gets the pieces back with
:func:`pg_parts` rather than splitting strings by hand.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit


def pg_url(user: str, password: str, host: str, port: int, dbname: str, query: dict[str, str] | None = None) -> str:
    """A ``postgresql://`` URL with user and password percent-encoded (``/ = @ % :`` all safe),
    and ``query`` (e.g. ``sslmode``, ``passfile``) kept as URL parameters. An empty password is
    left out (libpq then looks in the ``passfile``)."""
    login = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    url = f"postgresql://{login}@{host}:{port}/{quote(dbname, safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


def with_password(url: str, password: str) -> str:
    """``url`` with its password replaced; everything else (query parameters included) kept."""
    p = pg_parts(url)
    return pg_url(str(p["user"]), password, str(p["host"]), int(p["port"]), str(p["dbname"]), p["query"])


def with_dbname(url: str, dbname: str) -> str:
    """``url`` naming another database on the same server."""
    p = pg_parts(url)
    return pg_url(str(p["user"]), str(p["password"]), str(p["host"]), int(p["port"]), dbname, p["query"])


def pg_parts(url: str) -> dict[str, Any]:
    """The decoded parts of a ``postgresql://`` URL: user, password, host, port, dbname, and query
    (a dict of its parameters, such as ``sslmode``).

    Raises ValueError naming the problem if the URL is not a Postgres URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a postgresql:// URL (scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError("postgres URL has no host")
    return {
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "host": parts.hostname,
        "port": parts.port or 5432,
        "dbname": unquote(parts.path.lstrip("/")) or "postgres",
        "query": dict(parse_qsl(parts.query)),
    }


def _pgpass_field(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


def pgpass_line(host: str, port: int, dbname: str, user: str, password: str) -> str:
    """One line of a libpq password file (``:`` and ``\\`` escaped)."""
    return ":".join(_pgpass_field(v) for v in (host, port, dbname, user, password))


def _pgpass_split(line: str) -> list[str]:
    fields, cur, esc = [], "", False
    for ch in line:
        if esc:
            cur, esc = cur + ch, False
        elif ch == "\\":
            esc = True
        elif ch == ":":
            fields.append(cur)
            cur = ""
        else:
            cur += ch
    return [*fields, cur]


def password(url: str) -> str:
    """The URL's password, or (none in the URL) the matching line of its ``passfile`` parameter,
    as libpq would find it. Empty if neither has one. Raises ValueError for a bad URL, OSError for
    an unreadable password file."""
    p = pg_parts(url)
    if p["password"] or "passfile" not in p["query"]:
        return str(p["password"])
    want = [str(p["host"]), str(p["port"]), str(p["dbname"]), str(p["user"])]
    with open(p["query"]["passfile"]) as f:
        for line in f.read().splitlines():
            fields = _pgpass_split(line)
            if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields[:4], want)):
                return fields[4]
    return ""


def secret_parts(url: str) -> dict[str, Any]:
    """:func:`pg_parts` with the password resolved (see :func:`password`), for a client that is not
    libpq (Debezium's connector config)."""
    return {**pg_parts(url), "password": password(url)}
