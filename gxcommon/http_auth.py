"""HTTP basic auth for the REST APIs we call (Kafka Connect's), carried in the URL's user info.

The credentials live only in memory: settings hold the plain URL and a password file
(gxcommon.settings), :func:`with_credentials` joins them, :func:`request` turns the user info into
an ``Authorization`` header (urllib does not), and :func:`public` is what any message may show.
"""

from __future__ import annotations

import base64
import urllib.request
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit


def with_credentials(url: str, user: str, password: str) -> str:
    """``url`` with ``user:password`` as its user info (percent-encoded)."""
    p = urlsplit(url)
    host = p.netloc.rsplit("@", 1)[-1]
    return urlunsplit(p._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"))


def public(url: str) -> str:
    """``url`` without user info: safe to print."""
    p = urlsplit(url)
    return urlunsplit(p._replace(netloc=p.netloc.rsplit("@", 1)[-1]))


def request(
    url: str, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None
) -> urllib.request.Request:
    """A urllib Request for ``url`` (user info moved into a basic ``Authorization`` header)."""
    p = urlsplit(url)
    hdrs: dict[str, Any] = dict(headers or {})
    if p.username is not None:
        token = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
        hdrs["Authorization"] = "Basic " + base64.b64encode(token).decode()
    return urllib.request.Request(public(url), method=method, data=data, headers=hdrs)
