"""The chaincode's ccaas package and version: deterministic, and new when the source changes."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

from stack import chaincode as cc


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_the_package_is_ccaas_with_the_service_address_and_the_same_bytes_every_time() -> None:
    pkg = cc.ccaas_package("gxtv3_abc", "127.0.0.1:27099")
    assert pkg == cc.ccaas_package("gxtv3_abc", "127.0.0.1:27099")
    outer = _members(pkg)
    assert json.loads(outer["metadata.json"]) == {"type": "ccaas", "label": "gxtv3_abc"}
    conn = json.loads(_members(outer["code.tar.gz"])["connection.json"])
    assert conn["address"] == "127.0.0.1:27099" and conn["tls_required"] is False
    pid = cc.package_id("gxtv3_abc", pkg)
    assert pid.startswith("gxtv3_abc:") and len(pid.split(":")[1]) == 64


def test_the_version_changes_with_runtime_source_only(tmp_path: Path) -> None:
    src = tmp_path / "gxtv3"
    shutil.copytree(cc.SOURCE, src, ignore=shutil.ignore_patterns("node_modules"))
    before = cc.source_hash(src)
    assert before == cc.source_hash(cc.SOURCE)
    (src / "test" / "extra.test.js").write_text("// tests do not change what runs\n")
    assert cc.source_hash(src) == before
    (src / "lib" / "ledger.js").write_text((src / "lib" / "ledger.js").read_text() + "\n// changed\n")
    assert cc.source_hash(src) != before
