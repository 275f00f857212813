"""Golden invoices of fees `in advance` (tests/golden/invoices/advance-fees): the opening
invoice, a short first period, an arrears fee beside an advance one, a plan change inside
the period a fee is billed for, discounts, a cap, a minimum, a prepaid credit and an early
end.

Same harness as tests/test_golden_invoices.py: figures worked out by hand first (in the
comments), the run's invariants, then the golden files (`pytest --update-golden`).
"""

from __future__ import annotations

from test_golden_invoices import bill, figures, finish, line, lines  # noqa: F401  (`bill` is a fixture)


def served(ln: dict) -> tuple[str, str]:
    return ln["service_period"]["start"], ln["service_period"]["end"]


def test_fees_in_advance(bill, update_golden):
    out = bill("advance-fees", "2026-04-01")
    assert out.numbers() == ["lumen-20260110-C1", "lumen-20260110-A", "lumen-20260110", "lumen-20260201",
                             "lumen-20260301", "orbit-20260201-A", "orbit-20260201", "orbit-20260301"]
    opening, jan, feb, mar = (out.invoice(n) for n in out.numbers()[1:5])

    # lumen opens on Jan 10 (kind advance, a point): January's short period in advance,
    # $25 x 22/31 = 17.7419.. -> 17.74; the launch discount covers period 1: 20% = 3.548 -> 3.55;
    # the prepaid credit (bought and granted on Jan 10) pays the 14.19
    assert (opening["kind"], opening["period"], opening["issued"]) == (
        "advance", {"start": "2026-01-10", "end": "2026-01-10"}, "2026-01-10")
    assert served(line(opening, "Pro plan")) == ("2026-01-10", "2026-02-01")
    assert line(opening, "Launch discount")["amount"] == "-3.55"
    assert figures(opening) == ("14.19", "14.19", "0.00")

    # closing Jan 10 - Feb 1: Support in arrears $10 x 22/31 = 7.0967.. -> 7.10, February's Pro fee in
    # advance 25.00, 1,500 calls 15.00; all of periods 1 and 2: 20% x 47.10 = -9.42 -> 37.68; the
    # credit's other 25.81 pays part of it
    assert [(ln["charge"], ln["amount"]) for ln in jan["lines"]] == [
        ("Support", "7.10"), ("Pro plan", "25.00"), ("CALLS", "15.00"), ("Launch discount", "-9.42")]
    assert figures(jan) == ("37.68", "25.81", "11.87")

    # closing February: March in advance per plan part (Pro $25 x 14/31 = 11.29, Team $62 x 17/31 =
    # 34.00), period 3 and not discounted; Support 10 and 3,000 calls 30 are: 20% x 40 = -8.00
    assert [(ln["charge"], ln["amount"], ln.get("plan")) for ln in lines(feb) if "service_period" in ln] == [
        ("Pro plan", "11.29", "pro"), ("Team plan", "34.00", "team")]
    assert [served(ln) for ln in lines(feb) if "service_period" in ln] == [("2026-03-01", "2026-03-15"),
                                                                          ("2026-03-15", "2026-04-01")]
    assert line(feb, "Launch discount")["amount"] == "-8.00"
    assert figures(feb) == ("77.29", "0.00", "77.29")

    # closing March (split at Mar 15): Pro's part bills Support $10 x 14/31 = 4.52 and 2,000 calls at
    # $0.01 = 20.00; Team's part 4,000 calls at $0.005 = 20.00, and Team's minimum $100 x 17/31 =
    # 54.84 compares with its fee paid in advance (34.00) and its usage (20.00): true-up 0.84; April's
    # Team fee in advance 62.00
    assert line(mar, "Team plan")["amount"] == "62.00" and served(line(mar, "Team plan")) == ("2026-04-01",
                                                                                            "2026-05-01")
    assert line(mar, "minimum")["amount"] == "0.84"
    assert figures(mar) == ("107.36", "0.00", "107.36")

    o_open, o_feb, o_last = (out.invoice(n) for n in out.numbers()[5:])
    # orbit: `discount $30 once` is period 1's budget: 25 on the opening invoice's February fee ...
    assert figures(o_open) == ("0.00", "0.00", "0.00")
    # ... and the 5 left on February's own lines (Support 10 and 8,000 calls 80, shared 0.56 / 4.44);
    # the cap: 80 - 4.44 = 75.56 above $50 -> -25.56; March's fee (25.00) is neither discounted nor capped
    assert [(ln["charge"], ln["amount"]) for ln in o_feb["lines"]] == [
        ("Support", "10.00"), ("Pro plan", "25.00"), ("CALLS", "80.00"), ("Discount", "-5.00"),
        ("Spend cap", "-25.56")]
    assert figures(o_feb) == ("84.44", "0.00", "84.44")
    # orbit ends Mar 19: Support $10 x 19/31 = 6.13, 1,000 calls 10.00, and 12 of March's 31 days
    # come back: 25 - 25 x 19/31 (15.32) = 9.68
    assert [(ln["kind"], ln["amount"]) for ln in o_last["lines"]] == [
        ("fee", "6.13"), ("usage", "10.00"), ("unused_time", "-9.68")]
    assert served(line(o_last, "Pro plan (unused time)")) == ("2026-03-20", "2026-04-01")
    assert figures(o_last) == ("6.45", "0.00", "6.45")
    assert "unused_discounts" not in out.doc

    assert "in advance for Mar 15 – 31, 2026, plan team" in out.text
    assert "Opening invoice: the first period's fees, billed in advance." not in out.text  # paid by credit
    finish(out, update_golden)
