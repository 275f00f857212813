"""Invoice-level Part 2 constructs: discounts, the spend cap, allowances, credit priority and scope.

Every figure below is worked out by hand in the comment above its assertion (LANGUAGE.md
"Part 2"; the decisions in docs/billing.md, "Discounts, spend cap, allowances").
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from billing_helpers import compile_text, event, invoices, run, write_events
from ratecard.billing.adjustments import allocate
from ratecard.billing.credits import burn_order
from ratecard.cli import main
from ratecard.report.credit_history import credit_ledger
from ratecard.report.explain import explain_text

METERS = ('meter CALLS {\n  event "api.call"\n  count\n}\n'
          'meter GB {\n  event "egress"\n  sum gb\n}\n')
PLAN = ('plan pro {\n  fee "Platform" : $30 per month\n  charge CALLS : $0.01 per call\n'
        '  charge GB : $0.10 per gb\n{extra}}}\n')


def project(plan_extra: str = "", contract_extra: str = "") -> str:
    return (METERS + PLAN.replace("{extra}", plan_extra).replace("}}", "}")
            + 'contract beta {\n  customer "cus_beta"\n  plan pro\n  starts 2026-01-01\n'
            + contract_extra + "}\n")


@pytest.fixture
def usage(tmp_path):
    """Jan: 2,000 calls ($20.00) and 100 GB ($10.00); Feb: 500 calls ($5.00), no GB."""
    events = [event(f"c{i}", "cus_beta", "2026-01-10T00:00:00Z", "api.call") for i in range(2000)]
    events += [event(f"g{i}", "cus_beta", "2026-01-11T00:00:00Z", "egress", gb=50) for i in range(2)]
    events += [event(f"f{i}", "cus_beta", "2026-02-10T00:00:00Z", "api.call") for i in range(500)]
    return [write_events(tmp_path / "u.jsonl", events)]


def bill(text, usage, through="2026-03-01"):
    ev = run(compile_text(text), usage, through)
    return ev, invoices(ev, "beta")


def kinds(inv):
    return [(ln.kind, ln.charge, str(ln.amount)) for ln in inv.lines]


def test_percentage_discount_on_a_meter_for_one_period(usage):
    ev, (jan, feb) = bill(project(contract_extra='  discount 20% {\n    description "Launch"\n'
                                                 '    applies to CALLS\n    once\n  }\n'), usage)
    # Jan: 30 + 20 + 10 = 60; 20% of the CALLS line 20.00 = -4.00 -> 56.00
    assert kinds(jan)[-1] == ("discount", "Launch", "-4.00")
    assert (jan.subtotal, jan.total) == (Decimal("56.00"), Decimal("56.00"))
    # `once`: February (period 2) has no discount: 30 + 5 = 35
    assert [ln.kind for ln in feb.lines] == ["fee", "usage"] and feb.total == Decimal("35.00")
    line = jan.lines[-1]
    assert (line.quantity, line.unit_price, line.rule) == (Decimal("20.00"), Decimal("-0.2"), "t.pricing:18")


def test_two_percentages_add_up_never_compound_and_stop_at_zero(usage):
    _, (jan, _) = bill(project(contract_extra="  discount 60% { applies to GB }\n"
                                              "  discount 50% { applies to GB }\n"), usage)
    # GB line 10.00: 60% = 6.00, then 50% of the undiscounted 10.00 = 5.00, limited to the 4.00 left
    assert [a for k, _, a in kinds(jan) if k == "discount"] == ["-6.00", "-4.00"]
    assert jan.total == Decimal("50.00")  # 30 + 20 + 10 - 10


def test_amount_discount_never_goes_below_zero_and_reports_what_it_loses(usage):
    ev, (jan, feb) = bill(project(contract_extra='  discount $40 { applies to fees }\n'), usage)
    # fees only: 30.00 of the 40.00 budget each period; the other 10.00 is lost, reported
    assert kinds(jan)[-1] == ("discount", "Discount", "-30.00")
    assert jan.total == Decimal("30.00") and feb.total == Decimal("5.00")
    lost = [(str(u.period.start), str(u.unused)) for u in ev.run.unused_discounts]
    assert lost == [("2026-01-01", "10.00"), ("2026-02-01", "10.00")]
    doc = json.loads(ev.run.model_dump_json())
    assert doc["unused_discounts"][0]["unused"] == "10.00"


def test_cap_brings_usage_down_but_not_fees(usage):
    _, (jan, feb) = bill(project(plan_extra="  cap $25\n"), usage)
    # usage 20 + 10 = 30 > 25: one -5.00 line; fees stay: 30 + 30 - 5 = 55
    assert kinds(jan)[-1] == ("cap", "Spend cap", "-5.00")
    assert jan.total == Decimal("55.00")
    assert "cap" not in [ln.kind for ln in feb.lines]  # 5.00 of usage, under the cap


def test_cap_is_on_usage_after_discounts_and_minimum_compares_after_both(usage):
    text = project(plan_extra="  cap $25\n  minimum $100\n", contract_extra="  discount 50% { applies to GB }\n")
    _, (jan, _) = bill(text, usage)
    # GB 10 - 5 = 5; usage after discount 25 = the cap: no cap line; 30 + 25 = 55 < 100: true-up 45
    assert [k for k, _, _ in kinds(jan)] == ["fee", "usage", "usage", "discount", "minimum"]
    assert kinds(jan)[-1] == ("minimum", "minimum", "45.00") and jan.total == Decimal("100.00")


def test_cap_and_minimum_are_prorated_on_a_short_first_period(usage):
    """LANGUAGE.md Part 2: the cap is "prorated like fees on a short period" (`on day D`)."""
    text = project(plan_extra="  billing monthly on day 15\n  cap $31\n  minimum $62\n")
    _, (short, *_) = bill(text, usage, through="2026-01-15")
    # Jan 1 - 15 over Dec 15 - Jan 15 (31 days): 14/31. Fee 30 x 14/31 = 13.548 -> 13.55;
    # cap 31 x 14/31 = 14: usage 20 + 10 = 30 -> -16.00; minimum 62 x 14/31 = 28:
    # 13.55 + 14.00 = 27.55 -> true-up 0.45
    assert kinds(short) == [("fee", "Platform", "13.55"), ("usage", "CALLS", "20.00"), ("usage", "GB", "10.00"),
                            ("cap", "Spend cap", "-16.00"), ("minimum", "minimum", "0.45")]
    assert short.total == Decimal("28.00")


def test_allowance_burns_first_pays_its_scope_and_leaves_no_breakage(usage):
    text = project(plan_extra='  allowance $15 per month {\n    description "Compute"\n    applies to CALLS\n  }\n',
                   contract_extra='  credit $100 {\n    description "Promo"\n  }\n')
    ev, (jan, feb) = bill(text, usage)
    # Jan: allowance pays 15.00 of CALLS (20.00); the promo grant pays the rest, 45.00
    assert [(c.kind, str(c.applied)) for c in jan.credits] == [("allowance", "15.00"), ("grant", "45.00")]
    # Feb: CALLS 5.00 -> the allowance uses 5.00 of 15.00; the promo pays the fee 30.00
    assert [(c.kind, str(c.applied)) for c in feb.credits] == [("allowance", "5.00"), ("grant", "30.00")]
    assert [(str(u.period.start), str(u.unused)) for u in ev.run.unused_allowances] == [("2026-02-01", "10.00")]
    assert all(b.grant != "plan:pro/allowance/0" for b in ev.run.breakage)
    ledger = credit_ledger(ev, ev_plan(text), "beta")
    assert [(str(a.period.start), str(a.used), str(a.unused)) for a in ledger.allowances] == [
        ("2026-01-01", "15.00", "0.00"), ("2026-02-01", "5.00", "10.00")]


def ev_plan(text):
    return compile_text(text)


def test_priority_orders_burning_and_scope_limits_what_a_grant_pays(usage):
    text = project(contract_extra='  credit $1000 {\n    description "Outage"\n  }\n'
                                  '  credit $8 {\n    description "Egress only"\n    priority 1\n'
                                  '    applies to GB\n  }\n')
    _, (jan, _) = bill(text, usage)
    # the scoped grant, written second but `priority 1`, burns first and pays 8.00 of the GB line only
    assert [(c.description, str(c.applied)) for c in jan.credits] == [("Egress only", "8.00"),
                                                                       ("Outage", "52.00")]
    assert jan.total == Decimal("0.00")


def test_a_scoped_grant_pays_the_net_after_discount_and_never_the_minimum(usage):
    text = project(plan_extra="  minimum $80\n", contract_extra='  discount 50% { applies to GB }\n'
                                                                '  credit $50 { applies to GB, fees }\n')
    _, (jan, _) = bill(text, usage)
    # lines 30 + 20 + 10 - 5 = 55, true-up 25; the grant pays fees 30 + GB net 5 = 35, not the true-up
    assert jan.subtotal == Decimal("80.00") and jan.credits_applied == Decimal("35.00")


def test_burn_order_priority_then_expiry_then_grant_date_then_contract_order():
    text = project(contract_extra='  credit $1 {\n    description "a"\n  }\n'
                                  '  credit $1 {\n    description "b"\n    priority 2\n  }\n'
                                  '  credit $1 {\n    description "c"\n    priority 1\n  }\n'
                                  '  credit $1 {\n    description "d"\n    expires 2026-06-01\n  }\n')
    grants = compile_text(text).contracts["beta"].credits
    assert [g.description for g in burn_order(grants)] == ["c", "b", "d", "a"]


def test_allocate_is_largest_remainder_with_ties_to_the_earlier_line():
    cent = Decimal("0.01")
    assert allocate(Decimal("0.10"), [Decimal(1), Decimal(1), Decimal(1)], cent) == [
        Decimal("0.04"), Decimal("0.03"), Decimal("0.03")]
    assert allocate(Decimal("1.00"), [Decimal(0), Decimal(0)], cent) == [Decimal("1.00"), Decimal("0.00")]
    assert sum(allocate(Decimal("7.77"), [Decimal("3.3"), Decimal("1"), Decimal("2.2")], cent)) == Decimal("7.77")


def test_explain_says_why_for_discount_cap_and_allowance(usage):
    text = project(plan_extra='  cap $22\n  allowance $5 per month { applies to CALLS }\n',
                   contract_extra='  discount 10% { description "Launch" }\n')
    ev = run(compile_text(text), usage, "2026-02-01")
    out = explain_text(ev, compile_text(text), "beta")
    # 10% of 60.00 = 6.00, shared 3.00 / 2.00 / 1.00 by nets; usage after it 18 + 9 = 27 > 22: cap 5.00
    assert "10% of 60.00 (the covered lines' amounts) = 6, rounded once to 6.00" in out
    assert "2.00 of usage CALLS (net 20.00 -> 18.00)" in out
    assert "usage after discounts 27.00 - limit 22 = 5" in out
    assert "allowance of this period (5.00), burns before every grant; applies to CALLS" in out


def test_explain_shows_a_prorated_cap_exactly_never_cut_short(usage):
    """A cap prorated by 14/30 days is 100 x 14/30 = 140/3: explain printed the limit and
    the excess as 60-digit decimals (46.666...667), figures cut short that multiply out
    to other amounts. Now the exact fraction, and about how much it is."""
    text = project(plan_extra="  billing monthly on day 15\n  cap $10\n")
    ev = run(compile_text(text), usage, "2026-01-15")
    out = explain_text(ev, compile_text(text), "beta")
    # Jan 1 - 15 over Dec 15 - Jan 15 (31 days): 14/31; limit 10 x 14/31 = 140/31; usage 30 -> cap 25.48
    assert "spend cap 10 per period x 14/31 of a period: limit 140/31 (about 4.5161)" in out
    assert "usage after discounts 30.00 - limit 140/31 = 790/31 (about 25.4839), rounded once to 25.48" in out


def test_inline_test_block_with_a_discount_passes(tmp_path, capsys):
    text = METERS + PLAN.replace("{extra}", "").replace("}}", "}") + (
        'test "inline discount" {\n  contract {\n    plan pro\n    starts 2026-01-01\n'
        '    discount 10% once\n  }\n  usage CALLS 100 on 2026-01-05\n  through 2026-02-01\n'
        '  expect total $30.90\n}\n')
    path = tmp_path / "p.pricing"
    path.write_text(text, encoding="utf-8")
    # 30 + 1.00 = 31.00; 10% = 3.10 -> 27.90; the test says 30.90: it must fail, not error
    assert main(["test", str(path)]) == 1
    assert "0 passed; 1 failed" in capsys.readouterr().out
    path.write_text(text.replace("$30.90", "$27.90"), encoding="utf-8")
    assert main(["test", str(path)]) == 0


def test_documents_without_part2_keep_their_shape(usage):
    ev, (jan, _) = bill(project(), usage)
    doc = json.loads(ev.run.model_dump_json())
    assert "unused_allowances" not in doc and "unused_discounts" not in doc
    assert jan.credits == []
