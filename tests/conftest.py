"""Test-wide rules.

Under ``GX_REQUIRE_STACK=1`` (CI sets it) a skipped integration test is a failure: an integration
test that silently skips proves nothing.

A test marked ``last`` runs after every other test of the session, in the order collected, whatever
its file is called and wherever it is named on the command line (the secrets-hygiene scan reads
what all the others left behind).
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

REQUIRE_STACK = os.environ.get("GX_REQUIRE_STACK") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "last: runs after every other test of the session (tests/conftest.py)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    # The tests marked `last` move to the end; both parts keep their collected order.
    items[:] = [i for i in items if not i.get_closest_marker("last")] + [
        i for i in items if i.get_closest_marker("last")
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if REQUIRE_STACK and report.skipped and item.get_closest_marker("integration"):
        report.outcome = "failed"
        report.longrepr = f"integration test skipped under GX_REQUIRE_STACK=1: {report.longrepr}"
    return report
