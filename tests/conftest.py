"""Shared pytest options and fixtures, and what a skip means under CI.

A test that needs a real part (Java for Spark, PostgreSQL, Chromium, the
conformance cases in ../shared/conformance) skips, with the reason, when the
part is missing on a developer's machine. Under CI (`.ci/run` sets
RATECARD_CI=1) a missing part is a failure, never a silent skip: every skip,
of a test or of a whole module, is reported as a failure with its reason.
See docs/testing.md.
"""

from __future__ import annotations

import os

import pytest

from spark_helpers import CONNECT_MODE, SPARK_GROUPS, LocalSpark, use_test_jvm_options

CI_VARIABLE = "RATECARD_CI"
use_test_jvm_options()  # before any test starts a JVM


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files under tests/golden/ from the current output "
                          "(review the diff before committing)")


@pytest.fixture
def update_golden(request) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL server for the whole session (tests/pg_helpers.py).

    Skipped, with the reason, where PostgreSQL cannot be started (a service skip)."""
    from pg_helpers import Unavailable, start_server

    try:
        server = start_server()
    except Unavailable as exc:
        pytest.skip(f"service skip: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_spark():
    """The one local Spark session of the test run (tests/spark_helpers.py): starting
    a SparkContext and warming its JVM up is most of a small Spark test's cost."""
    holder = LocalSpark()
    yield holder
    holder.stop()


@pytest.fixture
def spark(local_spark):
    """The local `local[2]` Spark session, started by the first test that needs it."""
    return local_spark.start()


@pytest.fixture(scope="module")
def no_local_spark(local_spark):
    """For a Spark Connect client in this process: no local session while it lives,
    and a local session may start again after it."""
    was_set = CONNECT_MODE in os.environ
    local_spark.stop()
    yield
    local_spark.connect_done(was_set)


def _spark_group(item) -> bool:
    marker = item.get_closest_marker("xdist_group")
    return marker is not None and (marker.args[:1] or [marker.kwargs.get("name")])[0] in SPARK_GROUPS


def pytest_collection_modifyitems(config, items):
    """The Spark tests first, Spark Connect's last among them, so that the local session
    starts once (see `no_local_spark`); every other test keeps its place.

    First, because under pytest-xdist (`make test`) one worker runs each Spark group
    (tests/spark_helpers.py), the longest units of the run: begun first, one on each
    worker, they run beside everything else instead of after it (xdist hands the
    units out in collection order, one to each worker in turn)."""
    items.sort(key=lambda item: (not _spark_group(item), item.get_closest_marker("spark_connect") is not None))


def under_ci() -> bool:
    return os.environ.get(CI_VARIABLE, "") not in ("", "0")


def _skip_reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (file, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_under_ci(report) -> None:
    reason = _skip_reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI ({CI_VARIABLE}={os.environ.get(CI_VARIABLE)}), which is a failure: "
                       f"{reason}\n"
                       "CI must have every part the tests need (Java, PostgreSQL, Chromium, "
                       "../shared/conformance); see docs/testing.md")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and under_ci() and not hasattr(report, "wasxfail"):
        _fail_under_ci(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module that skips itself (`pytest.importorskip`, `pytest.skip(allow_module_level=True)`)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and under_ci():
        _fail_under_ci(report)
