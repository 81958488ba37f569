"""What the local stack should be running and what was restarted, as files in its run directory:
``desired.json`` (:class:`Desired`: what `up` started and `down` did not stop) and ``restarts.json``
(:func:`restarts`: the watchdog's restart counts).

`up` and `down` (stack.manager, stack.pipeline) change what is desired; the watchdog
(stack.watchdog) restarts what is desired and dead, and records each restart; `gxctl status` shows
the counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Desired:
    """What `up` started and `down` did not stop: ``<run dir>/desired.json``."""

    path: Path
    names: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, run_dir: Path) -> Desired:
        path = run_dir / "desired.json"
        try:
            return cls(path, set(json.loads(path.read_text())))
        except (OSError, ValueError):
            return cls(path)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self.names)) + "\n")
        tmp.replace(self.path)

    @classmethod
    def change(cls, run_dir: Path, add: Iterable[str] = frozenset(), remove: Iterable[str] = frozenset()) -> None:
        """Add some names and remove others."""
        d = cls.load(run_dir)
        d.names = (d.names - set(remove)) | set(add)
        d.save()

    @classmethod
    def clear(cls, run_dir: Path) -> None:
        """Nothing is desired (`down` of everything)."""
        cls(run_dir / "desired.json").save()


def restarts(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The restart counts the watchdog keeps, by process name (``gxctl status``)."""
    try:
        return json.loads((run_dir / "restarts.json").read_text())
    except (OSError, ValueError):
        return {}


def save_restarts(run_dir: Path, counts: dict[str, dict[str, Any]]) -> None:
    """Replace the restart counts (written whole, then renamed: a reader never sees half a file)."""
    tmp = run_dir / "restarts.tmp"
    tmp.write_text(json.dumps(counts) + "\n")
    tmp.replace(run_dir / "restarts.json")
