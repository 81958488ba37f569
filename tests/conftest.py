"""Test-wide rules.

Under ``GX_REQUIRE_STACK=1`` (CI sets it) a skipped integration test is a failure: an integration
test that silently skips proves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

REQUIRE_STACK = os.environ.get("GX_REQUIRE_STACK") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if REQUIRE_STACK and report.skipped and item.get_closest_marker("integration"):
        report.outcome = "failed"
        report.longrepr = f"integration test skipped under GX_REQUIRE_STACK=1: {report.longrepr}"
    return report
