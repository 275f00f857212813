"""Plan changes billed exactly where they used to be refused (E970):

- a change to a plan that charges other meters: an event is billable when the plan in effect
  at its time charges its meter (the usage stage decides by plan part, not by the first plan);
- an amount discount in a contract that changes plan: its budget is the period's, spent once
  by one line over both parts' lines (docs/part2-decisions.md 7.5-7.7);
- allowances of the plans a contract changes between: each plan's for its part, prorated by
  the part's days, pooled over the period's lines, the old part's first (10.4).

Each figure is worked out by hand in the comment above its assertion. The engines' side of
the first (DuckDB, the printed warehouse SQL, Spark) is in tests/test_usage.py,
tests/test_warehouse.py and tests/test_spark.py; the golden invoice in
tests/test_golden_part2_periods.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from billing_helpers import D, compile_text, event, invoices, run, write_events
from ratecard.billing import evaluate
from ratecard.billing.periods import periods, plan_parts, plan_stretches
from ratecard.billing.scope import terms_and_windows
from ratecard.cli import main
from ratecard.model import Contract, PlanChange
from ratecard.report.credit_history import credit_ledger

d = dt.date.fromisoformat

# January has 31 days: a change on Jan 11 makes parts of 10 and 21 days.
METERS = ('meter CALLS {\n  event "api.call"\n  count\n}\n'
          'meter GB {\n  event "egress"\n  sum gb\n}\n')
PRO = 'plan pro {{\n  fee "Pro" : $31 per month\n  charge CALLS : $0.01 per call\n{extra}}}\n'
SOLO = 'plan solo {{\n  fee "Solo" : $62 per month\n  charge GB : $0.10 per gb\n{extra}}}\n'
PLUS = 'plan plus {{\n  fee "Plus" : $62 per month\n  charge CALLS : $0.005 per call\n{extra}}}\n'


def project(*, pro="", solo="", plus="", contract="", to="solo", on="2026-01-11") -> str:
    return (METERS + PRO.format(extra=pro) + SOLO.format(extra=solo) + PLUS.format(extra=plus)
            + f'contract beta {{\n  customer "cus_beta"\n  plan pro\n  plan {to} from {on}\n'
              f'  starts 2026-01-01\n{contract}}}\n')


def calls(n, when, tag="c"):
    return [event(f"{tag}{when}-{i}", "cus_beta", when, "api.call") for i in range(n)]


def egress(gb, when, tag="g"):
    return [event(f"{tag}{when}", "cus_beta", when, "egress", gb=gb)]


@pytest.fixture
def usage(tmp_path):
    """Jan 5: 300 calls, 50 GB; Jan 11 00:00 (Solo's instant): 10 GB; Jan 20: 200 calls, 40 GB;
    Feb 10: 100 calls, 20 GB."""
    events = (calls(300, "2026-01-05T10:00:00Z") + egress(50, "2026-01-05T10:00:00Z")
              + egress(10, "2026-01-11T00:00:00Z") + calls(200, "2026-01-20T10:00:00Z")
              + egress(40, "2026-01-20T10:00:00Z") + calls(100, "2026-02-10T10:00:00Z", "f")
              + egress(20, "2026-02-10T10:00:00Z", "f"))
    return [write_events(tmp_path / "u.jsonl", events)]


def lines(inv):
    return [(ln.kind, ln.charge, ln.plan, str(ln.amount)) for ln in inv.lines]


# ----------------------------------------------------------------- across meters


@pytest.mark.parametrize("engine", ["reference", "duckdb"])
def test_each_meter_is_billed_while_a_plan_that_charges_it_is_in_effect(usage, engine):
    plan = compile_text(project())
    ev = (run(plan, usage, "2026-03-01") if engine == "reference"
          else evaluate(plan, usage, d("2026-03-01")))
    assert ev.ok, ev.diagnostics
    jan, feb = invoices(ev)
    # Pro's part (Jan 1-11): 31 x 10/31 = 10.00 and its 300 calls x 0.01 = 3.00; its 50 GB are
    # Solo's meter only: not billed. Solo's part: 62 x 21/31 = 42.00 and 10 GB (at exactly the
    # change's instant: Solo's) + 40 GB = 50 x 0.10 = 5.00; its 200 calls are Pro's meter only.
    assert lines(jan) == [("fee", "Pro", "pro", "10.00"), ("fee", "Solo", "solo", "42.00"),
                          ("usage", "CALLS", "pro", "3.00"), ("usage", "GB", "solo", "5.00")]
    assert jan.subtotal == D("60.00")
    # February on Solo: 62 + 20 GB = 2.00; its 100 calls not billed
    assert lines(feb) == [("fee", "Solo", None, "62.00"), ("usage", "GB", None, "2.00")]
    # every event accounted for: 300 + 2 billed in January, 1 in February; the 50 GB on Pro, 200
    # calls on Solo in January and 100 calls in February: not in plan
    assert ev.usage.billed == 303 and ev.usage.rejected["not_in_plan"] == 301
    assert ev.usage.events_read == 604 and ev.usage.reconciles and ev.run.events.balanced


STORE = ('meter STORAGE {\n  event "storage"\n  weighted gb per month\n}\n'
         'plan store {\n  fee "Store" : $10 per month\n  charge STORAGE : $1 per gb\n}\n'
         'plan api {\n  fee "Api" : $20 per month\n  charge CALLS : $0.01 per call\n}\n')


@pytest.mark.parametrize("engine", ["reference", "duckdb"])
def test_a_weighted_meter_holds_only_while_a_plan_that_charges_it_is_in_effect(tmp_path, engine):
    text = METERS + STORE + "".join(
        f'contract {name} {{\n  customer "cus_{name}"\n  plan {a}\n  plan {b} from 2026-02-15\n'
        f'  starts 2026-01-01\n}}\n' for name, a, b in (("beta", "store", "api"), ("gamma", "api", "store")))
    events = [event("s1", "cus_beta", "2026-01-01T00:00:00Z", "storage", gb=100),
              event("s2", "cus_gamma", "2026-01-10T00:00:00Z", "storage", gb=100),
              event("s3", "cus_gamma", "2026-03-10T00:00:00Z", "storage", gb=50)]
    plan, files = compile_text(text), [write_events(tmp_path / "u.jsonl", events)]
    ev = run(plan, files, "2026-04-01") if engine == "reference" else evaluate(plan, files, d("2026-04-01"))
    assert ev.ok, ev.diagnostics
    storage = [(i.contract, str(i.period.start), ln.plan, str(ln.quantity), str(ln.amount))
               for i in ev.run.invoices for ln in i.lines if ln.charge == "STORAGE"]
    # beta: 100 GB all January (100 GB-months, $100), then Store's part of February, Feb 1-15:
    # 100 x 14/28 = 50 GB-months; from Feb 15 on Api, which does not charge STORAGE: no line,
    # though the level still holds. gamma: its Jan 10 report falls in Api's time (not in plan,
    # billed to no one there), but the level is the customer's and holds on (decisions 2.3):
    # Store's part of February, Feb 15 - Mar 1: 100 x 14/28 = 50 GB-months; March: 100 GB for
    # 9 days, then 50 GB from Mar 10 for 22, of 31: 2,000/31 = 64.516129032.. -> 64.516129032
    assert storage == [("beta", "2026-01-01", None, "100.000000000", "100.00"),
                       ("beta", "2026-02-01", "store", "50.000000000", "50.00"),
                       ("gamma", "2026-02-01", "store", "50.000000000", "50.00"),
                       ("gamma", "2026-03-01", None, "64.516129032", "64.52")]
    assert ev.usage.rejected["not_in_plan"] == 1


def test_the_engines_agree_on_a_change_across_meters(usage):
    plan = compile_text(project())
    ours = evaluate(plan, usage, d("2026-03-01"))
    oracle = run(plan, usage, "2026-03-01")
    assert ours.usage.aggregates == oracle.usage.aggregates
    assert (ours.usage.billed, ours.usage.rejected) == (oracle.usage.billed, oracle.usage.rejected)
    assert ours.run.model_dump_json() == oracle.run.model_dump_json()


def test_terms_follow_the_billable_meters_not_the_first_plan():
    plan = compile_text(project())
    terms, _ = terms_and_windows(plan, d("2026-03-01"))
    assert [(t.plan, t.starts.date(), t.ends, t.charged_meters) for t in terms] == [
        ("pro", d("2026-01-01"), dt.datetime(2026, 1, 11, tzinfo=dt.UTC), ("CALLS",)),
        ("solo", d("2026-01-11"), None, ("GB",))]
    # a change between plans that charge the same meters bills the same events: one term
    same, _ = terms_and_windows(compile_text(project(to="plus")), d("2026-03-01"))
    assert [(t.plan, t.ends, t.charged_meters) for t in same] == [("pro", None, ("CALLS",))]


def test_back_to_the_first_plan_bills_its_meters_again(tmp_path):
    text = project(contract="  plan pro from 2026-02-01\n")
    plan = compile_text(text)
    assert [(a, b, name) for a, b, name in plan_stretches(plan.contracts["beta"])] == [
        (d("2026-01-01"), d("2026-01-11"), "pro"), (d("2026-01-11"), d("2026-02-01"), "solo"),
        (d("2026-02-01"), None, "pro")]
    events = calls(5, "2026-01-20T00:00:00Z") + calls(7, "2026-02-03T00:00:00Z", "f")
    ev = run(plan, [write_events(tmp_path / "u.jsonl", events)], "2026-03-01")
    _, feb = invoices(ev)
    # February is Pro's again: 31 + 7 x 0.01; January's 5 calls fell in Solo's part
    assert lines(feb) == [("fee", "Pro", None, "31.00"), ("usage", "CALLS", None, "0.07")]
    assert ev.usage.rejected["not_in_plan"] == 5


# ----------------------------------------------------------------- amount discounts


def test_an_amount_discount_is_the_periods_budget_spent_once_over_both_parts(usage):
    ev = run(compile_text(project(contract="  discount $5\n")), usage, "2026-03-01")
    jan, feb = invoices(ev)
    # one line for the period: 5.00 of the budget, shared by the nets 10 / 42 / 3 / 5 (of 60):
    # 83.3.. / 350 / 25 / 41.6.. cents -> 83 + 350 + 25 + 41 = 499, the last cent to GB (.67)
    assert [ln for ln in lines(jan) if ln[0] == "discount"] == [("discount", "Discount", None, "-5.00")]
    assert jan.subtotal == D("55.00")
    notes = next(ln.notes for ln in jan.lines if ln.kind == "discount")
    assert [n.split(" (")[0].strip() for n in notes if "(net " in n] == [
        "0.83 of fee Pro", "3.50 of fee Solo", "0.25 of usage CALLS", "0.42 of usage GB"]
    assert feb.subtotal == D("59.00")  # 62 + 2 - 5
    assert "unused_discounts" not in ev.run.model_dump(exclude_defaults=True)


def test_what_the_budget_cannot_use_is_lost_once_per_period(usage):
    ev = run(compile_text(project(contract='  discount $100 {\n    description "Welcome"\n    once\n  }\n')),
             usage, "2026-03-01")
    jan, feb = invoices(ev)
    # every line of January, 60.00, comes off in one line; 40.00 of the period's 100 is lost,
    # reported once (per part it would have been two lines and 90 + 58 lost)
    assert [ln for ln in lines(jan) if ln[0] == "discount"] == [("discount", "Welcome", None, "-60.00")]
    assert jan.total == D("0.00")
    assert [(str(u.period.start), str(u.period.end), str(u.unused)) for u in ev.run.unused_discounts] == [
        ("2026-01-01", "2026-02-01", "40.00")]
    assert "discount" not in [ln.kind for ln in feb.lines]  # `once`


def test_a_percentage_is_one_line_for_the_period_rounded_once(tmp_path):
    # 3 calls on Pro (0.03) and 6 on Plus (0.03): 15% per part would be 15% of 10.03 = 1.5045 -> 1.50
    # and of 42.03 = 6.3045 -> 6.30, two lines, 7.80; it is one line of the invoice's 52.06:
    # 7.809 -> 7.81, rounded once
    text = project(to="plus", contract="  discount 15%\n")
    events = calls(3, "2026-01-05T00:00:00Z") + calls(6, "2026-01-20T00:00:00Z", "p")
    ev = run(compile_text(text), [write_events(tmp_path / "u.jsonl", events)], "2026-02-01")
    (jan,) = invoices(ev)
    assert lines(jan) == [("fee", "Pro", "pro", "10.00"), ("fee", "Plus", "plus", "42.00"),
                          ("usage", "CALLS", "pro", "0.03"), ("usage", "CALLS", "plus", "0.03"),
                          ("discount", "Discount", None, "-7.81")]


def test_the_cap_and_minimum_are_each_parts_after_the_periods_discounts(usage):
    text = project(pro="  cap $6.20\n", solo="  minimum $93\n",
                   contract='  discount $6 {\n    description "Fees off"\n    applies to fees\n  }\n')
    (jan, _) = invoices(run(compile_text(text), usage, "2026-03-01"))
    # $6 off the fees 10 / 42: 1.15.. / 4.84.. -> 1.15 and 4.85 (largest remainder): fee nets 8.85,
    # 37.15. Pro's cap for its part: 6.20 x 10/31 = 2.00 < calls 3.00 -> -1.00 (Pro's). Solo's
    # minimum for its part: 93 x 21/31 = 63.00 against its nets 37.15 + 5.00 = 42.15 -> 20.85.
    assert [ln for ln in lines(jan) if ln[0] not in ("fee", "usage")] == [
        ("discount", "Fees off", None, "-6.00"), ("cap", "Spend cap", "pro", "-1.00"),
        ("minimum", "minimum", "solo", "20.85")]
    assert jan.subtotal == D("73.85")  # 60 - 6 - 1 + 20.85
    (cap,) = [ln for ln in jan.lines if ln.kind == "cap"]
    assert (cap.segment.start, cap.segment.end) == (d("2026-01-01"), d("2026-01-11"))


# ----------------------------------------------------------------- allowances


def test_each_plans_allowance_is_granted_for_its_part_prorated_by_its_days(usage):
    text = project(pro='  allowance $6.20 per month {\n    description "Calls"\n    applies to CALLS\n  }\n',
                   solo='  allowance $9.30 per month {\n    description "Egress"\n    applies to GB\n  }\n')
    ev = run(compile_text(text), usage, "2026-03-01")
    jan, feb = invoices(ev)
    # Pro's 6.20 x 10/31 = 2.00 pays 2.00 of the calls (3.00); Solo's 9.30 x 21/31 = 6.30 pays the
    # egress 5.00, 1.30 unused. February on Solo: 9.30, egress 2.00: 7.30 unused
    assert [(c.grant, str(c.applied), str(c.remaining)) for c in jan.credits] == [
        ("plan:pro/allowance/0", "2.00", "0.00"), ("plan:solo/allowance/0", "5.00", "1.30")]
    assert [(c.grant, str(c.applied)) for c in feb.credits] == [("plan:solo/allowance/0", "2.00")]
    assert [(u.plan, str(u.period.start), str(u.period.end), str(u.granted), str(u.unused))
            for u in ev.run.unused_allowances] == [
        ("solo", "2026-01-11", "2026-02-01", "6.30", "1.30"), ("solo", "2026-02-01", "2026-03-01", "9.30", "7.30")]
    ledger = credit_ledger(ev, compile_text(text), "beta")
    assert [(a.plan, str(a.period.start), str(a.granted), str(a.used)) for a in ledger.allowances] == [
        ("pro", "2026-01-01", "2.00", "2.00"), ("solo", "2026-01-11", "6.30", "5.00"),
        ("solo", "2026-02-01", "9.30", "2.00")]


def test_a_period_s_allowances_pool_the_old_parts_first(tmp_path):
    text = project(to="plus", pro="  allowance $6.20 per month { applies to CALLS }\n",
                   plus="  allowance $3.10 per month { applies to CALLS }\n")
    events = calls(300, "2026-01-05T00:00:00Z") + calls(1000, "2026-01-20T00:00:00Z", "p")
    ev = run(compile_text(text), [write_events(tmp_path / "u.jsonl", events)], "2026-02-01")
    (jan,) = invoices(ev)
    # grants 2.00 (Pro, 10/31) and 2.10 (Plus, 21/31); Pro's pays Pro's calls 3.00 up to 2.00,
    # Plus's pays any line of the period in its scope: Pro's last 1.00, then 1.10 of Plus's 5.00
    assert [(c.grant, str(c.applied)) for c in jan.credits] == [
        ("plan:pro/allowance/0", "2.00"), ("plan:plus/allowance/0", "2.10")]
    assert [n.strip() for n in jan.credits[1].notes[1:]] == ["paid 1.00 of usage CALLS", "paid 1.10 of usage CALLS"]
    assert jan.total == D("55.90")  # 10 + 42 + 3 + 5 - 4.10


def test_a_plan_without_an_allowance_grants_none_for_its_part(usage):
    ev = run(compile_text(project(pro="  allowance $31 per month\n")), usage, "2026-03-01")
    jan, feb = invoices(ev)
    # only Pro's part: 31 x 10/31 = 10.00, no scope: pays the first lines, Pro's fee 10.00
    assert [(c.grant, str(c.applied)) for c in jan.credits] == [("plan:pro/allowance/0", "10.00")]
    assert feb.credits == []


# ----------------------------------------------------------------- a change to the plan in effect


def to_the_same_plan(contract: Contract, day: dt.date) -> Contract:
    """`contract` with a change on `day` to the plan it is on: the compiler refuses to write it
    (E210), but a model built otherwise may hold it, and it must change nothing."""
    change = PlanChange(plan=contract.plan, effective=day, minimum=contract.minimum, cap=contract.cap)
    return contract.model_copy(update={"plan_changes": (change,)})


def test_a_change_to_the_plan_in_effect_cuts_nothing():
    plan = compile_text(project(to="plus"))
    c = to_the_same_plan(plan.contracts["beta"], d("2026-01-11"))
    jan, _ = periods(c, d("2026-03-01"))
    assert plan_parts(c, jan) == (jan,)
    assert plan_stretches(c) == [(d("2026-01-01"), None, "pro")]


# ----------------------------------------------------------------- test blocks


def test_a_test_blocks_usage_is_checked_against_the_plan_in_effect_on_its_day(tmp_path, capsys):
    text = project() + (
        'test "across" {\n  contract beta\n  usage GB 30 on 2026-01-20\n  usage CALLS 100 on 2026-01-05\n'
        '  through 2026-02-01\n  expect line GB $3.00\n  expect total $56.00\n}\n'
        'test "early egress" {\n  contract beta\n  usage GB 30 on 2026-01-05\n  through 2026-02-01\n'
        '  expect total $52.00\n}\n')
    path = tmp_path / "p.pricing"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert main(["test", str(path)]) == 1
    out, err = capsys.readouterr()
    # 10 + 42 + 1.00 + 3.00 = 56.00; egress on Jan 5 is Pro's time, which does not charge GB
    assert "1 passed; 0 failed; 1 error" in out, out
    assert "error[E801]: plan `pro` of contract `beta` does not charge meter `GB` on 2026-01-05" in err, err
