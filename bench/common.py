"""Shared pieces of the benchmarks: percentiles, CPU sampling (psutil), printing and saving."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Message

RESULTS = Path(__file__).parent / "results"


def message_headers(m: Message) -> dict[str, str]:
    """A consumed record's headers as text (a header without a value: ""; a byte that is not UTF-8
    replaced: a dead-lettered hostile record keeps its headers, issue 30). confluent-kafka types
    headers as a list or a dict of str or bytes for any Message; a consumed one has a list of bytes."""
    raw = m.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {k: v.decode("utf-8", "replace") if isinstance(v, bytes) else (v or "") for k, v in pairs}


def pct(values: list[float], p: float) -> float | None:
    """The p-th percentile (nearest rank) of ``values``, or None if empty."""
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and its direct children (Postgres backends are children of the postmaster)."""
    try:
        children = psutil.Process(root).children()
    except psutil.Error:
        children = []
    return proc_cpu_seconds(root) + sum(proc_cpu_seconds(c.pid) for c in children)


class CpuMeter:
    """CPU used by named processes between start() and stop(), as % of one core."""

    def __init__(self, pids: dict[str, int], trees: tuple[str, ...] = ()) -> None:
        self.pids, self.trees = pids, trees

    def _read(self) -> dict[str, float]:
        return {n: (tree_cpu_seconds(p) if n in self.trees else proc_cpu_seconds(p)) for n, p in self.pids.items()}

    def start(self) -> None:
        self.t0, self.c0 = time.monotonic(), self._read()

    def stop(self) -> dict[str, float]:
        dt = time.monotonic() - self.t0
        c1 = self._read()
        return {n: round(100 * (c1[n] - self.c0[n]) / dt, 1) for n in self.pids} | {
            "_seconds": dt,
            **{f"_{n}_cpu_s": c1[n] - self.c0[n] for n in self.pids},
        }


def save(name: str, result: dict[str, Any], compact: bool = False, out: Path | None = None) -> Path:
    """Write ``result`` to bench/results/<name>-<UTC time>.json (or ``out``; ``compact``: one line,
    for long series)."""
    results = out or RESULTS
    results.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **result,
    }
    path = results / f"{name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(result, indent=None if compact else 2) + "\n")
    return path


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.1f}"
        return str(v)

    widths = [max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in columns]
    out = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    out += ["  ".join(fmt(r.get(c)).rjust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(out)


def positive(kind: type = float, zero: bool = False) -> Any:
    """An argparse type: a number above 0 (or 0 too, with ``zero``), else one clear error line."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None
        if value < 0 or (value == 0 and not zero):
            raise argparse.ArgumentTypeError(f"must be {'0 or more' if zero else 'more than 0'}, got {text}")
        return value

    return parse


def positive_list(kind: type = float) -> Any:
    """An argparse type: comma-separated numbers above 0, as a list."""
    one = positive(kind)

    def parse(text: str) -> list[Any]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value, comma-separated")
        return [one(x) for x in items]

    return parse
