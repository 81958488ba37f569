"""The local stack's supervisor: whatever `gxctl up` started and then crashed is started again.

`gxctl up` and `gxctl stack up` record what they started in ``<state>/run/desired.json``
(stack.runstate) and run this loop in the background (``python -m stack.watchdog``, pid file and
log like any component: `gxctl stack logs watchdog`). Every second it checks each desired component (Postgres, Kafka,
Connect, orderer, peer, chaincode, Prometheus) and worker; one that is not running is started
again the way `up` starts it, under the stack's lock, after re-checking that it is still desired
and still down (a `gxctl stack down --only peer` in between wins). Each restart is counted in
``<state>/run/restarts.json`` (`gxctl status` shows the counts) and logged as one JSON line.

Backoff: the first restart is immediate; a process that dies again within ``STABLE_S`` of its
restart waits 1, 2, 4 ... up to 60 s before the next, so a process that cannot start does not spin.
`gxctl down` and `gxctl stack down` stop the watchdog first, so it never restarts what is being
stopped. :func:`due` is the pure decision; the rest is I/O.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from stack.errors import StackError
from stack.pipeline import Pipeline
from stack.procs import boot_id
from stack.runstate import Desired, restarts, save_restarts

STABLE_S = 60.0
MAX_BACKOFF_S = 60.0
INTERVAL_S = 1.0


@dataclass
class History:
    """One process's restarts: the total, the time of the last one and the current streak (restarts
    in a row, each within STABLE_S of the one before)."""

    restarts: int = 0
    last_restart: float | None = None  # monotonic: meaningful only within ``boot_id``'s boot
    streak: int = 0
    last_restart_at: str | None = None  # wall clock, for people
    boot_id: str | None = None  # the boot of ``last_restart``


def carried_over(h: History, boot: str) -> History:
    """``h`` as read back in the boot ``boot``: monotonic times start again at a reboot, so a
    history of another boot (or one that names none) keeps its count and forgets its times and
    streak; otherwise a process restarted often before the reboot would be held back until the
    old uptime came round again."""
    if h.boot_id == boot:
        return h
    return History(restarts=h.restarts, last_restart_at=h.last_restart_at, boot_id=boot)


def due(now: float, alive: bool, h: History) -> bool:
    """Whether a desired process should be started now. Pure; updates ``h.streak`` when it has run
    long enough since its last restart to count as stable."""
    if alive:
        if h.last_restart is not None and now - h.last_restart >= STABLE_S:
            h.streak = 0
        return False
    if h.last_restart is None or h.streak == 0:
        return True
    return now - h.last_restart >= min(MAX_BACKOFF_S, 2.0 ** (h.streak - 1))


def restarted(now: float, h: History) -> None:
    """Record a restart (attempted) at ``now``."""
    if h.last_restart is not None and now - h.last_restart >= STABLE_S:
        h.streak = 0
    h.restarts += 1
    h.streak += 1
    h.last_restart = now
    h.boot_id = boot_id()
    h.last_restart_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _reap() -> None:
    """Collect the exit status of children that died (what this loop restarted is its child): a
    dead child would otherwise stay a zombie. Between rounds, so no subprocess.run is waiting."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _log(**fields: Any) -> None:
    print(
        json.dumps(
            {"logger_name": "gx.watchdog", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **fields}
        ),
        flush=True,
    )


def run(stop: Callable[[], bool] = lambda: False) -> None:
    """The loop (until SIGTERM)."""
    pipeline = Pipeline()
    stack = pipeline.stack
    run_dir = stack.s.run_dir
    procs = {**{n: c.proc for n, c in stack.components.items()}, **pipeline.workers}
    history: dict[str, History] = {
        n: carried_over(History(**{k: v for k, v in h.items() if k in History.__dataclass_fields__}), boot_id())
        for n, h in restarts(run_dir).items()
        if n in procs
    }
    _log(event="watching", desired=sorted(Desired.load(run_dir).names))
    down_since: dict[str, float] = {}
    while not stop():
        _reap()
        now = time.monotonic()
        for name in sorted(Desired.load(run_dir).names & set(procs)):
            alive = procs[name].pid() is not None
            h = history.setdefault(name, History())
            if alive:
                down_since.pop(name, None)
            else:
                down_since.setdefault(name, now)
            if not due(now, alive, h):
                continue
            t0 = time.monotonic()
            try:
                started = pipeline.restart(name)  # under the lock, if still desired and still down
            except StackError as e:
                restarted(now, h)
                _log(
                    event="restart failed",
                    component=name,
                    restart=h.restarts,
                    error=str(e).splitlines()[0],
                    next_in_s=min(MAX_BACKOFF_S, 2.0 ** (h.streak - 1)),
                )
            else:
                if started:
                    restarted(now, h)
                    _log(
                        event="restarted",
                        component=name,
                        restart=h.restarts,
                        down_s=round(time.monotonic() - down_since.pop(name, t0), 1),
                        start_s=round(time.monotonic() - t0, 1),
                    )
            save_restarts(run_dir, {n: asdict(x) for n, x in history.items() if x.restarts})
        time.sleep(INTERVAL_S)


def main() -> int:
    stopping = {"now": False}

    def on_term(signum: int, frame: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        run(lambda: stopping["now"])
    except Exception as e:  # one line in the log, then exit non-zero
        _log(event="watchdog failed", error=f"{type(e).__name__}: {e}")
        return 1
    _log(event="stopped", pid=os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
