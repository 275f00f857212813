"""`ratecard sql --priced --dialect spark`: the printed aggregation and rating run in a Spark
session (the test run's local one) over the flat events table, its result saved as Parquet
by Spark and billed with `invoice --aggregates`: the invoices of every line priced in
Python, byte for byte. Spark computes DECIMAL products exactly only with
`spark.sql.decimalOperations.allowPrecisionLoss` off, a session setting the query cannot
set: the query probes it, and a result computed with it on is refused (E504)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ratecard[spark]')")
if shutil.which("java") is None:
    pytest.skip("no `java` on PATH: Spark needs Java 17 or later", allow_module_level=True)

from hypothesis import HealthCheck, event, given, settings  # noqa: E402

from ratecard.billing import engine_rating, evaluate  # noqa: E402
from ratecard.billing.pricer import Pricer  # noqa: E402
from ratecard.billing.scope import terms_and_windows  # noqa: E402
from ratecard.compiler import compile_paths  # noqa: E402
from ratecard.usage import aggregate_usage  # noqa: E402
from ratecard.usage.aggregates import aggregate_file  # noqa: E402
from ratecard.usage.rating_print import INEXACT  # noqa: E402
from ratecard.usage.rows import needed_keys  # noqa: E402
from ratecard.usage.warehouse import property_columns, warehouse_sql  # noqa: E402

from billing_helpers import compile_text, write_events  # noqa: E402
from spark_helpers import SPARK_2  # noqa: E402
from test_engine_rating import _diagnostics, _explained, scenarios  # noqa: E402
from test_sql_priced import PRICING, THROUGH, _cli, _events, _spy, _write  # noqa: E402
from warehouse_helpers import CASES, CONFORMANCE, case_args, split_args, write_flat_csv  # noqa: E402

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
def test_conformance_invoices_from_spark_priced_aggregates(spark, tmp_path, capsys, monkeypatch):
    """Two conformance cases (rate cards and overrides; tiers and packages) through Spark."""
    for name in [c for c in CASES if c.startswith(("01", "08"))]:
        args = case_args(name)
        paths, contracts, usage, through = split_args(args)
        folder = CONFORMANCE / name
        monkeypatch.chdir(folder)
        plan = compile_paths([str(folder / p) for p in paths], contracts=[str(folder / c) for c in contracts]).plan
        keys = property_columns(needed_keys(plan))
        code, expected, err = _cli(args, capsys)
        assert code == 0, err
        sql_args = [*paths, *[a for c in contracts for a in ("--contracts", c)], "--through", through,
                    "--priced", "--dialect", "spark"]
        code, sql, err1 = _cli(["sql", *sql_args], capsys)
        assert code == 0, err1
        events = [json.loads(line) for f in usage for line in Path(f).read_text(encoding="utf-8").splitlines()
                  if line.strip()]
        here = tmp_path / name
        here.mkdir()
        result = _run_in_spark(spark, sql, here, events, keys)
        swapped = list(args)
        i = swapped.index("--usage")
        swapped[i:i + 2] = ["--aggregates", str(result)]
        code, out, err2 = _cli(swapped, capsys)
        assert code == 0, err2
        assert out == expected and err2 == err, name


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_spark_priced_aggregates_bill_as_the_python_pricer_does(spark, tmp_path_factory, scenario):
    """Generated plans and usage (tests/test_engine_rating.py's): the printed rating run in
    Spark, billed from its result, gives the invoices, diagnostics and `explain` arithmetic
    of every line priced in Python."""
    text, events = scenario
    folder = tmp_path_factory.mktemp("sp")
    plan = compile_text(text)
    files = [write_events(folder / "u.jsonl", events)]
    through = dt.date(2026, 9, 1)
    terms, windows = terms_and_windows(plan, through)
    printed = engine_rating.EnginePrices(plan, Pricer(plan, explain=False)).printed(windows)
    keys = needed_keys(plan)
    sql = warehouse_sql(plan, terms, windows, "spark", keys=keys, priced=printed)
    result = _run_in_spark(spark, sql, folder, events, property_columns(keys))
    billed = evaluate(plan, [str(result)], through, aggregator=aggregate_file)
    oracle = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=False)
    assert _diagnostics(billed) == _diagnostics(oracle)
    if oracle.run is None:
        assert billed.run is None
        event("refused (E503/E510/...)")
        return
    assert billed.run.model_dump_json(indent=2) == oracle.run.model_dump_json(indent=2)
    assert _explained(billed) == _explained(oracle)
    rated = sum(a.rated is not None for a in billed.usage.aggregates)
    event(f"lines priced by the query: {'none' if not rated else 'some'}")
