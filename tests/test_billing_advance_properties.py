"""Hypothesis properties of fees `in advance` (docs/part2-decisions.md 5):

- over a contract's whole life, a fee billed in advance, less the unused time given back
  at an early end, is exactly what the same fee billed in arrears comes to, period by
  period rounding included (so without an early end, on whole periods, fee x periods);
- every period's fee is billed once, on the invoice before it (the opening invoice for
  the first), for the period it pays for.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st

from billing_helpers import compile_text, run, write_events
from ratecard.billing.periods import add_months

PROJECT = ('meter CALLS {{\n  event "api.call"\n  count\n}}\n'
           'plan pro {{\n  billing {cycle}{day}\n  fee "Pro plan" : ${fee} per month{advance}\n'
           '  charge CALLS : $0.10 per call\n}}\n'
           'contract beta {{\n  customer "cus_beta"\n  plan pro\n  starts {starts}\n  ends {ends}\n}}\n')


def bill(tmp_path, advance: bool, **terms):
    text = PROJECT.format(advance=" in advance" if advance else "", **terms)
    usage = write_events(tmp_path / "none.jsonl", [])
    ev = run(compile_text(text), [usage], "2031-01-01")
    return ev.run.invoices


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(starts=st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)),
       day=st.one_of(st.none(), st.integers(1, 31)),
       cycle=st.sampled_from(["monthly", "quarterly"]),
       cents=st.integers(1, 250_000),
       length=st.integers(0, 400),
       boundary=st.booleans())
def test_paid_in_advance_less_unused_time_is_the_fee_in_arrears(tmp_path, starts, day, cycle, cents, length,
                                                                 boundary):
    fee = Decimal(cents) / 100
    ends = starts + dt.timedelta(days=length)
    terms = {"cycle": cycle, "day": f" on day {day}" if day else "", "fee": fee, "starts": starts, "ends": ends}
    ahead = bill(tmp_path, True, **terms)
    usage = [i for i in ahead if i.kind == "usage"]
    if boundary:  # end on the day before a period starts: no unused time at all
        ends = usage[-1].period.start - dt.timedelta(days=1) if len(usage) > 1 else ends
        terms["ends"] = ends
        ahead = bill(tmp_path, True, **terms)
        usage = [i for i in ahead if i.kind == "usage"]
    arrears = bill(tmp_path, False, **terms)

    fees = [ln for i in ahead for ln in i.lines if ln.kind == "fee"]
    unused = [ln for i in ahead for ln in i.lines if ln.kind == "unused_time"]
    owed = sum((ln.amount for i in arrears for ln in i.lines if ln.kind == "fee"), Decimal(0))
    assert sum((ln.amount for ln in fees), Decimal(0)) + sum((ln.amount for ln in unused), Decimal(0)) == owed

    # each period's fee once, for that period, on the invoice before it (the opening one for the first)
    starts_of = [i.period.start for i in usage]
    assert [ln.service_period.start for ln in fees] == starts_of
    assert ahead[0].kind == "advance" and ahead[0].issued == starts and ahead[0].lines == [fees[0]]
    for inv, nxt in zip(usage, usage[1:]):
        assert [ln.service_period.start for ln in inv.lines if ln.kind == "fee"] == [nxt.period.start]
    # only the last invoice can give time back, and only when `ends` cuts its period
    assert all(ln in usage[-1].lines for ln in unused)
    last = usage[-1].period
    cut = last.end != fees[-1].service_period.end  # `ends` inside the last period the fee paid for
    if not cut:
        assert unused == []
    if not cut and day is None:  # whole periods from `starts`: fee x periods
        months = {"monthly": 1, "quarterly": 3}[cycle]
        assert owed == fee * months * len(usage)
        assert last.end == add_months(starts, months * len(usage))
