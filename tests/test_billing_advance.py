"""Fees `in advance` (LANGUAGE.md Part 2; docs/part2-decisions.md 5, 6, 7, 9, 10): which
invoice bills them, the opening invoice, prorated short first periods, plan parts, the
invoice-level steps and credits around them, and the unused time at an early end.

Every figure is worked out by hand in the comment above its assertion.
"""

from __future__ import annotations

import json
from decimal import Decimal

from billing_helpers import compile_text, event, run, write_events

D = Decimal

METERS = 'meter CALLS {\n  event "api.call"\n  count\n}\n'
PLANS = ('plan pro {\n  billing monthly on day 1\n  payment net 15\n'
         '  fee "Pro plan" : $25 per month in advance\n  charge CALLS : $0.10 per call\n}\n'
         'plan team {\n  billing monthly on day 1\n  payment net 15\n'
         '  fee "Team plan" : $62 per month in advance\n  charge CALLS : $0.05 per call\n}\n'
         'plan basic {\n  billing monthly on day 1\n  payment net 15\n'
         '  fee "Basic" : $31 per month\n  charge CALLS : $0.10 per call\n}\n')


def project(body: str, plans: str = PLANS) -> str:
    return METERS + plans + 'contract beta {\n  customer "cus_beta"\n' + body + "}\n"


def calls(tmp_path, *days: str, n: int = 10) -> list[str]:
    """`n` calls on each of `days` (10 calls: $1.00 on Pro)."""
    rows = [event(f"{day}-{i}", "cus_beta", f"{day}T12:00:00Z", "api.call") for day in days for i in range(n)]
    return [write_events(tmp_path / "u.jsonl", rows)]


def bill(tmp_path, body: str, through: str, *days: str, plans: str = PLANS, n: int = 10):
    ev = run(compile_text(project(body, plans)), calls(tmp_path, *days, n=n), through)
    return ev, [i for i in ev.run.invoices if i.kind != "credit_purchase"]


def lines(inv, kind=None):
    return [(ln.kind, ln.charge, str(ln.amount)) for ln in inv.lines if kind is None or ln.kind == kind]


def served(line):
    return (str(line.service_period.start), str(line.service_period.end))


# ----------------------------------------------------------------- which invoice bills them


def test_the_opening_invoice_bills_a_short_first_period_prorated_and_each_next_fee_closes_the_period_before(
        tmp_path):
    ev, invs = bill(tmp_path, "  plan pro\n  starts 2026-01-10\n", "2026-03-01", "2026-01-20", "2026-02-10")
    assert [(i.number, i.kind) for i in invs] == [("beta-20260110-A", "advance"), ("beta-20260110", "usage"),
                                                  ("beta-20260201", "usage")]
    opening, jan, feb = invs
    # dated `starts`, a point like a credit purchase, due net 15
    assert (str(opening.period.start), str(opening.period.end), str(opening.issued), str(opening.due)) == (
        "2026-01-10", "2026-01-10", "2026-01-10", "2026-01-25")
    # Jan 10 - Feb 1 is 22 of January's 31 days: $25 x 22/31 = 17.7419.. -> 17.74
    (fee,) = opening.lines
    assert (fee.kind, fee.amount, str(fee.quantity), str(fee.prorated)) == ("fee", D("17.74"), "0.7096774194",
                                                                             "0.7096774194")
    assert served(fee) == ("2026-01-10", "2026-02-01") and fee.plan == "pro"
    assert opening.total == D("17.74")
    # the invoice closing Jan 10 - Feb 1 bills February's fee in advance, and January's usage
    assert lines(jan) == [("fee", "Pro plan", "25.00"), ("usage", "CALLS", "1.00")]
    assert served(jan.lines[0]) == ("2026-02-01", "2026-03-01") and jan.lines[0].prorated is None
    # February's closes with March's fee: $25 + $1.00
    assert lines(feb) == [("fee", "Pro plan", "25.00"), ("usage", "CALLS", "1.00")]
    assert served(feb.lines[0]) == ("2026-03-01", "2026-04-01")
    # a usage line carries no service period in the JSON; an advance fee line does
    doc = json.loads(ev.run.model_dump_json())
    assert "service_period" not in doc["invoices"][1]["lines"][1]
    assert doc["invoices"][1]["lines"][0]["service_period"] == {"start": "2026-02-01", "end": "2026-03-01"}
    assert doc["invoices"][0]["kind"] == "advance"


def test_the_opening_invoice_is_billed_once_starts_is_reached(tmp_path):
    _, invs = bill(tmp_path, "  plan pro\n  starts 2026-01-01\n", "2026-01-01")
    # on `starts` itself: only the opening invoice (the first period has not ended); a whole month
    assert [(i.number, lines(i)) for i in invs] == [("beta-20260101-A", [("fee", "Pro plan", "25.00")])]
    _, invs = bill(tmp_path, "  plan pro\n  starts 2026-01-02\n", "2026-01-01")
    assert invs == []


def test_a_plan_without_fees_in_advance_has_no_opening_invoice(tmp_path):
    _, invs = bill(tmp_path, "  plan basic\n  starts 2026-01-01\n", "2026-02-01", "2026-01-20")
    assert [i.kind for i in invs] == ["usage"]
    assert lines(invs[0]) == [("fee", "Basic", "31.00"), ("usage", "CALLS", "1.00")]


# ----------------------------------------------------------------- plan changes (part2-decisions 6)


def test_a_plan_change_inside_the_next_period_bills_its_advance_fee_per_part(tmp_path):
    _, invs = bill(tmp_path, "  plan pro\n  plan team from 2026-03-15\n  starts 2026-01-01\n", "2026-04-01",
                   "2026-03-10", "2026-03-20")
    opening, jan, feb, mar = invs
    # the invoice closing February bills March in advance as the pricing states it: Pro for Mar 1-15,
    # $25 x 14/31 = 11.2903.. -> 11.29; Team for Mar 15 - Apr 1, $62 x 17/31 = 34.00
    assert lines(feb) == [("fee", "Pro plan", "11.29"), ("fee", "Team plan", "34.00")]
    assert [(served(ln), ln.plan) for ln in feb.lines] == [(("2026-03-01", "2026-03-15"), "pro"),
                                                           (("2026-03-15", "2026-04-01"), "team")]
    # March closes with April's Team fee in advance; its usage splits at Mar 15: 10 calls at $0.10 (Pro),
    # 10 at $0.05 (Team); the March fee is not billed again
    assert lines(mar) == [("fee", "Team plan", "62.00"), ("usage", "CALLS", "1.00"), ("usage", "CALLS", "0.50")]
    assert [ln.plan for ln in mar.lines] == ["team", "pro", "team"] and mar.plan == "team"


def test_a_plan_change_inside_the_short_first_period_splits_the_opening_invoice(tmp_path):
    _, (opening,) = bill(tmp_path, "  plan pro\n  plan team from 2026-01-20\n  starts 2026-01-10\n", "2026-01-10")
    # Jan 10-20 on Pro, $25 x 10/31 = 8.0645.. -> 8.06; Jan 20 - Feb 1 on Team, $62 x 12/31 = 24.00
    assert lines(opening) == [("fee", "Pro plan", "8.06"), ("fee", "Team plan", "24.00")]
    assert [(served(ln), ln.plan) for ln in opening.lines] == [(("2026-01-10", "2026-01-20"), "pro"),
                                                               (("2026-01-20", "2026-02-01"), "team")]


def test_a_plan_change_on_a_periods_first_day_bills_that_periods_advance_fee_on_the_new_plan(tmp_path):
    _, (_, jan, feb, _) = bill(tmp_path, "  plan pro\n  plan team from 2026-03-01\n  starts 2026-01-01\n",
                               "2026-04-01")
    assert lines(feb) == [("fee", "Team plan", "62.00")] and feb.lines[0].prorated is None


def test_a_change_between_a_fee_in_advance_and_one_in_arrears_bills_each_part_on_its_own_invoice(tmp_path):
    # Pro (advance) until Mar 15, then Basic (arrears): March's Pro part is billed on February's
    # invoice ($25 x 14/31 = 11.29), its Basic part on March's ($31 x 17/31 = 17.00)
    _, (_, _, feb, mar) = bill(tmp_path, "  plan pro\n  plan basic from 2026-03-15\n  starts 2026-01-01\n",
                               "2026-04-01")
    assert lines(feb) == [("fee", "Pro plan", "11.29")]
    assert lines(mar) == [("fee", "Basic", "17.00")] and mar.lines[0].plan == "basic"
    # and the other way: Basic's part of March in arrears ($31 x 14/31 = 14.00), Pro's in advance on
    # February's invoice ($25 x 17/31 = 13.7096.. -> 13.71), then April's Pro fee on March's
    _, invs = bill(tmp_path, "  plan basic\n  plan pro from 2026-03-15\n  starts 2026-01-01\n", "2026-04-01")
    assert [i.kind for i in invs] == ["usage"] * 3  # no opening invoice: the first plan bills in arrears
    _, feb, mar = invs
    assert lines(feb) == [("fee", "Basic", "31.00"), ("fee", "Pro plan", "13.71")]
    assert lines(mar) == [("fee", "Basic", "14.00"), ("fee", "Pro plan", "25.00")]
    assert served(mar.lines[1]) == ("2026-04-01", "2026-05-01")


# ----------------------------------------------------------------- invoice-level steps


def test_a_percentage_discount_covers_the_fees_of_the_periods_it_covers_on_whichever_invoice(tmp_path):
    _, (opening, jan, feb) = bill(
        tmp_path, '  plan pro\n  starts 2026-01-01\n  discount 20% {\n    description "Launch"\n'
                  '    for 2 periods\n  }\n', "2026-03-01", "2026-01-10", "2026-02-10")
    # January's fee on the opening invoice: 20% x 25 = -5.00
    assert lines(opening) == [("fee", "Pro plan", "25.00"), ("discount", "Launch", "-5.00")]
    # closing January: February's fee (period 2) and January's usage, both covered: 20% x 26 = -5.20
    assert lines(jan)[-1] == ("discount", "Launch", "-5.20")
    # closing February: March's fee is period 3, not covered; February's usage is: 20% x 1 = -0.20
    assert lines(feb)[-1] == ("discount", "Launch", "-0.20")
    assert feb.lines[-1].quantity == D("1.00")


def test_an_amount_discount_is_a_budget_per_period_shared_by_the_opening_invoice_and_the_periods(tmp_path):
    ev, (opening, jan, feb) = bill(tmp_path, "  plan pro\n  starts 2026-01-01\n  discount $30 once\n",
                                   "2026-03-01", "2026-01-10", "2026-02-10", )
    # period 1's $30: the opening invoice's January fee takes 25 (all it owes), January's usage the
    # other 1.00 of the closing invoice (February's fee is period 2, not covered); 4.00 is lost
    assert lines(opening)[-1] == ("discount", "Discount", "-25.00") and opening.total == D("0.00")
    assert lines(jan)[-1] == ("discount", "Discount", "-1.00") and jan.total == D("25.00")
    assert lines(feb, "discount") == []
    lost = [(str(u.period.start), str(u.period.end), str(u.unused)) for u in ev.run.unused_discounts]
    assert lost == [("2026-01-01", "2026-02-01", "4.00")]


def test_an_amount_discount_on_fees_only_loses_what_the_opening_invoice_leaves(tmp_path):
    ev, (opening, jan) = bill(tmp_path, "  plan pro\n  starts 2026-01-01\n  discount $40 { applies to fees }\n",
                              "2026-02-01", "2026-01-10")
    # period 1: 25 of its 40 on the opening invoice; the invoice closing it has no fee of period 1,
    # so 15 is lost. Period 2's budget pays February's fee on that invoice: 25 of 40, the rest waits
    # for February's own invoice (not billed yet by Feb 1)
    assert lines(opening)[-1] == ("discount", "Discount", "-25.00")
    assert lines(jan)[-1] == ("discount", "Discount", "-25.00") and jan.total == D("1.00")
    assert [(str(u.period.start), str(u.unused)) for u in ev.run.unused_discounts] == [("2026-01-01", "15.00")]


def test_the_spend_cap_never_takes_from_a_fee_in_advance(tmp_path):
    plans = PLANS.replace('  charge CALLS : $0.10 per call\n}\nplan team', '  charge CALLS : $0.10 per call\n'
                                                                          '  cap $3\n}\nplan team')
    _, (opening, jan) = bill(tmp_path, "  plan pro\n  starts 2026-01-01\n", "2026-02-01", "2026-01-10", n=50,
                             plans=plans)
    # 50 calls = $5.00 of usage, $2.00 above the $3 cap; February's $25 fee is not capped
    assert lines(jan) == [("fee", "Pro plan", "25.00"), ("usage", "CALLS", "5.00"), ("cap", "Spend cap", "-2.00")]
    assert lines(opening) == [("fee", "Pro plan", "25.00")]


def test_the_minimum_compares_a_periods_own_spend_its_fee_billed_in_advance_included(tmp_path):
    plans = PLANS.replace('  charge CALLS : $0.10 per call\n}\nplan team', '  charge CALLS : $0.10 per call\n'
                                                                          '  minimum $30\n}\nplan team')
    _, (opening, jan, feb) = bill(tmp_path, "  plan pro\n  starts 2026-01-01\n", "2026-03-01", "2026-01-10",
                                  plans=plans)
    assert lines(opening) == [("fee", "Pro plan", "25.00")]  # no minimum on the opening invoice
    # January's spend: its fee, billed on the opening invoice (25), and its usage (1.00) = 26:
    # true-up 4.00; February's fee on this invoice is February's spend, not January's
    assert lines(jan) == [("fee", "Pro plan", "25.00"), ("usage", "CALLS", "1.00"), ("minimum", "minimum", "4.00")]
    # February: its fee (25, on January's invoice), no usage: 5.00
    assert lines(feb) == [("fee", "Pro plan", "25.00"), ("minimum", "minimum", "5.00")]
    assert "its fees billed in advance on the invoice before (after discounts) 25.00" in jan.lines[-1].notes[0]


# ----------------------------------------------------------------- credits


def test_a_grant_pays_the_opening_invoice_when_its_window_holds_starts(tmp_path):
    body = ('  plan pro\n  starts 2026-01-10\n  credit $20 {\n    description "Welcome"\n  }\n'
            '  credit $100 {\n    description "Later"\n    granted 2026-01-11\n  }\n')
    _, (opening, jan) = bill(tmp_path, body, "2026-02-01", "2026-01-20")
    # granted on `starts`: it pays the opening invoice (17.74); granted the day after, it does not
    assert [(c.description, str(c.applied)) for c in opening.credits] == [("Welcome", "17.74")]
    assert opening.total == D("0.00")
    # the rest of "Welcome" (2.26) and then "Later" pay the period's invoice (26.00)
    assert [(c.description, str(c.applied)) for c in jan.credits] == [("Welcome", "2.26"), ("Later", "23.74")]


def test_a_grant_expiring_at_starts_does_not_pay_the_opening_invoice(tmp_path):
    body = ('  plan pro\n  starts 2026-01-10\n  credit $20 {\n    granted 2026-01-01\n'
            '    expires 2026-01-10T00:00:00Z\n  }\n')
    _, (opening, _) = bill(tmp_path, body, "2026-02-01")
    assert opening.credits == [] and opening.total == D("17.74")


def test_a_periods_allowance_pays_that_periods_advance_fee_on_the_invoice_before(tmp_path):
    plans = PLANS.replace('  charge CALLS : $0.10 per call\n}\nplan team',
                          '  charge CALLS : $0.10 per call\n  allowance $5 per month {\n'
                          '    description "Fee help"\n    applies to fees\n  }\n}\nplan team')
    ev, (opening, jan, feb) = bill(tmp_path, "  plan pro\n  starts 2026-01-10\n", "2026-03-01", "2026-01-20",
                                   plans=plans)
    # period 1's allowance, $5 x 22/31 = 3.548.. -> 3.55, pays its fee on the opening invoice;
    # February's ($5) pays February's fee on the invoice closing January, not January's usage
    assert [(c.kind, str(c.applied)) for c in opening.credits] == [("allowance", "3.55")]
    assert [(c.kind, str(c.applied)) for c in jan.credits] == [("allowance", "5.00")]
    assert jan.total == D("21.00")  # 25 + 1.00 - 5.00
    assert "allowance of period 2, 2026-02-01 to 2026-03-01 (5.00)" in jan.credits[0].notes[0]
    # each period's allowance is reported once the invoice closing it is billed (March's is not)
    assert [(str(a.period.start), str(a.granted), str(a.used)) for _, a in ev.allowances] == [
        ("2026-01-10", "3.55", "3.55"), ("2026-02-01", "5.00", "5.00")]


# ----------------------------------------------------------------- an early end: unused time


def test_a_contract_ending_mid_period_gets_the_unused_days_back_on_its_last_invoice(tmp_path):
    ev, invs = bill(tmp_path, "  plan pro\n  starts 2026-01-01\n  ends 2026-03-19\n", "2026-06-01", "2026-03-05")
    assert [i.number for i in invs] == ["beta-20260101-A", "beta-20260101", "beta-20260201", "beta-20260301"]
    feb, last = invs[2], invs[3]
    # March's fee is billed in full on February's invoice, before the end is known to matter
    assert lines(feb) == [("fee", "Pro plan", "25.00")]
    # the last period is Mar 1 - 20 (ends is inclusive): 19 of 31 days used, worth 25 x 19/31 =
    # 15.3225.. -> 15.32; 25.00 - 15.32 = 9.68 comes back, after the usage
    assert lines(last) == [("usage", "CALLS", "1.00"), ("unused_time", "Pro plan (unused time)", "-9.68")]
    back = last.lines[-1]
    assert served(back) == ("2026-03-20", "2026-04-01") and back.quantity == D(12) and back.plan == "pro"
    assert last.subtotal == D("-8.68") and last.total == D("-8.68")
    # no fee for a period after the end, and no invoice
    assert json.loads(ev.run.model_dump_json())["invoices"][3]["lines"][1]["kind"] == "unused_time"


def test_what_was_paid_minus_the_unused_time_is_the_arrears_fee_of_the_days_used_to_the_cent(tmp_path):
    plans = PLANS.replace("$25 per month in advance", "$21.45 per month in advance")
    # April has 30 days; ends Apr 7: 7 days used, worth 21.45 x 7/30 = 5.005 exactly -> 5.01 (half up).
    # What comes back is 21.45 - 5.01 = 16.44 (not 21.45 x 23/30 = 16.445 -> 16.45, a cent too many)
    _, invs = bill(tmp_path, "  plan pro\n  starts 2026-03-01\n  ends 2026-04-07\n", "2026-05-01", plans=plans)
    assert lines(invs[-1]) == [("unused_time", "Pro plan (unused time)", "-16.44")]
    arrears = PLANS.replace("$25 per month in advance", "$21.45 per month")
    _, (_, apr) = bill(tmp_path, "  plan pro\n  starts 2026-03-01\n  ends 2026-04-07\n", "2026-05-01",
                       plans=arrears)
    assert lines(apr) == [("fee", "Pro plan", "5.01")]
    assert D("21.45") - D("16.44") == D("5.01")


def test_a_discount_keeps_its_share_of_the_days_used(tmp_path):
    _, invs = bill(tmp_path, "  plan pro\n  starts 2026-01-01\n  ends 2026-03-19\n  discount 20%\n",
                   "2026-04-01")
    feb, last = invs[2], invs[3]
    # March's fee 25.00, 20% off: 20.00 paid. The 19 days used are worth 15.3225.. at the fee's
    # rate; 20.00 x (475/31) / 25.00 = 12.258.. -> 12.26 kept, 7.74 back (never the undiscounted 9.68)
    assert lines(feb) == [("fee", "Pro plan", "25.00"), ("discount", "Discount", "-5.00")]
    assert lines(last) == [("unused_time", "Pro plan (unused time)", "-7.74")]


def test_an_end_on_a_periods_last_day_leaves_nothing_unused(tmp_path):
    _, invs = bill(tmp_path, "  plan pro\n  starts 2026-01-01\n  ends 2026-02-28\n", "2026-06-01")
    assert [i.number for i in invs] == ["beta-20260101-A", "beta-20260101", "beta-20260201"]
    # February's invoice bills no March fee, and there is no unused time
    assert lines(invs[2]) == []


def test_an_end_inside_the_short_first_period(tmp_path):
    _, (opening, last) = bill(tmp_path, "  plan pro\n  starts 2026-01-10\n  ends 2026-01-20\n", "2026-03-01")
    # the opening invoice bills Jan 10 - Feb 1 (17.74); 11 days used are worth 25 x 11/31 = 8.870.. -> 8.87
    assert lines(opening) == [("fee", "Pro plan", "17.74")]
    assert (str(last.period.start), str(last.period.end)) == ("2026-01-10", "2026-01-21")
    assert lines(last) == [("unused_time", "Pro plan (unused time)", "-8.87")]
