"""Under CI (RATECARD_CI=1, set by .ci/run) a skipped test is a failure; elsewhere it
is a skip with its reason printed (`make test` runs pytest with -rs).

The hooks of tests/conftest.py run here in a pytest of their own (pytester),
on tests that skip the ways the suite's do: a `skipif` marker, `pytest.skip`
in a test or fixture, and a module that skips itself (`importorskip`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")
TESTS = '''
import pytest

needs_java = pytest.mark.skipif(True, reason="no `java` on PATH: Spark needs Java 17 or later")


@needs_java
def test_marked():
    pass


def test_skips_itself():
    pytest.skip("PostgreSQL (initdb, pg_ctl, psql) is not installed")


@pytest.fixture
def browser():
    pytest.skip("no chromium")


def test_in_a_fixture(browser):
    pass


@pytest.mark.xfail(reason="a known bug", run=False)
def test_expected_to_fail():
    pass


def test_passes():
    pass
'''
MODULE_SKIP = '''
import pytest

pytest.importorskip("no_such_module_for_ratecard", reason="pyspark is not installed")


def test_never_runs():
    pass
'''


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(test_services=TESTS)
    return pytester


def test_skips_are_skips_with_their_reasons_outside_ci(suite, monkeypatch):
    monkeypatch.delenv("RATECARD_CI", raising=False)
    result = suite.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(["SKIPPED *no `java` on PATH*", "SKIPPED *PostgreSQL*", "SKIPPED *no chromium*"])


@pytest.mark.parametrize("value", ["1", "true"])
def test_under_ci_every_skip_is_a_failure(value, suite, monkeypatch):
    monkeypatch.setenv("RATECARD_CI", value)
    result = suite.runpytest("-rs")
    # a skip in a test's setup (a marker, a fixture) fails as an error, in its body as a failure
    result.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    result.stdout.fnmatch_lines_random([
        f"*skipped under CI (RATECARD_CI={value}), which is a failure: no `java` on PATH: Spark needs Java 17*",
        f"*skipped under CI (RATECARD_CI={value}), which is a failure: PostgreSQL (initdb, pg_ctl, psql)*",
        f"*skipped under CI (RATECARD_CI={value}), which is a failure: no chromium*",
    ])
    assert result.ret == 1


def test_ci_zero_is_not_ci(suite, monkeypatch):
    monkeypatch.setenv("RATECARD_CI", "0")
    suite.runpytest().assert_outcomes(passed=1, skipped=3, xfailed=1)


def test_a_module_that_skips_itself_fails_under_ci(suite, monkeypatch):
    suite.makepyfile(test_spark_like=MODULE_SKIP)
    monkeypatch.delenv("RATECARD_CI", raising=False)
    suite.runpytest("test_spark_like.py").assert_outcomes(skipped=1)
    monkeypatch.setenv("RATECARD_CI", "1")
    result = suite.runpytest("test_spark_like.py")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*skipped under CI (RATECARD_CI=1), which is a failure: pyspark is not installed*"])


ROOT = Path(__file__).resolve().parents[1]


def test_make_test_reports_skips_and_ci_needs_the_conformance_suite(tmp_path):
    """`make test` prints skip reasons (-rs); under CI a missing ../shared/conformance
    fails the run instead of printing "skipped". (`make -n` prints the recipe
    without running it; the conformance step is then run alone.)"""
    recipe = subprocess.run(["make", "-n", "test", "STAMP=", "BIN=.venv/bin"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    assert "-m pytest -rs" in recipe
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "RATECARD_CI=1" in run and "make test" in run
    for ci, code, said in (("1", 2, "missing under CI"), ("", 0, "conformance suite skipped")):
        p = subprocess.run(["make", "-s", "test-conformance", f"CONFORMANCE={tmp_path / 'none'}"], cwd=ROOT,
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "RATECARD_CI": ci})
        assert p.returncode == code, p.stdout + p.stderr
        assert said in p.stdout + p.stderr
