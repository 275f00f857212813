"""`ratecard sql --priced --dialect spark`: the printed aggregation and rating run in a Spark
session (the test run's local one) over the flat events table, its result saved as Parquet
by Spark and billed with `invoice --aggregates`: the invoices of every line priced in
Python, byte for byte. Spark computes DECIMAL products exactly only with
`spark.sql.decimalOperations.allowPrecisionLoss` off, a session setting the query cannot
set: the query probes it, and a result computed with it on is refused (E504)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ratecard[spark]')")
if shutil.which("java") is None:
    pytest.skip("no `java` on PATH: Spark needs Java 17 or later", allow_module_level=True)

from hypothesis import HealthCheck, given, settings  # noqa: E402

from ratecard.compiler import compile_paths  # noqa: E402
from ratecard.usage.rating_print import INEXACT  # noqa: E402
from ratecard.usage.rows import needed_keys  # noqa: E402
from ratecard.usage.warehouse import property_columns  # noqa: E402

from spark_helpers import SPARK_2  # noqa: E402
from test_engine_rating import scenarios  # noqa: E402
from test_sql_priced import (PRICING, THROUGH, _cli, _events, _spy, _write, billed_like_python,  # noqa: E402
                             conformance_through)
from warehouse_helpers import CASES, CONFORMANCE, write_flat_csv  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPARK_2)]

EXACT_SETTING = "spark.sql.decimalOperations.allowPrecisionLoss"


@contextlib.contextmanager
def _precision_loss(spark, allowed: bool):
    """The session's `allowPrecisionLoss` for the block, restored after (the session is shared)."""
    before = spark.conf.get(EXACT_SETTING, "true")
    spark.conf.set(EXACT_SETTING, "true" if allowed else "false")
    try:
        yield
    finally:
        spark.conf.set(EXACT_SETTING, before)


def _run_in_spark(spark, sql: str, folder: Path, events: list[dict], keys, allowed: bool = False) -> Path:
    """The printed query in the Spark session over the flat events table (all text, as a
    warehouse table of the documented shape), its whole result written by Spark as Parquet."""
    table = write_flat_csv(folder / "table.csv", events, keys)
    spark.read.csv(str(table), header=True).createOrReplaceTempView("usage_events")
    out = folder / "spark-result"
    with _precision_loss(spark, allowed):
        spark.sql(sql.rstrip().rstrip(";")).coalesce(1).write.mode("overwrite").parquet(str(out))
    (part,) = out.glob("part-*.parquet")
    result = folder / "result.parquet"
    shutil.copyfile(part, result)
    return result


def _printed(folder: Path, capsys) -> tuple[str, list]:
    code, sql, err = _cli(["sql", str(folder / "t.pricing"), "--through", THROUGH, "--priced",
                           "--dialect", "spark"], capsys)
    assert code == 0, err
    plan = compile_paths([str(folder / "t.pricing")]).plan
    return sql, property_columns(needed_keys(plan))


def test_spark_runs_the_priced_query(spark, tmp_path, capsys):
    """Billed from Spark's result: the invoices of the usage itself (text and JSON), the
    lines carrying figures billed with them (most lines)."""
    events = _events()
    _write(tmp_path, PRICING, events)
    sql, keys = _printed(tmp_path, capsys)
    assert "allowPrecisionLoss=false" in sql.splitlines()[2]  # the header says how to run it
    result = _run_in_spark(spark, sql, tmp_path, events, keys)
    for fmt in ("json", "text"):
        base = ["invoice", str(tmp_path / "t.pricing"), "--through", THROUGH, "--format", fmt]
        code, expected, err = _cli([*base, "--usage", str(tmp_path / "usage.jsonl"), "--price-in", "python"],
                                   capsys)
        assert code == 0, err
        with _spy() as seen:
            code, out, err2 = _cli([*base, "--aggregates", str(result)], capsys)
        assert code == 0, err2
        assert out == expected
        assert seen["taken"] == seen["offered"] and seen["taken"] >= 40, seen


def test_a_result_computed_with_precision_loss_is_refused(spark, tmp_path, capsys):
    """With `allowPrecisionLoss` on, every row says so (`INEXACT`) and `invoice` refuses the
    file (E504, exit 1), naming the setting; `--price-in python` still bills it."""
    events = _events(n=120)
    _write(tmp_path, PRICING, events)
    sql, keys = _printed(tmp_path, capsys)
    result = _run_in_spark(spark, sql, tmp_path, events, keys, allowed=True)
    import pyarrow.parquet as pq

    assert {r["rc_prices"] for r in pq.read_table(result).to_pylist() if r["kind"] == "agg"} == {INEXACT}
    base = ["invoice", str(tmp_path / "t.pricing"), "--through", THROUGH]
    code, out, err = _cli([*base, "--aggregates", str(result)], capsys)
    assert code == 1 and out == ""
    assert "E504" in err and "rounds decimal products" in err and "allowPrecisionLoss=false" in err, err
    code, expected, _ = _cli([*base, "--usage", str(tmp_path / "usage.jsonl")], capsys)
    code2, billed, _ = _cli([*base, "--aggregates", str(result), "--price-in", "python"], capsys)
    assert code == code2 == 0 and billed == expected


@pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")
@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("08")])
def test_conformance_invoices_from_spark_priced_aggregates(spark, name, tmp_path, capsys, monkeypatch):
    """A conformance case with every price form (tiers and packages) through Spark (all eight
    run through DuckDB in tests/test_sql_priced.py; the property here covers generated plans)."""
    conformance_through(name, tmp_path, capsys, monkeypatch, "spark",
                        lambda sql, folder, events, keys: _run_in_spark(spark, sql, folder, events, keys))


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_spark_priced_aggregates_bill_as_the_python_pricer_does(spark, tmp_path_factory, scenario):
    """Generated plans and usage (tests/test_engine_rating.py's), the printed rating run in
    Spark: the invoices, diagnostics and `explain` arithmetic of every line priced in Python."""
    billed_like_python(scenario, tmp_path_factory.mktemp("sp"), "spark",
                       run=lambda sql, folder, events, keys: _run_in_spark(spark, sql, folder, events, keys))
