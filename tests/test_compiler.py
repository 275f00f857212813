"""Compiler and lint: every diagnostic, multi-file projects, and what the model resolves.

Each diagnostic code the syntax, compiler and lint stages can emit has one
minimal failing input below, checked for its code, `file:line:col` and the key
words of its message; a coverage test fails when a code is added to the source
without a case here.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from ratecard.compiler import PathError, compile_paths, compile_sources, pricing_files
from ratecard.diagnostics import Severity
from ratecard.model import Unit

SRC = Path(__file__).resolve().parents[1] / "src" / "ratecard"

UTC = dt.timezone.utc
METER = 'meter M {\n  event "e"\n  count\n}\n'  # lines 1-4
PLAN = "plan pro {\n  charge M : $1\n}\n"  # lines 5-7 after METER


def compile_text(text: str, name: str = "t.pricing"):
    return compile_sources([(name, text)])


def codes(compiled) -> list[str]:
    return [d.code for d in compiled.diagnostics]


def ok_plan(*sources: tuple[str, str]):
    compiled = compile_sources(list(sources))
    errors = [f"{d.span.where if d.span else ''} {d.code} {d.message}" for d in compiled.diagnostics
              if d.is_error]
    assert not errors, errors
    return compiled.plan


def contract_text(body: str, plan: str = "pro") -> str:
    return f'contract c {{\n  customer "x"\n  plan {plan}\n  starts 2026-01-01\n{body}}}\n'


# ----------------------------------------------------------------- one case per code

# (id, text, code, "line:col", words the message must contain)
CASES = [
    # syntax (the parser's friendly errors; more cases in test_syntax.py)
    ("E100", 'meter M {\n  event "e"\n  count\n  rates {\n    model = : $1\n  }\n}\n', "E100", "5:13",
     ["unexpected `:`", "expected"]),
    ("E101", 'meter M { event "e" count rates { default : €5 } }', "E101", "1:45",
     ["unexpected character `€`"]),
    ("E102", 'meter M {\n  event "api.request\n  count\n}\n', "E102", "2:9", ["unterminated string"]),
    ("E103", "meter M {\n  event 'api.request'\n}\n", "E103", "2:9", ["double quotes"]),
    ("E104", 'meter A {\n  event "e"\n  count\n\nplan pro {\n}\n', "E104", "5:1",
     ["missing `}`", "`meter A {` is never closed"]),
    ("E105", 'meter 42 {\n  event "e"\n}\n', "E105", "1:7", ["expected a name", "`42`"]),
    ("E106", 'contract c {\n  starts January\n}\n', "E106", "2:10", ["expected a date", "`January`"]),
    ("E107", 'plan pro {\n  fee "F" : 500 per month\n}\n', "E107", "2:13", ["amount `500` without a currency"]),
    ("E107-compiler", 'plan pro {\n  fee "F" : 500 per\n  billing monthly\n}\n', "E107", "2:13",
     ["amount `500` without a currency"]),
    # names
    ("E200", METER + METER, "E200", "5:7", ["duplicate meter `M`"]),
    ("E201", 'meter LLM_TOKENS {\n  event "e"\n  sum tokens\n}\nplan pro {\n  charge LLM_TOKEN : $1\n}\n',
     "E201", "6:10", ["unknown meter `LLM_TOKEN`", "did you mean `LLM_TOKENS`"]),
    ("E202", METER + PLAN + contract_text("", plan="por"), "E202", "10:8",
     ["unknown plan `por`", "did you mean `pro`"]),
    ("E203", "plan pro {\n  billing monthly\n  billing annual\n}\n", "E203", "3:3",
     ["`billing` is given twice in plan `pro`"]),
    ("E204", "meter M {\n  count\n}\nplan pro {\n  charge M : $1\n}\n", "E204", "1:7",
     ["meter `M` has no `event`"]),
    ("E204-aggregation", 'meter M {\n  event "e"\n}\nplan pro {\n  charge M : $1\n}\n', "E204", "1:7",
     ["has no aggregation"]),
    ("E204-contract", METER + PLAN + "contract c {\n  plan pro\n  starts 2026-01-01\n}\n", "E204", "8:10",
     ["contract `c` has no `customer`"]),
    ("E205", METER + "plan pro {\n  charge M : $1\n  charge M : $2\n}\n", "E205", "7:3",
     ["meter `M` in plan `pro` is priced twice without dates"]),
    ("E205-bare", METER + "plan pro {\n  charge M\n  charge M\n}\n", "E205", "7:3",
     ["meter `M` is charged twice in plan `pro`"]),
    ("E206", METER + 'meter N {\n  event "n"\n  count\n}\n' + "plan pro {\n  charge M : $1\n}\n"
     + contract_text("  override N : 10% off\n"), "E206", "16:12",
     ["override of meter `N`", "plan `pro` does not charge"]),
    ("E207", METER + PLAN + contract_text("") + contract_text("").replace("contract c", "contract d"),
     "E207", "13:10", ['customer "x" is on contracts `c` and `d` at the same time']),
    ("E208", "currency USD\ncurrency EUR\n", "E208", "2:10", ["currency is stated twice, differently"]),
    ("E208-rounding", "rounding half_up\nrounding half_even\n", "E208", "2:10",
     ["rounding is stated twice, differently"]),
    # values
    ("E300", "plan pro {\n  billing montly\n}\n", "E300", "2:11", ["unknown billing cycle `montly`"]),
    ("E300-currency", "currency USDD\n", "E300", "1:10", ["unknown currency `USDD`"]),
    ("E301", METER + "plan pro {\n  charge M : 0.01 EUR per call\n}\n", "E301", "6:14",
     ["is in EUR, but this project bills in USD"]),
    ("E301-small-letters", METER + "plan pro {\n  charge M : 0.01 usd per call\n}\n", "E301", "6:14",
     ["is in usd, but this project bills in USD"]),
    ("E302", "plan pro {\n  minimum $-5\n}\n", "E302", "2:11", ["negative minimum `$-5`"]),
    ("E303", METER + "plan pro {\n  charge M : graduated {\n    up to 1000 : $1\n    up to 100 : $0.5\n"
     "    above : $0.1\n  }\n}\n", "E303", "8:11",
     ["tiers out of order: `up to 100` does not come after `up to 1000`"]),
    ("E304", METER + "plan pro {\n  charge M : graduated {\n    above : $0.1\n    up to 100 : $0.5\n  }\n}\n",
     "E304", "8:5", ["a tier after `above`"]),
    ("E305", METER + PLAN + contract_text("  ends 2025-12-31\n"), "E305", "12:8",
     ["contract `c` ends (2025-12-31) before it starts (2026-01-01)"]),
    ("E305-effective", 'meter M {\n  event "e"\n  count\n  rates from 2026-06-01 until 2026-01-01 '
     '{ default : $1 }\n}\nplan pro {\n  charge M\n}\n', "E305", "4:9",
     ["`until 2026-01-01` is not after `from 2026-06-01`"]),
    ("E306", METER + PLAN + contract_text("  credit $100 {\n    expires 2025-06-01\n  }\n"), "E306", "13:5",
     ["the credit expires (2025-06-01) before it is granted (2026-01-01)"]),
    ("E307", METER + PLAN + contract_text("").replace("2026-01-01", "2026-02-30"), "E307", "11:10",
     ["`2026-02-30` is not a calendar date"]),
    ("E307-expiry", METER + PLAN + contract_text("  credit $1 { expires 2026-12-31T23:59:59+25:00 }\n"),
     "E307", "12:23", ["is not a valid expiry"]),
    ("E307-range", METER + PLAN + contract_text("  credit $1 { expires 9999-12-31 }\n"), "E307", "12:23",
     ["`9999-12-31` is out of range for expiry"]),
    ("E307-ends", METER + PLAN + contract_text("  ends 9999-12-31\n"), "E307", "12:8",
     ["`9999-12-31` is out of range for `ends`"]),
    ("E308", "plan pro {\n  minimum 1K USD\n}\n", "E308", "2:11", ["suffixes are for quantities, not money"]),
    ("E308-days", "plan pro {\n  payment net 1K\n}\n", "E308", "2:15",
     ["`K` suffix is not allowed in payment terms"]),
    ("E308-dimension", METER + PLAN + contract_text('  dimensions seats = 1K\n'), "E308", "12:22",
     ["not allowed in dimension values"]),
    ("E309", "plan pro {\n  payment net 7.5\n}\n", "E309", "2:15", ["must be a whole number, not `7.5`"]),
    ("E309-zero", METER + "plan pro {\n  charge M : $1 per 0 calls\n}\n", "E309", "6:21",
     ["a `per` quantity must be greater than zero"]),
    ("E309-negative", "plan pro {\n  payment net -3\n}\n", "E309", "2:15", ["cannot be negative: `-3`"]),
    ("E310", METER + "plan pro {\n  charge M : 120% off\n}\n", "E310", "6:14",
     ["`120% off` would make the price negative"]),
    ("E310-negative", METER + "plan pro {\n  charge M : -5% up\n}\n", "E310", "6:14",
     ["negative percentage `-5%`"]),
    ("E310-range", METER + "plan pro {\n  charge M : 1001% up\n}\n", "E310", "6:14",
     ["`1001% up` is out of range", "at most 1000"]),
    ("E311", "plan pro {\n  payment net 3651\n}\n", "E311", "2:15",
     ["payment terms (days) `3651` is out of range: at most 3650 days"]),
    ("E311-money", METER + "plan pro {\n  charge M : $" + "9" * 13 + "\n}\n", "E311", "6:14",
     ["price `$9999999999999` is out of range", "at most 12 digits before the decimal point and 12 after"]),
    ("E311-quantity", METER + "plan pro {\n  charge M : $1 per " + "9" * 21 + " calls\n}\n", "E311", "6:21",
     ["a `per` quantity", "is out of range: a quantity has at most 20 digits"]),
    ("E307-starts", METER + PLAN + contract_text("").replace("2026-01-01", "3000-01-01"), "E307", "11:10",
     ["`3000-01-01` is out of range for `starts`"]),
    # checks over the model
    ("E400", 'meter L {\n  event "e"\n  sum tokens\n  dimensions model, region\n  rates per 1K tokens {\n'
     '    model = "gpt-4"  : $0.03\n    region = "eu"    : $0.04\n  }\n}\nplan pro {\n  charge L\n}\n',
     "E400", "7:5", ["ambiguous rules in meter `L`", '`model = "gpt-4"` and `region = "eu"`',
                     'both match model = "gpt-4", region = "eu"']),
    ("E401", 'meter M {\n  event "e"\n  count\n  dimensions model\n  rates {\n    modle = "a" : $1\n'
     '    default : $2\n  }\n}\nplan pro {\n  charge M\n}\n' + contract_text(""), "E401", "6:5",
     ["unknown dimension `modle`", "did you mean `model`"]),
    ("E401-never", 'meter M {\n  event "e"\n  count\n  rates {\n    tier = "a" : $1\n    default : $2\n'
     '  }\n}\nplan pro {\n  charge M\n}\n' + contract_text(""), "E401", "5:5",
     ["`tier` is neither a dimension of meter `M` nor a dimension of any contract"]),
    ("E402", 'meter M {\n  event "e"\n  count\n  dimensions model in ("a", "b")\n  rates {\n'
     '    model = "a" : $1\n  }\n}\nplan pro {\n  charge M\n}\n' + contract_text(""), "E402", "12:10",
     ['contract `c` cannot price meter `M` for model = "b": no rule matches']),
    ("E403", 'meter M {\n  event "e"\n  count\n  dimensions model, model\n}\nplan pro {\n  charge M : $1\n}\n',
     "E403", "4:21", ["dimension `model` is declared twice"]),
    ("E403-contract", METER + PLAN + contract_text('  dimensions tier = "a", tier = "b"\n'), "E403", "12:26",
     ["dimension `tier` is set twice"]),
    # `""` is no value: usage that gives a property as "" has none (docs/usage.md)
    ("E318-where", 'meter M {\n  event "e"\n  count\n  where region != ""\n}\nplan pro {\n  charge M : $1\n}\n',
     "E318", "4:19", ['`""` is not a value of `region`', "absent"]),
    ("E318-declared", 'meter M {\n  event "e"\n  count\n  dimensions model in ("a", "")\n}\n'
     'plan pro {\n  charge M : $1\n}\n', "E318", "4:29", ['`""` is not a value of `model`']),
    ("E318-contract", METER + PLAN + contract_text('  dimensions tier = ""\n'), "E318", "12:21",
     ['`""` is not a value of `tier`']),
    # a count and its unit disagree (docs/language.md, "`discount`")
    ("E319", METER + PLAN + contract_text("  discount 10% for 2 period\n"), "E319", "12:22",
     ["`for 2 period`: a count other than 1 takes `periods`"]),
    ("W008", 'meter M {\n  event "e"\n  count\n  dimensions ' + ", ".join(
        [f'x{j} in ("a", "b")' for j in range(17)] + ['z in (' + ", ".join(f'"{j}"' for j in range(17)) + ')'])
     + "\n  rates {\n" + "".join(f'    x{j} = "{v}", z = "{j}" : $1\n' for j in range(17) for v in "ab")
     + "  }\n}\nplan pro {\n  charge M\n}\n" + contract_text(""), "W008", "45:10",
     ["could not prove that contract `c` can price every line of meter `M`", "cut short"]),
    # lint
    ("W009", "# nothing yet\n", "W009", "1:1", ["`t.pricing` holds only comments", "defines no meter"]),
    ("W001", METER + 'meter N {\n  event "n"\n  count\n}\n' + PLAN, "W001", "5:7",
     ["meter `N` is not charged by any plan"]),
    ("W002", 'meter M {\n  event "e"\n  count\n  dimensions model\n  rates {\n'
     '    model = "a", model = "b" : $1\n    default : $2\n  }\n}\nplan pro {\n  charge M\n}\n',
     "W002", "6:5", ["can never match"]),
    ("W002-values", 'meter M {\n  event "e"\n  count\n  dimensions model in ("a")\n  rates {\n'
     '    model = "z" : $1\n    default : $2\n  }\n}\nplan pro {\n  charge M\n}\n',
     "W002", "6:5", ["can never match", "every declared value"]),
    ("W002-shadowed", 'meter M {\n  event "e"\n  count\n  rates {\n    default : $1\n    default : $1\n'
     '  }\n}\nplan pro {\n  charge M\n}\n', "W002", "6:5", ["shadowed by an earlier rule"]),
    ("W003", METER + "plan a {\n  charge M : $1\n}\nplan b {\n  charge M : $2\n}\n", "W003", "8:6",
     ["plans `a` and `b` differ only in their rates"]),
    ("W004", 'meter M {\n  event "e"\n  count\n  rates {\n    customer_tier = "enterprise" : 50% off\n'
     '    default : $1\n  }\n}\nplan pro {\n  charge M\n}\n', "W004", "5:5",
     ["`customer_tier` is not a dimension of meter `M`", "defines no contracts"]),
    ("W005", 'meter M {\n  event "e"\n  count\n  rates { default : $1 }\n}\nplan pro {\n  charge M : $2\n}\n',
     "W005", "1:7", ["the rate card of meter `M` is never used"]),
    ("W006", METER + "plan pro {\n  charge M : $1 until 2026-07-01\n  charge M : $1 from 2026-04-01\n}\n",
     "W006", "7:14", ["versions of `default` for meter `M` in plan `pro` overlap from 2026-04-01 until 2026-07-01",
                      "the same price"]),
    ("W007", METER + "plan pro {\n  charge M : $1 until 2026-04-01\n  charge M : $2 from 2026-05-01\n}\n",
     "W007", "7:14", ["no version of `default` for meter `M` in plan `pro` is in effect from 2026-04-01 until 2026-05-01"]),
    ("W007-ended", METER + "plan pro {\n  charge M : $1\n  charge M : $2 from 2026-04-01 until 2026-05-01\n}\n",
     "W007", "7:14", ["no version of `default` for meter `M` in plan `pro` is in effect from 2026-05-01 on",
                      "does not resume"]),
    ("E950", 'numbering invoices "INV-{n:06}-{n}"\n' + METER + PLAN, "E950", "1:20",
     ["bad number format", "only one `{n}`"]),
    ("E950-none", 'numbering credit_notes "CN"\n' + METER + PLAN, "E950", "1:24", ["exactly one `{n}`"]),
    ("E951", 'numbering credit_notes "INV-{n}"\n' + METER + PLAN, "E951", "1:24",
     ["invoices (INV-{n:06}) and credit notes (INV-{n}) could be given the same number"]),
    ("E208-grace", "grace 2 days\ngrace 3 days\n" + METER + PLAN, "E208", "2:7",
     ["the project's grace is stated twice, differently"]),
    ("E300-grace", "grace 2 weeks\n" + METER + PLAN, "E300", "1:9", ["unknown grace unit `weeks`"]),
    ("E300-series", 'numbering invoice "I-{n}"\n' + METER + PLAN, "E300", "1:11", ["unknown document series"]),
    ("E309-grace", "grace 1.5 days\n" + METER + PLAN, "E309", "1:7", ["a grace period must be a whole number"]),
    # Part 2 (more cases per construct in tests/test_part2_front.py)
    ("E209", METER + 'meter N {\n  event "n"\n  count\n}\nplan other {\n  charge N : $1\n}\n'
     + "plan pro {\n  charge M : $1\n  allowance $5 per month {\n    applies to N\n  }\n}\n", "E209", "15:16",
     ["`applies to N`, a meter plan `pro` does not charge"]),
    ("E210", METER + PLAN + "plan plus {\n  fee \"F\" : $1\n  charge M : $2\n}\n"
     + contract_text("  plan plus from 2025-12-31\n"), "E210", "16:18",
     ["plan change on 2025-12-31, before the contract starts (2026-01-01)"]),
    ("E211", METER + PLAN + "plan plus {\n  fee \"F\" : $1\n  charge M : $2\n}\n"
     + "plan max {\n  fee \"G\" : $2\n  charge M : $3\n}\n"
     + contract_text("  plan plus from 2026-03-01\n  plan max from 2026-03-01\n"), "E211", "21:3",
     ["two plan changes on 2026-03-01"]),
    ("E312", METER + PLAN + contract_text("  discount 0%\n"), "E312", "12:12",
     ["a discount of `0%`", "more than 0%"]),
    ("E313", 'meter M {\n  event "e"\n  sum a / 0\n}\n' + PLAN, "E313", "3:11", ["division by zero"]),
    ("E314", 'meter M {\n  event "e"\n  weighted region per day\n  where region = "eu"\n}\n' + PLAN, "E314",
     "3:12", ["`weighted` reads `region`, which holds text (\"eu\")"]),
    ("E315", 'meter M {\n  event "e"\n  unique a * 2\n}\n' + PLAN, "E315", "3:10",
     ["`unique` takes one property, not an expression"]),
    ("E316", 'meter M {\n  event "e"\n  sum a - b\n  dimensions b\n}\n' + PLAN, "E316", "3:11",
     ["`b` is both in the derived quantity and a dimension of the meter"]),
    ("E317", 'meter M {\n  event "e"\n  sum a * 0.0000000001\n}\n' + PLAN, "E317", "3:11",
     ["an operand of `*` with more than 9 decimal places"]),
    ("E317/", 'meter M {\n  event "e"\n  sum 1.5 / a + 0.1234567891 / b\n}\n' + PLAN, "E317", "3:17",
     ["an operand of `/` with more than 9 decimal places"]),
    ("W010", 'meter M {\n  event "e"\n  count\n  dimensions batch\n  rates {\n    default : $1\n'
     '    batch = "true" : 50% off\n  }\n}\nplan pro {\n  charge M : 50% off\n}\n', "W010", "11:14",
     ["`50% off` of plan `pro` and `50% off` of meter `M` both apply to batch = \"true\": together 75% off"]),
    ("W011", 'meter M {\n  event "e"\n  count\n  dimensions batch\n  rates {\n    default : $1\n'
     '    batch = "true" : 50% off\n  }\n}\nplan pro {\n  charge M\n}\n' + contract_text(
         "  override M : $0.5\n"), "W011", "17:16",
     ["the price contract `c` negotiated for every line of meter `M` hides `50% off` of meter `M`"]),
]


def test_an_empty_text_in_a_rule_is_reported_once():
    """A rule on `""` (E318) is unresolved: no "can never match" (W002), no unpriced
    value (E402) drawn from it; a number or whitespace is a value as ever."""
    text = ('meter M {\n  event "e"\n  count\n  dimensions model in ("a", " ", "0")\n  rates {\n'
            '    model = "" : $1\n    model in ("a", " ", 0) : $2\n  }\n}\nplan pro {\n  charge M\n}\n'
            + contract_text(""))
    compiled = compile_text(text)
    assert [(d.code, d.span.where) for d in compiled.diagnostics] == [("E318", "t.pricing:6:13")]
    assert "usage without `model` matches" in compiled.diagnostics[0].hints[0]


@pytest.mark.parametrize("text, code, position, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_diagnostic(text, code, position, words):
    compiled = compile_text(text)
    found = [d for d in compiled.diagnostics if d.code == code]
    assert found, [(d.code, d.message) for d in compiled.diagnostics]
    d = found[0]
    assert d.span is not None and d.span.where == f"t.pricing:{position}"
    for w in words:
        assert w in d.message
    assert d.severity is (Severity.WARNING if code.startswith("W") else Severity.ERROR)
    assert d.message[0].islower() or d.message[0] in "`\""
    # an error never leaves a usable plan behind; warnings do
    assert compiled.ok is code.startswith("W")


@pytest.mark.parametrize("code, guess", [("USX", "USD"), ("usd", "USD"), ("EUX", "EUR"), ("GPB", "GBP"),
                                         ("QQQ", None)])
def test_an_unknown_currency_suggests_the_code_that_begins_like_it_and_lists_no_codes(code, guess):
    """`currency USX` said "did you mean `UZS`?" and then listed every ISO 4217 code (three
    hundred of them) in one hint."""
    (d,) = compile_text(f"currency {code}\n").diagnostics
    assert d.code == "E300" and d.message == f"unknown currency `{code}`"
    expected = ((f"did you mean `{guess}`?",) if guess else ()) + (
        "a currency is an ISO 4217 code in capitals, such as `USD`, `EUR`, `GBP` or `JPY`",)
    assert d.hints == expected


def test_a_currency_hint_never_suggests_a_currency_that_is_not_one():
    """`0.01 usd` said "set `currency usd` for the project", which is E300; `500 per` and a
    new line said "the fee is in per, but this project bills in USD"."""
    (d,) = compile_text(METER + "plan pro {\n  charge M : 0.01 usd per call\n}\n").diagnostics
    assert d.code == "E301" and d.hints == ("currency codes are written in capitals: `0.01 USD`",)
    (d,) = compile_text(METER + "plan pro {\n  charge M : 0.01 EUR per call\n}\n").diagnostics
    assert d.hints == ("write the amount in USD, or set `currency EUR` for the project",)
    (d,) = compile_text('plan pro {\n  fee "F" : 500 per\n  billing monthly\n}\n').diagnostics
    assert d.code == "E107" and d.span.end_col - d.span.col == 3
    assert d.hints == ("write `$500` in the project's currency, or the ISO code after the number: `500 EUR`",)


def test_every_code_in_the_source_has_a_case():
    files = [p for s in (SRC / "syntax", SRC / "compiler") for p in sorted(s.rglob("*.py"))]
    in_source = {code for f in files for code in re.findall(r'"([EW]\d{3})"', f.read_text())}
    # (E600: tests/test_contracts_json.py; E002, the formatter's: tests/test_fmt.py)
    tested = {c[2] for c in CASES} | {"E001", "E600", "E002"}
    assert in_source - tested == set(), "add a case for each new code"
    assert len(in_source) >= 35


def test_grace_and_numbering_go_to_compiled_issuing_not_the_plan():
    plain = compile_text(METER + PLAN)
    assert plain.issuing.grace_days == 0 and plain.issuing.invoices == "INV-{n:06}"
    compiled = compile_text('grace 2 days\nnumbering invoices "A-{n:04}"\nnumbering credit_notes "C/{n}"\n'
                            + METER + PLAN)
    assert compiled.ok
    assert (compiled.issuing.grace_days, compiled.issuing.invoices, compiled.issuing.credit_notes) == (
        2, "A-{n:04}", "C/{n}")
    assert compiled.plan.without_origins() == plain.plan.without_origins()  # what is billed is the same


def test_number_formats():
    from ratecard.compiler.numbering import parse_format

    assert parse_format("INV-{n:06}").format(1) == "INV-000001"
    assert parse_format("INV-{n:06}").format(1234567) == "INV-1234567"  # a width is a minimum
    assert parse_format("{n}/2026").format(12) == "12/2026"


def test_not_utf8_and_unreadable_files(tmp_path):
    (tmp_path / "bad.pricing").write_bytes(b'meter M { title "caf\xe9" }')
    (tmp_path / "ok.pricing").write_text(METER + PLAN)
    compiled = compile_paths([str(tmp_path)])
    assert codes(compiled) == ["E001"]
    d = compiled.diagnostics[0]
    assert "bad.pricing is not UTF-8 text" in d.message and "byte 20" in d.message
    assert d.span is None
    assert not compiled.ok


def test_several_errors_are_all_reported_in_file_order():
    text = METER + "plan pro {\n  billing montly\n  payment net 7.5\n  charge X\n}\n"
    compiled = compile_text(text)
    # sorted by position; no W001 for meter M: the unknown `X` may have been meant for it
    assert codes(compiled) == ["E300", "E309", "E201"]
    assert [d.span.line for d in compiled.diagnostics] == [6, 7, 8]


def test_a_syntax_error_stops_before_name_checks():
    compiled = compile_sources([("a.pricing", "plan pro { charge M }"), ("b.pricing", 'meter M { event "e"')])
    assert codes(compiled) == ["E104"]
    assert compiled.plan is None and not compiled.ok


def test_a_bad_per_of_an_inline_price_is_reported_once():
    compiled = compile_text(METER + "plan pro {\n  charge M : $1 per 0 calls\n}\n")
    assert codes(compiled) == ["E309"]


# ----------------------------------------------------------------- several files


def test_names_are_global_across_files():
    plan = ok_plan(
        ("c.pricing", contract_text("  override M : 10% off\n")),
        ("b.pricing", "plan pro {\n  charge M\n}\n"),
        ("a.pricing", 'meter M {\n  event "e"\n  count\n  rates { default : $1 }\n}\n'),
    )
    assert plan.contracts["c"].plan == "pro"
    assert plan.plans["pro"].charges[0].meter == "M"
    assert plan.origins["meter:M"] == "a.pricing:1"
    assert plan.origins["plan:pro"] == "b.pricing:1"
    assert plan.origins["contract:c/override:M/0"] == "c.pricing:5"


@pytest.mark.parametrize("kind, block", [
    ("meter", 'meter API_CALLS {\n  event "e"\n  count\n}\n'),
    ("plan", "plan API_CALLS {\n}\n"),
    ("contract", 'contract API_CALLS {\n  customer "x"\n}\n'),
])
def test_duplicate_names_point_at_both_files(kind, block):
    compiled = compile_sources([("a.pricing", block), ("b.pricing", "# again\n\n" + block)])
    (d,) = [d for d in compiled.diagnostics if d.code == "E200"]
    assert d.message == f"duplicate {kind} `API_CALLS`"
    assert d.span.where == f"b.pricing:3:{len(kind) + 2}"
    assert [(x.message, x.span.where) for x in d.notes] == [
        ("`API_CALLS` is first defined here", f"a.pricing:1:{len(kind) + 2}")]
    assert "global across every file" in d.hints[0]


def test_a_meter_and_a_plan_may_share_a_name():
    plan = ok_plan(("a.pricing", 'meter pro {\n  event "e"\n  count\n}\nplan pro {\n  charge pro : $1\n}\n'))
    assert set(plan.meters) == {"pro"} and set(plan.plans) == {"pro"}


def test_project_settings_across_files():
    plan = ok_plan(("a.pricing", "currency EUR\n"), ("b.pricing", "currency EUR\nrounding half_even\n"),
                   ("c.pricing", METER + "plan pro {\n  charge M : 1 EUR\n}\n"))
    assert (plan.currency, plan.rounding) == ("EUR", "half_even")
    compiled = compile_sources([("a.pricing", "currency EUR\n"), ("b.pricing", "currency USD\n")])
    (d,) = compiled.diagnostics
    assert d.code == "E208" and d.span.where == "b.pricing:1:10" and d.notes[0].span.where == "a.pricing:1:1"


def test_dollar_amounts_are_in_the_project_currency():
    plan = ok_plan(("t.pricing", "currency JPY\n" + METER + "plan pro {\n  charge M : $5\n}\n"))
    assert plan.currency == "JPY"
    assert plan.plans["pro"].charges[0].rates.rules[0].action.amount == 5


def test_compile_paths_expands_directories_recursively_and_sorted(tmp_path):
    (tmp_path / "z").mkdir()
    (tmp_path / "z" / "plans.pricing").write_text(PLAN)
    (tmp_path / "a.pricing").write_text(METER)
    (tmp_path / "notes.txt").write_text("not pricing")
    files = pricing_files([str(tmp_path), str(tmp_path / "a.pricing")])
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["a.pricing", "z/plans.pricing"]
    compiled = compile_paths([str(tmp_path)])
    assert compiled.ok and set(compiled.plan.plans) == {"pro"}
    with pytest.raises(PathError, match="no such file or directory"):
        pricing_files([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PathError, match="no .pricing files"):
        pricing_files([str(tmp_path / "empty")])


def test_the_compiled_plan_does_not_depend_on_file_order():
    sources = [("a.pricing", METER), ("b.pricing", PLAN), ("c.pricing", contract_text(""))]
    one = compile_sources(sources).plan
    two = compile_sources(list(reversed(sources))).plan
    assert one.model_dump_json() == two.model_dump_json()


# ----------------------------------------------------------------- contract terms


TERMS_PLAN = METER + """plan pro {
  billing quarterly
  payment net 15
  autopay on
  minimum $100
  charge M : $1
}
plan bare {
  charge M : $1
}
"""


def test_contract_terms_default_to_the_plans():
    plan = ok_plan(("t.pricing", TERMS_PLAN + contract_text("")))
    c = plan.contracts["c"]
    assert (c.billing, c.payment_days, c.autopay, c.minimum) == ("quarterly", 15, True, Decimal(100))


def test_contract_terms_override_the_plans():
    body = "  billing annual\n  payment net 45\n  autopay off\n  minimum $5_000\n"
    c = ok_plan(("t.pricing", TERMS_PLAN + contract_text(body))).contracts["c"]
    assert (c.billing, c.payment_days, c.autopay, c.minimum) == ("annual", 45, False, Decimal(5000))


def test_language_defaults_when_neither_says():
    plan = ok_plan(("t.pricing", TERMS_PLAN + contract_text("", plan="bare")))
    p, c = plan.plans["bare"], plan.contracts["c"]
    assert (p.billing, p.payment_days, p.autopay, p.minimum) == ("monthly", 30, False, None)
    assert (c.billing, c.payment_days, c.autopay, c.minimum) == ("monthly", 30, False, None)
    assert c.ends is None and c.dimensions == {} and c.overrides == {} and c.credits == ()
    assert p.title == "bare"


def test_contract_dates_and_dimensions():
    body = '  ends 2026-12-31\n  dimensions region = "eu", customer_tier = "enterprise", seats = 1_000\n'
    c = ok_plan(("t.pricing", TERMS_PLAN + contract_text(body))).contracts["c"]
    assert (c.starts, c.ends, c.end_exclusive) == (dt.date(2026, 1, 1), dt.date(2026, 12, 31), dt.date(2027, 1, 1))
    assert c.dimensions == {"customer_tier": "enterprise", "region": "eu", "seats": "1000"}
    assert list(c.dimensions) == sorted(c.dimensions)


def test_fees_and_cadences():
    text = METER + ('plan pro {\n  fee "Platform" : $500 per month\n  fee "Support" : $100\n'
                    '  fee "Audit" : $1_200 per year\n  charge M : $1\n}\n')
    fees = ok_plan(("t.pricing", text)).plans["pro"].fees
    assert [(f.name, f.amount, f.cadence) for f in fees] == [
        ("Platform", 500, "month"), ("Support", 100, "period"), ("Audit", 1200, "year")]


# ----------------------------------------------------------------- units of prices


def _override_unit(meter_rates: str, charge: str, override: str = "  override M { default : $0.5 }\n"):
    text = (f'meter M {{\n  event "e"\n  sum tokens\n{meter_rates}}}\n'
            f"plan pro {{\n{charge}}}\n" + contract_text(override))
    plan = ok_plan(("t.pricing", text))
    card = plan.contracts["c"].overrides["M"]
    return card.unit, card.rules[0].action.unit


def test_override_price_takes_the_plan_charge_unit():
    card_unit, price_unit = _override_unit("  rates per 1M tokens { default : $9 }\n",
                                           "  charge M : $0.0001 per call\n")
    assert card_unit == price_unit == Unit(size=Decimal(1), name="call")


def test_override_price_takes_the_plan_charge_block_unit():
    _, unit = _override_unit("", "  charge M per 1K tokens { default : $1 }\n")
    assert unit == Unit(size=Decimal(1000), name="tokens")


def test_override_price_takes_the_meter_unit_when_the_plan_does_not_price():
    _, unit = _override_unit("  rates per 1M tokens { default : $9 }\n", "  charge M\n")
    assert unit == Unit(size=Decimal(1_000_000), name="tokens")


def test_a_plan_modifier_keeps_the_meter_unit():
    _, unit = _override_unit("  rates per 1M tokens { default : $9 }\n", "  charge M : 10% off\n")
    assert unit == Unit(size=Decimal(1_000_000), name="tokens")


def test_override_price_with_no_unit_anywhere_is_per_one_unit():
    _, unit = _override_unit("", "  charge M\n")
    assert unit == Unit(size=Decimal(1), name="unit")


def test_override_price_with_its_own_unit():
    _, unit = _override_unit("  rates per 1M tokens { default : $9 }\n", "  charge M : $1 per call\n",
                             "  override M : $2 per 1K tokens\n")
    assert unit == Unit(size=Decimal(1000), name="tokens")
    card_unit, unit = _override_unit("", "  charge M : $1 per call\n",
                                     "  override M per 1K tokens { default : $2 }\n")
    assert card_unit == unit == Unit(size=Decimal(1000), name="tokens")


def test_tiers_and_packages_compile():
    text = METER + ("plan pro {\n  charge M : graduated per GB {\n    up to 100 : free\n"
                    "    up to 1K : $0.10 + $5\n    above : $0.08\n  }\n}\n"
                    "plan team {\n  charge M : package $5 per 1000 calls\n}\n")
    plan = ok_plan(("t.pricing", text))
    tiered = plan.plans["pro"].charges[0].rates.rules[0].action
    assert tiered.kind == "graduated" and tiered.unit.name == "GB"
    assert [(t.up_to, t.amount, t.flat) for t in tiered.tiers] == [
        (100, 0, 0), (1000, Decimal("0.10"), 5), (None, Decimal("0.08"), 0)]
    package = plan.plans["team"].charges[0].rates.rules[0].action
    assert (package.kind, package.amount, package.size, package.unit_name) == ("package", 5, 1000, "calls")


# ----------------------------------------------------------------- credits


def _credits(body: str, starts: str = "2026-01-01"):
    text = METER + PLAN + contract_text(body).replace("2026-01-01", starts)
    return ok_plan(("t.pricing", text)).contracts["c"].credits


def test_credit_defaults():
    (grant,) = _credits("  credit $1_000\n", starts="2026-03-15")
    assert grant.amount == 1000 and grant.granted == dt.date(2026, 3, 15)
    assert grant.expires is None and grant.price is None and grant.description == ""
    assert grant.id == "contract:c/credit/0"


def test_credit_expiring_on_a_date_lasts_through_that_day():
    (grant,) = _credits("  credit $10 {\n    granted 2026-02-01\n    expires 2026-12-31\n  }\n")
    assert grant.granted == dt.date(2026, 2, 1)
    assert grant.expires == dt.datetime(2027, 1, 1, tzinfo=UTC)


def test_credit_expiring_at_a_timestamp_is_taken_as_written_in_utc():
    grants = _credits("  credit $1 { expires 2026-12-31T23:59:59Z }\n"
                      "  credit $2 { expires 2026-12-31T23:59:59+02:00 price $1 description \"d\" }\n")
    assert [g.expires for g in grants] == [dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
                                          dt.datetime(2026, 12, 31, 21, 59, 59, tzinfo=UTC)]
    assert (grants[1].price, grants[1].description, grants[1].id) == (1, "d", "contract:c/credit/1")


def test_an_expiry_may_write_t_and_z_small_as_rfc_3339_allows():
    """RFC 3339 section 5.6 (NOTE): `t` and `z` are `T` and `Z`, as usage times read them
    (`expires 2026-12-31t23:59:59z` was "unexpected name `t23`")."""
    grants = _credits("  credit $1 { expires 2026-12-31t23:59:59z }\n"
                      "  credit $2 { expires 2026-12-31t23:59:59.0000001+02:00 }\n")
    assert [g.expires for g in grants] == [dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
                                          dt.datetime(2026, 12, 31, 21, 59, 59, 1, tzinfo=UTC)]


def test_an_expiry_finer_than_a_microsecond_is_rounded_up_never_cut():
    """The model holds microseconds; an expiry's digits beyond them round it up, so the
    grant is active at every instant the written one is: `[granted, expires)` overlaps a
    period starting at midnight exactly when the written instant is after that midnight."""
    grants = _credits("  credit $1 { expires 2026-03-01T00:00:00.000000001Z }\n"
                      "  credit $2 { expires 2026-03-01T00:00:00.123456000Z }\n"
                      "  credit $3 { expires 2026-03-01T00:00:00.1234561+01:00 }\n")
    assert [g.expires for g in grants] == [dt.datetime(2026, 3, 1, 0, 0, 0, 1, tzinfo=UTC),
                                          dt.datetime(2026, 3, 1, 0, 0, 0, 123456, tzinfo=UTC),
                                          dt.datetime(2026, 2, 28, 23, 0, 0, 123457, tzinfo=UTC)]
    # a grant made at the contract start that expires a nanosecond later is one, not E306
    (grant,) = _credits("  credit $1 { expires 2026-01-01T00:00:00.000000001Z }\n")
    assert grant.expires == dt.datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)


def test_a_one_day_grant_is_valid_and_an_earlier_expiry_is_not():
    (grant,) = _credits("  credit $1 { expires 2026-01-01 }\n")
    assert grant.expires == dt.datetime(2026, 1, 2, tzinfo=UTC)
    compiled = compile_text(METER + PLAN + contract_text("  credit $1 { expires 2026-01-01T00:00:00Z }\n"))
    assert codes(compiled) == ["E306"]


# ----------------------------------------------------------------- rules in the model


def test_rules_carry_ids_conditions_and_dates():
    text = ('meter M {\n  event "e"\n  count\n  dimensions model, region\n'
            '  rates per 1K tokens until 2026-04-01 {\n    model in ("a", "b"), region != "eu" : $1\n'
            '    default : $2\n  }\n  rates per 1K tokens from 2026-04-01 {\n    default : $3\n  }\n}\n'
            'plan pro {\n  charge M\n}\n')
    plan = ok_plan(("t.pricing", text))
    rules = plan.meters["M"].rates.rules
    assert [r.id for r in rules] == ["meter:M/rates/0", "meter:M/rates/1", "meter:M/rates/2"]
    assert [(c.key, c.op, c.values) for c in rules[0].conditions] == [
        ("model", "in", ("a", "b")), ("region", "!=", ("eu",))]
    assert [(r.valid_from, r.valid_until) for r in rules] == [
        (None, dt.date(2026, 4, 1)), (None, dt.date(2026, 4, 1)), (dt.date(2026, 4, 1), None)]
    assert [plan.origins[r.id] for r in rules] == ["t.pricing:6", "t.pricing:7", "t.pricing:10"]
    assert plan.meters["M"].rates.unit == Unit(size=Decimal(1000), name="tokens")


def test_number_condition_values_are_compared_as_their_digits():
    text = ('meter M {\n  event "e"\n  count\n  dimensions size\n  rates {\n    size = 1_000 : $1\n'
            '    size in (2, "3") : $2\n    default : $3\n  }\n}\nplan pro {\n  charge M\n}\n')
    rules = ok_plan(("t.pricing", text)).meters["M"].rates.rules
    assert [c.values for r in rules for c in r.conditions] == [("1000",), ("2", "3")]


def test_meter_defaults_and_filters():
    text = ('meter M {\n  event "api.request"\n  unique user_id\n  dimensions model in ("a", "a", "b")\n'
            '  where env != "test" and source in ("api", "sdk")\n}\nplan pro {\n  charge M : $1\n}\n')
    meter = ok_plan(("t.pricing", text)).meters["M"]
    assert meter.title == "M" and meter.event == "api.request"
    assert (meter.aggregation.function, meter.aggregation.field) == ("unique", "user_id")
    assert meter.dimensions[0].values == ("a", "b")  # duplicates dropped, order kept
    assert [(c.key, c.op, c.values) for c in meter.where] == [
        ("env", "!=", ("test",)), ("source", "in", ("api", "sdk"))]


def test_dated_versions_of_a_charge_may_coexist():
    text = METER + ("plan pro {\n  charge M : $0.0001 per call until 2026-04-01\n"
                    "  charge M : $0.00008 per call from 2026-04-01\n}\n")
    rules = ok_plan(("t.pricing", text)).plans["pro"].charges[0].rates.rules
    assert [(r.action.amount, r.valid_from, r.valid_until) for r in rules] == [
        (Decimal("0.0001"), None, dt.date(2026, 4, 1)), (Decimal("0.00008"), dt.date(2026, 4, 1), None)]


def test_test_blocks_are_collected_not_compiled():
    compiled = compile_text(METER + PLAN + 'test "t" {\n  contract c\n  through 2026-02-01\n}\n')
    assert compiled.ok and [t.name.value for t in compiled.tests] == ["t"]


# ----------------------------------------------------------------- one cause, one report


def test_an_unknown_charge_is_reported_once_not_as_overrides_elsewhere():
    # before: an E206 in contracts.pricing was printed before the real E201, and a W001
    meters = 'meter OUTPUT_TOKENS {\n  event "llm.completion"\n  sum tokens\n}\n'
    plans = "plan pro {\n  charge OUTPUT_TOKEN : $1\n}\n"
    contracts = 'contract acme {\n  customer "c"\n  plan pro\n  starts 2026-01-01\n  override OUTPUT_TOKENS : 10% off\n}\n'
    compiled = compile_sources([("meters.pricing", meters), ("plans.pricing", plans),
                                ("contracts.pricing", contracts)])
    assert [(d.code, d.span.where) for d in compiled.diagnostics] == [("E201", "plans.pricing:2:10")]


def test_a_misspelt_key_is_reported_once_not_as_ambiguities():
    # before: E401 plus three E400, two of them about the misspelt rule
    text = ('meter M {\n  event "e"\n  count\n  dimensions model, region\n  rates {\n'
            '    modle = "a" : $1\n    region = "eu" : $2\n    model = "b" : $3\n    default : $4\n  }\n}\n'
            'plan pro { charge M }\n' + contract_text(""))
    compiled = compile_text(text)
    assert [(d.code, d.span.line) for d in compiled.diagnostics] == [("E401", 6), ("E400", 8)]
    assert "`region = \"eu\"` and `model = \"b\"`" in compiled.diagnostics[1].message  # a real one stays


def test_a_rejected_price_is_reported_once_not_as_unpriced_usage():
    # the rule with the rejected price is missing from the card: "no rule matches" would be its consequence
    text = METER + "plan pro {\n  charge M : $" + "9" * 80 + "\n}\n" + contract_text("")
    assert codes(compile_text(text)) == ["E311"]
    dated = METER + "plan pro {\n  charge M : $1 from 2026-02-30\n  charge M : $2 until 2026-04-01\n}\n"
    assert codes(compile_text(dated)) == ["E307"]


def test_a_contract_that_could_not_be_built_hides_no_key_it_may_set():
    text = ('meter M {\n  event "e"\n  count\n  rates {\n    tier = "a" : $1\n    default : $2\n  }\n}\n'
            'plan pro {\n  charge M\n}\n'
            + contract_text('  dimensions tier = "a"\n').replace("2026-01-01", "2026-13-01"))
    assert codes(compile_text(text)) == ["E307"]


# ----------------------------------------------------------------- paths


def test_a_path_that_is_not_a_file_or_directory_says_so(tmp_path):
    with pytest.raises(PathError, match="/dev/null is not a regular file or a directory"):
        pricing_files(["/dev/null"])
    with pytest.raises(PathError, match="no such file or directory"):
        pricing_files([str(tmp_path / "missing.pricing")])


def test_an_empty_file_is_a_warning(tmp_path):
    (tmp_path / "empty.pricing").write_text("", encoding="utf-8")
    (tmp_path / "notes.pricing").write_text("# later\n", encoding="utf-8")
    compiled = compile_paths([str(tmp_path)])
    assert [(d.code, d.message.split(":")[0]) for d in compiled.diagnostics] == [
        ("W009", f"`{tmp_path / 'empty.pricing'}` is empty"),
        ("W009", f"`{tmp_path / 'notes.pricing'}` holds only comments")]
    assert compiled.ok


def test_a_byte_order_mark_starts_a_pricing_file(tmp_path):
    (tmp_path / "p.pricing").write_bytes(b"\xef\xbb\xbf" + (METER + PLAN).encode())
    compiled = compile_paths([str(tmp_path / "p.pricing")])
    assert compiled.ok and compiled.diagnostics == []
    assert compiled.sources.line(str(tmp_path / "p.pricing"), 1) == "meter M {"


# ----------------------------------------------------------------- E402's proof


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ratecard.compiler.checks import first_unpriced  # noqa: E402


@st.composite
def _cover(draw):
    dims = [tuple(f"v{j}" for j in range(draw(st.integers(1, 4)))) for _ in range(draw(st.integers(0, 4)))]
    boxes = []
    for _ in range(draw(st.integers(0, 8))):
        boxes.append(tuple(None if draw(st.booleans()) else
                           frozenset(draw(st.lists(st.sampled_from(values), min_size=1, unique=True)))
                           for values in dims))
    return dims, boxes


@settings(max_examples=400, deadline=None)
@given(_cover())
def test_the_proof_finds_the_first_combination_every_rule_misses(cover):
    """E402 reasons over value sets; it must name exactly what trying every combination finds."""
    import itertools

    dims, boxes = cover
    expected = next((combo for combo in itertools.product(*dims)
                     if not any(all(part is None or v in part for v, part in zip(combo, box)) for box in boxes)),
                    None)
    assert first_unpriced(dims, boxes) == expected


def test_the_proof_needs_no_cut_off_on_a_large_book():
    # before: the check stopped silently after 10,000 combinations; here there are 8^6 = 262,144
    dims = [tuple(f"v{j}" for j in range(8)) for _ in range(6)]
    boxes = [tuple(frozenset({f"v{j}"}) if i == 0 else None for i in range(6)) for j in range(8) if j != 5]
    boxes.append(tuple(frozenset({"v5"}) if i == 0 else (frozenset(f"v{j}" for j in range(7)) if i == 5 else None)
                       for i in range(6)))
    assert first_unpriced(dims, boxes) == ("v5", "v0", "v0", "v0", "v0", "v7")
    boxes.append(tuple(frozenset({"v7"}) if i == 5 else None for i in range(6)))
    assert first_unpriced(dims, boxes) is None
