"""A sum of good usage values past DECIMAL(38, 18) is E506, naming the meter and the
customer, not `E501 cannot read usage` (docs/diagnostics.md, E506)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ratecard.usage.overflow import is_overflow, overflow_problem, sums_past_bound
from billing_helpers import TOKENS_PROJECT, compile_text
from render_helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]

PROJECT = TOKENS_PROJECT


# a derived quantity: an operand of `-` has fewer than 19 integer digits (docs/usage.md)
DERIVED = PROJECT.replace("sum tokens\n", "sum tokens - cached\n")


def _events(*values: str, customer: str = "cus_pixel", cached: str = "0") -> list[dict]:
    return [{"id": f"{customer}-{i}", "type": "llm.completion", "customer": customer,
             "time": "2026-01-05T00:00:00Z",
             "properties": {"model": "m", "tokens": value, "cached": cached}} for i, value in enumerate(values)]


def _project(folder: Path, rows: list[dict], pricing: str = PROJECT) -> Path:
    (folder / "p.pricing").write_text(pricing, encoding="utf-8")
    (folder / "u.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def _invoice(folder: Path, monkeypatch, capsys, *more: str) -> tuple[int, str, str]:
    return run_cli(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01", "--format", "text",
                    *more],
                   folder, monkeypatch, capsys)


@pytest.mark.parametrize("values, total, engine", [
    # DuckDB: `Overflow in SUM of DECIMAL` (the sum past 38 digits) ...
    (("60000000000000000000", "60000000000000000000"), "120000000000000000000", "Overflow in SUM of DECIMAL"),
    # ... or `Overflow in HUGEINT addition` (past what its accumulator holds)
    (("99999999999999999999.5", "99999999999999999999.5"), "199999999999999999999", "Overflow in HUGEINT"),
])
@pytest.mark.parametrize("price_in", ["python", "engine"])
def test_a_sum_past_the_bound_names_its_meter_and_customer(values, total, engine, price_in, tmp_path,
                                                          monkeypatch, capsys):
    project = _project(tmp_path, _events(*values))
    code, out, err = _invoice(project, monkeypatch, capsys, "--price-in", price_in)
    assert code == 1 and out == ""
    assert "E501" not in err and "cannot read" not in err
    assert (f"error[E506]: usage total past the exact range: the events of meter TOKENS (sum tokens) for "
            f"customer `cus_pixel` add up to {total}, past the 20 integer digits and 18 decimal places a "
            f"quantity holds exactly (DECIMAL(38, 18))") in err
    assert "(`sum tokens / 1000`)" in err and f"the engine said: Out of Range Error: {engine}" in err


def test_the_documented_example_is_what_ratecard_prints(tmp_path, monkeypatch, capsys):
    project = _project(tmp_path, _events("60000000000000000000", "60000000000000000000"))
    code, _, err = _invoice(project, monkeypatch, capsys)
    printed = "\n".join(err.splitlines()[:3])
    assert printed.startswith("error[E506]")
    assert printed in (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")


def test_a_derived_sum_past_the_bound(tmp_path, monkeypatch, capsys):
    """Each event's `tokens - cached` is a quantity (an operand of `-` has under 19 integer
    digits); twelve of them add up past 20."""
    project = _project(tmp_path, _events(*["9000000000000000000"] * 12, cached="1"), DERIVED)
    code, _, err = _invoice(project, monkeypatch, capsys)
    assert code == 1 and "E501" not in err
    assert ("the events of meter TOKENS (sum tokens - cached) for customer `cus_pixel` add up to "
            "107999999999999999988, past the 20") in err
    assert "(`sum (tokens - cached) / 1000`)" in err


def test_with_bad_rows_set_aside(tmp_path, monkeypatch, capsys):
    rows = _events("60000000000000000000", "60000000000000000000") + [
        {"id": "bad", "type": "llm.completion", "customer": "cus_pixel", "time": "2026-01-05T00:00:00Z",
         "properties": {"model": "m", "tokens": "lots", "cached": "0"}}]
    project = _project(tmp_path, rows)
    code, _, err = _invoice(project, monkeypatch, capsys)
    assert code == 1 and "error[E500]" in err and "E506" not in err  # the bad row first
    code, _, err = _invoice(project, monkeypatch, capsys, "--skip-bad-rows", str(tmp_path / "bad.jsonl"))
    assert code == 1 and "E501" not in err
    assert "error[E506]" in err and "add up to 120000000000000000000" in err


def test_a_sum_within_the_bound_is_billed(tmp_path, monkeypatch, capsys):
    project = _project(tmp_path, _events("50000000000000000000", "49999999999999999999.999999999999999999"))
    code, out, err = _invoice(project, monkeypatch, capsys)
    assert code == 0, err
    assert "99,999,999,999,999,999,999.999999999999999999" in out


def test_each_meter_and_customer_past_the_bound_is_named_in_order(tmp_path):
    net = 'meter NET_TOKENS {\n  event "llm.net"\n  sum tokens - cached\n}\n'
    plan = compile_text(PROJECT.replace("plan api {", net + "plan api {"))
    big, part = "60000000000000000000", "9000000000000000000"
    net_events = [dict(e, type="llm.net") for e in _events(*[part] * 12, customer="d")]
    rows = (_events(big, big, customer="c") + _events(big, "1", customer="a")
            + _events("-" + big, "-" + big, customer="b") + net_events + _events(big, big, customer="d"))
    (tmp_path / "u.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    found = sums_past_bound(plan, [str(tmp_path / "u.jsonl")])
    assert [(m, how, c, str(t)) for m, how, c, t in found] == [
        ("NET_TOKENS", "sum tokens - cached", "d", "108000000000000000000"),
        ("TOKENS", "sum tokens", "b", "-120000000000000000000"),
        ("TOKENS", "sum tokens", "c", "120000000000000000000"),
        ("TOKENS", "sum tokens", "d", "120000000000000000000")]
    problem = overflow_problem(plan, [str(tmp_path / "u.jsonl")], "Overflow in SUM of DECIMAL")
    assert problem.code == "E506" and "; and 1 more, past the 20" in problem.message
    assert "(`sum (tokens - cached) / 1000`)" in problem.hints[0]


def test_without_files_the_overflow_is_still_said_as_such():
    """Spark's `--usage-table`: no rows to read here, the meter is not known."""
    plan = compile_text(PROJECT)
    problem = overflow_problem(plan, [], "[ARITHMETIC_OVERFLOW] Overflow in sum of decimals. Use 'try_sum' to "
                                         "tolerate overflow and return NULL instead. If necessary set "
                                         '"spark.sql.ansi.enabled" to "false" to bypass this error.')
    assert problem.code == "E506"
    assert problem.message == ("usage total past the exact range: the engine stopped on an overflow, as a sum "
                               "of the usage does past the 20 integer digits and 18 decimal places a quantity "
                               "holds exactly (DECIMAL(38, 18))")
    assert problem.hints[-1] == "the engine said: [ARITHMETIC_OVERFLOW] Overflow in sum of decimals."


@pytest.mark.parametrize("message, overflow", [
    ("Out of Range Error: Overflow in SUM of DECIMAL: the result does not fit in DECIMAL(38)", True),
    ("Out of Range Error: Overflow in HUGEINT addition: 1 + 2", True),
    ("[ARITHMETIC_OVERFLOW] Overflow in sum of decimals. Use 'try_sum' to tolerate overflow", True),
    ("[NUMERIC_VALUE_OUT_OF_RANGE.WITH_SUGGESTION] 1E+20 cannot be represented as Decimal(38, 18)", True),
    ("Invalid Input Error: Malformed JSON in file \"u.jsonl\", at byte 3 in line 2", False),
    ("IO Error: No files found that match the pattern \"x.parquet\"", False),
    ("Invalid Input Error: Malformed JSON in file \"/data/overflow.jsonl\", at byte 3 in line 2", False),
    ("Invalid Input Error: Malformed JSON in file \"/data/Overflow-in-may.jsonl\", at byte 3", False),
])
def test_is_overflow(message, overflow):
    assert is_overflow(message) is overflow


# ----------------------------------------------------------------- weighted meters

WEIGHTED = PROJECT.replace("sum tokens\n", "weighted tokens per hour\n").replace("$1.00 per 1K tokens",
                                                                                  "$0.000001")
_HOURS_IN_JANUARY = 744


def _reports(*values: str, customer: str = "cus_pixel") -> list[dict]:
    """Reports of one level each, the first at the start of January: it holds all month."""
    return [{"id": f"{customer}-{i}", "type": "llm.completion", "customer": customer,
             "time": f"2026-01-{1 + i:02d}T00:00:00Z", "properties": {"model": "m", "tokens": value}}
            for i, value in enumerate(values)]


@pytest.mark.parametrize("engine", ["duckdb", "reference"])
def test_a_weighted_quantity_past_the_bound_is_e506_naming_its_line(engine, tmp_path, monkeypatch, capsys):
    """A value within the bound held for every hour of January is 744 times past it: the
    same E506 as a `sum` meter's total, naming the line and its customer, in every engine
    (it was billed: 74,399,999,999,999,999,999,256 GB-hours, exit 0)."""
    if engine == "reference":
        from ratecard.commands import common
        from ratecard.usage.reference import aggregate_usage
        monkeypatch.setattr(common, "AGGREGATOR", aggregate_usage)
    project = _project(tmp_path, _reports("99999999999999999999"), WEIGHTED)
    code, out, err = _invoice(project, monkeypatch, capsys)
    assert code == 1 and out == "" and "Traceback" not in err
    total = 99999999999999999999 * _HOURS_IN_JANUARY
    assert (f'error[E506]: usage total past the exact range: contract `pixel`, meter `TOKENS`, model = "m", '
            f"period 2026-01-01 to 2026-02-01 (customer `cus_pixel`) comes to {total} (weighted tokens per "
            f"hour), past the 20 integer digits and 18 decimal places a quantity holds exactly") in err
    assert "measure it `per day` or `per month`" in err
    assert "\n".join(err.splitlines()[:2]) in (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8")


def test_a_weighted_quantity_within_the_bound_is_billed(tmp_path, monkeypatch, capsys):
    """Just under the bound: the greatest whole level whose 744 hours stay below 10^20."""
    level = (10 ** 20 - 1) // _HOURS_IN_JANUARY
    project = _project(tmp_path, _reports(str(level)), WEIGHTED)
    code, out, err = _invoice(project, monkeypatch, capsys)
    assert code == 0, err
    assert f"{level * _HOURS_IN_JANUARY:,}.000000000" in out


def test_a_weighted_line_past_the_bound_in_a_saved_result_is_e506(tmp_path, monkeypatch, capsys):
    """`invoice --aggregates`: the pieces the printed query saved are integrated in billing,
    and held to the same bound there."""
    import duckdb

    from warehouse_helpers import write_flat_csv

    rows = _reports("99999999999999999999")
    project = _project(tmp_path, rows, WEIGHTED)
    code, _, err = run_cli(["sql", "p.pricing", "--through", "2026-02-01", "-o", "q.sql"], project, monkeypatch, capsys)
    assert code == 0, err
    table = write_flat_csv(tmp_path / "table.csv", rows, ("model", "tokens"))
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE usage_events AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", [table])
    sql = (tmp_path / "q.sql").read_text(encoding="utf-8").rstrip().rstrip(";")
    conn.execute(f"COPY ({sql}) TO '{tmp_path / 'result.csv'}' (HEADER)")
    code, out, err = run_cli(["invoice", "p.pricing", "--aggregates", "result.csv", "--through", "2026-02-01",
                              "--format", "text"],
                             project, monkeypatch, capsys)
    assert code == 1 and out == "" and "Traceback" not in err
    assert "error[E506]: usage total past the exact range: contract `pixel`, meter `TOKENS`" in err
