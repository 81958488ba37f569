"""The local stack's settings for a process given none: what `gxctl` and the benchmarks share.

With no ``GX_*`` connection variable set, and a local stack set up here (its state directory
exists), the unset variables are filled from :meth:`stack.manager.Stack.env`, so a command
printed by `make run` works in a fresh shell. Any variable already set wins (another deployment).
"""

from __future__ import annotations

import os

from gxcommon.fabric_settings import FabricSettings
from gxcommon.settings import ConnectionSettings, connection_settings


def use_local_stack() -> str:
    """Fill unset GX_* connection variables from the local stack, if there is one; returns what
    was used, in words (for `gxctl -v`)."""
    s, f = ConnectionSettings(), FabricSettings()
    given = {
        "GX_PG_DSN": s.pg_dsn,
        "GX_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "GX_CONNECT_URL": s.connect_url,
        "GX_FABRIC_GATEWAY": f.gateway,
    }
    if any(given.values()):
        return "from the environment (" + ", ".join(k for k, v in given.items() if v) + ")"
    from stack.manager import Stack

    stack = Stack()
    if not stack.s.state_dir.exists():
        return f"none set, and no local stack at {stack.s.state_dir}"
    found = {k: v for k, v in stack.env().items() if k not in os.environ}
    os.environ.update(found)

    connection_settings.cache_clear()  # read again, now with the stack's variables
    return f"the local stack at {stack.s.state_dir} ({', '.join(sorted(found))})"
