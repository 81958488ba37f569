"""A consumed record of gx.commands, and the final result the submitter makes of it. Values only."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.envelopes import CommandResult


@dataclass(frozen=True)
class Record:
    """One record as consumed: where it is, its key (None: no key), value and headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    def key_text(self) -> str:
        """The key as text, "" without a key; bytes that are not UTF-8 escaped (``\\xff``). Never raises."""
        return (self.key or b"").decode("utf-8", "backslashreplace")

    @property
    def size(self) -> int:
        """Bytes of its key, value and headers."""
        return len(self.key or b"") + len(self.value) + sum(len(k.encode()) + len(v) for k, v in self.headers)


@dataclass(frozen=True)
class Final:
    """A command's final result, and whether its record goes to the dead-letter topic too."""

    result: CommandResult
    dead_letter: bool = False
