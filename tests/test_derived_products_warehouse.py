"""`*` and `/` in derived quantities through the printed warehouse SQL, run on a real
PostgreSQL: the same aggregates and bad rows as DuckDB and the oracle.

The SQL is run twice: as printed, and with every decimal cast's precision and scale
removed. The second is how sqlglot writes BigQuery's SQL (plain BIGNUMERIC: no
parameterized type in a CAST), and PostgreSQL's plain NUMERIC, like BIGNUMERIC, keeps
every digit: no cast rounds an operand to 9 places or stops at 20 integer digits, so the
bad rows must come from the query's own tests (derived_sql.problem), not from a cast."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from billing_helpers import compile_text, event, write_events
from ratecard.billing.scope import terms_and_windows
from ratecard.usage.duckdb import aggregate_usage as duckdb_aggregate
from ratecard.usage.reference import aggregate_usage as reference_aggregate
from ratecard.usage.result import read_result
from ratecard.usage.warehouse import property_columns, warehouse_sql
from warehouse_helpers import write_flat_csv

THROUGH = dt.date(2026, 2, 1)
PRICING = """meter M {
  event "e"
  sum EXPR
}
plan p {
  charge M : $1 per unit
}
contract acme {
  customer "c"
  plan p
  starts 2026-01-01
}
"""
BIG = "60000000000000000000"  # 6e19: a quantity, but not an operand of `+`/`-` (19 integer digits)

CASES = [
    # good rows, then the bad ones (a 10-place operand, a zero divisor); the last value is
    # whether a row's value is past DECIMAL(38, 18) (or an operand of `+`/`-` past
    # DECIMAL(37, 18)), where a cast with a precision stops the printed query instead
    ("a * b", [("1.5", "2.25"), ("-0.000000001", "0.5"), ("0.000000001", "0.000000001"),
               ("1.0000000001", "2")], 1, False),
    ("a * b", [("2", "3"), ("99999999999", "99999999999")], 1, True),
    ("a / b", [("1", "3"), ("2", "3"), ("0.000000001", "2000000000"), ("0.000000003", "2000000000"),
               ("-7", "3"), ("1", "0.00000000001"), ("5", "0")], 2, False),
    ("a / b", [("99999999999999999999", "0.5"), ("1", "4")], 1, True),
    ("duration_ms / 3_600_000", [("1234567", None), ("1800000", None), ("0.0000000001", None)], 1, False),
    ("(a * b) * 0 + b", [("99999999999", "99999999999"), ("2", "3")], 1, True),   # an inner value
    ("a / (b - 2)", [("1", "3"), ("1", "2")], 1, False),
    ("a / (b - 2)", [("1", "3"), ("1", BIG)], 1, True),
    ("a + b * 2", [(BIG, "1"), ("1", "0.5")], 1, True),
]


def _events(expr: str, rows):
    names = ["duration_ms"] if "duration_ms" in expr else ["a", "b"]
    return [event(f"{i}", "c", f"2026-01-{2 + i:02d}T10:00:00Z", "e",
                  **{n: v for n, v in zip(names, row) if v is not None}) for i, row in enumerate(rows)]


def _without_precision(sql: str) -> str:
    """The SQL with every decimal cast as a plain NUMERIC (as BigQuery's are plain)."""
    tree = sqlglot.parse_one(sql, read="postgres")
    for node in tree.find_all(exp.DataType):
        if node.this == exp.DataType.Type.DECIMAL:
            node.set("expressions", [])
    return tree.sql(dialect="postgres")


def _postgres(psql, sql: str, table_csv: str, keys, folder) -> list[tuple] | None:
    """The result rows; None where the query stopped at a value past a cast's precision."""
    columns = ", ".join(f'"{c}" text' for c in ["id", "type", "customer", "time", *keys])
    subprocess.run(psql + ["-c", f"DROP TABLE IF EXISTS usage_events; CREATE TABLE usage_events ({columns})"],
                   check=True, capture_output=True)
    with open(table_csv, "rb") as fh:
        subprocess.run(psql + ["-c", "COPY usage_events FROM STDIN WITH (FORMAT csv, HEADER true)"],
                       stdin=fh, check=True, capture_output=True)
    (folder / "q.sql").write_text(sql, encoding="utf-8")  # (a quotient's SQL is too long for argv)
    done = subprocess.run(psql + ["--csv", "-c", "SET TIME ZONE 'UTC'", "-f", str(folder / "q.sql")],
                          capture_output=True, text=True)
    if "numeric field overflow" in done.stderr:
        return None
    assert done.returncode == 0, done.stderr[-2000:]
    _, *rows = list(csv.reader(done.stdout.splitlines()))
    return [tuple(None if v == "" else v for v in r) for r in rows if r[0] != "scope"]


@pytest.mark.parametrize("plain", [False, True], ids=["as-printed", "casts-without-precision"])
@pytest.mark.parametrize("expr, rows, bad, past", CASES)
def test_postgres_bills_products_and_quotients_as_duckdb_and_the_oracle(postgres_server, tmp_path,
                                                                         plain, expr, rows, bad, past):
    plan = compile_text(PRICING.replace("EXPR", expr))
    events = _events(expr, rows)
    files = [write_events(tmp_path / "u.jsonl", events)]
    terms, windows = terms_and_windows(plan, THROUGH)
    keys = property_columns(sorted({k for e in events for k in e["properties"]}))
    table = write_flat_csv(tmp_path / "table.csv", events, keys)
    sql = warehouse_sql(plan, terms, windows, "postgres")
    result = _postgres(postgres_server.psql, _without_precision(sql) if plain else sql, table, keys, tmp_path)
    if result is None:  # stopped, never a value: the engine's row reader names the row (docs/usage.md)
        assert past and not plain
        return
    aggregates, _, counts = read_result(plan, result, 0)
    oracle = reference_aggregate(plan, terms, windows, files, skip_bad_rows=str(tmp_path / "o.jsonl"))
    engine = duckdb_aggregate(plan, terms, windows, files, skip_bad_rows=str(tmp_path / "d.jsonl"))
    assert counts.bad == oracle.rejected["bad_row"] == engine.rejected["bad_row"] == bad
    assert aggregates == oracle.aggregates == engine.aggregates
    assert counts.read == len(rows)


def test_the_quantities_are_those_worked_by_hand(postgres_server, tmp_path):
    """Not only equal: right (products exact, quotients half-even at the 18th place)."""
    expected = {"a * b": Decimal("3.3749999995") + Decimal("1E-18"),  # (the first case of each)
                "a / b": Decimal("0.333333333333333333") + Decimal("0.666666666666666667")
                + Decimal(0) + Decimal("2E-18") - Decimal("2.333333333333333333"),
                "duration_ms / 3_600_000": Decimal("0.342935277777777778") + Decimal("0.5")}
    for expr, rows, _, _ in CASES:
        if expr in expected:
            plan = compile_text(PRICING.replace("EXPR", expr))
            files = [write_events(tmp_path / "u.jsonl", _events(expr, rows))]
            terms, windows = terms_and_windows(plan, THROUGH)
            report = reference_aggregate(plan, terms, windows, files, skip_bad_rows=str(tmp_path / "o.jsonl"))
            assert [a.quantity for a in report.aggregates] == [expected.pop(expr)], expr


def test_bigquery_casts_no_derived_operand_to_numeric():
    """BigQuery's NUMERIC keeps 9 places (a product of two would be rounded there): every
    decimal the derived quantity computes in is BIGNUMERIC, and the places and range tests
    are written out (FLOOR, comparisons), since its casts carry no scale."""
    plan = compile_text(PRICING.replace("EXPR", "a * b / c + d * e"))
    terms, windows = terms_and_windows(plan, THROUGH)
    sql = warehouse_sql(plan, terms, windows, "bigquery")
    assert " AS NUMERIC)" not in sql and "NUMERIC(" not in sql
    assert "FLOOR(" in sql and "99999999999999999999.999999999999999999" in sql
    assert "9999999999999999999.999999999999999999" in sql
