"""Who may send which command, and which identity signs it (schemas.permissions), at the submitter.

- :func:`refusal`: why a command's service may not send its type (None: it may). With the check
  on (GX_SERVICE_CHECK) such a command is REJECTED with errorCode SERVICE_NOT_ALLOWED and the
  reason, dead-lettered, and never attempted, whether the outbox or ``gxsdk.produce`` sent it.
  Only the outbox proves who wrote a command (each service writes as its own Postgres role); a
  direct producer names its service itself, on its own topic (gx.commands.direct, the only one its
  Kafka principal may write). So on the direct path an administrative type is refused whatever
  service it names: a user-level service cannot get one signed with the ``all`` identity.
- :class:`ScopedGateway`: the Gateway port over two clients of one channel. An administrative
  function's proposal is endorsed (and so signed) by the client whose identity is granted scope
  ``all``; every other one by the client whose identity is granted scope ``commands``, which the
  chaincode refuses (FORBIDDEN) for an administrative function. A transaction is signed when it is
  endorsed, so submitting it and reading commit statuses may go through either client.
"""

from __future__ import annotations

from collections.abc import Sequence

from fabric_gateway import Gateway
from fabric_gateway.client import Endorsed, Status, Timeouts
from schemas import permissions
from schemas.envelopes import CommandEnvelope
from schemas.routing import ROUTES

# The chaincode functions ("Contract:Function") of the administrative command types.
ADMINISTRATIVE_FUNCTIONS = frozenset(f"{ROUTES[t].contract}:{ROUTES[t].function}" for t in permissions.ADMINISTRATIVE)


def refusal(env: CommandEnvelope, direct: bool = False) -> str | None:
    """Why ``env``'s service may not send its command type, or None. ``direct``: ``env`` came on the
    direct path (gx.commands.direct), where an administrative type is refused whatever service it
    names. Pure."""
    if direct and env.commandType in permissions.ADMINISTRATIVE:
        return (
            f"{env.commandType} is administrative: it comes only through the outbox, whose row-level "
            "security checks the writing service (the direct path names its service itself)"
        )
    return permissions.refusal(env.service, env.commandType)


class ScopedGateway:
    """``admin``: the client granted scope ``all``; ``commands``: the one granted ``commands``
    (the same client when the deployment has only one identity: it then signs every command)."""

    def __init__(self, admin: Gateway, commands: Gateway) -> None:
        self.admin, self.commands = admin, commands

    @property
    def timeouts(self) -> Timeouts:
        return self.admin.timeouts

    def client_for(self, function: str) -> Gateway:
        """The client that signs ``function``: ``admin`` for an administrative one, else ``commands``."""
        return self.admin if function in ADMINISTRATIVE_FUNCTIONS else self.commands

    async def endorse(self, channel: str, chaincode: str, function: str, args: Sequence[str | bytes] = ()) -> Endorsed:
        """Endorsed and signed by :meth:`client_for` ``function``. EndorseError."""
        return await self.client_for(function).endorse(channel, chaincode, function, args)

    async def submit(self, tx: Endorsed) -> None:
        """SubmitError (the transaction carries its own signature)."""
        await self.admin.submit(tx)

    async def commit_status(
        self, tx: Endorsed | str, channel: str | None = None, timeout: float | None = None
    ) -> Status:
        """CommitStatusError."""
        return await self.admin.commit_status(tx, channel, timeout)
