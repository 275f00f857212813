"""The usage query stays lean: what DuckDB binds and optimizes, and what sqlglot
builds, on every run whatever the number of events (docs/scale.md, "Fixed cost of
a run"). Each test holds one property that keeps the query small; none times anything."""

from __future__ import annotations

import re

import duckdb
import pytest
from sqlglot import exp

from ratecard.usage import rows, sql
from ratecard.usage.query import AGGREGATE, Relations, build_query
from ratecard.usage.sources import Source, source_select

from billing_helpers import compile_text

PRICING = """
meter TOKENS { event "llm.completion"  sum tokens  dimensions model }
meter HOURS { event "job.run"  sum duration_ms / 3_600_000 + setup  dimensions region }
meter PEAK { event "storage.snapshot"  max gigabytes }
meter USERS { event "api.request"  unique user }
meter SEATS { event "seats.set"  latest seats }
meter CALLS { event "api.request"  count  dimensions region }
meter LEVEL { event "storage.snapshot"  weighted gigabytes per month  dimensions region }
plan p {
  charge TOKENS : $1 per unit
  charge HOURS : $1 per unit
  charge PEAK : $1 per unit
  charge USERS : $1 per unit
  charge SEATS : $1 per unit
  charge CALLS : $1 per unit
  charge LEVEL : $1 per unit
}
contract acme { customer "c"  plan p  starts 2026-01-01 }
"""

RELATIONS = Relations(exp.to_table("rc_terms"), exp.to_table("rc_windows"), exp.to_table("rc_segments"))
KEYS = ("duration_ms", "gigabytes", "model", "region", "seats", "setup", "tokens", "user")
SOURCES = {
    "jsonl": Source("u.jsonl", "jsonl"),
    "jsonl, plain": Source("u.jsonl", "jsonl", exact=False),
    "csv": Source("u.csv", "csv", tuple((c, "VARCHAR") for c in ("id", "type", "customer", "time", *KEYS))),
    "parquet, JSON properties": Source("u.parquet", "parquet", (("id", "VARCHAR"), ("type", "VARCHAR"),
                                                                 ("customer", "VARCHAR"), ("time", "TIMESTAMP"),
                                                                 ("properties", "VARCHAR")), "json"),
    "parquet, STRUCT properties": Source("u.parquet", "parquet", (("id", "VARCHAR"), ("type", "VARCHAR"),
                                                                   ("customer", "VARCHAR"), ("time", "VARCHAR"),
                                                                   ("properties", "STRUCT")), "struct",
                                         tuple((k, "DOUBLE") for k in KEYS)),
    "table": Source("events", "table", tuple((c, "VARCHAR") for c in ("id", "type", "customer", "time", *KEYS))),
}


@pytest.fixture(scope="module")
def plan():
    return compile_text(PRICING)


def _nodes(tree: exp.Expression):
    """Every node of `tree`, by walking the arguments (not the parent links)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for value in node.args.values():
            stack.extend(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, exp.Expression))


@pytest.mark.parametrize("kind", sorted(SOURCES))
@pytest.mark.parametrize("rank_every_event", [False, True])
def test_no_node_of_the_query_is_in_two_places(plan, kind, rank_every_event):
    """The query is built without deep copies (`sql.and_`, copy=False builders): that is
    safe only while every node is built for the one place it goes, which this holds to."""
    query, _ = build_query(plan, [SOURCES[kind]], RELATIONS, KEYS, rank_every_event=rank_every_event)
    seen: set[int] = set()
    for node in _nodes(query):
        assert id(node) not in seen, f"a node in two places: {node.sql('duckdb')[:200]}"
        seen.add(id(node))


def test_the_number_text_macro_binds_its_pieces_once():
    """`rc_number_text` is expanded by DuckDB wherever it is called: its body names the
    written-out number once (a lambda's parameter), not once per step of the trimming."""
    statement, = sql.macros()
    assert len(statement) < 2000
    body = statement.split(" AS ", 1)[1]
    assert len(re.findall(r"\btext\b", body)) <= 12
    assert body.count("REGEXP_EXTRACT") == 1


def test_the_number_text_macro_is_the_row_readers_number_text():
    conn = duckdb.connect()
    for statement in sql.macros():
        conn.execute(statement)
    texts = ["1.5e3", "25E-3", "-0e0", "+0.0e5", "1.50e-17", "-.5e1", "5.e0", "0001.2300e2", "-1.0E+2",
             "0.000e-3", "1e+20", "1.50", "-0.0", "5.", "12"]
    got = [conn.execute("SELECT rc_number_text(?)", [t]).fetchone()[0] for t in texts]
    assert got == [rows.number_text(t) for t in texts]


def test_the_macro_statements_are_built_once_per_process():
    assert sql.macros() == sql.macros()
    assert sql._macro_statements() is sql._macro_statements()


@pytest.mark.parametrize("kind", ["jsonl", "parquet, JSON properties"])
def test_each_json_text_and_the_keys_are_extracted_once(kind):
    """The exact JSON reading extracts every type, every text and the object keys in one
    call each, and each value is read from a named column of step `n` after that."""
    select = source_select(SOURCES[kind], KEYS)
    printed = select.sql("duckdb")
    assert printed.count("JSON_EXTRACT_STRING(") == 1
    assert printed.count("JSON_TYPE(") == 1
    assert printed.count("JSON_KEYS(") == 1
    outer = select.copy()
    outer.set("from_", None)  # the last step alone: it reads named pieces, never the lists
    assert not any(isinstance(n, exp.Bracket) for n in outer.find_all(exp.Bracket))


def test_each_aggregate_is_computed_once(plan):
    """A meter's aggregate is written once, in its GROUP BY (`g_quantity`), and trimmed of
    storage zeros outside it."""
    query, _ = build_query(plan, [SOURCES["csv"]], RELATIONS, KEYS)
    aggregated = [m for m in plan.meters.values() if m.aggregation.function != "weighted"]
    assert len(list(query.find_all(exp.Sum))) == sum(m.aggregation.function == "sum" for m in aggregated)
    assert len(list(query.find_all(exp.Max))) == sum(m.aggregation.function == "max" for m in aggregated)
    assert len(list(query.find_all(exp.ArgMax))) == sum(m.aggregation.function == "latest" for m in aggregated)
    named = [a for a in query.find_all(exp.Alias) if a.alias == AGGREGATE]
    assert len(named) == len(aggregated)
    # a derived quantity's value (a long division) is in its meter's GROUP BY once
    hours = next(s for s in query.find_all(exp.Select)
                 if any(isinstance(a, exp.Alias) and a.alias == "meter" and a.this.name == "HOURS"
                        for a in s.expressions) and s.args.get("group"))
    assert len(list(hours.find_all(exp.Sum))) == 1


def test_a_derived_quotient_keeps_the_query_small(plan):
    """The printed query with a derived quotient among seven meters: the size that DuckDB
    binds on every run: 156 KB when each aggregate was written five times, 64 KB since."""
    query, _ = build_query(plan, [SOURCES["csv"]], RELATIONS, KEYS)
    assert len(query.sql("duckdb")) < 80_000
