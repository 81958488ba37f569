"""docker-compose.yml is valid and consistent with the local stack.

There is no Docker engine here, so the file is loaded by compose-go (the library behind
`docker compose config`; tools/composecheck, built from the Go module proxy), which validates it
against the Compose Specification's JSON schema and resolves it. The consistency checks below
then compare it with what `gxctl stack` provides.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner

from gxctl.main import cli
from stack.settings import StackSettings
from tests.integration.compose_check import build_composecheck

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def composecheck() -> Path:
    if not shutil.which("go"):
        pytest.skip("Go is needed to build tools/composecheck")
    return build_composecheck(StackSettings().cache_dir)


def load(tool: Path, path: Path) -> subprocess.CompletedProcess[str]:
    """The normalised project, every profile's services included."""
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
    assert services["connect"]["build"]["dockerfile_inline"].startswith("FROM quay.io/debezium/connect:")
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
            if cond["condition"] == "service_completed_successfully":  # a one-shot (gx-init)
                assert not services[dep].get("ports") and services[dep]["command"][0] == "init", f"{name} -> {dep}"
                continue
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert services[dep].get("healthcheck", {}).get("test"), f"{dep} has no healthcheck"


def test_workers_read_the_same_environment_as_the_local_stack(project: dict) -> None:
    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.settings import ConnectionSettings
    from gxcommon.topics import TopicSettings
    from gxcommon.worker_settings import WorkerSettings

    # Every name a settings object of the project reads.
    local_names = {f"GX_{n.upper()}" for cls in (ConnectionSettings, WorkerSettings) for n in cls.model_fields}
    local_names |= {f"GX_TOPIC_{n.upper()}" for n in TopicSettings.model_fields}
    local_names |= {f"GX_FABRIC_{n.upper()}" for n in FabricSettings.model_fields}
    services = project["services"]
    pg_env = services["postgres"]["environment"]
    for name, svc in services.items():
        if "build" not in svc or name == "connect":  # connect: Debezium's image plus the JMX agent
            continue
        env = svc["environment"]
        names = {k for k in env if k.startswith("GX_")}
        assert names <= local_names, f"{name}: {names - local_names} is read by no settings object"
        assert {"GX_PG_DSN", "GX_KAFKA_BOOTSTRAP", "GX_CONNECT_URL"} <= names, name
        dsn = urlsplit(env["GX_PG_DSN"])
        # No password in the DSN: the workers read Postgres' own password file, mounted.
        assert dsn.password is None and env["GX_PG_PASSWORD_FILE"] == pg_env["POSTGRES_PASSWORD_FILE"]
        assert {s["source"] for s in svc.get("secrets", [])} == {"pg_password"}, name
        assert unquote(dsn.username or "") == pg_env["POSTGRES_USER"]
        assert dsn.path.lstrip("/") == pg_env["POSTGRES_DB"]
        # Every worker command is a real gxctl command.
        result = CliRunner().invoke(cli, [*svc["command"], "--help"])
        assert result.exit_code == 0, f"{name}: `gxctl {' '.join(svc['command'])}` is not a gxctl command"


def test_the_connector_password_reaches_connect_through_its_dir_provider(project: dict) -> None:
    """gx-init sends ${dir:/run/secrets:pg_password}; Connect has the directory provider and the
    secret Postgres' password comes from, mounted where the reference says."""
    services = project["services"]
    ref = services["gx-init"]["environment"]["GX_CONNECT_PASSWORD_REF"]
    connect = services["connect"]
    assert connect["environment"]["CONNECT_CONFIG_PROVIDERS"] == "dir"
    assert (
        connect["environment"]["CONNECT_CONFIG_PROVIDERS_DIR_CLASS"]
        == "org.apache.kafka.common.config.provider.DirectoryConfigProvider"
    )
    _, folder, name = ref.strip("${}").split(":")
    assert f"{folder}/{name}" == services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"]
    assert {"source": name, "target": f"{folder}/{name}"} in connect["secrets"]


def test_the_image_gets_every_package_the_project_installs() -> None:
    import tomllib

    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in include}
    copied = {
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and not line.rstrip().endswith("./")
    }
    assert packages <= copied, f"Dockerfile misses {packages - copied}"


def worker_services(project: dict) -> dict[str, dict]:
    return {
        name: svc
        for name, svc in project["services"].items()
        if "build" in svc and (svc.get("command") or [""])[0] == "run"
    }


def test_every_worker_of_the_local_stack_runs_in_compose(project: dict) -> None:
    from stack.workers import workers_for

    workers = worker_services(project)
    assert {svc["command"][1] for svc in workers.values()} == set(workers_for(secure=False))
    for name, svc in workers.items():
        assert svc["command"] == ["run", name]
        env = svc["environment"]
        assert env["GX_WEB_HOST"] == "0.0.0.0" and env["GX_WEB_PORT"] == "8080", name
        assert "8080/readyz" in " ".join(svc["healthcheck"]["test"]), name
        ledger = name in ("submitter", "block-publisher")
        assert ("GX_FABRIC_GATEWAY" in env) == ledger, name
        assert (svc.get("profiles") == ["fabric"]) == ledger, name
        if ledger:
            assert {env[k] for k in ("GX_FABRIC_CERT", "GX_FABRIC_KEY", "GX_FABRIC_TLS_ROOT")} <= {
                f"{v['target']}/{f}" for v in svc["volumes"] for f in ("cert.pem", "key.pem", "tls-root.pem")
            }


def test_prometheus_scrapes_every_worker_and_connect_with_the_rules(project: dict) -> None:
    import yaml

    services = project["services"]
    prom = services["prometheus"]
    mounts = {
        Path(v["source"]).relative_to(ROOT).as_posix(): v["target"] for v in prom["volumes"] if v["type"] == "bind"
    }
    config = yaml.safe_load((ROOT / "monitoring/prometheus/prometheus-compose.yml").read_text())
    assert mounts["monitoring/prometheus/prometheus-compose.yml"] == "/etc/prometheus/prometheus.yml"
    assert config["rule_files"] == [mounts["monitoring/prometheus/rules"] + "/*.yml"]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    targets = {sc["targets"][0]: sc["labels"]["instance"] for sc in jobs["gx-workers"]["static_configs"]}
    workers = worker_services(project)
    assert targets == {f"{name}:{svc['environment']['GX_WEB_PORT']}": name for name, svc in workers.items()}
    # Connect's JMX exporter: the agent's port is the one scraped, with the local stack's rules file.
    opts = services["connect"]["environment"]["KAFKA_OPTS"]
    port = opts.split("=", 1)[1].split(":")[0]
    assert [sc["targets"] for sc in jobs["gx-connect"]["static_configs"]] == [[f"connect:{port}"]]
    assert opts.endswith(":/kafka/connect-jmx.yml")
    inline = services["connect"]["build"]["dockerfile_inline"]
    assert "COPY connect-jmx.yml /kafka/connect-jmx.yml" in inline and "--checksum=sha256:" in inline
    assert Path(services["connect"]["build"]["context"]) == ROOT / "stack" / "conf"
    assert prom["image"].endswith(":v3.16.0")  # the version the local stack builds
    from stack.gotools import TOOLS

    assert TOOLS["prometheus"][1] == "v0.316.0"  # the Go module of Prometheus 3.16.0


def test_grafana_gets_the_dashboards_and_the_datasource(project: dict) -> None:
    import yaml

    grafana = project["services"]["grafana"]
    mounts = {Path(v["source"]).relative_to(ROOT).as_posix(): v["target"] for v in grafana["volumes"]}
    assert mounts["monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((ROOT / "monitoring/grafana/provisioning/dashboards/gx-pipeline.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == mounts["monitoring/grafana/dashboards"]
    ds = yaml.safe_load((ROOT / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "monitoring/grafana/dashboards" / Path(home).name).exists()
    for d in (ROOT / "monitoring/grafana/dashboards").glob("*.json"):
        variables = json.loads(d.read_text())["templating"]["list"]
        assert {"name": "datasource", "type": "datasource", "query": "prometheus"}.items() <= variables[0].items()


def test_no_password_is_written_in_the_file_and_each_service_mounts_only_its_own(project: dict) -> None:
    """Issue 33, finding 9: the file committed a superuser password and Grafana's (as defaults that
    every deployment of it shared). Now every password is a secret read from a file the user makes
    (scripts/compose-secrets.sh), mounted only into the services that need it."""
    text = (ROOT / "docker-compose.yml").read_text()
    assert "gx/compose=pw@1" not in text and "gx-grafana" not in text
    services = project["services"]
    for name, svc in services.items():
        for k, v in (svc.get("environment") or {}).items():
            if "PASSWORD" in k:
                assert v.startswith(("/run/secrets/", "${dir:/run/secrets:")), f"{name}: {k}={v}"
    secrets = {k: Path(v["file"]) for k, v in project["secrets"].items()}
    assert set(secrets) == {"pg_password", "grafana_admin_password"}
    assert all(f.parent == ROOT / ".secrets" for f in secrets.values())
    assert ".secrets/" in (ROOT / ".gitignore").read_text().splitlines()
    mounted = {n: {s["source"] for s in svc.get("secrets", [])} for n, svc in services.items()}
    assert {n for n, s in mounted.items() if "grafana_admin_password" in s} == {"grafana"}
    assert "pg_password" not in mounted["grafana"] | mounted["kafka"] | mounted["kafka-ui"] | mounted["prometheus"]
    assert (
        services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    )
    connect = services["connect"]["environment"]
    assert connect["CONNECT_CONFIG_PROVIDERS"] == "dir"
    assert connect["CONNECT_CONFIG_PROVIDERS_DIR_PARAM_ALLOWED_PATHS"] == "/run/secrets"
    assert services["gx-init"]["environment"]["GX_CONNECT_PASSWORD_REF"] == "${dir:/run/secrets:pg_password}"


def test_the_secrets_script_makes_random_private_passwords_once(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "compose-secrets.sh"
    out = tmp_path / "s"
    first = subprocess.run(["bash", str(script), str(out)], capture_output=True, text=True, check=True).stdout
    pg, grafana = (out / "pg_password").read_text(), (out / "grafana_admin_password").read_text()
    assert "made" in first and len(pg) > 30 and len(grafana) > 30 and pg != grafana
    assert not pg.endswith("\n") and all(ch in pg for ch in "/=@")
    assert (out.stat().st_mode & 0o777) == 0o700
    again = subprocess.run(["bash", str(script), str(out)], capture_output=True, text=True, check=True).stdout
    assert "kept" in again and (out / "pg_password").read_text() == pg
