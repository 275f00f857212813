"""Negative usage values: corrections that net within a line; a line below zero is E510.

The rule (docs/billing.md, "Negative values"): every price form is priced on
what its line nets to, and a line whose quantity ends below zero is an error
naming the contract, the meter, the period (and segment) -- never a negative
amount, never a silent zero.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratecard.billing import evaluate
from ratecard.billing.pricing import NegativeQuantity, price_quantity
from ratecard.cli import main
from ratecard.model import PackagePrice, Tier, TieredPrice, Unit, UnitPrice
from ratecard.usage.reference import aggregate_usage as reference_aggregate

from billing_helpers import D, compile_text, event, run, write_events

PRICES = {
    "unit": "$2 per unit",
    "per_n": "$5 per 1K unit",
    "package": "package $3 per 10 units",
    "graduated": "graduated per unit { up to 10 : $1 + $2  above : $0.5 }",
    "volume": "volume per unit { up to 10 : $1 + $5  above : $0.5 + $1 }",
}


def _project(price: str, aggregation: str = "sum n", extra: str = "") -> str:
    return f"""
meter M {{ event "m"  {aggregation} }}
plan p {{
  billing monthly
  payment net 7
  charge M : {price}
  {extra}
}}
contract acme {{ customer "cust" plan p starts 2026-01-01 }}
"""


def _events(values, day="2026-01-05", type_="m"):
    return [event(i, "cust", f"{day}T{i % 24:02d}:00:00Z", type_, n=v) for i, v in enumerate(values)]


def _evaluate(plan, tmp_path, values, through="2026-02-01", name="u.jsonl"):
    files = [write_events(tmp_path / name, values if isinstance(values[0], dict) else _events(values))]
    return evaluate(plan, files, dt.date.fromisoformat(through), aggregator=reference_aggregate)


# ----------------------------------------------------------------- the one check, in pricing


MODELS = [
    UnitPrice(amount=D(2), unit=Unit(size=D(1), name="u")),
    UnitPrice(amount=D(5), unit=Unit(size=D(1000), name="u")),
    PackagePrice(amount=D(3), size=D(10), unit_name="u"),
    TieredPrice(kind="graduated", unit=Unit(size=D(1), name="u"),
                tiers=(Tier(up_to=D(10), amount=D(1), flat=D(2)), Tier(up_to=None, amount=D("0.5"), flat=D(0)))),
    TieredPrice(kind="volume", unit=Unit(size=D(1), name="u"),
                tiers=(Tier(up_to=D(10), amount=D(1), flat=D(5)), Tier(up_to=None, amount=D("0.5"), flat=D(1)))),
]


@pytest.mark.parametrize("price", MODELS, ids=["unit", "per_n", "package", "graduated", "volume"])
def test_every_price_form_refuses_a_quantity_below_zero(price):
    # before the rule: unit and package prices billed -$14 / -$9, tiers silently $0
    with pytest.raises(NegativeQuantity):
        price_quantity(price, D(-7))
    with pytest.raises(NegativeQuantity):  # a later segment of a period whose total went below zero
        price_quantity(price, D(3), already=D(-5), total=D(-2))
    assert price_quantity(price, D(0)).amount == 0  # zero is a quantity: it costs nothing


# ----------------------------------------------------------------- the rule, billed


@pytest.mark.parametrize("form", sorted(PRICES))
def test_a_line_below_zero_is_an_error_naming_contract_meter_and_period(form, tmp_path):
    plan = compile_text(_project(PRICES[form]))
    ev = _evaluate(plan, tmp_path, [5, -12])
    assert not ev.ok and ev.run is None
    [diag] = [d for d in ev.diagnostics if d.code == "E510"]
    assert "contract `acme`" in diag.message and "meter `M`" in diag.message
    assert "period 2026-01-01 to 2026-02-01" in diag.message and "-7" in diag.message


@pytest.mark.parametrize("aggregation", ["max n", "latest n"])
def test_a_max_or_latest_below_zero_is_an_error(aggregation, tmp_path):
    plan = compile_text(_project("$1 per unit", aggregation))
    ev = _evaluate(plan, tmp_path, [-3, -4])
    assert not ev.ok
    assert [d.code for d in ev.diagnostics] == ["E510"]
    # a negative value below the peak (or before the last value) bills the peak / the last value
    ok = run(plan, [write_events(tmp_path / "ok.jsonl", _events([-3, 4, 2]))], "2026-02-01")
    [line] = ok.run.invoices[0].lines
    assert line.quantity == (4 if aggregation == "max n" else 2)


@pytest.mark.parametrize("form", sorted(PRICES))
def test_corrections_net_within_the_line(form, tmp_path):
    plan = compile_text(_project(PRICES[form]))
    netted = run(plan, [write_events(tmp_path / "a.jsonl", _events([30, -12, 5]))], "2026-02-01")
    single = run(plan, [write_events(tmp_path / "b.jsonl", _events([23]))], "2026-02-01")
    assert netted.run.invoices[0].lines == single.run.invoices[0].lines
    to_zero = run(plan, [write_events(tmp_path / "c.jsonl", _events([4, -4]))], "2026-02-01")
    [line] = to_zero.run.invoices[0].lines
    assert (line.quantity, line.amount) == (0, 0)  # no flat amount for a quantity of zero


SPLIT = """
meter M { event "m"  sum n }
plan p {
  billing monthly
  charge M : $1 per unit
  charge M : $2 per unit from 2026-01-15
}
contract acme { customer "cust" plan p starts 2026-01-01 }
"""


def test_a_segment_below_zero_is_an_error_naming_the_segment(tmp_path):
    """A correction dated after a rate change cannot take back usage billed before it:
    pricing it at the new rate would refund at the wrong price."""
    plan = compile_text(SPLIT)
    events = _events([10], "2026-01-05") + [event(9, "cust", "2026-01-20T00:00:00Z", "m", n=-4)]
    ev = _evaluate(plan, tmp_path, events)
    [diag] = ev.diagnostics
    assert diag.code == "E510" and "(segment 2026-01-15 to 2026-02-01)" in diag.message
    # a segment below zero is reported once: the segments after it are not blamed for it
    first = [event(1, "cust", "2026-01-05T00:00:00Z", "m", n=-5),
             event(2, "cust", "2026-01-20T00:00:00Z", "m", n=3)]
    ev = _evaluate(plan, tmp_path, first, name="first.jsonl")
    [diag] = ev.diagnostics
    assert "(segment 2026-01-01 to 2026-01-15)" in diag.message and "comes to -5" in diag.message
    # the same correction dated in the segment of the usage it corrects nets there
    events[-1] = event(9, "cust", "2026-01-06T00:00:00Z", "m", n=-4)
    ok = run(plan, [write_events(tmp_path / "ok.jsonl", events)], "2026-02-01")
    [line] = ok.run.invoices[0].lines
    assert (line.quantity, line.amount) == (6, D("6.00"))


def test_the_commands_stop_with_exit_1_and_write_nothing(tmp_path, monkeypatch, capsys):
    (tmp_path / "p.pricing").write_text(_project(PRICES["unit"]), encoding="utf-8")
    (tmp_path / "q.pricing").write_text(_project("$3 per unit"), encoding="utf-8")
    write_events(tmp_path / "u.jsonl", _events([5, -12]))
    monkeypatch.chdir(tmp_path)
    common = ["--usage", "u.jsonl", "--through", "2026-02-01"]
    for argv in (["invoice", "p.pricing", *common, "-o", "out", "--format", "text"],
                 ["invoice", "p.pricing", *common],
                 ["explain", "p.pricing", *common, "--contract", "acme"],
                 ["credits", "p.pricing", *common],
                 ["diff", "p.pricing", "q.pricing", *common]):
        capsys.readouterr()
        assert main(argv) == 1, argv
        out, err = capsys.readouterr()
        assert out == "" and "E510" in err, argv
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------- the property


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(form=st.sampled_from(sorted(PRICES)),
       values=st.lists(st.integers(-40, 40), min_size=1, max_size=8))
def test_any_signed_usage_bills_its_net_or_is_refused(tmp_path_factory, form, values):
    """A line's events, whatever their signs, bill exactly what one event of their net
    would; a net below zero is E510 and no invoice at all. Nothing is ever negative."""
    plan = compile_text(_project(PRICES[form]))
    folder = tmp_path_factory.mktemp("neg")
    ev = _evaluate(plan, folder, values)
    net = sum(values)
    if net < 0:
        assert ev.run is None and [d.code for d in ev.diagnostics] == ["E510"]
        return
    assert ev.ok
    single = _evaluate(plan, folder, [net], name="net.jsonl")
    assert ev.run.invoices[0].lines == single.run.invoices[0].lines
    for inv in ev.run.invoices:
        assert inv.total >= 0 and all(ln.amount >= 0 and ln.quantity >= 0 for ln in inv.lines)
        assert all(t.amount >= 0 for ln in inv.lines for t in ln.tiers)
