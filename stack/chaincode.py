"""The gxtv3 chaincode: its source hash, its installed copy (npm ci, cached), its ccaas package.

The source under ``chaincode/gxtv3`` is copied with its node_modules into the cache, keyed by a hash
of what runs (package files, index.js, lib/), so the clone stays clean and a second start is quick.
The copy the stack runs has the runtime dependencies only (``npm ci --omit=dev``); the tests' copy
(``dev=True``, ``python -m stack.chaincode``) is a separate folder with the devDependencies too
(fast-check for the property tests), so what is deployed never needs them.
The same hash is the chaincode's version on the channel: a change of source means a new package
and a new sequence (an upgrade that keeps the ledger).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from stack.errors import StackError

SOURCE = Path(__file__).resolve().parent.parent / "chaincode" / "gxtv3"
RUNTIME = ("package.json", "package-lock.json", "index.js", "lib")
MARKER = ".complete"


def _files(src: Path) -> list[Path]:
    out: list[Path] = []
    for name in RUNTIME:
        p = src / name
        out.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    return out


def source_hash(src: Path = SOURCE) -> str:
    """12 hex digits over the runtime files' relative names and contents."""
    h = hashlib.sha256()
    for f in _files(src):
        h.update(str(f.relative_to(src)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def prepare(cache_dir: Path, src: Path = SOURCE, dev: bool = False) -> Path:
    """A runnable copy of the chaincode (``npm ci --omit=dev``) under the cache; returns its folder.
    ``dev``: the tests' copy, with the devDependencies (``npm ci``), in a folder of its own."""
    digest = source_hash(src)
    variant = "-dev" if dev else ""
    out = cache_dir / "chaincode" / f"gxtv3-{digest}{variant}"
    if (out / MARKER).exists():
        return out
    npm = shutil.which("npm")
    if not npm:
        raise StackError(
            "chaincode",
            "no `npm` on PATH; the gxtv3 chaincode needs Node.js 20 and npm",
            "apt-get install -y nodejs npm",
        )
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for f in _files(src):
        dest = tmp / f.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    t0 = time.monotonic()
    print(f"chaincode: npm ci for gxtv3 into {out.parent} (once per source change)...", file=sys.stderr, flush=True)
    omit = [] if dev else ["--omit=dev"]
    proc = subprocess.run(
        [npm, "ci", *omit, "--no-audit", "--no-fund", "--cache", str(cache_dir / "npm")],
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    print(f"chaincode: npm ci done ({time.monotonic() - t0:.0f}s)", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        raise StackError(
            "chaincode",
            f"`npm ci` failed (exit {proc.returncode})",
            "check that the npm registry is reachable; rerun to retry",
            "\n".join((proc.stdout + proc.stderr).splitlines()[-20:]),
        )
    (tmp / MARKER).write_text(digest + "\n")
    for stale in out.parent.glob("gxtv3-*"):
        if stale not in (tmp, out) and stale.name.removesuffix(".partial").endswith("-dev") == dev:
            shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _tar_gz(files: dict[str, bytes]) -> bytes:
    """A gzipped tar with fixed times, so the same files always give the same bytes (and package id)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ccaas_package(label: str, address: str) -> bytes:
    """A chaincode-as-a-service package: metadata.json (type ccaas) and code.tar.gz(connection.json).

    The peer reaches the chaincode at ``address`` in plaintext (loopback only).
    """
    connection = json.dumps({"address": address, "dial_timeout": "10s", "tls_required": False}).encode()
    metadata = json.dumps({"type": "ccaas", "label": label}).encode()
    return _tar_gz({"metadata.json": metadata, "code.tar.gz": _tar_gz({"connection.json": connection})})


def package_id(label: str, package: bytes) -> str:
    """The id the peer gives an installed package: ``label:sha256(package)``."""
    return f"{label}:{hashlib.sha256(package).hexdigest()}"


if __name__ == "__main__":  # `python -m stack.chaincode`: the tests' copy (devDependencies too), print its folder
    import sys

    from stack.settings import StackSettings

    try:
        print(prepare(StackSettings().cache_dir, dev=True))
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
