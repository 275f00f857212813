"""A property given as the empty string is absent, in every format and engine
(docs/usage.md, "An empty text is absent"): the same events bill the same whether
they are written as JSONL (either DuckDB reading), CSV or Parquet (every layout),
read by DuckDB, the row reader or the reference, or from a warehouse table. (The
language's side, `""` as a value being E318, is in test_compiler, test_testing
and test_contracts_json; Spark's in test_spark.)"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ratecard.usage import aggregate_usage, reference
from ratecard.usage.records import ContractTerm, Window

from billing_helpers import FILTERED_TOKENS_METER, compile_text, run

PRICING = """
currency USD

""" + FILTERED_TOKENS_METER + """meter EU_CALLS { event "api.request"  count  dimensions region  where region = "eu"  rates { default : $0.001 } }
meter CALLS { event "api.request"  count  dimensions region  rates { default : $0.002 } }
meter USERS { event "api.request"  unique user  rates { default : $1 } }

plan all {
  billing monthly
  charge TOKENS
  charge EU_CALLS
  charge CALLS
  charge USERS
}

# the contract's `model` applies to a line without one (docs/billing.md): to the "" events too
contract acme { customer "c_acme"  plan all  starts 2026-01-01  dimensions model = "gpt-4" }
"""
KEYS = ("model", "region", "tokens", "user")


def _event(i: int, type_: str, **props) -> dict:
    return {"id": f"e{i}", "type": type_, "customer": "c_acme",
            "time": f"2026-01-{1 + i % 28:02d}T10:00:00Z", "properties": props}


# Every property a meter reads given as "" somewhere: a dimension (grouped under
# "absent"), a filter's key (`!=` lets it through, `=` does not), a `unique` field
# (not counted); whitespace is a value.
EVENTS = [
    _event(1, "llm.completion", model="gpt-4", region="eu", tokens="1000"),
    _event(2, "llm.completion", model="", region="eu", tokens="2000"),
    _event(3, "llm.completion", model="", region="", tokens="3000"),
    _event(4, "llm.completion", region="us", tokens="500"),
    _event(5, "llm.completion", model=" ", region="us", tokens="700"),
    _event(6, "llm.completion", model="gpt-3.5", region="test", tokens="900"),
    _event(7, "api.request", region="eu", user="u1"),
    _event(8, "api.request", region="", user=""),
    _event(9, "api.request", user="u2"),
    _event(10, "api.request", region="", user="u1"),
    _event(11, "api.request", region=" ", user=" "),
]
# A quantity given as "" is missing: a bad row, named as a missing one is.
BAD = _event(12, "llm.completion", model="gpt-4", region="eu", tokens="")


def _without_empty(events: list[dict]) -> list[dict]:
    return [{**e, "properties": {k: v for k, v in e["properties"].items() if v != ""}} for e in events]


def _jsonl(path: Path, events: list[dict], *, escaped: bool) -> str:
    """`escaped`: every line written with a `\\u` escape, so DuckDB reads the file exactly
    (`sources._json_select`); otherwise no line needs that (`_jsonl_plain_select`)."""
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    if escaped:
        lines = [line.replace('"id"', '"\\u0069d"', 1) for line in lines]
    assert all(("\\" in line) == escaped for line in lines)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def _csv(path: Path, events: list[dict]) -> str:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "type", "customer", "time", *KEYS])
        for e in events:
            w.writerow([e["id"], e["type"], e["customer"], e["time"], *[e["properties"].get(k) for k in KEYS]])
    return str(path)


def _parquet(path: Path, events: list[dict], layout: str) -> str:
    """`flat` (a column per property), `struct`, `map` or `json` (text) `properties`."""
    cols = {k: [e[k] for e in events] for k in ("id", "type", "customer", "time")}
    props = [{k: e["properties"].get(k) for k in KEYS} for e in events]
    if layout == "flat":
        cols.update({k: [p[k] for p in props] for k in KEYS})
    elif layout == "struct":
        cols["properties"] = props
    elif layout == "map":
        cols["properties"] = pa.array([[(k, v) for k, v in p.items() if v is not None] for p in props],
                                      pa.map_(pa.string(), pa.string()))
    else:
        cols["properties"] = [json.dumps(e["properties"]) for e in events]
    pq.write_table(pa.table(cols), path)
    return str(path)


def _files(folder: Path, events: list[dict]) -> dict[str, str]:
    return {
        "jsonl": _jsonl(folder / "plain.jsonl", events, escaped=False),
        "jsonl exact": _jsonl(folder / "exact.jsonl", events, escaped=True),
        "csv": _csv(folder / "u.csv", events),
        **{f"parquet {layout}": _parquet(folder / f"{layout}.parquet", events, layout)
           for layout in ("flat", "struct", "map", "json")},
    }


@pytest.fixture(scope="module")
def plan():
    return compile_text(PRICING)


def _january(plan) -> tuple[list[ContractTerm], list[Window]]:
    start, end = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    charged = tuple(c.meter for c in plan.plans["all"].charges)
    return [ContractTerm("acme", "c_acme", "all", start, None, charged)], [Window("w", "acme", start, end)]


def test_the_same_events_bill_the_same_in_every_format(plan, tmp_path):
    """Byte-identical runs (invoices, lines, counts) from DuckDB in every format, the
    reference, and the same events with each "" property left out."""
    left_out_run = run(plan, [_jsonl(tmp_path / "left_out.jsonl", _without_empty(EVENTS), escaped=False)],
                       "2026-02-01", aggregator=aggregate_usage).run
    without_model = [line for i in left_out_run.invoices for line in i.lines
                     if line.charge == "TOKENS" and not line.dimensions]
    assert [(line.quantity, line.unit_price) for line in without_model] == [(5500, Decimal("0.03"))]
    left_out = left_out_run.model_dump_json()
    for name, path in _files(tmp_path, EVENTS).items():
        assert run(plan, [path], "2026-02-01", aggregator=aggregate_usage).run.model_dump_json() == left_out, name
        assert run(plan, [path], "2026-02-01").run.model_dump_json() == left_out, f"{name} (reference)"


def test_what_an_empty_text_bills(plan, tmp_path):
    """Absent, as the docs say: TOKENS lines for gpt-4, " " and absent (events 2, 3
    and 4; event 3 has no region, which `!=` lets through); the `= "eu"` filter drops
    the events without a region; USERS counts u1, u2 and " "."""
    terms, windows = _january(plan)
    path = _jsonl(tmp_path / "u.jsonl", EVENTS, escaped=False)
    got = {(a.meter, a.dimensions): (str(a.quantity), a.events)
           for a in aggregate_usage(plan, terms, windows, [path]).aggregates}
    assert got == {
        ("TOKENS", (("model", None),)): ("5500", 3),
        ("TOKENS", (("model", " "),)): ("700", 1),
        ("TOKENS", (("model", "gpt-4"),)): ("1000", 1),
        ("EU_CALLS", (("region", "eu"),)): ("1", 1),
        ("CALLS", (("region", None),)): ("3", 3),
        ("CALLS", (("region", " "),)): ("1", 1),
        ("CALLS", (("region", "eu"),)): ("1", 1),
        ("USERS", ()): ("3", 5),
    }


def test_a_quantity_given_as_empty_text_is_a_missing_one(plan, tmp_path):
    """A file with a bad row takes the slow path (the row reader names it): in every
    format the row is bad for the same reason, DuckDB and the reference agree, and
    with the bad row skipped the rest bills as the good events alone."""
    terms, windows = _january(plan)
    good = aggregate_usage(plan, terms, windows, [_jsonl(tmp_path / "good.jsonl", EVENTS, escaped=False)])
    folder = tmp_path / "bad"
    folder.mkdir()
    for name, path in _files(folder, EVENTS + [BAD]).items():
        ours = aggregate_usage(plan, terms, windows, [path])
        oracle = reference.aggregate_usage(plan, terms, windows, [path])
        assert [b.reason for b in ours.bad_rows] == [b.reason for b in oracle.bad_rows] \
            == ["missing quantity `tokens` for meter TOKENS"], name
        assert [d.message for d in ours.diagnostics] == [d.message for d in oracle.diagnostics], name
        skipped = aggregate_usage(plan, terms, windows, [path], skip_bad_rows=str(folder / f"{name}.skipped"))
        assert skipped.aggregates == good.aggregates, name


def test_a_warehouse_table_reads_an_empty_text_as_absent(plan, tmp_path):
    """The query `ratecard sql` prints, run on a table whose cells hold '' (not NULL):
    the aggregates DuckDB makes of the same events in a file."""
    import duckdb

    from ratecard.billing.scope import terms_and_windows
    from ratecard.usage.result import read_result
    from ratecard.usage.rows import needed_keys
    from ratecard.usage.warehouse import property_columns, warehouse_sql

    through = dt.date(2026, 2, 1)
    terms, windows = terms_and_windows(plan, through)
    keys = property_columns(needed_keys(plan))
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    columns = ", ".join(f'"{c}" VARCHAR' for c in ("id", "type", "customer", "time", *keys))
    conn.execute(f"CREATE TABLE usage_events ({columns})")
    conn.executemany(f"INSERT INTO usage_events VALUES ({', '.join('?' for _ in range(4 + len(keys)))})",
                     [[e["id"], e["type"], e["customer"], e["time"], *[e["properties"].get(k) for k in keys]]
                      for e in EVENTS])
    assert conn.execute("SELECT count(*) FROM usage_events WHERE model = ''").fetchone() == (2,)
    rows = [r for r in conn.execute(warehouse_sql(plan, terms, windows, "duckdb")).fetchall() if r[0] != "scope"]
    aggregates, _, _ = read_result(plan, rows, max(len(m.dimensions) for m in plan.meters.values()))
    path = _jsonl(tmp_path / "u.jsonl", EVENTS, escaped=False)
    assert aggregates == aggregate_usage(plan, terms, windows, [path]).aggregates
