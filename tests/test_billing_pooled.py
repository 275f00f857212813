"""Pooled tiers (`pooled graduated|volume`): the tiers are filled by the sum of the charge's
lines of the period, the rounded total is shared by largest remainder (billing/pools.py).

The figures are worked out by hand in the comments; the n01 case of conformance-next
(weighted meters) is reproduced here with a `sum` meter giving the same quantities.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from billing_helpers import D, compile_text, event, invoices, run, write_events
from ratecard.billing.pools import largest_remainder
from ratecard.cli import main

METER = 'meter STORAGE {\n  event "storage.reported"\n  sum gigabytes\n  dimensions bucket\n}\n'
CONTRACT = 'contract acme {\n  customer "cus_acme"\n  plan store\n  starts 2026-01-01\n}\n'


def _plan(charge: str, contract: str = CONTRACT) -> str:
    return METER + f"plan store {{\n  billing monthly\n  charge STORAGE : {charge}\n}}\n" + contract


GRADUATED = _plan("pooled graduated per GB-month {\n    up to 1000 : $0.023\n    above : $0.021\n  }")


def _events(tmp_path, rows) -> str:
    """rows: (bucket, gigabytes, time); the gigabytes written as exact JSON numbers."""
    path = tmp_path / "u.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, (bucket, gb, time) in enumerate(rows):
            row = json.dumps(event(i, "cus_acme", time, "storage.reported", bucket=bucket, gigabytes="GB"))
            fh.write(row.replace('"GB"', str(gb)) + "\n")
    return str(path)


def _lines(inv):
    return [(ln.dimensions.get("bucket"), ln.amount) for ln in inv.lines if ln.kind == "usage"]


def test_n01_figures_with_a_sum_meter_graduated_pool(tmp_path):
    # January: logs 620 + media 630 = 1250 = 1000 x 0.023 + 250 x 0.021 = 23 + 5.25 = 28.25;
    # shares 28.25 x 620/1250 = 14.012, 28.25 x 630/1250 = 14.238 -> 14.01 / 14.24 (1 cent left, to media).
    # February: 620 + 930 = 1550 = 23 + 550 x 0.021 = 34.55; 34.55 x 620/1550 = 13.82, x 930/1550 = 20.73.
    usage = _events(tmp_path, [("logs", 620, "2026-01-05T00:00:00Z"), ("media", 630, "2026-01-11T00:00:00Z"),
                               ("logs", 620, "2026-02-05T00:00:00Z"), ("media", 930, "2026-02-11T00:00:00Z")])
    ev = run(compile_text(GRADUATED), [usage], "2026-03-01")
    jan, feb = invoices(ev)
    assert _lines(jan) == [("logs", D("14.01")), ("media", D("14.24"))]
    assert jan.total == D("28.25")
    assert _lines(feb) == [("logs", D("13.82")), ("media", D("20.73"))]
    assert feb.total == D("34.55")
    line = jan.lines[0]
    assert line.unit_price is None and line.pool is not None
    assert (line.pool.quantity, line.pool.amount, line.pool.lines) == (D("1250"), D("28.25"), 2)
    assert [(t.lower, t.upper, t.quantity) for t in line.tiers] == [(0, 1000, 1000), (1000, None, 250)]


def test_volume_pool_puts_every_unit_at_the_tier_of_the_pools_total(tmp_path):
    # 600 + 700 = 1300 > 1000: every unit at $0.02 = 26.00; alone each line would be at $0.03.
    # shares 26 x 600/1300 = 12.00, 26 x 700/1300 = 14.00
    text = _plan("pooled volume per GB-month {\n    up to 1000 : $0.03\n    above : $0.02\n  }")
    usage = _events(tmp_path, [("a", 600, "2026-01-05T00:00:00Z"), ("b", 700, "2026-01-06T00:00:00Z")])
    (jan,) = invoices(run(compile_text(text), [usage], "2026-02-01"))
    assert _lines(jan) == [("a", D("12.00")), ("b", D("14.00"))]
    assert jan.lines[0].pool.amount == D("26.00")


def test_remainder_ties_go_to_the_line_that_comes_first(tmp_path):
    # a flat $1 shared by three equal lines: 33.33... cents each, all remainders equal -> the
    # extra cent goes to the first line in invoice order (dimension values ascending), not to
    # the first in the file
    text = _plan("pooled volume {\n    above : free + $1\n  }")
    usage = _events(tmp_path, [("c", 1, "2026-01-05T00:00:00Z"), ("a", Decimal("0.5"), "2026-01-05T00:00:00Z"),
                               ("b", 1, "2026-01-06T00:00:00Z"), ("a", Decimal("0.5"), "2026-01-07T00:00:00Z")])
    (jan,) = invoices(run(compile_text(text), [usage], "2026-02-01"))
    assert _lines(jan) == [("a", D("0.34")), ("b", D("0.33")), ("c", D("0.33"))]
    assert sum(a for _, a in _lines(jan)) == jan.lines[0].pool.amount == D("1.00")


def test_largest_remainder_not_first_when_a_later_remainder_is_larger():
    # 100 cents over 1 : 2 : 2 -> 20 / 40 / 40 exactly; over 1 : 1 : 4 -> 16.67 / 16.67 / 66.67:
    # floors 16 / 16 / 66 (98), the two cents left go to the two largest remainders (.67 each: ties,
    # the first two in order)
    assert largest_remainder(100, [D(1), D(2), D(2)])[0] == [20, 40, 40]
    assert largest_remainder(100, [D(1), D(1), D(4)])[0] == [17, 17, 66]
    # 10 cents over 3 : 3 : 4 -> 3 / 3 / 4 exactly; over 0.35 : 0.35 : 0.30 -> 3.5 / 3.5 / 3: a tie at .5
    assert largest_remainder(10, [D("0.35"), D("0.35"), D("0.30")])[0] == [4, 3, 3]
    shares, exact, bonus = largest_remainder(7, [D(1), D(2)])  # 2.33 / 4.67 -> 2 / 5
    assert shares == [2, 5] and exact == [Fraction(7, 3), Fraction(14, 3)] and bonus == [False, True]


def test_zero_quantity_lines_get_nothing_and_an_all_zero_pool_goes_to_the_first_line(tmp_path):
    # bucket z nets to 0 (a correction): it is in the pool with a share of 0
    usage = _events(tmp_path, [("a", 620, "2026-01-05T00:00:00Z"), ("z", 5, "2026-01-05T00:00:00Z"),
                               ("z", -5, "2026-01-06T00:00:00Z"), ("m", 630, "2026-01-11T00:00:00Z")])
    (jan,) = invoices(run(compile_text(GRADUATED), [usage], "2026-02-01"))
    assert _lines(jan) == [("a", D("14.01")), ("m", D("14.24")), ("z", D("0.00"))]
    assert jan.lines[0].pool.lines == 3
    assert largest_remainder(125, [D(0), D(0)])[0] == [125, 0]
    assert largest_remainder(0, [D(0), D(3)])[0] == [0, 0]


def test_one_line_pool_bills_the_pools_total(tmp_path):
    # 1250 alone: 28.25, the same as the pool of n01
    usage = _events(tmp_path, [("only", 1250, "2026-01-05T00:00:00Z")])
    (jan,) = invoices(run(compile_text(GRADUATED), [usage], "2026-02-01"))
    assert _lines(jan) == [("only", D("28.25"))]
    assert jan.lines[0].pool.lines == 1


def test_a_line_another_rule_prices_is_not_in_the_pool(tmp_path):
    # acme's override prices bucket `media` at a unit price: the pool is `logs` + `tmp` only:
    # 620 + 630 = 1250 -> 28.25 shared 14.01 / 14.24; media 1000 x 0.01 = 10.00 on its own
    contract = CONTRACT.replace("}\n", '  override STORAGE {\n    bucket = "media" : $0.01 per GB-month\n  }\n}\n')
    text = GRADUATED.replace(CONTRACT, contract)
    usage = _events(tmp_path, [("logs", 620, "2026-01-05T00:00:00Z"), ("media", 1000, "2026-01-05T00:00:00Z"),
                               ("tmp", 630, "2026-01-11T00:00:00Z")])
    (jan,) = invoices(run(compile_text(text), [usage], "2026-02-01"))
    assert _lines(jan) == [("logs", D("14.01")), ("media", D("10.00")), ("tmp", D("14.24"))]
    media = jan.lines[1]
    assert media.pool is None and media.unit_price == D("0.01")
    assert jan.lines[0].pool.quantity == D("1250")


def test_each_contract_has_its_own_pool(tmp_path):
    other = CONTRACT.replace("acme", "beta").replace("cus_acme", "cus_beta")
    text = GRADUATED + other
    rows = [event(1, "cus_acme", "2026-01-05T00:00:00Z", "storage.reported", bucket="a", gigabytes=900),
            event(2, "cus_beta", "2026-01-05T00:00:00Z", "storage.reported", bucket="a", gigabytes=900)]
    usage = write_events(tmp_path / "u.jsonl", rows)
    ev = run(compile_text(text), [usage], "2026-02-01")
    # 900 each, below the 1000 bound: 20.70 each (one pool would have crossed it)
    assert [(i.contract, i.total) for i in invoices(ev)] == [("acme", D("20.70")), ("beta", D("20.70"))]


def test_a_pool_beyond_its_last_tier_is_an_error_never_a_bill(tmp_path):
    # 600 and 500 are each within `up to 1000`, their pool (1100) is not
    text = _plan("pooled graduated {\n    up to 1000 : $0.01\n  }")
    compiled = compile_text(text)
    usage = _events(tmp_path, [("a", 600, "2026-01-05T00:00:00Z"), ("b", 500, "2026-01-06T00:00:00Z")])
    from ratecard.billing import evaluate
    import datetime as dt
    ev = evaluate(compiled, [usage], dt.date(2026, 2, 1))
    assert not ev.ok
    (problem,) = [d for d in ev.diagnostics if d.is_error]
    assert problem.code == "E503" and "pool of `STORAGE` (2 lines) comes to 1100 units" in problem.message


@pytest.mark.parametrize("in_engine", [False, True])
def test_a_pool_beyond_its_last_tier_points_at_the_tiers(tmp_path, in_engine):
    """E503 of a pool names its meter; a note points at the tiered rule to give an `above` tier."""
    from ratecard.billing import evaluate
    from ratecard.compiler import compile_sources
    import datetime as dt
    compiled = compile_sources([("p.pricing", _plan("pooled graduated {\n    up to 1000 : $0.01\n  }"))])
    usage = _events(tmp_path, [("a", 600, "2026-01-05T00:00:00Z"), ("b", 500, "2026-01-06T00:00:00Z")])
    ev = evaluate(compiled.plan, [usage], dt.date(2026, 2, 1), spans=compiled.spans, price_in_engine=in_engine)
    (problem,) = [d for d in ev.diagnostics if d.is_error]
    (note,) = problem.notes
    assert problem.code == "E503" and note.message == "the tiers that stop at `up to 1000`"
    assert note.span == compiled.spans["plan:store/charge:STORAGE/0"]


@pytest.mark.parametrize("in_engine", [False, True])
def test_a_pool_past_the_exact_range_is_e506_as_one_lines_sum_is(tmp_path, in_engine):
    """6e19 GB in each of two buckets is within DECIMAL(38, 18); their pool, 1.2e20, is not.
    The same usage in one bucket is E506 (the engine's sum overflows); pooled it was billed
    ($1.2e14, exit 0) from a quantity no engine holds. Now the pool is E506 too, by every
    path that prices (pools are priced in Python for every engine)."""
    from ratecard.billing import evaluate
    import datetime as dt
    compiled = compile_text(GRADUATED)
    usage = _events(tmp_path, [("a", "60000000000000000000", "2026-01-05T00:00:00Z"),
                               ("b", "60000000000000000000", "2026-01-06T00:00:00Z")])
    ev = evaluate(compiled, [usage], dt.date(2026, 2, 1), price_in_engine=in_engine)
    assert not ev.ok
    (problem,) = [d for d in ev.diagnostics if d.is_error]
    assert problem.code == "E506"
    assert "the pool of `STORAGE` (2 lines) comes to 120000000000000000000" in problem.message
    assert "DECIMAL(38, 18)" in problem.message
    # just below the bound, the pool is billed
    usage = _events(tmp_path, [("a", "49999999999999999999", "2026-01-05T00:00:00Z"),
                               ("b", "50000000000000000000", "2026-01-06T00:00:00Z")])
    assert evaluate(compiled, [usage], dt.date(2026, 2, 1), price_in_engine=in_engine).ok


def test_json_shows_the_pool_and_other_lines_keep_their_shape(tmp_path, capsys, monkeypatch):
    (tmp_path / "p.pricing").write_text(GRADUATED, encoding="utf-8")
    _events(tmp_path, [("logs", 620, "2026-01-05T00:00:00Z"), ("media", 630, "2026-01-11T00:00:00Z")])
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["invoice", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (line, _) = doc["invoices"][0]["lines"]
    assert line["unit_price"] is None
    assert line["pool"] == {"quantity": "1250", "amount": "28.25", "lines": 2}
    assert [t["quantity"] for t in line["tiers"]] == ["1000", "250"]


def test_explain_shows_the_pool_and_the_lines_share(tmp_path, capsys, monkeypatch):
    (tmp_path / "p.pricing").write_text(GRADUATED, encoding="utf-8")
    _events(tmp_path, [("logs", 620, "2026-01-05T00:00:00Z"), ("media", 630, "2026-01-11T00:00:00Z")])
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["explain", "p.pricing", "--usage", "u.jsonl", "--through", "2026-02-01",
                 "--contract", "acme"]) == 0
    out = capsys.readouterr().out
    assert "pool: 2 lines of STORAGE, 1250 units" in out, out
    assert "tier 0-1000: 1000 units x 0.023 per GB-month = 23" in out
    assert "pool total 28.25 (exact 28.25, rounded once)" in out
    assert "share 28.25 x 620 / 1250 = 14.012" in out and "-> 14.01" in out
    assert "share 28.25 x 630 / 1250 = 14.238" in out and "-> 14.24 (+0.01 by largest remainder: " in out
    assert "price: pooled graduated per GB-month" in out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(total=st.integers(min_value=0, max_value=10**9),
       weights=st.lists(st.decimals(min_value=0, max_value=10**6, places=9, allow_nan=False), min_size=1,
                        max_size=12))
def test_property_shares_add_up_exactly_and_each_is_within_one_unit_of_its_exact_share(total, weights):
    shares, exact, bonus = largest_remainder(total, weights)
    assert sum(shares) == total
    assert all(0 <= s - e < 1 if b else 0 <= e - s < 1 for s, e, b in zip(shares, exact, bonus))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(quantities=st.lists(st.decimals(min_value=0, max_value=5000, places=3, allow_nan=False),
                           min_size=1, max_size=6),
       mode=st.sampled_from(["graduated", "volume"]))
def test_property_pooled_line_amounts_add_up_to_the_pooled_total(quantities, mode, tmp_path):
    text = _plan(f"pooled {mode} per GB-month {{\n    up to 1000 : $0.023 + $1\n"
                 f"    up to 4000 : $0.0217\n    above : $0.019\n  }}")
    usage = _events(tmp_path, [(f"b{i}", q, "2026-01-05T00:00:00Z") for i, q in enumerate(quantities)])
    (jan,) = invoices(run(compile_text(text), [usage], "2026-02-01"))
    pooled = [ln for ln in jan.lines if ln.kind == "usage"]
    assert len(pooled) == len(quantities)
    assert sum(ln.amount for ln in pooled) == pooled[0].pool.amount == jan.subtotal
    assert pooled[0].pool.quantity == sum(quantities)
    # the rounded total is the tier price of the sum, worked out here independently
    q, exact = sum(quantities), Decimal(0)
    if mode == "graduated":
        for lower, upper, price, flat in ((0, 1000, D("0.023"), 1), (1000, 4000, D("0.0217"), 0),
                                          (4000, None, D("0.019"), 0)):
            if q > lower:
                exact += (min(q, upper) - lower if upper is not None else q - lower) * price + flat
    elif q > 0:
        price, flat = (D("0.023"), 1) if q <= 1000 else (D("0.0217"), 0) if q <= 4000 else (D("0.019"), 0)
        exact = q * price + flat
    assert pooled[0].pool.amount == exact.quantize(D("0.01"), rounding="ROUND_HALF_EVEN")


def test_a_test_block_checks_pooled_lines(tmp_path, capsys):
    text = GRADUATED + ('test "the pool fills the tiers" {\n  contract acme\n'
                        '  usage STORAGE bucket = "logs" 620 on 2026-01-05\n'
                        '  usage STORAGE bucket = "media" 630 on 2026-01-11\n  through 2026-02-01\n'
                        '  expect line STORAGE bucket = "logs" $14.01\n'
                        '  expect line STORAGE bucket = "media" $14.24\n  expect total $28.25\n}\n')
    path = tmp_path / "p.pricing"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert main(["test", str(path)]) == 0, capsys.readouterr()
    assert "1 passed" in capsys.readouterr().out


def test_diff_says_a_line_moved_with_its_pool(tmp_path, capsys):
    # the new pricing drops the override of `cold`: it joins the pool, and the other buckets'
    # amounts move although their quantities and rule do not
    contract = CONTRACT.replace("}\n", '  override STORAGE {\n    bucket = "cold" : $0.004 per GB-month\n  }\n}\n')
    old, new = tmp_path / "old.pricing", tmp_path / "new.pricing"
    old.write_text(GRADUATED.replace(CONTRACT, contract), encoding="utf-8")
    new.write_text(GRADUATED, encoding="utf-8")
    usage = _events(tmp_path, [("logs", 620, "2026-01-05T00:00:00Z"), ("cold", 1000, "2026-01-05T00:00:00Z"),
                               ("media", 630, "2026-01-11T00:00:00Z")])
    capsys.readouterr()
    assert main(["diff", str(old), str(new), "--usage", usage, "--through", "2026-02-01"]) == 0
    out = capsys.readouterr().out
    # old: pool 1250 -> 28.25; new: pool 2250 = 23 + 1250 x 0.021 = 49.25
    assert "pool: 1250 over 2 lines for 28.25 → 2250 over 3 lines for 49.25" in out, out
    assert "pool: not pooled → 2250 over 3 lines for 49.25" in out


def test_a_rate_change_inside_the_period_starts_a_pool_whose_tiers_continue(tmp_path):
    # the pooled rule changes on Jan 15: the lines before it are one pool (x 800 + y 400 = 1200:
    # 1000 x 0.02 + 200 x 0.01 = 22.00, shared 14.67 / 7.33), the segment after it another pool
    # whose tiers continue from the 1200 units: 500 x 0.01 = 5.00 (the period's 1700 units cost
    # 27.00, as one pool with the same prices would)
    text = _plan("pooled graduated { up to 1000 : $0.02  above : $0.01 }\n"
                 "  charge STORAGE : pooled graduated { up to 1000 : $0.03  above : $0.01 } from 2026-01-15")
    usage = _events(tmp_path, [("x", 800, "2026-01-05T00:00:00Z"), ("y", 400, "2026-01-06T00:00:00Z"),
                               ("x", 500, "2026-01-20T00:00:00Z")])
    (jan,) = invoices(run(compile_text(text), [usage], "2026-02-01"))
    got = [(ln.dimensions["bucket"], ln.segment.start.day, ln.amount, ln.pool.quantity) for ln in jan.lines]
    assert got == [("x", 1, D("14.67"), D("1200")), ("x", 15, D("5.00"), D("500")), ("y", 1, D("7.33"), D("1200"))]
    # volume: the tier is chosen by the period's 1700 units for both pools: 1200 x 0.01 + 500 x 0.01
    text = _plan("pooled volume { up to 1500 : $0.02  above : $0.01 }\n"
                 "  charge STORAGE : pooled volume { up to 1500 : $0.03  above : $0.01 } from 2026-01-15")
    (jan,) = invoices(run(compile_text(text), [usage], "2026-02-01"))
    assert [ln.amount for ln in jan.lines] == [D("8.00"), D("5.00"), D("4.00")]


def test_two_pooled_rules_of_a_rate_card_make_two_pools(tmp_path):
    # the meter's rate card prices eu and us buckets by two pooled rules: two pools, each from zero.
    # eu: 700 + 600 = 1300 -> 1000 x 0.02 + 300 x 0.01 = 23.00 -> 12.38 / 10.62 (2300 x 7/13 =
    # 1238.46, x 6/13 = 1061.54: floors 2299, the cent to .54); us: 900 alone -> 900 x 0.03 = 27.00
    meter = ('meter STORAGE {\n  event "storage.reported"\n  sum gigabytes\n  dimensions bucket, region\n'
             '  rates {\n    region = "eu" : pooled graduated { up to 1000 : $0.02  above : $0.01 }\n'
             '    region = "us" : pooled graduated { up to 1000 : $0.03  above : $0.01 }\n  }\n}\n')
    text = meter + "plan store {\n  billing monthly\n  charge STORAGE\n}\n" + CONTRACT
    rows = [event(1, "cus_acme", "2026-01-05T00:00:00Z", "storage.reported", bucket="a", region="eu", gigabytes=700),
            event(2, "cus_acme", "2026-01-05T00:00:00Z", "storage.reported", bucket="b", region="eu", gigabytes=600),
            event(3, "cus_acme", "2026-01-05T00:00:00Z", "storage.reported", bucket="c", region="us", gigabytes=900)]
    (jan,) = invoices(run(compile_text(text), [write_events(tmp_path / "u.jsonl", rows)], "2026-02-01"))
    got = [(ln.dimensions["bucket"], ln.amount, ln.pool.quantity, ln.pool.amount) for ln in jan.lines]
    assert got == [("a", D("12.38"), D("1300"), D("23.00")), ("b", D("10.62"), D("1300"), D("23.00")),
                   ("c", D("27.00"), D("900"), D("27.00"))]


def test_a_modifier_for_some_lines_gives_them_their_own_pool(tmp_path):
    # `bucket = "b" : 50% off` in acme's override: a and c are one pool at the plan's prices
    # (620 + 630 = 1250 -> 28.25 -> 14.01 / 14.24), b its own pool at half price (900 x 0.0115 = 10.35)
    contract = CONTRACT.replace("}\n", '  override STORAGE {\n    bucket = "b" : 50% off\n  }\n}\n')
    text = GRADUATED.replace(CONTRACT, contract)
    usage = _events(tmp_path, [("a", 620, "2026-01-05T00:00:00Z"), ("b", 900, "2026-01-05T00:00:00Z"),
                               ("c", 630, "2026-01-11T00:00:00Z")])
    (jan,) = invoices(run(compile_text(text), [usage], "2026-02-01"))
    got = [(ln.dimensions["bucket"], ln.amount, ln.pool.quantity) for ln in jan.lines]
    assert got == [("a", D("14.01"), D("1250")), ("b", D("10.35"), D("900")), ("c", D("14.24"), D("1250"))]
    assert jan.lines[1].modifiers and not jan.lines[0].modifiers


def test_object_storage_examples_january_pool(tmp_path):
    # examples/object-storage (branch examples2), README "Acme's January by hand", with a `sum`
    # meter giving the GB-months its weighted meter computes: Q = 58,861.520962515;
    # 50,000 x 0.023 + 8,861.520962515 x 0.022 = 1,344.953461175 -> 1,344.95; 134,495 cents shared
    # 20,620.4929 / 63,375.9911 / 50,498.5160 -> floors 134,493, two cents to .9911 and .5160
    text = _plan("pooled graduated per GB-month {\n    up to 50_000 : $0.023\n    up to 500_000 : $0.022\n"
                 "    above : $0.021\n  }")
    usage = _events(tmp_path, [("backups", Decimal("9024.525634334"), "2026-01-05T00:00:00Z"),
                               ("logs", Decimal("27736.400838560"), "2026-01-05T00:00:00Z"),
                               ("media", Decimal("22100.594489621"), "2026-01-05T00:00:00Z")])
    (jan,) = invoices(run(compile_text(text), [usage], "2026-02-01"))
    assert _lines(jan) == [("backups", D("206.20")), ("logs", D("633.76")), ("media", D("504.99"))]
    assert jan.lines[0].pool.quantity == D("58861.520962515")
