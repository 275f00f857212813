"""Derived quantities (`sum prompt_tokens - cached_tokens`, LANGUAGE.md Part 2): evaluated
exactly per event, the same in DuckDB and the reference oracle; a missing or non-numeric
operand is a bad row named by file:line, never a zero (part2-decisions section 1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_helpers import compile_text, event, invoices, run, write_events
from ratecard.billing import evaluate
from ratecard.cli import main
from ratecard.usage.duckdb import aggregate_usage as duckdb_aggregate
from ratecard.usage.reference import aggregate_usage as reference_aggregate

PRICING = """meter INPUT_TOKENS {
  event "llm.completion"
  sum prompt_tokens - cached_tokens + 0.5 - 0.5
  dimensions model
}
meter PEAK_UNCACHED {
  event "llm.completion"
  max prompt_tokens - cached_tokens
}
meter LAST_UNCACHED {
  event "llm.completion"
  latest (prompt_tokens - cached_tokens)
}
plan api {
  charge INPUT_TOKENS : $0.000003 per token
  charge PEAK_UNCACHED : $0.01 per token
  charge LAST_UNCACHED : $0.001 per token
}
contract acme {
  customer "cus_acme"
  plan api
  starts 2026-01-01
}
"""


def _quantities(ev) -> dict:
    (inv,) = invoices(ev, "acme")
    return {(line.charge, tuple(sorted(line.dimensions.items()))): line.quantity for line in inv.lines
            if line.kind == "usage"}


def _events(rows) -> list[dict]:
    return [event(i, "cus_acme", f"2026-01-{2 + i % 20:02d}T10:00:00Z", "llm.completion", **props)
            for i, props in enumerate(rows)]


def test_the_quantity_is_the_expression_per_event(tmp_path):
    plan = compile_text(PRICING)
    files = [write_events(tmp_path / "u.jsonl", _events([
        {"model": "a", "prompt_tokens": 1000, "cached_tokens": 400},
        {"model": "a", "prompt_tokens": 10, "cached_tokens": 0.25},
        {"model": "b", "prompt_tokens": 5, "cached_tokens": 7},  # negative: a correction of a `sum`
        {"model": "b", "prompt_tokens": 50, "cached_tokens": 0},
    ]))]
    for aggregator in (reference_aggregate, duckdb_aggregate):
        q = _quantities(run(plan, files, "2026-02-01", aggregator=aggregator))
        assert q[("INPUT_TOKENS", (("model", "a"),))] == Decimal("609.75")
        assert q[("INPUT_TOKENS", (("model", "b"),))] == Decimal("48")
        assert q[("PEAK_UNCACHED", ())] == Decimal("600")
        assert q[("LAST_UNCACHED", ())] == Decimal("50")  # the latest event: e3


def test_a_missing_or_non_numeric_operand_is_a_bad_row_never_a_zero(tmp_path):
    plan = compile_text(PRICING)
    rows = [{"model": "a", "prompt_tokens": 1000, "cached_tokens": 400},
            {"model": "a", "prompt_tokens": 1000},
            {"model": "a", "prompt_tokens": 1000, "cached_tokens": "many"}]
    files = [write_events(tmp_path / "u.jsonl", _events(rows))]
    for aggregator in (reference_aggregate, duckdb_aggregate):
        ev = evaluate(plan, files, dt.date(2026, 2, 1), aggregator=aggregator)
        assert not ev.ok
        bad = [d for d in ev.diagnostics if d.code == "E500"]
        assert [d.span.line for d in bad] == [2, 3]
        assert "missing property `cached_tokens`" in bad[0].message
        assert "prompt_tokens - cached_tokens" in bad[0].message
        assert "'many'" in bad[1].message and "not a decimal number" in bad[1].message
        assert f"{files[0]}:2" in bad[0].message


def test_a_test_block_states_the_derived_quantity_itself(tmp_path, capsys):
    text = PRICING + 'test "t" {\n  contract acme\n  through 2026-02-01\n' \
        '  usage INPUT_TOKENS model = "a" 1_000_000 on 2026-01-05\n' \
        '  usage PEAK_UNCACHED 2 on 2026-01-05\n  usage LAST_UNCACHED 0 on 2026-01-05\n' \
        '  expect total $3.02\n}\n'
    (tmp_path / "p.pricing").write_text(text, encoding="utf-8")
    assert main(["test", str(tmp_path)]) == 0, capsys.readouterr()


values = st.decimals(min_value=-10**6, max_value=10**6, places=6, allow_nan=False, allow_infinity=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from("ab"), values, values), min_size=1, max_size=12))
def test_duckdb_agrees_with_the_reference(tmp_path_factory, rows):
    plan = compile_text(PRICING)
    path = tmp_path_factory.mktemp("derived") / "u.jsonl"
    files = [write_events(path, _events([{"model": m, "prompt_tokens": p, "cached_tokens": c}
                                         for m, p, c in rows]))]
    terms_windows = dict(through=dt.date(2026, 2, 1))
    ours = evaluate(plan, files, terms_windows["through"], aggregator=duckdb_aggregate)
    oracle = evaluate(plan, files, terms_windows["through"], aggregator=reference_aggregate)
    assert [d.message for d in ours.diagnostics] == [d.message for d in oracle.diagnostics]
    if oracle.ok:
        assert _quantities(ours) == _quantities(oracle)
        for (charge, dims), q in _quantities(oracle).items():
            if charge == "INPUT_TOKENS":
                model = dict(dims)["model"]
                assert Decimal(q) == sum((p - c for m, p, c in rows if m == model), Decimal(0))


def test_explain_shows_the_expression(tmp_path, capsys):
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    usage = write_events(tmp_path / "u.jsonl", _events([{"model": "a", "prompt_tokens": 9, "cached_tokens": 4}]))
    assert main(["explain", str(tmp_path / "p.pricing"), "--usage", usage, "--through", "2026-02-01",
                 "--contract", "acme"]) == 0
    out = capsys.readouterr().out
    assert "quantity: 5 (sum prompt_tokens - cached_tokens + 0.5 - 0.5 over 1 event)" in out
    assert "quantity: 5 (latest prompt_tokens - cached_tokens over 1 event)" in out


def test_messages_write_the_expression_with_the_parentheses_it_needs():
    from ratecard.model import expression_text
    for written in ("a - (b - c)", "a - b - c", "(a + b) * c", "a / (b * 2)", "a + b * c", "a * b / c"):
        text = PRICING.replace("max prompt_tokens - cached_tokens", f"max {written}")
        assert expression_text(compile_text(text).meters["PEAK_UNCACHED"].aggregation.expression) == written


def test_a_property_in_the_quantity_and_the_dimensions_is_an_error():
    from ratecard.compiler import compile_sources
    text = PRICING.replace("  dimensions model\n", "  dimensions model, cached_tokens\n", 1)
    errors = [d for d in compile_sources([("t.pricing", text)]).diagnostics if d.is_error]
    assert [(d.code, d.span.line) for d in errors] == [("E316", 3)]


def test_a_value_past_what_the_engines_hold_exactly_is_a_bad_row_in_every_engine(tmp_path):
    plan = compile_text(PRICING)
    rows = [{"model": "a", "prompt_tokens": 1000, "cached_tokens": 400},
            {"model": "a", "prompt_tokens": 10 ** 19, "cached_tokens": 1}]
    files = [write_events(tmp_path / "u.jsonl", _events(rows))]
    messages = []
    for aggregator in (reference_aggregate, duckdb_aggregate):
        ev = evaluate(plan, files, dt.date(2026, 2, 1), aggregator=aggregator)
        messages.append([(d.code, d.span.line, d.message) for d in ev.diagnostics])
    assert messages[0] == messages[1]
    ((code, line, message),) = messages[0]
    assert (code, line) == ("E500", 2) and "never rounds a quantity" in message
