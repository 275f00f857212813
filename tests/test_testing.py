"""`test` blocks and `ratecard test`: validation, usage synthesis, expectations, reports."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from ratecard.cli import main
from ratecard.compiler import compile_sources
from ratecard.syntax import parse
from ratecard.workflows.testcases import compile_tests
from ratecard.workflows.testrun import run_case, run_tests

from golden_check import assert_golden

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pricing-tests"

PROJECT = """
meter LLM_TOKENS {
  event "llm.completion"
  sum tokens
  dimensions model
  rates per 1K tokens {
    model = "gpt-4"   : $0.03
    model = "gpt-3.5" : $0.002
    default           : $0.01
  }
}
meter OUTPUT_TOKENS {            # reads the same event type as LLM_TOKENS
  event "llm.completion"
  sum output
  rates per 1K tokens { default : $0.05 }
}
meter API_CALLS { event "api.request" count }
meter USERS { event "login" unique user_id }
meter STORAGE_GB { event "storage" max gigabytes }
meter SEATS { event "seats" latest seats }
meter PROD_CALLS {
  event "api.request"
  count
  dimensions region
  where env = "prod", region != "test"
}

plan pro {
  fee "Platform" : $100 per month
  charge LLM_TOKENS
  charge OUTPUT_TOKENS
  charge API_CALLS : $0.001 per call
  charge USERS : $2 per user
  charge STORAGE_GB : graduated per GB { up to 10 : free  above : $1 }
  charge SEATS : $10 per seat
  charge PROD_CALLS : $0.01 per call
}
plan basic { charge API_CALLS : $0.002 per call }

contract acme {
  customer "cust_acme"
  plan pro
  starts 2026-01-01
  ends 2026-06-30
  dimensions tier = "gold"
  credit $500 { price $400 }
}
"""


def compile_project(tests: str):
    compiled = compile_sources([("p.pricing", PROJECT), ("t.test.pricing", tests)])
    assert compiled.ok, compiled.diagnostics
    return compiled, compile_tests(compiled)


def run_one(tests: str, tmp_path):
    _, cases = compile_project(tests)
    assert len(cases) == 1
    return run_case(cases[0], tmp_path)


def errors_of(tests: str) -> list[tuple[str, int, int, str]]:
    _, cases = compile_project(tests)
    return [(d.code, d.span.line, d.span.col, d.message)
            for c in cases for d in c.diagnostics if d.is_error]


# ----------------------------------------------------------------- grammar


def test_period_qualifier_parses_and_period_stays_a_name():
    tree, diags = parse('test "t" { expect line M period = "x" $5 period 2026-01-01 '
                        'expect due 2026-02-01 period 2026-01-05 }', "t.pricing")
    assert not diags
    line, due = tree.items[0].body
    assert line.dimensions[0].key.name == "period" and line.period.raw == "2026-01-01"
    assert due.date.raw == "2026-02-01" and due.period.raw == "2026-01-05"
    _, diags = parse('plan p { fee "f" : $1 per period }', "p.pricing")
    assert not diags
    _, diags = parse('test "t" { expect invoices 2 period 2026-01-01 }', "t.pricing")
    assert diags and diags[0].code.startswith("E1")  # `period` does not qualify a count


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize("body, code, line, col, fragment", [
    ('contract acmee through 2026-02-01 expect total $0', "E202", 2, 10, "did you mean `acme`"),
    ('contract acme through 2026-02-01\nusage LLM_TOKEN model = "gpt-4" 5 on 2026-01-03',
     "E201", 3, 7, "did you mean `LLM_TOKENS`"),
    ('contract acme', "E204", 1, 6, "has no `through`"),
    ('through 2026-02-01', "E204", 1, 6, "has no `contract`"),
    ('contract acme through 2026-02-01\nusage LLM_TOKENS model = "gpt-4" 5 on 2025-12-31',
     "E804", 3, 39, "outside contract `acme`"),
    ('contract acme through 2026-02-01\nusage LLM_TOKENS model = "gpt-4" 5 on 2026-07-01',
     "E804", 3, 39, "outside contract `acme`"),
    ('contract acme through 2026-02-01\nusage LLM_TOKENS model = "gpt-4" 5 on 2026-02-03',
     "E805", 3, 39, "not billed by `through 2026-02-01`"),
    ('contract acme through 2026-02-01\nusage LLM_TOKENS modle = "gpt-4" 5 on 2026-01-03',
     "E802", 3, 18, "did you mean `model`"),
    ('contract acme through 2026-02-01\nusage API_CALLS 2.5 on 2026-01-03', "E309", 3, 17, "whole number"),
    ('contract acme through 2026-02-01\nusage PROD_CALLS region = "test" 5 on 2026-01-03',
     "E803", 3, 1, "filters this usage out"),
    ('contract { plan basic starts 2026-01-01 } through 2026-02-01\n'
     'usage LLM_TOKENS model = "gpt-4" 5 on 2026-01-03', "E801", 3, 7, "does not charge"),
    ('contract acme through 2026-02-01\nexpect total $1 period 2026-03-01', "E806", 3, 24,
     "no usage invoice"),
    ('contract acme through 2026-02-01\nexpect line LLM_TOKENS tier = "gold" $1', "E802", 3, 24,
     "not a dimension"),
    ('contract acme through 2026-02-01\nusage LLM_TOKENS model = "" 5 on 2026-01-03', "E318", 3, 26,
     '`""` is not a value of `model`'),
    ('contract acme through 2026-02-01\nexpect line LLM_TOKENS model = "" $1', "E318", 3, 32,
     '`""` is not a value of `model`'),
    ('contract acme through 2026-02-01\nexpect total 5 EUR', "E301", 3, 14, "EUR"),
    ('contract { plan pro } through 2026-02-01 expect total $0', "E204", 2, 1, "no `starts`"),
    ('contract { plan pro starts 2026-01-01 override LLM_TOKENS { model = "gpt-4" : $1\n'
     'model = "gpt-4" : $2 } } through 2026-02-01', "E400", 3, 1, "ambiguous"),
])
def test_validation_errors_point_at_the_mistake(body, code, line, col, fragment):
    found = errors_of(f'test "t" {{\n{body}\n}}')
    assert any(c == code and (ln, cl) == (line, col) and fragment in msg for c, ln, cl, msg in found), found


def test_duplicate_test_names_and_tests_without_expectations():
    _, cases = compile_project('test "a" { contract acme through 2026-02-01 }\n'
                               'test "a" { contract acme through 2026-02-01 expect total $100 }')
    assert [d.code for d in cases[0].diagnostics] == ["W800"]
    assert cases[1].diagnostics[0].code == "E800"
    assert cases[1].diagnostics[0].notes[0].span.line == 1


# ----------------------------------------------------------------- usage synthesis


def _lines(result, meter):
    return [ln for inv in result.evaluation.run.invoices if inv.kind == "usage"
            for ln in inv.lines if ln.charge == meter]


def test_each_aggregation_reaches_the_stated_quantity(tmp_path):
    result = run_one("""test "synthesis" {
      contract acme
      usage API_CALLS 50M on 2026-01-03          # count: 50M events, passed as one weighted event
      usage USERS 3 on 2026-01-03                 # unique: 3 distinct values...
      usage USERS 4 on 2026-01-09                 # ...and 4 more
      usage STORAGE_GB 12 on 2026-01-03           # max: the larger one
      usage STORAGE_GB 30 on 2026-01-05
      usage SEATS 7 on 2026-01-20                 # latest: the later one
      usage SEATS 5 on 2026-01-02
      usage LLM_TOKENS model = "gpt-4" 1000 on 2026-01-03   # sum: they add up
      usage LLM_TOKENS model = "gpt-4" 500 on 2026-01-04
      through 2026-02-01
      expect line API_CALLS $50_000
      expect line USERS $14
      expect line STORAGE_GB $20
      expect line SEATS $70
      expect line LLM_TOKENS model = "gpt-4" $0.05
    }""", tmp_path)
    assert result.status == "ok", [(c.expectation.label, c.actual) for c in result.checks]
    calls = _lines(result, "API_CALLS")[0]
    assert calls.quantity == Decimal(50_000_000)
    usage = {a.meter: a for a in result.evaluation.usage.aggregates}
    assert usage["API_CALLS"].events == 50_000_000  # reported as the events it stands for
    assert usage["USERS"].events == 7
    assert not _lines(result, "OUTPUT_TOKENS")  # a usage line feeds only its own meter


def test_where_conditions_are_met_by_the_synthetic_events(tmp_path):
    result = run_one("""test "prod" {
      contract acme
      usage PROD_CALLS region = "eu" 100 on 2026-01-03
      through 2026-02-01
      expect line PROD_CALLS region = "eu" $1
    }""", tmp_path)
    assert result.status == "ok"


def test_zero_counts_bill_no_line(tmp_path):
    result = run_one("""test "zero" {
      contract acme
      usage API_CALLS 0 on 2026-01-03
      through 2026-02-01
      expect total $0
    }""", tmp_path)
    assert not _lines(result, "API_CALLS")


# ----------------------------------------------------------------- expectations


def test_which_invoices_an_expectation_covers(tmp_path):
    result = run_one("""test "months" {
      contract acme
      usage API_CALLS 1000 on 2026-01-10
      usage API_CALLS 3000 on 2026-02-10
      through 2026-03-01
      expect invoices 3                           # credit purchase + January + February
      expect line API_CALLS $4                    # both usage invoices
      expect line API_CALLS $1 period 2026-01-31
      expect subtotal $204                        # 2 x $100 fee + $4
      expect credits applied $204                 # the $500 grant pays both
      expect total $0
      expect total $0 period 2026-02-01
      expect subtotal $103 period 2026-02-01
      expect due 2026-03-31                       # the last usage invoice
      expect due 2026-03-03 period 2026-01-01
    }""", tmp_path)
    assert result.status == "ok", [(c.expectation.label, c.expected, c.actual) for c in result.failures]


def test_inline_contract_gets_a_synthetic_name_customer_and_start(tmp_path):
    result = run_one("""test "inline" {
      contract {
        plan pro
        dimensions tier = "silver"
        billing quarterly
        override LLM_TOKENS { model = "gpt-4" : $0.02 }
      }
      usage LLM_TOKENS model = "gpt-4" 2M on 2026-03-04
      through 2026-06-01
      expect line LLM_TOKENS model = "gpt-4" $40
      expect total $340                           # 3 x $100 fee + $40
      expect invoices 1
    }""", tmp_path)
    assert result.status == "ok", [(c.expectation.label, c.actual) for c in result.failures]
    case = result.case
    contract = case.plan.contracts[case.contract]
    assert case.contract == "inline" and contract.customer == "test-customer"
    assert str(contract.starts) == "2026-03-01"
    assert list(case.plan.contracts) == ["inline"]
    line = _lines(result, "LLM_TOKENS")[0]
    assert line.rule == "t.test.pricing:6"  # the override written inside the test


def test_failures_carry_expected_actual_and_the_invoices_involved(tmp_path):
    result = run_one("""test "wrong" {
      contract acme
      usage LLM_TOKENS model = "gpt-4" 1M on 2026-01-10
      through 2026-02-01
      expect line LLM_TOKENS model = "gpt-4" $25
      expect line LLM_TOKENS model = "gpt-3.5" $1
      expect due 2026-02-01
      expect invoices 1
    }""", tmp_path)
    assert result.status == "fail"
    line, missing, due, count = result.checks
    assert (line.expected, line.actual, line.invoices) == ("$25.00", "$30.00", ["acme-20260101"])
    assert missing.actual == "no such line" and "gpt-3.5" in missing.note
    assert (due.expected, due.actual) == ("2026-02-01", "2026-03-03")
    assert (count.expected, count.actual) == ("1", "2")


def test_unpriced_usage_is_a_test_error_not_a_failure(tmp_path):
    compiled = compile_sources([("p.pricing", """
        meter M { event "m" count dimensions kind }
        plan p { charge M { kind = "a" : $1 per unit } }
        contract c { customer "c" plan p starts 2026-01-01 }
        test "unpriced" { contract c usage M kind = "b" 5 on 2026-01-02 through 2026-02-01
                          expect total $5 }
    """)])
    (case,) = compile_tests(compiled)
    result = run_case(case, tmp_path)
    assert result.status == "error" and result.diagnostics[0].code == "E502"
    # as `invoice` does, it points at the rate card a `default` goes in: the plan's charge
    (note,) = result.diagnostics[0].notes
    assert note.message == "plan `p`'s charge of `M`, where a `default` rule would go"
    assert note.span == compiled.spans["plan:p/charge:M"]


# ----------------------------------------------------------------- the command


def _copy_example(tmp_path) -> Path:
    dest = tmp_path / "project"
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("*.jsonl", "*.md"))
    return dest


FAILING = """\
test "globex at list price" {
  contract globex
  usage LLM_TOKENS model = "gpt-4" 1M on 2026-03-10
  usage API_CALLS 2_500 on 2026-03-11
  through 2026-04-01
  expect line LLM_TOKENS model = "gpt-4" $25.00
  expect total $530.00 period 2026-03-01
  expect due 2026-05-01
}
"""


def test_example_project_tests_pass(capsys):
    assert main(["test", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "test result: ok." in out and " 0 failed; 0 errors" in out
    assert out.count(" ... ok") == int(out.split(" passed")[0].rsplit(" ", 1)[-1])


def test_failing_test_report(tmp_path, monkeypatch, capsys, update_golden):
    project = _copy_example(tmp_path)
    (project / "extra.test.pricing").write_text(FAILING, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["test", "project", "-k", "list price"]) == 1
    out = capsys.readouterr().out
    # file:line:col of the expectation, expected and actual figures, the explain of the line
    assert 'project/extra.test.pricing:6:3: line LLM_TOKENS model = "gpt-4": expected $25.00, ' \
           'actual $30.00' in out
    assert "project/extra.test.pricing:7:3: total for the period containing 2026-03-01: " \
           "expected $530.00, actual $533.00" in out
    assert "1000000 / 1000 x 0.03 = 30" in out
    assert "test result: FAILED. 1 passed; 1 failed; 0 errors" in out
    assert_golden("tests/failing.txt", out, update_golden)


def test_json_report_for_ci(tmp_path, monkeypatch, capsys):
    project = _copy_example(tmp_path)
    (project / "extra.test.pricing").write_text(FAILING, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["test", "project", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["passed"], report["failed"], report["errors"]) == (8, 1, 0)
    failed = next(t for t in report["tests"] if t["status"] == "fail")
    assert (failed["file"], failed["line"]) == ("project/extra.test.pricing", 1)
    bad = [c for c in failed["checks"] if not c["passed"]]
    assert [(c["line"], c["expected"], c["actual"]) for c in bad] == [
        (6, "$25.00", "$30.00"), (7, "$530.00", "$533.00")]


def test_invalid_tests_are_reported_as_diagnostics(tmp_path, monkeypatch, capsys):
    project = _copy_example(tmp_path)
    (project / "bad.test.pricing").write_text(
        'test "typo" {\n  contract globx\n  through 2026-04-01\n  expect total $0\n}\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["test", "project"]) == 1
    captured = capsys.readouterr()
    assert "project/bad.test.pricing:2:12: error[E202]: unknown contract `globx` " \
           "(did you mean `globex`?)" in captured.err
    assert 'test "typo" ... ERROR' in captured.out
    assert "8 passed; 0 failed; 1 error" in captured.out


def test_no_tests_and_no_match(tmp_path, capsys):
    (tmp_path / "p.pricing").write_text(PROJECT, encoding="utf-8")
    assert main(["test", str(tmp_path)]) == 1
    assert "no `test` blocks found" in capsys.readouterr().err
    assert main(["test", str(EXAMPLE), "-k", "no such test"]) == 1
    assert "no test matches" in capsys.readouterr().err


def test_bad_paths_and_broken_projects(tmp_path, capsys):
    assert main(["test", str(tmp_path / "missing")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    (tmp_path / "p.pricing").write_text("meter X {", encoding="utf-8")
    assert main(["test", str(tmp_path)]) == 1
    assert "error[E104]" in capsys.readouterr().err


def test_run_tests_names_one_file_per_test(tmp_path):
    _, cases = compile_project('test "a" { contract acme through 2026-02-01 expect subtotal $100 }\n'
                               'test "b" { contract acme through 2026-03-01 expect subtotal $200 }')
    results = run_tests(cases, tmp_path)
    assert [r.status for r in results] == ["ok", "ok"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test-0000.jsonl", "test-0001.jsonl"]
