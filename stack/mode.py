"""The local stack's security mode, chosen once when the stack is made (`gxctl stack up --secure`).

Secure means, end to end: Kafka with SCRAM over TLS and ACLs per principal (stack.kafka_security);
Postgres with a role per job (schemas.roles); the peer requiring mutual TLS; Connect's REST API
behind basic auth. A stack made without it keeps its data in the plain form, so the mode cannot
change later: StackError, with `gxctl stack down --purge` as the way out.
"""

from __future__ import annotations

from pathlib import Path

from stack.errors import StackError
from stack.settings import StackSettings


def marker(s: StackSettings) -> Path:
    return s.state_dir / "secrets" / "secure"


def is_secure(s: StackSettings) -> bool:
    return marker(s).exists()


def make_secure(s: StackSettings, made: dict[str, Path]) -> None:
    """Choose the secure mode. ``made`` names each component's data that exists once it was made;
    StackError naming the first that already exists (a stack made in plain mode)."""
    if is_secure(s):
        return
    for name, path in made.items():
        if path.exists():
            raise StackError(
                name,
                f"this stack's {name} was made without --secure ({path} exists)",
                "`gxctl stack down --purge`, then `gxctl stack up --secure`",
            )
    marker(s).parent.mkdir(parents=True, exist_ok=True)
    marker(s).parent.chmod(0o700)
    marker(s).write_text("secure: Kafka SCRAM/TLS/ACLs, Postgres roles, Fabric mutual TLS, Connect basic auth\n")
