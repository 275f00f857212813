"""`--engine spark` computes `*` and `/` in derived quantities as the row reader and DuckDB
do: the same long division on whole numbers of 1e-9 (DECIMAL(38, 0) on Spark), rounded once
half-even at 18 places, and the same bad rows. Found missing once: the Spark engine adapts the
query with `dialects.spark_tree`, not `adapt`, and the whole numbers stayed DuckDB's INT128,
which Spark cannot parse (every `/` meter failed on Spark). One small test on the test run's
one local Spark session (the `spark` fixture, tests/conftest.py)."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ratecard[spark]')")
if shutil.which("java") is None:
    pytest.skip("no `java` on PATH: Spark needs Java 17 or later", allow_module_level=True)

from billing_helpers import compile_text, event, write_events  # noqa: E402
from ratecard.billing import evaluate  # noqa: E402
from ratecard.usage.duckdb import aggregate_usage as duckdb_aggregate  # noqa: E402
from ratecard.usage import spark as spark_engine  # noqa: E402

from test_derived_products import PRICING, THROUGH  # noqa: E402

from spark_helpers import SPARK_2  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPARK_2)]

ROWS = [
    {"a": "1", "b": "3"}, {"a": "2", "b": "3"},                        # ...333 + ...667
    {"a": "0.000000001", "b": "2000000000"},                           # 5e-19: a tie, to 0
    {"a": "0.000000003", "b": "2000000000"},                           # 1.5e-18: a tie, to 2e-18
    {"a": "-7", "b": "3"}, {"a": "7", "b": "-0.5"}, {"a": "1000", "b": "7"},
    {"a": "1", "b": "0"},                                              # a bad row: zero divisor
    {"a": "1.0000000001", "b": "2"},                                   # a bad row: 10 places
]


@pytest.mark.parametrize("expr, bad", [("a / b", 2), ("a * b + a / 4", 1)])
def test_spark_computes_products_and_quotients_as_duckdb_does(spark, tmp_path, expr, bad):
    plan = compile_text(PRICING.replace("EXPR", expr))
    files = [write_events(tmp_path / "u.jsonl", [event(f"e{i}", "c", f"2026-01-{2 + i:02d}T10:00:00Z", "e", **r)
                                                 for i, r in enumerate(ROWS)])]
    ours = evaluate(plan, files, THROUGH, aggregator=duckdb_aggregate, skip_bad_rows=str(tmp_path / "duck.bad"))
    theirs = evaluate(plan, files, THROUGH, aggregator=spark_engine.aggregate_usage,
                      skip_bad_rows=str(tmp_path / "spark.bad"))
    assert ours.ok, ours.diagnostics
    assert [d.message.replace("spark.bad", "duck.bad") for d in theirs.diagnostics] == [d.message for d in ours.diagnostics]
    assert (tmp_path / "spark.bad").read_text() == (tmp_path / "duck.bad").read_text()
    assert (tmp_path / "duck.bad").read_text().count("\n") == bad  # a zero divisor; 10 places in a product
    assert theirs.usage.aggregates == ours.usage.aggregates
    assert theirs.run.model_dump_json(indent=2) == ours.run.model_dump_json(indent=2)
    assert any(a.quantity != a.quantity.to_integral_value() for a in ours.usage.aggregates), "a fraction billed"
