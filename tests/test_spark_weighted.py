"""`--engine spark` bills time-weighted meters as DuckDB does: the same step pieces (LEAD
over (time, id), clipped to periods, segments and plan parts), so the same aggregates and
byte-identical invoices. One small test on the test run's one local Spark session (the `spark`
fixture, tests/conftest.py; tests/test_spark.py has the rest of the Spark suite). Skipped, with
the reason, when pyspark or Java is missing.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ratecard[spark]')")
if shutil.which("java") is None:
    pytest.skip("no `java` on PATH: Spark needs Java 17 or later", allow_module_level=True)

from ratecard.billing import evaluate  # noqa: E402
from ratecard.usage import aggregate_usage  # noqa: E402
from ratecard.usage import spark as spark_engine  # noqa: E402

from test_weighted_engines import THROUGH, _fixed  # noqa: E402

from spark_helpers import SPARK_2  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPARK_2)]


def test_spark_bills_weighted_meters_as_duckdb_does(spark, tmp_path):
    plan, _, files = _fixed(tmp_path)
    ours = evaluate(plan, files, THROUGH, aggregator=aggregate_usage)
    theirs = evaluate(plan, files, THROUGH, aggregator=spark_engine.aggregate_usage)
    assert ours.ok, ours.diagnostics
    assert [d.message for d in theirs.diagnostics] == [d.message for d in ours.diagnostics]
    assert theirs.usage.aggregates == ours.usage.aggregates  # quantities, events and pieces
    assert any(a.held and "#" in a.window for a in ours.usage.aggregates), "a segment of a weighted line"
    assert theirs.run.model_dump_json(indent=2) == ours.run.model_dump_json(indent=2)
