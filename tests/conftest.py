"""Test-wide rules.

Under ``GX_REQUIRE_STACK=1`` (CI sets it) a skipped integration test is a failure: an integration
test that silently skips proves nothing.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_STACK = os.environ.get("GX_REQUIRE_STACK") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_STACK and report.skipped and item.get_closest_marker("integration"):
        report.outcome = "failed"
        report.longrepr = f"integration test skipped under GX_REQUIRE_STACK=1: {report.longrepr}"
