"""`--engine spark`: the same query on Spark (local mode) gives byte-identical invoices.

One local[2] Spark session serves the whole test run (the `spark` fixture,
tests/conftest.py: starting the JVM is most of the cost). Skipped, with the reason, when pyspark or Java is missing:
`pip install 'ratecard[spark]'` and a Java 17+ runtime enable them.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from functools import partial

import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'ratecard[spark]')")
if shutil.which("java") is None:
    pytest.skip("no `java` on PATH: Spark needs Java 17 or later", allow_module_level=True)

from ratecard.billing import evaluate  # noqa: E402
from ratecard.usage import aggregate_usage  # noqa: E402
from ratecard.usage import spark as spark_engine  # noqa: E402

from billing_helpers import compile_text  # noqa: E402
from render_helpers import run_cli  # noqa: E402
from warehouse_helpers import (  # noqa: E402
    CASES,
    CONFORMANCE,
    SCENARIO,
    SCENARIO_KEYS,
    SCENARIO_THROUGH,
    case_args,
    layouts,
    scenario_events,
    split_args,
    write_jsonl,
    write_parquet,
)

from spark_helpers import MASTER, SPARK, SPARK_2  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group(SPARK)]
# about half of this module runs in the second Spark group (tests/spark_helpers.py)
second_worker = pytest.mark.xdist_group(SPARK_2)


def _both(args, cwd, monkeypatch, capsys):
    duck = run_cli(args, cwd, monkeypatch, capsys)
    on_spark = run_cli([*args, "--engine", "spark", "--spark-master", MASTER], cwd, monkeypatch, capsys)
    return duck, on_spark


@pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")
@pytest.mark.parametrize("name", CASES)
@second_worker
def test_conformance_invoices_are_identical(name, spark, monkeypatch, capsys):
    if name.startswith("05"):  # one case sends the relations as temp views, not as VALUES
        monkeypatch.setattr(spark_engine, "INLINE_LIMIT", 0)
    duck, on_spark = _both(case_args(name), CONFORMANCE / name, monkeypatch, capsys)
    assert duck[0] == 0, duck[2]
    assert on_spark == duck


@pytest.mark.skipif(not (CONFORMANCE / "e05-malformed-usage").is_dir(), reason="no malformed-usage case")
def test_malformed_usage_gives_the_same_diagnostics(spark, monkeypatch, capsys):
    name = "e05-malformed-usage"
    duck, on_spark = _both(case_args(name), CONFORMANCE / name, monkeypatch, capsys)
    assert duck[0] == 1
    assert on_spark == duck


def _reports_agree(plan, files, through, **kw):
    ours = evaluate(plan, files, through, aggregator=aggregate_usage, **kw)
    theirs = evaluate(plan, files, through, aggregator=spark_engine.aggregate_usage, **kw)
    assert [d.message for d in theirs.diagnostics] == [d.message for d in ours.diagnostics]
    if ours.run is None:
        assert theirs.run is None
        return ours
    assert theirs.usage.aggregates == ours.usage.aggregates
    assert (theirs.usage.events_read, theirs.usage.billed, theirs.usage.rejected) == \
        (ours.usage.events_read, ours.usage.billed, ours.usage.rejected)
    assert theirs.run.model_dump_json(indent=2) == ours.run.model_dump_json(indent=2)
    return ours


@second_worker
def test_generated_scenario_in_every_file_layout(spark, tmp_path):
    """Every meter kind, segments, every rejection reason, JSON numbers, hostile
    values; JSONL, CSV and Parquet (struct, flat with TIMESTAMP time, JSON text)."""
    plan = compile_text(SCENARIO)
    files = layouts(tmp_path, scenario_events(), SCENARIO_KEYS)
    ours = _reports_agree(plan, files, dt.date.fromisoformat(SCENARIO_THROUGH))
    assert ours.usage.billed > 300 and any("#" in a.window for a in ours.usage.aggregates)
    assert all(n for r, n in ours.usage.rejected.items() if r != "bad_row")


BAD = [
    '{"id":"b1","type":"api.request","customer":"c_acme","time":"2026-01-02T00:00:00Z"',
    '{"type":"api.request","customer":"c_acme","time":"2026-01-02T00:00:00Z"}',
    '{"id":"b3","type":"api.request","customer":"c_acme","time":"yesterday"}',
    '{"id":"b4","type":"llm.completion","customer":"c_acme","time":"2026-01-02T00:00:00Z",'
    '"properties":{"tokens":"lots","region":"eu"}}',
    '{"id":"b6","type":"api.request","customer":"c_acme","time":"2026-01-02T00:00:00Z","properties":"x"}',
    '[1, 2]',
    '{"id":"b8","type":"api.request","customer":"c_acme","time":"2026-01-02T10:00+02:00"}',  # good: no seconds
]
# Good rows: a JSON number written with an exponent is the number it denotes (as the
# row reader and DuckDB read it), as a quantity and as a dimension value.
EXPONENTS = [json.dumps({"id": f"x{i}", "type": "llm.completion", "customer": "c_acme",
                         "time": "2026-01-02T00:00:00Z", "properties": {"region": "eu"}})
             .replace('"region"', f'"tokens": {raw}, "model": {raw}, "region"')
             for i, raw in enumerate(["1e3", "2.5E-2", "1.0e0", "12.50"])]


def test_bad_rows_are_named_and_skipped_alike(spark, tmp_path):
    """The same E500 diagnostics; with --skip-bad-rows the same invoices and skipped rows."""
    plan = compile_text(SCENARIO)
    events = scenario_events(200, seed=9)
    path = tmp_path / "u.jsonl"
    write_jsonl(path, events)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(BAD + EXPONENTS) + "\n\n")
    (tmp_path / "u.csv").write_text("id,type,customer,time,region\n"
                                    "c1,api.request,c_acme,2026-01-03T00:00:00Z,eu\n"
                                    "c2,api.request,c_acme,not-a-time,eu\n", encoding="utf-8")
    files = [str(path), str(tmp_path / "u.csv")]
    through = dt.date.fromisoformat(SCENARIO_THROUGH)
    failed = _reports_agree(plan, files, through)
    assert {d.code for d in failed.diagnostics} == {"E500"} and len(failed.diagnostics) == 7
    skipped = _reports_agree(plan, files, through, skip_bad_rows=str(tmp_path / "skipped.jsonl"))
    assert skipped.usage.rejected["bad_row"] == 7
    lines = [json.loads(x)["line"] for x in (tmp_path / "skipped.jsonl").read_text().splitlines()]
    assert len(lines) == 7
    models = {dict(a.dimensions)["model"] for a in skipped.usage.aggregates if a.meter == "TOKENS"}
    assert {"0.025", "1", "1000", "12.5"} <= models


def test_unreadable_files(spark, tmp_path):
    plan = compile_text(SCENARIO)
    (tmp_path / "u.xml").write_text("<x/>")
    (tmp_path / "u.parquet").write_text("not parquet")
    through = dt.date.fromisoformat(SCENARIO_THROUGH)
    report = spark_engine.aggregate_usage(plan, [], [], [str(tmp_path / "u.xml")])
    assert [d.code for d in report.diagnostics] == ["E501"]
    report = spark_engine.aggregate_usage(plan, [], [], [str(tmp_path / "u.parquet")])
    assert [d.code for d in report.diagnostics] == ["E501"] and "cannot read usage" in report.diagnostics[0].message
    ev = evaluate(plan, [str(tmp_path / "u.parquet")], through, aggregator=spark_engine.aggregate_usage)
    assert not ev.ok


def test_quoted_names_and_values(spark, tmp_path):
    hostile = compile_text('''
meter M { event "x'); DROP TABLE t; --"  count  dimensions model
  where model != "a'b\\\\c"
  rates { default : $1 } }
plan p { billing monthly  charge M }
contract c { customer "o'brien"  plan p  starts 2026-01-01 }
''')
    rows = [{"id": str(i), "type": "x'); DROP TABLE t; --", "customer": "o'brien",
             "time": "2026-01-03T00:00:00Z", "properties": {"model": m}}
            for i, m in enumerate(["z", "a'b\\c", "back\\slash", "`tick`", "a'b\\c"])]
    files = [write_jsonl(tmp_path / "it's.jsonl", rows)]
    ours = _reports_agree(hostile, files, dt.date(2026, 2, 1))
    assert sorted(a.dimensions[0][1] for a in ours.usage.aggregates) == ["`tick`", "back\\slash", "z"]


# ----------------------------------------------------------------- --usage-table


def _views(spark, files: list[str]) -> list[str]:
    """Each Parquet file as a temp view of the session ratecard's Spark engine joins
    (the same `local[2]` session: getOrCreate), like a table in a metastore."""
    names = []
    for i, path in enumerate(files):
        name = f"usage_view_{i}"
        spark.read.parquet(path).createOrReplaceTempView(name)
        names.append(name)
    return names


def test_usage_tables_bill_as_the_same_events_in_files(spark, tmp_path):
    """Tables in the flat layout (a TIMESTAMP `time`) and with `properties` as a STRUCT
    or JSON text give DuckDB's invoices over the same events in files."""
    plan = compile_text(SCENARIO)
    events = scenario_events()
    files = [write_parquet(tmp_path / f"{layout}.parquet", events[i::3], SCENARIO_KEYS, layout)
             for i, layout in enumerate(("struct", "flat-ts", "json"))]
    through = dt.date.fromisoformat(SCENARIO_THROUGH)
    ours = evaluate(plan, files, through, aggregator=aggregate_usage)
    theirs = evaluate(plan, [], through,
                      aggregator=partial(spark_engine.aggregate_usage, tables=_views(spark, files)))
    assert ours.ok and theirs.ok, [d.message for d in theirs.diagnostics]
    assert theirs.usage.aggregates == ours.usage.aggregates
    assert (theirs.usage.events_read, theirs.usage.rejected) == (ours.usage.events_read, ours.usage.rejected)
    assert theirs.run.model_dump_json(indent=2) == ours.run.model_dump_json(indent=2)
    # a table and a file together are one set of events (dedup spans both)
    both = evaluate(plan, files[:1], through,
                    aggregator=partial(spark_engine.aggregate_usage, tables=_views(spark, files[1:])))
    assert both.run.model_dump_json(indent=2) == ours.run.model_dump_json(indent=2)


@pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")
def test_usage_table_from_the_command_line(spark, tmp_path, monkeypatch, capsys):
    name = CASES[0]
    args = case_args(name)
    paths, contracts, usage, through = split_args(args)
    folder = CONFORMANCE / name
    table = f"usage_{name.replace('-', '_')}"
    spark.read.json([str(folder / u) for u in usage]).createOrReplaceTempView(table)
    duck = run_cli(args, folder, monkeypatch, capsys)
    common = [*paths, *[a for c in contracts for a in ("--contracts", c)], "--through", through]
    on_table = run_cli(["invoice", *common, "--usage-table", table, "--engine", "spark", "--spark-master", MASTER],
                    folder, monkeypatch, capsys)
    assert duck[0] == 0 and on_table == duck


def test_usage_table_problems(spark, tmp_path, monkeypatch, capsys):
    plan = compile_text(SCENARIO)
    through = dt.date.fromisoformat(SCENARIO_THROUGH)
    report = spark_engine.aggregate_usage(plan, [], [], [], tables=["no_such_events"])
    assert [d.code for d in report.diagnostics] == ["E501"]
    assert "cannot read usage table `no_such_events`" in report.diagnostics[0].message
    # bad rows in a table have no file line to name: one E500 with the count, or skipped
    rows = scenario_events(50, seed=5)
    rows[0] = {**rows[0], "time": "yesterday"}
    rows[1] = {**rows[1], "id": None}
    view = _views(spark, [write_parquet(tmp_path / "bad.parquet", rows, SCENARIO_KEYS, "struct")])
    engine = partial(spark_engine.aggregate_usage, tables=view)
    failed = evaluate(plan, [], through, aggregator=engine)
    assert [(d.code, d.message.split(" (")[0]) for d in failed.diagnostics] == [("E500", "2 bad usage rows")]
    skipped = evaluate(plan, [], through, aggregator=engine, skip_bad_rows=str(tmp_path / "skipped.jsonl"))
    assert skipped.ok and skipped.usage.rejected["bad_row"] == 2
    assert skipped.usage.events_read == 50 and skipped.run.events.balanced
    # the embedded engine reads files only
    code, out, err = run_cli(["invoice", "x.pricing", "--usage-table", "t", "--through", "2026-02-01"],
                          tmp_path, monkeypatch, capsys)
    assert code == 2 and "--usage-table needs --engine spark" in err


# ----------------------------------------------------------------- reading exactly (issue 13)


def _reading_cases():
    import test_usage_reading as reading

    return reading


@second_worker
def test_every_properties_layout_reads_alike_on_spark(spark, tmp_path):
    """Parquet MAP, STRUCT, JSON text and flat columns, CSV and JSONL: the same
    invoices as DuckDB (which agrees with the reference, test_usage_reading)."""
    import random

    reading = _reading_cases()
    plan = compile_text(reading.PRICING)
    rng = random.Random(13)
    events = [reading._complete({"id": f"e{rng.randint(0, 60)}", "customer": "c_acme",
                                 "type": rng.choice(["llm.completion", "api.request", "storage.snapshot", "seats.set"]),
                                 "time": f"2026-01-{rng.randint(1, 31):02d}T{rng.randint(0, 23):02d}:00:00Z",
                                 "properties": {k: v for k, v in {
                                     "tokens": str(rng.randint(0, 10**6)) + ".25",
                                     "gigabytes": str(rng.randint(0, 900)), "seats": str(rng.randint(0, 40)),
                                     "model": rng.choice(["gpt-4", "gpt-3.5", "ünï"]),
                                     "region": rng.choice(["eu", "us", "test"]),
                                     "user": rng.choice(["u1", "u2"])}.items() if rng.random() < 0.8}})
              for _ in range(120)]
    files = [str(reading._jsonl(tmp_path / "a.jsonl", events[0::6])),
             str(reading._csv(tmp_path / "b.csv", events[1::6], bom=True)),
             *[str(reading._parquet(tmp_path / f"{layout}.parquet", events[i + 2::6], layout))
               for i, layout in enumerate(("map", "struct", "json", "flat"))]]
    ours = _reports_agree(plan, files, dt.date(2026, 2, 1))
    assert ours.usage.billed > 50


def test_an_empty_text_is_absent_on_spark(spark, tmp_path):
    """A property given as "" reads as absent in every format (tests/test_empty_text.py),
    with a bad row (a quantity given as ""): the same diagnostics, and with
    --skip-bad-rows the same invoices, as DuckDB."""
    import test_empty_text as empty

    plan = compile_text(empty.PRICING)
    files = list(empty._files(tmp_path, empty.EVENTS + [empty.BAD]).values())
    through = dt.date(2026, 2, 1)
    failed = _reports_agree(plan, files, through)
    assert {d.code for d in failed.diagnostics} == {"E500"} and len(failed.diagnostics) == len(files)
    skipped = _reports_agree(plan, files, through, skip_bad_rows=str(tmp_path / "skipped.jsonl"))
    assert skipped.usage.rejected["bad_row"] == len(files)
    models = {dict(a.dimensions)["model"] for a in skipped.usage.aggregates if a.meter == "TOKENS"}
    assert models == {None, " ", "gpt-4"}


def test_numbers_times_and_bad_rows_read_alike_on_spark(spark, tmp_path):
    """Exact JSON numbers and exponents, impossible offsets, nanoseconds, and the
    rows a lenient reader would take: the same diagnostics as DuckDB, and with
    --skip-bad-rows the same invoices and the same rows set aside."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reading = _reading_cases()
    plan = compile_text(reading.PRICING)
    numbers = ["12345678901234567.123", "0.0000001", "1E2", "2.5e-3", "1.0000000000000000000000001",
               "-0.0", "123456789012345678901234567890123456789012", "1e400", "0.5e1"]
    lines = [reading._numbers_line(i, n, model=n).encode() for i, n in enumerate(numbers)]
    times = ["2026-01-31T23:00:00+99:00", "9999-12-31T23:59:59-23:59", "0000-06-01T00:00:00Z",
             "2026-01-31T23:59:59.999999999Z", "2026-01-10T10:00+02:00",
             "2026-01-11t10:00:00z", "2026-01-12t10:00+02:00"]  # RFC 3339: `t` and `z` may be small
    lines += [json.dumps(reading.ev(100 + i, t, "api.request", region="eu")).encode() for i, t in enumerate(times)]
    lines += [row.replace(b'"x', f'"x{i}'.encode(), 1) for i, row in enumerate(reading.NOT_GOOD.values())]
    path = tmp_path / "u.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    cells = tmp_path / "c.csv"
    cells.write_text("id,type,customer,time,region,tokens\n"
                     "c1,api.request,c_acme,2026-01-05T00:00:00Z,eu,\n"
                     "c2,api.request,c_acme,2026-01-05T00:00:00Z,eu,,extra\n"
                     'c3,llm.completion,c_acme,2026-01-05T00:00:00Z,"e\nu",1e2\n', encoding="utf-8")
    ns = tmp_path / "ns.parquet"
    pq.write_table(pa.table({"id": ["n1", "n2"], "type": ["api.request"] * 2, "customer": ["c_acme"] * 2,
                             "region": ["eu"] * 2,
                             "time": pa.array([1769903999999999999, 1769904000000000000], pa.timestamp("ns", tz="UTC"))}),
                   ns)
    files = [str(path), str(cells), str(ns)]
    through = dt.date(2026, 3, 1)
    failed = _reports_agree(plan, files, through)
    assert {d.code for d in failed.diagnostics} == {"E500"} and len(failed.diagnostics) >= 12
    skipped = _reports_agree(plan, files, through, skip_bad_rows=str(tmp_path / "skipped.jsonl"))
    calls = {a.window: a.quantity for a in skipped.usage.aggregates if a.meter == "EU_CALLS"}
    assert calls["acme@2026-01-01"] >= 5 and skipped.run.events.balanced


@second_worker
def test_a_usage_name_is_a_path_on_spark(spark, tmp_path):
    reading = _reading_cases()
    plan = compile_text(reading.PRICING)
    one = [reading.ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu")]
    two = [reading.ev(2, "2026-01-06T00:00:00Z", "api.request", region="eu"),
           reading.ev(3, "2026-01-07T00:00:00Z", "api.request", region="eu")]
    reading._jsonl(tmp_path / "u1.jsonl", two)
    reading._jsonl(tmp_path / "vmore.jsonl", two)
    files = [str(reading._jsonl(tmp_path / "u[1].jsonl", one)), str(reading._jsonl(tmp_path / "v*.jsonl", one))]
    ours = _reports_agree(plan, files, dt.date(2026, 2, 1))
    assert ours.usage.events_read == 2


DERIVED = """meter INPUT_TOKENS {
  event "llm.completion"
  sum prompt_tokens - cached_tokens + 0.5
  dimensions model
}
meter PEAK {
  event "llm.completion"
  max prompt_tokens - (cached_tokens - 1)
}
plan api {
  charge INPUT_TOKENS : $0.000003 per token
  charge PEAK : $0.01 per token
}
contract acme {
  customer "cus_acme"
  plan api
  starts 2026-01-01
}
"""


@second_worker
def test_derived_quantities_alike_on_spark(spark, tmp_path):
    """A derived quantity per event, exact (DECIMAL(38, 18)), and its bad rows named alike."""
    plan = compile_text(DERIVED)
    rows = [{"model": "a", "prompt_tokens": 1000, "cached_tokens": 400},
            {"model": "a", "prompt_tokens": "10.000000000000000001", "cached_tokens": 0.25},
            {"model": "b", "prompt_tokens": 5, "cached_tokens": 7},
            {"model": "b", "prompt_tokens": 1e3, "cached_tokens": 0}]
    events = [{"id": f"d{i}", "type": "llm.completion", "customer": "cus_acme",
               "time": f"2026-01-{i + 2:02d}T00:00:00Z", "properties": p} for i, p in enumerate(rows)]
    write_jsonl(tmp_path / "u.jsonl", events)
    through = dt.date(2026, 2, 1)
    good = _reports_agree(plan, [str(tmp_path / "u.jsonl")], through)
    quantities = {(a.meter, a.dimensions): a.quantity for a in good.usage.aggregates}
    assert str(quantities[("INPUT_TOKENS", (("model", "a"),))]) == "610.750000000000000001"
    write_jsonl(tmp_path / "bad.jsonl", events + [{**events[0], "id": "d9", "properties": {"model": "a"}}])
    bad = _reports_agree(plan, [str(tmp_path / "bad.jsonl")], through)
    assert ["missing property" in d.message for d in bad.diagnostics] == [True]


@pytest.mark.parametrize("inline", [True, False])
def test_a_plan_change_across_meters_bills_alike_on_spark(spark, monkeypatch, inline):
    """Billability by the plan in effect at each event's time (the golden plan-change-budgets:
    egress before the change and tickets after it are not in plan), with the relations
    inlined as VALUES or sent as temp views."""
    from pathlib import Path

    from ratecard.compiler import compile_paths

    if not inline:
        monkeypatch.setattr(spark_engine, "INLINE_LIMIT", 0)
    folder = Path(__file__).parent / "golden" / "invoices" / "plan-change-budgets"
    plan = compile_paths([str(folder / "project.pricing")]).plan
    ours = _reports_agree(plan, [str(folder / "usage.jsonl")], dt.date(2026, 4, 1))
    assert ours.usage.rejected["not_in_plan"] == 3 and ours.usage.billed == 11
