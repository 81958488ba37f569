"""Files only their owner can read: passwords, keys, and the files Kafka's FileConfigProvider reads
for a config that must not hold a secret itself."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` with mode 0600 (created so: never readable by others on the way)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


def make_private(root: Path) -> int:
    """``root`` and everything under it readable by its owner only: group and others lose every
    permission bit (symlinks are left alone, not followed). Returns how many modes changed."""
    changed = 0
    for path in [root, *root.rglob("*")]:
        try:
            st = path.lstat()
        except FileNotFoundError:  # gone meanwhile (a log rotated, a temporary file)
            continue
        if path.is_symlink() or not st.st_mode & 0o077:
            continue
        os.chmod(path, st.st_mode & 0o7700)
        changed += 1
    return changed


def file_reference(path: Path, key: str, value: str) -> str:
    """Write ``key=value`` to the Properties file ``path`` (0600) and return the reference Kafka's
    FileConfigProvider (named ``file`` in a worker's or broker's config.providers) resolves to it."""
    # Properties syntax: a backslash escapes; the value is the rest of the line.
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n")
    write_private(path, f"{key}=" + ("\\" + escaped if escaped[:1].isspace() else escaped) + "\n")
    return f"${{file:{path}:{key}}}"


def stored_passwords(path: Path, names: Iterable[str], make: Callable[[], str]) -> dict[str, str]:
    """A password per name, each made once by ``make`` and kept in the JSON file ``path`` (0600)."""
    known: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [n for n in names if n not in known]
    if missing:
        known.update({n: make() for n in missing})
        write_private(path, json.dumps(known, indent=2))
    return known
