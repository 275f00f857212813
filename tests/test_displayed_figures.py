"""Figures a customer reads agree with what was billed (docs/invoices.md, "Figures").

Every quantity shown parses back to exactly the quantity billed (a prorated fee
as its fraction, 7/30), every unit price to the exact price, and the figures
of each line multiply out to its amount; tier rows are money that adds up to
the line's amount, each within a minor unit of its exact share.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratecard.money import round_money
from ratecard.report.explain import explain_text
from ratecard.report.invoice_views import document_view
from ratecard.report.render import render

from billing_helpers import compile_text, run, write_events

PRICES = [
    "$0.0125 per call",
    "$0.0173 per 1K call",
    "package $3 per 10 calls",
    "graduated per 1K call { up to 7 : $1.7771 + $2  up to 50 : $0.5123  above : $0.2579 }",
    "volume per call { up to 10 : $1.0001  up to 50 : $0.7513 + $5  above : $0.5 }",
]


@st.composite
def projects(draw):
    price = draw(st.sampled_from(PRICES))
    fee = draw(st.sampled_from(["21.45", "500", "0.01", "99.99"]))
    cadence = draw(st.sampled_from(["month", "quarter", "year"]))
    ends = draw(st.one_of(st.none(), st.integers(10, 120)))
    off = draw(st.sampled_from(["", "override CALLS : 15% off", "override CALLS : 33% off"]))
    text = f"""
meter CALLS {{ event "call"  sum n }}
plan p {{
  billing monthly
  fee "Base" : ${fee} per {cadence}
  charge CALLS : {price}
}}
contract c {{
  customer "cust"  plan p  starts 2026-01-01
  {f'ends {dt.date(2026, 1, 1) + dt.timedelta(days=ends)}' if ends is not None else ''}
  {off}
}}
"""
    values = draw(st.lists(st.decimals(min_value=0, max_value=60_000, places=9, allow_nan=False,
                                       allow_infinity=False), min_size=1, max_size=6))
    events = [{"id": f"e{i}", "type": "call", "customer": "cust",
               "time": f"2026-0{1 + i % 3}-{1 + i:02d}T10:00:00Z", "properties": {"n": f"{v:f}"}}
              for i, v in enumerate(values)]
    return text, events


def _number(text: str) -> Fraction:
    """A displayed quantity or amount (en_US: `1,234.5`, `$0.0125`, `7/30`, `-$3.00`), exactly."""
    text = text.replace(",", "").replace("$", "")
    if text == "free":
        return Fraction(0)
    if "/" in text:
        top, bottom = text.split("/")
        return Fraction(int(top), int(bottom))
    return Fraction(Decimal(text))


def _size(unit: str) -> Fraction:
    """What a displayed unit is a multiple of: `1K calls` -> 1000, `10 calls` -> 10, `call` -> 1."""
    m = re.match(r"^(\d+)([KM]?) ", unit)
    if not m:
        return Fraction(1)
    return Fraction(int(m.group(1)) * {"": 1, "K": 1000, "M": 1_000_000}[m.group(2)])


def _rounded(value: Fraction, currency: str = "USD") -> Fraction:
    exact = Decimal(value.numerator) / Decimal(value.denominator)  # 28 digits: enough for cents here
    return Fraction(round_money(exact, currency, "half_up"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(projects())
def test_every_displayed_figure_agrees_with_the_amount_billed(tmp_path_factory, project):
    text, events = project
    plan = compile_text(text)
    ev = run(plan, [write_events(tmp_path_factory.mktemp("u") / "u.jsonl", events)], "2026-06-01")
    doc = document_view(ev.run, plan=plan, evaluation=ev)
    rendered = render("invoice.txt.j2", None, **doc.context())
    quantum = Fraction(1, 100)
    for inv, view in zip(ev.run.invoices, doc.invoices):
        for ln, lv in zip(inv.lines, view.lines):
            amount = _number(lv.amount)
            assert amount == Fraction(ln.amount)
            if ln.kind == "minimum":
                continue
            assert lv.quantity in rendered
            quantity = _number(lv.quantity)
            assert quantity == Fraction(ln.exact_quantity), "the quantity shown is the quantity billed"
            if ln.unit_price is None:  # tiered (a zero quantity has no tier rows, and costs nothing)
                shares = [_number(t.amount) for t in lv.tiers]
                assert sum(shares) == amount, "tier rows add up to the line"
                for t, tv, share in zip(ln.tiers, lv.tiers, shares):
                    assert _number(tv.quantity) == Fraction(t.quantity)
                    exact = _number(tv.quantity) * _number(tv.unit_price) / _size(lv.tiers[0].unit or ln.unit) \
                        + (_number(tv.flat.split()[1]) if tv.flat else 0)
                    assert exact == Fraction(t.amount)
                    assert abs(share - exact) < quantum, "each tier row is within a cent of its share"
                continue
            price = _number(lv.unit_price)
            assert price == Fraction(ln.unit_price), "the unit price shown is the price billed"
            package = [n for n in lv.notes if n.startswith("billed in whole packages:")]
            if package:
                count = _number(package[0].split(":")[1].split("×")[0].strip())
                size = _size(package[0].split("×")[1].strip())
                assert count == Fraction(Decimal(quantity.numerator / quantity.denominator)
                                         .to_integral_value(ROUND_CEILING)) or count * size >= quantity
                assert count * price == amount
            else:
                assert _rounded(quantity * price / _size(lv.unit)) == amount, (lv.quantity, lv.unit_price)
    # explain shows the same exact figures: no line's quantity is cut short there either
    explained = explain_text(ev, plan, "c")
    for inv in ev.run.invoices:
        for ln in inv.lines:
            if ln.kind == "fee" and ln.share is not None and ln.share.denominator % 3 == 0:
                assert f"x {ln.share.numerator}/{ln.share.denominator}" in explained


def test_a_tier_share_is_money_and_a_quantity_every_digit():
    """Before: `$218.626054838772` on a tier row, and 41.499999987 shown as 41.5."""
    plan = compile_text("""
meter GB { event "put"  sum gb }
plan p { billing monthly  charge GB : graduated per GB { up to 100 : $0.1  above : $0.1770001 } }
contract c { customer "cust"  plan p  starts 2026-01-01 }
""")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        usage = write_events(Path(tmp) / "u.jsonl", [
            {"id": "1", "type": "put", "customer": "cust", "time": "2026-01-02T00:00:00Z",
             "properties": {"gb": "1335.2315"}},
            {"id": "2", "type": "put", "customer": "cust", "time": "2026-01-03T00:00:00Z",
             "properties": {"gb": "-0.000000013"}}])
        ev = run(plan, [usage], "2026-02-01")
    doc = document_view(ev.run, plan=plan, evaluation=ev)
    text = render("invoice.txt.j2", None, **doc.context())
    [line] = doc.invoices[0].lines
    assert line.quantity == "1,335.231499987"
    # the tier's exact share is 1,235.231499987 x 0.1770001 = 218.6360990208489987
    assert [t.amount for t in line.tiers] == ["$10.00", "$218.64"] and line.amount == "$228.64"
    assert "218.636" not in text and "1,335.231499987" in text


# ----------------------------------------------------------------- sentences that read

STUTTER = re.compile(r"\b([A-Za-z]+)\W{1,3}\1\b")  # `credit: credit:`, `CALLS (CALLS)`, `minimum: minimum`


def test_explain_names_each_line_once(tmp_path):
    """Before: `credit: credit: Q1 prepaid commitment`, `minimum: minimum: ...`, `CALLS (CALLS)`."""
    plan = compile_text("""
meter CALLS { event "call"  count }
meter GB { title "Storage"  event "put"  sum gb }
plan p {
  billing monthly
  fee "Base" : $10 per month
  charge CALLS : $1 per call
  charge GB : $0.5 per gb
  minimum $100
}
contract c {
  customer "cust"  plan p  starts 2026-01-01
  credit $50 { description "Q1 prepaid commitment"  expires 2026-03-31  price $40 }
}
""")
    usage = write_events(tmp_path / "u.jsonl", [
        {"id": "1", "type": "call", "customer": "cust", "time": "2026-01-02T00:00:00Z", "properties": {}},
        {"id": "2", "type": "put", "customer": "cust", "time": "2026-01-02T00:00:00Z",
         "properties": {"gb": "3"}}])
    text = explain_text(run(plan, [usage], "2026-02-01"), plan, "c")
    assert STUTTER.findall(text) == [], text
    assert "  credit purchase: Q1 prepaid commitment: 50.00 of credit, expires at the end of 2026-03-31" in text
    assert "  minimum true-up: minimum 100.00 - 12.50 of fees and usage = 87.50" in text
    assert "  CALLS, no dimensions" in text and "  GB (Storage), no dimensions" in text
