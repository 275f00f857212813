"""LANGUAGE.md Part 2, front end: each construct parses and compiles to the model it means,
and each misuse is one diagnostic at its place (the codes of docs/diagnostics.md)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, localcontext

import pytest

from ratecard.cli import main
from ratecard.compiler import compile_sources
from ratecard.model import (
    Number,
    Operation,
    Property,
    RatingPlan,
    TieredPrice,
    evaluate_expression,
    expression_properties,
)

METER = 'meter M {\n  event "e"\n  count\n}\n'
CALLS = 'meter CALLS {\n  event "api.call"\n  count\n}\n'


def compiled(text: str):
    return compile_sources([("t.pricing", text)])


def plan_of(text: str) -> RatingPlan:
    c = compiled(text)
    errors = [(d.code, d.message) for d in c.diagnostics if d.is_error]
    assert not errors, errors
    return c.plan


def errors_of(text: str) -> list[tuple[str, str, str]]:
    c = compiled(text)
    return [(d.code, d.span.where if d.span else "", d.message) for d in c.diagnostics if d.is_error]


def one_error(text: str, code: str, where: str, *words: str) -> None:
    found = errors_of(text)
    assert len(found) == 1, found
    assert found[0][0] == code and found[0][1] == f"t.pricing:{where}", found
    for w in words:
        assert w in found[0][2], found


def meter_with(agg: str, extra: str = "") -> str:
    return f'meter Q {{\n  event "e"\n  {agg}\n{extra}}}\nplan pro {{\n  charge Q : $1\n}}\n'


# ----------------------------------------------------------------- derived quantities


def test_a_derived_quantity_is_a_typed_tree_with_the_usual_precedence():
    agg = plan_of(meter_with("sum a - b * 2 / (c + 1) - 3")).meters["Q"].aggregation
    assert agg.function == "sum" and agg.field is None
    # ((a - ((b * 2) / (c + 1))) - 3): * and / before + and -, left to right
    assert agg.expression == Operation(op="-", left=Operation(op="-", left=Property(name="a"), right=Operation(
        op="/", left=Operation(op="*", left=Property(name="b"), right=Number(value=Decimal(2))),
        right=Operation(op="+", left=Property(name="c"), right=Number(value=Decimal(1))))),
        right=Number(value=Decimal(3)))
    assert expression_properties(agg.expression) == ("a", "b", "c")


def test_a_bare_property_stays_the_plain_field_and_compiles_to_the_json_it_always_did():
    for text in ("sum tokens", "sum (tokens)", "sum ((tokens))"):
        agg = plan_of(meter_with(text)).meters["Q"].aggregation
        assert agg.field == "tokens" and agg.expression is None
        assert json.loads(agg.model_dump_json()) == {"function": "sum", "field": "tokens"}


@pytest.mark.parametrize("function", ["sum", "max", "latest"])
def test_sum_max_and_latest_take_an_expression(function):
    agg = plan_of(meter_with(f"{function} prompt_tokens - cached_tokens")).meters["Q"].aggregation
    assert agg.function == function
    assert agg.expression == Operation(op="-", left=Property(name="prompt_tokens"),
                                       right=Property(name="cached_tokens"))


def test_an_expression_is_evaluated_exactly_and_a_missing_property_or_zero_divisor_is_an_error():
    expr = plan_of(meter_with("sum (a - b) / c")).meters["Q"].aggregation.expression
    with localcontext() as ctx:
        ctx.prec = 60
        assert evaluate_expression(expr, {"a": Decimal("1"), "b": Decimal("0.1"), "c": Decimal(3)}) \
            == Decimal("0.9") / 3
        with pytest.raises(KeyError):
            evaluate_expression(expr, {"a": Decimal(1), "c": Decimal(1)})
        with pytest.raises(ZeroDivisionError):
            evaluate_expression(expr, {"a": Decimal(1), "b": Decimal(0), "c": Decimal(0)})


@pytest.mark.parametrize("agg, where", [("sum a / 0", "3:11"), ("sum a / (2 - 2)", "3:11"),
                                        ("max a / (b * 0 + 0.0)", None), ("sum a / (1 / 2 - 0.5)", "3:11")])
def test_dividing_by_a_constant_zero_is_e313(agg, where):
    if where is None:  # a divisor that reads a property is not constant
        assert errors_of(meter_with(agg)) == []
    else:
        one_error(meter_with(agg), "E313", where, "division by zero")


def test_numbers_in_an_expression_are_bounded_and_take_no_suffix():
    one_error(meter_with("sum a * 1K"), "E308", "3:11", "`K` suffix is not allowed in an expression")
    one_error(meter_with("sum a * " + "9" * 21), "E311", "3:11", "out of range")


def test_unique_takes_no_expression():
    one_error(meter_with("unique a + b"), "E315", "3:10", "`unique` takes one property")


# ----------------------------------------------------------------- time-weighted quantities


@pytest.mark.parametrize("unit", ["month", "day", "hour"])
def test_weighted_meters(unit):
    agg = plan_of(meter_with(f"weighted gigabytes per {unit}")).meters["Q"].aggregation
    assert (agg.function, agg.field, agg.per, agg.expression) == ("weighted", "gigabytes", unit, None)


def test_weighted_by_an_unknown_time_unit_is_e300():
    one_error(meter_with("weighted gigabytes per week"), "E300", "3:26", "unknown time unit of `weighted` `week`")


@pytest.mark.parametrize("extra, position", [
    ('  dimensions size in ("small", "large")\n', "4:23"),
    ('  where size != "unknown"\n', "4:17"),
])
def test_weighted_over_a_property_the_meter_shows_holds_text_is_e314(extra, position):
    found = errors_of(meter_with("weighted size per month", extra))
    assert [(c, w) for c, w, _ in found] == [("E314", "t.pricing:3:12")]
    c = compiled(meter_with("weighted size per month", extra))
    assert c.diagnostics[0].notes[0].span.where == f"t.pricing:{position}"


def test_weighted_over_numeric_declared_values_is_fine_and_derived_quantities_are_checked_too():
    assert errors_of(meter_with("weighted size per month", '  dimensions size in ("10", "20")\n')) == []
    one_error(meter_with("sum size * 2", '  where size = "big"\n'), "E314", "3:7", "a derived quantity reads `size`")


# ----------------------------------------------------------------- pooled tiers and units


def test_pooled_tiers_in_a_charge_and_a_rate_card_with_a_hyphenated_unit():
    plan = plan_of('meter S {\n  event "s"\n  weighted gigabytes per month\n  dimensions bucket\n'
                   '  rates per GB-month {\n    default : pooled volume { up to 10 : $1  above : $0.5 }\n  }\n}\n'
                   'plan pro {\n  charge S : pooled graduated per GB-month {\n    up to 1000 : $0.023\n'
                   '    above : $0.021\n  }\n}\nplan basic {\n  charge S\n}\n')
    charge = plan.plans["pro"].charges[0].rates.rules[0].action
    assert isinstance(charge, TieredPrice) and charge.pooled and charge.kind == "graduated"
    assert charge.unit.name == "GB-month"
    card = plan.meters["S"].rates
    assert card.unit.name == "GB-month" and card.rules[0].action.pooled and card.rules[0].action.kind == "volume"
    assert "pooled" not in json.loads(plan.plans["pro"].model_copy(update={"charges": ()}).model_dump_json())


def test_an_unpooled_tier_list_compiles_to_the_json_it_always_did():
    plan = plan_of(METER + "plan pro {\n  charge M : graduated { up to 10 : $1  above : $0.5 }\n}\n")
    assert "pooled" not in json.loads(plan.model_dump_json())["plans"]["pro"]["charges"][0]["rates"]["rules"][0][
        "action"]


# ----------------------------------------------------------------- plans: billing day, fees, cap, allowance


def test_billing_on_day_fees_in_advance_cap_and_allowances():
    plan = plan_of(CALLS + 'plan pro {\n  billing monthly on day 1\n  fee "Pro" : $25 per month in advance\n'
                           '  fee "Support" : $5\n  charge CALLS : $0.01\n  cap $1_000\n'
                           '  allowance $10 per month {\n    description "Compute credits"\n    applies to CALLS, fees\n'
                           '  }\n  allowance $1\n}\n')
    p = plan.plans["pro"]
    assert p.billing == "monthly" and p.billing_day == 1 and p.cap == Decimal(1000)
    assert [(f.name, f.in_advance) for f in p.fees] == [("Pro", True), ("Support", False)]
    a, b = p.allowances
    assert (a.id, a.amount, a.cadence, a.description, a.applies_to) == (
        "plan:pro/allowance/0", Decimal(10), "month", "Compute credits", ("CALLS", "fees"))
    assert (b.amount, b.cadence, b.applies_to) == (Decimal(1), "period", ())


@pytest.mark.parametrize("day, code, words", [("0", "E311", "out of range"), ("32", "E311", "out of range"),
                                              ("1.5", "E309", "whole number"), ("-1", "E309", "negative")])
def test_the_billing_day_is_a_day_of_the_month(day, code, words):
    one_error(CALLS + f"plan pro {{\n  billing monthly on day {day}\n  charge CALLS : $1\n}}\n", code, "6:26", words)


@pytest.mark.parametrize("stmt, code, where, words", [
    ("cap $-5", "E302", "7:7", "negative cap"),
    ("cap $1\n  cap $2", "E203", "8:3", "`cap` is given twice"),
    ("allowance $-1 per month", "E302", "7:13", "negative allowance"),
    ("allowance $1 per week", "E300", "7:20", "unknown allowance cadence `week`"),
    ("allowance $1 {\n    applies to CALL\n  }", "E201", "8:16", "unknown meter `CALL` in `applies to`"),
    ("allowance $1 {\n    applies to CALLS, CALLS\n  }", "E203", "8:23", "`CALLS` is named twice"),
    ("allowance $1 {\n    description \"a\"\n    description \"b\"\n  }", "E203", "9:5",
     "`description` is given twice in allowance"),
])
def test_plan_misuses(stmt, code, where, words):
    one_error(CALLS + f"plan pro {{\n  charge CALLS : $1\n  {stmt}\n}}\n", code, where, words)


# ----------------------------------------------------------------- contracts


PLANS = (CALLS + 'meter STORAGE {\n  event "s"\n  max gb\n}\n'
         'plan basic {\n  billing monthly on day 1\n  fee "Basic" : $31 per month\n  charge CALLS : $0.02\n'
         '  minimum $50\n  cap $500\n}\n'
         'plan plus {\n  fee "Plus" : $62 per month\n  charge CALLS : $0.01\n  charge STORAGE : $1\n  cap $900\n}\n'
         'plan max {\n  fee "Max" : $99 per month\n  charge CALLS : $0.005\n  minimum $200\n}\n')  # lines 1-26


def contract(body: str, plan: str = "basic") -> str:
    return PLANS + f'contract gamma {{\n  customer "cus_gamma"\n  plan {plan}\n  starts 2026-01-01\n{body}}}\n'


def test_plan_changes_are_in_date_order_with_the_terms_of_each_plan():
    c = plan_of(contract("  plan max from 2026-06-01\n  plan plus from 2026-01-11\n")).contracts["gamma"]
    assert c.plan == "basic" and c.billing_day == 1 and c.cap == Decimal(500) and c.minimum == Decimal(50)
    assert [(p.plan, p.effective, p.minimum, p.cap) for p in c.plan_changes] == [
        ("plus", dt.date(2026, 1, 11), None, Decimal(900)), ("max", dt.date(2026, 6, 1), Decimal(200), None)]
    c = plan_of(contract("  plan plus from 2026-01-11\n  minimum $10\n  cap $20\n")).contracts["gamma"]
    assert [(p.minimum, p.cap) for p in c.plan_changes] == [(Decimal(10), Decimal(20))]  # the contract's own


@pytest.mark.parametrize("body, code, where, words", [
    ("  plan plsu from 2026-02-01\n", "E202", "31:8", "unknown plan `plsu` (did you mean `plus`?)"),
    ("  plan plus from 2025-12-31\n", "E210", "31:18", "before the contract starts (2026-01-01)"),
    ("  plan plus from 2026-01-01\n", "E210", "31:18", "on the contract starts"),
    ("  ends 2026-06-30\n  plan plus from 2026-07-01\n", "E210", "32:18", "after the contract ends (2026-06-30)"),
    ("  plan basic from 2026-02-01\n", "E210", "31:8", "the plan the contract is on already"),
    ("  plan plus from 2026-02-01\n  plan max from 2026-02-01\n", "E211", "32:3", "two plan changes on 2026-02-01"),
    ("  plan plus from 2026-02-30\n", "E307", "31:18", "not a calendar date"),
    ("  plan max from 2026-02-01\n  override STORAGE : $2\n", None, None, None),
])
def test_plan_change_misuses(body, code, where, words):
    if code is None:  # (STORAGE: basic does not charge it, so E206 for the first plan is the report)
        assert [c for c, _, _ in errors_of(contract(body))] == ["E206"]
        return
    one_error(contract(body), code, where, words)


def test_an_override_of_a_meter_a_new_plan_does_not_charge_is_e206_with_the_change_as_note():
    c = compiled(contract("  plan max from 2026-02-01\n  override CALLS : $0.001\n", plan="plus")
                 .replace("  charge CALLS : $0.005\n", "  charge STORAGE : $3\n"))
    found = [d for d in c.diagnostics if d.is_error]
    assert [(d.code, d.span.where) for d in found] == [("E206", "t.pricing:32:12")]
    assert "plan `max` does not charge" in found[0].message
    assert found[0].notes[0].span.where == "t.pricing:31:3"


def test_discounts():
    c = plan_of(contract('  discount 20% {\n    description "Launch discount"\n    applies to CALLS\n'
                         '    for 3 periods\n  }\n  discount $500 once\n  discount 100%\n'
                         '  discount 12.5% for 1 period\n  discount 1% for 1 periods\n')).contracts["gamma"]
    assert [(d.id, d.percent, d.amount, d.description, d.applies_to, d.periods) for d in c.discounts] == [
        ("contract:gamma/discount/0", Decimal(20), None, "Launch discount", ("CALLS",), 3),
        ("contract:gamma/discount/1", None, Decimal(500), "", (), 1),
        ("contract:gamma/discount/2", Decimal(100), None, "", (), None),
        ("contract:gamma/discount/3", Decimal("12.5"), None, "", (), 1),
        ("contract:gamma/discount/4", Decimal(1), None, "", (), 1),
    ]


@pytest.mark.parametrize("stmt, code, where, words", [
    ("discount 100.5%", "E312", "31:12", "at most 100%"),
    ("discount 0%", "E312", "31:12", "more than 0%"),
    ("discount -5%", "E312", "31:12", "more than 0%"),
    ("discount $0", "E312", "31:12", "takes nothing off"),
    ("discount $-5", "E302", "31:12", "negative discount"),
    ("discount 5.1234567%", "E310", "31:12", "decimal places"),
    ("discount 10 EUR", "E301", "31:12", "in EUR"),
    ("discount 10% for 0 periods", "E309", "31:20", "greater than zero"),
    ("discount 10% for 2.5 periods", "E309", "31:20", "whole number"),
    ("discount 10% for 3 weeks", "E300", "31:22", "unknown duration unit `weeks`"),
    ("discount 10% for 2 period", "E319", "31:22", "`for 2 period`: a count other than 1 takes `periods`"),
    ("discount 10% {\n    for 3 period\n  }", "E319", "32:11", "a count other than 1 takes `periods`"),
    ("discount 10% for 2000000 periods", "E311", "31:20", "out of range"),
    ("discount 10% once {\n    for 2 periods\n  }", "E203", "32:5", "duration is given twice"),
    ("discount 10% {\n    applies to STORAGE\n  }", "E209", "32:16", "a meter plan `basic` does not charge"),
    ("discount 10% {\n    applies to STORAGES\n  }", "E201", "32:16", "did you mean `STORAGE`?"),
])
def test_discount_misuses(stmt, code, where, words):
    one_error(contract(f"  {stmt}\n"), code, where, words)


def test_a_plural_count_with_the_singular_unit_is_refused_with_the_fix_as_hint():
    """`for 2 period`: one period or two? Refused (E319), not billed as either (docs/language.md)."""
    found = [d for d in compiled(contract("  discount 10% for 2_0 period\n")).diagnostics if d.is_error]
    assert [(d.code, d.hints) for d in found] == [("E319", ("write `for 2_0 periods`",))]


def test_applies_to_counts_the_meters_of_every_plan_the_contract_is_on():
    c = plan_of(contract("  plan plus from 2026-03-01\n  discount 10% {\n    applies to STORAGE, fees\n  }\n"))
    assert c.contracts["gamma"].discounts[0].applies_to == ("STORAGE", "fees")
    one_error(contract("  plan plus from 2026-03-01\n  discount 10% {\n    applies to STORAGE\n  }\n")
              .replace("  charge STORAGE : $1\n", "").replace("STORAGE : $1", ""),
              "E209", "32:16", "a meter the contract's plans does not charge")


def test_credits_with_priority_and_scope():
    c = plan_of(contract("  credit $3_000 {\n    price $2_700\n    priority 1\n    applies to CALLS, fees\n"
                         "  }\n  credit $5 {\n    priority 0\n  }\n  credit $7\n")).contracts["gamma"]
    assert [(g.priority, g.applies_to) for g in c.credits] == [(1, ("CALLS", "fees")), (0, ()), (None, ())]
    assert "priority" not in json.loads(c.credits[2].model_dump_json())


@pytest.mark.parametrize("stmt, code, where, words", [
    ("priority -1", "E309", "32:14", "cannot be negative"),
    ("priority 1.5", "E309", "32:14", "whole number"),
    ("priority 2K", "E308", "32:14", "`K` suffix"),
    ("priority 2000000", "E311", "32:14", "out of range"),
    ("priority 1\n    priority 2", "E203", "33:5", "`priority` is given twice in credit"),
    ("applies to STORAGE", "E209", "32:16", "a meter plan `basic` does not charge"),
])
def test_credit_misuses(stmt, code, where, words):
    one_error(contract(f"  credit $5 {{\n    {stmt}\n  }}\n"), code, where, words)


def test_contract_cap_and_billing_day():
    c = plan_of(contract("  cap $100\n")).contracts["gamma"]
    assert c.cap == Decimal(100) and c.billing_day == 1
    # a contract's `billing` replaces the plan's statement, day included
    c = plan_of(contract("  billing quarterly\n")).contracts["gamma"]
    assert c.billing == "quarterly" and c.billing_day is None
    c = plan_of(contract("  billing quarterly on day 15\n")).contracts["gamma"]
    assert c.billing == "quarterly" and c.billing_day == 15


def test_inline_test_contracts_take_the_new_statements_too():
    plan = plan_of(PLANS + 'test "t" {\n  contract {\n    plan basic\n    starts 2026-01-01\n'
                           '    discount 10% once\n    plan plus from 2026-02-01\n  }\n  through 2026-03-01\n'
                           '  expect total $1\n}\n')
    assert plan.contracts == {}


# ----------------------------------------------------------------- the compiled JSON and the schema


def test_compile_prints_the_new_fields_and_schema_describes_them(tmp_path, capsys):
    path = tmp_path / "p.pricing"
    path.write_text(contract("  discount 10% once\n  plan plus from 2026-02-01\n"), encoding="utf-8")
    assert main(["compile", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    gamma = out["contracts"]["gamma"]
    assert gamma["discounts"] == [{"id": "contract:gamma/discount/0", "percent": "10", "amount": None,
                                   "description": "", "applies_to": [], "periods": 1}]
    assert gamma["plan_changes"] == [{"plan": "plus", "effective": "2026-02-01", "minimum": None, "cap": "900"}]
    assert out["plans"]["basic"]["billing_day"] == 1 and out["plans"]["basic"]["cap"] == "500"
    assert "cap" not in out["plans"]["max"] and "allowances" not in out["plans"]["max"]
    assert RatingPlan.model_validate(out).without_origins() == \
        compiled(path.read_text(encoding="utf-8")).plan.without_origins()
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    for name in ("Discount", "PlanChange", "Allowance", "Operation", "Property", "Number"):
        assert name in schema["$defs"], name
    assert "billing_day" in schema["$defs"]["Plan"]["properties"]
