"""`--contract NAME` aggregates that contract's usage alone (issue 17).

The embedded DuckDB engine, told one contract (`contract=`), classifies every
event against every contract's terms and windows but aggregates that
contract's rows only (`query.build_query`); billing works out that contract's
segments only (`scope.scope(segments_of=)`). What a user sees must not move:
the invoices, explain text and every count are those of a full run filtered
to the contract. These tests hold the narrowed runs to the full ones on
generated usage: duplicates across a customer's two contracts, events outside
any contract, events not yet billable, a plan change, a rate change inside a
period (segments) and a weighted meter.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from contextlib import redirect_stderr, redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_helpers import compile_text, write_events
from ratecard.billing import evaluate
from ratecard.billing.scope import scope
from ratecard.cli import main
from ratecard.report.explain import explain_text
from ratecard.usage import duckdb as engine
from ratecard.usage.reference import aggregate_usage as reference_aggregate

PRICING = """
currency USD

meter TOKENS {
  event "llm.completion"
  sum tokens
  dimensions model
  rates per 1K tokens { default : $1.00 }
}
meter CALLS { event "api.request"  count  dimensions region  rates { default : $0.01 } }
meter USERS { event "api.request"  unique user  rates { default : $1 } }
meter PEAK { event "storage.snapshot"  max gigabytes  rates { default : $0.10 } }
meter STORAGE { event "storage.reported"  weighted gigabytes per month  rates { default : $0.50 } }

plan all {
  billing monthly
  charge TOKENS
  charge TOKENS : $3.00 per 1K tokens from 2026-01-20
  charge CALLS
  charge USERS
  charge PEAK
  charge STORAGE
}
plan calls_only { billing monthly  charge CALLS }

contract acme { customer "c_acme"  plan all  starts 2026-01-01  ends 2026-01-31 }
contract acme2 {
  customer "c_acme"
  plan calls_only
  plan all from 2026-02-10
  starts 2026-02-01
}
contract beta { customer "c_beta"  plan calls_only  starts 2026-01-15 }
contract gamma { customer "c_gamma"  plan all  starts 2026-01-10 }
"""
CONTRACTS = ("acme", "acme2", "beta", "gamma")
THROUGH = dt.date(2026, 3, 1)
FIELDS = {"llm.completion": "tokens", "storage.snapshot": "gigabytes", "storage.reported": "gigabytes"}


@pytest.fixture(scope="module")
def plan():
    return compile_text(PRICING)


def _event(i: int, customer: str, when: dt.datetime, type_: str, rng: random.Random) -> dict:
    props = {"model": rng.choice(["a", "b"]), "region": rng.choice(["eu", "us"]), "user": f"u{rng.randint(1, 4)}"}
    if type_ in FIELDS:
        props[FIELDS[type_]] = str(rng.randint(0, 5000))
    return {"id": f"e{i}", "type": type_, "customer": customer,
            "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "properties": props}


def _events(seed: int, n: int) -> list[dict]:
    """Events around every edge: ids re-sent across a customer's two contracts (duplicates),
    customers with no contract, times before any contract and after `THROUGH`."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        customer = rng.choice(["c_acme", "c_acme", "c_beta", "c_gamma", "c_nobody"])
        when = dt.datetime(2025, 12, 20) + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 80))
        type_ = rng.choice(["llm.completion", "api.request", "storage.snapshot", "storage.reported", "other"])
        out.append(_event(rng.randint(0, n * 2 // 3), customer, when, type_, rng))
    return out


def _windows_of(plan, contract: str) -> set[str]:
    _, windows, _, _ = scope(plan, THROUGH)
    return {w.key for w in windows if w.contract == contract}


def _counts(report):
    return report.events_read, report.billed, report.rejected, report.bad_rows


# ----------------------------------------------------------------- the usage stage


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**6), st.integers(0, 120), st.sampled_from(CONTRACTS))
def test_one_contracts_aggregates_are_the_full_runs_and_every_event_is_counted(plan, tmp_path_factory,
                                                                               seed, n, contract):
    files = [write_events(tmp_path_factory.mktemp("u") / "u.jsonl", _events(seed, n))]
    terms, windows, _, _ = scope(plan, THROUGH)
    full = engine.aggregate_usage(plan, terms, windows, files)
    one = engine.aggregate_usage(plan, terms, windows, files, contract=contract)
    oracle = reference_aggregate(plan, terms, windows, files)
    keys = _windows_of(plan, contract)
    assert one.diagnostics == full.diagnostics == []
    assert one.aggregates == [a for a in full.aggregates if a.window in keys]
    assert one.aggregates == [a for a in oracle.aggregates if a.window in keys]
    assert _counts(one) == _counts(full) == _counts(oracle)
    assert one.reconciles


def test_the_narrowed_scope_keeps_every_term_and_period_and_the_contracts_segments(plan):
    terms, windows, periods, splits = scope(plan, THROUGH)
    for contract in CONTRACTS:
        t1, w1, p1, s1 = scope(plan, THROUGH, segments_of=contract)
        assert t1 == terms and p1 == periods
        assert [w for w in w1 if w.meter is None] == [w for w in windows if w.meter is None]
        assert [w for w in w1 if w.meter is not None] == [w for w in windows
                                                          if w.meter is not None and w.contract == contract]
        assert {k: v for k, v in splits.items() if k in _windows_of(plan, contract)} == s1
    assert any(w.meter is not None and w.contract == "acme" for w in windows)  # the test has segments


# ----------------------------------------------------------------- billing and the views


def _evaluations(plan, files, contract: str, **kw):
    full = evaluate(plan, files, THROUGH, aggregator=engine.aggregate_usage, **kw)
    one = evaluate(plan, files, THROUGH, aggregator=engine.aggregate_usage, only=contract, **kw)
    return full, one


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("price_in_engine", [False, True])
def test_invoices_and_explain_of_one_contract_are_the_full_runs(plan, tmp_path, seed, price_in_engine):
    files = [write_events(tmp_path / "u.jsonl", _events(seed, 150))]
    for contract in CONTRACTS:
        full, one = _evaluations(plan, files, contract, price_in_engine=price_in_engine)
        oracle = evaluate(plan, files, THROUGH, aggregator=reference_aggregate, only=contract)
        assert full.ok and one.ok, (full.diagnostics, one.diagnostics)
        mine = [i.model_dump_json() for i in one.run.invoices]
        assert mine == [i.model_dump_json() for i in full.run.invoices if i.contract == contract]
        assert mine == [i.model_dump_json() for i in oracle.run.invoices]
        assert one.run.breakage == [b for b in full.run.breakage if b.contract == contract]
        assert (one.run.events, one.run.rejected) == (full.run.events, full.run.rejected) \
            == (oracle.run.events, oracle.run.rejected)
        assert explain_text(one, plan, contract) == explain_text(full, plan, contract)


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", [["explain"], ["invoice", "--format", "json"], ["invoice", "--format", "text"]])
def test_the_commands_print_what_they_printed_when_every_contract_was_aggregated(plan, tmp_path, monkeypatch,
                                                                                 command):
    """Byte for byte, stdout and stderr (the whole run's counts), against the same command with
    the narrowing switched off (the aggregator no longer says `one_contract`)."""
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    files = write_events(tmp_path / "u.jsonl", _events(11, 300))
    for contract in CONTRACTS:
        args = [command[0], str(tmp_path / "p.pricing"), "--usage", files, "--through", THROUGH.isoformat(),
                "--contract", contract, *command[1:]]
        narrowed = _cli(args)
        with monkeypatch.context() as m:
            m.delattr(engine.aggregate_usage, "one_contract")
            whole = _cli(args)
        assert narrowed == whole
        assert narrowed[0] == 0
    if command[0] == "invoice":
        assert "events: 300 read" in narrowed[2]


def test_a_bad_row_is_reported_as_in_a_full_run(plan, tmp_path, monkeypatch):
    """Bad rows are every event's business: named, and skipped, whichever contract is asked for."""
    rows = _events(5, 60)
    rows[7]["properties"]["tokens"], rows[7]["type"] = "lots", "llm.completion"
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    files = write_events(tmp_path / "u.jsonl", rows)
    for skip in ([], ["--skip-bad-rows", str(tmp_path / "bad.jsonl")]):
        args = ["invoice", str(tmp_path / "p.pricing"), "--usage", files, "--through", THROUGH.isoformat(),
                "--contract", "gamma", "--format", "json", *skip]
        narrowed = _cli(args)
        with monkeypatch.context() as m:
            m.delattr(engine.aggregate_usage, "one_contract")
            whole = _cli(args)
        assert narrowed == whole
        assert (narrowed[0] == 0) == bool(skip)


def test_the_printed_query_has_no_contract_filter_unless_asked(plan, tmp_path):
    """`ratecard sql` (no --contract) prints the query as before: the narrowing is a keyword
    that is off unless given, and adds one predicate per meter when it is."""
    source = engine.Source(write_events(tmp_path / "u.jsonl", _events(1, 5)), "jsonl")
    from ratecard.usage.query import Relations, build_query
    from sqlglot import exp

    relations = Relations(exp.to_table("rc_terms"), exp.to_table("rc_windows"), exp.to_table("rc_segments"))
    plain, _ = build_query(plan, [source], relations)
    again, _ = build_query(plan, [source], relations, contract=None)
    narrowed, _ = build_query(plan, [source], relations, contract="acme")
    assert plain.sql(dialect="duckdb") == again.sql(dialect="duckdb")
    assert "'acme'" not in plain.sql(dialect="duckdb")
    assert narrowed.sql(dialect="duckdb").count("\"contract\" = 'acme'") == len(plan.meters)


def test_the_sql_command_prints_the_query_without_a_contract(plan, tmp_path):
    (tmp_path / "p.pricing").write_text(PRICING, encoding="utf-8")
    code, out, _ = _cli(["sql", str(tmp_path / "p.pricing"), "--through", THROUGH.isoformat()])
    assert code == 0
    for contract in CONTRACTS:
        assert f"= '{contract}'" not in out
