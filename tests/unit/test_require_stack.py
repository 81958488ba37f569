"""Under GX_REQUIRE_STACK=1 a skipped integration test fails instead."""

import pytest


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, require: bool) -> pytest.RunResult:
    from pathlib import Path

    conftest = (Path(__file__).parents[1] / "conftest.py").read_text()
    pytester.makeconftest(conftest)
    pytester.mkpydir("integration")
    (pytester.path / "integration" / "test_x.py").write_text(
        "import pytest\n\ndef test_needs_stack():\n    pytest.skip('no stack here')\n"
    )
    if require:
        monkeypatch.setenv("GX_REQUIRE_STACK", "1")
    else:
        monkeypatch.delenv("GX_REQUIRE_STACK", raising=False)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider")


def test_skip_is_a_skip_without_the_flag(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _run(pytester, monkeypatch, require=False).assert_outcomes(skipped=1)


def test_skip_is_a_failure_with_the_flag(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _run(pytester, monkeypatch, require=True)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*skipped under GX_REQUIRE_STACK=1*"])
