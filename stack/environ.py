"""The environment each process of the local stack starts with: what it inherits, less every
credential, plus its own (issue 33: a worker used to get the stack's whole environment, Connect's
REST login, Debezium's DSN and the Fabric key included).

A credential is any ``GX_*`` variable that holds or names a secret or a login: a password or its
file, a DSN (it names a password file), a username, a private key or certificate, a secrets folder
or a token (:func:`is_credential`). Every other variable (ports, the state folder, topic names,
tuning such as ``GX_SUBMIT_WINDOW``) passes on. Pure functions; stack.pipeline and stack.procs
start the processes with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_CREDENTIAL = re.compile(
    r"^GX_\w*(PASSWORD|PASSWORD_FILE|PASSWORD_ENV|PASSWORD_REF|_DSN|_USERNAME|_KEY|_CERT|SECRETS_DIR|TOKEN|TOKEN_FILE)$"
)
# The workers that talk to the ledger: only they get a Fabric identity.
FABRIC_WORKERS = ("submitter", "block-publisher")


def is_credential(name: str) -> bool:
    """Whether the variable ``name`` holds or names a secret or a login (see the module's doc)."""
    return bool(_CREDENTIAL.match(name))


def without_credentials(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` less every credential variable."""
    return {k: v for k, v in env.items() if not is_credential(k)}


def fabric_identity(stack_env: Mapping[str, str], commands: bool = True) -> dict[str, str]:
    """The Fabric client identities among ``stack_env``'s variables (certificates and keys);
    without ``commands``, not the second one that signs the user-level commands
    (GX_FABRIC_COMMANDS_*, the submitter's only)."""
    return {
        k: v
        for k, v in stack_env.items()
        if k.startswith("GX_FABRIC_") and is_credential(k) and (commands or not k.startswith("GX_FABRIC_COMMANDS_"))
    }


def process_env(inherited: Mapping[str, str], given: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """A process's environment: ``inherited`` (this process's) and ``given`` (the stack's, a
    benchmark's settings), both less their credentials, then ``own``: its own credentials."""
    return {**without_credentials({**inherited, **given}), **own}
