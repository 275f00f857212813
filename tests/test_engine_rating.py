"""Rating in the engine (DuckDB) against the Python pricer, the oracle.

The property prices generated plans and usage both ways -- whole-period lines
priced by DuckDB (`usage/rating.py`, `billing/engine_rating.py`), and every
line by `pricing.price_quantity` -- and requires the same invoices byte for
byte, the same diagnostics, and the same arithmetic `explain` shows.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ratecard.billing import evaluate
from ratecard.usage import aggregate_usage

from billing_helpers import compile_text, write_events

amounts = st.decimals(min_value=0, max_value=50, places=4, allow_nan=False, allow_infinity=False)
flats = st.one_of(st.just(None), st.decimals(min_value=0, max_value=20, places=2, allow_nan=False,
                                             allow_infinity=False))
sizes = st.sampled_from(["", "2", "3", "10", "1K", "1_000_000", "0.5"])  # 3 does not divide exactly


@st.composite
def price_text(draw) -> str:
    """One price of any form the engine prices, or pooled (which it leaves to Python)."""
    form = draw(st.sampled_from(["unit", "package", "graduated", "volume", "pooled"]))
    size = draw(sizes)
    per = f"per {size} call" if size else "per call"
    if form == "unit":
        return f"${draw(amounts)} {per}"
    if form == "package":
        return f"package ${draw(amounts)} per {draw(st.sampled_from(['1', '3', '10', '2.5']))} calls"
    bounds = sorted(set(draw(st.lists(st.integers(1, 400), min_size=1, max_size=3))))
    tiers = []
    for bound in bounds:
        flat = draw(flats)
        tiers.append(f"up to {bound} : ${draw(amounts)}" + (f" + ${flat}" if flat is not None else ""))
    if draw(st.integers(0, 4)):  # sometimes no `above` tier: a line beyond the last is E503
        flat = draw(flats)
        tiers.append(f"above : ${draw(amounts)}" + (f" + ${flat}" if flat is not None else ""))
    kind = "pooled graduated" if form == "pooled" else draw(st.sampled_from(["graduated", "volume"]))
    return f"{kind} {per} {{ {'  '.join(tiers)} }}"


@st.composite
def scenarios(draw):
    currency = draw(st.sampled_from(["USD", "JPY", "BHD"]))  # 2, 0 and 3 decimals
    rounding = draw(st.sampled_from(["half_even", "half_up"]))
    start = dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 40)))
    cycle = draw(st.sampled_from(["monthly", "quarterly"]))
    charge = draw(price_text())
    gold = draw(price_text())
    percent = draw(st.integers(1, 60))
    dated = draw(st.booleans())
    change = f" from {start + dt.timedelta(days=draw(st.integers(5, 80)))}" if dated else ""
    override = draw(price_text())
    text = f"""
currency {currency}
rounding {rounding}
meter CALLS {{
  event "call"
  sum n
  dimensions model
  rates {{
    model = "gold" : {gold}
    tier = "vip" : {percent}% off
    default : $0.01
  }}
}}
meter HITS {{ event "hit"  count }}
plan p {{
  billing {cycle}
  charge CALLS
  charge HITS : {charge}
}}
contract a {{
  customer "ca"
  plan p
  starts {start}
}}
contract b {{
  customer "cb"
  plan p
  starts {start}
  dimensions tier = "vip"
  override HITS : {override}{change}
}}
"""
    n = draw(st.integers(0, 60))
    events = []
    for i in range(n):
        customer = draw(st.sampled_from(["ca", "cb"]))
        t = dt.datetime.combine(start, dt.time(), tzinfo=dt.timezone.utc) + dt.timedelta(
            minutes=draw(st.integers(0, 200 * 24 * 60)))
        when = t.isoformat().replace("+00:00", "Z")
        if draw(st.booleans()):
            events.append({"id": f"h{i}", "type": "hit", "customer": customer, "time": when, "properties": {}})
        else:
            quantity = draw(st.decimals(min_value=-5, max_value=900, places=draw(st.integers(0, 3)),
                                        allow_nan=False, allow_infinity=False))
            model = draw(st.sampled_from(["gold", "plain", None]))
            whole = quantity == quantity.to_integral_value()
            props = {"n": int(quantity) if whole and draw(st.booleans()) else str(quantity)}
            if model is not None:
                props["model"] = model
            events.append({"id": f"c{i}", "type": "call", "customer": customer, "time": when,
                           "properties": props})
    return text, events


def _explained(ev) -> list[tuple]:
    """What `explain` shows of each priced line's arithmetic."""
    return [(pl.contract, pl.line.charge, str(pl.line.amount), pl.priced.formula, repr(pl.priced.unit_price),
             [(s.lower, s.upper, s.quantity, s.unit_price, s.flat, s.amount) for s in pl.priced.steps],
             pl.priced.packages, pl.exact, pl.priced.unit_label) for pl in ev.priced]


def _diagnostics(ev) -> list[tuple]:
    return [(d.code, d.message) for d in ev.diagnostics]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_the_engine_prices_every_line_as_the_python_pricer_does(tmp_path_factory, scenario):
    text, events = scenario
    plan = compile_text(text)
    files = [write_events(tmp_path_factory.mktemp("u") / "u.jsonl", events)]
    through = dt.date(2026, 9, 1)
    engine = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=True)
    oracle = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=False)
    assert _diagnostics(engine) == _diagnostics(oracle)
    if oracle.run is None:
        assert engine.run is None
        event("refused (E503/E510/...)")
        return
    assert engine.run.model_dump_json(indent=2) == oracle.run.model_dump_json(indent=2)
    assert _explained(engine) == _explained(oracle)
    rated = sum(a.rated is not None for a in engine.usage.aggregates)
    event(f"lines priced by the engine: {'none' if not rated else 'some'}")
    assert all(a.rated is None for a in oracle.usage.aggregates)


def _as_validated(doc) -> None:
    """`doc` (a `Line` or `TierLine` built without validating: `documents.trusted`) is the
    model validating what it was given builds: the same values of the same types, the
    same fields set, and the same JSON."""
    rebuilt = type(doc)(**{name: getattr(doc, name) for name in doc.model_fields_set})
    assert rebuilt.__dict__ == doc.__dict__
    assert [type(v) for v in rebuilt.__dict__.values()] == [type(v) for v in doc.__dict__.values()]
    assert list(rebuilt.__dict__) == list(doc.__dict__)
    assert rebuilt.model_fields_set == doc.model_fields_set
    assert (rebuilt.__pydantic_extra__, rebuilt.__pydantic_private__) == (doc.__pydantic_extra__,
                                                                          doc.__pydantic_private__)
    assert rebuilt.model_dump_json(indent=2) == doc.model_dump_json(indent=2)
    for tier in getattr(doc, "tiers", ()):
        _as_validated(tier)


def test_lines_are_built_without_validators_to_skip():
    """`documents.trusted` builds usage and tier lines without validating: sound while
    neither model validates or serialises anything of its own."""
    from ratecard.billing.documents import Line, TierLine

    for model in (Line, TierLine):
        found = model.__pydantic_decorators__
        assert not (found.validators or found.field_validators or found.root_validators
                    or found.model_validators or found.field_serializers or found.model_serializers)
        assert model.__pydantic_post_init__ is None  # no `model_post_init` to skip either


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios())
def test_a_json_run_writes_engine_priced_lines_as_the_python_pricer_does(tmp_path_factory, scenario):
    """A JSON run keeps no `Priced` (`ratecard invoice --format json`: a sink, no explain):
    the engine's lines are built from its figures directly (`EnginePrices.shown`), and
    every line without validating. The document is the Python pricer's byte for byte,
    and every line is what validating it would have built."""
    import io

    from ratecard.billing.documents import RunWriter

    text, events = scenario
    plan = compile_text(text)
    files = [write_events(tmp_path_factory.mktemp("u") / "u.jsonl", events)]
    through = dt.date(2026, 9, 1)
    oracle = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=False)
    kept = []
    engine = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=True, sink=kept.extend)
    assert _diagnostics(engine) == _diagnostics(oracle)
    if oracle.run is None:
        assert engine.run is None
        return
    writer = RunWriter()
    writer.add(kept)
    out = io.StringIO()
    writer.finish(engine.run, out)
    writer.close()
    assert out.getvalue() == oracle.run.model_dump_json(indent=2) + "\n"
    for line in [ln for inv in kept for ln in inv.lines] + [ln for inv in oracle.run.invoices for ln in inv.lines]:
        if line.kind == "usage":
            _as_validated(line)
    rated = sum(a.rated is not None for a in engine.usage.aggregates)
    event(f"lines priced by the engine: {'none' if not rated else 'some'}")


def _plan_and_events(price: str, quantities: list[str], rounding: str = "half_even", currency: str = "USD"):
    text = f"""
currency {currency}
rounding {rounding}
meter CALLS {{ event "call"  sum n }}
plan p {{
  billing monthly
  charge CALLS : {price}
}}
contract a {{
  customer "ca"
  plan p
  starts 2026-01-01
}}
"""
    events = [{"id": f"e{i}", "type": "call", "customer": "ca", "time": f"2026-0{i + 1}-02T00:00:00Z",
               "properties": {"n": q}} for i, q in enumerate(quantities)]
    return compile_text(text), events


@pytest.mark.parametrize("rounding, expected", [("half_even", ["0.02", "0.04"]), ("half_up", ["0.03", "0.05"])])
def test_the_engine_rounds_ties_in_the_project_mode(tmp_path, rounding, expected):
    """0.025 and 0.045: a tie each; DuckDB's ROUND would give 0.03 and 0.05 in both modes."""
    plan, events = _plan_and_events("$0.005 per call", ["5", "9"], rounding)
    ev = evaluate(plan, [write_events(tmp_path / "u.jsonl", events)], dt.date(2026, 3, 1),
                  aggregator=aggregate_usage, price_in_engine=True)
    assert all(a.rated is not None for a in ev.usage.aggregates)  # the engine priced them
    assert [str(inv.lines[0].amount) for inv in ev.run.invoices] == expected


def test_lines_the_engine_cannot_price_exactly_go_to_the_python_pricer(tmp_path):
    """$1 per 3 calls does not divide exactly, a negative line is E510: neither is the engine's."""
    plan, events = _plan_and_events("$1 per 3 call", ["7"])
    ev = evaluate(plan, [write_events(tmp_path / "u.jsonl", events)], dt.date(2026, 2, 1),
                  aggregator=aggregate_usage, price_in_engine=True)
    assert [a.rated for a in ev.usage.aggregates] == [None]
    assert str(ev.run.invoices[0].lines[0].amount) == "2.33"
    plan, events = _plan_and_events("$1 per call", ["-2"])
    ev = evaluate(plan, [write_events(tmp_path / "v.jsonl", events)], dt.date(2026, 2, 1),
                  aggregator=aggregate_usage, price_in_engine=True)
    assert [d.code for d in ev.diagnostics] == ["E510"]


def test_weighted_lines_stay_with_the_python_pricer_beside_engine_priced_lines():
    """examples/object-storage: a weighted meter (its result rows carry `held_*` columns and
    its quantity is integrated in Python) beside meters the engine prices, in one query. The
    weighted lines are Python's, the others may be the engine's, and the invoices are the
    same byte for byte either way."""
    from pathlib import Path

    from ratecard.compiler import compile_paths

    project = Path(__file__).resolve().parents[1] / "examples" / "object-storage"
    compiled = compile_paths([str(project)])
    assert not [d for d in compiled.diagnostics if d.is_error]
    plan, files, through = compiled.plan, [str(project / "usage.jsonl")], dt.date(2026, 4, 1)
    engine = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=True)
    oracle = evaluate(plan, files, through, aggregator=aggregate_usage, price_in_engine=False)
    assert _diagnostics(engine) == _diagnostics(oracle) == []
    assert engine.run.model_dump_json(indent=2) == oracle.run.model_dump_json(indent=2)
    weighted = {m.name for m in plan.meters.values() if m.aggregation.function == "weighted"}
    held = [a for a in engine.usage.aggregates if a.meter in weighted]
    assert held and all(a.held and a.rated is None for a in held)
    assert any(a.rated is not None for a in engine.usage.aggregates if a.meter not in weighted)


def test_price_in_chooses_the_pricer_and_the_invoices_are_the_same(tmp_path, capsys):
    """`--price-in engine|python` on the command line; without it, `PRICE_IN_ENGINE` (off:
    docs/scale.md measured the engine's pricing as no cheaper end to end)."""
    from ratecard.billing.engine_rating import PRICE_IN_ENGINE
    from ratecard.cli import main

    plan, events = _plan_and_events("graduated per call { up to 3 : $1  above : $0.5 + $2 }", ["5", "2.5"])
    usage = write_events(tmp_path / "u.jsonl", events)
    default = evaluate(plan, [usage], dt.date(2026, 3, 1), aggregator=aggregate_usage)
    assert all((a.rated is not None) == PRICE_IN_ENGINE for a in default.usage.aggregates)
    project = tmp_path / "p.pricing"
    project.write_text("""
currency USD
meter CALLS { event "call"  sum n }
plan p {
  billing monthly
  charge CALLS : graduated per call { up to 3 : $1  above : $0.5 + $2 }
}
contract a {
  customer "ca"
  plan p
  starts 2026-01-01
}
""", encoding="utf-8")
    outputs = []
    for where in ("engine", "python"):
        capsys.readouterr()
        assert main(["invoice", str(project), "--usage", usage, "--through", "2026-03-01", "--format", "json",
                     "--price-in", where]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and '"amount": "6.00"' in outputs[0]
