"""Waiting in tests: poll a condition until it holds, or fail when a deadline passes.

A test that waits for something to happen polls for it; it never sleeps a fixed time and hopes the
thing has happened by then (too short fails on a slow machine, too long wastes every run). When the
deadline passes, the AssertionError names what was awaited and the last value seen, so a failure
shows how far things got.

A probe may itself raise (an AssertionError when the process it waits on died, say): that ends the
wait at once, with the probe's own error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# A last value shown in a failure is cut to this many characters (a dict of rows can be long).
SHOWN = 2000


def timed_out(what: str, timeout: float, last: object, detail: Callable[[], str] | None = None) -> AssertionError:
    """The error of a wait that ran out of time: what was awaited, for how long, the last value seen,
    and ``detail()`` (a log's tail, say) on lines of its own if given."""
    shown = repr(last)
    if len(shown) > SHOWN:
        shown = shown[:SHOWN] + f"... ({len(shown)} characters)"
    message = f"timed out after {timeout:g} s waiting for {what}; last value: {shown}"
    if detail is not None:
        message += "\n" + detail()
    return AssertionError(message)


def wait_until(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float,
    until: Callable[[T], object] = bool,
    interval: float = 0.2,
    detail: Callable[[], str] | None = None,
) -> T:
    """Call ``probe`` every ``interval`` seconds until ``until`` holds for its value (by default:
    the value is truthy), and return that value.

    The probe runs at least once, and once more at the deadline. Raises AssertionError naming
    ``what`` and the last value if ``timeout`` seconds pass first (see :func:`timed_out`).
    """
    end = time.monotonic() + timeout
    while True:
        value = probe()
        if until(value):
            return value
        left = end - time.monotonic()
        if left <= 0:
            raise timed_out(what, timeout, value, detail)
        time.sleep(min(interval, left))


async def wait_until_async(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float,
    until: Callable[[T], object] = bool,
    interval: float = 0.01,
    detail: Callable[[], str] | None = None,
) -> T:
    """:func:`wait_until` inside an event loop: the tasks under test run while it waits."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = probe()
        if until(value):
            return value
        left = end - loop.time()
        if left <= 0:
            raise timed_out(what, timeout, value, detail)
        await asyncio.sleep(min(interval, left))
