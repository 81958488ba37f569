"""Worker processes started by a test (`gxctl run NAME`), each on its own web port, sharing one
consumer-group prefix (``GX_APP_ID``) so that nothing else consumes what the test produces."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.waiting import wait_until


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM a worker the test started, SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def start_group_at_end(bootstrap: str, group_id: str, topic: str) -> None:
    """Commit ``group_id``'s offsets at the end of every partition of ``topic``, as a long-lived
    group has them: a worker of that group then starts at what comes next, and a replacement after
    a crash resumes from its commits (never from the topic's history)."""
    from confluent_kafka import TopicPartition

    from gxcommon.kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [
            TopicPartition(topic, p, c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]) for p in parts
        ]
        c.commit(offsets=ends, asynchronous=False)
    finally:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def metric_value(base_url: str, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of one sample on ``base_url``/metrics (0.0 if absent)."""
    text = get(f"{base_url}/metrics")[1]
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(s.value)
    return 0.0


# Every worker a test launched, so that the session stops any a failed fixture or test left
# running: one left alive outlives the run and, on the same ports the next run uses, fences its
# block publisher (the same transactional id) or joins its groups.
LAUNCHED: list[Worker] = []


def stop_all() -> None:
    """Stop every worker launched in this session that still runs."""
    for w in LAUNCHED:
        w.stop()


class Worker:
    def __init__(self, name: str, app_id: str, log_dir: Path, unset: tuple[str, ...] = (), **env: str) -> None:
        """``env`` adds variables to the test's environment; ``unset`` removes some."""
        self.name, self.app_id, self.env, self.unset = name, app_id, env, unset
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def launch(self) -> Worker:
        """Start the process without waiting for it to be ready."""
        env = {k: v for k, v in os.environ.items() if k not in self.unset}
        env.update({"GX_APP_ID": self.app_id, "GX_WEB_PORT": str(self.port), **self.env})
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gxctl.main", "run", self.name], stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        LAUNCHED.append(self)
        return self

    def start(self, ready_timeout: float = 90) -> Worker:
        """Start the process and wait until its /readyz answers 200 (AssertionError with its log
        if it exits first or is not ready in time)."""
        self.launch()
        try:
            wait_until(
                lambda: self.ready()[0],
                f"{self.name} ready",
                until=lambda code: code == 200,
                timeout=ready_timeout,
                interval=0.3,
                detail=lambda: self.log()[-3000:],
            )
        except BaseException:
            self.stop()
            raise
        return self

    def ready(self) -> tuple[int, dict[str, Any]]:
        """(status, body) of /readyz; AssertionError with the log if the process has exited."""
        assert self.alive(), f"{self.name} exited:\n{self.log()[-3000:]}"
        code, body = get(f"{self.url}/readyz")
        try:
            return code, json.loads(body or "{}")
        except ValueError:
            return code, {"body": body}

    def partitions(self) -> list[str]:
        """The partitions /readyz says this worker holds ("topic[n]")."""
        return list(self.ready()[1].get("partitions", []))

    def command_partitions(self) -> list[str]:
        """Its partitions of gx.commands (a submitter holds gx.commands.direct's beside them)."""
        return [p for p in self.partitions() if p.startswith("gx.commands[")]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What the process wrote so far ("" if it was never launched)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The value of one sample on this worker's /metrics (0.0 if absent)."""
        return metric_value(self.url, name, labels)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        """Stop the process if it runs (idempotent)."""
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc)
        if self.proc is not None and not self._log.closed:
            self._log.close()
