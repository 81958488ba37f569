"""Building Postgres connection strings safely.

The old system broke on a password containing ``/`` and ``=`` until it was percent-encoded;
every URL we build goes through :func:`pg_url`, and every consumer gets the pieces back with
:func:`pg_parts` rather than splitting strings by hand.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit


def pg_url(user: str, password: str, host: str, port: int, dbname: str) -> str:
    """A ``postgresql://`` URL with user and password percent-encoded (``/ = @ % :`` all safe)."""
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(dbname, safe='')}"


def pg_parts(url: str) -> dict[str, str | int]:
    """The decoded parts of a ``postgresql://`` URL: user, password, host, port, dbname.

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
    }
