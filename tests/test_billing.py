"""Billing: periods, charge models, fees, minimums, credits, rounding, edge cases.

These run the evaluator with the pure-Python reference aggregator so they test
billing alone; tests/test_invoice_paths.py checks the DuckDB path agrees.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from ratecard.billing.periods import add_months, periods
from ratecard.billing.pricing import BeyondLastTier, price_quantity
from ratecard.model import PackagePrice, Tier, TieredPrice, Unit, UnitPrice
from ratecard.money import round_money

from billing_helpers import D, compile_text, event, invoices, run, write_events

API = """
meter API_CALLS {
  event "api.request"
  count
}
"""


# ----------------------------------------------------------------- periods


def test_add_months_clamps_from_the_anchor():
    start = dt.date(2026, 1, 31)
    assert [add_months(start, k) for k in range(5)] == [
        dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31),
        dt.date(2026, 4, 30), dt.date(2026, 5, 31)]


def test_leap_years():
    assert add_months(dt.date(2028, 2, 29), 12) == dt.date(2029, 2, 28)
    assert add_months(dt.date(2028, 2, 29), 48) == dt.date(2032, 2, 29)
    assert add_months(dt.date(2027, 1, 31), 1) == dt.date(2027, 2, 28)
    assert add_months(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)


def _contract(text_extra="", billing="monthly"):
    plan = compile_text(API + f"""
plan p {{
  billing {billing}
  payment net 10
  charge API_CALLS : $1 per call
}}
contract c {{
  customer "cust"
  plan p
  starts 2026-01-31
  {text_extra}
}}
""")
    return plan


def test_contract_starting_on_the_31st_gets_clamped_periods():
    plan = _contract()
    ps = periods(plan.contracts["c"], dt.date(2026, 6, 1))
    assert [(p.start, p.end) for p in ps] == [
        (dt.date(2026, 1, 31), dt.date(2026, 2, 28)),
        (dt.date(2026, 2, 28), dt.date(2026, 3, 31)),
        (dt.date(2026, 3, 31), dt.date(2026, 4, 30)),
        (dt.date(2026, 4, 30), dt.date(2026, 5, 31)),
    ]


def test_through_bills_periods_ending_on_that_day_only():
    plan = _contract()
    assert len(periods(plan.contracts["c"], dt.date(2026, 2, 27))) == 0
    assert len(periods(plan.contracts["c"], dt.date(2026, 2, 28))) == 1


def test_contract_ending_mid_period_cuts_the_last_period():
    plan = _contract("ends 2026-04-14")
    ps = periods(plan.contracts["c"], dt.date(2027, 1, 1))
    assert ps[-1].start == dt.date(2026, 3, 31)
    assert ps[-1].end == dt.date(2026, 4, 15)
    assert ps[-1].is_partial
    assert ps[-1].proration == Decimal(15) / Decimal(30)
    assert len(ps) == 3


def test_event_exactly_on_a_period_boundary_belongs_to_the_later_period(tmp_path):
    plan = _contract()
    files = [write_events(tmp_path / "u.jsonl", [
        event(1, "cust", "2026-02-28T00:00:00Z"),      # first instant of period 2
        event(2, "cust", "2026-02-27T23:59:59.999Z"),  # last instant of period 1
    ])]
    ev = run(plan, files, "2026-03-31")
    first, second = invoices(ev)
    assert first.subtotal == D("1.00") and second.subtotal == D("1.00")


def test_zero_usage_period_still_gets_an_invoice(tmp_path):
    plan = _contract()
    files = [write_events(tmp_path / "u.jsonl", [event(1, "cust", "2026-03-05T00:00:00Z")])]
    ev = run(plan, files, "2026-04-30")
    totals = [i.total for i in invoices(ev)]
    assert totals == [D("0.00"), D("1.00"), D("0.00")]
    assert invoices(ev)[0].lines == []


# ----------------------------------------------------------------- pricing


def _unit(amount, size=1):
    return UnitPrice(amount=D(amount), unit=Unit(size=D(size), name="u"))


def test_tiny_unit_price_on_three_units_rounds_once_per_line():
    priced = price_quantity(_unit("0.0001"), D(3))
    assert priced.amount == D("0.0003")
    assert round_money(priced.amount, "USD", "half_up") == D("0.00")


def test_rounding_modes_differ_only_at_half():
    assert round_money(D("0.125"), "USD", "half_up") == D("0.13")
    assert round_money(D("0.125"), "USD", "half_even") == D("0.12")
    assert round_money(D("0.135"), "USD", "half_even") == D("0.14")
    assert round_money(D("12.5"), "JPY", "half_up") == D("13")


def test_quantities_with_many_decimals_stay_exact():
    priced = price_quantity(_unit("0.03", 1000), D("1234.567891234567"))
    assert priced.amount == D("0.03703703673703701")


def tiers(mode, *spec, size=1):
    return TieredPrice(kind=mode, unit=Unit(size=D(size), name="u"),
                       tiers=tuple(Tier(up_to=None if b is None else D(b), amount=D(p), flat=D(f))
                                   for b, p, f in spec))


def test_graduated_fills_each_tier_and_adds_flat_amounts_of_reached_tiers():
    price = tiers("graduated", (100, "0", "5"), (1000, "0.10", "2"), (None, "0.08", "0"))
    assert price_quantity(price, D(0)).amount == 0
    assert price_quantity(price, D(50)).amount == D(5)
    assert price_quantity(price, D(100)).amount == D(5)
    assert price_quantity(price, D(101)).amount == D("7.10")
    assert price_quantity(price, D(1500)).amount == D(5 + 90 + 2 + 40)


def test_volume_prices_every_unit_at_the_tier_of_the_total():
    price = tiers("volume", (10, "10", "0"), (50, "8", "100"), (None, "6", "0"))
    assert price_quantity(price, D(0)).amount == 0
    assert price_quantity(price, D(10)).amount == D(100)
    assert price_quantity(price, D(25)).amount == D(300)
    assert price_quantity(price, D(51)).amount == D(306)


def test_usage_beyond_the_last_tier_is_an_error_not_free():
    for mode in ("graduated", "volume"):
        with pytest.raises(BeyondLastTier):
            price_quantity(tiers(mode, (100, "1", "0")), D(101))


def test_package_rounds_up_to_whole_packages():
    price = PackagePrice(amount=D(5), size=D(1000), unit_name="calls")
    assert price_quantity(price, D(0)).amount == 0
    assert price_quantity(price, D(1)).amount == 5
    assert price_quantity(price, D(1000)).amount == 5
    assert price_quantity(price, D(2001)).amount == 15


# ----------------------------------------------------------------- fees and minimums


FEES = API + """
plan p {
  billing quarterly
  payment net 30
  fee "Platform fee" : $500 per month
  fee "Support" : $1_200 per year
  fee "Setup" : $50
  charge API_CALLS : $2 per call
  minimum $3_000
}
contract c {
  customer "cust"
  plan p
  starts 2026-01-01
  ends 2026-05-15
}
"""


def test_fees_scale_to_the_period_and_minimum_trues_up(tmp_path):
    plan = compile_text(FEES)
    files = [write_events(tmp_path / "u.jsonl", [event(i, "cust", "2026-02-01T00:00:00Z") for i in range(10)])]
    ev = run(plan, files, "2026-12-31")
    q1, q2 = invoices(ev)
    amounts = {ln.charge: ln.amount for ln in q1.lines}
    assert amounts == {"Platform fee": D(1500), "Support": D(300), "Setup": D(50), "API_CALLS": D(20),
                       "minimum": D(3000 - 1870)}
    assert q1.subtotal == D(3000)
    # Q2 is cut short at May 15 (inclusive): Apr 1 - May 16 is 45 of 91 days
    assert (q2.period.start, q2.period.end) == (dt.date(2026, 4, 1), dt.date(2026, 5, 16))
    share = D(45) / D(91)
    amounts = {ln.charge: ln.amount for ln in q2.lines}
    assert amounts["Platform fee"] == round_money(3 * 500 * share, "USD", "half_up")
    assert amounts["Support"] == round_money(300 * share, "USD", "half_up")
    assert q2.subtotal == round_money(3000 * share, "USD", "half_up")


# ----------------------------------------------------------------- rules at evaluation


LAYERS = """
meter TOKENS {
  event "llm"
  sum tokens
  dimensions model
  rates per 1K tokens {
    model = "a"             : $0.03
    model = "b"             : $0.01
    tier = "gold"           : 50% off
  }
}
plan p {
  billing monthly
  charge TOKENS
}
contract list_price { customer "c1"  plan p  starts 2026-01-01 }
contract gold { customer "c2"  plan p  starts 2026-01-01  dimensions tier = "gold" }
contract negotiated {
  customer "c3"  plan p  starts 2026-01-01  dimensions tier = "gold"
  override TOKENS { model = "a" : $0.02 }
}
contract extra_off {
  customer "c4"  plan p  starts 2026-01-01
  override TOKENS : 10% off
}
"""


def test_layers_modifiers_and_negotiated_prices_are_final(tmp_path):
    plan = compile_text(LAYERS)
    evs = []
    for n, cust in enumerate(["c1", "c2", "c3", "c4"]):
        evs.append(event(f"{n}a", cust, "2026-01-05T00:00:00Z", "llm", model="a", tokens=1_000_000))
        evs.append(event(f"{n}b", cust, "2026-01-05T00:00:00Z", "llm", model="b", tokens=1_000_000))
    ev = run(plan, [write_events(tmp_path / "u.jsonl", evs)], "2026-02-01")

    def amounts(contract):
        (inv,) = invoices(ev, contract)
        return {ln.dimensions["model"]: ln.amount for ln in inv.lines}

    assert amounts("list_price") == {"a": D(30), "b": D(10)}
    assert amounts("gold") == {"a": D(15), "b": D(5)}
    # the contract's own price is final: the meter's 50% off does not touch it
    assert amounts("negotiated") == {"a": D(20), "b": D(5)}
    assert amounts("extra_off") == {"a": D(27), "b": D(9)}


def test_unpriced_usage_is_an_error_never_a_silent_zero(tmp_path):
    plan = compile_text(LAYERS)
    files = [write_events(tmp_path / "u.jsonl",
                          [event(1, "c1", "2026-01-05T00:00:00Z", "llm", model="zzz", tokens=5)])]
    from ratecard.billing import evaluate
    from ratecard.usage.reference import aggregate_usage

    ev = evaluate(plan, files, dt.date(2026, 2, 1), aggregator=aggregate_usage)
    assert not ev.ok
    (diag,) = [d for d in ev.diagnostics if d.is_error]
    assert diag.code == "E502" and 'model = "zzz"' in diag.message


def test_one_unpriced_unit_is_one_unit(tmp_path):
    """E502 said "(1 units)"; one unit is "1 unit", any other quantity "units"."""
    plan = compile_text(LAYERS)
    from ratecard.billing import evaluate
    from ratecard.usage.reference import aggregate_usage

    def said(count):
        files = [write_events(tmp_path / f"u{count}.jsonl",
                              [event(i, "c1", "2026-01-05T00:00:00Z", "llm", model="zzz", tokens=1)
                               for i in range(count)])]
        ev = evaluate(plan, files, dt.date(2026, 2, 1), aggregator=aggregate_usage)
        (diag,) = [d for d in ev.diagnostics if d.is_error]
        return diag.message.rsplit("(", 1)[1]
    assert (said(1), said(2)) == ("1 unit)", "2 units)")


TIERED = API + """
plan p {
  billing monthly
  charge API_CALLS : graduated per call {
    up to 10 : $1
  }
}
contract c { customer "cust"  plan p  starts 2026-01-01 }
"""


def _problem(text, rows, tmp_path, in_engine):
    """The one error evaluating `rows` gives, with the compiler's spans as the CLI passes them."""
    from ratecard.billing import evaluate
    from ratecard.compiler import compile_sources

    compiled = compile_sources([("t.pricing", text)])
    files = [write_events(tmp_path / "u.jsonl", rows)]
    ev = evaluate(compiled.plan, files, dt.date(2026, 2, 1), spans=compiled.spans, price_in_engine=in_engine)
    (diag,) = [d for d in ev.diagnostics if d.is_error]
    return diag


@pytest.mark.parametrize("in_engine", [False, True])
def test_unpriced_usage_points_at_the_rate_card_to_edit(tmp_path, in_engine):
    """E502 named contract, meter and period but no place in the pricing: now a note points at
    the rate card a `default` rule goes in (the meter's here: the plan's charge has no rates),
    by every path that prices."""
    diag = _problem(LAYERS, [event(1, "c1", "2026-01-05T00:00:00Z", "llm", model="zzz", tokens=5)],
                    tmp_path, in_engine)
    assert diag.code == "E502" and diag.span is None
    (note,) = diag.notes
    assert note.message == "meter `TOKENS`'s rate card, where a `default` rule would go"
    assert (note.span.file, note.span.line, note.span.col, note.span.end_line) == ("t.pricing", 7, 5, 9)
    # a plan's charge with rates of its own is where the default goes
    text = LAYERS.replace("  charge TOKENS\n", '  charge TOKENS { model = "b" : $0.02 }\n')
    (note,) = _problem(text, [event(1, "c1", "2026-01-05T00:00:00Z", "llm", model="zzz", tokens=5)],
                       tmp_path, in_engine).notes
    assert note.message == "plan `p`'s charge of `TOKENS`, where a `default` rule would go"
    assert (note.span.line, note.span.col) == (14, 3)


@pytest.mark.parametrize("in_engine", [False, True])
def test_usage_beyond_the_last_tier_points_at_the_tiers(tmp_path, in_engine):
    diag = _problem(TIERED, [event(i, "cust", "2026-01-05T00:00:00Z", "api.request") for i in range(11)],
                    tmp_path, in_engine)
    assert diag.code == "E503" and "the tiers stop at `up to 10`" in diag.message
    (note,) = diag.notes
    assert note.message == "the tiers that stop at `up to 10`"
    assert (note.span.file, note.span.line, note.span.col) == ("t.pricing", 9, 22)


def test_unpriced_usage_without_spans_has_no_note(tmp_path):
    """A plan built without the compiler's spans (a test's, an API user's) reports as before."""
    from ratecard.billing import evaluate
    from ratecard.usage.reference import aggregate_usage

    files = [write_events(tmp_path / "u.jsonl",
                          [event(1, "c1", "2026-01-05T00:00:00Z", "llm", model="zzz", tokens=5)])]
    ev = evaluate(compile_text(LAYERS), files, dt.date(2026, 2, 1), aggregator=aggregate_usage)
    (diag,) = [d for d in ev.diagnostics if d.is_error]
    assert diag.code == "E502" and diag.notes == ()


def test_one_contract_is_priced_alone_and_counts_stay_the_runs(tmp_path):
    """`only` (`--contract NAME`) prices that contract alone: its invoices are those of the
    whole run, the event counts are the whole run's, and another contract's unpriced
    usage does not stop it."""
    plan = compile_text(LAYERS)
    files = [write_events(tmp_path / "u.jsonl", [
        event(1, "c1", "2026-01-05T00:00:00Z", "llm", model="a", tokens=1000),
        event(2, "c2", "2026-01-05T00:00:00Z", "llm", model="b", tokens=3000),
        event(3, "c9", "2026-01-05T00:00:00Z", "llm", model="a", tokens=7),  # no contract
    ])]
    from ratecard.billing import evaluate
    from ratecard.usage.reference import aggregate_usage

    whole = run(plan, files, "2026-02-01")
    gold = evaluate(plan, files, dt.date(2026, 2, 1), aggregator=aggregate_usage, only="gold")
    assert gold.ok and {i.contract for i in gold.run.invoices} == {"gold"}
    assert gold.run.invoices == [i for i in whole.run.invoices if i.contract == "gold"]
    assert (gold.run.events, gold.run.rejected) == (whole.run.events, whole.run.rejected)
    assert {pl.contract for pl in gold.priced} == {"gold"}

    unpriced = [write_events(tmp_path / "v.jsonl", [
        event(1, "c1", "2026-01-05T00:00:00Z", "llm", model="zzz", tokens=5),  # list_price: E502
        event(2, "c2", "2026-01-05T00:00:00Z", "llm", model="b", tokens=3000),
    ])]
    assert not evaluate(plan, unpriced, dt.date(2026, 2, 1), aggregator=aggregate_usage).ok
    alone = evaluate(plan, unpriced, dt.date(2026, 2, 1), aggregator=aggregate_usage, only="gold")
    assert alone.ok and [i.total for i in alone.run.invoices] == [i.total for i in gold.run.invoices]


# ----------------------------------------------------------------- credits


CREDITS = API + """
plan p {
  billing monthly
  payment net 15
  charge API_CALLS : $10 per call
}
contract c {
  customer "cust"
  plan p
  starts 2026-01-01
  credit $100 {
    description "late, long"
    granted 2026-02-01
    expires 2026-12-31T23:59:59Z
  }
  credit $150 {
    description "early, short"
    price $120
    expires 2026-03-01
  }
  credit $1_000 { description "forever" }
}
"""


def test_soonest_expiring_grant_pays_first_and_leftovers_break(tmp_path):
    plan = compile_text(CREDITS)
    # 20 calls ($200) in Jan, 20 in Feb, 20 in Mar
    evs = [event(f"{m}-{i}", "cust", f"2026-0{m}-10T00:00:00Z") for m in (1, 2, 3) for i in range(20)]
    ev = run(plan, [write_events(tmp_path / "u.jsonl", evs)], "2026-04-01")
    (purchase,) = invoices(ev, kind="credit_purchase")
    assert purchase.total == D(120) and purchase.issued == dt.date(2026, 1, 1)
    assert purchase.due == dt.date(2026, 1, 16)
    jan, feb, mar = invoices(ev)
    # Jan: "early, short" (expires end of Mar 1) pays 150, then "forever" 50
    assert [(c.description, c.applied) for c in jan.credits] == [("early, short", D(150)), ("forever", D(50))]
    # Feb: "early, short" is empty; "late, long" (granted Feb 1) expires before "forever"
    assert [(c.description, c.applied) for c in feb.credits] == [("late, long", D(100)), ("forever", D(100))]
    assert mar.credits_applied == D(200)
    assert all(i.total == 0 for i in (jan, feb, mar))
    # "early, short" expired at the start of Mar 2, inside the March period: its last
    # covered invoice is March, so it closes then, fully used
    breakage = {b.description: b.amount for b in ev.run.breakage}
    assert breakage == {"early, short": D(0)}
    ledger = {l.grant.description: l for l in ev.ledgers}
    assert ledger["forever"].balance == D(1000 - 50 - 100 - 200)


def _a_500_credit_over_three_months(tmp_path, expires: str):
    """$100, $150 and $200 of usage in January, February and March against a $500 credit
    that expires at `expires`: the run, and its three invoices."""
    plan = compile_text(API + """
plan p { billing monthly  charge API_CALLS : $10 per call }
contract c {
  customer "cust"  plan p  starts 2026-01-01
  credit $500 { expires %s }
}
""" % expires)
    evs = [event(f"{m}-{i}", "cust", f"2026-0{m}-10T00:00:00Z") for m, n in ((1, 10), (2, 15), (3, 20))
           for i in range(n)]
    ev = run(plan, [write_events(tmp_path / "u.jsonl", evs)], "2026-04-01")
    return ev, invoices(ev)


def test_credits_never_take_an_invoice_below_zero_and_breakage_balances(tmp_path):
    ev, (jan, feb, mar) = _a_500_credit_over_three_months(tmp_path, "2026-03-01T00:00:00Z")
    assert (jan.credits_applied, feb.credits_applied, mar.credits_applied) == (D(100), D(150), D(0))
    (b,) = ev.run.breakage
    assert b.amount == D(250) and b.granted == D(500) and b.used == D(250)
    assert b.expired == dt.date(2026, 3, 1)


def test_a_grant_expiring_a_nanosecond_into_a_period_pays_that_period(tmp_path):
    """`expires 2026-03-01T00:00:00.000000001Z` is active in March (for a nanosecond), so its
    balance pays March's invoice; it used to be cut to midnight and broke in February."""
    ev, (jan, feb, mar) = _a_500_credit_over_three_months(tmp_path, "2026-03-01T00:00:00.000000001Z")
    assert (jan.credits_applied, feb.credits_applied, mar.credits_applied) == (D(100), D(150), D(200))
    (b,) = ev.run.breakage
    assert b.amount == D(50) and b.used == D(450)


def test_grant_after_through_is_not_granted_yet(tmp_path):
    plan = compile_text(API + """
plan p { billing monthly  charge API_CALLS : $10 per call }
contract c {
  customer "cust"  plan p  starts 2026-01-01
  credit $500 { price $400  granted 2026-06-01 }
}
""")
    ev = run(plan, [write_events(tmp_path / "u.jsonl", [event(1, "cust", "2026-01-02T00:00:00Z")])],
             "2026-02-01")
    assert invoices(ev, kind="credit_purchase") == []
    assert invoices(ev)[0].credits_applied == 0
