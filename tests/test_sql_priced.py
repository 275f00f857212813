"""`ratecard sql --priced` (the aggregation and its rating, printed) and `invoice --aggregates`
of its saved result: DuckDB runs the printed query over the events table, and the invoices
billed from the result are byte-identical to those billed from the usage itself; a result
priced with other prices is refused."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlglot
from hypothesis import HealthCheck, event, given, settings

from ratecard.billing import engine_rating, evaluate
from ratecard.cli import main
from ratecard.compiler import compile_paths
from ratecard.usage.aggregates import aggregate_file
from ratecard.usage.rating_query import RATED_COLUMNS
from ratecard.usage.rows import needed_keys
from ratecard.usage.warehouse import DIALECTS, PRICED_DIALECTS, property_columns

from billing_helpers import compile_text, write_events
from test_engine_rating import _diagnostics, _explained, scenarios
from warehouse_helpers import CASES, CONFORMANCE, case_args, split_args, write_flat_csv

THROUGH = "2026-05-01"

# graduated, volume, package and unit prices; dimension values that rules name and
# values they do not (bronze, us, ...); a modifier on a dimension and one on a contract
# attribute; a dated rule; a contract override (dated too); a weighted meter (Python's).
PRICING = """
currency USD
rounding half_even

meter CALLS {
  event "call"
  sum n
  dimensions model, region
  rates {
    model = "gold" : graduated per call { up to 100 : $0.05  up to 1000 : $0.03 + $1  above : $0.01 }
    model = "silver" : volume per 10 call { up to 50 : $0.2  above : $0.1 + $0.5 }
    model in ("ruby", "jade") : package $0.75 per 20 calls
    region = "eu" : 10% off
    tier = "vip" : 5% off
    default : $0.0125 per call
  }
  rates from 2026-03-01 {
    model = "gold" : graduated per call { up to 50 : $0.06  above : $0.02 }
  }
}
meter HITS { event "hit"  count }
meter SEATS { event "seats"  weighted seats per month  rates { default : $3 } }

plan p {
  billing monthly
  charge CALLS
  charge HITS : package $2 per 100 calls
  charge SEATS
}

contract a {
  customer "ca"
  plan p
  starts 2026-01-01
}
contract b {
  customer "cb"
  plan p
  starts 2026-01-15
  dimensions tier = "vip"
  override HITS : $0.07 per call from 2026-02-20
}
contract c {
  customer "cc"
  plan p
  starts 2026-02-01
  override CALLS : volume per call { up to 10 : $0.5  above : $0.25 }
}
"""


def _events(seed: int = 7, n: int = 400) -> list[dict]:
    import random

    rnd = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    out = []
    for i in range(n):
        when = (start + dt.timedelta(minutes=rnd.randint(0, 120 * 24 * 60))).isoformat().replace("+00:00", "Z")
        customer = rnd.choice(["ca", "cb", "cc"])
        pick = rnd.random()
        if pick < 0.3:
            out.append({"id": f"h{i}", "type": "hit", "customer": customer, "time": when, "properties": {}})
        elif pick < 0.35:
            out.append({"id": f"s{i}", "type": "seats", "customer": customer, "time": when,
                        "properties": {"seats": str(rnd.randint(0, 9))}})
        else:
            props = {"n": rnd.choice(["1", "2.5", "17", "120", "0.001", "0", "1.0000000001"])}
            model = rnd.choice(["gold", "silver", "ruby", "jade", "bronze", "plain", None])
            region = rnd.choice(["eu", "us", "apac", None])
            if model is not None:
                props["model"] = model
            if region is not None:
                props["region"] = region
            out.append({"id": f"c{i}", "type": "call", "customer": customer, "time": when, "properties": props})
    return out


def _cli(args, capsys):
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _write(folder: Path, pricing: str, events: list[dict]) -> Path:
    (folder / "t.pricing").write_text(pricing, encoding="utf-8")
    usage = folder / "usage.jsonl"
    usage.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return usage


def _run_printed(sql: str, folder: Path, events: list[dict], keys, fmt: str, name: str = "result") -> Path:
    """The printed query in a fresh DuckDB over the flat events table, saved as `fmt`."""
    table = write_flat_csv(folder / "table.csv", events, keys)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE usage_events AS SELECT * FROM read_csv(?, header = true, all_varchar = true)",
                 [table])
    target = folder / f"{name}.{fmt}"
    options = "(FORMAT parquet)" if fmt == "parquet" else "(HEADER)"
    conn.execute(f"COPY ({sql.rstrip().rstrip(';')}) TO '{target}' {options}")
    return target


def _keys(pricing_path: Path):
    plan = compile_paths([str(pricing_path)]).plan
    return plan, property_columns(needed_keys(plan))


def _quiet(args) -> tuple[int, str, str]:
    """`ratecard ARGS` with its output captured here (for a module-scoped fixture)."""
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def priced(tmp_path_factory):
    """(folder, the printed query, its Parquet result, its CSV result) for PRICING, once for
    the module (the tests name files by absolute path and write only new ones)."""
    folder = tmp_path_factory.mktemp("priced")
    events = _events()
    _write(folder, PRICING, events)
    code, sql, err = _quiet(["sql", str(folder / "t.pricing"), "--through", THROUGH, "--priced"])
    assert code == 0, err
    _, keys = _keys(folder / "t.pricing")
    return (folder, sql, _run_printed(sql, folder, events, keys, "parquet"),
            _run_printed(sql, folder, events, keys, "csv"))


@contextlib.contextmanager
def _spy():
    """Counts the lines whose figures in the file were checked against the Python pricer's
    (`EnginePrices.agrees`: offered) and agreed (taken)."""
    seen = {"offered": 0, "taken": 0}
    original = engine_rating.EnginePrices.agrees

    def spy(self, priced, amount, rated):
        found = original(self, priced, amount, rated)
        seen["offered"] += 1
        seen["taken"] += found
        return found

    engine_rating.EnginePrices.agrees = spy
    try:
        yield seen
    finally:
        engine_rating.EnginePrices.agrees = original


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_invoices_from_priced_aggregates_are_byte_identical(priced, fmt, capsys):
    folder, sql, parquet, csv_file = priced
    base = ["invoice", str(folder / "t.pricing"), "--through", THROUGH, "--format", fmt]
    code, expected, err = _cli([*base, "--usage", str(folder / "usage.jsonl")], capsys)
    assert code == 0, err
    for result in (parquet, csv_file):
        with _spy() as seen:
            code, out, err2 = _cli([*base, "--aggregates", str(result)], capsys)
        assert code == 0, err2
        assert out == expected and err2 == err
        # most lines were billed with the query's figures, every one that carried them
        assert seen["taken"] == seen["offered"] and seen["taken"] >= 40, seen


def test_the_result_carries_the_rating(priced):
    folder, sql, parquet, _ = priced
    table = pq.read_table(parquet)
    names = table.column_names
    assert names[-len(RATED_COLUMNS) - 1:] == [*RATED_COLUMNS, "rc_prices"]
    rows = table.to_pylist()
    fingerprints = {r["rc_prices"] for r in rows}
    assert len(fingerprints) == 1 and next(iter(fingerprints)).startswith("sha256:")
    aggs = [r for r in rows if r["kind"] == "agg"]
    rated = [r for r in aggs if r["rc_price"] is not None]
    # priced: unit, package, graduated and volume lines, for named and unnamed values
    forms = {(r["meter"], r["d0"]) for r in rated}
    assert {("CALLS", "gold"), ("CALLS", "silver"), ("CALLS", "ruby"), ("CALLS", "bronze"),
            ("CALLS", None), ("HITS", None)} <= forms
    # left to billing: quantities with more decimals than the query types, the weighted meter's lines
    unrated = [r for r in aggs if r["rc_price"] is None]
    assert any(len(r["quantity"].partition(".")[2]) > 9 for r in unrated)
    assert not any(len(r["quantity"].partition(".")[2]) > 9 for r in rated)
    assert all(r["meter"] != "SEATS" for r in rated)
    assert all(r["rc_amount"] is None for r in unrated)
    # segments (the dated rule splits periods) are Python's: only whole periods are rated
    assert all("@" in r["window"] and "#" not in r["window"] for r in rated)


def test_the_printed_query_is_deterministic(priced, capsys):
    folder, sql, _, _ = priced
    code, again, _ = _cli(["sql", str(folder / "t.pricing"), "--through", THROUGH, "--priced"], capsys)
    assert code == 0 and again == sql
    assert sql.startswith("-- ratecard sql (duckdb): usage aggregation and rating through")
    assert "rc_keyprices" in sql and "rc_tiers" in sql and "rc_prices" in sql
    assert sqlglot.parse(sql, read="duckdb")


def test_a_result_priced_with_other_prices_is_refused(priced, capsys):
    folder, _, parquet, csv_file = priced
    (folder / "t2.pricing").write_text(PRICING.replace("default : $0.0125 per call", "default : $0.0126 per call"),
                                       encoding="utf-8")
    for result in (parquet, csv_file):
        code, out, err = _cli(["invoice", str(folder / "t2.pricing"), "--aggregates", str(result),
                               "--through", THROUGH, "--format", "json"], capsys)
        assert code == 1 and out == "" and "Traceback" not in err
        assert '"code": "E505"' in err and "priced with other prices" in err, err
    # --price-in python: the figures are ignored, every line priced with these prices
    code, expected, _ = _cli(["invoice", str(folder / "t2.pricing"), "--usage", str(folder / "usage.jsonl"),
                              "--through", THROUGH], capsys)
    assert code == 0
    code, out, err = _cli(["invoice", str(folder / "t2.pricing"), "--aggregates", str(parquet), "--through", THROUGH,
                           "--price-in", "python"], capsys)
    assert code == 0, err
    assert out == expected


def test_a_result_with_part_of_the_rated_columns_is_refused(priced, capsys):
    folder, _, parquet, _ = priced
    table = pq.read_table(parquet).drop_columns(["rc_prices"])
    pq.write_table(table, folder / "cut.parquet")
    code, out, err = _cli(["invoice", str(folder / "t.pricing"), "--aggregates", str(folder / "cut.parquet"),
                           "--through", THROUGH, "--format", "json"], capsys)
    assert code == 1 and out == "" and '"code": "E504"' in err and "`rc_prices`" in err, err


def _with_first_figure(csv_file, column: str, value: str, target) -> None:
    """A copy of a priced result at `target`, the first non-empty cell of `column` set to `value`."""
    lines = csv_file.read_text(encoding="utf-8").splitlines()
    index = lines[0].split(",").index(column)
    for i, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if cells[index]:
            cells[index] = value
            lines[i] = ",".join(cells)
            break
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_figure_that_is_not_a_decimal_is_refused(priced, capsys):
    folder, _, _, csv_file = priced
    _with_first_figure(csv_file, "rc_amount", "12.5x", folder / "bad.csv")
    code, out, err = _cli(["invoice", str(folder / "t.pricing"), "--aggregates", str(folder / "bad.csv"),
                           "--through", THROUGH, "--format", "json"], capsys)
    assert code == 1 and out == "" and '"code": "E504"' in err and "`rc_amount`" in err, err


@pytest.mark.parametrize("column, value", [("quantity", "1000"), ("rc_amount", "99.00"), ("rc_exact", "1.3837")])
def test_figures_that_contradict_the_line_are_refused(priced, capsys, column, value):
    """The file's figures are checked against the Python pricer's, line by line: a rated line
    whose `quantity`, `rc_amount` or `rc_exact` was edited after the query ran is refused
    (E504, exit 1, naming the line and both figures), never billed as the file says."""
    folder, _, _, csv_file = priced
    lines = csv_file.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    for i, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if cells[header.index("rc_amount")] and cells[header.index("rc_tier")] == "" and \
                cells[header.index("rc_packages")] == "":  # a unit price's line
            cells[header.index(column)] = value
            lines[i] = ",".join(cells)
            break
    edited = folder / f"edited-{column}.csv"
    edited.write_text("\n".join(lines) + "\n", encoding="utf-8")
    base = ["invoice", str(folder / "t.pricing"), "--aggregates", str(edited), "--through", THROUGH]
    code, out, err = _cli(base, capsys)
    assert code == 1 and out == "", err
    assert "E504" in err and "do not price the line" in err and "this pricing gives" in err, err
    # with every line priced here, the edited quantity is billed as the file gives it
    code, _, err = _cli([*base, "--price-in", "python"], capsys)
    assert code == 0, err


@pytest.mark.parametrize("column", ["rc_amount", "rc_exact", "rc_units"])
def test_a_figure_past_decimal_38_is_refused(priced, capsys, column):
    """A figure no DECIMAL(38) holds is not the query's: `rc_amount` 1e70 was an internal
    error (InvalidOperation rounding it to cents), exit 3."""
    folder, _, _, csv_file = priced
    _with_first_figure(csv_file, column, "1e70", folder / f"huge-{column}.csv")
    code, out, err = _cli(["invoice", str(folder / "t.pricing"), "--aggregates", str(folder / f"huge-{column}.csv"),
                           "--through", THROUGH, "--format", "json"], capsys)
    assert code == 1 and out == "" and '"code": "E504"' in err and f"`{column}`" in err, err


def test_one_contract_from_priced_aggregates(priced, capsys):
    """`--contract`: the fingerprint is the whole pricing's, the invoices that contract's."""
    folder, _, parquet, _ = priced
    base = ["invoice", str(folder / "t.pricing"), "--through", THROUGH, "--contract", "b"]
    code, expected, _ = _cli([*base, "--usage", str(folder / "usage.jsonl")], capsys)
    assert code == 0
    code, out, err = _cli([*base, "--aggregates", str(parquet)], capsys)
    assert code == 0, err
    assert out == expected


def test_postgres_runs_the_priced_query(postgres_server, priced, capsys):
    """The printed rating in PostgreSQL (NUMERIC arithmetic, the casts guarded instead of
    TRY-ed, `rating_dialects.portable`): its CSV result bills byte for byte as the usage does, with
    the figures of every line DuckDB rates too."""
    folder, _, parquet, _ = priced
    code, sql, err = _cli(["sql", str(folder / "t.pricing"), "--through", THROUGH, "--priced", "--dialect",
                           "postgres"], capsys)
    assert code == 0, err
    assert "TRY" not in sql and "REGEXP_FULL_MATCH" not in sql
    _, keys = _keys(folder / "t.pricing")
    result = _postgres_result(postgres_server.psql, sql, folder, _events(), keys)
    base = ["invoice", str(folder / "t.pricing"), "--through", THROUGH, "--format", "json"]
    code, expected, _ = _cli([*base, "--usage", str(folder / "usage.jsonl")], capsys)
    assert code == 0
    with _spy() as seen:
        code, out, err = _cli([*base, "--aggregates", str(result)], capsys)
    assert code == 0, err
    assert out == expected
    duck = [r for r in pq.read_table(parquet).to_pylist() if r["kind"] == "agg" and r["rc_price"] is not None]
    assert seen["taken"] == seen["offered"] == len(duck), seen


@pytest.mark.parametrize("dialect", [d for d in DIALECTS if d not in PRICED_DIALECTS])
def test_other_dialects_are_refused_clearly(dialect, tmp_path, capsys, monkeypatch):
    _write(tmp_path, PRICING, [])
    monkeypatch.chdir(tmp_path)
    code, out, err = _cli(["sql", "t.pricing", "--through", THROUGH, "--priced", "--dialect", dialect], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert (f"--priced prints the rating for {', '.join(PRICED_DIALECTS)} only: a printed query in {dialect} "
            "cannot hold its DECIMAL arithmetic exact") in err, err
    # Spark's users are pointed at the rating that checks its session's settings
    assert ("--engine spark --price-in engine" in err) == (dialect == "spark"), err
    # the aggregation alone still prints for it
    code, out, _ = _cli(["sql", "t.pricing", "--through", THROUGH, "--dialect", dialect], capsys)
    assert code == 0 and sqlglot.parse(out, read=dialect)


def test_too_many_key_classes_are_refused_naming_the_meter(tmp_path, capsys, monkeypatch):
    _write(tmp_path, PRICING, [])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(engine_rating, "MAX_PRINTED_KEYS", 20)
    code, out, err = _cli(["sql", "t.pricing", "--through", THROUGH, "--priced"], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--priced: meter `CALLS` alone has" in err and "more than 20" in err, err


def test_key_classes_are_the_named_values_and_one_other(tmp_path):
    """What `printed` enumerates for PRICING: per dimension absent, the named values, one other."""
    from ratecard.billing.pricer import Pricer
    from ratecard.billing.scope import terms_and_windows

    path = tmp_path / "t.pricing"
    path.write_text(PRICING, encoding="utf-8")
    plan, _ = _keys(path)
    _, windows = terms_and_windows(plan, dt.date.fromisoformat(THROUGH))
    printed = engine_rating.EnginePrices(plan, Pricer(plan, explain=False)).printed(windows)
    assert printed.named["CALLS"] == (frozenset({"gold", "silver", "ruby", "jade"}), frozenset({"eu"}))
    assert printed.named["HITS"] == () and printed.other == engine_rating.OTHER
    calls = [k for k in printed.tables.keys if k[1] == "CALLS"]
    days = {k[2] for k in calls}
    # the CALLS rules are dated: one day per billing period start of each contract
    assert dt.date(2026, 1, 1) in days and dt.date(2026, 1, 15) in days and None not in days
    assert {k[3] for k in calls} == {None, "gold", "silver", "ruby", "jade", engine_rating.OTHER}
    assert {k[4] for k in calls} == {None, "eu", engine_rating.OTHER}


# ----------------------------------------------------------------- the conformance cases

needs_conformance = pytest.mark.skipif(not CASES, reason=f"no conformance cases at {CONFORMANCE}")


@needs_conformance
@pytest.mark.parametrize("name", CASES)
def test_conformance_invoices_from_priced_aggregates(name, tmp_path, capsys, monkeypatch):
    conformance_through(name, tmp_path, capsys, monkeypatch, "duckdb",
                        lambda sql, folder, events, keys: _run_printed(sql, folder, events, keys, "parquet"))


def conformance_through(name: str, tmp_path: Path, capsys, monkeypatch, dialect: str, run) -> None:
    """A conformance case billed from the result of its printed priced query (`run(sql, folder,
    events, keys)` runs it in `dialect` and saves it): the invoices of the case's own usage."""
    args = case_args(name)
    paths, contracts, usage, through = split_args(args)
    folder = CONFORMANCE / name
    monkeypatch.chdir(folder)
    plan = compile_paths([str(folder / p) for p in paths], contracts=[str(folder / c) for c in contracts]).plan
    keys = property_columns(needed_keys(plan))
    code, expected, err = _cli(args, capsys)
    assert code == 0, err
    sql_args = [*paths, *[a for c in contracts for a in ("--contracts", c)], "--through", through, "--priced",
                "--dialect", dialect]
    code, sql, err1 = _cli(["sql", *sql_args], capsys)
    assert code == 0, err1
    events = [json.loads(line) for f in usage for line in Path(f).read_text(encoding="utf-8").splitlines()
              if line.strip()]
    result = run(sql, tmp_path, events, keys)
    swapped = list(args)
    i = swapped.index("--usage")
    swapped[i:i + 2] = ["--aggregates", str(result)]
    code, out, err2 = _cli(swapped, capsys)
    assert code == 0, err2
    assert out == expected and err2 == err, name


# ----------------------------------------------------------------- the property


def _postgres_result(psql, sql: str, folder: Path, events: list[dict], keys) -> Path:
    """The printed query run in PostgreSQL over the flat events table: its CSV result."""
    import subprocess

    table = write_flat_csv(folder / "pg_table.csv", events, keys)
    columns = ", ".join(f'"{c}" text' for c in ["id", "type", "customer", "time", *keys])
    subprocess.run(psql + ["-c", f"DROP TABLE IF EXISTS usage_events; CREATE TABLE usage_events ({columns})"],
                   check=True, capture_output=True)
    with open(table, "rb") as fh:
        subprocess.run(psql + ["-c", "COPY usage_events FROM STDIN WITH (FORMAT csv, HEADER true)"],
                       stdin=fh, check=True, capture_output=True)
    done = subprocess.run(psql + ["--csv", "-c", "SET TIME ZONE 'UTC'", "-c", sql.rstrip().rstrip(";")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = folder / "pg.csv"
    result.write_text(done.stdout, encoding="utf-8")
    return result


def billed_like_python(scenario, folder: Path, dialect: str, psql=None, run=None) -> None:
    """The property: the printed rating run in `dialect`, billed from its saved result, gives
    the invoices, diagnostics and `explain` arithmetic of every line priced in Python. `run(sql,
    folder, events, keys)` runs it and saves its result (default: DuckDB, or PostgreSQL with
    `psql`)."""
    from ratecard.billing.pricer import Pricer
    from ratecard.billing.scope import terms_and_windows
    from ratecard.money import exact_arithmetic
    from ratecard.usage import aggregate_usage
    from ratecard.usage.warehouse import warehouse_sql

    text, events = scenario
    plan = compile_text(text)
    files = [write_events(folder / "u.jsonl", events)]
    through = dt.date(2026, 9, 1)
    terms, windows = terms_and_windows(plan, through)
    with exact_arithmetic():  # as `ratecard sql` prints it (cli.py): a tier's base past 28 digits stays exact
        printed = engine_rating.EnginePrices(plan, Pricer(plan, explain=False)).printed(windows)
        keys = needed_keys(plan)
        sql = warehouse_sql(plan, terms, windows, dialect, keys=keys, priced=printed)
    if run is not None:
        result = run(sql, folder, events, property_columns(keys))
    elif dialect == "duckdb":
        result = _run_printed(sql, folder, events, property_columns(keys), "parquet")
    else:
        result = _postgres_result(psql, sql, folder, events, property_columns(keys))
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


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_priced_aggregates_bill_as_the_python_pricer_does(tmp_path_factory, scenario):
    """Generated plans and usage (tests/test_engine_rating.py's), the query run in DuckDB."""
    billed_like_python(scenario, tmp_path_factory.mktemp("p"), "duckdb")


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_priced_aggregates_from_postgres_bill_as_the_python_pricer_does(postgres_server, tmp_path_factory,
                                                                        scenario):
    """The same, the query run in PostgreSQL (USD / JPY / BHD, both roundings, every form)."""
    billed_like_python(scenario, tmp_path_factory.mktemp("pg"), "postgres", postgres_server.psql)


FRACTIONAL_BOUNDS = """
currency USD
meter CALLS { event "call"  sum n }
plan p {
  billing monthly
  charge CALLS : graduated per call { up to 2.5 : $1  up to 7.125 : $0.75  above : $0.5 }
}
contract a {
  customer "ca"
  plan p
  starts 2026-01-01
}
"""


def test_units_in_a_tier_keep_the_bounds_decimals(tmp_path):
    """A tier bound with more decimals than the quantities (up to 2.5, quantities 5 and 9):
    the units in the last tier are 2.5 and 1.875, not rounded to the quantity's decimals (3
    and 2 with the engine's rating before: the amount right, the tier step shown wrong)."""
    from ratecard.billing.pricer import Pricer
    from ratecard.billing.scope import terms_and_windows
    from ratecard.usage import aggregate_usage
    from ratecard.usage.warehouse import warehouse_sql

    plan = compile_text(FRACTIONAL_BOUNDS)
    events = [{"id": f"e{i}", "type": "call", "customer": "ca", "time": f"2026-0{i + 1}-02T00:00:00Z",
               "properties": {"n": n}} for i, n in enumerate([5, 9])]
    files = [write_events(tmp_path / "u.jsonl", events)]
    through = dt.date(2026, 3, 1)
    oracle = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=False)
    engine = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=True)
    terms, windows = terms_and_windows(plan, through)
    printed = engine_rating.EnginePrices(plan, Pricer(plan, explain=False)).printed(windows)
    keys = needed_keys(plan)
    sql = warehouse_sql(plan, terms, windows, "duckdb", keys=keys, priced=printed)
    result = _run_printed(sql, tmp_path, events, property_columns(keys), "parquet")
    billed = evaluate(plan, [str(result)], through, aggregator=aggregate_file)
    expected = oracle.run.model_dump_json(indent=2)
    assert [[str(s.quantity) for s in pl.priced.steps] for pl in oracle.priced] == \
        [["2.5", "2.5"], ["2.5", "4.625", "1.875"]]
    for ev in (engine, billed):
        assert all(a.rated is not None for a in ev.usage.aggregates)
        assert ev.run.model_dump_json(indent=2) == expected
        assert _explained(ev) == _explained(oracle)
