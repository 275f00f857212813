"""Golden invoices of the Part 2 period constructs: a plan change inside a period, and
calendar-aligned billing (`on day D`) with its short first period.

Same harness as tests/test_golden_invoices.py: figures worked out by hand first (in the
comments), the run's invariants, then the golden files (`pytest --update-golden`).
"""

from __future__ import annotations

from test_golden_invoices import bill, figures, finish, line, lines  # noqa: F401  (`bill` is a fixture)


def test_plan_change_inside_a_period(bill, update_golden):
    out = bill("plan-change", "2026-04-01")
    assert out.numbers() == ["lumen-20260101", "lumen-20260201", "lumen-20260301"]
    jan, feb, mar = (out.invoice(n) for n in out.numbers())
    # January on Pro: $25 + 800 calls, all inside the 1,000 free = $25.00
    assert figures(jan) == ("25.00", "0.00", "25.00") and jan["plan"] == "pro"
    # February: $25 + (1,200 - 1,000) x $0.01 = $27.00
    assert figures(feb) == ("27.00", "0.00", "27.00")
    # March, split at Mar 15 (periods keep their anchor): Pro fee $25 x 14/31 = 11.2903.. -> 11.29,
    # Team fee $599 x 17/31 = 328.4838.. -> 328.48
    assert [(ln["charge"], ln["amount"], ln["plan"]) for ln in mar["lines"] if ln["kind"] == "fee"] == [
        ("Pro", "11.29", "pro"), ("Team", "328.48", "team")]
    calls = lines(mar, "CALLS")
    # usage split at Mar 15 00:00 UTC: Pro part 1,500 + 100 (Mar 14 23:59:59) = 1,600 -> 600 x $0.01
    # = $6.00; Team part 1,000 (at exactly 00:00, the new plan's) + 2,000 = 3,000, tiers afresh:
    # 2,000 x $0.005 = $10.00. The old part's line comes first.
    assert [(ln["quantity"], ln["amount"], ln["plan"], ln["segment"]) for ln in calls] == [
        ("1600", "6.00", "pro", {"start": "2026-03-01", "end": "2026-03-15"}),
        ("3000", "10.00", "team", {"start": "2026-03-15", "end": "2026-04-01"})]
    # Team's $700 minimum for its part: 700 x 17/31 = 383.87; the part bills 328.48 + 10.00 = 338.48,
    # so the true-up is 45.39 (Pro has no minimum: its part is not topped up)
    minimum = line(mar, "minimum")
    assert (minimum["amount"], minimum["plan"]) == ("45.39", "team")
    # 11.29 + 328.48 + 6.00 + 10.00 + 45.39; the invoice names the plan in effect at its end
    assert figures(mar) == ("401.16", "0.00", "401.16") and mar["plan"] == "team"
    # lines of an unsplit period carry no `plan`
    assert all("plan" not in ln for ln in jan["lines"] + feb["lines"])
    assert "plan team, Mar 15, 2026 to Mar 31, 2026" in out.text
    finish(out, update_golden)


def test_billing_on_day_1_with_a_short_first_period(bill, update_golden):
    out = bill("billing-day", "2026-04-01")
    assert out.numbers() == ["orbit-20260110", "orbit-20260201", "orbit-20260301"]
    first, feb, mar = (out.invoice(n) for n in out.numbers())
    # Jan 10 - Feb 1 is short: 22 days of the full period it is cut from (Jan 1 - Feb 1, 31 days)
    assert first["period"] == {"start": "2026-01-10", "end": "2026-02-01"}
    # fee $25 x 22/31 = 17.7419.. -> 17.74; usage as recorded: 500 x $0.01 = 5.00;
    # minimum $40 x 22/31 = 28.3870.. -> 28.39, true-up 28.39 - 22.74 = 5.65
    assert line(first, "Platform")["amount"] == "17.74"
    assert line(first, "Platform")["prorated"] == "0.7096774194"
    assert line(first, "minimum")["amount"] == "5.65"
    assert figures(first) == ("28.39", "0.00", "28.39")
    # then whole months from the 1st: $25 + 1,000 x $0.01 = 35.00, topped up to $40
    assert feb["period"] == {"start": "2026-02-01", "end": "2026-03-01"}
    assert figures(feb) == ("40.00", "0.00", "40.00")
    # March: $25 + $20 = $45, above the minimum
    assert figures(mar) == ("45.00", "0.00", "45.00")
    assert "prorated: 22 of 31 days" in out.text
    finish(out, update_golden)
