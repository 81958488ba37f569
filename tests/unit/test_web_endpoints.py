"""The workers' web port serves /metrics, /healthz and /readyz, and nothing of Faust's own (issue
33, finding 7: /router/ answered 200 with the topology to anyone who reached the port); /metrics
takes a token when one is set (the chart's web.metricsAuth)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gxcommon.web import authorized
from gxcommon.worker_settings import WorkerSettings


def test_faust_serves_none_of_its_own_pages_but_its_index() -> None:
    from gxcommon.faust_app import make_app

    app = make_app(WorkerSettings(kafka_bootstrap="127.0.0.1:1", web_port=0), "results-writer")
    assert not (app.conf.web_router_enabled or app.conf.web_tables_enabled or app.conf.web_graph_enabled)
    assert not app.conf.web_stats_enabled
    # What remains of Faust's: "/", which answers {"status": "OK"} and nothing else.
    assert app.web._enabled_blueprints() == [("", "faust.web.apps.production_index:blueprint")]


def test_metrics_need_the_bearer_token_when_one_is_set() -> None:
    assert authorized(None, None) and authorized("Basic x", None)
    assert authorized("Bearer s3cret", "s3cret") and authorized("bearer  s3cret ", "s3cret")
    for header in (None, "", "Bearer", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret"):
        assert not authorized(header, "s3cret"), header


def test_the_token_is_read_from_its_file(tmp_path: Path) -> None:
    from gxcommon.settings import SettingsError

    (tmp_path / "token").write_text("t0ken\n")
    assert WorkerSettings(web_token_file=tmp_path / "token").web_token() == "t0ken"
    assert WorkerSettings().web_token() is None
    with pytest.raises(SettingsError, match="GX_WEB_TOKEN_FILE"):
        WorkerSettings(web_token_file=tmp_path / "none").web_token()
