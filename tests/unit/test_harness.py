"""The test harness itself: what runs before the tests imports no test module, and a test marked
``last`` runs last."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_set_up_before_the_tests_imports_no_test_module() -> None:
    """tests/prepare.py runs before pytest (scripts/test.sh): what it builds lives in helper modules,
    not in test files, whose imports and fixtures are pytest's to collect."""
    modules = imported_modules(TESTS / "prepare.py")
    assert "tests.integration.compose_check" in modules  # the check sees the imports inside functions
    assert [m for m in modules if any(part.startswith("test_") for part in m.split("."))] == []


def test_a_test_marked_last_runs_after_all_others_whatever_its_name_and_place(pytester: pytest.Pytester) -> None:
    """The secure pass's secrets scan (marked ``last``) reads what every other test left behind."""
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    pytester.makepyfile(
        test_a_scan="import pytest\n\npytestmark = pytest.mark.last\n\ndef test_scan():\n    pass\n",
        test_b="def test_one():\n    pass\n\ndef test_two():\n    pass\n",
        test_c="def test_three():\n    pass\n",
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", "-q", "test_a_scan.py", "test_c.py", "test_b.py"
    )
    collected = [line for line in result.outlines if "::" in line]
    assert collected == [
        "test_c.py::test_three",
        "test_b.py::test_one",
        "test_b.py::test_two",
        "test_a_scan.py::test_scan",
    ]
