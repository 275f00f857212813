"""Reading usage exactly (issue 13): every format reads the same events, a number
is its text, a time is valid once, a path is a path, and a bad row is named by
its file and line in every mode. Each test compares the DuckDB engine with the
pure-Python reference (the row reader's definitions) where both apply."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ratecard.usage import reference
from ratecard.usage import aggregate_usage
from ratecard.usage.records import ContractTerm, Window

from billing_helpers import FILTERED_TOKENS_METER, compile_text
from render_helpers import run_cli

UTC = dt.timezone.utc

PRICING = """
currency USD

""" + FILTERED_TOKENS_METER + """meter EU_CALLS { event "api.request"  count  dimensions region  where region = "eu"  rates { default : $0.001 } }
meter PEAK { event "storage.snapshot"  max gigabytes  dimensions region  rates { default : $0.10 } }
meter USERS { event "api.request"  unique user  rates { default : $1 } }
meter SEATS { event "seats.set"  latest seats  rates { default : $5 } }

plan all {
  billing monthly
  charge TOKENS
  charge EU_CALLS
  charge PEAK
  charge USERS
  charge SEATS
}

contract acme { customer "c_acme"  plan all  starts 2026-01-01 }
"""
KEYS = ("gigabytes", "model", "region", "seats", "tokens", "user")


@pytest.fixture(scope="module")
def plan():
    return compile_text(PRICING)


def _terms(plan):
    return [ContractTerm("acme", "c_acme", "all", dt.datetime(2026, 1, 1, tzinfo=UTC), None,
                         tuple(c.meter for c in plan.plans["all"].charges))]


def _windows():
    def d(s):
        return dt.datetime.fromisoformat(s).replace(tzinfo=UTC)
    return [Window("acme@2026-01-01", "acme", d("2026-01-01"), d("2026-02-01")),
            Window("acme@2026-02-01", "acme", d("2026-02-01"), d("2026-03-01"))]


def _both(plan, files, **kw):
    ours = aggregate_usage(plan, _terms(plan), _windows(), [str(f) for f in files], **kw)
    oracle = reference.aggregate_usage(plan, _terms(plan), _windows(), [str(f) for f in files], **kw)
    return ours, oracle


def _same(ours, oracle):
    """The same diagnostics; with none, the same aggregates and counts, reconciled."""
    assert [d.message for d in ours.diagnostics] == [d.message for d in oracle.diagnostics]
    if not ours.diagnostics:
        assert ours.aggregates == oracle.aggregates
        assert (ours.events_read, ours.billed, ours.rejected) == (oracle.events_read, oracle.billed, oracle.rejected)
        assert ours.reconciles


def _quantities(report) -> dict:
    return {(a.window, a.meter, a.dimensions): a.quantity for a in report.aggregates}


def ev(i, time, type_="llm.completion", customer="c_acme", **props):
    return {"id": f"e{i}", "type": type_, "customer": customer, "time": time, "properties": props}


def _jsonl(path: Path, events) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


def _csv(path: Path, events, keys=KEYS, bom=False) -> Path:
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "type", "customer", "time", *keys])
        for e in events:
            w.writerow([e["id"], e["type"], e["customer"], e["time"], *[e["properties"].get(k, "") for k in keys]])
    return path


def _parquet(path: Path, events, layout: str, keys=KEYS) -> Path:
    """Text properties as a MAP, a STRUCT, JSON text, or one column each (`flat`)."""
    cols = {k: [e[k] for e in events] for k in ("id", "type", "customer", "time")}
    props = [{k: e["properties"][k] for k in keys if e["properties"].get(k) is not None} for e in events]
    if layout == "map":
        cols["properties"] = pa.array([list(p.items()) for p in props], pa.map_(pa.string(), pa.string()))
    elif layout == "struct":
        cols["properties"] = pa.array([{k: p.get(k) for k in keys} for p in props],
                                      pa.struct([(k, pa.string()) for k in keys]))
    elif layout == "json":
        cols["properties"] = [json.dumps(p) for p in props]
    else:
        cols.update({k: [p.get(k) for p in props] for k in keys})
    pq.write_table(pa.table(cols), path)
    return path


# ----------------------------------------------------------------- 1. every layout reads the same properties


event_strategy = st.fixed_dictionaries({
    "id": st.sampled_from([f"e{i}" for i in range(20)]),
    "customer": st.sampled_from(["c_acme", "c_acme", "c_other"]),
    "type": st.sampled_from(["llm.completion", "api.request", "storage.snapshot", "seats.set", "other"]),
    "time": st.datetimes(min_value=dt.datetime(2025, 12, 28), max_value=dt.datetime(2026, 2, 27))
              .map(lambda t: t.replace(microsecond=0).isoformat() + "Z"),
    "properties": st.fixed_dictionaries({}, optional={
        "tokens": st.decimals(min_value=0, max_value=10**9, places=4).map(str),
        "gigabytes": st.decimals(min_value=-5, max_value=900, places=2).map(str),
        "seats": st.integers(min_value=0, max_value=50).map(str),
        # "" is absent in every layout (docs/usage.md); " " is a value
        "model": st.sampled_from(["gpt-4", "gpt-3.5", "ünï", "a'b", "", " "]),
        "region": st.sampled_from(["eu", "us", "test", ""]),
        "user": st.sampled_from(["u1", "u2", "u3", ""]),
    }),
})


def _complete(e):
    """Every meter that reads the event finds its quantity: every row is good."""
    p = dict(e["properties"])
    if e["type"] == "llm.completion" and p.get("region") != "test":
        p.setdefault("tokens", "1")
    if e["type"] == "storage.snapshot":
        p.setdefault("gigabytes", "1")
    if e["type"] == "seats.set":
        p.setdefault("seats", "1")
    return {**e, "properties": p}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(event_strategy.map(_complete), min_size=1, max_size=30))
def test_map_struct_json_text_and_jsonl_read_the_same_properties(plan, tmp_path_factory, events):
    """Properties as a Parquet MAP, STRUCT, JSON text or flat columns, as CSV or as JSONL:
    the same aggregates for every aggregation (count, sum, max, unique, latest) and
    every filter (`=` and `!=`), as the reference reads them."""
    folder = tmp_path_factory.mktemp("layouts")
    jsonl = _jsonl(folder / "u.jsonl", events)
    ours, oracle = _both(plan, [jsonl])
    _same(ours, oracle)
    for layout in ("map", "struct", "json", "flat"):
        path = _parquet(folder / f"{layout}.parquet", events, layout)
        other, other_oracle = _both(plan, [path])
        _same(other, other_oracle)
        assert other.aggregates == ours.aggregates, layout
        assert (other.billed, other.rejected) == (ours.billed, ours.rejected), layout
    other, _ = _both(plan, [_csv(folder / "u.csv", events)])
    assert (other.aggregates, other.billed, other.rejected) == (ours.aggregates, ours.billed, ours.rejected)


def test_map_properties_price_and_filter(plan, tmp_path):
    """The regression: with a MAP every property read as empty, so lines fell to the
    default price and `where` filters were bypassed."""
    events = [ev(1, "2026-01-05T00:00:00Z", tokens="2000", model="gpt-4", region="eu"),
              ev(2, "2026-01-05T00:00:00Z", tokens="500", model="gpt-4", region="test"),
              ev(3, "2026-01-05T00:00:00Z", "api.request", region="us", user="u1")]
    ours, oracle = _both(plan, [_parquet(tmp_path / "m.parquet", events, "map")])
    _same(ours, oracle)
    assert _quantities(ours) == {("acme@2026-01-01", "TOKENS", (("model", "gpt-4"),)): Decimal(2000),
                                 ("acme@2026-01-01", "USERS", ()): Decimal(1)}
    assert ours.rejected["filtered"] == 1  # test traffic; the us call is only counted by USERS


def test_map_with_numeric_values(plan, tmp_path):
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({
        "id": ["a", "b"], "type": ["llm.completion"] * 2, "customer": ["c_acme"] * 2,
        "time": ["2026-01-05T00:00:00Z"] * 2,
        "properties": pa.array([[("tokens", Decimal("1.50"))], [("tokens", Decimal("2.25"))]],
                               pa.map_(pa.string(), pa.decimal128(10, 2)))}), path)
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    assert _quantities(ours) == {("acme@2026-01-01", "TOKENS", (("model", None),)): Decimal("3.75")}


def test_a_list_properties_column_is_a_diagnostic_naming_the_file(plan, tmp_path):
    path = tmp_path / "l.parquet"
    pq.write_table(pa.table({"id": ["a"], "type": ["api.request"], "customer": ["c_acme"],
                             "time": ["2026-01-05T00:00:00Z"], "properties": [[1, 2]]}), path)
    report = aggregate_usage(plan, _terms(plan), _windows(), [str(path)])
    (diag,) = report.diagnostics
    assert diag.code == "E501" and str(path) in diag.message and "properties" in diag.message


# ----------------------------------------------------------------- 2. a path is a path


def test_a_usage_name_is_a_path_not_a_pattern(plan, tmp_path):
    one = [ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu")]
    two = [ev(2, "2026-01-06T00:00:00Z", "api.request", region="eu"),
           ev(3, "2026-01-07T00:00:00Z", "api.request", region="eu")]
    _jsonl(tmp_path / "u1.jsonl", two)
    _jsonl(tmp_path / "vmore.jsonl", two)
    _csv(tmp_path / "wx.csv", two)
    (tmp_path / "d[1]").mkdir()
    _jsonl(tmp_path / "d1.jsonl", two)
    for name, writer in (("u[1].jsonl", _jsonl), ("v*.jsonl", _jsonl), ("w?.csv", _csv), ("d[1]/x?.jsonl", _jsonl)):
        path = writer(tmp_path / name, one)
        ours, oracle = _both(plan, [path])
        _same(ours, oracle)
        assert ours.events_read == 1, name
    pq.write_table(pa.table({"id": ["p"], "type": ["api.request"], "customer": ["c_acme"],
                             "time": ["2026-01-05T00:00:00Z"], "region": ["eu"]}), tmp_path / "p[1].parquet")
    _parquet(tmp_path / "p1.parquet", two, "flat")
    ours, _ = _both(plan, [tmp_path / "p[1].parquet"])
    assert ours.events_read == 1


def test_a_directory_given_as_usage_says_so(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    (tmp_path / "usage").mkdir()
    code, _, err = run_cli(["invoice", "p.pricing", "--usage", "usage", "--through", "2026-02-01"],
                           tmp_path, monkeypatch, capsys)
    assert code == 2 and "`usage` is a directory" in err


# ----------------------------------------------------------------- 3. numbers are their text


def _numbers_line(i: int, raw: str, *, model: str | None = None) -> str:
    """An event whose `tokens` (and `model`) are the JSON number `raw`, as written."""
    text = json.dumps(ev(i, "2026-01-05T00:00:00Z", region="eu"))
    extra = f'"tokens": {raw}' + (f', "model": {model}' if model is not None else "")
    return text.replace('"region"', extra + ', "region"')


def test_json_numbers_are_read_exactly(plan, tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_text("\n".join([_numbers_line(1, "12345678901234567.123"),
                               _numbers_line(2, "0.0000001"),
                               _numbers_line(3, "1E2"),
                               _numbers_line(4, "2.5e-3", model="1.50e1")]) + "\n", encoding="utf-8")
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    assert _quantities(ours) == {
        ("acme@2026-01-01", "TOKENS", (("model", None),)): Decimal("12345678901234667.1230001"),
        ("acme@2026-01-01", "TOKENS", (("model", "15"),)): Decimal("0.0025")}


def test_a_number_with_more_decimals_than_a_quantity_holds_is_a_bad_row(plan, tmp_path):
    """25 decimals were rounded by the double; now the row is bad, named by file and line."""
    path = tmp_path / "n.jsonl"
    path.write_text(_numbers_line(1, "1") + "\n" + _numbers_line(2, "1.0000000000000000000000001") + "\n",
                    encoding="utf-8")
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    (diag,) = ours.diagnostics
    assert diag.code == "E500" and (diag.span.file, diag.span.line) == (str(path), 2)
    assert "1.0000000000000000000000001" in diag.message


def test_an_exponent_reads_the_same_in_every_format(plan, tmp_path):
    """`1E2` in JSON, `1e2` in CSV, `"1e2"` as a JSON string: the quantity 100."""
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(_numbers_line(1, "1E2") + "\n" + json.dumps(
        ev(2, "2026-01-05T00:00:00Z", tokens="1e2", region="eu")) + "\n", encoding="utf-8")
    csv_path = _csv(tmp_path / "b.csv", [ev(3, "2026-01-05T00:00:00Z", tokens="1e2", region="eu"),
                                         ev(4, "2026-01-05T00:00:00Z", tokens="2.5E-2", region="eu")])
    ours, oracle = _both(plan, [jsonl, csv_path])
    _same(ours, oracle)
    assert _quantities(ours) == {("acme@2026-01-01", "TOKENS", (("model", None),)): Decimal("300.025")}


_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=24).map(lambda s: s.lstrip("0") or "0")


@st.composite
def json_numbers(draw) -> str:
    """JSON number texts: long integers and fractions, exponents, negatives, zeros."""
    text = draw(_DIGITS)
    if draw(st.booleans()):
        text += "." + draw(st.text(alphabet="0123456789", min_size=1, max_size=26))
    if draw(st.booleans()):
        text += draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"])) + \
            str(draw(st.integers(min_value=0, max_value=40)))
    return draw(st.sampled_from(["", "-"])) + text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(json_numbers(), min_size=1, max_size=12))
# two quantities within the bound whose sum is past it: E506 from the engines and the oracle alike
# (found by this property: the oracle summed on)
@example(numbers=["50000000000000000000", "50000000000000000000"])
def test_json_numbers_read_as_their_text_property(plan, tmp_path_factory, numbers):
    """Any JSON number, as a quantity and as a dimension value: DuckDB reads what the
    row reader reads (the same sums, the same text, the same bad rows)."""
    path = tmp_path_factory.mktemp("numbers") / "n.jsonl"
    path.write_text("".join(_numbers_line(i, n, model=n) + "\n" for i, n in enumerate(numbers)), encoding="utf-8")
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    skipped = path.with_name("skipped.jsonl")
    ours, oracle = _both(plan, [path], skip_bad_rows=str(skipped))
    _same(ours, oracle)


# ----------------------------------------------------------------- 4 and 7. one validity rule for times


@pytest.mark.parametrize("time", ["2026-01-31T23:00:00+99:00", "2026-01-31T23:00:00+99:99",
                                  "2026-01-31T23:00:00-24:00", "9999-12-31T23:59:59-23:59",
                                  "0001-01-01T00:00:00+01:00", "0000-06-01T00:00:00Z"])
def test_an_impossible_time_is_a_bad_row_on_its_own(plan, tmp_path, time):
    """The engine itself rejects it (before, +99:00 moved the event into another
    period unless some other bad row made the row reader run)."""
    path = _jsonl(tmp_path / "t.jsonl", [ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu"),
                                         ev(2, time, "api.request", region="eu")])
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    (diag,) = ours.diagnostics
    assert diag.code == "E500" and diag.span.line == 2 and "bad timestamp" in diag.message


@pytest.mark.parametrize("time", ["2026-01-05t10:00:00z", "2026-01-05T10:00:00z", "2026-01-05t10:00:00Z",
                                  "2026-01-05t11:00+01:00", "2026-01-05t10:00:00.000000001z"])
def test_lower_case_t_and_z_are_rfc_3339(plan, tmp_path, time):
    """RFC 3339 section 5.6 (NOTE): `T` and `Z` may be written in small letters. Every
    engine reads such a time as the reference does (it was a bad row everywhere)."""
    path = _jsonl(tmp_path / "t.jsonl", [ev(1, time, "api.request", region="eu")])
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    assert ours.diagnostics == [] and ours.billed == 1
    csv_file = _csv(tmp_path / "t.csv", [ev(1, time, "api.request", region="eu")])
    assert _quantities(aggregate_usage(plan, _terms(plan), _windows(), [str(csv_file)])) == _quantities(ours)


def test_far_times_next_to_other_bad_rows_are_named(plan, tmp_path):
    """The row reader names them (it raised OverflowError on far timestamps)."""
    path = _jsonl(tmp_path / "t.jsonl", [ev(1, "9999-12-31T23:59:59-23:59", "api.request"),
                                         ev(2, "yesterday", "api.request"),
                                         ev(3, "0001-01-01T00:00:00+00:01", "api.request")])
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    assert [d.span.line for d in ours.diagnostics] == [1, 2, 3]


_TIMES = st.builds(
    lambda y, mo, d, sep, h, mi, s, frac, off: f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{off}",
    st.sampled_from([1, 2026, 9999]), st.integers(1, 13), st.integers(1, 31), st.sampled_from(["T", "t", " ", "x"]),
    st.integers(0, 24), st.integers(0, 60), st.integers(0, 60), st.sampled_from(["", ".5", ".999999999", ".1234567"]),
    st.one_of(st.sampled_from(["", "Z", "z"]), st.builds(lambda sg, oh, om: f"{sg}{oh:02d}:{om:02d}",
                                                     st.sampled_from("+-"), st.integers(0, 99), st.integers(0, 99))))


@settings(max_examples=200, deadline=None)
@given(st.lists(_TIMES, min_size=1, max_size=25))
def test_the_engines_time_check_is_the_row_readers(times):
    """One validity rule: the query's own check of a `time` text rejects exactly what
    `rows.parse_time` rejects, and reads the same instant (truncated to microseconds)."""
    import duckdb

    from ratecard.usage.sources import Source, _time
    from ratecard.usage.sql import STAMP, cast
    from ratecard.usage.rows import parse_time
    from sqlglot import exp

    t, bad = _time(Source("x", "table", (("time", "VARCHAR"),)), exp.column("time"))
    sql = f"SELECT {exp.Not(this=exp.Paren(this=bad)).sql('duckdb')}, {t.sql('duckdb')} " \
          "FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS u(time, i) ORDER BY i"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(sql, [times]).fetchall()
    python = [parse_time(x) for x in times]
    assert [bool(ok) for ok, _ in rows] == [p is not None for p in python]
    assert [v for (ok, v) in rows if ok] == [p for p in python if p is not None]
    assert cast  # noqa: the helpers the query uses are the ones imported
    assert STAMP


def test_nanoseconds_are_truncated_never_rounded_up(plan, tmp_path):
    """The last nanosecond of January is January, in Parquet TIMESTAMP_NS (with and
    without a zone) and in JSONL and CSV text with nine fractional digits."""
    last = 1769903999999999999  # 2026-01-31T23:59:59.999999999Z in ns
    base = {"id": ["a", "b"], "type": ["api.request"] * 2, "customer": ["c_acme"] * 2, "region": ["eu"] * 2}
    files = []
    for i, kind in enumerate([pa.timestamp("ns", tz="UTC"), pa.timestamp("ns")]):
        path = tmp_path / f"ns{i}.parquet"
        pq.write_table(pa.table({**base, "id": [f"a{i}", f"b{i}"],
                                 "time": pa.array([last, last + 1], kind)}), path)
        files.append(path)
    text = [ev(10, "2026-01-31T23:59:59.999999999Z", "api.request", region="eu"),
            ev(11, "2026-01-31 23:59:59.9999999", "api.request", region="eu")]
    files += [_jsonl(tmp_path / "t.jsonl", text), _csv(tmp_path / "t.csv", [{**e, "id": e["id"] + "c"} for e in text])]
    ours, oracle = _both(plan, files)
    _same(ours, oracle)
    calls = {a.window: a.quantity for a in ours.aggregates if a.meter == "EU_CALLS"}
    assert calls == {"acme@2026-01-01": 6, "acme@2026-02-01": 2}


# ----------------------------------------------------------------- the engine's memory


def test_a_memory_limit_too_small_to_run_is_refused_where_it_enters(plan, tmp_path, monkeypatch, capsys):
    path = _jsonl(tmp_path / "u.jsonl", [ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu")])
    for limit in ("1KB", "lots"):
        report = aggregate_usage(plan, _terms(plan), _windows(), [str(path)], memory_limit=limit)
        (diag,) = report.diagnostics
        assert diag.code == "E501" and f"`{limit}`" in diag.message and "--memory-limit" in diag.message
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                 "--memory-limit", "1KB"], tmp_path, monkeypatch, capsys)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--memory-limit: `1KB` is below" in err and "internal error" not in err
    assert aggregate_usage(plan, _terms(plan), _windows(), [str(path)], memory_limit="64MiB").diagnostics == []


# ----------------------------------------------------------------- CSV as spreadsheets write it


def test_a_bom_is_no_part_of_the_first_column(plan, tmp_path):
    events = [ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu"),
              ev(2, "2026-01-06T00:00:00Z", "api.request", region="eu")]
    plain, _ = _both(plan, [_csv(tmp_path / "plain.csv", events)])
    for path in (_csv(tmp_path / "bom.csv", events, bom=True),
                 tmp_path / "bom.jsonl"):
        if path.suffix == ".jsonl":
            path.write_bytes(codecs.BOM_UTF8 + _jsonl(tmp_path / "x.jsonl", events).read_bytes())
        ours, oracle = _both(plan, [path])
        _same(ours, oracle)
        assert ours.diagnostics == [] and ours.aggregates == plain.aggregates and ours.billed == 2


def test_long_csv_cells_are_read(plan, tmp_path):
    """A cell over the csv module's 128 KiB default (the reporter failed on it)."""
    long = "x" * 200_000
    events = [ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu", user=long),
              ev(2, "2026-01-06T00:00:00Z", "api.request", region="eu", user="u1"),
              ev(3, "2026-01-07T00:00:00Z", "api.request")]  # a bad row elsewhere: the reporter reads it all
    path = _csv(tmp_path / "long.csv", events)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("e4,api.request,c_acme,yesterday,,,,,,\n")
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    assert [d.span.line for d in ours.diagnostics] == [5]
    ours, oracle = _both(plan, [path], skip_bad_rows=str(tmp_path / "skipped.jsonl"))
    _same(ours, oracle)
    assert _quantities(ours)[("acme@2026-01-01", "USERS", ())] == 2


def test_a_row_longer_than_the_engine_reads_is_a_bad_row(plan, tmp_path):
    huge = "y" * 2_100_000
    for path in (_csv(tmp_path / "huge.csv", [ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu"),
                                              ev(2, "2026-01-05T00:00:00Z", "api.request", user=huge),
                                              ev(3, "2026-01-06T00:00:00Z", "api.request", region="eu")]),
                 _jsonl(tmp_path / "huge.jsonl", [ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu"),
                                                  ev(2, "2026-01-05T00:00:00Z", "api.request", user=huge),
                                                  ev(3, "2026-01-06T00:00:00Z", "api.request", region="eu")])):
        ours, oracle = _both(plan, [path])
        _same(ours, oracle)
        (diag,) = ours.diagnostics
        assert diag.code == "E500" and (diag.span.file, diag.span.line) == (str(path), 3 if path.suffix == ".csv" else 2)
        ours, oracle = _both(plan, [path], skip_bad_rows=str(tmp_path / "skipped.jsonl"))
        _same(ours, oracle)
        assert ours.rejected["bad_row"] == 1 and ours.billed == 2


def test_a_multi_line_record_is_named_by_the_line_it_starts_on(plan, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('id,type,customer,time,region\n'
                    'a,api.request,c_acme,2026-01-05T00:00:00Z,eu\n'
                    'b,api.request,c_acme,"not\na\ntime",eu\n'
                    'c,api.request,c_acme,2026-01-06T00:00:00Z,"e\nu"\n'
                    'd,api.request,c_acme,never,eu\n', encoding="utf-8")
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    assert [d.span.line for d in ours.diagnostics] == [3, 8]


# ----------------------------------------------------------------- one definition of a good row


GOOD = json.dumps(ev(1, "2026-01-05T00:00:00Z", "api.request", region="eu"))
NOT_GOOD = {
    "invalid UTF-8": b'{"id":"x\xff","type":"api.request","customer":"c_acme","time":"2026-01-05T00:00:00Z"}',
    "a field twice": b'{"id":"x","id":"y","type":"api.request","customer":"c_acme","time":"2026-01-05T00:00:00Z"}',
    "a property twice": b'{"id":"x","type":"llm.completion","customer":"c_acme","time":"2026-01-05T00:00:00Z",'
                        b'"properties":{"tokens":1,"tokens":900}}',
    "a trailing comma": b'{"id":"x","type":"api.request","customer":"c_acme","time":"2026-01-05T00:00:00Z",}',
    "NaN": b'{"id":"x","type":"llm.completion","customer":"c_acme","time":"2026-01-05T00:00:00Z",'
           b'"properties":{"tokens":NaN}}',
    "an object as a value": b'{"id":"x","type":"api.request","customer":"c_acme","time":"2026-01-05T00:00:00Z",'
                            b'"properties":{"region":{"name":"eu"}}}',
    "a lone surrogate": b'{"id":"x\\ud800","type":"api.request","customer":"c_acme","time":"2026-01-05T00:00:00Z"}',
}


@pytest.mark.parametrize("name", sorted(NOT_GOOD))
def test_rows_a_lenient_reader_takes_are_bad_rows_in_every_mode(plan, tmp_path, name):
    """A row DuckDB refused (or read its own way) but the row reader took: one rule now,
    a bad row named by file and line, set aside with --skip-bad-rows while the rest is billed."""
    path = tmp_path / "u.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + NOT_GOOD[name] + b"\n" + GOOD.replace("e1", "e3").encode() + b"\n")
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    (diag,) = ours.diagnostics
    assert diag.code == "E500" and (diag.span.file, diag.span.line) == (str(path), 2)
    skipped = tmp_path / "skipped.jsonl"
    ours, oracle = _both(plan, [path], skip_bad_rows=str(skipped))
    _same(ours, oracle)
    assert ours.rejected["bad_row"] == 1 and ours.billed == 2 and ours.reconciles
    (row,) = [json.loads(x) for x in skipped.read_text(encoding="utf-8").splitlines()]
    assert (row["file"], row["line"]) == (str(path), 2)


def test_an_extra_or_missing_csv_cell_is_a_bad_row_in_every_mode(plan, tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("id,type,customer,time,region\n"
                    "a,api.request,c_acme,2026-01-05T00:00:00Z,eu\n"
                    "b,api.request,c_acme,2026-01-05T00:00:00Z,eu,extra\n"
                    "c,api.request,c_acme,2026-01-05T00:00:00Z\n"
                    "d,api.request,c_acme,2026-01-06T00:00:00Z,eu\n", encoding="utf-8")
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    assert [(d.span.line, d.code) for d in ours.diagnostics] == [(3, "E500"), (4, "E500")]
    ours, oracle = _both(plan, [path], skip_bad_rows=str(tmp_path / "skipped.jsonl"))
    _same(ours, oracle)
    assert ours.rejected["bad_row"] == 2 and ours.billed == 2


@pytest.mark.parametrize("header, said", [
    ("id,type,customer,time,region,region", "names column `region` twice (columns 5 and 6)"),
    ("id,,type,customer,time,region", "has a column without a name (column 2)"),
    ("id, type,customer,time,region", "has no column `type` (it has ` type`: a column's name is taken as written)"),
    ("ID,type,customer,time,region", "has no column `id` (it has `ID`: a column's name is taken as written)"),
    ("id,type,customer,region", "has no column `time`"),
])
def test_a_csv_header_with_a_repeated_or_empty_name_is_named_by_its_file(plan, tmp_path, header, said):
    """Which of two `region` cells to bill is not knowable (as for a JSONL key given twice),
    and a nameless column names nothing. Before, DuckDB's own words came out, naming no
    file: `E501 cannot read usage: Binder Error: Duplicate named argument "region" in
    function call to "struct_pack"`. A header without a required column made every row a bad
    row for the same reason ("missing field type", a thousand times): said once, of the header."""
    path = tmp_path / "u.csv"
    path.write_text(header + "\n" + "a,api.request,c_acme,2026-01-05T00:00:00Z,eu,us\n", encoding="utf-8")
    for kw in ({}, {"skip_bad_rows": str(tmp_path / "skipped.jsonl")}):
        report = aggregate_usage(plan, _terms(plan), _windows(), [str(path)], **kw)
        (diag,) = report.diagnostics
        assert diag.code == "E501" and (diag.span.file, diag.span.line) == (str(path), 1)
        assert f"the header of `{path}` {said}" in diag.message
        assert "Binder Error" not in diag.message and report.aggregates == []


def test_skip_mode_names_the_users_file_never_the_cleaned_copy(plan, tmp_path):
    """What the engine says about the copy it re-reads without the bad rows is said
    about the user's file, at the user's line."""
    from ratecard.usage import bad_rows
    from ratecard.usage.sources import engine_path

    path = tmp_path / "u.jsonl"
    path.write_bytes(b"\n".join([GOOD.encode(), NOT_GOOD["invalid UTF-8"], b"{broken",
                                 GOOD.replace("e1", "e4").encode(), b"{also broken"]) + b"\n")
    folder = tmp_path / "copy"
    folder.mkdir()
    clean, lines = bad_rows.write_clean_copy(str(path), {2, 3}, str(folder))
    assert lines == [1, 4, 5]
    said = f'Invalid Input Error: Malformed JSON in file "{engine_path(clean)}", at byte 1 in line 3'
    assert bad_rows.in_user_files(said, {clean: str(path)}, {clean: lines}) == \
        f'Invalid Input Error: Malformed JSON in file "{path}", at byte 1 in line 5'
    ours, oracle = _both(plan, [path], skip_bad_rows=str(tmp_path / "skipped.jsonl"))
    _same(ours, oracle)
    assert ours.billed == 2 and ours.rejected["bad_row"] == 3
    lines = [json.loads(x)["line"] for x in (tmp_path / "skipped.jsonl").read_text().splitlines()]
    assert lines == [2, 3, 5]


def test_lines_end_at_lf_crlf_or_a_lone_cr(plan, tmp_path):
    """As DuckDB's CSV reader and Spark's text reader split them (the row reader too)."""
    rows = [GOOD.replace("e1", f"e{i}").encode() for i in range(4)]
    path = tmp_path / "u.jsonl"
    path.write_bytes(rows[0] + b"\r\n" + rows[1] + b"\n" + rows[2] + b"\r" + b"{bad\r\n\r\n" + rows[3])
    ours, oracle = _both(plan, [path])
    _same(ours, oracle)
    assert [d.span.line for d in ours.diagnostics] == [4]
    assert re.search(r"u\.jsonl:4", ours.diagnostics[0].message)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(event_strategy.map(_complete), min_size=1, max_size=30),
       st.lists(st.sampled_from(["2.50", "0.0000001", "1000", "-0.0", "12.5", "true", '"7"', "null", '""']),
                min_size=1, max_size=30))
def test_the_json_reader_path_reads_what_the_exact_path_reads(plan, tmp_path_factory, monkeypatch, events, numbers):
    """A JSONL file no line of which needs the exact reading is read by DuckDB's JSON
    reader (`duckdb.plain_json`): the same report as reading every line exactly."""
    from ratecard.usage import duckdb as engine

    path = tmp_path_factory.mktemp("plain") / "u.jsonl"
    lines = [json.dumps(e) for e in events]
    lines += [_numbers_line(100 + i, n, model=n) for i, n in enumerate(numbers)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fast, oracle = _both(plan, [path])
    _same(fast, oracle)
    with monkeypatch.context() as m:
        m.setattr(engine, "plain_json", lambda conn, source, keys: source)
        exact = aggregate_usage(plan, _terms(plan), _windows(), [str(path)])
    assert [d.message for d in exact.diagnostics] == [d.message for d in fast.diagnostics]
    assert (exact.aggregates, exact.billed, exact.rejected) == (fast.aggregates, fast.billed, fast.rejected)


def test_a_plain_file_is_read_by_the_json_reader(plan, tmp_path):
    """The check that picks the reader: plain lines pass, every kind of line that needs
    the exact reading does not (an object as a property value the JSON reader shows as
    such; invalid UTF-8 fails either reader, and the row reader names it)."""
    import duckdb

    from ratecard.usage import duckdb as engine
    from ratecard.usage.rows import needed_keys
    from ratecard.usage.sources import Source

    conn = duckdb.connect()
    keys = needed_keys(plan)
    plain = _jsonl(tmp_path / "plain.jsonl", [ev(1, "2026-01-05T00:00:00Z", tokens=2.5, model="gpt-4")])
    assert engine.plain_json(conn, Source(str(plain), "jsonl"), keys).exact is False
    for i, line in enumerate([_numbers_line(1, "12345678901234567"), _numbers_line(1, "1e2"),
                              *[row.decode() for name, row in NOT_GOOD.items()
                                if name not in ("invalid UTF-8", "an object as a value")],
                              GOOD.replace('"e1"', "5"), GOOD.replace('"e1"', "5.0"), GOOD.replace('"e1"', '{"a":1}')]):
        path = tmp_path / f"x{i}.jsonl"
        path.write_text(line + "\n", encoding="utf-8")
        assert engine.plain_json(conn, Source(str(path), "jsonl"), keys).exact is True, line


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
@pytest.mark.parametrize("over", [-2, -1, 0])
def test_the_row_length_limit_is_one_rule(plan, tmp_path, newline, over):
    """At the limit, byte for byte, the engine and the row reader agree (a CR before
    the LF counts, as DuckDB counts it), in JSONL and CSV."""
    from ratecard.usage.rows import MAX_ROW_BYTES

    n = MAX_ROW_BYTES + over
    base = json.dumps(ev(2, "2026-01-05T00:00:00Z", "api.request", user="")).encode()
    line = base.replace(b'"user": ""', b'"user": "' + b"x" * (n - len(base)) + b'"')
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_bytes(json.dumps(ev(1, "2026-01-05T00:00:00Z", "api.request")).encode() + newline + line + newline)
    record = b"e2,api.request,c_acme,2026-01-05T00:00:00Z,"
    csv_path = tmp_path / "b.csv"
    csv_path.write_bytes(b"id,type,customer,time,user" + newline + b"e1,api.request,c_acme,2026-01-05T00:00:00Z,u"
                         + newline + record + b"y" * (n - len(record)) + newline)
    for path, row in ((jsonl, 2), (csv_path, 3)):
        ours, oracle = _both(plan, [path])
        _same(ours, oracle)
        assert [(d.code, d.span.line) for d in ours.diagnostics] == \
            ([("E500", row)] if n + len(newline) - 1 >= MAX_ROW_BYTES else [])
