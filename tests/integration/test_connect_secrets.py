"""The outbox connector's password reaches Kafka Connect through its FileConfigProvider: the
connector's config holds a reference, Connect's REST API never returns the password, and the file
is readable by its owner only."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from connectors.deploy import password_reference
from gxcommon.dsn import password as dsn_password


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def test_the_rest_api_shows_a_reference_not_the_password(pipeline: dict[str, str]) -> None:
    password = dsn_password(pipeline["GX_PG_DSN"])
    assert len(password) > 8
    base = pipeline["GX_CONNECT_URL"]
    config = json.loads(get(f"{base}/connectors/gx-outbox/config"))
    ref = config["database.password"]
    assert ref.startswith("${file:") and ref.endswith(":database.password}"), ref
    for path in (
        "/connectors/gx-outbox",
        "/connectors/gx-outbox/config",
        "/connectors/gx-outbox/status",
        "/connectors?expand=info&expand=status",
    ):
        assert password not in get(f"{base}{path}"), path
    assert json.loads(get(f"{base}/connectors/gx-outbox/status"))["connector"]["state"] == "RUNNING"
    secret = Path(ref[len("${file:") : -len(":database.password}")])
    assert secret.parent == Path(pipeline["GX_CONNECT_SECRETS_DIR"])
    assert secret.stat().st_mode & 0o777 == 0o600


def test_the_secret_file_keeps_any_password_exactly(tmp_path: Path) -> None:
    """Java's Properties syntax: what Connect reads back is the password as given."""
    import subprocess

    from stack import jars
    from stack.settings import StackSettings

    pw = " lead/=@:%\\tab\there#!"
    ref = password_reference(tmp_path, "c", pw)
    path = ref[len("${file:") : -len(":database.password}")]
    # Read it with Kafka's own FileConfigProvider (on the local stack's classpath).
    cp = jars.resolve("kafka", StackSettings().jars_dir)
    src = tmp_path / "Read.java"
    src.write_text("""import org.apache.kafka.common.config.provider.FileConfigProvider;
import java.util.*;
public class Read { public static void main(String[] a) throws Exception {
  FileConfigProvider p = new FileConfigProvider(); p.configure(new HashMap<>());
  System.out.print(p.get(a[0], new HashSet<>(List.of("database.password"))).data().get("database.password")); } }""")
    out = subprocess.run(
        [jars.require_java(), "-cp", f"{cp}/*", str(src), path], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == pw


def test_an_env_reference_reads_connects_own_environment(tmp_path: Path) -> None:
    """`${env:NAME}` (GX_CONNECT_PASSWORD_ENV, what docker-compose uses) through Kafka's own
    EnvVarConfigProvider, which the local Connect enables beside the file provider."""
    import os
    import subprocess

    from stack import jars
    from stack.settings import StackSettings

    cp = jars.resolve("kafka", StackSettings().jars_dir)
    src = tmp_path / "ReadEnv.java"
    src.write_text("""import org.apache.kafka.common.config.provider.EnvVarConfigProvider;
import java.util.*;
public class ReadEnv { public static void main(String[] a) throws Exception {
  EnvVarConfigProvider p = new EnvVarConfigProvider(); p.configure(new HashMap<>());
  System.out.print(p.get("", new HashSet<>(List.of(a[0]))).data().get(a[0])); } }""")
    pw = "gx/compose=pw@1 %20"
    out = subprocess.run(
        [jars.require_java(), "-cp", f"{cp}/*", str(src), "GX_OUTBOX_DB_PASSWORD"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GX_OUTBOX_DB_PASSWORD": pw},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == pw
