"""Errors of the schemas package."""

from __future__ import annotations

from gxerrors import GxError


class SchemaError(GxError):
    """Root of this package's errors."""


class PayloadError(SchemaError):
    """A command or its payload failed validation.

    ``errors`` lists ``(field path, message)`` pairs; the message names every bad field, e.g.
    ``TRANSFER_TOKENS payload: amount: Input should be greater than 0``.
    """

    def __init__(self, what: str, errors: list[tuple[str, str]]) -> None:
        self.what = what
        self.errors = errors
        super().__init__(f"{what}: " + "; ".join(f"{loc or '(root)'}: {msg}" for loc, msg in errors))

    @property
    def fields(self) -> list[str]:
        return [loc for loc, _ in self.errors]

    @classmethod
    def from_validation(cls, what: str, exc: Exception) -> PayloadError:
        from pydantic import ValidationError

        assert isinstance(exc, ValidationError)
        return cls(what, [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()])


class UnknownCommandType(PayloadError):
    """The command type is not one of the 25."""
