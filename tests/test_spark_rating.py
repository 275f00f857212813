"""Rating on Spark (`usage/spark_rating.py`) against the Python pricer, the oracle.

The oracle property of tests/test_engine_rating.py (its generated plans and usage,
imported), with the whole-period lines priced by Spark SQL on the test run's one local
Spark session. A full `--engine spark` run costs a Spark aggregation of several stages
(~10-30 s on the two busy cores the tests share), so the property runs the rating on
Spark over DuckDB's aggregation result (the same rows: tests/test_spark.py holds the two
aggregations to each other) through billing, and the fixed cases below run the real
`--engine spark` path end to end. Skipped, with the reason, when pyspark or Java is missing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Context
import shutil
import uuid

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ratecard[spark]')")
if shutil.which("java") is None:
    pytest.skip("no `java` on PATH: Spark needs Java 17 or later", allow_module_level=True)

from hypothesis import HealthCheck, event, given, settings  # noqa: E402

from ratecard.billing import evaluate  # noqa: E402
from ratecard.usage import aggregate_usage  # noqa: E402
from ratecard.usage import spark as spark_engine  # noqa: E402
from ratecard.usage import spark_rating  # noqa: E402
from ratecard.usage.driver import aggregate  # noqa: E402
from ratecard.usage.duckdb import DuckDBEngine, plain_json, register_relations  # noqa: E402
from ratecard.usage.query import build_query  # noqa: E402
from ratecard.usage.rating_query import RATED_COLUMNS  # noqa: E402
from ratecard.usage.result import read_result  # noqa: E402
from ratecard.usage.rows import needed_keys  # noqa: E402

from billing_helpers import compile_text, write_events  # noqa: E402
from spark_helpers import SPARK_2, spy_on_spark_rating  # noqa: E402
from test_engine_rating import _diagnostics, _explained, scenarios  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPARK_2)]


class _SparkRatedDuckDB(DuckDBEngine):
    """DuckDB's aggregation, its result rows rated by Spark (`spark_rating.rate`) exactly as a
    Spark run rates its own: the same settings, views, queries and fallbacks."""

    def __init__(self, spark, rating):
        super().__init__(rating=None)
        self.spark, self.spark_rating = spark, rating

    def run(self, plan, terms, windows, sources):
        from pyspark.sql.types import LongType, StringType, StructField, StructType

        keys = needed_keys(plan)
        self.sources = [plain_json(self.conn, s, keys) for s in sources]
        self.relations = register_relations(self.conn, terms, windows)
        query, shape = build_query(plan, self.sources, self.relations)
        assert not shape.held  # the generated plans have no weighted meter
        rows = self.conn.sql(query.sql(dialect="duckdb")).fetchall()
        names = ["kind", "window", "meter", *[f"d{i}" for i in range(shape.dimensions)], "quantity", "events"]
        schema = StructType([StructField(n, LongType() if n == "events" else StringType()) for n in names])
        run = uuid.uuid4().hex[:12]
        source = f"ratecard_duckdb_rows_{run}"
        created = [(source, False)]
        saved = {key: self.spark.conf.get(key, None) for key in spark_engine._RUN_SETTINGS}
        for key, value in spark_engine._RUN_SETTINGS.items():
            self.spark.conf.set(key, value)
        try:
            self.spark.createDataFrame(rows, schema).createOrReplaceTempView(source)
            rated = spark_rating.rate(self.spark, f"SELECT * FROM {source}", shape.dimensions, self.spark_rating,
                                      windows, run, created)
        finally:
            spark_engine._clean_up(self.spark, created, saved)
        return read_result(plan, rated, shape.dimensions, len(RATED_COLUMNS))


def _spark_rated(spark):
    def aggregator(plan, terms, windows, files, *, skip_bad_rows=None, memory_limit=None, threads=None,
                   rating=None):
        assert rating is not None
        return aggregate(_SparkRatedDuckDB(spark, rating), plan, terms, windows, files, skip_bad_rows)

    aggregator.prices_lines = True
    return aggregator


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_spark_prices_every_line_as_the_python_pricer_does(spark, tmp_path_factory, scenario):
    text, events = scenario
    plan = compile_text(text)
    files = [write_events(tmp_path_factory.mktemp("u") / "u.jsonl", events)]
    through = dt.date(2026, 9, 1)
    engine = evaluate(plan, files, through, aggregator=_spark_rated(spark), price_in_engine=True)
    oracle = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=False)
    assert _diagnostics(engine) == _diagnostics(oracle)
    if oracle.run is None:
        assert engine.run is None
        event("refused (E503/E510/...)")
        return
    assert engine.run.model_dump_json(indent=2) == oracle.run.model_dump_json(indent=2)
    assert _explained(engine) == _explained(oracle)
    rated = sum(a.rated is not None for a in engine.usage.aggregates)
    event(f"lines priced by Spark: {'none' if not rated else 'some'}")


# One plan, one meter per price form, each line's price a fixed figure: a tie (0.025 and
# 0.045 -> half-even 0.02 and 0.04), graduated and volume tiers, packages, and a line whose
# product overflows: a quantity with 18 decimals types every quantity DECIMAL(38, 18), a price
# with 12 decimals every rate DECIMAL(38, 12), so their products are DECIMAL(38, 30), and
# 10**20 calls at ~10**12 a call do not fit: Spark's try_multiply gives NULL and billing
# prices that line in Python, while the others (that 10**-18 call too) stay Spark's.
_FIXED = """
currency USD
rounding {rounding}
meter TIES {{ event "tie"  sum n }}
meter GRAD {{ event "grad"  sum n }}
meter VOL {{ event "vol"  sum n }}
meter PACK {{ event "pack"  sum n }}
meter HUGE {{ event "huge"  sum n }}
plan p {{
  billing monthly
  charge TIES : $0.005 per call
  charge GRAD : graduated per call {{ up to 3 : $1  above : $0.5 + $2 }}
  charge VOL : volume per call {{ up to 3 : $1 + $1  above : $0.25 }}
  charge PACK : package $3 per 10 calls
  charge HUGE : $999999999999.000000000001 per call
}}
contract a {{
  customer "ca"
  plan p
  starts 2026-01-01
}}
"""


def _fixed_events() -> list[dict]:
    lines = [("tie", "5", 1), ("tie", "9", 2), ("grad", "5", 1), ("grad", "2.5", 2), ("vol", "7", 1),
             ("vol", "2", 2), ("pack", "25", 1), ("pack", "7", 2), ("huge", "99999999999999999999", 1),
             ("huge", "0.000000000000000001", 2)]
    return [{"id": f"e{i}", "type": kind, "customer": "ca", "time": f"2026-0{month}-02T00:00:00Z",
             "properties": {"n": n}} for i, (kind, n, month) in enumerate(lines)]


def test_spark_prices_the_lines_itself_with_ties_and_overflow(spark, tmp_path):
    """The unit, graduated, volume and package lines come back priced by Spark (so this
    cannot pass by leaving every line to Python), the ties rounded half-even, the
    overflowing line left to Python; the invoices are the Python pricer's."""
    plan = compile_text(_FIXED.format(rounding="half_even"))
    usage = [write_events(tmp_path / "u.jsonl", _fixed_events())]
    through = dt.date(2026, 3, 1)
    engine = evaluate(plan, usage, through, aggregator=_spark_rated(spark), price_in_engine=True)
    oracle = evaluate(plan, usage, through, aggregator=aggregate_usage, price_in_engine=False)
    assert _diagnostics(engine) == _diagnostics(oracle) == []
    rated = {(a.meter, str(a.quantity)): a.rated for a in engine.usage.aggregates}
    assert len(rated) == 10
    assert rated.pop(("HUGE", "99999999999999999999")) is None  # overflow: Python's
    assert all(r is not None for r in rated.values()), rated
    assert [rated[("TIES", q)][1:3] for q in ("5", "9")] == [(D("0.02"), D("0.025")), (D("0.04"), D("0.045"))]
    assert rated[("GRAD", "5")][1] == D("6.00") and rated[("VOL", "7")][1] == D("1.75")
    assert rated[("PACK", "25")][3] == 3  # packages
    assert engine.run.model_dump_json(indent=2) == oracle.run.model_dump_json(indent=2)
    assert _explained(engine) == _explained(oracle)
    amounts = {(line.charge, str(line.quantity)): str(line.amount)
               for inv in engine.run.invoices for line in inv.lines}
    assert amounts[("TIES", "5")] == "0.02" and amounts[("TIES", "9")] == "0.04"
    wide = Context(prec=60)
    huge = wide.multiply(D("99999999999999999999"), D("999999999999.000000000001"))  # 32 digits before the point
    assert amounts[("HUGE", "99999999999999999999")] == str(huge.quantize(D("0.01"), context=wide))


@pytest.mark.parametrize("rounding, expected", [("half_even", ["0.02", "0.04"]), ("half_up", ["0.03", "0.05"])])
def test_spark_rounds_ties_in_the_project_mode(spark, tmp_path, rounding, expected):
    """The rounding spelled out in SQL (Spark's ROUND, like DuckDB's, is half away from zero)."""
    plan = compile_text(_FIXED.format(rounding=rounding))
    usage = [write_events(tmp_path / "u.jsonl", [e for e in _fixed_events() if e["type"] == "tie"])]
    ev = evaluate(plan, usage, dt.date(2026, 3, 1), aggregator=_spark_rated(spark), price_in_engine=True)
    ties = [a for a in ev.usage.aggregates if a.meter == "TIES"]
    assert [str(a.rated[1]) for a in ties] == expected  # Spark's own figures
    assert [str(line.amount) for inv in ev.run.invoices for line in inv.lines if line.charge == "TIES"] == expected


def test_rating_with_precision_loss_allowed_leaves_every_line_to_python(spark, tmp_path, monkeypatch):
    """With `allowPrecisionLoss` on, a product of two DECIMAL(38, s) could be rounded to fit:
    Spark prices nothing, billing prices every line in Python, the same invoices."""
    plan = compile_text(_FIXED.format(rounding="half_even"))
    usage = [write_events(tmp_path / "u.jsonl", [e for e in _fixed_events() if e["type"] in ("tie", "grad")])]
    monkeypatch.setitem(spark_engine._RUN_SETTINGS, spark_rating.EXACT_SETTING, "true")
    ev = evaluate(plan, usage, dt.date(2026, 3, 1), aggregator=_spark_rated(spark), price_in_engine=True)
    oracle = evaluate(plan, usage, dt.date(2026, 3, 1), aggregator=aggregate_usage, price_in_engine=False)
    assert ev.usage.aggregates and all(a.rated is None for a in ev.usage.aggregates)
    assert ev.run.model_dump_json(indent=2) == oracle.run.model_dump_json(indent=2)


def test_a_rating_query_spark_refuses_leaves_every_line_to_python(spark, tmp_path, monkeypatch):
    """An error Spark raises in the rating itself (here: a priced query naming a column that is
    not there) is not the run's failure: billing prices every line in Python, the same invoices."""
    from sqlglot import exp

    def broken(*args, **kwargs):
        return exp.select(exp.column("no_such_column")).from_("rc_result")

    monkeypatch.setattr(spark_rating, "priced_query", broken)
    plan = compile_text(_FIXED.format(rounding="half_even"))
    usage = [write_events(tmp_path / "u.jsonl", [e for e in _fixed_events() if e["type"] in ("tie", "vol")])]
    ev = evaluate(plan, usage, dt.date(2026, 3, 1), aggregator=_spark_rated(spark), price_in_engine=True)
    oracle = evaluate(plan, usage, dt.date(2026, 3, 1), aggregator=aggregate_usage, price_in_engine=False)
    assert _diagnostics(ev) == []
    assert ev.usage.aggregates and all(a.rated is None for a in ev.usage.aggregates)
    assert ev.run.model_dump_json(indent=2) == oracle.run.model_dump_json(indent=2)


def test_lines_lost_after_their_checkpoint_are_computed_again(spark, tmp_path, monkeypatch):
    """An executor lost between the checkpoint and the rating takes the checkpointed lines
    with it (simulated: every persisted block of the session dropped right after the
    checkpoint). The rating fails, and so would reading the lines unpriced; the run
    computes the aggregation again from the events and prices every line in Python: the
    same invoices, not a failed run."""
    calls = []
    priced = spark_rating._priced

    def lose_blocks_then_price(spark_, *args, **kwargs):
        jsc = spark_.sparkContext._jsc
        lost = list(jsc.getPersistentRDDs().values())
        for rdd in lost:
            rdd.unpersist(True)
        calls.append(len(lost))
        return priced(spark_, *args, **kwargs)

    monkeypatch.setattr(spark_rating, "_priced", lose_blocks_then_price)
    plan = compile_text(_FIXED.format(rounding="half_even"))
    usage = [write_events(tmp_path / "u.jsonl", _fixed_events())]
    through = dt.date(2026, 3, 1)
    ev = evaluate(plan, usage, through, aggregator=spark_engine.aggregate_usage, price_in_engine=True)
    oracle = evaluate(plan, usage, through, aggregator=aggregate_usage, price_in_engine=False)
    assert calls and calls[0] >= 1  # the checkpoint's blocks were there, and were dropped
    assert _diagnostics(ev) == _diagnostics(oracle) == []
    assert ev.usage.aggregates and all(a.rated is None for a in ev.usage.aggregates)
    assert ev.run.model_dump_json(indent=2) == oracle.run.model_dump_json(indent=2)


def test_engine_spark_price_in_engine_end_to_end(spark, tmp_path, capsys, monkeypatch):
    """`ratecard invoice --engine spark --price-in engine`: the Spark aggregator (through the
    command line's partial) is handed billing's request, its own aggregation is rated on
    Spark (the rated rows are non-NULL), and the JSON is `--price-in python`'s byte for byte."""
    from ratecard.cli import main

    seen = spy_on_spark_rating(monkeypatch)
    project = tmp_path / "p.pricing"
    project.write_text("""
currency USD
meter CALLS { event "call"  sum n }
plan p {
  billing monthly
  charge CALLS : graduated per call { up to 3 : $1  above : $0.5 + $2 }
}
contract a {
  customer "ca"
  plan p
  starts 2026-01-01
}
""", encoding="utf-8")
    usage = write_events(tmp_path / "u.jsonl", [
        {"id": f"e{i}", "type": "call", "customer": "ca", "time": f"2026-0{i + 1}-02T00:00:00Z",
         "properties": {"n": n}} for i, n in enumerate(["5", "2.5"])])
    outputs = []
    for engine, where in (("spark", "engine"), ("duckdb", "python")):
        capsys.readouterr()
        args = ["invoice", str(project), "--usage", usage, "--through", "2026-03-01", "--format", "json",
                "--engine", engine, "--price-in", where]
        assert main(args + (["--spark-master", "local[2]"] if engine == "spark" else [])) == 0
        outputs.append(capsys.readouterr().out)
    agg = [row for row in seen if row["kind"] == "agg"]
    assert len(agg) == 2 and all(row["rc_amount"] is not None for row in agg), seen
    assert sorted(str(row["rc_amount"]) for row in agg) == ["2.50", "6.00"]
    assert outputs[0] == outputs[1] and '"amount": "6.00"' in outputs[0]


def D(text: str):
    from decimal import Decimal

    return Decimal(text)
