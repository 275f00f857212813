"""Hypothesis properties of billing: money always balances, runs are repeatable."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ratecard.billing.pricing import price_quantity
from ratecard.model import Tier, TieredPrice, Unit

from billing_helpers import compile_text, run, write_events

money = st.decimals(min_value=0, max_value=500, places=2, allow_nan=False, allow_infinity=False)
price4 = st.decimals(min_value=0, max_value=5, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def tiered(draw):
    bounds = sorted(set(draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=4))))
    prices = [draw(price4) for _ in range(len(bounds) + 1)]
    flats = [draw(money) for _ in range(len(bounds) + 1)]
    return bounds, prices, flats


@given(tiered(), st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False,
                             allow_infinity=False))
def test_graduated_and_volume_agree_within_the_first_tier(spec, quantity):
    bounds, prices, flats = spec
    quantity = min(quantity, Decimal(bounds[0]))

    def make(kind):
        ts = [Tier(up_to=Decimal(b), amount=p, flat=f) for b, p, f in zip(bounds, prices, flats)]
        ts.append(Tier(up_to=None, amount=prices[-1], flat=flats[-1]))
        return TieredPrice(kind=kind, unit=Unit(size=Decimal(1), name="u"), tiers=tuple(ts))

    assert price_quantity(make("graduated"), quantity).amount == price_quantity(make("volume"), quantity).amount


PRICES = [
    "$0.0125 per call",
    "package $3 per 10 calls",
    "graduated per call { up to 10 : $1 + $2  up to 50 : $0.5  above : $0.25 }",
    "volume per call { up to 10 : $1  up to 50 : $0.75 + $5  above : $0.5 }",
]


@st.composite
def scenarios(draw):
    start = dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 60)))
    cycle = draw(st.sampled_from(["monthly", "quarterly"]))
    price = draw(st.sampled_from(PRICES))
    fee = draw(st.one_of(st.none(), money))
    minimum = draw(st.one_of(st.none(), money))
    ends = draw(st.one_of(st.none(), st.integers(40, 300)))
    grants = []
    for i in range(draw(st.integers(0, 3))):
        amount = draw(st.decimals(min_value=1, max_value=800, places=2, allow_nan=False,
                                  allow_infinity=False))
        granted = start + dt.timedelta(days=draw(st.integers(0, 120)))
        expires = draw(st.one_of(st.none(), st.integers(1, 200)))
        body = [f'description "g{i}"', f"granted {granted}"]
        if expires is not None:
            body.append(f"expires {granted + dt.timedelta(days=expires)}")
        if draw(st.booleans()):
            body.append(f"price ${amount / 2:.2f}")
        grants.append(f"credit ${amount} {{ {'  '.join(body)} }}")
    text = f"""
meter CALLS {{ event "call"  count }}
meter BYTES {{ event "put"  sum bytes }}
plan p {{
  billing {cycle}
  payment net 7
  {f'fee "Base" : ${fee} per month' if fee is not None else ''}
  charge CALLS : {price}
  charge BYTES : $0.001 per byte
  {f'minimum ${minimum}' if minimum is not None else ''}
}}
contract c {{
  customer "cust"
  plan p
  starts {start}
  {f'ends {start + dt.timedelta(days=ends)}' if ends is not None else ''}
  {' '.join(grants)}
}}
"""
    n = draw(st.integers(0, 80))
    events = []
    for i in range(n):
        t = dt.datetime.combine(start, dt.time(), tzinfo=dt.timezone.utc) + dt.timedelta(
            minutes=draw(st.integers(0, 400 * 24 * 60)))
        if draw(st.booleans()):
            events.append({"id": f"c{i}", "type": "call", "customer": "cust",
                           "time": t.isoformat().replace("+00:00", "Z"), "properties": {}})
        else:
            events.append({"id": f"p{i}", "type": "put", "customer": "cust",
                           "time": t.isoformat().replace("+00:00", "Z"),
                           "properties": {"bytes": draw(st.integers(0, 100_000))}})
    return text, events


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_money_balances_and_reruns_are_identical(tmp_path_factory, scenario):
    text, events = scenario
    plan = compile_text(text)
    files = [write_events(tmp_path_factory.mktemp("u") / "u.jsonl", events)]
    ev = run(plan, files, "2027-06-01")
    for inv in ev.run.invoices:
        assert inv.subtotal == sum((ln.amount for ln in inv.lines), Decimal(0))
        assert inv.total == inv.subtotal - inv.credits_applied
        assert inv.total >= 0 and inv.credits_applied >= 0
        assert inv.credits_applied == sum((c.applied for c in inv.credits), Decimal(0))
    applied: dict[str, Decimal] = {}
    for inv in ev.run.invoices:
        for c in inv.credits:
            applied[c.grant] = applied.get(c.grant, Decimal(0)) + c.applied
    breakage = {b.grant: b.amount for b in ev.run.breakage}
    for ledger in ev.ledgers:
        gid = ledger.grant.id
        assert ledger.balance >= 0
        assert applied.get(gid, 0) + ledger.balance == ledger.amount
        if gid in breakage:
            assert breakage[gid] == ledger.balance
    again = run(plan, files, "2027-06-01")
    assert again.run.model_dump_json() == ev.run.model_dump_json()


# ----------------------------------------------------------------- every output, corrections included


@st.composite
def with_corrections(draw):
    """A scenario plus negative `put` events (corrections of BYTES): some net out within
    their line, some leave a line below zero (E510)."""
    text, events = draw(scenarios())
    puts = [e for e in events if e["type"] == "put"]
    for i in range(draw(st.integers(0, 4))):
        base = draw(st.sampled_from(puts)) if puts and draw(st.booleans()) else None
        time = base["time"] if base is not None else events[0]["time"] if events else "2026-01-05T00:00:00Z"
        events.append({"id": f"n{i}", "type": "put", "customer": "cust", "time": time,
                       "properties": {"bytes": -draw(st.integers(1, 60_000))}})
    return text, events


def _outputs(plan, ev) -> dict[str, str]:
    """Everything a person or a script reads of a run."""
    from ratecard.report.credit_history import credit_ledger, ledger_view
    from ratecard.report.explain import explain_text
    from ratecard.report.invoice_views import document_view
    from ratecard.report.render import render

    doc = document_view(ev.run, plan=plan, evaluation=ev, summary=True)
    ledger = credit_ledger(ev, plan)
    out = {"json": ev.run.model_dump_json(indent=2), "credits.json": ledger.model_dump_json(indent=2),
           "credits.txt": render("credits.txt.j2", None, **vars(ledger_view(ledger, "en_US"))),
           "explain": explain_text(ev, plan, "c")}
    for name in ("invoice.txt.j2", "invoice.md.j2", "invoice.html.j2"):
        out[name] = render(name, None, **doc.context())
    return out


def _money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(with_corrections())
def test_every_output_balances_and_is_repeatable(tmp_path_factory, scenario):
    """Invoice total = sum of lines - credits (in the JSON and as printed); no credit
    balance, draw or breakage below zero; a line below zero stops the run (E510) and
    nothing is billed; re-running gives byte-identical output, in every format."""
    from ratecard.billing import evaluate
    from ratecard.reference import aggregate_usage

    text, events = scenario
    plan = compile_text(text)
    files = [write_events(tmp_path_factory.mktemp("u") / "u.jsonl", events)]
    ev = evaluate(plan, files, dt.date(2027, 6, 1), aggregator=aggregate_usage)
    event("a line below zero (E510)" if not ev.ok else "billed")
    if not ev.ok:
        assert ev.run is None and {d.code for d in ev.diagnostics} == {"E510"}
        return
    doc = _outputs(plan, ev)
    from ratecard.report.invoice_views import document_view

    views = document_view(ev.run, plan=plan, evaluation=ev).invoices
    for inv, view in zip(ev.run.invoices, views):
        assert all(ln.amount >= 0 and ln.quantity >= 0 for ln in inv.lines)
        assert inv.total == sum((ln.amount for ln in inv.lines), Decimal(0)) - inv.credits_applied
        assert _money(view.total) == sum((_money(lv.amount) for lv in view.lines), Decimal(0)) \
            + sum((_money(c.applied) for c in view.credits), Decimal(0))
        assert all(c.applied >= 0 and c.remaining >= 0 for c in inv.credits)
    for ledger in ev.ledgers:
        assert ledger.balance >= 0 and all(d.amount >= 0 and d.balance >= 0 for d in ledger.draws)
        assert ledger.breakage is None or 0 <= ledger.breakage == ledger.balance
    assert all(b.amount >= 0 for b in ev.run.breakage)
    again = evaluate(plan, files, dt.date(2027, 6, 1), aggregator=aggregate_usage)
    assert _outputs(plan, again) == doc
