"""Finding and installing a Fabric release: from a local HTTP server, a tarball, a directory."""

from __future__ import annotations

import http.server
import io
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack import fabric_home as fh
from stack.settings import StackSettings


def _release(root: Path, version: str = fh.VERSION) -> Path:
    """A tiny release in the official layout whose `peer version` prints ``version``."""
    for b in fh.BINARIES:
        p = root / "bin" / b
        p.parent.mkdir(parents=True, exist_ok=True)
        body = f"echo 'peer:'; echo ' Version: v{version}'" if b == "peer" else "true"
        p.write_text(f"#!/bin/sh\n{body}\n")
        p.chmod(0o755)
    for c in fh.CONFIGS:
        (root / "config").mkdir(exist_ok=True)
        (root / "config" / c).write_text("x: 1\n")
    for b in fh.BUILDER:
        p = root / "builders" / "ccaas" / "bin" / b
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("#!/bin/sh\n")
        p.chmod(0o755)
    return root


def _tarball(root: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        for part in ("bin", "config", "builders"):
            tar.add(root / part, arcname=part)
    return out


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over ``tmp_path/www``; yields (base URL, served dir)."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(www), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()


def _settings(tmp_path: Path, **kw: Any) -> StackSettings:
    return StackSettings(cache_dir=tmp_path / "cache", fabric_home=tmp_path / "fabric", **kw)


def test_install_downloads_the_pinned_tarball_checks_its_hash_and_locate_finds_it(tmp_path, server) -> None:
    url, www = server
    (www / f"v{fh.VERSION}").mkdir()
    tar = _tarball(_release(tmp_path / "rel"), www / f"v{fh.VERSION}" / fh.tarball_name())
    s = _settings(tmp_path, fabric_release_url=url, fabric_sha256=fh._sha256(tar))
    assert fh.install(s) == tmp_path / "fabric"
    home = fh.locate(s)
    assert home.bin("peer") == str(tmp_path / "fabric" / "bin" / "peer")
    assert (home.builder_dir / "bin" / "release").exists()


def test_a_tarball_with_another_hash_is_refused(tmp_path, server) -> None:
    url, www = server
    (www / f"v{fh.VERSION}").mkdir()
    _tarball(_release(tmp_path / "rel"), www / f"v{fh.VERSION}" / fh.tarball_name())
    with pytest.raises(fh.FabricError, match="is not the pinned GX_FABRIC_SHA256"):
        fh.install(_settings(tmp_path, fabric_release_url=url, fabric_sha256="0" * 64))
    assert not (tmp_path / "fabric").exists()


def test_install_from_a_file_or_a_directory(tmp_path: Path) -> None:
    rel = _release(tmp_path / "rel")
    s = _settings(tmp_path)
    fh.install(s, _tarball(rel, tmp_path / "f.tar.gz"))
    fh.locate(s)
    fh.install(s, rel)  # replaces the installed one
    fh.locate(s)


def test_another_version_is_refused_with_the_version_named(tmp_path: Path) -> None:
    rel = _release(tmp_path / "rel", version="2.5.16")
    with pytest.raises(fh.FabricError, match=r"Fabric 2.5.16 found in .*, this project needs v3.1.5"):
        fh.install(_settings(tmp_path), rel)


def test_an_incomplete_release_names_what_is_missing(tmp_path: Path) -> None:
    rel = _release(tmp_path / "rel")
    (rel / "builders" / "ccaas" / "bin" / "release").unlink()
    with pytest.raises(fh.FabricError, match=r"missing .*builders/ccaas/bin/release"):
        fh.install(_settings(tmp_path), rel)


def test_an_unsafe_tarball_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(fh.FabricError, match=r"unsafe member '\.\./escape'"):
        fh.install(_settings(tmp_path), bad)


def test_missing_fabric_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(fh.FabricError) as ei:
        fh.locate(_settings(tmp_path))
    assert "Fabric v3.1.5 is not installed" in str(ei.value) and "gxctl fabric install" in str(ei.value)


def test_the_cli_reports_an_unreachable_download_in_one_line(tmp_path: Path) -> None:
    env = {
        "GX_CACHE_DIR": str(tmp_path),
        "GX_FABRIC_HOME": str(tmp_path / "fabric"),
        "GX_FABRIC_RELEASE_URL": "http://127.0.0.1:9/nowhere",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "gxctl.main", "fabric", "install"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: [fabric] cannot download http://127.0.0.1:9/nowhere/v3.1.5/")
    assert "gxctl fabric install --from FILE" in proc.stderr
