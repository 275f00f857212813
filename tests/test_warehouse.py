"""`ratecard sql` (the aggregation query for a warehouse) and `invoice --aggregates`
(its saved result): the printed query gives the DuckDB engine's aggregates, and
invoices from aggregates are byte-identical to invoices from usage."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from ratecard.billing import evaluate
from ratecard.billing.scope import terms_and_windows
from ratecard.cli import main
from ratecard.compiler import compile_paths
from ratecard.usage import aggregate_usage
from ratecard.usage.records import ContractTerm, Window
from ratecard.usage.result import read_result
from ratecard.usage.rows import needed_keys
from ratecard.usage.warehouse import DIALECTS, inline_relations, property_columns, warehouse_sql

from billing_helpers import compile_text
from warehouse_helpers import (
    CASES,
    CONFORMANCE,
    SCENARIO,
    SCENARIO_KEYS,
    SCENARIO_THROUGH,
    case_args,
    scenario_events,
    split_args,
    write_flat_csv,
    write_jsonl,
)

needs_conformance = pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")
UTC = dt.timezone.utc


def _case_plan(name: str):
    paths, contracts, usage, through = split_args(case_args(name))
    folder = CONFORMANCE / name
    compiled = compile_paths([str(folder / p) for p in paths], contracts=[str(folder / c) for c in contracts])
    plan = compiled.plan
    return plan, [str(folder / u) for u in usage], dt.date.fromisoformat(through)


def _scenario(tmp_path: Path):
    plan = compile_text(SCENARIO)
    events = scenario_events()
    return plan, events, [write_jsonl(tmp_path / "usage.jsonl", events)], dt.date.fromisoformat(SCENARIO_THROUGH)


def _events_of(files: list[str]) -> list[dict]:
    import json
    from decimal import Decimal

    out = []
    for f in files:
        for line in Path(f).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line, parse_float=Decimal, parse_int=Decimal))
    return out


def _duckdb_rows(sql: str, table_csv: str) -> list[tuple]:
    """Run the printed query in a fresh DuckDB against the events table loaded from a CSV."""
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE usage_events AS SELECT * FROM read_csv(?, header = true, all_varchar = true)",
                 [table_csv])
    return conn.execute(sql).fetchall()


def _without_scope(rows):
    return [r for r in rows if r[0] != "scope"]


# ----------------------------------------------------------------- terms and windows


def _captured(plan, files, through):
    seen = {}

    def aggregator(plan, terms, windows, files, **kw):
        seen["terms"], seen["windows"] = terms, windows
        return aggregate_usage(plan, terms, windows, files, **kw)

    evaluate(plan, files, through, aggregator=aggregator)
    return seen["terms"], seen["windows"]


@needs_conformance
@pytest.mark.parametrize("name", CASES)
def test_scope_windows_are_those_evaluate_bills(name):
    plan, files, through = _case_plan(name)
    assert terms_and_windows(plan, through) == _captured(plan, files, through)


def test_scope_windows_with_segments_are_those_evaluate_bills(tmp_path):
    plan, _, files, through = _scenario(tmp_path)
    terms, windows = terms_and_windows(plan, through)
    assert any(w.meter for w in windows), "the scenario has effective-dated segments"
    assert (terms, windows) == _captured(plan, files, through)


# ----------------------------------------------------------------- the printed query


def _check_duckdb_sql(plan, files, through, tmp_path):
    terms, windows = terms_and_windows(plan, through)
    keys = property_columns(needed_keys(plan))
    table = write_flat_csv(tmp_path / "table.csv", _events_of(files), keys)
    sql = warehouse_sql(plan, terms, windows, "duckdb")
    rows = _without_scope(_duckdb_rows(sql, table))
    width = max((len(m.dimensions) for m in plan.meters.values()), default=0)
    aggregates, reasons, counts = read_result(plan, rows, width)
    report = aggregate_usage(plan, terms, windows, files)
    assert report.diagnostics == []
    assert aggregates == report.aggregates
    assert reasons.pop("billed", 0) == report.billed
    assert {r: n for r, n in reasons.items()} == {r: n for r, n in report.rejected.items()
                                                  if n and r not in ("duplicate", "bad_row")}
    assert counts.read == report.events_read


@needs_conformance
@pytest.mark.parametrize("name", CASES)
def test_duckdb_sql_gives_the_engines_aggregates(name, tmp_path):
    plan, files, through = _case_plan(name)
    _check_duckdb_sql(plan, files, through, tmp_path)


def test_duckdb_sql_gives_the_engines_aggregates_on_every_meter_kind(tmp_path):
    plan, _, files, through = _scenario(tmp_path)
    _check_duckdb_sql(plan, files, through, tmp_path)


def _all_plans(tmp_path):
    plans = [compile_text(SCENARIO)]
    plans += [_case_plan(name)[0] for name in CASES]
    return plans


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_parses_back(dialect, tmp_path):
    for plan in _all_plans(tmp_path):
        terms, windows = terms_and_windows(plan, dt.date(2026, 5, 1))
        sql = warehouse_sql(plan, terms, windows, dialect, table="analytics.usage_events")
        parsed = sqlglot.parse(sql, read=dialect)
        assert len([p for p in parsed if p is not None]) == 1
        assert "analytics" in sql


def test_empty_relations_keep_their_types():
    relations = inline_relations([], [])
    conn = duckdb.connect()
    for rel in (relations.terms, relations.windows, relations.segments):
        sql = rel.sql("duckdb")
        assert conn.execute(sql).fetchall() == []
        types = {name: kind for name, kind, *_ in conn.execute(f"DESCRIBE {sql}").fetchall()}
        assert types.get("contract") == "VARCHAR"
        assert "TIME ZONE" in (types.get("starts") or types.get("start"))


def test_relations_hold_exact_instants():
    terms = [ContractTerm("o'brien", "c'1", "p", dt.datetime(2026, 1, 31, tzinfo=UTC), None, ())]
    windows = [Window("k@1", "o'brien", dt.datetime(2026, 1, 31, tzinfo=UTC), dt.datetime(2026, 2, 28, tzinfo=UTC)),
               Window("k@1#M#x", "o'brien", dt.datetime(2026, 2, 3, tzinfo=UTC),
                      dt.datetime(2026, 2, 28, tzinfo=UTC), "M")]
    relations = inline_relations(terms, windows)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    assert conn.execute(f"SELECT contract, customer, CAST(starts AS VARCHAR), ends FROM ({relations.terms.sql('duckdb')})"
                        ).fetchall() == [("o'brien", "c'1", "2026-01-31 00:00:00+00", None)]
    assert conn.execute(f"SELECT key, meter FROM ({relations.segments.sql('duckdb')})").fetchall() == [("k@1#M#x", "M")]


def test_time_as_a_timestamp_column(tmp_path):
    plan, events, files, through = _scenario(tmp_path)
    terms, windows = terms_and_windows(plan, through)
    sql = warehouse_sql(plan, terms, windows, "duckdb", time_type="timestamp")
    table = write_flat_csv(tmp_path / "table.csv", events, SCENARIO_KEYS)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE usage_events AS SELECT * REPLACE (CAST(time AS TIMESTAMPTZ) AS time) "
                 "FROM read_csv(?, header = true, all_varchar = true)", [table])
    rows = _without_scope(conn.execute(sql).fetchall())
    aggregates, _, _ = read_result(plan, rows, 2)
    assert aggregates == aggregate_usage(plan, terms, windows, files).aggregates


# ----------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def postgres(postgres_server):
    """psql on the session's throwaway PostgreSQL server (conftest `postgres_server`): a command prefix."""
    return postgres_server.psql


def _postgres_rows(psql, sql: str, table_csv: str, keys) -> tuple[list[str], list[tuple]]:
    columns = ", ".join(f'"{c}" text' for c in ["id", "type", "customer", "time", *keys])
    subprocess.run(psql + ["-c", f"DROP TABLE IF EXISTS usage_events; CREATE TABLE usage_events ({columns})"],
                   check=True, capture_output=True)
    with open(table_csv, "rb") as fh:
        subprocess.run(psql + ["-c", "COPY usage_events FROM STDIN WITH (FORMAT csv, HEADER true)"],
                       stdin=fh, check=True, capture_output=True)
    done = subprocess.run(psql + ["--csv", "-c", "SET TIME ZONE 'UTC'", "-c", sql.rstrip().rstrip(";")],
                          check=True, capture_output=True, text=True)
    header, *rows = list(csv.reader(done.stdout.splitlines()))
    return header, [tuple(None if v == "" else v for v in r) for r in rows]


def test_postgres_runs_the_query(postgres, tmp_path):
    plan, _, files, through = _scenario(tmp_path)
    cases = [(plan, files, through)] + [_case_plan(name) for name in CASES]
    for plan, files, through in cases:
        terms, windows = terms_and_windows(plan, through)
        keys = property_columns(needed_keys(plan))
        table = write_flat_csv(tmp_path / "table.csv", _events_of(files), keys)
        header, rows = _postgres_rows(postgres, warehouse_sql(plan, terms, windows, "postgres"), table, keys)
        width = len(header) - 5
        aggregates, reasons, counts = read_result(plan, _without_scope(rows), width)
        report = aggregate_usage(plan, terms, windows, files)
        assert aggregates == report.aggregates
        assert reasons.get("billed", 0) == report.billed and counts.read == report.events_read


# ----------------------------------------------------------------- the `sql` command


def _cli(args, capsys):
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_sql_command_prints_a_self_contained_query(tmp_path, capsys, monkeypatch):
    (tmp_path / "t.pricing").write_text(SCENARIO, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(["sql", "t.pricing", "--through", SCENARIO_THROUGH], capsys)
    assert code == 0, err
    assert out.startswith("-- ratecard sql (duckdb)")
    assert "reads table usage_events: id, type, customer, time (RFC 3339 text), gigabytes (text)" in out
    assert "rc_windows" in out and "'acme@2026-01-01'" in out
    again = _cli(["sql", "t.pricing", "--through", SCENARIO_THROUGH], capsys)[1]
    assert again == out  # deterministic
    code, _, _ = _cli(["sql", "t.pricing", "--through", SCENARIO_THROUGH, "--dialect", "bigquery",
                       "--table", "proj.ds.events", "-o", "q.sql"], capsys)
    assert code == 0
    printed = (tmp_path / "q.sql").read_text(encoding="utf-8")
    # quantities are BIGNUMERIC (BigQuery's NUMERIC keeps only 9 decimals)
    assert "FROM proj.ds.events" in printed and "AS BIGNUMERIC" in printed
    assert " NUMERIC" not in printed.replace(" BIGNUMERIC", "")
    assert sqlglot.parse(printed, read="bigquery")


@pytest.mark.parametrize("table", ["ev", "a.b.c.d", "a.", "", "a..b"])
def test_sql_command_refuses_a_bad_table_name(table, tmp_path, capsys, monkeypatch):
    (tmp_path / "t.pricing").write_text(SCENARIO, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(["sql", "t.pricing", "--through", SCENARIO_THROUGH, "--table", table], capsys)
    assert code == 2 and out == "" and "--table" in err and "Traceback" not in err


def test_sql_command_reports_compile_errors(tmp_path, capsys, monkeypatch):
    (tmp_path / "t.pricing").write_text("plan p { charge NOPE }\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(["sql", "t.pricing", "--through", "2026-01-01"], capsys)
    assert code == 1 and "error[" in err and out == ""


def test_duckdb_sql_bills_each_meter_while_a_plan_that_charges_it_is_in_effect(tmp_path, capsys, monkeypatch):
    """A change to a plan that charges other meters (tests/golden/invoices/plan-change-budgets):
    the printed query classifies every event by the plan in effect at its time, as the engine
    does, and the invoices billed from its saved result are the engine's, byte for byte."""
    folder = Path(__file__).parent / "golden" / "invoices" / "plan-change-budgets"
    plan = compile_paths([str(folder / "project.pricing")]).plan
    files = [str(folder / "usage.jsonl")]
    _check_duckdb_sql(plan, files, dt.date(2026, 4, 1), tmp_path)
    terms, _ = terms_and_windows(plan, dt.date(2026, 4, 1))
    assert [(t.plan, t.charged_meters) for t in terms] == [("pro", ("CALLS", "TICKETS")), ("team", ("CALLS", "GB"))]
    monkeypatch.chdir(folder)
    args = ["invoice", "project.pricing", "--usage", "usage.jsonl", "--through", "2026-04-01", "--format", "json"]
    code, expected, err = _cli(args, capsys)
    assert code == 0, err
    assert "3 not in plan" in err
    keys = property_columns(needed_keys(plan))
    result = _aggregates_file(tmp_path, ["project.pricing", "--through", "2026-04-01"], files, keys, "csv", capsys)
    code, out, err2 = _cli([*args[:2], "--aggregates", str(result), *args[4:]], capsys)
    assert code == 0, err2
    assert out == expected and err2 == err
    # egress aggregated in Pro's part of March: a result no query of this pricing gives
    moved = _edit_csv(result, tmp_path / "moved.csv", lambda rows: [
        [r[0], "lumen@2026-03-01", *r[2:]] if r[:3] == ["agg", "lumen@2026-03-11", "GB"] else r for r in rows])
    code, out, err3 = _cli([*args[:2], "--aggregates", moved, *args[4:]], capsys)
    assert code == 1 and out == ""
    assert '"code": "E505"' in err3 and \
        "contract `lumen`'s plan does not charge meter `GB` in window `lumen@2026-03-01`" in err3, err3


# ----------------------------------------------------------------- --aggregates


def _aggregates_file(folder: Path, sql_args: list[str], files: list[str], keys, fmt: str,
                     capsys, name: str = "result") -> Path:
    """`ratecard sql` -> DuckDB over the events table -> COPY to Parquet or CSV."""
    code, sql, err = _cli(["sql", *sql_args], capsys)
    assert code == 0, err
    table = write_flat_csv(folder / "table.csv", _events_of(files), keys)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE usage_events AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", [table])
    target = folder / f"{name}.{fmt}"
    options = "(FORMAT parquet)" if fmt == "parquet" else "(HEADER)"
    conn.execute(f"COPY ({sql.rstrip().rstrip(';')}) TO '{target}' {options}")
    return target


@needs_conformance
@pytest.mark.parametrize("name", CASES)
def test_invoices_from_aggregates_are_byte_identical(name, tmp_path, capsys, monkeypatch):
    args = case_args(name)
    paths, contracts, usage, through = split_args(args)
    folder = CONFORMANCE / name
    monkeypatch.chdir(folder)
    plan, _, _ = _case_plan(name)
    keys = property_columns(needed_keys(plan))
    sql_args = [*paths, *[a for c in contracts for a in ("--contracts", c)], "--through", through]
    code, expected, err = _cli(args, capsys)
    assert code == 0, err
    for fmt in ("parquet", "csv"):
        result = _aggregates_file(tmp_path, sql_args, usage, keys, fmt, capsys)
        swapped = [a for a in args]
        i = swapped.index("--usage")
        swapped[i:i + 2] = ["--aggregates", str(result)]
        code, out, err2 = _cli(swapped, capsys)
        assert code == 0, err2
        assert out == expected
        assert err2 == err  # the same reconciliation line


def test_scenario_invoices_from_aggregates_are_byte_identical(tmp_path, capsys, monkeypatch):
    plan, events, files, _ = _scenario(tmp_path)
    (tmp_path / "t.pricing").write_text(SCENARIO, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    args = ["invoice", "t.pricing", "--usage", files[0], "--through", SCENARIO_THROUGH]
    code, expected, _ = _cli(args, capsys)
    assert code == 0
    result = _aggregates_file(tmp_path, ["t.pricing", "--through", SCENARIO_THROUGH], files, SCENARIO_KEYS,
                              "parquet", capsys)
    code, out, err = _cli(["invoice", "t.pricing", "--aggregates", str(result), "--through", SCENARIO_THROUGH],
                          capsys)
    assert code == 0, err
    assert out == expected


@pytest.fixture
def scenario_result(tmp_path, capsys, monkeypatch):
    """(folder, CSV result of the scenario's query) with t.pricing written in folder."""
    plan, events, files, _ = _scenario(tmp_path)
    (tmp_path / "t.pricing").write_text(SCENARIO, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path, _aggregates_file(tmp_path, ["t.pricing", "--through", SCENARIO_THROUGH], files,
                                      SCENARIO_KEYS, "csv", capsys)


def _edit_csv(path: Path, target: Path, edit) -> str:
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    rows = edit(rows)
    with open(target, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return str(target)


def _invoice_aggregates(folder, files, capsys, through=SCENARIO_THROUGH, extra=(), fmt="text"):
    return _cli(["invoice", "t.pricing", "--aggregates", *files, "--through", through, "--format", fmt, *extra],
                capsys)


def _first_agg(rows):
    return next(i for i, r in enumerate(rows) if r[0] == "agg")


EDITS = {
    "unknown window": ("E505", "is not a billing window of this run",
                       lambda rows: [r if i != _first_agg(rows) else [r[0], "nope@2026-01-01", *r[2:]]
                                     for i, r in enumerate(rows)]),
    "unknown meter": ("E505", "unknown meter `NOPE`",
                      lambda rows: [r if i != _first_agg(rows) else [r[0], r[1], "NOPE", *r[3:]]
                                    for i, r in enumerate(rows)]),
    "bad quantity": ("E504", "is not a decimal number",
                     lambda rows: [r if i != _first_agg(rows) else [*r[:-2], "12abc", r[-1]]
                                   for i, r in enumerate(rows)]),
    "NaN quantity": ("E504", "is not a decimal number",
                     lambda rows: [r if i != _first_agg(rows) else [*r[:-2], "NaN", r[-1]]
                                   for i, r in enumerate(rows)]),
    # past what the usage stage holds (DECIMAL(38, 18)): was an internal error (InvalidOperation)
    # once the amount outgrew 60 digits, and billed a line `--usage` refuses below that
    "quantity past DECIMAL(38, 18)": ("E504", "more than 20 integer digits or 18 decimal places",
                                      lambda rows: [r if i != _first_agg(rows) else [*r[:-2], "1e70", r[-1]]
                                                    for i, r in enumerate(rows)]),
    "negative events": ("E504", "`events` '-3' is not a whole number",
                        lambda rows: [r if i != _first_agg(rows) else [*r[:-1], "-3"] for i, r in enumerate(rows)]),
    "unknown kind": ("E504", "unknown row kind 'total'",
                     lambda rows: rows + [["total", "", "", "", "", "", "1"]]),
    "duplicate line": ("E505", "a second row for window",
                       lambda rows: rows + [rows[_first_agg(rows)]]),
    "no scope row": ("E505", "no `scope` row", lambda rows: [r for r in rows if r[0] != "scope"]),
    # a line's row left out (a shard of a sharded export not passed, a row deleted): the
    # counts of events still add up, so the line was dropped silently, exit 0
    "a line missing": ("E505", "is part of the result missing?",
                       lambda rows: [r for i, r in enumerate(rows) if i != _first_agg(rows)]),
    "counts do not add up": ("E505", "the counts do not add up",
                             lambda rows: [r for r in rows if not (r[0] == "reason" and r[2] == "billed")]),
    "missing column": ("E504", "missing column `events`", lambda rows: [r[:-1] for r in rows]),
    "extra dimension column": ("E505", "dimension column `d2` that no meter of this project has",
                               lambda rows: [[*r[:5], "d2" if j == 0 else "", *r[5:]] for j, r in enumerate(rows)]),
    "values beyond a meter's dimensions": (
        "E505", "has 0 dimensions",
        lambda rows: [r if not (r[0] == "agg" and r[2] == "PEAK") else [*r[:3], "x", *r[4:]] for r in rows]),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_aggregates_that_do_not_fit_are_diagnostics(case, scenario_result, capsys):
    folder, result = scenario_result
    code_expected, text, edit = EDITS[case]
    edited = _edit_csv(result, folder / "edited.csv", edit)
    code, out, err = _invoice_aggregates(folder, [edited], capsys)
    assert code == 1 and out == ""
    assert f"error[{code_expected}]" in err and text in err, err
    assert "Traceback" not in err


def test_aggregates_for_another_through_are_refused(scenario_result, capsys):
    folder, result = scenario_result
    code, out, err = _invoice_aggregates(folder, [str(result)], capsys, through="2026-06-01")
    assert code == 1 and "error[E505]" in err and "computed for other contracts, billing windows or meters" in err


def test_aggregates_split_over_files_add_up(scenario_result, capsys):
    folder, result = scenario_result
    rows = list(csv.reader(result.read_text(encoding="utf-8").splitlines()))
    header, body = rows[0], rows[1:]
    halves = [folder / "part-0.csv", folder / "part-1.csv"]
    for i, part in enumerate(halves):
        with open(part, "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([header] + body[i::2])
    one = _invoice_aggregates(folder, [str(result)], capsys, fmt="json")
    two = _invoice_aggregates(folder, [str(p) for p in halves], capsys, fmt="json")
    assert one[0] == two[0] == 0 and one[1] == two[1]


def test_bad_rows_counted_by_the_warehouse(scenario_result, capsys):
    folder, result = scenario_result

    def with_bad(rows):
        out = []
        for r in rows:
            if r[0] in ("read", "bad"):
                r = [*r[:-1], str(int(r[-1]) + 2)]
            out.append(r)
        return out

    edited = _edit_csv(result, folder / "bad.csv", with_bad)
    code, out, err = _invoice_aggregates(folder, [edited], capsys)
    assert code == 1 and "error[E500]: 2 bad usage rows were left out by the warehouse query" in err
    code, out, err = _invoice_aggregates(folder, [edited], capsys, extra=("--skip-bad-rows", "skipped.jsonl"),
                                         fmt="json")
    assert code == 0, err
    assert (folder / "skipped.jsonl").read_text() == ""  # the rows stayed in the warehouse
    skipped, clean = json.loads(out), json.loads(_invoice_aggregates(folder, [str(result)], capsys, fmt="json")[1])
    assert skipped["invoices"] == clean["invoices"]
    assert skipped["rejected"] == {**clean["rejected"], "bad_row": 2}
    assert skipped["events"]["read"] == clean["events"]["read"] + 2


def test_float_quantities_are_refused(scenario_result, capsys):
    folder, result = scenario_result
    rows = list(csv.reader(result.read_text(encoding="utf-8").splitlines()))
    header, body = rows[0], rows[1:]
    columns = {name: [r[i] or None for r in body] for i, name in enumerate(header)}
    columns["quantity"] = [float(q) if q is not None else None for q in columns["quantity"]]
    columns["events"] = [int(e) for e in columns["events"]]
    pq.write_table(pa.table(columns), folder / "floats.parquet")
    code, out, err = _invoice_aggregates(folder, [str(folder / "floats.parquet")], capsys)
    assert code == 1 and "error[E504]" in err and "binary float" in err


def test_unreadable_aggregates_are_diagnostics(scenario_result, capsys):
    folder, _ = scenario_result
    (folder / "junk.parquet").write_text("not parquet")
    (folder / "junk.txt").write_text("x")
    code, out, err = _invoice_aggregates(folder, [str(folder / "junk.parquet"), str(folder / "junk.txt")], capsys)
    assert code == 1 and err.count("error[E504]") == 2 and "Traceback" not in err


def test_usage_and_aggregates_are_mutually_exclusive(scenario_result, capsys):
    folder, result = scenario_result
    with pytest.raises(SystemExit) as exited:
        main(["invoice", "t.pricing", "--through", SCENARIO_THROUGH])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main(["invoice", "t.pricing", "--through", SCENARIO_THROUGH, "--usage", "usage.jsonl",
              "--aggregates", str(result)])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    code, _, err = _invoice_aggregates(folder, [str(result)], capsys, extra=("--engine", "spark"))
    assert code == 2 and "--engine" in err
    code, _, err = _cli(["invoice", "t.pricing", "--usage", "usage.jsonl", "--through", SCENARIO_THROUGH,
                         "--spark-master", "local[1]"], capsys)
    assert code == 2 and "--spark-master needs --engine spark" in err
    code, _, err = _invoice_aggregates(folder, [str(folder / "missing.parquet")], capsys)
    assert code == 2 and "no such aggregates file" in err


def test_spark_engine_without_pyspark_is_a_diagnostic(tmp_path, monkeypatch):
    import sys

    from ratecard.usage import spark as spark_engine

    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` fails
    plan, _, files, through = _scenario(tmp_path)
    ev = evaluate(plan, files, through, aggregator=spark_engine.aggregate_usage)
    assert not ev.ok
    (diag,) = ev.diagnostics
    assert diag.code == "E501" and "pyspark is not installed" in diag.message
    assert "ratecard[spark]" in diag.hints[0]


def test_spark_dialect_adaptations():
    """What `spark_tree` rewrites (the Spark tests run it; this shows it without Spark)."""
    plan = compile_text(SCENARIO)
    terms, windows = terms_and_windows(plan, dt.date.fromisoformat(SCENARIO_THROUGH))
    sql = warehouse_sql(plan, terms, windows, "spark")
    assert "MATERIALIZED" not in sql and "QUALIFY" not in sql
    # read in capitals: RFC 3339 allows `t` and `z` (docs/usage.md)
    assert "TRY_CAST(UPPER(CAST(`time` AS STRING)) AS TIMESTAMP)" in sql
    assert "MAX_BY(" in sql and "STRUCT(`cl`.`t`, `cl`.`id`)" in sql
    assert "ROW(" not in sql and "RLIKE" in sql


def test_a_bad_time_text_is_null_in_every_dialect_not_an_error():
    """The `time` text is read with the dialect's safe cast: a bad timestamp is a bad row,
    never a failed query. (Reading it in capitals through an untyped function once made
    sqlglot write Snowflake's plain CAST.)"""
    plan = compile_text(SCENARIO)
    terms, windows = terms_and_windows(plan, dt.date.fromisoformat(SCENARIO_THROUGH))
    safe = {"snowflake": 'TRY_CAST(UPPER(CAST("time" AS VARCHAR)) AS TIMESTAMPTZ)',
            "bigquery": "SAFE_CAST(UPPER(CAST(`time` AS STRING)) AS TIMESTAMP)",
            "duckdb": 'TRY_CAST(UPPER(CAST("time" AS TEXT)) AS TIMESTAMPTZ)'}
    for dialect, text in safe.items():
        sql = warehouse_sql(plan, terms, windows, dialect)
        assert text in sql and not re.search(r"(?<![A-Z_])CAST\(UPPER\(", sql), dialect


@pytest.mark.parametrize("old, new", [
    ("sum prompt - cached", "sum prompt + cached"),  # a derived quantity: `field` is None on both
    ("sum (prompt - cached) * 2", "sum prompt - cached * 2"),
    ("weighted prompt per month", "weighted prompt per day"),  # the unit of the integral
], ids=["derived-sign", "derived-parentheses", "weighted-per"])
def test_scope_fingerprint_sees_how_a_meter_measures(old, new):
    """The scope fingerprint stands for how each meter reads events: a file of aggregates
    summed as `prompt - cached` must be refused (E505) when the pricing now sums
    `prompt + cached`, and `diff` must not reuse one side's usage stage for the other.
    It compared `field` alone, which a derived quantity leaves None, and not `per`."""
    from ratecard.usage.warehouse import scope_fingerprint

    def fingerprint(aggregation: str) -> str:
        plan = compile_text(f"""
meter TOK {{ event "llm"  {aggregation}  rates {{ default : $1 }} }}
plan p {{ billing monthly  charge TOK }}
contract a {{ customer "ca"  plan p  starts 2026-01-01 }}
""")
        terms, windows = terms_and_windows(plan, dt.date(2026, 3, 1))
        return scope_fingerprint(plan, terms, windows)

    assert fingerprint(old) == fingerprint(old)
    assert fingerprint(old) != fingerprint(new)


def test_aggregates_csv_with_a_byte_order_mark_bills_as_without(scenario_result, capsys):
    """A result saved as "CSV UTF-8" by a spreadsheet starts with a byte order mark. It is no
    part of the first column's name (as for `--usage` CSV, docs/usage.md): it was read as
    part of `kind`, and the file refused with "missing column `kind`"."""
    folder, result = scenario_result
    plain = _invoice_aggregates(folder, [str(result)], capsys)
    marked = folder / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + result.read_bytes())
    assert _invoice_aggregates(folder, [str(marked)], capsys) == plain
    assert plain[0] == 0
