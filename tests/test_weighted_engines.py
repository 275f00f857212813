"""Time-weighted meters in every engine: the query's form (the step pieces of each window,
from LEAD over (time, id) per key) integrated in Python is the oracle's integral of the
reports, exactly, for generated reports (hypothesis); the warehouse SQL (`ratecard sql`)
gives the same pieces in DuckDB and PostgreSQL, and `invoice --aggregates` bills its saved
result byte-identically (part2-decisions section 2, docs/usage.md "Time-weighted meters").
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import subprocess
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_helpers import compile_text, write_events
from ratecard.billing import evaluate
from ratecard.billing.scope import terms_and_windows
from ratecard.cli import main
from ratecard.usage.duckdb import aggregate_usage as duckdb_aggregate
from ratecard.usage.reference import aggregate_usage as reference_aggregate
from ratecard.usage.result import read_result
from ratecard.usage.rows import NEGATIVE_PATTERN, parse_quantity
from ratecard.usage.warehouse import DIALECTS, property_columns, warehouse_sql
from ratecard.usage.weighted import round_half_even
from warehouse_helpers import write_flat_csv

UTC = dt.UTC

# Four contracts: acme monthly from Jan 1 with a price change for bucket "b" from Feb 10
# (segments), globex from Jan 15 (periods across two months) ending Mar 20, initech
# changing plan on Feb 11 (plan parts), hooli changing on Feb 11 to a plan that does not
# charge STORAGE and back on Mar 15 (a STORAGE report in between is not in plan, and what
# was reported before holds again from Mar 15), and globex again from Mar 28 (globex2, a
# contract of the same customer: a level reported in between, outside both, carries into
# it, as does one reported before a contract starts: a level is the customer's,
# part2-decisions 2.3). One meter per unit of time.
PROJECT = """meter STORAGE {
  event "storage.reported"
  weighted gigabytes per month
  dimensions bucket
}
meter DISK {
  event "disk.reported"
  weighted size per day
}
plan store {
  charge STORAGE : $0.02 per GB-month
  charge DISK : $0.001 per GB-day
}
plan bigger {
  charge STORAGE : $0.03 per GB-month
  charge DISK : $0.002 per GB-day
}
plan disks {
  charge DISK : $0.003 per GB-day
}
contract acme {
  customer "cus_acme"
  plan store
  starts 2026-01-01
  override STORAGE per GB-month from 2026-02-10 {
    bucket = "b" : $0.01
  }
}
contract globex {
  customer "cus_globex"
  plan store
  starts 2026-01-15
  ends 2026-03-19
}
contract initech {
  customer "cus_initech"
  plan store
  starts 2026-01-01
  plan bigger from 2026-02-11
}
contract globex2 {
  customer "cus_globex"
  plan disks
  starts 2026-03-28
  billing monthly on day 1
}
contract hooli {
  customer "cus_hooli"
  plan store
  starts 2026-01-01
  plan disks from 2026-02-11
  plan store from 2026-03-15
}
"""
THROUGH = dt.date(2026, 4, 1)
KEYS = ("bucket", "gigabytes", "size")

# instants where something happens: month, period, segment and plan-part bounds, a contract's
# start and end, and times between them (with microseconds)
INSTANTS = [dt.datetime(2025, 12, 20, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC),
            dt.datetime(2026, 1, 14, 23, 59, 59, 999999, tzinfo=UTC), dt.datetime(2026, 1, 15, tzinfo=UTC),
            dt.datetime(2026, 1, 31, 9, 8, 17, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC),
            dt.datetime(2026, 2, 10, tzinfo=UTC), dt.datetime(2026, 2, 11, tzinfo=UTC),
            dt.datetime(2026, 2, 15, tzinfo=UTC), dt.datetime(2026, 3, 1, tzinfo=UTC),
            dt.datetime(2026, 3, 15, tzinfo=UTC),
            dt.datetime(2026, 3, 19, tzinfo=UTC), dt.datetime(2026, 4, 1, tzinfo=UTC),
            dt.datetime(2026, 4, 10, tzinfo=UTC)]
START, SPAN = dt.datetime(2025, 12, 25, tzinfo=UTC), 110 * 86400 * 10**6

times = st.one_of(st.sampled_from(INSTANTS),
                  st.integers(0, SPAN).map(lambda us: START + dt.timedelta(microseconds=us)))
values = st.one_of(st.just(0), st.integers(0, 10**6),
                   st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
reports = st.tuples(st.sampled_from(["cus_acme", "cus_globex", "cus_initech", "cus_hooli"]),
                    st.sampled_from(["storage.reported", "disk.reported"]),
                    st.sampled_from(["a", "b", None]), times, st.sampled_from(["1", "2", "10", "9", "x", "xb"]),
                    values)


def _stamp(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _events(rows) -> list[dict]:
    out = []
    for i, (customer, type_, bucket, t, rid, value) in enumerate(rows):
        props = {"gigabytes" if type_ == "storage.reported" else "size": str(value)}
        if bucket is not None and type_ == "storage.reported":
            props["bucket"] = bucket
        out.append({"id": f"{rid}-{i % 3}", "type": type_, "customer": customer, "time": _stamp(t),
                    "properties": props})
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(reports, min_size=1, max_size=30))
def test_duckdb_agrees_with_the_reference_for_generated_reports(tmp_path_factory, rows):
    plan = compile_text(PROJECT)
    files = [write_events(tmp_path_factory.mktemp("weighted") / "u.jsonl", _events(rows))]
    ours = evaluate(plan, files, THROUGH, aggregator=duckdb_aggregate)
    oracle = evaluate(plan, files, THROUGH, aggregator=reference_aggregate)
    assert [d.message for d in ours.diagnostics] == [d.message for d in oracle.diagnostics]
    assert ours.usage.aggregates == oracle.usage.aggregates  # quantities, events and pieces
    assert ours.usage.rejected == oracle.usage.rejected and ours.usage.billed == oracle.usage.billed
    if oracle.ok:
        assert ours.run.model_dump_json() == oracle.run.model_dump_json()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(2025, 2030), st.integers(1, 12), st.integers(0, 40),
       st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False))
def test_one_value_held_a_whole_month_is_that_value_in_the_engine(tmp_path_factory, year, month, before, value):
    start = dt.date(year, month, 1)
    end = dt.date(year + (month == 12), month % 12 + 1, 1)
    text = PROJECT.split("contract acme")[0] + (f'contract c {{\n  customer "c"\n  plan store\n'
                                                f'  starts {(start - dt.timedelta(days=before)).isoformat()}\n'
                                                f'  billing monthly on day 1\n}}\n')
    plan = compile_text(text)
    at = dt.datetime.combine(start - dt.timedelta(days=before), dt.time(), UTC)
    files = [write_events(tmp_path_factory.mktemp("month") / "u.jsonl",
                          [{"id": "r", "type": "storage.reported", "customer": "c", "time": _stamp(at),
                            "properties": {"gigabytes": str(value), "bucket": "x"}}])]
    ev = evaluate(plan, files, end, aggregator=duckdb_aggregate)
    assert ev.ok, ev.diagnostics
    whole_month = [a for a in ev.usage.aggregates if a.window.endswith(f"@{start.isoformat()}")]
    # (a value of 0 reported before the month gives no line: decisions 2.7)
    assert [a.quantity for a in whole_month] == ([value] if value or not before else [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["-0", "-0.0", "-0e3", "-1", "-0.001", "-.5", "-1e-3", "0", "+2",
                                           "-00.00", "-10", "-0.0e-5", "-0.05e2"]),
                          st.text(alphabet="0123456789.+-eE", max_size=12)), min_size=1, max_size=20))
def test_the_engines_negative_pattern_is_python_s_below_zero(texts):
    """The SQL check of a weighted meter's level (`NEGATIVE_PATTERN` on a good quantity's
    text) says what `parse_quantity(text) < 0` says, for every text Python accepts."""
    for text in texts:
        value = parse_quantity(text)
        if value is not None:
            assert (re.search(NEGATIVE_PATTERN, text.strip()) is not None) == (value < 0), text


# ----------------------------------------------------------------- the warehouse query


FIXED = [("cus_acme", "storage.reported", "a", dt.datetime(2026, 1, 1, tzinfo=UTC), "1", 620),
         ("cus_acme", "storage.reported", "b", dt.datetime(2026, 1, 31, 9, 8, 17, tzinfo=UTC), "2", "2065.5"),
         ("cus_acme", "storage.reported", "b", dt.datetime(2026, 2, 10, tzinfo=UTC), "10", 7),
         ("cus_acme", "storage.reported", "b", dt.datetime(2026, 2, 10, tzinfo=UTC), "9", 70),
         ("cus_globex", "storage.reported", None, dt.datetime(2026, 1, 10, tzinfo=UTC), "1", 500),
         ("cus_globex", "storage.reported", None, dt.datetime(2026, 1, 20, 0, 0, 0, 1, tzinfo=UTC), "2", 310),
         ("cus_globex", "disk.reported", None, dt.datetime(2026, 3, 25, tzinfo=UTC), "3", 9),
         ("cus_initech", "disk.reported", None, dt.datetime(2026, 1, 5, 12, tzinfo=UTC), "4", "10.25"),
         ("cus_initech", "storage.reported", "a", dt.datetime(2026, 2, 20, tzinfo=UTC), "5", 0),
         ("cus_hooli", "storage.reported", "a", dt.datetime(2026, 1, 5, tzinfo=UTC), "6", 100),
         ("cus_hooli", "storage.reported", "a", dt.datetime(2026, 2, 20, tzinfo=UTC), "7", 40),
         ("cus_hooli", "disk.reported", None, dt.datetime(2026, 2, 12, tzinfo=UTC), "8", 3)]


def _fixed(tmp_path: Path):
    plan = compile_text(PROJECT)
    events = _events(FIXED)
    return plan, events, [write_events(tmp_path / "u.jsonl", events)]


def test_the_printed_duckdb_sql_gives_the_engines_pieces(tmp_path):
    plan, events, files = _fixed(tmp_path)
    terms, windows = terms_and_windows(plan, THROUGH)
    table = write_flat_csv(tmp_path / "table.csv", events, property_columns(KEYS))
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE usage_events AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", [table])
    rows = [r for r in conn.execute(warehouse_sql(plan, terms, windows, "duckdb")).fetchall() if r[0] != "scope"]
    aggregates, reasons, counts = read_result(plan, rows, 1)
    report = duckdb_aggregate(plan, terms, windows, files)
    assert report.diagnostics == [] and aggregates == report.aggregates
    assert aggregates == reference_aggregate(plan, terms, windows, files).aggregates
    assert any(a.window.count("#") for a in aggregates), "a segment"
    assert reasons["outside_contract"] == 2 and counts.read == len(events)
    # hooli's STORAGE: in store's parts only (Jan 1 - Feb 11, Mar 15 - Apr 1), never in disks'
    # part (Feb 11 - Mar 15); its Feb 20 report there is not in plan, yet the level: 40 GB
    # from Mar 15, 17 days of 31 = 21.935483870.. (January's 100 GB no longer holds)
    hooli = sorted((a.window, str(a.quantity)) for a in aggregates if a.window.startswith("hooli")
                   and a.meter == "STORAGE")
    assert [w for w, _ in hooli] == ["hooli@2026-01-01", "hooli@2026-02-01", "hooli@2026-03-15"]
    assert hooli[-1][1] == "21.935483871"
    assert reasons["not_in_plan"] == 1
    # globex: 500 GB on Jan 10, before it starts (Jan 15), held to Jan 20 00:00:00.000001, 5 days
    # and a microsecond of 31; then 310 GB to Feb 1, 11 days + 86,399.999999 s of 31, and 14 of
    # 28 to Feb 15. Its disk's 9 GB of Mar 25 (outside globex, which ends Mar 20, and before
    # globex2 starts) is held in globex2's Mar 28 - Apr 1: 4 days, 36 GB-days.
    (web,) = [a for a in aggregates if a.window == "globex@2026-01-15"]
    day = 86_400 * 10**6
    assert web.quantity == round_half_even(Fraction(500 * (5 * day + 1) + 310 * (12 * day - 1), 31 * day)
                                           + Fraction(310 * 14, 28))
    assert [(a.meter, a.quantity, a.events) for a in aggregates if a.window.startswith("globex2")] == [
        ("DISK", Decimal(36), 0)]


def test_postgres_runs_the_weighted_query(postgres_server, tmp_path):
    plan, events, files = _fixed(tmp_path)
    terms, windows = terms_and_windows(plan, THROUGH)
    keys = property_columns(KEYS)
    table = write_flat_csv(tmp_path / "table.csv", events, keys)
    psql = postgres_server.psql
    columns = ", ".join(f'"{c}" text' for c in ["id", "type", "customer", "time", *keys])
    subprocess.run(psql + ["-c", f"DROP TABLE IF EXISTS usage_events; CREATE TABLE usage_events ({columns})"],
                   check=True, capture_output=True)
    with open(table, "rb") as fh:
        subprocess.run(psql + ["-c", "COPY usage_events FROM STDIN WITH (FORMAT csv, HEADER true)"],
                       stdin=fh, check=True, capture_output=True)
    sql = warehouse_sql(plan, terms, windows, "postgres").rstrip().rstrip(";")
    done = subprocess.run(psql + ["--csv", "-c", "SET TIME ZONE 'UTC'", "-c", sql], check=True, capture_output=True,
                          text=True)
    header, *rows = list(csv.reader(done.stdout.splitlines()))
    assert header[-2:] == ["held_from", "held_until"]
    rows = [tuple(int(v) if i in (len(header) - 3, len(header) - 2, len(header) - 1) and v else (v or None)
                  for i, v in enumerate(r)) for r in rows if r[0] != "scope"]
    aggregates, _, _ = read_result(plan, rows, 1)
    assert aggregates == duckdb_aggregate(plan, terms, windows, files).aggregates


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_prints_the_weighted_query(dialect):
    plan = compile_text(PROJECT)
    terms, windows = terms_and_windows(plan, THROUGH)
    sql = warehouse_sql(plan, terms, windows, dialect)
    assert len([p for p in sqlglot.parse(sql, read=dialect) if p is not None]) == 1
    assert "held_until" in sql and "LEAD(" in sql.upper()
    if dialect in ("postgres", "snowflake", "clickhouse"):  # no UNIX_MICROS there: adapted
        assert "UNIX_MICROS" not in sql


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_invoices_from_the_saved_result_are_byte_identical(tmp_path, capsys, monkeypatch, fmt):
    plan, events, files = _fixed(tmp_path)
    (tmp_path / "p.pricing").write_text(PROJECT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    through = ["--through", THROUGH.isoformat()]
    capsys.readouterr()
    assert main(["sql", "p.pricing", *through, "-o", "q.sql"]) == 0
    table = write_flat_csv(tmp_path / "table.csv", events, property_columns(KEYS))
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE usage_events AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", [table])
    sql = (tmp_path / "q.sql").read_text(encoding="utf-8").rstrip().rstrip(";")
    conn.execute(f"COPY ({sql}) TO 'result.{fmt}' {'(FORMAT parquet)' if fmt == 'parquet' else '(HEADER)'}")
    capsys.readouterr()
    assert main(["invoice", "p.pricing", "--usage", files[0], *through, "--format", "json"]) == 0
    expected = capsys.readouterr()
    assert main(["invoice", "p.pricing", "--aggregates", f"result.{fmt}", *through, "--format", "json"]) == 0
    got = capsys.readouterr()
    assert got.out == expected.out and got.err == expected.err
    assert '"quantity": "0.000000000"' in got.out  # initech's report of 0 in its plan part


def _printed_query_over_a_table(tmp_path, monkeypatch):
    """`ratecard sql`'s query for PROJECT, and a DuckDB table of the fixed events to run it on."""
    plan, events, files = _fixed(tmp_path)
    (tmp_path / "p.pricing").write_text(PROJECT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["sql", "p.pricing", "--through", THROUGH.isoformat(), "-o", "q.sql"]) == 0
    table = write_flat_csv(tmp_path / "table.csv", events, property_columns(KEYS))
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE usage_events AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", [table])
    return conn, (tmp_path / "q.sql").read_text(encoding="utf-8").rstrip().rstrip(";")


def test_a_saved_result_whose_pieces_do_not_fit_is_refused(tmp_path, capsys, monkeypatch):
    conn, sql = _printed_query_over_a_table(tmp_path, monkeypatch)
    conn.execute(f"COPY (SELECT * REPLACE (CASE WHEN kind = 'step' THEN held_until - 2000000000000 "
                 f"ELSE held_until END AS held_until) FROM ({sql})) TO 'bad.csv' (HEADER)")
    capsys.readouterr()
    assert main(["invoice", "p.pricing", "--aggregates", "bad.csv", "--through", THROUGH.isoformat()]) == 1
    assert "not a piece of a step function" in capsys.readouterr().err


@pytest.mark.parametrize("column, edit", [
    ("held_from", "held_from - 86400000000"),  # a day before its window: billed a day's more, exit 0
    ("held_until", "held_until + 86400000000"),
    ("held_until", "99999999999999999999999"),  # past the calendar: was an internal error (OverflowError)
    ("held_from", "-99999999999999999999999"),
], ids=["before", "after", "past-calendar", "before-calendar"])
def test_a_piece_outside_its_window_is_refused(tmp_path, capsys, monkeypatch, column, edit):
    """The query cuts every piece at its window's bounds, so a piece outside them is not
    the query's: refused (E505), not integrated into the line, never an internal error."""
    conn, sql = _printed_query_over_a_table(tmp_path, monkeypatch)
    conn.execute(f"COPY (SELECT * REPLACE (CAST(CASE WHEN kind = 'step' AND held_from = (SELECT MIN(held_from) "
                 f"FROM ({sql}) WHERE kind = 'step') THEN ({edit}) ELSE {column} END AS VARCHAR) AS {column}) "
                 f"FROM ({sql})) TO 'bad.csv' (HEADER)")
    capsys.readouterr()
    assert main(["invoice", "p.pricing", "--aggregates", "bad.csv", "--through", THROUGH.isoformat()]) == 1
    err = capsys.readouterr().err
    assert ('"code": "E505"' in err or "error[E505]" in err) and "outside window" in err, err
