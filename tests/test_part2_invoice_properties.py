"""Hypothesis properties of the invoice-level Part 2 steps (issue 15): discounts, caps and
credits never take a total below zero; an allowance never produces breakage; an invoice's
total is the sum of its lines minus its credits."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_helpers import compile_text, run, write_events

dollars = st.integers(0, 120)
SCOPES = ["", "applies to CALLS", "applies to GB", "applies to fees", "applies to CALLS, fees"]


@st.composite
def projects(draw):
    plan = ['plan pro {', f'  fee "Platform" : ${draw(dollars)} per month',
            '  charge CALLS : $0.37 per call', '  charge GB : $1.13 per gb']
    if draw(st.booleans()):
        plan.append(f"  cap ${draw(dollars)}")
    if draw(st.booleans()):
        plan.append(f"  minimum ${draw(dollars)}")
    for _ in range(draw(st.integers(0, 2))):
        plan.append(f"  allowance ${draw(st.integers(1, 60))} per month {{ {draw(st.sampled_from(SCOPES))} }}")
    plan.append("}")
    contract = ['contract beta {', '  customer "cus_beta"', '  plan pro', '  starts 2026-01-01']
    for _ in range(draw(st.integers(0, 3))):
        size = f"{draw(st.integers(1, 100))}%" if draw(st.booleans()) else f"${draw(st.integers(1, 90))}"
        length = draw(st.sampled_from(["", "once", "for 2 periods"]))
        contract.append(f"  discount {size} {{ {draw(st.sampled_from(SCOPES))} {length} }}")
    for _ in range(draw(st.integers(0, 3))):
        body = [draw(st.sampled_from(SCOPES))]
        if draw(st.booleans()):
            body.append(f"priority {draw(st.integers(0, 3))}")
        if draw(st.booleans()):
            body.append("expires 2026-03-01")
        contract.append(f"  credit ${draw(st.integers(1, 150))} {{ {' '.join(body)} }}")
    contract.append("}")
    meters = ('meter CALLS {\n  event "api.call"\n  count\n}\n'
              'meter GB {\n  event "egress"\n  sum gb\n}\n')
    usage = [(draw(st.integers(0, 2)), draw(st.integers(0, 120)), draw(st.integers(0, 40))) for _ in range(2)]
    return meters + "\n".join(plan) + "\n" + "\n".join(contract) + "\n", usage


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(projects())
def test_totals_never_below_zero_and_always_balance(tmp_path, case):
    text, usage = case
    events = []
    for n, (month, calls, gb) in enumerate(usage):
        day = f"2026-0{month + 1}-1{n}T00:00:00Z"
        events += [{"id": f"c{n}-{i}", "type": "api.call", "customer": "cus_beta", "time": day, "properties": {}}
                   for i in range(calls)]
        events.append({"id": f"g{n}", "type": "egress", "customer": "cus_beta", "time": day,
                       "properties": {"gb": gb}})
    path = write_events(tmp_path / "u.jsonl", events)
    plan = compile_text(text)
    ev = run(plan, [path], "2026-04-01")
    allowances = {a.id for a in plan.plans["pro"].allowances}
    for inv in ev.run.invoices:
        assert inv.total >= 0, (text, inv)
        assert inv.subtotal == sum((ln.amount for ln in inv.lines), Decimal(0))
        assert inv.credits_applied == sum((c.applied for c in inv.credits), Decimal(0))
        assert inv.total == inv.subtotal - inv.credits_applied
        assert all(c.applied > 0 and c.remaining >= 0 for c in inv.credits)
        # before the minimum and credits: discounts and cap never take the charges below zero
        charged = sum((ln.amount for ln in inv.lines if ln.kind != "minimum"), Decimal(0))
        assert charged >= 0
        assert all(ln.amount < 0 for ln in inv.lines if ln.kind in ("discount", "cap"))
    # an allowance is never breakage; what it leaves is reported as unused, within what it granted
    assert not [b for b in ev.run.breakage if b.grant in allowances]
    for u in ev.run.unused_allowances:
        assert 0 < u.unused == u.granted - u.used <= u.granted
    for u in ev.run.unused_discounts:
        assert u.unused > 0
