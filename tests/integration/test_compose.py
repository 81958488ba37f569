"""docker-compose.yml is valid and consistent with the local stack.

There is no Docker engine here, so the file is loaded by compose-go (the library behind
`docker compose config`; tools/composecheck, built from the Go module proxy), which validates it
against the Compose Specification's JSON schema and resolves it. The consistency checks below
then compare it with what `gxctl stack` provides.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner

from gxctl.main import cli

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "composecheck"


@pytest.fixture(scope="module")
def composecheck() -> Path:
    go = shutil.which("go")
    if not go:
        pytest.skip("Go is needed to build tools/composecheck")
    src = b"".join((TOOL / f).read_bytes() for f in ("main.go", "go.mod", "go.sum"))
    cache = Path(os.environ.get("GX_CACHE_DIR", Path.home() / ".cache" / "gx-pipeline"))
    binary = cache / "bin" / f"composecheck-{hashlib.sha256(src).hexdigest()[:12]}"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([go, "build", "-o", str(binary), "."], cwd=TOOL, check=True,
                       env={**os.environ, "CGO_ENABLED": "0"}, timeout=900)
    return binary


def load(tool: Path, path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GX_")}  # defaults, not the dev's env
    return subprocess.run([str(tool), str(path)], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def project(composecheck: Path) -> dict:
    proc = load(composecheck, ROOT / "docker-compose.yml")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_an_invalid_file_is_refused(composecheck: Path, tmp_path: Path) -> None:
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  a:\n    image: x:1\n    depends_on: [missing]\n    healtcheck: {}\n")
    proc = load(composecheck, bad)
    assert proc.returncode == 1
    assert "invalid compose file" in proc.stderr


def test_topology_matches_the_local_stack(project: dict) -> None:
    services = project["services"]
    assert {"postgres", "kafka", "connect", "kafka-ui"} <= set(services)
    pg_cmd = " ".join(services["postgres"]["command"])
    assert "wal_level=logical" in pg_cmd
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert services["connect"]["image"].startswith("quay.io/debezium/connect:")
    ui = services["kafka-ui"]["environment"]
    assert ui["KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS"] == "kafka:9092"
    assert ui["KAFKA_CLUSTERS_0_KAFKACONNECT_0_ADDRESS"] == "http://connect:8083"


def test_images_are_pinned_and_ports_are_loopback_only(project: dict) -> None:
    for name, svc in project["services"].items():
        if "build" not in svc:
            tag = svc["image"].rsplit(":", 1)
            assert len(tag) == 2 and tag[1] not in ("latest", ""), f"{name}: image {svc['image']} is not pinned"
        for port in svc.get("ports") or []:
            assert port.get("host_ip") == "127.0.0.1", f"{name}: port {port} is not bound to loopback"


def test_every_dependency_has_a_healthcheck(project: dict) -> None:
    services = project["services"]
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert services[dep].get("healthcheck", {}).get("test"), f"{dep} has no healthcheck"


def test_workers_read_the_same_environment_as_the_local_stack(project: dict) -> None:
    from gxcommon.settings import ConnectionSettings
    from gxcommon.topics import TopicSettings
    from gxcommon.worker_settings import WorkerSettings

    # Every name a settings object of the project reads.
    local_names = {f"GX_{n.upper()}" for cls in (ConnectionSettings, WorkerSettings) for n in cls.model_fields}
    local_names |= {f"GX_TOPIC_{n.upper()}" for n in TopicSettings.model_fields}
    services = project["services"]
    pg_env = services["postgres"]["environment"]
    for name, svc in services.items():
        if "build" not in svc:
            continue
        env = svc["environment"]
        names = {k for k in env if k.startswith("GX_")}
        assert names <= local_names, f"{name}: {names - local_names} is read by no settings object"
        assert {"GX_PG_DSN", "GX_KAFKA_BOOTSTRAP", "GX_CONNECT_URL"} <= names, name
        dsn = urlsplit(env["GX_PG_DSN"])
        # The DSN carries the same password, percent-encoded.
        assert unquote(dsn.password) == pg_env["POSTGRES_PASSWORD"]
        assert unquote(dsn.username) == pg_env["POSTGRES_USER"]
        assert dsn.path.lstrip("/") == pg_env["POSTGRES_DB"]
        assert any(ch in pg_env["POSTGRES_PASSWORD"] for ch in "/=@")
        # Every worker command is a real gxctl command.
        result = CliRunner().invoke(cli, [*svc["command"], "--help"])
        assert result.exit_code == 0, f"{name}: `gxctl {' '.join(svc['command'])}` is not a gxctl command"


def test_the_image_gets_every_package_the_project_installs() -> None:
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines()
              if line.startswith("COPY ") and not line.rstrip().endswith("./")}
    assert packages <= copied, f"Dockerfile misses {packages - copied}"
