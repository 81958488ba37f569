"""Everything the test suite downloads or builds, done before the first test starts.

`make test` (scripts/test.sh) runs ``python -m tests.prepare`` after installing the venv: Debian's
PostgreSQL server, the pinned jars (Kafka, Connect's Debezium plugin, the JMX exporter, Strimzi's
CRD generator), the chaincode's npm copy, the pinned Go tools (helm, kubeconform, promtool,
prometheus, controller-gen), tools/composecheck and the Kubernetes schemas. Each step is cached
under ``~/.cache/gx-pipeline`` and is a no-op when already done; each prints a progress line with
its time. A test never builds a tool inside its own time limit (on an empty cache the Go tools
alone take minutes on 2 cores).

Exit status 1, with the failing step's one-line error, if a step fails.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any


def steps(cache: Path, jars_dir: Path) -> list[tuple[str, Callable[[], Any]]]:
    from stack import chaincode, gotools, jars, postgres
    from tests.integration.compose_check import build_composecheck
    from tests.integration.k8s_schemas import CHART_KINDS, build

    out: list[tuple[str, Callable[[], Any]]] = [
        ("postgresql server", postgres.find_bin_dir),
        ("jars: kafka", lambda: jars.resolve("kafka", jars_dir)),
        (
            "jars: debezium-connector-postgres",
            lambda: jars.resolve(
                "debezium-connector-postgres", jars_dir / "plugins", exclude_groups="org.apache.kafka"
            ),
        ),
        ("jars: jmx-exporter", lambda: jars.resolve("jmx-exporter", jars_dir)),
        ("jars: strimzi-crds", lambda: jars.resolve("strimzi-crds", jars_dir)),
        ("chaincode npm copy", lambda: chaincode.prepare(cache)),
        ("chaincode npm copy for its tests", lambda: chaincode.prepare(cache, dev=True)),
    ]
    out += [(f"go tool: {name}", partial(gotools.require, name, cache)) for name in gotools.TOOLS]
    out += [
        ("tools/composecheck", partial(build_composecheck, cache)),
        ("kubernetes schemas", partial(build, cache, set(CHART_KINDS))),
    ]
    return out


def main() -> int:
    from stack.errors import StackError
    from stack.settings import StackSettings

    s = StackSettings()
    t_all = time.monotonic()
    for what, run in steps(s.cache_dir, s.jars_dir):
        t0 = time.monotonic()
        try:
            run()
        except (StackError, RuntimeError, OSError) as e:
            print(f"error: test set-up: {what}: {e}", file=sys.stderr)
            return 1
        except Exception as e:  # subprocess.CalledProcessError from a build, with its output
            print(f"error: test set-up: {what}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        took = time.monotonic() - t0
        print(f"set-up: {what}: {'ready' if took < 1 else f'done in {took:.0f}s'}", flush=True)
    print(f"set-up: everything the tests need is ready ({time.monotonic() - t_all:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
