"""Profiles of the pipeline's processes under a benchmark's load: py-spy for the Python workers, JFR
for Kafka and Connect (`python -m bench.e2e --profile`).

Each process gets collapsed stacks (``<name>.folded``: one line per distinct stack, frames from the
root, and its sample count), a flame graph drawn from them (``<name>.svg``), and a summary: its
samples and the functions with the most samples on top of the stack (self time) and anywhere on
it (total time). py-spy samples without stopping the process (``--nonblocking``), 50 times a
second, idle threads left out; JFR uses its ``profile`` settings (execution samples every 10-20 ms).

py-spy is a pinned optional dependency (``pip install '.[profile]'``), installed into the venv
the first time it is needed. The flame graph renderer is ours (about sixty lines): py-spy draws
SVG only when it also records in that format, and JFR draws none; one renderer serves both.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

PY_SPY = "py-spy==0.4.2"
RATE = 50


def py_spy() -> str:
    """The py-spy executable of this venv, installed (pinned) if absent."""
    exe = Path(sys.executable).with_name("py-spy")
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", PY_SPY], check=True)
    return str(exe)


class Profilers:
    """Start one profiler per process for ``seconds``; ``finish`` waits for them and summarises."""

    def __init__(self, out: Path, seconds: float, python: dict[str, int], jvm: dict[str, int]) -> None:
        self.out, self.seconds = out, seconds
        out.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        spy = py_spy() if python else ""
        for name, pid in python.items():
            self.procs[name] = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    str(RATE),
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(out / f"{name}.folded"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(out / f"{name}.py-spy.log", "wb"),
            )
        self.jvm = jvm
        jcmd = shutil.which("jcmd")
        for name, pid in jvm.items():
            if jcmd is None:
                break
            subprocess.run(
                [
                    jcmd,
                    str(pid),
                    "JFR.start",
                    f"name=gx-{name}",
                    "settings=profile",
                    f"duration={int(seconds)}s",
                    f"filename={out / (name + '.jfr')}",
                ],
                capture_output=True,
                check=False,
                timeout=30,
            )

    def finish(self) -> dict[str, Any]:
        for p in self.procs.values():
            try:
                p.wait(self.seconds + 60)
            except subprocess.TimeoutExpired:
                p.kill()
        deadline = time.monotonic() + 60
        for name in self.jvm:  # JFR writes its file when its duration is over
            f = self.out / f"{name}.jfr"
            while not f.exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            if f.exists():
                time.sleep(2)  # let the file be completed
                (self.out / f"{name}.folded").write_text(jfr_folded(f))
        summary = {}
        for name in [*self.procs, *self.jvm]:
            folded = self.out / f"{name}.folded"
            if not folded.exists() or folded.stat().st_size == 0:
                continue
            stacks = read_folded(folded.read_text())
            (self.out / f"{name}.svg").write_text(flame_svg(stacks, f"{name}: {sum(stacks.values())} samples"))
            summary[name] = summarise(stacks)
        return summary


def jfr_folded(path: Path) -> str:
    """Collapsed stacks of a JFR file's execution samples (``jfr print``, frames top first)."""
    jfr = shutil.which("jfr") or str(Path(shutil.which("java") or "java").resolve().parent / "jfr")
    text = subprocess.run(
        [jfr, "print", "--events", "jdk.ExecutionSample", "--stack-depth", "64", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    ).stdout
    return "".join(f"{k} {n}\n" for k, n in jfr_stacks(text).items())


def jfr_stacks(text: str) -> Counter[str]:
    """Collapsed stacks (root first) of ``jfr print``'s execution samples (frames top first)."""
    stacks: Counter[str] = Counter()
    frames: list[str] | None = None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("stackTrace = ["):
            frames = []
        elif frames is not None and s == "]":
            if frames:
                stacks[";".join(reversed(frames))] += 1
            frames = None
        elif frames is not None and s and s != "...":
            frames.append(s.split(" line:")[0].replace(";", ","))
    return stacks


def read_folded(text: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            out[stack] += int(n)
    return out


def _short(frame: str) -> str:
    # py-spy frames read "function (path/to/file.py:line)"; keep the function and the file's name
    name, _, where = frame.partition(" (")
    if where:
        return f"{name} ({where.rstrip(')').rsplit('/', 1)[-1].split(':')[0]})"
    return name


def summarise(stacks: Counter[str], top: int = 12) -> dict[str, Any]:
    """Samples, and the functions with the most samples on top of the stack and anywhere on it."""
    total = sum(stacks.values())
    self_: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    for stack, n in stacks.items():
        frames = [_short(f) for f in stack.split(";")]
        self_[frames[-1]] += n
        for f in set(frames):
            anywhere[f] += n
    pct = lambda n: round(100 * n / total, 1) if total else 0.0  # noqa: E731
    return {
        "samples": total,
        "self": [(f, pct(n)) for f, n in self_.most_common(top)],
        "total": [(f, pct(n)) for f, n in anywhere.most_common(top)],
    }


def flame_svg(stacks: Counter[str], title: str, width: int = 1200, row: int = 16) -> str:
    """A flame graph (root at the bottom, width by samples) of collapsed stacks, as SVG."""
    tree: dict[str, Any] = {"n": 0, "kids": {}}
    for stack, n in stacks.items():
        node = tree
        node["n"] += n
        for f in stack.split(";"):
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += n
    depth = max((s.count(";") + 1 for s in stacks), default=1)
    height = (depth + 2) * row
    total = tree["n"] or 1
    rects: list[str] = []

    def draw(node: dict[str, Any], x: float, level: int) -> None:
        for name, kid in sorted(node["kids"].items()):
            w = kid["n"] / total * width
            if w >= 0.5:
                y = height - (level + 2) * row
                hue = zlib.crc32(name.encode()) % 60
                label = html.escape(_short(name))
                text = label if w > 40 else ""
                rects.append(
                    f"<g><title>{html.escape(name)} ({kid['n']} samples, {100 * kid['n'] / total:.1f}%)"
                    f'</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" '
                    f'fill="hsl({hue},80%,60%)"/><text x="{x + 2:.1f}" y="{y + row - 4}" font-size="11" '
                    f'clip-path="inset(0 0 0 0)">{text[: int(w / 6.5)]}</text></g>'
                )
                draw(kid, x, level + 1)
            x += w

    draw(tree, 0.0, 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace">'
        f'<text x="4" y="14" font-size="13">{html.escape(title)}</text>{"".join(rects)}</svg>\n'
    )
