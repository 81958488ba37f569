"""tools/composecheck (compose-go, the library behind `docker compose config`), built for the tests.

tests/prepare.py builds it before the first test; tests/integration/test_compose.py uses it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "composecheck"


def build_composecheck(cache: Path) -> Path:
    """tools/composecheck built once per source under ``cache``; the binary's path.
    Raises subprocess.CalledProcessError (with Go's output) if the build fails."""
    src = b"".join((TOOL / f).read_bytes() for f in ("main.go", "go.mod", "go.sum"))
    binary = cache / "bin" / f"composecheck-{hashlib.sha256(src).hexdigest()[:12]}"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [shutil.which("go") or "go", "build", "-o", str(binary), "."],
            cwd=TOOL,
            check=True,
            env={**os.environ, "CGO_ENABLED": "0"},
            timeout=900,
            capture_output=True,
        )
    return binary
