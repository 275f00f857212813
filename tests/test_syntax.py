"""Parsing: every statement form, spans, comments, and friendly syntax errors.

The parser turns text into frozen `syntax.nodes`; nothing here compiles. Each
form of the grammar is parsed once in a small inline input, then the nodes are
checked field by field. Syntax errors must come back as one `Diagnostic` with
a code, a position and a message that names the mistake (never an exception).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratecard.diagnostics import Span
from ratecard.syntax import nodes as n
from ratecard.syntax import parse

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
CONFORMANCE_FILES = sorted(CONFORMANCE.rglob("*.pricing")) if CONFORMANCE.is_dir() else []


def parse_ok(text: str, path: str = "t.pricing") -> n.SourceFile:
    tree, diags = parse(text, path)
    assert not diags, [d.message for d in diags]
    assert tree is not None
    return tree


def parse_err(text: str, path: str = "t.pricing"):
    tree, diags = parse(text, path)
    assert tree is None
    assert len(diags) == 1, diags
    return diags[0]


def only(body, kind):
    found = [s for s in body if isinstance(s, kind)]
    assert len(found) == 1, (kind, body)
    return found[0]


def where(span: Span) -> tuple[int, int]:
    return span.line, span.col


# ----------------------------------------------------------------- top level and meters


def test_empty_and_comment_only_files_parse_to_nothing():
    assert parse_ok("").items == ()
    tree = parse_ok("# nothing here\n   \n# still nothing")
    assert tree.items == ()
    assert [(c.text, c.line, c.col) for c in tree.comments] == [
        ("# nothing here", 1, 1), ("# still nothing", 3, 1)]


def test_project_settings():
    tree = parse_ok("currency EUR\nrounding half_even\n")
    cur, rnd = tree.items
    assert isinstance(cur, n.CurrencyDecl) and cur.code.name == "EUR"
    assert isinstance(rnd, n.RoundingDecl) and rnd.mode.name == "half_even"
    assert where(rnd.mode.span) == (2, 10)


METER = """\
meter LLM_TOKENS {
  title "LLM tokens"
  event "llm.completion"
  sum tokens
  dimensions model in ("gpt-4", "gpt-3.5"), region
  where region != "test", env in ("prod", "staging") and tier not in ("free")
  where source = "api"
  rates per 1K tokens {
    model = "gpt-4"                            : $0.03
    model = "gpt-4", customer_tier = "partner" : $0.025
    customer_tier = "enterprise"               : 50% off
    region = "eu"                              : 10% up
    default                                    : $0.01
  }
}
"""


def test_meter_statements():
    (meter,) = parse_ok(METER).items
    assert isinstance(meter, n.MeterBlock) and meter.name.name == "LLM_TOKENS"
    assert only(meter.body, n.Title).text.value == "LLM tokens"
    assert only(meter.body, n.Event).name.value == "llm.completion"
    agg = only(meter.body, n.Aggregation)
    assert (agg.function, agg.field.name) == ("sum", "tokens")
    dims = only(meter.body, n.Dimensions).items
    assert [d.name.name for d in dims] == ["model", "region"]
    assert [v.value for v in dims[0].values] == ["gpt-4", "gpt-3.5"]
    assert dims[1].values is None
    wheres = [s for s in meter.body if isinstance(s, n.Where)]
    assert [[(c.key.name, c.op, tuple(v.value for v in c.values)) for c in w.conditions] for w in wheres] == [
        [("region", "!=", ("test",)), ("env", "in", ("prod", "staging")), ("tier", "not in", ("free",))],
        [("source", "=", ("api",))],
    ]


def test_rate_card_rules_prices_and_modifiers():
    (meter,) = parse_ok(METER).items
    rates = only(meter.body, n.Rates)
    assert rates.per.count.value == 1000 and rates.per.count.suffix == "K"
    assert rates.per.count.raw == "1K" and rates.per.unit.name == "tokens"
    assert rates.effective is None
    r = rates.rules
    assert len(r) == 5
    assert [len(x.conditions) for x in r] == [1, 2, 1, 1, 0]
    assert [x.is_default for x in r] == [False, False, False, False, True]
    assert r[0].rhs.money.amount == Decimal("0.03") and r[0].rhs.per is None
    assert r[1].rhs.money.amount == Decimal("0.025")
    assert (r[2].rhs.percent, r[2].rhs.direction) == (Decimal(50), "off")
    assert (r[3].rhs.percent, r[3].rhs.direction, r[3].rhs.raw) == (Decimal(10), "up", "10%")


@pytest.mark.parametrize("text, function, field", [
    ("count", "count", None),
    ("sum tokens", "sum", "tokens"),
    ("max gigabytes", "max", "gigabytes"),
    ("unique user_id", "unique", "user_id"),
    ("latest seats", "latest", "seats"),
    ("sum count", "sum", "count"),  # keywords may be names where a name is expected
])
def test_aggregations(text, function, field):
    (meter,) = parse_ok(f'meter M {{ event "e" {text} }}').items
    agg = only(meter.body, n.Aggregation)
    assert agg.function == function
    assert (agg.field.name if agg.field else None) == field


def test_keywords_are_names_where_a_name_is_expected():
    (meter,) = parse_ok('meter plan { event "e" count where from = "x", default != "y" }').items
    assert meter.name.name == "plan"
    assert [c.key.name for c in only(meter.body, n.Where).conditions] == ["from", "default"]


def test_one_line_blocks():
    text = ('meter M { event "e" count rates { default : $1 } } '
            'plan p { billing monthly charge M fee "f" : $5 } '
            'contract c { customer "x" plan p starts 2026-01-01 override M { default : 5% off } }')
    meter, plan, contract = parse_ok(text).items
    assert isinstance(meter, n.MeterBlock) and isinstance(plan, n.PlanBlock)
    assert isinstance(contract, n.ContractBlock)
    assert only(meter.body, n.Rates).rules[0].is_default
    assert only(contract.body, n.Override).spec.rules[0].rhs.direction == "off"
    assert all(x.span.line == 1 for x in (meter, plan, contract))


# ----------------------------------------------------------------- literals


@pytest.mark.parametrize("text, amount, currency, free", [
    ("$12.50", "12.50", None, False),
    ("$0", "0", None, False),
    ("$120_000", "120000", None, False),
    ("$0.0001", "0.0001", None, False),
    ("12.50 EUR", "12.50", "EUR", False),
    ("1_000 JPY", "1000", "JPY", False),
    ("free", "0", None, True),
    ("$-5", "-5", None, False),
])
def test_money_forms(text, amount, currency, free):
    (plan,) = parse_ok(f"plan p {{ minimum {text} }}").items
    money = only(plan.body, n.Minimum).amount
    assert money.amount == Decimal(amount)
    assert (money.currency.name if money.currency else None) == currency
    assert money.is_free is free
    assert money.raw == text


@pytest.mark.parametrize("raw, value, suffix", [
    ("1K", 1000, "K"), ("2M", 2_000_000, "M"), ("1.5K", 1500, "K"), ("1_000", 1000, ""),
    ("0.5", Decimal("0.5"), ""), ("10", 10, ""),
])
def test_numbers_and_suffixes(raw, value, suffix):
    (plan,) = parse_ok(f"plan p {{ charge M : $1 per {raw} calls }}").items
    per = only(plan.body, n.Charge).spec.rules[0].rhs.per
    assert per.count.value == value and per.count.suffix == suffix and per.count.raw == raw


def test_per_without_a_number_means_per_one():
    (plan,) = parse_ok("plan p { charge M : $0.0001 per call }").items
    per = only(plan.body, n.Charge).spec.rules[0].rhs.per
    assert per.count is None and per.unit.name == "call"


def test_strings_unescape_quotes_and_backslashes():
    (meter,) = parse_ok(r'meter M { title "say \"hi\" \\ there # not a comment" event "e" count }').items
    title = only(meter.body, n.Title).text
    assert title.value == 'say "hi" \\ there # not a comment'
    assert title.raw.startswith('"say \\"hi')
    assert parse_ok(r'meter M { title "x" event "e" count }').comments == ()


def test_dates_and_timestamps():
    text = """contract c {
  starts 2026-01-01
  credit $5 { granted 2026-02-01 expires 2026-12-31T23:59:59Z }
  credit $6 { expires 2026-12-31T23:59:59.250+02:00 }
  credit $7 { expires 2026-12-31 }
}"""
    (contract,) = parse_ok(text).items
    assert only(contract.body, n.Starts).date.raw == "2026-01-01"
    credits = [s for s in contract.body if isinstance(s, n.Credit)]
    exp = [only(c.body, n.Expires).date for c in credits]
    assert [(e.raw, e.is_timestamp) for e in exp] == [
        ("2026-12-31T23:59:59Z", True), ("2026-12-31T23:59:59.250+02:00", True), ("2026-12-31", False)]
    assert only(credits[0].body, n.Granted).date.raw == "2026-02-01"


# ----------------------------------------------------------------- prices


def test_tiers_with_flat_amounts():
    text = """plan p {
  charge STORAGE : graduated per GB {
    up to 100  : free
    up to 1K   : $0.10 + $5
    above      : $0.08 + $2.50
  }
  charge SEATS : volume per seat { up to 10 : $10 above : $6 }
}"""
    (plan,) = parse_ok(text).items
    storage, seats = [s for s in plan.body if isinstance(s, n.Charge)]
    price = storage.spec.rules[0].rhs
    assert isinstance(price, n.TieredPrice) and price.mode == "graduated"
    assert price.per.unit.name == "GB"
    bounds = [t.bound.value if t.bound else None for t in price.tiers]
    assert bounds == [100, 1000, None]
    assert [t.price.is_free for t in price.tiers] == [True, False, False]
    assert [t.flat.amount if t.flat else None for t in price.tiers] == [None, Decimal(5), Decimal("2.50")]
    vol = seats.spec.rules[0].rhs
    assert vol.mode == "volume" and len(vol.tiers) == 2 and vol.tiers[-1].bound is None


def test_package_price():
    (plan,) = parse_ok("plan p { charge BATCH : package $5 per 1000 calls }").items
    price = only(plan.body, n.Charge).spec.rules[0].rhs
    assert isinstance(price, n.PackagePrice)
    assert price.money.amount == 5 and price.size.value == 1000 and price.unit.name == "calls"


def test_effective_dates_on_rates_charges_and_overrides():
    text = """meter M {
  event "e"
  count
  rates per 1K tokens from 2026-04-01 { default : $1 }
  rates until 2026-04-01 { default : $2 }
}
plan p {
  charge M : $0.0001 per call from 2026-01-01 until 2026-07-01
  charge M per call from 2026-07-01 { default : $3 }
}
contract c { override M : 5% off until 2026-03-01 }
"""
    meter, plan, contract = parse_ok(text).items
    a, b = [s for s in meter.body if isinstance(s, n.Rates)]
    assert (a.effective.start.raw, a.effective.until) == ("2026-04-01", None)
    assert (b.effective.start, b.effective.until.raw) == (None, "2026-04-01")
    inline, block = [s for s in plan.body if isinstance(s, n.Charge)]
    assert inline.spec.inline and not block.spec.inline
    assert (inline.spec.effective.start.raw, inline.spec.effective.until.raw) == ("2026-01-01", "2026-07-01")
    assert block.spec.per.unit.name == "call" and block.spec.effective.start.raw == "2026-07-01"
    ov = only(contract.body, n.Override)
    assert ov.spec.inline and ov.spec.effective.until.raw == "2026-03-01"


# ----------------------------------------------------------------- plans and contracts


def test_plan_statements():
    text = """plan pro {
  title "Pro Plan"
  billing monthly
  payment net 30
  autopay off
  fee "Platform fee" : $500 per month
  fee "Setup" : $50
  charge LLM_TOKENS
  charge API_CALLS : $0.0001 per call
  charge API_CALLS2 : 20% off
  minimum $1_000
}"""
    (plan,) = parse_ok(text).items
    assert only(plan.body, n.Title).text.value == "Pro Plan"
    assert only(plan.body, n.Billing).cycle.name == "monthly"
    assert only(plan.body, n.Payment).days.value == 30
    assert only(plan.body, n.Autopay).setting.name == "off"
    fees = [s for s in plan.body if isinstance(s, n.Fee)]
    assert [(f.label.value, f.amount.amount, f.cadence.name if f.cadence else None) for f in fees] == [
        ("Platform fee", 500, "month"), ("Setup", 50, None)]
    charges = [s for s in plan.body if isinstance(s, n.Charge)]
    assert charges[0].spec is None
    assert isinstance(charges[1].spec.rules[0].rhs, n.UnitPrice)
    assert isinstance(charges[2].spec.rules[0].rhs, n.Modifier)
    assert charges[1].spec.rules[0].is_default  # an inline price is one unconditioned rule
    assert only(plan.body, n.Minimum).amount.amount == 1000


def test_contract_statements():
    text = """contract acme {
  title "ACME"
  customer "cust_acme"
  plan pro
  starts 2026-01-01
  ends 2026-12-31
  dimensions customer_tier = "enterprise", region = "eu", seats = 5
  billing quarterly
  payment net 45
  autopay on
  minimum $5_000
  override LLM_TOKENS { model = "gpt-4" : $0.02 }
  override API_CALLS : 20% off
  credit $120_000 {
    description "2026 annual commitment"
    price $100_000
    granted 2026-01-01
    expires 2026-12-31T23:59:59Z
  }
  credit $10
}"""
    (c,) = parse_ok(text).items
    assert only(c.body, n.Customer).id.value == "cust_acme"
    assert only(c.body, n.PlanRef).name.name == "pro"
    assert only(c.body, n.Ends).date.raw == "2026-12-31"
    dims = only(c.body, n.ContractDimensions).items
    assert [(a.key.name, a.value.raw) for a in dims] == [
        ("customer_tier", '"enterprise"'), ("region", '"eu"'), ("seats", "5")]
    assert isinstance(dims[2].value, n.Num)
    assert only(c.body, n.Billing).cycle.name == "quarterly"
    overrides = [s for s in c.body if isinstance(s, n.Override)]
    assert [o.meter.name for o in overrides] == ["LLM_TOKENS", "API_CALLS"]
    assert overrides[0].spec.rules[0].conditions[0].values[0].value == "gpt-4"
    big, small = [s for s in c.body if isinstance(s, n.Credit)]
    assert big.amount.amount == 120_000
    assert only(big.body, n.Description).text.value == "2026 annual commitment"
    assert only(big.body, n.CreditPrice).amount.amount == 100_000
    assert small.body == ()


def test_test_blocks():
    text = """test "gpt-4 at the partner rate" {
  contract acme
  contract { customer "x" plan pro starts 2026-01-01 }
  usage LLM_TOKENS model = "gpt-4", region = "eu" 1.5M on 2026-01-05
  usage API_CALLS 100 on 2026-01-05T10:00:00Z
  through 2026-02-01
  expect total $40
  expect subtotal $40
  expect line LLM_TOKENS model = "gpt-4" $30
  expect credits applied $0
  expect due 2026-03-03
  expect invoices 1
}"""
    (t,) = parse_ok(text).items
    assert isinstance(t, n.TestBlock) and t.name.value == "gpt-4 at the partner rate"
    assert only(t.body, n.TestContract).name.name == "acme"
    inline = only(t.body, n.TestInlineContract)
    assert only(inline.body, n.Customer).id.value == "x"
    u1, u2 = [s for s in t.body if isinstance(s, n.Usage)]
    assert [a.key.name for a in u1.dimensions] == ["model", "region"]
    assert u1.quantity.value == 1_500_000 and u1.at.raw == "2026-01-05"
    assert u2.dimensions == () and u2.at.is_timestamp
    assert only(t.body, n.Through).date.raw == "2026-02-01"
    expects = {e.what: e for e in t.body if isinstance(e, n.Expect)}
    assert set(expects) == {"total", "subtotal", "line", "credits", "due", "invoices"}
    assert expects["total"].money.amount == 40
    assert expects["line"].meter.name == "LLM_TOKENS" and expects["line"].money.amount == 30
    assert expects["due"].date.raw == "2026-03-03"
    assert expects["invoices"].count.value == 1


# ----------------------------------------------------------------- comments and spans


def test_comments_are_kept_with_positions():
    text = """# header
meter M {  # trailing
  event "e"   # after a statement
  count
}
"""
    tree = parse_ok(text)
    assert [(c.text, c.line, c.col) for c in tree.comments] == [
        ("# header", 1, 1), ("# trailing", 2, 12), ("# after a statement", 3, 15)]
    (meter,) = tree.items
    assert [type(s) for s in meter.body] == [n.Event, n.Aggregation]


SPANS = """\
meter LLM_TOKENS {
  event "llm.completion"
  sum tokens
  dimensions model
  rates per 1K tokens {
    model = "gpt-4" : $0.03
    default         : $0.01
  }
}

plan pro {
	charge LLM_TOKENS
  charge API_CALLS : $0.0001 per call
}
"""


def test_spans_of_names_and_statements():
    meter, plan = parse_ok(SPANS, "pricing/pro.pricing").items
    assert meter.name.span == Span("pricing/pro.pricing", 1, 7, 1, 17)
    assert meter.span == Span("pricing/pro.pricing", 1, 1, 9, 2)  # keyword through `}`
    rates = only(meter.body, n.Rates)
    assert where(rates.span) == (5, 3) and (rates.span.end_line, rates.span.end_col) == (8, 4)
    gpt4, default = rates.rules
    assert gpt4.span == Span("pricing/pro.pricing", 6, 5, 6, 28)
    assert where(gpt4.conditions[0].key.span) == (6, 5)
    assert where(gpt4.conditions[0].values[0].span) == (6, 13)
    assert where(gpt4.rhs.span) == (6, 23)
    # a `default` rule starts at the word `default`, not at the colon
    assert default.span == Span("pricing/pro.pricing", 7, 5, 7, 28)
    assert default.lhs_span == Span("pricing/pro.pricing", 7, 5, 7, 12)
    a, b = [s for s in plan.body if isinstance(s, n.Charge)]
    assert where(a.meter.span) == (12, 9)  # a tab is one column
    assert where(b.meter.span) == (13, 10)
    assert (b.span.end_line, b.span.end_col) == (13, 38)


def test_spans_in_one_line_blocks_and_second_files():
    (meter,) = parse_ok('meter M { event "e" count rates { default : $1 } }', "b.pricing").items
    rule = only(meter.body, n.Rates).rules[0]
    assert rule.span == Span("b.pricing", 1, 35, 1, 47)
    assert rule.rhs.span == Span("b.pricing", 1, 45, 1, 47)


# ----------------------------------------------------------------- syntax errors


def test_missing_brace_mid_file_names_the_open_block():
    text = 'meter API_CALLS {\n  event "api.request"\n  count\n\nplan pro {\n  billing monthly\n}\n'
    d = parse_err(text, "broken.pricing")
    assert d.code == "E104"
    assert d.span.where == "broken.pricing:5:1"
    assert d.message == "missing `}` before `plan`: `meter API_CALLS {` is never closed"
    assert [(x.message, x.span.where) for x in d.notes] == [("the block opened here", "broken.pricing:1:17")]
    assert d.hints == ("add `}` where the block ends",)


def test_missing_brace_at_end_of_file_names_the_open_block():
    d = parse_err('meter API_CALLS {\n  event "api.request"\n  count\n\n\n', "broken.pricing")
    assert d.code == "E104"
    assert d.message == "missing `}`: `meter API_CALLS {` is never closed"
    assert d.span.where == "broken.pricing:3:8"  # just past the last non-blank line
    assert d.notes[0].span.where == "broken.pricing:1:17"


def test_missing_brace_of_the_outer_block_after_an_inner_one_closed():
    text = ('meter M {\n  event "e"\n  count\n  rates per 1K tokens {\n    default : $1\n}\n'
            'plan p {\n  charge M\n}\n')
    d = parse_err(text)
    assert d.code == "E104" and d.span.where == "t.pricing:7:1"
    assert d.message == "missing `}` before `plan`: `meter M {` is never closed"
    assert d.notes[0].span.where == "t.pricing:1:9"
    d = parse_err('contract c {\n  customer "x"\n  credit $5 {\n    description "d"\n  }\n')
    assert d.message == "missing `}`: `contract c {` is never closed"


def test_missing_brace_of_a_rules_block_before_a_top_level_keyword():
    # inside rules, `meter N` reads as a condition key `meter`: still a missing `}`
    d = parse_err('contract c {\n  override M {\n    default : $1\n\nmeter N { event "e" count }\n')
    assert d.code == "E104" and d.span.where == "t.pricing:5:1"
    assert d.message == "missing `}` before `meter`: `override M {` is never closed"
    assert d.notes[0].span.where == "t.pricing:2:14"
    # but a key that happens to be called `plan` in the middle of a line is not
    d = parse_err('meter M { event "e" count where plan "x" }')
    assert d.code == "E100"


def test_missing_brace_in_a_nested_block_at_eof():
    d = parse_err('plan p {\n  charge M : graduated per GB {\n    up to 10 : $1\n')
    assert d.code == "E104" and d.message == "missing `}`: `graduated {` is never closed"
    assert d.notes[0].span.where == "t.pricing:2:31"


def test_unterminated_string():
    d = parse_err('meter M {\n  event "api.request\n  count\n}\n')
    assert d.code == "E102" and d.message == "unterminated string"
    assert d.span.where == "t.pricing:2:9"
    assert d.span.end_col == len('  event "api.request') + 1  # to the end of the line
    assert parse_err('meter M { event "e').code == "E102"


def test_single_quotes():
    d = parse_err("meter M {\n  event 'api.request'\n  count\n}\n")
    assert (d.code, d.span.where) == ("E103", "t.pricing:2:9")
    assert "double quotes" in d.message


def test_number_where_a_name_belongs():
    d = parse_err('meter 42 {\n  event "e"\n  count\n}\n')
    assert d.code == "E105" and d.span.where == "t.pricing:1:7"
    assert d.message == "expected a name, found number `42`"
    d = parse_err('meter "M" { }')
    assert d.code == "E105" and d.hints == ("names are written without quotes",)
    d = parse_err("plan p { charge $5 }")
    assert d.code == "E105" and d.message == "expected a name, found amount `$5`"


def test_bad_dates():
    d = parse_err('contract c {\n  starts 2026-1-1\n}\n')
    assert d.code == "E106" and d.span.where == "t.pricing:2:10"
    assert d.message == "expected a date, found number `2026`"
    d = parse_err('contract c {\n  starts January\n}\n')
    assert d.code == "E106" and d.message == "expected a date, found name `January`"
    d = parse_err("contract c { starts 2026-02-01T00:00:00Z }")
    assert d.code == "E106" and "timestamp" in d.message


def test_unexpected_characters_get_hints():
    d = parse_err('meter M { event "e" count rates { default : €5 } }')
    assert d.code == "E101" and d.message == "unexpected character `€`"
    assert d.hints == ("write the ISO code after the number: `12.50 EUR`",)
    d = parse_err("plan p { minimum $ 5 }")
    assert d.code == "E101" and "digits right after `$`" in d.hints[0]
    d = parse_err("meter M {\n\t@\n}")
    assert d.code == "E101" and d.span.where == "t.pricing:2:2"


@pytest.mark.parametrize("text, at, number", [
    ('plan p {\n  fee "Platform" : 250 per month\n}\n', "t.pricing:2:20", "250"),
    ('plan p {\n  charge M : 0.5 per call\n}\n', "t.pricing:2:14", "0.5"),
    ('meter M {\n  event "e"\n  count\n  rates {\n    a = "x" : 0.0079\n    default : $1\n  }\n}\n',
     "t.pricing:5:15", "0.0079"),
    ('plan p {\n  charge M : graduated per call {\n    up to 10 : 1\n    above : $1\n  }\n}\n',
     "t.pricing:3:16", "1"),
    ("plan p {\n  minimum 500\n  charge M\n}\n", "t.pricing:2:11", "500"),
    ("plan p {\n  minimum 500\n}\n", "t.pricing:2:11", "500"),
    ("contract c {\n  credit 1_000 {\n  }\n}\n", "t.pricing:2:10", "1_000"),
    ('test "t" {\n  contract c\n  through 2026-02-01\n  expect total 500\n}\n', "t.pricing:4:16", "500"),
])
def test_an_amount_without_a_currency_is_named_where_it_is_written(text, at, number):
    """`fee "x" : 250 per month` read `250 per` as 250 in a currency named `per`, and the
    error came at the word after (`month`), or on the next line (an unexpected `:` or `}`),
    saying what the grammar expected there, not what was wrong."""
    d = parse_err(text)
    assert d.code == "E107" and d.span.where == at
    assert d.message == f"amount `{number}` without a currency"
    assert d.hints == (f"write `${number}` in the project's currency, or the ISO code after the number: "
                       f"`{number} EUR`",)


def test_a_name_after_a_number_that_is_a_currency_code_is_left_to_the_grammar():
    d = parse_err('plan p {\n  fee "x" : 250 EUR month\n}\n')
    assert d.code == "E100" and d.span.where == "t.pricing:2:21"
    d = parse_err('plan p {\n  fee "x" : 250 usd month\n}\n')  # a code in small letters: E301 says so
    assert d.code == "E100" and d.span.where == "t.pricing:2:21"
    d = parse_err("grace 2 days x\n")  # a number and a unit word: not an amount
    assert d.code == "E100" and d.span.where == "t.pricing:1:14"


def test_other_syntax_errors_say_what_was_expected():
    d = parse_err("}")
    assert d.code == "E100"
    assert d.message == ("unexpected `}`; expected `contract`, `currency`, `grace`, `meter`, `numbering`, "
                         "`plan`, `rounding` or `test`")
    d = parse_err('meter M { event "e" count rates { default $1 } }')
    assert d.message == "unexpected amount `$1`; expected `:`" and d.span.where == "t.pricing:1:43"
    d = parse_err("plan p { charge M : $1 per 1000 }")  # `per` needs a unit word
    assert d.message == "unexpected `}`; expected a name"
    d = parse_err("plan p {\n  billing monthly\n  charge\n")
    assert d.code == "E100" and d.message == "unexpected end of file; expected a name"


# ----------------------------------------------------------------- the lexer


def test_the_fast_lexer_is_in_use():
    from ratecard.syntax.lexer import FastContextualLexer
    from ratecard.syntax.parser import shared_parser

    lexer = shared_parser().lark.parser.lexer
    assert isinstance(lexer, FastContextualLexer) and lexer.fast


def _parse_both(text: str):
    fast = parse(text, "x.pricing")
    stock = parse(text, "x.pricing", fast_lexer=False)
    return fast, stock


@pytest.mark.parametrize("path", CONFORMANCE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fast_lexer_agrees_with_larks_on_conformance_files(path):
    fast, stock = _parse_both(path.read_text(encoding="utf-8"))
    assert fast == stock
    assert (fast[0] is None) == path.parent.name.startswith("e01")


_TOKEN = re.compile(r'\s+|"[^"\n]*"|#[^\n]*|[A-Za-z_]\w*|\$?-?\d[\d_.]*[%KM]?|.', re.S)
_SNIPPETS = ["{", "}", '"', ":", ",", "$", "%", "#", "\n", "\t", "default", "meter", "plan", "count",
             "2026-13-45", "2026-01-01T00:00:00Z", "1K", "free", "above", "per", "€", "'", "\\", "é"]


def _seed_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in CONFORMANCE_FILES]
    return texts or [METER, SPANS]


@st.composite
def mutated(draw):
    """A conformance file with a few token-level edits (delete, insert, duplicate, swap)."""
    texts = _seed_texts()
    toks = _TOKEN.findall(draw(st.sampled_from(texts)))
    for _ in range(draw(st.integers(1, 5))):
        if not toks:
            toks = [""]
        k = draw(st.integers(0, len(toks) - 1))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "swap", "char"]))
        if op == "delete":
            del toks[k]
        elif op == "insert":
            toks.insert(k, draw(st.sampled_from(_SNIPPETS)))
        elif op == "duplicate":
            toks.insert(k, toks[k])
        elif op == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[k], toks[j] = toks[j], toks[k]
        else:
            toks[k] = toks[k][:1] + draw(st.characters()) + toks[k][1:]
    return "".join(toks)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fast_lexer_agrees_with_larks_on_mutations(text):
    """Same trees, same comments, same syntax errors (the lexer only speeds up Lark's loop)."""
    fast, stock = _parse_both(text)
    assert fast == stock


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('meterplan{}":,$%#\n \t0123456789-_KMabcxyz=!()')), max_size=80))
def test_fast_lexer_agrees_with_larks_on_noise(text):
    fast, stock = _parse_both(text)
    assert fast == stock


def test_parser_is_reusable_after_an_error():
    parse_err('meter M { event "e')
    tree = parse_ok('meter M { event "e" count }')
    assert tree.items[0].name.name == "M"
    assert tree.comments == ()


def test_comments_of_one_parse_do_not_leak_into_the_next():
    parse_ok("# one\n")
    assert parse_ok("meter M { event \"e\" count }").comments == ()
    rnd = random.Random(7)
    texts = [f"# c{i}\n" * rnd.randint(0, 3) for i in range(5)]
    for t in texts:
        assert len(parse_ok(t).comments) == t.count("#")


def test_dates_are_text_until_the_compiler_checks_them():
    # the parser accepts any YYYY-MM-DD shape; `2026-02-30` is the compiler's E307
    (c,) = parse_ok("contract c { starts 2026-02-30 }").items
    lit = only(c.body, n.Starts).date
    assert lit.raw == "2026-02-30" and not lit.is_timestamp
    with pytest.raises(ValueError):
        dt.date.fromisoformat(lit.raw)


# ----------------------------------------------------------------- keywords end at a word boundary


@pytest.mark.parametrize("text, word, hints", [
    # before: `summ` parsed as `sum m`, `sumtokens` as `sum tokens`, `net15` as `net 15`
    ('meter M { event "e" summ }', "summ", ["did you mean `sum`?", "write `sum m` with a space"]),
    ('meter M { event "e" sumtokens }', "sumtokens", ["write `sum tokens` with a space"]),
    ("plan p { payment net15 }", "net15", ["did you mean `net`?", "write `net 15` with a space"]),
    ("plan p { charge M : $1 per1K tokens }", "per1K", ["write `per 1K` with a space"]),
    ('meter M { event "e" countx }', "countx", ["did you mean `count`?", "write `count x` with a space"]),
    ("plan p { charge M : 20% offx }", "offx", ["did you mean `off`?"]),
    ("plan p { charge M : graduatedx { above : $1 } }", "graduatedx", ["did you mean `graduated`?"]),
    ("contract c { starts2026 }", "starts2026", ["write `starts 2026` with a space"]),
])
def test_a_keyword_glued_to_more_letters_is_one_word(text, word, hints):
    for fast in (True, False):
        tree, diags = parse(text, "t.pricing", fast_lexer=fast)
        assert tree is None
        (d,) = diags
        assert d.code == "E100" and d.message.startswith(f"unexpected name `{word}`;"), d.message
        assert d.span.col == text.index(word) + 1 and d.span.end_col == d.span.col + len(word)
        for h in hints:
            assert any(h in x for x in d.hints), d.hints


def test_keywords_next_to_punctuation_still_read_as_keywords():
    tree = parse_ok('meter M{event "e" sum tokens rates per 1K tokens{default:$1}}\n'
                    "plan p{payment net 15 charge M:20% off}")
    assert [type(x).__name__ for x in tree.items] == ["MeterBlock", "PlanBlock"]


def test_a_byte_order_mark_is_not_text():
    tree = parse_ok('\ufeffmeter M { event "e" count }')
    assert where(tree.items[0].span) == (1, 1)
    d = parse_err('\ufeffmeter M { event "e" summ }')
    assert d.span.where == "t.pricing:1:21"


_GLUE = ["summ", "sumtokens", "net15", "per1K", "countx", "offx", "upto", "default1", "\ufeff", "above2"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.lists(st.tuples(st.sampled_from(_GLUE), st.integers(0, 10_000)), max_size=3),
       st.booleans())
def test_glued_keywords_and_byte_order_marks_never_crash_and_lexers_agree(text, glue, bom):
    """Random edits plus keywords glued to letters and BOMs anywhere: one diagnostic or a
    tree, never an exception, and the fast lexer agrees with Lark's own loop."""
    for piece, at in glue:
        k = at % (len(text) + 1)
        text = text[:k] + piece + text[k:]
    if bom:
        text = "\ufeff" + text
    fast, stock = _parse_both(text)
    assert fast == stock
    tree, diags = fast
    assert (tree is None) == bool(diags) and len(diags) <= 1
