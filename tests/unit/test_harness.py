"""The test harness itself: what runs before the tests imports no test module."""

from __future__ import annotations

import ast
from pathlib import Path

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
