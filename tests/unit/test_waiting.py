"""tests/waiting.py: a wait returns the first value that satisfies its condition, and a wait that
runs out of time names what it waited for and the last value it saw."""

from __future__ import annotations

import time

import pytest

from tests.waiting import SHOWN, wait_until, wait_until_async


def test_a_wait_returns_the_first_value_that_satisfies_it() -> None:
    calls: list[int] = []

    def probe() -> int:
        calls.append(len(calls))
        return len(calls)

    assert wait_until(probe, "three calls", timeout=5, until=lambda n: n >= 3, interval=0) == 3
    assert calls == [0, 1, 2]


def test_a_true_condition_returns_at_once_without_sleeping() -> None:
    t0 = time.monotonic()
    assert wait_until(lambda: "ready", "a ready value", timeout=5, interval=10) == "ready"
    assert time.monotonic() - t0 < 1


def test_a_wait_that_times_out_names_what_it_awaited_the_last_value_and_the_detail() -> None:
    seen = iter(range(1000))
    t0 = time.monotonic()
    with pytest.raises(AssertionError) as e:
        wait_until(
            lambda: next(seen),
            "a value above 1000",
            timeout=0.3,
            until=lambda n: n > 1000,
            interval=0.05,
            detail=lambda: "log tail: nothing",
        )
    took = time.monotonic() - t0
    message = str(e.value)
    assert message.startswith("timed out after 0.3 s waiting for a value above 1000; last value: ")
    last = int(message.splitlines()[0].rsplit(" ", 1)[1])
    assert 3 <= last <= 7  # polled every 0.05 s for 0.3 s, and once more at the deadline
    assert message.splitlines()[1] == "log tail: nothing"
    assert 0.3 <= took < 1.5


def test_a_long_last_value_is_cut() -> None:
    with pytest.raises(AssertionError) as e:
        wait_until(lambda: "x" * 10_000, "nothing", timeout=0, until=lambda _: False)
    assert len(str(e.value)) < SHOWN + 200 and "(10002 characters)" in str(e.value)


def test_an_error_of_the_probe_ends_the_wait_at_once() -> None:
    def probe() -> bool:
        raise AssertionError("the worker exited")

    t0 = time.monotonic()
    with pytest.raises(AssertionError, match=r"^the worker exited$"):
        wait_until(probe, "a worker that exits", timeout=30)
    assert time.monotonic() - t0 < 1


async def test_the_async_wait_lets_the_awaited_task_run() -> None:
    import asyncio

    done: list[str] = []

    async def later() -> None:
        await asyncio.sleep(0.05)
        done.append("yes")

    task = asyncio.create_task(later())
    assert await wait_until_async(lambda: done, "the task's result", timeout=5) == ["yes"]
    await task
    with pytest.raises(AssertionError, match=r"^timed out after 0.05 s waiting for never; last value: \[\]$"):
        await wait_until_async(list, "never", timeout=0.05)
