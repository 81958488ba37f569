"""An installed Fabric release: find it, check its version, install it from a tarball or a directory.

The project never builds Fabric: it uses a release in the official layout (``bin/``, ``config/``,
``builders/ccaas/bin/``) as Fabric's own install script leaves it, named by ``GX_FABRIC_HOME``
(default ``~/.cache/gx-pipeline/fabric-<version>``), else the binaries on ``PATH``.
Errors: FabricError (a StackError) naming what is missing and the command that fixes it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from stack.errors import StackError
from stack.settings import StackSettings

VERSION = "3.1.5"
BINARIES = ("peer", "orderer", "configtxgen", "cryptogen", "osnadmin", "configtxlator")
BUILDER = ("detect", "build", "release")
CONFIGS = ("core.yaml", "orderer.yaml")
INSTALL_HINT = (
    f"gxctl fabric install   (or: gxctl fabric install --from hyperledger-fabric-linux-amd64-{VERSION}.tar.gz)"
)


class FabricError(StackError):
    def __init__(self, problem: str, hint: str = INSTALL_HINT) -> None:
        super().__init__("fabric", problem, hint)


@dataclass(frozen=True)
class FabricHome:
    """Where each part of an installed release is."""

    bin_dir: Path
    config_dir: Path
    builder_dir: Path  # the ccaas external builder (its bin/ holds detect, build, release)

    def bin(self, name: str) -> str:
        return str(self.bin_dir / name)


def default_home(s: StackSettings) -> Path:
    return s.fabric_home or s.cache_dir / f"fabric-{VERSION}"


def platform_name() -> str:
    """The release's platform name for this machine, e.g. linux-amd64."""
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{platform.system().lower()}-{machine}"


def tarball_name() -> str:
    return f"hyperledger-fabric-{platform_name()}-{VERSION}.tar.gz"


def peer_version(peer: str) -> str:
    """The version `peer version` reports; FabricError if it does not run."""
    try:
        out = subprocess.run([peer, "version"], capture_output=True, text=True, timeout=20).stdout
    except OSError as e:
        raise FabricError(f"{peer} does not run: {e}") from None
    m = re.search(r"Version:\s*v?(\S+)", out)
    if not m:
        raise FabricError(f"`{peer} version` printed no version")
    return m.group(1)


def _layout(root: Path) -> FabricHome:
    return FabricHome(root / "bin", root / "config", root / "builders" / "ccaas")


def check_layout(home: FabricHome) -> None:
    """Every binary, config and builder script is there and the peer is the pinned version."""
    missing = [str(home.bin_dir / b) for b in BINARIES if not os.access(home.bin_dir / b, os.X_OK)]
    missing += [str(home.config_dir / c) for c in CONFIGS if not (home.config_dir / c).is_file()]
    missing += [
        str(home.builder_dir / "bin" / b) for b in BUILDER if not os.access(home.builder_dir / "bin" / b, os.X_OK)
    ]
    if missing:
        raise FabricError(f"incomplete Fabric release: missing {', '.join(missing)}")
    found = peer_version(home.bin("peer"))
    if found != VERSION:
        raise FabricError(f"Fabric {found} found in {home.bin_dir}, this project needs v{VERSION}")


def locate(s: StackSettings) -> FabricHome:
    """The installed release to use; FabricError (with the install command) if there is none."""
    root = default_home(s)
    if (root / "bin" / "peer").exists():
        home = _layout(root)
    elif s.fabric_home is None and shutil.which("peer"):
        root = Path(shutil.which("peer") or "").resolve().parent.parent
        home = _layout(root)
    else:
        raise FabricError(
            f"Fabric v{VERSION} is not installed: no {root / 'bin' / 'peer'}"
            + ("" if s.fabric_home else " and no `peer` on PATH")
        )
    check_layout(home)
    return home


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    for m in tar.getmembers():
        if m.name.startswith("/") or ".." in Path(m.name).parts or m.islnk() or m.issym():
            raise FabricError(f"refusing the tarball: unsafe member {m.name!r}", "use an official release tarball")
    return tar.getmembers()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, timeout: float = 30) -> None:
    """Fetch ``url`` to ``dest``; FabricError in one line when it cannot be reached."""
    tmp = dest.with_name(dest.name + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except (urllib.error.URLError, OSError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise FabricError(
            f"cannot download {url}: {reason}",
            f"fetch {tarball_name()} on a machine that can, then: gxctl fabric install --from FILE",
        ) from None
    tmp.rename(dest)


def install(s: StackSettings, source: Path | None = None) -> Path:
    """Install the pinned release into ``default_home(s)``; returns that directory.

    ``source`` is a release tarball or an unpacked release directory; None downloads the tarball
    from ``fabric_release_url``. A tarball is checked against ``fabric_sha256`` when that is set;
    every source is checked for the layout and the version before it replaces anything.
    """
    dest = default_home(s)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fabric-install-") as tmp_s:
        tmp = Path(tmp_s)
        if source is None:
            source = tmp / tarball_name()
            download(f"{s.fabric_release_url.rstrip('/')}/v{VERSION}/{tarball_name()}", source)
        if not source.exists():
            raise FabricError(f"{source} does not exist", "name a release tarball or an unpacked release directory")
        staged = tmp / "release"
        if source.is_dir():
            shutil.copytree(source, staged, symlinks=False)
        else:
            if s.fabric_sha256 and _sha256(source) != s.fabric_sha256.lower():
                raise FabricError(
                    f"{source}: sha256 {_sha256(source)} is not the pinned GX_FABRIC_SHA256",
                    "download the official release again",
                )
            try:
                with tarfile.open(source) as tar:
                    tar.extractall(staged, members=_safe_members(tar))
            except tarfile.TarError as e:
                raise FabricError(f"{source} is not a readable tarball: {e}", "download the release again") from None
        check_layout(_layout(staged))
        old = dest.with_name(dest.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        staged.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    return dest
