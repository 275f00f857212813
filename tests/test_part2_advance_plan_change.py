"""Fees `in advance` together with a plan change: what ties a period's invoices together
(its advance fees are billed on the invoice before) meets what ties its plan parts together
(one discount line per invoice, one budget per period, each plan's allowance, cap and
minimum for its part). docs/part2-decisions.md 5.7, 5.9, 7.6, 7.9, 9.1, 10.4, 14.2.

February 2026 has 28 days: a change on Feb 15 makes parts of 14 and 14 days, so Pro's $25
fee bills 12.50 for its part and Team's $62 bills 31.00, both on the invoice closing
January (Feb 1). Every figure is worked out by hand in the comment above its assertion.
"""

from __future__ import annotations

from decimal import Decimal

from billing_helpers import compile_text, event, run, write_events

D = Decimal

METERS = 'meter CALLS {\n  event "api.call"\n  count\n}\n'
PLAN = ('plan {name} {{\n  billing monthly on day 1\n  fee "{title}" : ${fee} per month in advance\n'
        '  charge CALLS : ${price} per call\n{extra}}}\n')


def project(contract: str, *, pro: str = "", team: str = "") -> str:
    return (METERS + PLAN.format(name="pro", title="Pro plan", fee=25, price="0.10", extra=pro)
            + PLAN.format(name="team", title="Team plan", fee=62, price="0.05", extra=team)
            + 'contract beta {\n  customer "cus_beta"\n  plan pro\n  plan team from 2026-02-15\n'
              f'  starts 2026-01-01\n{contract}}}\n')


def calls(n: int, day: str) -> list[dict]:
    return [event(f"{day}-{i}", "cus_beta", f"{day}T12:00:00Z", "api.call") for i in range(n)]


def bill(tmp_path, text: str, through: str = "2026-03-01"):
    """January: 10 calls on Pro (1.00); February: 10 on Pro's part (1.00), 100 on Team's (5.00)."""
    usage = write_events(tmp_path / "u.jsonl", calls(10, "2026-01-20") + calls(10, "2026-02-10")
                         + calls(100, "2026-02-20"))
    ev = run(compile_text(text), [usage], through)
    return ev, [i for i in ev.run.invoices if i.kind != "credit_purchase"]


def lines(inv):
    return [(ln.kind, ln.charge, ln.plan, str(ln.amount)) for ln in inv.lines]


def test_a_periods_amount_budget_is_shared_by_the_invoice_before_and_both_parts(tmp_path):
    ev, (opening, jan, feb) = bill(tmp_path, project('  discount $50 {\n    for 2 periods\n  }\n'))
    # opening: January's fee 25.00 takes 25 of period 1's 50
    assert lines(opening)[-1] == ("discount", "Discount", None, "-25.00") and opening.total == D("0.00")
    # Feb 1: period 1's last 25 meets January's usage (1.00): uses 1.00, 24.00 lost; period 2's 50
    # meets February's advance fees of both parts (12.50 + 31.00): uses 43.50, 6.50 left. One line.
    assert lines(jan) == [("fee", "Pro plan", "pro", "12.50"), ("fee", "Team plan", "team", "31.00"),
                          ("usage", "CALLS", None, "1.00"), ("discount", "Discount", None, "-44.50")]
    assert jan.subtotal == D("0.00")
    # Mar 1 closes February: period 2's last 6.50 meets both parts' usage (1.00 + 5.00), one line of
    # -6.00 (never 6.50 per part); 0.50 lost. March's Team fee (period 3) is not covered.
    assert lines(feb) == [("fee", "Team plan", "team", "62.00"), ("usage", "CALLS", "pro", "1.00"),
                          ("usage", "CALLS", "team", "5.00"), ("discount", "Discount", None, "-6.00")]
    assert feb.subtotal == D("62.00")
    # what each period's budget could not use, once per period, over the whole period
    assert [(str(u.period.start), str(u.period.end), str(u.unused)) for u in ev.run.unused_discounts] == [
        ("2026-01-01", "2026-02-01", "24.00"), ("2026-02-01", "2026-03-01", "0.50")]


def test_a_percentage_is_one_line_over_the_next_periods_fee_and_both_parts_usage(tmp_path):
    text = project("  discount 15%\n").replace("plan team from 2026-02-15", "plan team from 2026-01-11")
    usage = write_events(tmp_path / "u.jsonl", [event(f"a{i}", "cus_beta", "2026-01-05T12:00:00Z", "api.call")
                                                for i in range(3)]
                         + [event(f"b{i}", "cus_beta", "2026-01-20T12:00:00Z", "api.call") for i in range(9)])
    opening, jan = [i for i in run(compile_text(text), [usage], "2026-02-01").run.invoices]
    # opening: Pro 25 x 10/31 = 8.0645.. -> 8.06, Team 62 x 21/31 = 42.00; 15% of 50.06 = 7.509 -> 7.51
    assert lines(opening) == [("fee", "Pro plan", "pro", "8.06"), ("fee", "Team plan", "team", "42.00"),
                              ("discount", "Discount", None, "-7.51")]
    # Feb 1: February's Team fee 62.00, Pro's part 3 x 0.10 = 0.30, Team's 9 x 0.05 = 0.45:
    # 15% of 62.75 = 9.4125 -> 9.41, rounded once (per part it was 0.045 -> 0.05 and 9.3675 -> 9.37)
    assert lines(jan) == [("fee", "Team plan", "team", "62.00"), ("usage", "CALLS", "pro", "0.30"),
                          ("usage", "CALLS", "team", "0.45"), ("discount", "Discount", None, "-9.41")]


def test_each_parts_allowance_pays_its_periods_lines_on_both_invoices_pooled_old_part_first(tmp_path):
    ev, (opening, jan, feb) = bill(tmp_path, project("", pro="  allowance $40 per month\n",
                                                     team="  allowance $124 per month\n"))
    assert opening.credits_applied == D("25.00")  # period 1's Pro allowance, 40.00, pays January's fee
    # Feb 1: period 1's 15.00 left pays January's usage 1.00 (14.00 unused). Period 2: Pro's part
    # 40 x 14/28 = 20.00 pays Pro's fee 12.50 and 7.50 of Team's; Team's part 124 x 14/28 = 62.00
    # pays Team's fee's last 23.50 (38.50 left for February's usage)
    assert [(c.grant, str(c.applied), str(c.remaining)) for c in jan.credits] == [
        ("plan:pro/allowance/0", "1.00", "14.00"), ("plan:pro/allowance/0", "20.00", "0.00"),
        ("plan:team/allowance/0", "23.50", "38.50")]
    assert jan.total == D("0.00")
    # Mar 1: Team's February part pays both parts' usage (1.00 + 5.00); March's Team allowance (124)
    # pays March's fee, billed here in advance
    assert [(c.grant, str(c.applied), str(c.remaining)) for c in feb.credits] == [
        ("plan:team/allowance/0", "6.00", "32.50"), ("plan:team/allowance/0", "62.00", "62.00")]
    assert "plan team's part of this period, 2026-02-15 to 2026-03-01, 14/28 days (62.00, 38.50 left)" \
        in feb.credits[0].notes[0]
    assert feb.total == D("0.00")
    # reported once each period's own invoice is billed, per part; March's is not yet
    assert [(u.plan, str(u.period.start), str(u.period.end), str(u.granted), str(u.used))
            for u in ev.run.unused_allowances] == [("pro", "2026-01-01", "2026-02-01", "40.00", "26.00"),
                                                   ("team", "2026-02-15", "2026-03-01", "62.00", "29.50")]


def test_each_parts_minimum_counts_its_advance_fee_billed_before_after_one_discount_line(tmp_path):
    text = project("  discount 10%\n", pro="  minimum $56\n", team="  minimum $124\n")
    _, (opening, jan, feb) = bill(tmp_path, text)
    assert opening.total == D("22.50")  # 25 - 2.50
    # Feb 1: 10% of 12.50 + 31.00 + 1.00 = 4.45 (1.25 / 3.10 / 0.10). January's minimum 56 against
    # its own spend: usage 0.90 + its fee billed before 22.50 = 23.40 -> 32.60 (never February's fees)
    assert lines(jan)[-2:] == [("discount", "Discount", None, "-4.45"), ("minimum", "minimum", None, "32.60")]
    # Mar 1: 10% of 62 + 1 + 5 = 6.80, one line (6.20 / 0.10 / 0.50). Pro's part: 56 x 14/28 = 28.00
    # against 0.90 + 11.25 = 12.15 -> 15.85; Team's: 124 x 14/28 = 62.00 against 4.50 + 27.90 = 32.40
    # -> 29.60
    assert lines(feb)[3:] == [("discount", "Discount", None, "-6.80"), ("minimum", "minimum", "pro", "15.85"),
                              ("minimum", "minimum", "team", "29.60")]
    assert feb.subtotal == D("106.65")  # 68 - 6.80 + 15.85 + 29.60


def test_an_end_inside_the_new_part_gives_back_its_unused_days_only(tmp_path):
    _, (_, jan, feb) = bill(tmp_path, project("  ends 2026-02-21\n"))
    assert [ln.charge for ln in jan.lines if ln.kind == "fee"] == ["Pro plan", "Team plan"]  # billed in full
    # the last period, Feb 1 - 22: Pro's part is used whole; Team's billed Feb 15 - Mar 1 (31.00),
    # used 7 of its 14 days: worth 62 x 7/28 = 15.50, so 15.50 comes back, marked Team's, last
    (back,) = [ln for ln in feb.lines if ln.kind == "unused_time"]
    assert (back.charge, back.plan, str(back.amount), str(back.quantity)) == (
        "Team plan (unused time)", "team", "-15.50", "7")
    assert (str(back.service_period.start), str(back.service_period.end)) == ("2026-02-22", "2026-03-01")
    assert feb.lines[-1] is back and feb.subtotal == D("-9.50")  # 1.00 + 5.00 - 15.50
