"""Java artifacts from Maven Central, resolved by pinned poms into the cache (never into the clone).

Each pom under ``stack/java/<name>/`` is resolved once with ``mvn dependency:copy-dependencies``;
the target folder is keyed by the pom's hash and completed with a marker file, so a changed pin
resolves anew and an interrupted download is never mistaken for a finished one.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from stack.errors import StackError

JAVA_DIR = Path(__file__).parent / "java"
MARKER = ".complete"


def require_java() -> str:
    """Path of ``java`` (17+), or StackError with the install command."""
    java = shutil.which("java")
    if not java:
        raise StackError(
            "java",
            "no `java` on PATH; Kafka and Kafka Connect need a JDK/JRE 17+",
            "apt-get install -y openjdk-17-jre-headless",
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    try:
        major = int(out.split('"')[1].split(".")[0])
    except (IndexError, ValueError):
        major = 0
    if major and major < 17:
        raise StackError("java", f"Java {major} found, Kafka 4 needs 17+", "apt-get install -y openjdk-17-jre-headless")
    return java


def resolve(name: str, jars_root: Path, exclude_groups: str = "") -> Path:
    """Folder ``jars_root/<name>-<pom hash>`` holding the jars of ``stack/java/<name>/pom.xml``.

    Downloads them if needed and removes folders of older pins of the same name (a plugin.path
    must not hold two versions of one plugin). Raises StackError if Maven is missing or the
    resolution fails (with Maven's output tail).
    """
    pom = JAVA_DIR / name / "pom.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()[:12]
    out = jars_root / f"{name}-{digest}"
    if (out / MARKER).exists():
        return out
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError(
            "maven",
            f"no `mvn` on PATH; needed once to fetch the {name} jars from Maven Central",
            "apt-get install -y maven",
        )
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    argv = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={tmp}",
        "-DincludeScope=runtime",
    ]
    if exclude_groups:
        argv.append(f"-DexcludeGroupIds={exclude_groups}")
    t0 = time.monotonic()
    print(f"{name}: fetching jars from Maven Central into {jars_root} (once per pin)...", file=sys.stderr, flush=True)
    proc = subprocess.run(argv, capture_output=True, text=True)
    print(f"{name}: jars fetched ({time.monotonic() - t0:.0f}s)", file=sys.stderr, flush=True)
    if proc.returncode != 0 or not any(tmp.glob("*.jar")):
        raise StackError(
            "maven",
            f"resolving {pom} failed (exit {proc.returncode})",
            "check that Maven Central is reachable; rerun to retry",
            "\n".join((proc.stdout + proc.stderr).splitlines()[-30:]),
        )
    (tmp / MARKER).write_text(digest + "\n")
    for stale in jars_root.glob(f"{name}-*"):
        if stale != tmp:
            shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
