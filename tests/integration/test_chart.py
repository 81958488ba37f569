"""helm/gx-pipeline: lint, render with each values file, validate every manifest with kubeconform
against Kubernetes' and the CRDs' schemas (tests/integration/k8s_schemas.py), and check what
the chart promises: the password only in the Secret, probes, PDBs, the hooks' order, and the
custom resources gated on values."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import gotools
from stack.settings import StackSettings
from tests.integration.k8s_schemas import CHART_KINDS, build

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "gx-pipeline"
VALUES = ["values-testnet.yaml", "values-mainnet.yaml"]
PASSWORD = "p@ss/w:rd=%20&x y#"  # every character a URL would have to encode


@pytest.fixture(scope="module")
def tools() -> dict[str, Path]:
    cache = StackSettings().cache_dir
    return {name: gotools.require(name, cache) for name in ("helm", "kubeconform")}


@pytest.fixture(scope="module")
def schemas() -> Path:
    return build(StackSettings().cache_dir, set(CHART_KINDS))


def helm(tools: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tools["helm"]), *args], capture_output=True, text=True, timeout=300)


def render(tools: dict[str, Path], *args: str) -> tuple[str, list[dict]]:
    proc = helm(tools, "template", "gx", str(CHART), "--namespace", "gx", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.parametrize("values", VALUES)
def test_lint(tools: dict[str, Path], values: str) -> None:
    proc = helm(tools, "lint", str(CHART), "-f", str(CHART / values), "--strict")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("values", VALUES)
def test_renders_and_validates_against_the_schemas(
    tools: dict[str, Path], schemas: Path, values: str, tmp_path: Path
) -> None:
    text, docs = render(tools, "-f", str(CHART / values))
    out = tmp_path / "manifests.yaml"
    out.write_text(text)
    proc = subprocess.run(
        [
            str(tools["kubeconform"]),
            "-strict",
            "-summary",
            "-output",
            "text",
            "-schema-location",
            f"{schemas}/{{{{ .ResourceKind }}}}-{{{{ .Group }}}}-{{{{ .ResourceAPIVersion }}}}.json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kinds = {d["kind"] for d in docs}
    assert "Skipped: 0" in proc.stdout and "Invalid: 0" in proc.stdout, proc.stdout
    assert {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Job",
        "ConfigMap",
        "ServiceMonitor",
        "PrometheusRule",
    } <= kinds
    if values == "values-mainnet.yaml":
        assert "KafkaConnector" in kinds


SECURE = [
    "--set",
    "kafka.sasl.enabled=true",
    "--set",
    "postgres.roles.enabled=true",
    "--set",
    "fabric.mutualTLS=true",
    "--set",
    "connect.basicAuth.enabled=true",
]


def test_secure_values_give_each_process_its_own_identities_and_only_its_own_keys(
    tools: dict[str, Path], schemas: Path, tmp_path: Path
) -> None:
    text, docs = render(tools, "-f", str(CHART / "values-mainnet.yaml"), *SECURE)
    (tmp_path / "m.yaml").write_text(text)
    proc = subprocess.run(
        [
            str(tools["kubeconform"]),
            "-strict",
            "-summary",
            "-output",
            "text",
            "-schema-location",
            f"{schemas}/{{{{ .ResourceKind }}}}-{{{{ .Group }}}}-{{{{ .ResourceAPIVersion }}}}.json",
            str(tmp_path / "m.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "Invalid: 0" in proc.stdout, proc.stdout + proc.stderr
    want_role = {
        "submitter": "gx_monitor",
        "block-publisher": "gx_monitor",
        "results-writer": "gx_results",
        "projector-ledger": "gx_projector_ledger",
        "projector-system": "gx_projector_system",
    }
    pods = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        and d["metadata"]["name"].startswith("gx-gx-pipeline-")
        and d["metadata"]["labels"]["app.kubernetes.io/component"] != "chaincode"
    }
    for who, pod in pods.items():
        env = {e["name"]: e.get("value") for e in pod["containers"][0].get("env", [])}
        keys = {v["name"]: [i["key"] for i in v["secret"].get("items", [])] for v in pod["volumes"] if "secret" in v}
        admin = who in ("migrate", "init")
        principal = "gx-admin" if admin else f"gx-{who}"
        assert env["GX_KAFKA_USERNAME"] == principal and keys["kafka"] == [principal], who
        assert env["GX_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", who
        if admin:  # the owner (migrations, grants); the connector is Strimzi's here (no REST, no cdc login)
            assert keys["postgres"] == ["password"] and "postgres-cdc" not in keys and "connect" not in keys, who
        else:
            role = want_role.get(who, "gx_" + who.replace("-", "_"))
            assert env["GX_PG_DSN"].startswith(f"postgresql://{role}@") and keys["postgres"] == [role], who
            assert "connect" not in keys and "postgres-cdc" not in keys, who
    fabric = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-fabric"))
    assert fabric["data"]["GX_FABRIC_TLS_KEY"] == "/var/run/secrets/gx/fabric/tls-client-key.pem"
    kc = next(d for d in docs if d["kind"] == "KafkaConnector")
    assert kc["spec"]["config"]["database.user"] == "gx_cdc"
    assert kc["spec"]["config"]["database.password"] == "${secrets:gx/gx-postgres-roles:gx_cdc}"
    # With the connector registered through Connect's REST API, only the init Job logs in to Connect;
    # it names Debezium's role, but Connect reads that role's password itself (a config provider).
    _, docs = render(tools, "-f", str(CHART / "values-testnet.yaml"), *SECURE)
    jobs = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] == "Job"
    }
    init_keys = {v["name"]: [i["key"] for i in v["secret"]["items"]] for v in jobs["init"]["volumes"] if "secret" in v}
    assert "postgres-cdc" not in init_keys and init_keys["connect"] == ["password"]
    assert not {"postgres-cdc", "connect"} & {v["name"] for v in jobs["migrate"]["volumes"]}


def test_kubeconform_refuses_a_misspelt_field(tools: dict[str, Path], schemas: Path, tmp_path: Path) -> None:
    """The schemas are strict: the check above would see a mistake."""
    text, _docs = render(tools, "-f", str(CHART / "values-mainnet.yaml"))
    bad = text.replace("tasksMax:", "taskMax:", 1).replace("readinessProbe:", "readynessProbe:", 1)
    (tmp_path / "bad.yaml").write_text(bad)
    proc = subprocess.run(
        [
            str(tools["kubeconform"]),
            "-strict",
            "-summary",
            "-schema-location",
            f"{schemas}/{{{{ .ResourceKind }}}}-{{{{ .Group }}}}-{{{{ .ResourceAPIVersion }}}}.json",
            str(tmp_path / "bad.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "taskMax" in proc.stdout and "readynessProbe" in proc.stdout, proc.stdout


def test_every_worker_has_probes_resources_and_a_pdb(tools: dict[str, Path]) -> None:
    from stack.workers import WORKERS, workers_for

    def deployments_of(*values: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        _, docs = render(tools, "-f", str(CHART / "values-testnet.yaml"), *values)
        return {
            d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == "Deployment"
        }, docs

    # By default the projection groups run in one worker, as `gxctl up` runs them; split on request.
    split, _ = deployments_of("--set", "projectors.together=false")
    assert set(split) == set(workers_for(secure=True)) | {"chaincode"}
    deployments, docs = deployments_of()
    assert set(workers_for(secure=False)) | {"chaincode"} == set(deployments)
    deployments |= split
    pdbs = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert pdbs == set(deployments_of()[0])
    for name in WORKERS:
        c = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert c["args"] == ["run", name]
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["resources"]["requests"] and c["resources"]["limits"]
        fabric = any(e.get("configMapRef", {}).get("name", "").endswith("-fabric") for e in c["envFrom"])
        assert fabric == (name in ("submitter", "block-publisher")), name
    assert deployments["block-publisher"]["spec"]["strategy"]["type"] == "Recreate"


def test_the_password_is_only_in_the_secret(tools: dict[str, Path]) -> None:
    text, docs = render(
        tools,
        "--set-string",
        f"postgres.password={PASSWORD}",
        "--set",
        "chaincode.packageId=gxtv3:0",
        "--set",
        "connector.mode=strimzi",
    )
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD
    assert PASSWORD not in text and base64.b64encode(PASSWORD.encode()).decode() in text
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "gx-gx-pipeline")
    assert cm["data"]["GX_PG_DSN"] == "postgresql://gx@postgres:5432/gx?sslmode=prefer"
    assert cm["data"]["GX_PG_PASSWORD_FILE"] == "/var/run/secrets/gx/postgres/password"
    kc = next(d for d in docs if d["kind"] == "KafkaConnector")
    assert kc["apiVersion"] == "kafka.strimzi.io/v1"
    assert kc["spec"]["config"]["database.password"] == "${secrets:gx/gx-gx-pipeline-postgres:password}"
    # The hooks: the pods' account and the Secret first, then migrations, then topics and the
    # connector's publication.
    hooks = sorted(
        (int(d["metadata"]["annotations"]["helm.sh/hook-weight"]), d["kind"], d["metadata"]["name"])
        for d in docs
        if "helm.sh/hook" in d["metadata"].get("annotations", {})
    )
    assert [h[1] for h in hooks] == ["ServiceAccount", "Secret", "Job", "Job"]
    jobs = [d for d in docs if d["kind"] == "Job"]
    assert [j["spec"]["template"]["spec"]["containers"][0]["args"] for j in jobs] == [
        ["db", "migrate"],
        ["init", "--no-connector"],
    ]


def test_the_workers_percent_encode_the_mounted_password(tmp_path: Path) -> None:
    """What the chart relies on: a DSN without a password plus GX_PG_PASSWORD_FILE gives a DSN
    whose password decodes to the file's content."""
    from urllib.parse import unquote, urlsplit

    from pydantic import SecretStr

    from gxcommon.worker_settings import WorkerSettings

    pw = tmp_path / "password"
    pw.write_text(PASSWORD)
    dsn = WorkerSettings(pg_dsn=SecretStr("postgresql://gx@postgres:5432/gx?sslmode=prefer"), pg_password_file=pw).dsn()
    assert unquote(urlsplit(dsn).password or "") == PASSWORD
    assert PASSWORD not in dsn


def test_custom_resources_are_gated_on_values_and_missing_settings_are_named(tools: dict[str, Path]) -> None:
    _, docs = render(tools, "--set", "postgres.password=x", "--set", "chaincode.packageId=gxtv3:0")
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "KafkaConnector"}
    proc = helm(tools, "template", "gx", str(CHART), "--set", "postgres.password=x")
    assert proc.returncode != 0 and "chaincode.packageId is required" in proc.stderr
    proc = helm(tools, "template", "gx", str(CHART), "--set", "chaincode.packageId=x")
    assert proc.returncode != 0 and "postgres.password or postgres.existingSecret must be set" in proc.stderr


def test_the_prometheus_rule_is_the_promtool_checked_file(tools: dict[str, Path]) -> None:
    _, docs = render(tools, "-f", str(CHART / "values-testnet.yaml"))
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((ROOT / "monitoring/prometheus/rules/gx-pipeline.rules.yml").read_text())
    dashboards = [d for d in docs if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"]["labels"]]
    assert len(dashboards) == len(list((ROOT / "monitoring/grafana/dashboards").glob("*.json")))


def test_the_connector_poll_interval_is_a_value_for_either_connector_mode(tools: dict[str, Path]) -> None:
    """connector.pollIntervalMs: unset, the YAML's poll.interval.ms; set, the KafkaConnector's config
    (strimzi) or the init Job's GX_CONNECT_POLL_MS (rest, which `gxctl init` renders with)."""
    base = ("--set", "postgres.password=x", "--set", "chaincode.packageId=gxtv3:0")
    yaml_poll = yaml.safe_load((ROOT / "connectors/outbox.yaml").read_text())["config"]["poll.interval.ms"]
    _, docs = render(tools, *base, "--set", "connector.mode=strimzi")
    assert next(d for d in docs if d["kind"] == "KafkaConnector")["spec"]["config"]["poll.interval.ms"] == yaml_poll
    _, docs = render(tools, *base, "--set", "connector.mode=strimzi", "--set", "connector.pollIntervalMs=5")
    assert next(d for d in docs if d["kind"] == "KafkaConnector")["spec"]["config"]["poll.interval.ms"] == "5"
    _, docs = render(tools, *base, "--set", "connector.pollIntervalMs=20")
    init = next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"].endswith("-init"))
    env = {e["name"]: e.get("value") for e in init["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["GX_CONNECT_POLL_MS"] == "20"


def test_several_gateway_endpoints_render_as_one_list_the_clients_fail_over_between(tools: dict[str, Path]) -> None:
    """Issue 34: `fabric.gateway` takes one endpoint or a list (values-mainnet: two Org1 peers)."""

    def gateway(*args: str) -> str:
        _, docs = render(tools, "-f", str(CHART / "values-testnet.yaml"), *args)
        fabric = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-fabric"))
        return fabric["data"]["GX_FABRIC_GATEWAY"]

    assert gateway() == "peer0-org1.fabric-testnet:7051"
    assert gateway("-f", str(CHART / "values-mainnet.yaml")) == (
        "peer0-org1.fabric-mainnet:7051,peer1-org1.fabric-mainnet:7051"
    )
    assert gateway("--set", "fabric.gateway={a:7051,b:7051,c:7051}") == "a:7051,b:7051,c:7051"
