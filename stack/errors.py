"""Errors of the local stack. Each names the component, the problem and the fix."""

from __future__ import annotations

from gxerrors import GxError


class StackError(GxError):
    """A component could not be installed, started, checked or stopped.

    ``component`` names it (postgres, kafka, connect, ...); ``hint`` says what to do;
    ``log_tail`` holds the last lines of its log when it died or never became healthy.
    """

    def __init__(self, component: str, problem: str, hint: str = "", log_tail: str = "") -> None:
        self.component = component
        self.problem = problem
        self.hint = hint
        self.log_tail = log_tail
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"[{self.component}] {self.problem}"
        if self.hint:
            text += f"\n  fix: {self.hint}"
        if self.log_tail:
            text += f"\n  --- last lines of its log ---\n{self.log_tail}"
        return text
