"""Golden invoices of the Part 2 period constructs: a plan change inside a period (between
plans that charge different meters, with discounts, a cap, a minimum and allowances over its
parts too), and calendar-aligned billing (`on day D`) with its short first period.

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


def test_plan_change_across_meters_with_budgets_shared_by_the_parts(bill, update_golden):
    out = bill("plan-change-budgets", "2026-04-01")
    assert out.numbers() == ["lumen-20260201", "lumen-20260301"]
    feb, mar = (out.invoice(n) for n in out.numbers())
    # February on Pro: $31 + calls 1,500 (500 above the free 1,000 x $0.01 = 5.00) + 3 tickets x $2
    # = 42.00; the 40 GB of egress on Feb 15: Pro does not charge GB -> not in plan, not billed.
    # Launch 10% of 42.00 = 4.20 (fee net 27.90); Loyalty $8 off fees -> 8.00 (fee net 19.90)
    assert [(ln["charge"], ln["amount"]) for ln in feb["lines"]] == [
        ("Pro", "31.00"), ("CALLS", "5.00"), ("TICKETS", "6.00"), ("Launch discount", "-4.20"),
        ("Loyalty", "-8.00")]
    # the allowance $6.20 pays the calls' net 4.50 (1.70 unused); the welcome credit the rest, 25.30
    assert [(c["grant"], c["applied"]) for c in feb["credits"]] == [
        ("plan:pro/allowance/0", "4.50"), ("contract:lumen/credit/0", "25.30")]
    assert figures(feb) == ("29.80", "29.80", "0.00")
    # March, split at Mar 11 (10 and 21 of 31 days): fees Pro 31 x 10/31 = 10.00, Team 62 x 21/31 = 42.00.
    # Pro's part: calls 2,800 -> 1,800 x 0.01 = 18.00, tickets 2 (one at Mar 10 23:59:59) = 4.00; its
    # 25 GB on Mar 5 are not in plan. Team's part: calls 2,000 (at exactly Mar 11 00:00, Team's) + 1,000
    # = 3,000 x 0.005 = 15.00, egress 30 + 20 GB x 0.10 = 5.00; its ticket on Mar 15 is not in plan.
    assert [(ln["charge"], ln.get("plan"), ln["quantity"], ln["amount"]) for ln in mar["lines"]
            if ln["kind"] in ("fee", "usage")] == [
        ("Pro", "pro", "0.3225806452", "10.00"), ("Team", "team", "0.6774193548", "42.00"),
        ("CALLS", "pro", "2800", "18.00"), ("TICKETS", "pro", "2", "4.00"),
        ("CALLS", "team", "3000", "15.00"), ("GB", "team", "50", "5.00")]
    # the discounts are the period's, one line each over both parts (94.00 of lines):
    # Launch 10% = 9.40 (shared exactly 1.00 / 4.20 / 1.80 / 0.40 / 1.50 / 0.50: fee nets 9.00, 37.80);
    # Loyalty's $8 is one budget for the period, spent once: -8.00 over the fee nets 9.00 and 37.80
    # (153.8.. and 646.1.. cents: 1.54 and 6.46, largest remainder), never $8 per part.
    # Pro's cap for its part: 15.50 x 10/31 = 5.00; its usage nets 16.20 + 3.60 = 19.80 -> -14.80.
    # Team's minimum for its part: 93 x 21/31 = 63.00; its nets 31.34 + 13.50 + 4.50 = 49.34 -> 13.66.
    rest = [(ln["kind"], ln["charge"], ln.get("plan"), ln["amount"]) for ln in mar["lines"]
            if ln["kind"] not in ("fee", "usage")]
    assert rest == [("discount", "Launch discount", None, "-9.40"), ("discount", "Loyalty", None, "-8.00"),
                    ("cap", "Spend cap", "pro", "-14.80"), ("minimum", "minimum", "team", "13.66")]
    # 94.00 - 9.40 - 8.00 - 14.80 + 13.66 = 75.46. Allowances, each its plan's for its part and pooled:
    # Pro's 6.20 x 10/31 = 2.00 pays Pro's calls (net 18.00 - 1.80 - 12.11 = 4.09); Team's 9.30 x 21/31
    # = 6.30 (calls and egress) pays the rest of Pro's calls, 2.09, then 4.21 of Team's; the welcome
    # credit's last 4.70
    assert [(c["grant"], c["applied"], c["remaining"]) for c in mar["credits"]] == [
        ("plan:pro/allowance/0", "2.00", "0.00"), ("plan:team/allowance/0", "6.30", "0.00"),
        ("contract:lumen/credit/0", "4.70", "0.00")]
    assert figures(mar) == ("75.46", "13.00", "62.46") and mar["plan"] == "team"
    assert [(u["plan"], u["period"]["start"], u["unused"]) for u in out.doc["unused_allowances"]] == [
        ("pro", "2026-02-01", "1.70")]
    assert "unused_discounts" not in out.doc
    # every event accounted for: 11 billed; egress on Pro (2) and a ticket on Team not in plan;
    # April's calls not yet billable
    assert out.doc["events"] == {"read": 15, "billed": 11, "rejected": 4}
    assert out.doc["rejected"]["not_in_plan"] == 3 and out.doc["rejected"]["not_yet_billable"] == 1
    assert "brings plan team's part up to its $63.00 minimum" in out.text
    finish(out, update_golden)
