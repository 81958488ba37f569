"""Go tools the project uses, built from pinned Go modules into the cache (never into the clone).

helm and kubeconform validate the chart, promtool checks and unit-tests the alert rules, and
prometheus scrapes the local stack (`gxctl stack up --with-monitoring`). Each is built once per pin
with ``go install module/cmd@version`` (CGO off) into ``<cache>/go-tools/<name>-<version>/``; the
first build of prometheus or helm takes minutes and says so.

``python -m stack.gotools NAME`` prints the path of the built tool (building it if needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stack.errors import StackError

# name -> (package, version). Versions are the newest the Go module proxy served when pinned.
TOOLS: dict[str, tuple[str, str]] = {
    "helm": ("helm.sh/helm/v3/cmd/helm", "v3.22.0"),
    "kubeconform": ("github.com/yannh/kubeconform/cmd/kubeconform", "v0.7.0"),
    "promtool": ("github.com/prometheus/prometheus/cmd/promtool", "v0.316.0"),
    "prometheus": ("github.com/prometheus/prometheus/cmd/prometheus", "v0.316.0"),
    "controller-gen": ("sigs.k8s.io/controller-tools/cmd/controller-gen", "v0.20.0"),
}


def require(name: str, cache: Path) -> Path:
    """The path of tool ``name``, built first if this pin was never built. Raises StackError when
    Go is missing or the build fails (with the tail of Go's output)."""
    package, version = TOOLS[name]
    out = cache / "go-tools" / f"{name}-{version}"
    binary = out / name
    if binary.exists():
        return binary
    go = shutil.which("go")
    if not go:
        raise StackError(
            name,
            f"no `go` on PATH; needed once to build {name} {version} from the Go module proxy",
            "install Go 1.26 (apt-get install -y golang, or go.dev/dl)",
        )
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"{name}: building {package}@{version} into {out} (once per pin; minutes for large tools)...",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [go, "install", f"{package}@{version}"],
        capture_output=True,
        text=True,
        env={**os.environ, "GOBIN": str(tmp), "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"},
        cwd=tempfile.gettempdir(),
    )  # outside any module (tools/ holds Go modules)
    if proc.returncode != 0 or not (tmp / name).exists():
        raise StackError(
            name,
            f"`go install {package}@{version}` failed (exit {proc.returncode})",
            "check that the Go module proxy is reachable; rerun to retry",
            "\n".join((proc.stdout + proc.stderr).splitlines()[-30:]),
        )
    print(f"{name}: built ({time.monotonic() - t0:.0f}s)", file=sys.stderr, flush=True)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return binary


if __name__ == "__main__":
    try:
        from stack.settings import StackSettings

        print(require(sys.argv[1], StackSettings().cache_dir))
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except (IndexError, KeyError):
        print(f"usage: python -m stack.gotools {{{','.join(TOOLS)}}}", file=sys.stderr)
        sys.exit(2)
